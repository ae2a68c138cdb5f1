//! Cart validation: what the customer asked for, checked against the catalog as the database has
//! it. Prices and currency come from the products, never from the request.
//!
//! Duplicate lines for one product are merged (their quantities added) before the bounds are
//! checked: a storefront that appends a line per click gets what the customer meant, and the
//! per-line maximum still applies to the product's total.

use std::collections::BTreeMap;

use super::money::{format_amount, line_total};

/// One requested line: a product id and a quantity, nothing else.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestedLine {
    pub product_id: String,
    pub quantity: i64,
}

/// What the validator needs to know of a product.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogEntry {
    pub id: String,
    pub name: String,
    pub unit_amount: i64,
    pub currency: String,
    pub available: i64,
    pub active: bool,
    pub stripe_price_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_line_quantity: i64,
    pub max_cart_quantity: i64,
}

/// A line as it will be held and charged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricedLine {
    pub product_id: String,
    pub name: String,
    pub quantity: i64,
    pub unit_amount: i64,
    pub stripe_price_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidCart {
    /// Sorted by product id: the order rows are locked in, the same for every checkout.
    pub lines: Vec<PricedLine>,
    pub currency: String,
    pub amount_total: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    #[error("the cart is empty")]
    Empty,
    #[error("no product `{0}`")]
    UnknownProduct(String),
    #[error("product `{0}` is not for sale")]
    Inactive(String),
    #[error("quantity of `{product_id}` must be between 1 and {max}")]
    QuantityOutOfRange { product_id: String, max: i64 },
    #[error("a cart holds at most {max} items")]
    CartTooLarge { max: i64 },
    #[error("the cart mixes currencies ({0} and {1}); pay for them separately")]
    MixedCurrencies(String, String),
    /// Named for the customer by the product's name; the id is in the error's details.
    #[error("only {available} of {name} left (asked for {requested})")]
    InsufficientStock {
        product_id: String,
        name: String,
        requested: i64,
        available: i64,
    },
    #[error("the cart total is too large")]
    AmountTooLarge,
    #[error("a cart holds at most {max} different products (Stripe's limit of line items)")]
    TooManyLines { max: usize },
    #[error("the cart totals {}, under Stripe's minimum charge of {}", format_amount(*total, currency), format_amount(*minimum, currency))]
    AmountTooSmall {
        total: i64,
        /// Stripe's minimum charge in `currency`, in minor units.
        minimum: i64,
        currency: String,
    },
}

/// The most line items Stripe takes in one Checkout Session.
pub const MAX_LINES: usize = 100;

/// Stripe's largest amount for one Checkout Session, in minor units.
pub const MAX_AMOUNT: i64 = 99_999_999;

/// Merges duplicate lines and checks each against the catalog. `catalog` holds at least every
/// product the cart names that exists.
/// The size rules alone, which need no catalog: a cart that breaks them is refused before any
/// product is looked up, however many ids it names. Returns the distinct product ids.
pub fn check_size(requested: &[RequestedLine], limits: Limits) -> Result<Vec<&str>, CartError> {
    if requested.is_empty() {
        return Err(CartError::Empty);
    }
    let mut merged: BTreeMap<&str, i64> = BTreeMap::new();
    let mut total = 0i64;
    for line in requested {
        if line.quantity < 1 || line.quantity > limits.max_line_quantity {
            return Err(CartError::QuantityOutOfRange {
                product_id: line.product_id.clone(),
                max: limits.max_line_quantity,
            });
        }
        let merged_quantity = merged.entry(line.product_id.as_str()).or_default();
        *merged_quantity += line.quantity;
        if *merged_quantity > limits.max_line_quantity {
            return Err(CartError::QuantityOutOfRange {
                product_id: line.product_id.clone(),
                max: limits.max_line_quantity,
            });
        }
        total += line.quantity;
        if total > limits.max_cart_quantity {
            return Err(CartError::CartTooLarge {
                max: limits.max_cart_quantity,
            });
        }
    }
    if merged.len() > MAX_LINES {
        return Err(CartError::TooManyLines { max: MAX_LINES });
    }
    Ok(merged.into_keys().collect())
}

