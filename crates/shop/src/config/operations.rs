//! The operations section: how long Redis may take, how long caisse keeps what grows, and where
//! critical alerts go besides the dashboard (an email address, an incoming webhook).

use std::time::Duration;

use super::reader::Reader;
use super::settings::{
    ALERT_EMAIL, ALERT_WEBHOOK_SECRET, ALERT_WEBHOOK_URL, REDIS_TIMEOUT, RETENTION_DAYS,
};
use crate::secret::Secret;

/// The shortest retention: Stripe retries an event for three days and `events replay` reads 30
/// days back, so an event's record (its id and status) must outlive both to stay deduplicated.
pub const MIN_RETENTION_DAYS: u32 = 30;

#[derive(Clone, Debug)]
pub struct OperationsConfig {
    /// The time limit of every Redis call, connecting included.
    pub redis_timeout: Duration,
    /// Days after which payloads, traces and sent messages are pruned.
    pub retention_days: u32,
    pub alerts: AlertDelivery,
}

/// Where critical alerts are sent, besides the dashboard.
#[derive(Clone, Debug, Default)]
pub struct AlertDelivery {
    /// `CAISSE_ALERT_EMAIL`'s addresses; empty: the owners among the named operators.
    pub emails: Vec<String>,
    /// A secret: an incoming webhook's URL is its own credential.
    pub webhook_url: Option<Secret>,
    pub webhook_secret: Option<Secret>,
}

fn alert_delivery(r: &mut Reader<'_>) -> AlertDelivery {
    let emails: Vec<String> = r
        .text(ALERT_EMAIL)
        .split(',')
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty())
        .collect();
    if emails
        .iter()
        .any(|e| !e.contains('@') || e.contains(char::is_whitespace))
    {
        r.fail(ALERT_EMAIL, "must be email addresses, separated by commas");
    }
    let url = r.text(ALERT_WEBHOOK_URL);
    if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
        r.fail(ALERT_WEBHOOK_URL, "must be an http:// or https:// URL");
    }
    let secret = r.text(ALERT_WEBHOOK_SECRET);
    AlertDelivery {
        emails,
        webhook_url: (!url.is_empty()).then(|| Secret::new(url)),
        webhook_secret: (!secret.is_empty()).then(|| Secret::new(secret)),
    }
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
        alerts: alert_delivery(r),
    }
}
