//! The inbox (DESIGN.md 1.3): turns Stripe's at-least-once deliveries into exactly-once effects.
//!
//! [`receive`] is the one entry for every verified event, whether it came to the endpoint or from
//! `caisse events replay`. In one transaction it claims the event (the unique insert of its id),
//! applies its effect ([`dispatch`]) and marks it `processed` or `ignored`; the answer leaves only
//! after that commit, which is durable (SQLite `synchronous=FULL`, PostgreSQL `synchronous_commit`
//! on). A failure rolls everything back and is recorded in a separate short transaction, so that
//! the event shows as `failed` with its error while Stripe retries.

pub mod alarm;
mod dispatch;

use caisse_stripe::Event;

use crate::app::App;
use crate::store::{unix_now, Claim, NewAlert, NewEvent, Severity, StoreError};

pub use dispatch::{typed_object, Outcome};

/// Where a verified event came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `POST /api/webhooks/stripe`, signature verified.
    Webhook,
    /// Read from Stripe's Events API over the authenticated client.
    Replay,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Webhook => "webhook",
            Source::Replay => "replay",
        }
    }
}

/// What became of one delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// First delivery: its effect is committed.
    Applied(Outcome),
    /// Already `processed` or `ignored`: nothing done.
    Duplicate,
}

/// Claims, applies and records `event` in one transaction. An `Err` means nothing was applied and
/// the delivery should be retried (answer 5xx).
pub async fn receive(
    app: &App,
    event: &Event,
    payload: &str,
    source: Source,
) -> Result<Received, StoreError> {
    let record = NewEvent {
        id: &event.id,
        kind: &event.kind,
        livemode: event.livemode,
        api_version: event.api_version.as_deref(),
        created: event.created,
        payload,
        source: source.as_str(),
    };
    let now = unix_now();
    match apply(app, event, &record, now).await {
        Ok((received, outbox_queued)) => {
            let outcome = match &received {
                Received::Applied(Outcome::Processed(_)) => "processed",
                Received::Applied(Outcome::Ignored(_)) => "ignored",
                Received::Duplicate => "duplicate",
            };
            count(&event.kind, outcome);
            if outbox_queued {
                app.outbox_wake.notify_one();
            }
            Ok(received)
        }
        Err(e) => {
            count(&event.kind, "failed");
            tracing::warn!(event = %event.id, kind = %event.kind, error = %e, "webhook event failed; Stripe will retry");
            if let Err(again) = app
                .store
                .record_event_failure(&record, &e.to_string(), now)
                .await
            {
                tracing::warn!(event = %event.id, error = %again, "could not record the failed attempt");
            }
            if !e.is_transient() {
                // Not a passing outage: it will fail again at every redelivery until someone
                // looks.
                let alert = NewAlert {
                    kind: "webhook_failed",
                    severity: Severity::Critical,
                    message: format!("Event {} ({}) fails: {e}", event.id, event.kind),
                    entity: Some(("webhook_event", &event.id)),
                    dedup_key: format!("webhook_failed:{}", event.id),
                };
                if let Err(again) = app.store.raise_alert(&alert, now).await {
                    tracing::warn!(event = %event.id, error = %again, "could not raise the alert");
                }
            }
            Err(e)
        }
    }
}

async fn apply(
    app: &App,
    event: &Event,
    record: &NewEvent<'_>,
    now: i64,
) -> Result<(Received, bool), StoreError> {
    if app.store.event_is_done(&event.id).await? {
        return Ok((Received::Duplicate, false));
    }
    let mut tx = app.store.begin().await?;
    // The claim decides: two first deliveries can both pass the read above.
    if tx.claim_event(record, now).await? == Claim::Done {
        tx.commit().await?;
        return Ok((Received::Duplicate, false));
    }
    let dispatch::Effect {
        outcome,
        outbox_queued,
    } = dispatch::apply(app, &mut tx, event, now).await?;
    let (status, reason) = match &outcome {
        Outcome::Processed(what) => ("processed", what.as_str()),
        Outcome::Ignored(why) => ("ignored", why.as_str()),
    };
    tx.finish_event(&event.id, status, Some(reason), now)
        .await?;
    tx.commit().await?;
    Ok((Received::Applied(outcome), outbox_queued))
}

/// Types caisse does not act on are counted as `other`, so that the metric's labels stay bounded
/// whatever is sent.
fn count(kind: &str, outcome: &'static str) {
    let kind = dispatch::HANDLED
        .iter()
        .find(|k| **k == kind)
        .copied()
        .unwrap_or("other");
    metrics::counter!("caisse_webhook_events_total", "type" => kind, "outcome" => outcome)
        .increment(1);
}
