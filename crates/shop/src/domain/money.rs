//! Money: integer minor units and an ISO 4217 currency code, never floating point.

use std::fmt;

/// A lowercase three-letter ISO currency code, as Stripe writes it (`eur`, `usd`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Currency(String);

impl Currency {
    /// Accepts `EUR` or `eur`; refuses anything that is not one of Stripe's currencies.
    pub fn parse(code: &str) -> Result<Currency, String> {
        let code = code.trim();
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(format!("`{code}` is not a three-letter ISO currency code"));
        }
        let lower = code.to_ascii_lowercase();
        if !caisse_stripe::currency::SUPPORTED.contains(&lower.as_str()) {
            return Err(format!(
                "`{code}` is not a currency Stripe charges in (its list of supported currencies)"
            ));
        }
        Ok(Currency(lower))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Digits after the decimal point as Stripe counts them: 0 (JPY), 3 (KWD) or 2.
    pub fn exponent(&self) -> u32 {
        caisse_stripe::currency_exponent(&self.0)
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

/// `1690` EUR → `16.90`, `1200` JPY → `1200`, `5120` KWD → `5.120`: major units with a dot and
/// the currency's decimals, for files a spreadsheet or an accounting tool reads.
pub fn major_units(amount: i64, currency: &str) -> String {
    let exponent = Currency::parse(currency).map_or(2, |c| c.exponent());
    if exponent == 0 {
        return amount.to_string();
    }
    let scale = 10i64.pow(exponent);
    let sign = if amount < 0 { "-" } else { "" };
    let a = amount.unsigned_abs();
    let scale = scale as u64;
    format!(
        "{sign}{}.{:0width$}",
        a / scale,
        a % scale,
        width = exponent as usize
    )
}

/// Minor units from an amount an operator types in major units (`12.5`, `12,50`, `1200` for
/// yen, `5.12` or `5.120` for dinars), without floating point; `None` for anything else, a
/// negative, more decimals than the currency has, or an amount Stripe cannot charge in it (a
/// three-decimal currency's last digit must be 0).
pub fn parse_major(text: &str, currency: &Currency) -> Option<i64> {
    let text = text.trim().replace(',', ".");
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let exp = currency.exponent() as usize;
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > exp {
        return None;
    }
    let scale = 10i64.pow(exp as u32);
    let fraction = format!("{fraction:0<exp$}");
    let minor = if exp == 0 {
        0
    } else {
        fraction.parse::<i64>().ok()?
    };
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(scale)?
        .checked_add(minor)
        .filter(|amount| caisse_stripe::currency::chargeable_unit(*amount, currency.as_str()))
}

/// An amount in minor units of a currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Money {
    pub amount: i64,
    pub currency: Currency,
}

impl fmt::Display for Money {
    /// `25.00 EUR`, `1200 JPY`, `5.120 KWD`: for people, never parsed back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.currency.as_str().to_ascii_uppercase();
        match self.currency.exponent() {
            0 => write!(f, "{} {code}", self.amount),
            exp => {
                let sign = if self.amount < 0 { "-" } else { "" };
                let (abs, scale) = (self.amount.unsigned_abs(), 10u64.pow(exp));
                let width = exp as usize;
                write!(f, "{sign}{}.{:0width$} {code}", abs / scale, abs % scale)
            }
        }
    }
}

/// A language's way of writing amounts, for what customers read (emails).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locale {
    /// `1 234,50 €`
    Fr,
    /// `€1,234.50`
    En,
}

