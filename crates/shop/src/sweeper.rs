//! The hold-expiry sweeper: gives back the stock of holds past their expiry even when
//! `checkout.session.expired` never arrives.
//!
//! Stripe is asked to expire the session **first**; the stock is released only once Stripe says
//! the session is expired. A session that turns out complete was paid at the last second: its hold
//! is left to the payment path. Several instances may sweep at once: Stripe's expire is idempotent
//! (one key per hold), and the release is a conditional update that only one of them wins.

use crate::app::App;
use crate::release::{self, Purpose, Verdict};
use crate::store::StoreError;

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub released: usize,
    /// Sessions found complete: the payment path owns them.
    pub paid: usize,
    /// Holds another instance or a webhook released first.
    pub released_elsewhere: usize,
    /// Holds left for the next pass (Stripe unreachable or undecided).
    pub deferred: usize,
}

/// How many holds one pass looks at.
const BATCH: i64 = 200;

pub async fn sweep(app: &App, now: i64) -> Result<SweepReport, StoreError> {
    let mut report = SweepReport::default();
    for hold in app.store.expired_holds(now, BATCH).await? {
        match release::expire_at_stripe(app, &hold, Purpose::Expire).await {
            Verdict::Expired => {
                let why = format!("expired at {} without payment", hold.expires_at);
                if release::release(app, &hold, "expired", "system:sweeper", &why, now).await? {
                    report.released += 1;
                } else {
                    report.released_elsewhere += 1;
                }
            }
            Verdict::Complete => {
                tracing::info!(hold_id = %hold.id, "session completed at the last second; the payment path takes over");
                report.paid += 1;
            }
            Verdict::Unknown => report.deferred += 1,
        }
    }
    metrics::gauge!("caisse_active_holds").set(app.store.active_hold_count().await? as f64);
    Ok(report)
}

/// Sweeps every `interval` until the process stops.
pub async fn run(app: App) {
    let mut ticker = tokio::time::interval(app.config.checkout.sweep_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = crate::store::unix_now();
        match sweep(&app, now).await {
            Ok(r) if r != SweepReport::default() => tracing::info!(?r, "swept expired holds"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweep failed; retrying at the next tick"),
        }
    }
}
