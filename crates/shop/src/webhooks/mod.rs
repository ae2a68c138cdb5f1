//! The inbox (DESIGN.md 1.3): turns Stripe's at-least-once deliveries into exactly-once effects.
//!
//! [`receive`] is the one entry for every verified event, whether it came to the endpoint or from
//! `caisse events replay`. In one transaction it claims the event (the unique insert of its id),
//! applies its effect ([`dispatch`]) and marks it `processed` or `ignored`; the answer leaves only
//! after that commit, which is durable (SQLite `synchronous=FULL`, PostgreSQL `synchronous_commit`
//! on). A failure rolls everything back and is recorded in a separate short transaction, so that
//! the event shows as `failed` with its error while Stripe retries.

mod dispatch;
mod disputes;
mod event_hold;

use crate::domain::status::AlertKind;
use caisse_stripe::{Event, EventObject};

use crate::app::App;
use crate::config::KeyMode;
use crate::domain::status::EventStatus;
use crate::store::{unix_now, Claim, NewAlert, NewEvent, Outage, Severity, StoreError};

pub use dispatch::{typed_object, Outcome, HANDLED};

/// Why a delivery was not applied. Nothing of it is committed; Stripe delivers it again.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    /// The database failed: transient (answer 503) or not (500 and an alert).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The event cannot apply yet (a refund that overtook its payment's events): a redelivery
    /// will find what it needs.
    #[error("{0}")]
    NotYet(String),
    /// The event's object is not one Stripe sends: every redelivery fails the same way.
    #[error("{0}")]
    Malformed(String),
}