pub fn validate(
    requested: &[RequestedLine],
    catalog: &BTreeMap<String, CatalogEntry>,
    limits: Limits,
) -> Result<ValidCart, CartError> {
    if requested.is_empty() {
        return Err(CartError::Empty);
    }
    let mut merged: BTreeMap<&str, i64> = BTreeMap::new();
    for line in requested {
        if line.quantity < 1 || line.quantity > limits.max_line_quantity {
            return Err(CartError::QuantityOutOfRange {
                product_id: line.product_id.clone(),
                max: limits.max_line_quantity,
            });
        }
        *merged.entry(line.product_id.as_str()).or_default() += line.quantity;
    }
    let mut total_quantity = 0i64;
    let mut lines = Vec::with_capacity(merged.len());
    let mut currency: Option<&str> = None;
    let mut amount_total = 0i64;
    for (id, quantity) in merged {
        let product = catalog
            .get(id)
            .ok_or_else(|| CartError::UnknownProduct(id.to_string()))?;
        if !product.active {
            return Err(CartError::Inactive(id.to_string()));
        }
        if quantity > limits.max_line_quantity {
            return Err(CartError::QuantityOutOfRange {
                product_id: id.to_string(),
                max: limits.max_line_quantity,
            });
        }
        total_quantity += quantity;
        if total_quantity > limits.max_cart_quantity {
            return Err(CartError::CartTooLarge {
                max: limits.max_cart_quantity,
            });
        }
        match currency {
            None => currency = Some(&product.currency),
            Some(c) if c != product.currency => {
                return Err(CartError::MixedCurrencies(
                    c.to_string(),
                    product.currency.clone(),
                ))
            }
            Some(_) => {}
        }
        if quantity > product.available {
            return Err(CartError::InsufficientStock {
                product_id: id.to_string(),
                name: product.name.clone(),
                requested: quantity,
                available: product.available.max(0),
            });
        }
        amount_total = line_total(product.unit_amount, quantity)
            .and_then(|t| amount_total.checked_add(t))
            .filter(|t| *t <= MAX_AMOUNT)
            .ok_or(CartError::AmountTooLarge)?;
        lines.push(PricedLine {
            product_id: id.to_string(),
            name: product.name.clone(),
            quantity,
            unit_amount: product.unit_amount,
            stripe_price_id: product.stripe_price_id.clone(),
        });
    }
    let currency = currency.unwrap_or_default().to_string();
    // A free cart is Stripe's business too (it takes one); a paid one owes the minimum charge.
    if let Some(minimum) = caisse_stripe::currency::minimum_charge(&currency)
        .filter(|m| (1..*m).contains(&amount_total))
    {
        return Err(CartError::AmountTooSmall {
            total: amount_total,
            minimum,
            currency,
        });
    }
    Ok(ValidCart {
        lines,
        currency,
        amount_total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMITS: Limits = Limits {
        max_line_quantity: 10,
        max_cart_quantity: 15,
    };

    fn catalog() -> BTreeMap<String, CatalogEntry> {
        let entry = |id: &str, amount, currency: &str, available, active| CatalogEntry {
            id: id.into(),
            name: id.to_uppercase(),
            unit_amount: amount,
            currency: currency.into(),
            available,
            active,
            stripe_price_id: None,
        };
        [
            entry("mug", 1200, "eur", 20, true),
            entry("tee", 2500, "eur", 3, true),
            entry("cap", 2000, "eur", 10, false),
            entry("hat", 3000, "usd", 10, true),
            entry("gold", 60_000_000, "eur", 10, true),
            entry("pen", 100, "eur", 50, true),
            entry("sticker", 40, "eur", 50, true),
            entry("free", 0, "eur", 50, true),
        ]
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect()
    }

    fn line(id: &str, quantity: i64) -> RequestedLine {
        RequestedLine {
            product_id: id.into(),
            quantity,
        }
    }

    #[test]
    fn prices_come_from_the_catalog_and_duplicates_merge() {
        let cart = validate(
            &[line("tee", 1), line("mug", 2), line("tee", 1)],
            &catalog(),
            LIMITS,
        )
        .unwrap();
        assert_eq!(cart.currency, "eur");
        assert_eq!(cart.amount_total, 2 * 2500 + 2 * 1200);
        assert_eq!(
            cart.lines
                .iter()
                .map(|l| (l.product_id.as_str(), l.quantity))
                .collect::<Vec<_>>(),
            vec![("mug", 2), ("tee", 2)]
        );
    }

    #[test]
    fn each_rule_has_its_error() {
        let c = catalog();
        assert_eq!(validate(&[], &c, LIMITS), Err(CartError::Empty));
        assert_eq!(
            validate(&[line("nope", 1)], &c, LIMITS),
            Err(CartError::UnknownProduct("nope".into()))
        );
        assert_eq!(
            validate(&[line("cap", 1)], &c, LIMITS),
            Err(CartError::Inactive("cap".into()))
        );
        let range = CartError::QuantityOutOfRange {
            product_id: "mug".into(),
            max: 10,
        };
        assert_eq!(validate(&[line("mug", 0)], &c, LIMITS), Err(range.clone()));
        assert_eq!(validate(&[line("mug", -3)], &c, LIMITS), Err(range.clone()));
        assert_eq!(validate(&[line("mug", 11)], &c, LIMITS), Err(range.clone()));
        assert_eq!(
            validate(&[line("mug", 6), line("mug", 6)], &c, LIMITS),
            Err(range)
        );
        assert_eq!(
            validate(&[line("mug", 10), line("pen", 6)], &c, LIMITS),
            Err(CartError::CartTooLarge { max: 15 })
        );
        assert_eq!(
            validate(&[line("hat", 1), line("mug", 1)], &c, LIMITS),
            Err(CartError::MixedCurrencies("usd".into(), "eur".into()))
        );
        assert_eq!(
            validate(&[line("tee", 4)], &c, LIMITS),
            Err(CartError::InsufficientStock {
                product_id: "tee".into(),
                name: "TEE".into(),
                requested: 4,
                available: 3
            })
        );
        assert_eq!(
            validate(&[line("gold", 2)], &c, LIMITS),
            Err(CartError::AmountTooLarge)
        );
        let small = validate(&[line("sticker", 1)], &c, LIMITS).unwrap_err();
        assert_eq!(
            small,
            CartError::AmountTooSmall {
                total: 40,
                minimum: 50,
                currency: "eur".into()
            }
        );
        assert_eq!(
            small.to_string(),
            "the cart totals 0.40 EUR, under Stripe's minimum charge of 0.50 EUR"
        );
        assert!(validate(&[line("sticker", 2)], &c, LIMITS).is_ok());
        assert!(validate(&[line("free", 1)], &c, LIMITS).is_ok(), "free");
    }

    #[test]
    fn stripe_takes_at_most_a_hundred_line_items() {
        let limits = Limits {
            max_line_quantity: 10,
            max_cart_quantity: 1000,
        };
        let lines = |n: usize| {
            (0..n)
                .map(|i| line(&format!("p{i}"), 1))
                .collect::<Vec<_>>()
        };
        assert_eq!(check_size(&lines(100), limits).unwrap().len(), 100);
        assert_eq!(
            check_size(&lines(101), limits),
            Err(CartError::TooManyLines { max: 100 })
        );
        let mut merged = lines(100);
        merged.push(line("p0", 1));
        assert!(check_size(&merged, limits).is_ok(), "lines merge first");
    }

    proptest! {
        /// Whatever the request, an accepted cart is priced by the catalog, within bounds, in one
        /// currency, and never asks for more than is available.
        #[test]
        fn accepted_carts_keep_every_rule(lines in proptest::collection::vec(("(mug|tee|cap|hat|gold|nope)", -2i64..14), 0..8)) {
            let requested: Vec<RequestedLine> = lines.iter().map(|(id, q)| line(id, *q)).collect();
            let c = catalog();
            if let Ok(cart) = validate(&requested, &c, LIMITS) {
                let mut total = 0;
                let mut quantity = 0;
                for l in &cart.lines {
                    let p = &c[&l.product_id];
                    prop_assert!(p.active && p.currency == cart.currency);
                    prop_assert_eq!(l.unit_amount, p.unit_amount);
                    prop_assert!(l.quantity >= 1 && l.quantity <= LIMITS.max_line_quantity && l.quantity <= p.available);
                    let asked: i64 = requested.iter().filter(|r| r.product_id == l.product_id).map(|r| r.quantity).sum();
                    prop_assert_eq!(asked, l.quantity);
                    total += l.quantity * l.unit_amount;
                    quantity += l.quantity;
                }
                prop_assert_eq!(total, cart.amount_total);
                prop_assert!(quantity <= LIMITS.max_cart_quantity);
            }
        }

        /// The cart parser at the edges: any JSON a client sends for a cart, any 64-bit
        /// quantity (overflowing sums included), any product id; it answers, never panics.
        #[test]
        fn any_cart_is_answered_without_panicking(
            lines in proptest::collection::vec((any::<String>(), any::<i64>()), 0..64),
            raw in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let requested: Vec<RequestedLine> = lines.iter().map(|(id, q)| line(id, *q)).collect();
            let _ = check_size(&requested, LIMITS);
            let _ = validate(&requested, &catalog(), LIMITS);
            // What the HTTP layer deserialises, from bytes a client chose.
            let _ = serde_json::from_slice::<crate::checkout::CheckoutRequest>(&raw);
        }
    }
}
