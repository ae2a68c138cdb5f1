//! `*.updated` events, as Stripe sends them: the object as it is now, and in
//! `data.previous_attributes` the old values of the keys that changed (inside a hash such as
//! `metadata`, only its changed keys; one that was added was null). Every update event the
//! sandbox emits is made here.

use serde_json::{json, Map, Value};

use super::model::{Account, Cause};

/// The keys of `after` whose values differ in `before`, with their values in `before`.
pub fn previous_attributes(before: &Value, after: &Value) -> Value {
    let (Value::Object(before), Value::Object(after)) = (before, after) else {
        return before.clone();
    };
    let mut changed = Map::new();
    for (key, now) in after {
        let was = before.get(key).unwrap_or(&Value::Null);
        if was == now {
            continue;
        }
        let old = match (was, now) {
            (Value::Object(_), Value::Object(_)) if key == "metadata" => {
                previous_attributes(was, now)
            }
            _ => was.clone(),
        };
        changed.insert(key.clone(), old);
    }
    // A hash key that was removed is named with its old value.
    for (key, was) in before {
        if !after.contains_key(key) {
            changed.insert(key.clone(), was.clone());
        }
    }
    Value::Object(changed)
}

impl Account {
    /// Emits `kind` for an object that changed from `before` to `after`.
    pub fn emit_update(&mut self, kind: &str, before: &Value, after: Value, cause: &Cause) {
        let previous = previous_attributes(before, &after);
        self.record(
            kind,
            json!({ "object": after, "previous_attributes": previous }),
            cause,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_keys_are_named_with_their_old_values() {
        let before = json!({"id": "re_1", "status": "pending", "metadata": {"a": "1", "b": "2"}});
        let after = json!({"id": "re_1", "status": "succeeded", "metadata": {"a": "1", "c": "3"}});
        assert_eq!(
            previous_attributes(&before, &after),
            json!({"status": "pending", "metadata": {"b": "2", "c": null}})
        );
        assert_eq!(previous_attributes(&after, &after), json!({}));
    }
}
