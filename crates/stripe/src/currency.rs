//! How Stripe counts each currency's amounts: its decimals (zero-decimal currencies such as JPY,
//! three-decimal ones such as KWD, two otherwise) and the smallest charge it accepts (Stripe's
//! "supported currencies" and "minimum and maximum charge amounts" pages). The shop checks a cart
//! against these before asking Stripe; the sandbox refuses what Stripe refuses with them.

const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];

/// Stripe's presentment currencies, lower case (its "supported currencies" page): the shop
/// refuses a catalog in any other, which every checkout would fail on, and the sandbox refuses
/// a price in one.
pub const SUPPORTED: &[&str] = &[
    "usd", "aed", "afn", "all", "amd", "ang", "aoa", "ars", "aud", "awg", "azn", "bam", "bbd",
    "bdt", "bgn", "bif", "bmd", "bnd", "bob", "brl", "bsd", "bwp", "byn", "bzd", "cad", "cdf",
    "chf", "clp", "cny", "cop", "crc", "cve", "czk", "djf", "dkk", "dop", "dzd", "egp", "etb",
    "eur", "fjd", "fkp", "gbp", "gel", "gip", "gmd", "gnf", "gtq", "gyd", "hkd", "hnl", "htg",
    "huf", "idr", "ils", "inr", "isk", "jmd", "jpy", "kes", "kgs", "khr", "kmf", "krw", "kyd",
    "kzt", "lak", "lbp", "lkr", "lrd", "lsl", "mad", "mdl", "mga", "mkd", "mmk", "mnt", "mop",
    "mur", "mvr", "mwk", "mxn", "myr", "mzn", "nad", "ngn", "nio", "nok", "npr", "nzd", "pab",
    "pen", "pgk", "php", "pkr", "pln", "pyg", "qar", "ron", "rsd", "rub", "rwf", "sar", "sbd",
    "scr", "sek", "sgd", "shp", "sle", "sos", "srd", "std", "szl", "thb", "tjs", "top", "try",
    "ttd", "twd", "tzs", "uah", "ugx", "uyu", "uzs", "vnd", "vuv", "wst", "xaf", "xcd", "xof",
    "xpf", "yer", "zar", "zmw", "bhd", "jod", "kwd", "omr", "tnd",
];

/// Stripe counts these in thousandths, and charges only amounts whose last digit is 0 (5.120 KWD
/// is `5120`; 5.124 KWD cannot be charged).
pub const THREE_DECIMAL: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];

/// Digits after the decimal point of a currency's amounts as Stripe counts them: 0 for Stripe's
/// zero-decimal currencies (an amount of 1200 JPY is ¥1,200), 3 for its three-decimal ones, 2
/// otherwise. Lowercase codes.
pub fn exponent(code: &str) -> u32 {
    if ZERO_DECIMAL.contains(&code) {
        0
    } else if THREE_DECIMAL.contains(&code) {
        3
    } else {
        2
    }
}

/// Whether Stripe can charge `amount` minor units of `code`: three-decimal currencies only in
/// multiples of 10.
pub fn chargeable_unit(amount: i64, code: &str) -> bool {
    !THREE_DECIMAL.contains(&code) || amount % 10 == 0
}

/// The smallest charge, in minor units, where Stripe names one in its own table (0.50 USD or EUR,
/// 0.30 GBP, 50 JPY …). Other currencies' minimum is "the equivalent of 0.50 USD", which depends
/// on the day's rate: only Stripe can tell.
pub fn minimum_charge(code: &str) -> Option<i64> {
    Some(match code {
        "usd" | "eur" | "aud" | "brl" | "cad" | "chf" | "inr" | "nzd" | "sgd" => 50,
        "gbp" => 30,
        "aed" | "myr" | "pln" | "ron" => 200,
        "bgn" => 100,
        "czk" => 1500,
        "dkk" => 250,
        "hkd" => 400,
        "huf" => 17500,
        "jpy" => 50,
        "mxn" => 1000,
        "nok" | "sek" => 300,
        "thb" => 1000,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_and_minimums_as_stripe_counts_them() {
        assert_eq!(
            [exponent("eur"), exponent("jpy"), exponent("kwd")],
            [2, 0, 3]
        );
        for code in THREE_DECIMAL {
            assert_eq!(exponent(code), 3);
        }
        assert!(chargeable_unit(5120, "kwd") && !chargeable_unit(5124, "kwd"));
        assert!(chargeable_unit(5124, "eur"));
        assert_eq!(minimum_charge("eur"), Some(50));
        assert_eq!(minimum_charge("gbp"), Some(30));
        assert_eq!(minimum_charge("kwd"), None);
    }
}
