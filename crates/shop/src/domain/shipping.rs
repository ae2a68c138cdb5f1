//! Shipping rules, pure: a catalog's shipping rate before it enters the database, the rates a
//! checkout offers Stripe (in the cart's currency, free above `free_over`), and what a paid
//! session's figures must be for its order to be shipped as is (the subtotal the hold priced,
//! the shipping of the offered rate the customer chose, the total their sum).

use serde::{Deserialize, Serialize};

use super::money::Currency;

/// A shipping rate as a catalog file describes it (`"shipping_rates": [...]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShippingRateInput {
    pub id: String,
    pub name: String,
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub min_days: Option<i64>,
    #[serde(default)]
    pub max_days: Option<i64>,
    /// A cart whose subtotal reaches this ships free with this rate.
    #[serde(default)]
    pub free_over: Option<i64>,
}

/// A shipping rate that satisfies the catalog's rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShippingRate {
    pub id: String,
    pub name: String,
    pub amount: i64,
    pub currency: String,
    pub min_days: Option<i64>,
    pub max_days: Option<i64>,
    pub free_over: Option<i64>,
}

impl ShippingRateInput {
    pub fn validate(self) -> Result<ShippingRate, String> {
        let id = super::product::catalog_id("shipping rate", &self.id)?;
        let name = self.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(format!(
                "shipping rate `{id}` needs a name of 1 to 100 characters (Stripe's display_name)"
            ));
        }
        super::text::no_control_characters(&format!("shipping rate `{id}`: name"), &name, "")?;
        if !(0..=super::product::MAX_UNIT_AMOUNT).contains(&self.amount) {
            return Err(format!(
                "shipping rate `{id}`: amount must be 0 to {} minor units",
                super::product::MAX_UNIT_AMOUNT
            ));
        }
        let currency =
            Currency::parse(&self.currency).map_err(|e| format!("shipping rate `{id}`: {e}"))?;
        if !caisse_stripe::currency::chargeable_unit(self.amount, currency.as_str()) {
            return Err(format!(
                "shipping rate `{id}`: amount must be a multiple of 10 in {}",
                currency.as_str().to_ascii_uppercase()
            ));
        }
        if self.free_over.is_some_and(|f| f < 0) {
            return Err(format!(
                "shipping rate `{id}`: free_over cannot be negative"
            ));
        }
        match (self.min_days, self.max_days) {
            (Some(min), _) if min < 1 => {
                return Err(format!("shipping rate `{id}`: min_days must be at least 1"))
            }
            (Some(min), Some(max)) if max < min => {
                return Err(format!(
                    "shipping rate `{id}`: max_days cannot be below min_days"
                ))
            }
            (None, Some(max)) if max < 1 => {
                return Err(format!("shipping rate `{id}`: max_days must be at least 1"))
            }
            _ => {}
        }
        Ok(ShippingRate {
            id,
            name,
            amount: self.amount,
            currency: currency.as_str().to_string(),
            min_days: self.min_days,
            max_days: self.max_days,
            free_over: self.free_over,
        })
    }
}

/// One rate as a checkout offered it to Stripe, kept on the hold: the order names the rate the
/// customer chose, and checks its price, whatever the catalog became since.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferedRate {
    pub id: String,
    pub name: String,
    pub amount: i64,
    pub min_days: Option<i64>,
    pub max_days: Option<i64>,
}

/// Stripe takes at most five `shipping_options`.
pub const MAX_OPTIONS: usize = 5;

/// The rates a cart of `subtotal` in `currency` is offered: the catalog's in that currency, in
/// catalog order, at most five, free when the subtotal reaches their `free_over`.
pub fn offer(rates: &[ShippingRate], currency: &str, subtotal: i64) -> Vec<OfferedRate> {
    rates
        .iter()
        .filter(|r| r.currency == currency)
        .take(MAX_OPTIONS)
        .map(|r| OfferedRate {
            id: r.id.clone(),
            name: r.name.clone(),
            amount: if r.free_over.is_some_and(|f| subtotal >= f) {
                0
            } else {
                r.amount
            },
            min_days: r.min_days,
            max_days: r.max_days,
        })
        .collect()
}

/// A paid session's figures, as Stripe reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Figures<'a> {
    pub subtotal: Option<i64>,
    pub shipping: i64,
    pub total: i64,
    /// The index, in the offered list, of the rate the customer chose (none chosen: `None`).
    pub chosen: Option<usize>,
    pub currency: &'a str,
}

