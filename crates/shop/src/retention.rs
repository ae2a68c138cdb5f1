//! Retention (`CAISSE_RETENTION_DAYS`, at least 30): every server prunes, once at start and then
//! every hour, what is older than that (webhook payloads, Stripe request traces, sent or failed
//! outbox messages; see `store/retention.rs` for what stays); `caisse prune` does one pass.

use std::time::Duration;

use crate::app::App;
use crate::store::{Pruned, Store, StoreError};

/// How often a server prunes.
const INTERVAL: Duration = Duration::from_secs(3600);

/// The oldest time (unix seconds) kept at `now` with a retention of `days`.
pub fn cutoff(days: u32, now: i64) -> i64 {
    now - i64::from(days) * 86_400
}

/// One pass: removes what is older than the retention, or, with `dry_run`, counts it.
pub async fn prune(
    store: &Store,
    days: u32,
    now: i64,
    dry_run: bool,
) -> Result<Pruned, StoreError> {
    let before = cutoff(days, now);
    if dry_run {
        store.prunable(before).await
    } else {
        store.prune(before).await
    }
}

/// The worker: a pass at start, then one every hour. A failed pass is retried at the next.
pub async fn run(app: App) {
    let days = app.config.operations.retention_days;
    let mut tick = tokio::time::interval(INTERVAL);
    loop {
        tick.tick().await;
        match prune(&app.store, days, crate::store::unix_now(), false).await {
            Ok(p) if p == Pruned::default() => {}
            Ok(p) => tracing::info!(
                webhook_payloads = p.webhook_payloads,
                stripe_requests = p.stripe_requests,
                outbox_messages = p.outbox_messages,
                "retention: pruned what is older than {days} days"
            ),
            Err(e) => tracing::warn!(error = %e, "retention: the pass failed; retried in an hour"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cutoff_is_the_retention_in_days_before_now() {
        assert_eq!(super::cutoff(30, 100 * 86_400), 70 * 86_400);
    }
}
