//! Rate limits on checkout creation, per customer and per client IP (DESIGN.md 1.7).
//!
//! One limiter type over two backends: in process (one budget per instance), or Redis (one budget
//! shared by every instance), both running the same GCRA ([`gcra::decide`]). When Redis does not
//! answer, the limiter falls back to its in-process state for that request and counts the error:
//! checkout keeps working and stays limited per instance, instead of either refusing every
//! customer (fail closed) or limiting nobody (fail open). The cap on open holds, kept in the
//! database, bounds what a client can hold in either case.

mod gcra;
mod redis_backend;

use std::collections::HashMap;
use std::sync::Mutex;

pub use gcra::{decide, Decision, Rate};
pub use redis_backend::RedisLimiter;

/// What a limit applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Customer,
    Ip,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Customer => "customer",
            Scope::Ip => "ip",
        }
    }
}

/// Keys kept in process before old ones are dropped; a dropped key has a full burst again, which
/// is what it would have after waiting anyway.
const MAX_LOCAL_KEYS: usize = 100_000;

pub struct RateLimiter {
    local: Mutex<HashMap<String, i64>>,
    redis: Option<RedisLimiter>,
}

impl RateLimiter {
    pub fn in_process() -> RateLimiter {
        RateLimiter {
            local: Mutex::new(HashMap::new()),
            redis: None,
        }
    }

    pub fn with_redis(redis: RedisLimiter) -> RateLimiter {
        RateLimiter {
            local: Mutex::new(HashMap::new()),
            redis: Some(redis),
        }
    }

    /// One request by `id` under `scope` at `now_ms`.
    pub async fn check(&self, scope: Scope, id: &str, rate: Rate, now_ms: i64) -> Decision {
        let key = format!("caisse:rl:checkout:{}:{id}", scope.as_str());
        if let Some(redis) = &self.redis {
            match redis.check(&key, rate, now_ms).await {
                Ok(decision) => return decision,
                Err(e) => {
                    metrics::counter!("caisse_ratelimit_backend_errors_total").increment(1);
                    tracing::warn!(error = %e, "Redis rate limiter unavailable; limiting in process");
                }
            }
        }
        self.check_local(&key, rate, now_ms)
    }

    fn check_local(&self, key: &str, rate: Rate, now_ms: i64) -> Decision {
        let mut state = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if state.len() >= MAX_LOCAL_KEYS {
            state.retain(|_, tat| *tat > now_ms);
        }
        let decision = decide(rate, state.get(key).copied(), now_ms);
        if decision.allowed {
            state.insert(key.to_string(), decision.new_tat);
        }
        decision
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_process_limits_each_key_on_a_fixed_clock() {
        let limiter = RateLimiter::in_process();
        let rate: Rate = "2/min".parse().unwrap();
        let t = 1_000_000;
        assert!(limiter.check(Scope::Customer, "a", rate, t).await.allowed);
        assert!(limiter.check(Scope::Customer, "a", rate, t).await.allowed);
        let refused = limiter.check(Scope::Customer, "a", rate, t).await;
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_ms, 30_000);
        assert!(
            limiter.check(Scope::Customer, "b", rate, t).await.allowed,
            "keys are independent"
        );
        assert!(
            limiter.check(Scope::Ip, "a", rate, t).await.allowed,
            "scopes are independent"
        );
        assert!(
            limiter
                .check(Scope::Customer, "a", rate, t + 30_000)
                .await
                .allowed
        );
    }
}
