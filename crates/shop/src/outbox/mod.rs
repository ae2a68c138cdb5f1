//! The outbox worker: sends what effects queued in their own transactions — the confirmation
//! email of each order, its shipping and refund notices, the refunds caisse asks Stripe for,
//! critical alerts' emails and webhook posts ([`alert_notices`], queued at the start of each
//! pass) — after those transactions committed.
//!
//! A worker claims due messages with a lease ([`crate::store::Tx::claim_outbox`]): the claim
//! commits before anything is sent, two workers (two instances) never hold one message at once,
//! and a worker killed mid-send leaves its message due again when the lease ends. Temporary
//! failures are retried with exponential back-off and jitter (the first within 10 s, capped at an
//! hour); a permanent failure, or `CAISSE_OUTBOX_MAX_ATTEMPTS` attempts, marks the message
//! `failed` with an alert.

use crate::domain::status::AlertKind;
use std::time::{Duration, Instant};

use rand::Rng;

pub mod alert_notices;
mod confirmation;
mod order_email;
mod refund;
mod refunded;
mod shipped;

use crate::app::App;
use crate::domain::status::OutboxKind;
use crate::email::SendError;
use crate::store::{unix_now, AuditEntry, NewAlert, OutboxRow, Severity, StoreError};

/// What one attempt at a message came to.
pub enum Attempt {
    /// Delivered; the audit sentence to record with it, if any.
    Done(Option<Audit>),
    Failed(SendError),
}

pub struct Audit {
    pub action: &'static str,
    pub entity_type: &'static str,
    pub entity_id: String,
    pub message: String,
    pub after: serde_json::Value,
}

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

/// How many messages one pass claims.
const BATCH: i64 = 20;

/// Claims the due messages and tries each once.
pub async fn run_once(app: &App, now: i64) -> Result<Report, StoreError> {
    alert_notices::queue(app, now).await?;
    let token = uuid::Uuid::new_v4().simple().to_string();
    let lease = app.config.mail.lease.as_secs() as i64;
    // With mail off, no confirmation is queued; one queued before mail was turned off waits
    // (sent if mail is turned on again).
    let skip = app.mailer.is_off().then_some(OutboxKind::OrderConfirmation);
    let claimed = app
        .store
        .write(async |tx| tx.claim_outbox(now, lease, &token, skip, BATCH).await)
        .await?;
    // Sent side by side, and each marked sent as soon as its own SMTP transaction ends: one slow
    // exchange neither holds up the others nor leaves them unmarked, so a process that dies can
    // send again only the messages actually in flight (not a whole batch).
    let outcomes = futures_util::future::join_all(claimed.iter().map(|row| async {
        let attempt = match row.kind {
            OutboxKind::OrderConfirmation => confirmation::send(app, row).await,
            OutboxKind::StripeRefund => refund::request(app, row).await,
            OutboxKind::ShippingNotice => shipped::send(app, row).await,
            OutboxKind::RefundNotice => refunded::send(app, row).await,
            OutboxKind::AlertEmail => alert_notices::send_email(app, row).await,
            OutboxKind::AlertWebhook => alert_notices::post(app, row).await,
        };
        finish(app, row, &token, attempt, unix_now()).await
    }))
    .await;
    let mut report = Report::default();
    for outcome in outcomes {
        match outcome? {
            Outcome::Sent => report.sent += 1,
            Outcome::Retried => report.retried += 1,
            Outcome::Failed => report.failed += 1,
        }
    }
    Ok(report)
}

/// The wait before attempt `attempts + 1`: 5 s doubling, capped at an hour, less up to a fifth
/// at random so that messages that failed together do not retry together.
fn backoff(attempts: i64) -> i64 {
    let base = (5i64 << (attempts - 1).clamp(0, 20)).min(3600);
    base - rand::thread_rng().gen_range(0..=base / 5)
}

/// Where one message stands after its attempt was recorded.
enum Outcome {
    Sent,
    Retried,
    Failed,
}

