//! GCRA (generic cell rate algorithm) as a pure function: the one definition of the limit that the
//! in-process backend runs directly and the Redis backend mirrors in its Lua script.
//!
//! The state of a key is one number, its theoretical arrival time (TAT). A rate of `n` per `period`
//! admits a burst of `n` and then one request every `period / n`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// `n` requests per `period`, written `5/min`, `30/hour`, `2/sec`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub period: Duration,
}

impl Rate {
    /// Time between two requests at the steady rate, in milliseconds (at least 1).
    pub fn interval_ms(&self) -> i64 {
        (self.period.as_millis() as i64 / i64::from(self.count)).max(1)
    }

    /// How far ahead of now the TAT may run: the whole burst.
    pub fn burst_ms(&self) -> i64 {
        self.interval_ms() * i64::from(self.count)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period.as_secs() {
            1 => "sec",
            60 => "min",
            3600 => "hour",
            s => return write!(f, "{}/{}s", self.count, s),
        };
        write!(f, "{}/{unit}", self.count)
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Rate, String> {
        let bad = || "must look like 5/min (N/sec, N/min or N/hour, N ≥ 1)".to_string();
        let (count, unit) = s.trim().split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let secs = match unit.trim() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            _ => return Err(bad()),
        };
        if count == 0 {
            return Err(bad());
        }
        Ok(Rate {
            count,
            period: Duration::from_secs(secs),
        })
    }
}

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
    fn parses_and_prints_rates() {
        let r: Rate = "5/min".parse().unwrap();
        assert_eq!(
            r,
            Rate {
                count: 5,
                period: Duration::from_secs(60)
            }
        );
        assert_eq!(r.to_string(), "5/min");
        assert!("0/min".parse::<Rate>().is_err());
        assert!("5 per min".parse::<Rate>().is_err());
    }

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
