//! Stripe's test-mode rate limiter, opt in (`SandboxOptions::rate_limit`, `caisse sandbox
//! --rate-limit`): at most 25 read (GET) and 25 write (POST, DELETE) API requests in any second,
//! the basic limits Stripe's "Rate limits" page gives for test mode; one more is `429` with
//! `code: rate_limit`, so that a shop can test its back-off. A refused request is not counted,
//! and it changes nothing (it is refused before it runs, so an `Idempotency-Key` saves nothing).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};

use crate::error::ApiError;

/// Stripe's test-mode limit, per second, for reads and for writes each.
pub const PER_SECOND: usize = 25;

const WINDOW: Duration = Duration::from_secs(1);

/// When the last requests of each kind were let through, over the last second.
#[derive(Debug, Default)]
pub struct RateLimiter {
    reads: Mutex<VecDeque<Instant>>,
    writes: Mutex<VecDeque<Instant>>,
}

impl RateLimiter {
    /// Lets a request of `method` through now (true), or not.
    pub fn admit(&self, method: &Method) -> bool {
        let is_read = matches!(*method, Method::GET | Method::HEAD);
        let mut times = if is_read { &self.reads } else { &self.writes }
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            times.pop_front();
        }
        if times.len() >= PER_SECOND {
            return false;
        }
        times.push_back(now);
        true
    }
}

/// Stripe's answer to a request past the limit.
pub fn refused() -> ApiError {
    ApiError {
        status: StatusCode::TOO_MANY_REQUESTS,
        ..ApiError::invalid(
            "Request rate limit exceeded. You can learn more about rate limits here \
             https://stripe.com/docs/rate-limits.",
            None,
        )
        .with_code("rate_limit")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_have_a_limit_each() {
        let limiter = RateLimiter::default();
        for _ in 0..PER_SECOND {
            assert!(limiter.admit(&Method::GET));
        }
        assert!(!limiter.admit(&Method::GET));
        // Writes count on their own.
        assert!(limiter.admit(&Method::POST));
    }
}
