//! What the sandbox forgets, as Stripe does, so that a long `caisse dev` does not grow without
//! bound: an `Idempotency-Key` is forgotten 24 hours after its first use (a reuse after that is a
//! new request), and the event log keeps the last 30 days (Stripe's Events API window) and at
//! most [`MAX_EVENTS`] events. Both are measured on the sandbox's clock, which tests can advance.

use std::collections::{HashMap, VecDeque};

use serde_json::Value;

use super::Saved;

/// Stripe forgets an idempotency key 24 hours after it was first used.
pub const KEY_LIFETIME_SECS: i64 = 86_400;
/// Stripe lists events of the last 30 days.
pub const EVENT_LIFETIME_SECS: i64 = 30 * 86_400;
/// The most events the sandbox keeps, whatever their age.
pub const MAX_EVENTS: usize = 10_000;

/// Saved answers per key, and the keys in the order they were first used (so that forgetting
/// the expired ones looks at the oldest only, never at the whole map).
#[derive(Default)]
pub struct IdempotencyKeys {
    saved: HashMap<String, (i64, Saved)>,
    order: VecDeque<(i64, String)>,
}

impl IdempotencyKeys {
    /// The answer saved for `slot`, unless it was first used 24 hours or more before `now`.
    pub fn get(&self, slot: &str, now: i64) -> Option<&Saved> {
        self.saved
            .get(slot)
            .filter(|(at, _)| now - at < KEY_LIFETIME_SECS)
            .map(|(_, saved)| saved)
    }

    /// Saves the answer for `slot` at `now`, and forgets the keys whose 24 hours are over.
    pub fn insert(&mut self, slot: String, saved: Saved, now: i64) {
        while let Some((at, _)) = self.order.front() {
            if now - at < KEY_LIFETIME_SECS {
                break;
            }
            let (at, old) = self.order.pop_front().expect("a front");
            if self.saved.get(&old).is_some_and(|(first, _)| *first == at) {
                self.saved.remove(&old);
            }
        }
        self.order.push_back((now, slot.clone()));
        self.saved.insert(slot, (now, saved));
    }
}

/// Every event still kept, oldest first.
#[derive(Default)]
pub struct EventLog {
    events: VecDeque<Value>,
}

impl EventLog {
    /// Records `event`, created at `now`, and forgets what is past the window or the count.
    pub fn push(&mut self, event: Value, now: i64) {
        self.events.push_back(event);
        while self.events.len() > MAX_EVENTS
            || self
                .events
                .front()
                .is_some_and(|e| now - e["created"].as_i64().unwrap_or(now) >= EVENT_LIFETIME_SECS)
        {
            self.events.pop_front();
        }
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Value> {
        self.events.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn saved(n: u16) -> Saved {
        Saved {
            fingerprint: String::new(),
            status: n,
            body: Value::Null,
            request_id: String::new(),
        }
    }

    #[test]
    fn a_key_is_forgotten_24_hours_after_its_first_use() {
        let mut keys = IdempotencyKeys::default();
        keys.insert("k".into(), saved(200), 1_000);
        assert_eq!(
            keys.get("k", 1_000 + KEY_LIFETIME_SECS - 1)
                .map(|s| s.status),
            Some(200)
        );
        assert!(keys.get("k", 1_000 + KEY_LIFETIME_SECS).is_none());
        keys.insert("later".into(), saved(201), 1_000 + KEY_LIFETIME_SECS);
        assert_eq!(
            keys.saved.len(),
            1,
            "the expired key is dropped from memory"
        );
        // Reused after it expired: a new first use, kept for 24 hours from then.
        keys.insert("k".into(), saved(202), 1_000 + KEY_LIFETIME_SECS);
        keys.insert("x".into(), saved(200), 1_000 + KEY_LIFETIME_SECS + 10);
        assert_eq!(
            keys.get("k", 1_000 + KEY_LIFETIME_SECS + 10)
                .map(|s| s.status),
            Some(202)
        );
    }

    #[test]
    fn the_log_keeps_30_days_and_at_most_max_events() {
        let mut log = EventLog::default();
        log.push(json!({"id": "evt_old", "created": 0}), 0);
        log.push(
            json!({"id": "evt_new", "created": EVENT_LIFETIME_SECS}),
            EVENT_LIFETIME_SECS,
        );
        let ids: Vec<&str> = log.iter().map(|e| e["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["evt_new"]);
        for i in 0..MAX_EVENTS + 5 {
            log.push(
                json!({"id": format!("evt_{i}"), "created": EVENT_LIFETIME_SECS}),
                EVENT_LIFETIME_SECS,
            );
        }
        assert_eq!(log.iter().count(), MAX_EVENTS);
        assert_eq!(
            log.iter().next().unwrap()["id"],
            "evt_5",
            "the oldest go first"
        );
    }
}
