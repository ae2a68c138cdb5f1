//! When the shared limiter's Redis fails or is slow: the cool-down during which checks stay in
//! process without asking Redis (so that a black-holed Redis costs one time-out per cool-down,
//! not one per check), and the outage it belongs to (one alert per outage).
//!
//! Lock-free: a check reads one atomic on the hot path. Once a cool-down is over, the one check
//! that moves it forward asks Redis; the others keep limiting in process meanwhile.

use std::sync::atomic::{AtomicI64, Ordering};

/// How long the limiter stays in process after Redis failed, before asking it again.
pub const COOL_DOWN_MS: i64 = 2_000;

#[derive(Debug, Default)]
pub struct Fallback {
    /// Until when (ms) checks stay in process; 0 while Redis answers.
    until_ms: AtomicI64,
    /// When (ms) the current outage started; 0 when there is none.
    since_ms: AtomicI64,
}

impl Fallback {
    /// Whether this check may ask Redis at `now_ms`: always while Redis answers, never during a
    /// cool-down, and after one only for the check that claims the probe.
    pub fn may_ask(&self, now_ms: i64) -> bool {
        let until = self.until_ms.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        if now_ms < until {
            return false;
        }
        self.until_ms
            .compare_exchange(
                until,
                now_ms + COOL_DOWN_MS,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Redis failed at `now_ms`: a cool-down starts. True when this starts an outage.
    pub fn failed(&self, now_ms: i64) -> bool {
        self.until_ms
            .store(now_ms + COOL_DOWN_MS, Ordering::Release);
        self.since_ms
            .compare_exchange(0, now_ms, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Redis answered: the start of the outage this ends, if one was under way.
    pub fn answered(&self) -> Option<i64> {
        // Every successful check asks: two reads, no write, while nothing failed.
        if self.until_ms.load(Ordering::Acquire) == 0 && self.since_ms.load(Ordering::Acquire) == 0
        {
            return None;
        }
        self.until_ms.store(0, Ordering::Release);
        let since = self.since_ms.swap(0, Ordering::AcqRel);
        (since != 0).then_some(since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_cools_down_then_one_check_probes_and_an_answer_ends_the_outage() {
        let f = Fallback::default();
        assert!(f.may_ask(1_000), "Redis is asked while it answers");
        assert_eq!(f.answered(), None, "no outage without a failure");
        assert!(f.failed(1_000), "the first failure starts an outage");
        assert!(!f.may_ask(1_001));
        assert!(!f.may_ask(1_000 + COOL_DOWN_MS - 1), "cooling down");
        let after = 1_000 + COOL_DOWN_MS;
        assert!(f.may_ask(after), "one probe once the cool-down is over");
        assert!(!f.may_ask(after), "and only one");
        assert!(!f.failed(after + 100), "a failed probe is the same outage");
        assert!(!f.may_ask(after + 101));
        assert!(f.may_ask(after + 100 + COOL_DOWN_MS));
        assert_eq!(f.answered(), Some(1_000), "told once, with its start");
        assert_eq!(f.answered(), None);
        assert!(f.may_ask(0), "back on Redis");
        assert!(f.failed(9_000), "a later failure is a new outage");
    }
}