/// What the order records of its shipping when the figures add up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settled {
    pub rate: Option<OfferedRate>,
    pub shipping: i64,
}

/// The amount check of an order: the subtotal is the hold's, the shipping is the chosen offered
/// rate's (nothing when nothing was offered), and the total is their sum, in the hold's currency.
/// `Err` says what does not add up.
pub fn settle(
    hold_subtotal: i64,
    hold_currency: &str,
    offered: &[OfferedRate],
    f: &Figures<'_>,
) -> Result<Settled, String> {
    if !f.currency.eq_ignore_ascii_case(hold_currency) {
        return Err(format!(
            "currency {} is not the hold's {hold_currency}",
            f.currency
        ));
    }
    if f.subtotal.is_some_and(|s| s != hold_subtotal) {
        return Err(format!(
            "the subtotal {} is not the hold's {hold_subtotal}",
            f.subtotal.unwrap_or_default()
        ));
    }
    let rate = f.chosen.and_then(|i| offered.get(i)).cloned();
    let expected_shipping = rate.as_ref().map_or(0, |r| r.amount);
    if f.shipping != expected_shipping || (f.chosen.is_some() && rate.is_none()) {
        return Err(format!(
            "shipping {} is not the offered rate's {expected_shipping}",
            f.shipping
        ));
    }
    if hold_subtotal.checked_add(f.shipping) != Some(f.total) {
        return Err(format!(
            "the total {} is not subtotal {hold_subtotal} + shipping {}",
            f.total, f.shipping
        ));
    }
    Ok(Settled {
        rate,
        shipping: f.shipping,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(id: &str, amount: i64, currency: &str, free_over: Option<i64>) -> ShippingRate {
        ShippingRate {
            id: id.into(),
            name: id.to_uppercase(),
            amount,
            currency: currency.into(),
            min_days: Some(2),
            max_days: Some(4),
            free_over,
        }
    }

    #[test]
    fn a_cart_is_offered_its_currency_s_rates_free_above_their_threshold() {
        let rates = [
            rate("standard", 490, "eur", Some(5000)),
            rate("express", 990, "eur", None),
            rate("us", 700, "usd", None),
        ];
        let small = offer(&rates, "eur", 4999);
        assert_eq!(
            small
                .iter()
                .map(|r| (r.id.as_str(), r.amount))
                .collect::<Vec<_>>(),
            [("standard", 490), ("express", 990)]
        );
        let large = offer(&rates, "eur", 5000);
        assert_eq!(large[0].amount, 0);
        assert_eq!(large[1].amount, 990);
    }

    #[test]
    fn figures_add_up_only_with_the_hold_s_subtotal_and_the_chosen_rate() {
        let offered = offer(&[rate("standard", 490, "eur", None)], "eur", 1200);
        let ok = Figures {
            subtotal: Some(1200),
            shipping: 490,
            total: 1690,
            chosen: Some(0),
            currency: "eur",
        };
        assert_eq!(
            settle(1200, "eur", &offered, &ok).unwrap().rate.unwrap().id,
            "standard"
        );
        let bad = |f: Figures| settle(1200, "eur", &offered, &f).is_err();
        assert!(bad(Figures {
            subtotal: Some(1100),
            total: 1590,
            ..ok
        }));
        assert!(bad(Figures {
            shipping: 100,
            total: 1300,
            ..ok
        }));
        assert!(bad(Figures { total: 1700, ..ok }));
        assert!(bad(Figures {
            chosen: Some(3),
            ..ok
        }));
        assert!(bad(Figures {
            currency: "usd",
            ..ok
        }));
        // Nothing offered, nothing chosen: the total is the subtotal.
        let none = Figures {
            shipping: 0,
            total: 1200,
            chosen: None,
            ..ok
        };
        assert_eq!(settle(1200, "eur", &[], &none).unwrap().shipping, 0);
    }

    #[test]
    fn a_rate_needs_an_id_a_name_and_a_chargeable_amount() {
        let input = |amount, currency: &str| ShippingRateInput {
            id: "standard".into(),
            name: "Colissimo".into(),
            amount,
            currency: currency.into(),
            min_days: Some(2),
            max_days: Some(4),
            free_over: Some(5000),
        };
        assert!(input(490, "eur").validate().is_ok());
        assert!(input(-1, "eur").validate().is_err());
        assert!(input(495, "kwd").validate().is_err());
        let mut days = input(490, "eur");
        days.max_days = Some(1);
        assert!(days.validate().is_err());
    }
}
