//! Every object the sandbox renders carries every key of Stripe's object, null where the sandbox
//! has nothing to say: stripe-python raises `AttributeError` for a key that is missing, not
//! `None`, so a thin object breaks code that works against Stripe. The key lists and their empty
//! values (`shapes.json`) are those of Stripe's own example objects (`openapi/fixtures3.json`).

use std::sync::LazyLock;

use serde_json::{Map, Value};

static SHAPES: LazyLock<Map<String, Value>> = LazyLock::new(|| {
    serde_json::from_str(include_str!("shapes.json")).expect("shapes.json is a JSON object")
});

/// Every kind of object the sandbox renders, as `shapes.json` names them.
pub const KINDS: [&str; 9] = [
    "checkout.session",
    "item",
    "payment_intent",
    "payment_method",
    "charge",
    "refund",
    "price",
    "product",
    "event",
];

/// The keys Stripe's `kind` object has (`checkout.session`, `item`, `payment_intent`,
/// `payment_method`, `charge`, `refund`, `price`, `product`, `event`).
pub fn keys(kind: &str) -> Vec<&'static str> {
    SHAPES
        .get(kind)
        .and_then(Value::as_object)
        .map(|keys| keys.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// `object` with every key of `kind` it lacks: Stripe's own value where that is empty (`[]`,
/// `{}`, `0`, `false`: `metadata` is always a hash, `custom_fields` a list), else null.
pub fn shape(kind: &str, mut object: Value) -> Value {
    if let (Value::Object(map), Some(Value::Object(defaults))) = (&mut object, SHAPES.get(kind)) {
        for (key, default) in defaults {
            map.entry(key.as_str()).or_insert_with(|| default.clone());
        }
    }
    object
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_kind_has_its_keys_and_no_other_kind_is_listed() {
        for kind in super::KINDS {
            assert!(super::keys(kind).contains(&"id"), "{kind}");
        }
        let listed: Vec<&String> = super::SHAPES.keys().filter(|k| *k != "_from").collect();
        assert_eq!(listed.len(), super::KINDS.len(), "{listed:?}");
    }
}
