//! Text that comes from outside and may be stored: Stripe's JSON may carry any character a
//! customer typed on its page, NUL included (`\u0000` in a name field), and PostgreSQL's `text`
//! cannot hold a NUL. Such a value is kept, with each NUL replaced by U+FFFD, rather than the
//! whole event refused (Stripe would retry it for three days, and nothing would change).
//!
//! Text an operator gives (a catalog's names, a carrier), on the other hand, is refused when it
//! holds what would make it read wrong where it is shown: [`no_control_characters`].

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

/// Refuses a control character (a NUL, an escape sequence, a line break in a name, Unicode's
/// line and paragraph separators, a bidirectional override that makes a name read backwards on
/// Stripe's page) in text that pages, emails and Stripe's payment page show, but those of
/// `allowed`: what one database would store and the other refuse (PostgreSQL's `text` holds no
/// NUL) is refused by both, in words, before either sees it.
pub fn no_control_characters(what: &str, text: &str, allowed: &str) -> Result<(), String> {
    let control = |c: char| {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    match text.chars().find(|c| control(*c) && !allowed.contains(*c)) {
        Some(c) => Err(format!(
            "{what} holds a control character (U+{:04X})",
            c as u32
        )),
        None => Ok(()),
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

    #[test]
    fn controls_separators_and_bidi_overrides_are_refused_but_what_is_allowed() {
        for bad in [
            "a\u{0}",
            "a\u{1b}[2J",
            "a\nb",
            "a\u{85}b",
            "a\u{2028}b",
            "\u{202e}gum",
            "a\u{2069}",
        ] {
            let err = no_control_characters("name", bad, "").unwrap_err();
            assert!(
                err.starts_with("name holds a control character (U+"),
                "{bad:?}: {err}"
            );
        }
        assert!(no_control_characters("description", "two\tcolumns\nand lines", "\n\t").is_ok());
        assert!(no_control_characters("name", "Tasse émaillée — 350 ml", "").is_ok());
    }
}
