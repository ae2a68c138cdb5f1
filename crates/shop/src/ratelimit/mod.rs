//! Rate limits on checkout creation and cancellation, per customer and per client IP (DESIGN.md
//! 1.7).
//!
//! One limiter type over two backends: in process (one budget per instance), or Redis (one budget
//! shared by every instance), both running the same GCRA ([`gcra::decide`]). Redis is never needed
//! to take a payment: when it fails or takes longer than `CAISSE_REDIS_TIMEOUT_MS`, the limiter
//! limits in process for a cool-down ([`fallback`]), counting each such check in
//! `caisse_ratelimit_fallback_total` and raising one `redis_unavailable` alert per outage, then
//! goes back to Redis once it answers. Checkout keeps working and stays limited per instance,
//! instead of either refusing every customer (fail closed) or limiting nobody (fail open). The cap
//! on open holds, kept in the database, bounds what a client can hold in either case.

mod fallback;
mod gcra;
mod redis_backend;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use fallback::Fallback;

use crate::domain::status::AlertKind;
use crate::store::{NewAlert, Severity, Store};

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
    redis: Option<Shared>,
}

/// The shared backend, its cool-down, and where its outage alert goes.
struct Shared {
    redis: RedisLimiter,
    fallback: Fallback,
    store: Store,
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

    /// Shared through `redis`; an outage of it is told to the operators through `store`.
    pub fn with_redis(redis: RedisLimiter, store: Store) -> RateLimiter {
        RateLimiter {
            local: Mutex::new(Local::default()),
            redis: Some(Shared {
                redis,
                fallback: Fallback::default(),
                store,
            }),
        }
    }

    /// One request by `id` under `scope` at `now_ms`.
    pub async fn check(&self, scope: Scope, id: &str, rate: Rate, now_ms: i64) -> Decision {
        let key = format!("caisse:rl:checkout:{}:{id}", scope.as_str());
        if let Some(shared) = &self.redis {
            if shared.fallback.may_ask(now_ms) {
                match shared.redis.check(&key, rate, now_ms).await {
                    Ok(decision) => {
                        if let Some(since) = shared.fallback.answered() {
                            tracing::info!(
                                down_ms = now_ms - since,
                                "Redis answers again; the rate limit is shared again"
                            );
                        }
                        return decision;
                    }
                    Err(e) => {
                        metrics::counter!("caisse_ratelimit_backend_errors_total").increment(1);
                        tracing::warn!(error = %e, "Redis rate limiter unavailable; limiting in process");
                        if shared.fallback.failed(now_ms) {
                            outage_alert(shared.store.clone(), now_ms);
                        }
                    }
                }
            }
            metrics::counter!("caisse_ratelimit_fallback_total").increment(1);
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

/// The `redis_unavailable` alert of an outage that started at `since_ms`, raised on a task of its
/// own so that the check that met the outage does not wait for the database. Its dedup key is the
/// outage's minute: instances that met one outage together raise one alert.
fn outage_alert(store: Store, since_ms: i64) {
    tokio::spawn(async move {
        let alert = NewAlert {
            kind: AlertKind::RedisUnavailable,
            severity: Severity::Warning,
            message:
                "Redis failed or did not answer within CAISSE_REDIS_TIMEOUT_MS: checkouts are \
                      rate-limited per instance until it answers again (payments are not affected)"
                    .to_string(),
            entity: None,
            dedup_key: format!("redis_unavailable:{}", since_ms / 60_000),
        };
        if let Err(e) = store.raise_alert(&alert, since_ms / 1000).await {
            tracing::warn!(error = %e, "could not raise the Redis outage alert");
        }
    });
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
