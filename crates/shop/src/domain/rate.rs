//! A rate: `n` per period, as the settings write it (`5/min`) and the rate limiter counts it.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
