//! The operations section: how long Redis may take, and how long caisse keeps what grows.

use std::time::Duration;

use super::reader::Reader;
use super::settings::{REDIS_TIMEOUT, RETENTION_DAYS};

/// The shortest retention: Stripe retries an event for three days and `events replay` reads 30
/// days back, so an event's record (its id and status) must outlive both to stay deduplicated.
pub const MIN_RETENTION_DAYS: u32 = 30;

#[derive(Clone, Debug)]
pub struct OperationsConfig {
    /// The time limit of every Redis call, connecting included.
    pub redis_timeout: Duration,
    /// Days after which payloads, traces and sent messages are pruned.
    pub retention_days: u32,
}

pub(super) fn operations_settings(r: &mut Reader<'_>) -> OperationsConfig {
    let redis_timeout = r.number::<u64>(REDIS_TIMEOUT);
    if !(1..=10_000).contains(&redis_timeout) {
        r.fail(REDIS_TIMEOUT, "must be 1 to 10000 milliseconds");
    }
    let retention_days = r.number::<u32>(RETENTION_DAYS);
    if retention_days < MIN_RETENTION_DAYS {
        r.fail(
            RETENTION_DAYS,
            "must be at least 30 (Stripe retries for 3 days and a replay reads 30 days back)",
        );
    }
    OperationsConfig {
        redis_timeout: Duration::from_millis(redis_timeout),
        retention_days,
    }
}
