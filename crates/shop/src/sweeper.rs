//! The hold-expiry sweeper: gives back the stock of holds past their expiry even when
//! `checkout.session.expired` never arrives.
//!
//! Stripe is asked to expire the session **first**; the stock is released only once Stripe says
//! the session is expired. A session that turns out complete was paid at the last second: its hold
//! is left to the payment path. Several instances may sweep at once: Stripe's expire is idempotent
//! (one key per hold), and the release is a conditional update that only one of them wins.

use serde_json::json;

use crate::app::App;
use crate::store::{AuditEntry, Hold, StoreError};

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub released: usize,
    /// Sessions found complete: the payment path owns them.
    pub paid: usize,
    /// Holds left for the next pass (Stripe unreachable, or another instance won the release).
    pub deferred: usize,
}

/// How many holds one pass looks at.
const BATCH: i64 = 200;

pub async fn sweep(app: &App, now: i64) -> Result<SweepReport, StoreError> {
    let mut report = SweepReport::default();
    for hold in app.store.expired_holds(now, BATCH).await? {
        match expire_at_stripe(app, &hold).await {
            StripeVerdict::Expired => {
                if release(app, &hold, now).await? {
                    report.released += 1;
                } else {
                    report.deferred += 1;
                }
            }
            StripeVerdict::Paid => {
                tracing::info!(hold_id = %hold.id, "session completed at the last second; the payment path takes over");
                report.paid += 1;
            }
            StripeVerdict::Unknown => report.deferred += 1,
        }
    }
    metrics::gauge!("caisse_active_holds").set(app.store.active_hold_count().await? as f64);
    Ok(report)
}

enum StripeVerdict {
    Expired,
    Paid,
    Unknown,
}

async fn expire_at_stripe(app: &App, hold: &Hold) -> StripeVerdict {
    // No session: the request that made the hold died before Stripe answered (or Stripe failed),
    // and a session it may have created carries the same expiry, so it is over too.
    let Some(session_id) = &hold.checkout_session_id else {
        return StripeVerdict::Expired;
    };
    let key = format!("caisse-{}-expire", hold.id);
    let session = match app.stripe.expire_checkout_session(session_id, &key).await {
        Ok(s) => s,
        // Not open any more (expired by Stripe itself, or paid): ask what it is.
        Err(e) if e.status() == Some(400) => {
            match app.stripe.retrieve_checkout_session(session_id).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(hold_id = %hold.id, error = %e, "cannot read the session of an expired hold");
                    return StripeVerdict::Unknown;
                }
            }
        }
        Err(e) => {
            tracing::warn!(hold_id = %hold.id, error = %e, "cannot expire the session of an expired hold");
            return StripeVerdict::Unknown;
        }
    };
    if session.is_expired() {
        StripeVerdict::Expired
    } else if session.is_complete() {
        StripeVerdict::Paid
    } else {
        StripeVerdict::Unknown
    }
}

async fn release(app: &App, hold: &Hold, now: i64) -> Result<bool, StoreError> {
    let mut tx = app.store.begin().await?;
    let released = tx.release_hold(&hold.id, "expired", now).await?;
    if released {
        tx.audit(
            AuditEntry {
                actor: "system:sweeper",
                action: "hold.released",
                entity_type: "hold",
                entity_id: &hold.id,
                before: Some(json!({"status": "active"})),
                after: Some(json!({"status": "released", "reason": "expired"})),
                message: format!(
                    "Hold {} released: expired at {} without payment",
                    hold.id, hold.expires_at
                ),
            },
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(released)
}

/// Sweeps every `interval` until the process stops.
pub async fn run(app: App) {
    let mut ticker = tokio::time::interval(app.config.checkout.sweep_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match sweep(&app, crate::store::unix_now()).await {
            Ok(r) if r != SweepReport::default() => tracing::info!(?r, "swept expired holds"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweep failed; retrying at the next tick"),
        }
    }
}
