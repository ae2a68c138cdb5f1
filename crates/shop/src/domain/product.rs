//! What a product must be before it enters the catalog.

use super::money::Currency;

/// A product as an import file describes it, before validation.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub unit_amount: i64,
    pub currency: String,
    #[serde(alias = "stock")]
    pub stock_on_hand: i64,
    #[serde(default)]
    pub stripe_price_id: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
    /// `false`: needs no parcel (a gift card, a download); a cart of such products asks for no
    /// address.
    #[serde(default = "yes")]
    pub shipping: bool,
    /// Available stock at or below which one `low_stock` alert is raised; none when absent.
    #[serde(default)]
    pub low_stock_threshold: Option<i64>,
}

fn yes() -> bool {
    true
}

/// A product that satisfies every rule of the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidProduct {
    pub id: String,
    pub name: String,
    pub description: String,
    pub unit_amount: i64,
    pub currency: Currency,
    pub stock_on_hand: i64,
    pub stripe_price_id: Option<String>,
    pub active: bool,
    pub shipping: bool,
    pub low_stock_threshold: Option<i64>,
}

/// Largest unit price accepted: Stripe's own limit for a Checkout amount (99,999,999 minor units).
pub const MAX_UNIT_AMOUNT: i64 = 99_999_999;

/// Largest stock on hand a product may have: a billion units is more than any shop counts, and
/// far enough from the integer's end that no sum of stock ever overflows (an adjustment of
/// +9223372036854775807 was saturated in silence, its audit entry wrong).
pub const MAX_STOCK_ON_HAND: i64 = 1_000_000_000;

/// An id the shop's files give (a product's, a shipping rate's): trimmed, 1 to 64 ASCII letters,
/// digits, `-` or `_`, so that it is safe in a URL, a CSV cell and Stripe's metadata.
pub fn catalog_id(what: &str, raw: &str) -> Result<String, String> {
    let id = raw.trim();
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        // Escaped: a crafted file must not write into the operator's terminal.
        return Err(format!(
            "{what} id `{}` must be 1 to 64 letters, digits, - or _",
            id.escape_debug()
        ));
    }
    Ok(id.to_string())
}

impl ProductInput {
    pub fn validate(self) -> Result<ValidProduct, String> {
        let id = catalog_id("product", &self.id)?;
        let name = self.name.trim().to_string();
        if name.is_empty() {
            return Err(format!("product `{id}` has no name"));
        }
        super::text::no_control_characters(&format!("product `{id}`: name"), &name, "")?;
        let description = self.description.trim().to_string();
        super::text::no_control_characters(
            &format!("product `{id}`: description"),
            &description,
            "\n\t",
        )?;
        if !(0..=MAX_UNIT_AMOUNT).contains(&self.unit_amount) {
            return Err(format!(
                "product `{id}`: unit_amount must be 0 to {MAX_UNIT_AMOUNT} minor units"
            ));
        }
        let currency =
            Currency::parse(&self.currency).map_err(|e| format!("product `{id}`: {e}"))?;
        if !caisse_stripe::currency::chargeable_unit(self.unit_amount, currency.as_str()) {
            return Err(format!(
                "product `{id}`: unit_amount must be a multiple of 10 in {} (Stripe charges three-decimal currencies to the hundredth: 5120 for 5.120)",
                currency.as_str().to_ascii_uppercase()
            ));
        }
        if self.stock_on_hand < 0 {
            return Err(format!("product `{id}`: stock_on_hand cannot be negative"));
        }
        if self.stock_on_hand > MAX_STOCK_ON_HAND {
            return Err(format!(
                "product `{id}`: stock_on_hand cannot be more than {MAX_STOCK_ON_HAND}"
            ));
        }
        let stripe_price_id = self
            .stripe_price_id
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty());
        if let Some(price) = &stripe_price_id {
            let rest = price.strip_prefix("price_").unwrap_or_default();
            if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(format!(
                    "product `{id}`: stripe_price_id must be price_ then letters and digits"
                ));
            }
        }
        if self.low_stock_threshold.is_some_and(|t| t < 0) {
            return Err(format!(
                "product `{id}`: low_stock_threshold cannot be negative"
            ));
        }
        Ok(ValidProduct {
            id,
            name,
            description,
            unit_amount: self.unit_amount,
            currency,
            stock_on_hand: self.stock_on_hand,
            stripe_price_id,
            active: self.active,
            shipping: self.shipping,
            low_stock_threshold: self.low_stock_threshold,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ProductInput {
        ProductInput {
            id: "tee".into(),
            name: "T-shirt".into(),
            description: String::new(),
            unit_amount: 2500,
            currency: "EUR".into(),
            low_stock_threshold: None,
            stock_on_hand: 3,
            stripe_price_id: Some(" ".into()),
            active: true,
            shipping: true,
        }
    }

    #[test]
    fn a_good_product_is_normalised() {
        let p = input().validate().unwrap();
        assert_eq!(p.currency.as_str(), "eur");
        assert_eq!(p.stripe_price_id, None);
        let mut dinars = input();
        dinars.currency = "KWD".into();
        dinars.unit_amount = 5120;
        assert_eq!(dinars.validate().unwrap().unit_amount, 5120);
    }

    #[test]
    fn each_rule_refuses() {
        type Mutation = fn(&mut ProductInput);
        let cases: Vec<(Mutation, &str)> = vec![
            (|p| p.id = "a b".into(), "product id"),
            (|p| p.name = " ".into(), "no name"),
            (|p| p.unit_amount = -1, "unit_amount"),
            (|p| p.unit_amount = MAX_UNIT_AMOUNT + 1, "unit_amount"),
            (|p| p.currency = "euro".into(), "currency"),
            (
                |p| {
                    p.currency = "kwd".into();
                    p.unit_amount = 5125;
                },
                "multiple of 10 in KWD",
            ),
            (|p| p.stock_on_hand = -2, "negative"),
            (
                |p| p.stock_on_hand = MAX_STOCK_ON_HAND + 1,
                "cannot be more than 1000000000",
            ),
            (|p| p.stripe_price_id = Some("prod_1".into()), "price_"),
        ];
        for (mutate, expected) in cases {
            let mut p = input();
            mutate(&mut p);
            let err = p.validate().unwrap_err();
            assert!(err.contains(expected), "{err} should mention {expected}");
        }
    }
}