impl Money {
    /// The amount as a customer of `locale` writes it: grouped thousands, the locale's decimal
    /// mark, the currency's symbol where it has a common one, else its code.
    pub fn localized(&self, locale: Locale) -> String {
        let (group, decimal) = match locale {
            // Narrow no-break space between thousands, as French typography has it.
            Locale::Fr => ('\u{202f}', ','),
            Locale::En => (',', '.'),
        };
        let abs = self.amount.unsigned_abs();
        let exponent = self.currency.exponent();
        let scale = 10u64.pow(exponent);
        let digits = (abs / scale).to_string();
        let mut number = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                number.push(group);
            }
            number.push(c);
        }
        if exponent > 0 {
            number.push(decimal);
            number.push_str(&format!(
                "{:0width$}",
                abs % scale,
                width = exponent as usize
            ));
        }
        let sign = if self.amount < 0 { "-" } else { "" };
        let symbol = match self.currency.as_str() {
            "eur" => Some("€"),
            "usd" => Some("$"),
            "gbp" => Some("£"),
            "jpy" => Some("¥"),
            _ => None,
        };
        let code = self.currency.as_str().to_ascii_uppercase();
        match (locale, symbol) {
            (Locale::Fr, Some(s)) => format!("{sign}{number}\u{a0}{s}"),
            (Locale::Fr, None) => format!("{sign}{number}\u{a0}{code}"),
            (Locale::En, Some(s)) => format!("{sign}{s}{number}"),
            (Locale::En, None) => format!("{sign}{code}\u{a0}{number}"),
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
    fn major_units_have_a_dot_and_the_currency_s_decimals() {
        assert_eq!(major_units(1690, "eur"), "16.90");
        assert_eq!(major_units(5, "eur"), "0.05");
        assert_eq!(major_units(1200, "jpy"), "1200");
        assert_eq!(major_units(5120, "kwd"), "5.120");
        assert_eq!(major_units(0, "usd"), "0.00");
    }

    #[test]
    fn currencies_are_normalised_and_checked() {
        assert_eq!(Currency::parse("EUR").unwrap().as_str(), "eur");
        assert!(Currency::parse("euro").is_err());
        assert!(Currency::parse("e1r").is_err());
        assert!(
            Currency::parse("xyz").is_err(),
            "three letters, but no currency Stripe charges in"
        );
    }

    fn m_loc(amount: i64, currency: &str, locale: Locale) -> String {
        Money {
            amount,
            currency: Currency::parse(currency).unwrap(),
        }
        .localized(locale)
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
        let kwd = |amount| Money {
            amount,
            currency: Currency::parse("kwd").unwrap(),
        };
        assert_eq!(kwd(5120).to_string(), "5.120 KWD");
        assert_eq!(kwd(-50).to_string(), "-0.050 KWD");
        assert_eq!(kwd(1_234_560).localized(Locale::En), "KWD\u{a0}1,234.560");
        assert_eq!(kwd(5120).localized(Locale::Fr), "5,120\u{a0}KWD");
        let big = Money {
            amount: 123_456_750,
            currency: eur.clone(),
        };
        assert_eq!(
            big.localized(Locale::Fr),
            "1\u{202f}234\u{202f}567,50\u{a0}€"
        );
        assert_eq!(big.localized(Locale::En), "€1,234,567.50");
        assert_eq!(m_loc(5, "eur", Locale::Fr), "0,05\u{a0}€");
        assert_eq!(m_loc(1200, "jpy", Locale::En), "¥1,200");
        assert_eq!(m_loc(990, "chf", Locale::En), "CHF\u{a0}9.90");
        assert_eq!(m_loc(990, "chf", Locale::Fr), "9,90\u{a0}CHF");
        assert_eq!(line_total(i64::MAX, 2), None);
    }

    #[test]
    fn operators_type_major_units() {
        let eur = Currency::parse("eur").unwrap();
        let jpy = Currency::parse("jpy").unwrap();
        assert_eq!(super::parse_major("12.5", &eur), Some(1250));
        assert_eq!(super::parse_major(" 12,05 ", &eur), Some(1205));
        assert_eq!(super::parse_major("7", &eur), Some(700));
        assert_eq!(super::parse_major("1200", &jpy), Some(1200));
        for bad in [
            "",
            "1.234",
            "-1",
            "1e3",
            ".5x",
            "12.5.1",
            "99999999999999999999",
        ] {
            assert_eq!(super::parse_major(bad, &eur), None, "{bad}");
        }
        assert_eq!(super::parse_major("12.5", &jpy), None);
        let kwd = Currency::parse("kwd").unwrap();
        assert_eq!(super::parse_major("5.12", &kwd), Some(5120));
        assert_eq!(super::parse_major("5,120", &kwd), Some(5120));
        assert_eq!(super::parse_major("7", &kwd), Some(7000));
        assert_eq!(super::parse_major("5.124", &kwd), None, "not chargeable");
        assert_eq!(super::parse_major("5.1201", &kwd), None);
    }
}
