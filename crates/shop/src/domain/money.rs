//! Money: integer minor units and an ISO 4217 currency code, never floating point.

use std::fmt;

/// A lowercase three-letter ISO currency code, as Stripe writes it (`eur`, `usd`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Currency(String);

impl Currency {
    /// Accepts `EUR` or `eur`; refuses anything that is not three ASCII letters.
    pub fn parse(code: &str) -> Result<Currency, String> {
        let code = code.trim();
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
            Ok(Currency(code.to_ascii_lowercase()))
        } else {
            Err(format!("`{code}` is not a three-letter ISO currency code"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Digits after the decimal point, for display only (Stripe's zero-decimal currencies).
    pub fn exponent(&self) -> u32 {
        const ZERO_DECIMAL: &[&str] = &[
            "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd",
            "vuv", "xaf", "xof", "xpf",
        ];
        if ZERO_DECIMAL.contains(&self.0.as_str()) {
            0
        } else {
            2
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `50.00 EUR` for sentences (audit trail, alerts); the raw figures when the code is not a
/// currency.
pub fn format_amount(amount: i64, currency: &str) -> String {
    match Currency::parse(currency) {
        Ok(currency) => Money { amount, currency }.to_string(),
        Err(_) => format!("{amount} {currency}"),
    }
}

/// An amount in minor units of a currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Money {
    pub amount: i64,
    pub currency: Currency,
}

impl fmt::Display for Money {
    /// `25.00 EUR`, `1200 JPY`: for people, never parsed back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.currency.as_str().to_ascii_uppercase();
        match self.currency.exponent() {
            0 => write!(f, "{} {code}", self.amount),
            _ => {
                let sign = if self.amount < 0 { "-" } else { "" };
                let abs = self.amount.unsigned_abs();
                write!(f, "{sign}{}.{:02} {code}", abs / 100, abs % 100)
            }
        }
    }
}

/// `quantity × unit` summed over lines, refusing overflow rather than wrapping.
pub fn line_total(unit_amount: i64, quantity: i64) -> Option<i64> {
    unit_amount.checked_mul(quantity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_are_normalised_and_checked() {
        assert_eq!(Currency::parse("EUR").unwrap().as_str(), "eur");
        assert!(Currency::parse("euro").is_err());
        assert!(Currency::parse("e1r").is_err());
    }

    #[test]
    fn money_displays_in_major_units() {
        let eur = Currency::parse("eur").unwrap();
        let m = |amount| {
            Money {
                amount,
                currency: eur.clone(),
            }
            .to_string()
        };
        assert_eq!(m(2500), "25.00 EUR");
        assert_eq!(m(5), "0.05 EUR");
        assert_eq!(m(-150), "-1.50 EUR");
        let jpy = Money {
            amount: 1200,
            currency: Currency::parse("jpy").unwrap(),
        };
        assert_eq!(jpy.to_string(), "1200 JPY");
        assert_eq!(line_total(i64::MAX, 2), None);
    }
}
