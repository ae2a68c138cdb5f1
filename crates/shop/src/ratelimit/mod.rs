//! Rate limits on checkout creation and cancellation, per customer and per client IP (DESIGN.md
//! 1.7).
//!
//! One limiter type over two backends: in process (one budget per instance), or Redis (one budget
//! shared by every instance), both running the same GCRA ([`gcra::decide`]). When Redis does not
//! answer, the limiter falls back to its in-process state for that request and counts the error:
//! checkout keeps working and stays limited per instance, instead of either refusing every
//! customer (fail closed) or limiting nobody (fail open). The cap on open holds, kept in the
//! database, bounds what a client can hold in either case.

mod gcra;
mod redis_backend;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

pub use gcra::{decide, Decision, Rate};
pub use redis_backend::RedisLimiter;

/// What a limit applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Customer,
    Ip,
    /// Cancels of checkouts, per customer and per client network (each a call to Stripe).
    CancelCustomer,
    CancelIp,
    /// Sign-in attempts on the dashboard, per client network.
    AdminSignIn,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Customer => "customer",
            Scope::Ip => "ip",
            Scope::CancelCustomer => "cancel_customer",
            Scope::CancelIp => "cancel_ip",
            Scope::AdminSignIn => "admin_sign_in",
        }
    }
}

/// Keys kept in process before old ones are dropped; a dropped key has a full burst again, which
/// is what it would have after waiting anyway.
const MAX_LOCAL_KEYS: usize = 100_000;

pub struct RateLimiter {
    local: Mutex<Local>,
    redis: Option<RedisLimiter>,
}

/// The in-process state: each key's TAT, and the keys in the order they were last set, so that
/// each check drops a few stale ones from the front instead of scanning the whole map.
#[derive(Default)]
struct Local {
    tat: HashMap<String, i64>,
    order: VecDeque<(String, i64)>,
}

impl Local {
    fn evict(&mut self, now_ms: i64) {
        // Bounded work per call: amortised, every entry is pushed and popped once.
        for _ in 0..8 {
            let Some((key, tat)) = self.order.front() else {
                return;
            };
            if *tat > now_ms && self.tat.len() <= MAX_LOCAL_KEYS {
                return;
            }
            if self.tat.get(key) == Some(tat) {
                self.tat.remove(key);
            }
            self.order.pop_front();
        }
    }
}

impl RateLimiter {
    pub fn in_process() -> RateLimiter {
        RateLimiter {
            local: Mutex::new(Local::default()),
            redis: None,
        }
    }

    pub fn with_redis(redis: RedisLimiter) -> RateLimiter {
        RateLimiter {
            local: Mutex::new(Local::default()),
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
        state.evict(now_ms);
        let decision = decide(rate, state.tat.get(key).copied(), now_ms);
        if decision.allowed {
            state.tat.insert(key.to_string(), decision.new_tat);
            state.order.push_back((key.to_string(), decision.new_tat));
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

    #[tokio::test]
    async fn stale_keys_are_dropped_a_few_at_a_time() {
        let limiter = RateLimiter::in_process();
        let rate: Rate = "1/sec".parse().unwrap();
        for i in 0..1000 {
            limiter.check(Scope::Ip, &format!("k{i}"), rate, 0).await;
        }
        // Long after: each check drops a few, and the map shrinks without a full scan.
        for i in 0..200 {
            limiter
                .check(Scope::Ip, "fresh", rate, 1_000_000 + i * 1000)
                .await;
        }
        let left = limiter.local.lock().unwrap().tat.len();
        assert!(left < 1000 - 8 * 100, "{left}");
    }
}