async fn finish(
    app: &App,
    row: &OutboxRow,
    token: &str,
    attempt: Attempt,
    now: i64,
) -> Result<Outcome, StoreError> {
    let max_attempts = app.config.mail.max_attempts;
    app.store
        .write(async |tx| {
        match attempt {
            Attempt::Done(audit) => {
                if !tx.outbox_sent(row.id, token, now).await? {
                    tracing::warn!(
                        outbox = row.id,
                        "sent after its lease ended; another worker may send it too"
                    );
                } else if let Some(a) = audit {
                    tx.audit(
                        AuditEntry {
                            actor: "system:outbox",
                            action: a.action,
                            entity_type: a.entity_type,
                            entity_id: &a.entity_id,
                            before: None,
                            after: Some(a.after),
                            message: a.message,
                        },
                        now,
                    )
                    .await?;
                }
                Ok(Outcome::Sent)
            }
            Attempt::Failed(e) => {
                let give_up = matches!(e, SendError::Permanent(_))
                    || row.attempts >= max_attempts;
                let retry_at = (!give_up).then(|| now + backoff(row.attempts));
                tracing::warn!(outbox = row.id, kind = %row.kind, attempts = row.attempts, give_up, error = %e, "outbox message not sent");
                if tx
                    .outbox_attempt_failed(row.id, token, &e.to_string(), retry_at)
                    .await?
                    && give_up
                {
                    // An alert's own message failing is a warning: a critical one would be
                    // sent the same way, and fail the same way.
                    let (kind, severity) = match row.kind {
                        OutboxKind::OrderConfirmation
                        | OutboxKind::ShippingNotice
                        | OutboxKind::RefundNotice => (AlertKind::EmailFailed, Severity::Critical),
                        OutboxKind::StripeRefund => (AlertKind::RefundFailed, Severity::Critical),
                        OutboxKind::AlertEmail | OutboxKind::AlertWebhook => {
                            (AlertKind::AlertDeliveryFailed, Severity::Warning)
                        }
                    };
                    tx.raise_alert(
                        &NewAlert {
                            kind,
                            severity,
                            message: format!(
                                "{} gave up after {} attempts: {e}",
                                row.dedup_key, row.attempts
                            ),
                            entity: Some(("outbox", &row.dedup_key)),
                            dedup_key: format!("{kind}:{}", row.dedup_key),
                        },
                        now,
                    )
                    .await?;
                }
                Ok(if give_up { Outcome::Failed } else { Outcome::Retried })
            }
        }
        })
        .await
}

/// Runs passes until the process stops: soon after an effect queued something (the inbox wakes
/// it), else every second.
///
/// Passes start at least [`COALESCE`] apart unless the last one claimed a full batch: under load
/// every effect wakes the worker, and a pass per effect (two write transactions and a read each,
/// for usually one message) took 5–6 % of the process's CPU in the benchmark (issue 23), while a
/// pass every 50 ms takes what arrived in between at once. The `caisse_outbox_pending` gauge counts
/// every waiting message, so it is refreshed at most every [`GAUGE_EVERY`].
pub async fn run(app: App) {
    let mut counted: Option<Instant> = None;
    loop {
        let started = Instant::now();
        let claimed = match run_once(&app, unix_now()).await {
            Ok(r) => {
                if r != Report::default() {
                    tracing::info!(?r, "outbox pass");
                }
                r.sent + r.retried + r.failed
            }
            Err(e) => {
                tracing::warn!(error = %e, "outbox pass failed; retrying");
                0
            }
        };
        if counted.is_none_or(|at| at.elapsed() >= GAUGE_EVERY) {
            if let Ok(pending) = app.store.outbox_pending().await {
                metrics::gauge!("caisse_outbox_pending").set(pending as f64);
                counted = Some(Instant::now());
            }
        }
        let Some(not_before) = next_pass(started, claimed) else {
            continue;
        };
        tokio::select! {
            _ = app.outbox_wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        tokio::time::sleep_until(not_before.into()).await;
    }
}

/// After a pass that started at `started` and claimed `claimed` messages: `None` to run the next
/// one at once (a full batch: more are waiting), else the earliest it may start once woken.
fn next_pass(started: Instant, claimed: usize) -> Option<Instant> {
    (claimed < BATCH as usize).then_some(started + COALESCE)
}

/// The shortest time between the starts of two passes that did not fill a batch.
const COALESCE: Duration = Duration::from_millis(50);

/// How often the worker counts the messages waiting, at most.
const GAUGE_EVERY: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_that_did_not_fill_a_batch_start_at_least_50_ms_apart_and_a_full_one_goes_on_at_once()
    {
        let started = Instant::now();
        assert_eq!(next_pass(started, BATCH as usize), None);
        for claimed in [0, 1, BATCH as usize - 1] {
            assert_eq!(
                next_pass(started, claimed),
                Some(started + Duration::from_millis(50))
            );
        }
    }
}
