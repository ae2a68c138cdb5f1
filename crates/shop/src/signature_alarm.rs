//! The signature-failure alarm: a burst of bad signatures usually means a wrong secret or a wrong
//! endpoint, which operators must hear about before Stripe gives up on the deliveries.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Failure times of this instance within the window. Each instance counts its own; the alert's
/// dedup key (one per window) makes several instances raise one alert.
#[derive(Debug, Default)]
pub struct SignatureAlarm {
    failures: Mutex<VecDeque<i64>>,
}

impl SignatureAlarm {
    /// Counts a failure at `now`; true when the last `window` seconds now hold `threshold`
    /// failures or more.
    pub fn record(&self, now: i64, window: i64, threshold: u32) -> bool {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        while failures.front().is_some_and(|&t| t <= now - window) {
            failures.pop_front();
        }
        // Bounded: past the threshold, older failures add nothing to the decision.
        if failures.len() >= threshold as usize {
            failures.pop_front();
        }
        failures.push_back(now);
        failures.len() >= threshold as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_at_the_threshold_within_the_window_only() {
        let alarm = SignatureAlarm::default();
        for i in 0..9 {
            assert!(!alarm.record(1000 + i, 300, 10));
        }
        assert!(alarm.record(1009, 300, 10));
        assert!(alarm.record(1010, 300, 10), "still a burst");
        let spread = SignatureAlarm::default();
        for i in 0..20 {
            assert!(
                !spread.record(1000 + i * 40, 300, 10),
                "8 per window at most"
            );
        }
    }
}