impl InboxError {
    /// Worth a retry without anyone's help.
    pub fn is_transient(&self) -> bool {
        match self {
            InboxError::Store(e) => e.is_transient(),
            InboxError::NotYet(_) => true,
            InboxError::Malformed(_) => false,
        }
    }
}

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
/// the delivery should be retried (answer 5xx). `object` is the event's object as
/// [`typed_object`] reads it, typed by the caller before the transaction: on SQLite the writer's
/// turn is the one section that runs one at a time, and the endpoint has typed it already to
/// refuse what it cannot read.
pub async fn receive(
    app: &App,
    event: &Event,
    object: Result<EventObject, String>,
    payload: &str,
    source: Source,
) -> Result<Received, InboxError> {
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
    match apply(app, event, object, &record, now).await {
        Ok((received, outbox_queued)) => {
            // Committed, or found finished: either way it never changes again.
            app.finished_events.insert(&event.id);
            let outcome = match &received {
                Received::Applied(Outcome::Processed(_)) => EventStatus::Processed.as_str(),
                Received::Applied(Outcome::Ignored(_)) => EventStatus::Ignored.as_str(),
                Received::Duplicate => "duplicate",
            };
            count(&event.kind, outcome);
            if outbox_queued {
                app.outbox_wake.notify_one();
            }
            if let Some(outage) = app.db_outage.recovered() {
                outage_alert(app, outage, unix_now()).await;
            }
            Ok(received)
        }
        Err(e) => {
            count(&event.kind, "failed");
            tracing::warn!(event = %event.id, kind = %event.kind, error = %e, "webhook event failed; Stripe will retry");
            // Bounded: with the database down, Stripe's retry is the record that matters, and
            // the 503 must not wait a second time for a connection that will not come.
            let recorded = tokio::time::timeout(
                RECORD_FAILURE_WITHIN,
                app.store.record_event_failure(&record, &e.to_string(), now),
            )
            .await;
            match recorded {
                Ok(Ok(())) => {}
                Ok(Err(again)) => {
                    tracing::warn!(event = %event.id, error = %again, "could not record the failed attempt")
                }
                Err(_) => {
                    tracing::warn!(event = %event.id, "could not record the failed attempt in time")
                }
            }
            if matches!(&e, InboxError::Store(s) if s.is_transient()) {
                // One alert per outage, raised once the database answers again; timed when
                // the failure is seen, not when its request arrived.
                app.db_outage.failed(unix_now());
            } else if !e.is_transient() {
                // Not a passing outage: it will fail again at every redelivery until someone
                // looks.
                let alert = NewAlert {
                    kind: AlertKind::WebhookFailed,
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

/// True when `id` is an event this instance saw finished: a duplicate, answered before any
/// query (counted like the inbox's duplicates; `kind` as the body names it).
pub fn known_duplicate(app: &App, id: &str, kind: &str) -> bool {
    let known = app.finished_events.contains(id);
    if known {
        count(kind, "duplicate");
    }
    known
}

async fn apply(
    app: &App,
    event: &Event,
    object: Result<EventObject, String>,
    record: &NewEvent<'_>,
    now: i64,
) -> Result<(Received, bool), InboxError> {
    // No read first: a redelivery is usually answered from `finished_events` before this, and a
    // read through the pool costs every first delivery more (on PostgreSQL two round trips, the
    // read and the pool's test of the connection it gives back) than it spares the rare
    // duplicate that misses the set (a transaction of four).
    let policy = dispatch::Policy {
        live: app.config.stripe.mode == KeyMode::Live,
        webhooks: &app.config.webhooks,
        orders: crate::orders::Policy::of(app),
        time_zone: &app.config.time_zone,
    };
    let attempt = app
        .store
        .write(async |tx| {
            // The claim decides between two first deliveries.
            if tx.claim_event(record, now).await? == Claim::Done {
                return Ok((Received::Duplicate, false));
            }
            let dispatch::Effect {
                outcome,
                outbox_queued,
            } = dispatch::apply(&policy, tx, event, object, now).await?;
            let (status, reason) = match &outcome {
                Outcome::Processed(what) => (EventStatus::Processed, what.as_str()),
                Outcome::Ignored(why) => (EventStatus::Ignored, why.as_str()),
            };
            if !tx.finish_event(record, status, Some(reason), now).await? {
                return Err(Attempt::Overtaken);
            }
            Ok((Received::Applied(outcome), outbox_queued))
        })
        .await;
    match attempt {
        Ok(done) => Ok(done),
        // Rolled back, once what it read is durable: the other delivery's effect stands.
        Err(Attempt::Overtaken) => Ok((Received::Duplicate, false)),
        Err(Attempt::Failed(e)) => Err(e),
    }
}

/// How a transaction of the inbox ended without its effect.
enum Attempt {
    Failed(InboxError),
    /// Another delivery of the event finished it first (see [`crate::store::Tx::claim_event`]).
    Overtaken,
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Attempt::Failed(e) => e.fmt(f),
            Attempt::Overtaken => f.write_str("another delivery finished the event first"),
        }
    }
}

impl From<InboxError> for Attempt {
    fn from(e: InboxError) -> Attempt {
        Attempt::Failed(e)
    }
}

impl From<StoreError> for Attempt {
    fn from(e: StoreError) -> Attempt {
        Attempt::Failed(e.into())
    }
}

/// How long a failed delivery waits to be recorded as `failed` before its 503 leaves anyway.
const RECORD_FAILURE_WITHIN: std::time::Duration = std::time::Duration::from_secs(1);

/// The alert of a database outage this instance saw, once the database answers again: one per
/// outage, however many instances saw it ([`crate::store::Store::raise_outage_alert`]).
async fn outage_alert(app: &App, outage: Outage, now: i64) {
    let alert = NewAlert {
        kind: AlertKind::DatabaseUnavailable,
        severity: Severity::Critical,
        message: format!(
            "The database was unavailable for about {} s: this instance answered {} webhook deliveries 503 (Stripe retries them; other instances may have refused more)",
            (now - outage.since).max(1),
            outage.failures
        ),
        entity: None,
        dedup_key: format!("database_unavailable:{}", outage.since),
    };
    if let Err(e) = app
        .store
        .raise_outage_alert(&alert, outage.since, now)
        .await
    {
        tracing::warn!(error = %e, "could not raise the database outage alert");
    }
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
