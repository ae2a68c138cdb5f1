//! GCRA (generic cell rate algorithm) as a pure function: the one definition of the limit that the
//! in-process backend runs directly and the Redis backend mirrors in its Lua script.
//!
//! The state of a key is one number, its theoretical arrival time (TAT). A rate of `n` per `period`
//! admits a burst of `n` and then one request every `period / n`.

pub use crate::domain::rate::Rate;

/// The answer for one request: allowed or not, and what the `RateLimit-*` headers say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Requests still allowed right now after this one.
    pub remaining: u32,
    /// Milliseconds until the next request would be allowed (0 when allowed).
    pub retry_after_ms: i64,
    /// Milliseconds until the key is back to a full burst.
    pub reset_ms: i64,
    /// The TAT to store (unchanged when refused).
    pub new_tat: i64,
}

/// One request at `now_ms` against a key whose stored TAT is `tat` (None when the key is new).
pub fn decide(rate: Rate, tat: Option<i64>, now_ms: i64) -> Decision {
    let interval = rate.interval_ms();
    let burst = rate.burst_ms();
    let tat = tat.unwrap_or(now_ms).max(now_ms);
    let candidate = tat + interval;
    if candidate - now_ms > burst {
        return Decision {
            allowed: false,
            remaining: 0,
            retry_after_ms: candidate - burst - now_ms,
            reset_ms: tat - now_ms,
            new_tat: tat,
        };
    }
    Decision {
        allowed: true,
        remaining: ((burst - (candidate - now_ms)) / interval) as u32,
        retry_after_ms: 0,
        reset_ms: candidate - now_ms,
        new_tat: candidate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_burst_then_one_per_interval() {
        let rate: Rate = "5/min".parse().unwrap();
        let mut tat = None;
        for i in 0..5 {
            let d = decide(rate, tat, 0);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 4 - i);
            tat = Some(d.new_tat);
        }
        let refused = decide(rate, tat, 0);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_ms, 12_000);
        assert!(!decide(rate, tat, 11_999).allowed);
        assert!(decide(rate, tat, 12_000).allowed);
    }

    proptest! {
        /// Over any window of one period, never more than count + (window / interval) requests pass.
        #[test]
        fn never_more_than_the_rate(gaps in proptest::collection::vec(0i64..5_000, 1..200)) {
            let rate: Rate = "5/min".parse().unwrap();
            let (mut tat, mut now, mut admitted) = (None, 0i64, Vec::new());
            for g in gaps {
                now += g;
                let d = decide(rate, tat, now);
                if d.allowed { admitted.push(now); tat = Some(d.new_tat); }
            }
            for (i, start) in admitted.iter().enumerate() {
                let in_window = admitted[i..].iter().take_while(|t| **t < start + 60_000).count();
                prop_assert!(in_window <= 10, "{in_window} in one minute");
            }
        }
    }
}
