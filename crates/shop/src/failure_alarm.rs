//! The `internal_error` alerts an instance raised this clock hour (`http/failures.rs`): a burst
//! of failures writes one alert, not a row per failed request.

use std::collections::HashSet;
use std::sync::Mutex;

/// The alerts this instance raised in the current clock hour: a burst of failures writes one
/// alert, not a row per request (the dedup key makes it one across instances).
#[derive(Default)]
pub struct FailureAlarm {
    raised: Mutex<(i64, HashSet<String>)>,
}

impl FailureAlarm {
    /// True the first time `key` is seen in `hour`.
    pub fn first(&self, hour: i64, key: &str) -> bool {
        let mut raised = self.raised.lock().unwrap_or_else(|p| p.into_inner());
        if raised.0 != hour {
            *raised = (hour, HashSet::new());
        }
        raised.1.insert(key.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_alert_per_key_and_hour() {
        let alarm = FailureAlarm::default();
        assert!(alarm.first(10, "a"));
        assert!(!alarm.first(10, "a"));
        assert!(alarm.first(10, "b"));
        assert!(alarm.first(11, "a"), "a new hour raises again");
    }
}
