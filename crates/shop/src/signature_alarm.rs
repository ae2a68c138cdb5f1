//! The signature-failure alarm: a burst of bad signatures usually means a wrong secret or a wrong
//! endpoint, which operators must hear about before Stripe gives up on the deliveries. It also
//! paces their log lines: one a second at most, with the count since the last one, so that a flood
//! of forged deliveries cannot fill the disk with a line each.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Failure times of this instance within the window. Each instance counts its own; the alert's
/// dedup key (one per window) makes several instances raise one alert.
#[derive(Debug, Default)]
pub struct SignatureAlarm {
    failures: Mutex<VecDeque<i64>>,
    log: Mutex<LogPace>,
}

/// The second of the last log line, and the failures since it.
#[derive(Debug, Default)]
struct LogPace {
    second: Option<i64>,
    unlogged: u64,
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

    /// Counts a failure at `now` (unix seconds) for the log: `Some(n)` when a line is due — the
    /// first failure of a second that has none yet — with the `n` failures it stands for (those
    /// left unlogged since the last line, and this one).
    pub fn log_due(&self, now: i64) -> Option<u64> {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.unlogged += 1;
        if log.second == Some(now) {
            return None;
        }
        log.second = Some(now);
        Some(std::mem::take(&mut log.unlogged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_log_line_a_second_with_the_count() {
        let alarm = SignatureAlarm::default();
        assert_eq!(alarm.log_due(1000), Some(1));
        for _ in 0..999 {
            assert_eq!(alarm.log_due(1000), None);
        }
        assert_eq!(
            alarm.log_due(1001),
            Some(1000),
            "999 unlogged, and this one"
        );
        assert_eq!(alarm.log_due(1005), Some(1));
    }

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
