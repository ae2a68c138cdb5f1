//! Text that comes from outside and may be stored: Stripe's JSON may carry any character a
//! customer typed on its page, NUL included (`\u0000` in a name field), and PostgreSQL's `text`
//! cannot hold a NUL. Such a value is kept, with each NUL replaced by U+FFFD, rather than the
//! whole event refused (Stripe would retry it for three days, and nothing would change).

use serde_json::Value;

/// U+FFFD, the character that stands for one that could not be kept.
const REPLACEMENT: &str = "\u{FFFD}";

/// True when a string anywhere in `value` (keys included) holds a NUL.
pub fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// `value` with every NUL of its strings and keys replaced by U+FFFD.
pub fn without_nul(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace('\0', REPLACEMENT)),
        Value::Array(items) => Value::Array(items.iter().map(without_nul).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.replace('\0', REPLACEMENT), without_nul(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_nul_anywhere_is_found_and_replaced_and_nothing_else_changes() {
        let clean = json!({"a": ["x", 1, {"b": "y"}], "n": null});
        assert!(!holds_nul(&clean));
        assert_eq!(without_nul(&clean), clean);
        let dirty = json!({"customer_details": {"name": "Ann\u{0}e", "email": "a@b.fr"}, "k\u{0}": [1, "\u{0}"]});
        assert!(holds_nul(&dirty));
        let cleaned = without_nul(&dirty);
        assert!(!holds_nul(&cleaned));
        assert_eq!(cleaned["customer_details"]["name"], "Ann\u{FFFD}e");
        assert_eq!(cleaned["customer_details"]["email"], "a@b.fr");
        assert_eq!(cleaned["k\u{FFFD}"][1], "\u{FFFD}");
    }
}
