//! `webhook_events`: the inbox. The claim on an event is the unique insert of its Stripe id, made
//! in the same transaction as the event's effect, so that two deliveries of one event (two
//! instances, two connections) produce one effect: on PostgreSQL the second insert waits for the
//! first transaction and then sees its row; on SQLite the file's one writer runs them one after
//! the other (`sqlite_writer.rs`).

use super::{on_conn, Store, StoreError, Tx};
use crate::domain::status::EventStatus;

/// A verified event as it is recorded.
#[derive(Clone, Debug)]
pub struct NewEvent<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub livemode: bool,
    pub api_version: Option<&'a str>,
    pub created: i64,
    pub payload: &'a str,
    /// `webhook` (the endpoint) or `replay` (`caisse events replay`).
    pub source: &'a str,
}

/// What the claim found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// First sight of this event, or an earlier attempt that failed: this transaction owns it.
    Owned,
    /// Already `processed` or `ignored`.
    Done,
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct EventRow {
    pub stripe_event_id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub status: EventStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub reason: Option<String>,
    pub source: String,
    pub received_at: i64,
    pub processed_at: Option<i64>,
}

impl Tx {
    pub async fn claim_event(&mut self, e: &NewEvent<'_>, now: i64) -> Result<Claim, StoreError> {
        let inserted = on_conn!(tx self, |c| sqlx::query(
            "INSERT INTO webhook_events (stripe_event_id, type, livemode, api_version, stripe_created, \
                                         payload, status, attempts, received_at, source) \
             VALUES ($1, $2, $3, $4, $5, $6, 'received', 1, $7, $8) \
             ON CONFLICT (stripe_event_id) DO NOTHING",
        )
        .bind(e.id)
        .bind(e.kind)
        .bind(e.livemode)
        .bind(e.api_version)
        .bind(e.created)
        .bind(e.payload)
        .bind(now)
        .bind(e.source)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        if inserted == 1 {
            return Ok(Claim::Owned);
        }
        let sql = format!(
            "SELECT status FROM webhook_events WHERE stripe_event_id = $1{}",
            self.for_update()
        );
        let status: EventStatus =
            on_conn!(tx self, |c| sqlx::query_scalar(&sql).bind(e.id).fetch_one(c).await)?;
        if status.is_final() {
            return Ok(Claim::Done);
        }
        on_conn!(tx self, |c| sqlx::query(
            "UPDATE webhook_events SET attempts = attempts + 1 WHERE stripe_event_id = $1",
        )
        .bind(e.id)
        .execute(c)
        .await
        .map(|_| ()))?;
        Ok(Claim::Owned)
    }

    /// Marks an owned event `processed` or `ignored`, in the transaction of its effect.
    pub async fn finish_event(
        &mut self,
        id: &str,
        status: EventStatus,
        reason: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        on_conn!(tx self, |c| sqlx::query(
            "UPDATE webhook_events SET status = $1, reason = $2, last_error = NULL, processed_at = $3 \
             WHERE stripe_event_id = $4",
        )
        .bind(status)
        .bind(reason)
        .bind(now)
        .bind(id)
        .execute(c)
        .await
        .map(|_| ()))?;
        Ok(())
    }
}

impl Store {
    /// Records a failed attempt in its own short transaction, after the attempt's effects were
    /// rolled back: the event shows as `failed` with its error until a redelivery succeeds.
    pub async fn record_event_failure(
        &self,
        e: &NewEvent<'_>,
        error: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        // Through the writer queue (a write of its own, on SQLite in this process's turn).
        self.write(async |tx| {
            on_conn!(tx tx, |c| sqlx::query(
                "INSERT INTO webhook_events (stripe_event_id, type, livemode, api_version, stripe_created, \
                                             payload, status, attempts, last_error, received_at, source) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'failed', 1, $7, $8, $9) \
                 ON CONFLICT (stripe_event_id) DO UPDATE SET status = 'failed', \
                     attempts = webhook_events.attempts + 1, last_error = excluded.last_error \
                 WHERE webhook_events.status IN ('received', 'failed')",
            )
            .bind(e.id)
            .bind(e.kind)
            .bind(e.livemode)
            .bind(e.api_version)
            .bind(e.created)
            .bind(e.payload)
            .bind(error)
            .bind(now)
            .bind(e.source)
            .execute(c)
            .await
            .map(|_| ()))?;
            Ok(())
        })
        .await
    }

    /// True when the event is already `processed` or `ignored`: a status that never changes
    /// again, so a read outside any transaction can answer a duplicate without taking the write
    /// lock (a redelivery storm then costs reads, not serialised write transactions).
    pub async fn event_is_done(&self, id: &str) -> Result<bool, StoreError> {
        let status: Option<EventStatus> = on_conn!(pool self, |c| sqlx::query_scalar(
            "SELECT status FROM webhook_events WHERE stripe_event_id = $1",
        )
        .bind(id)
        .fetch_optional(c)
        .await)?;
        Ok(status.is_some_and(EventStatus::is_final))
    }

    pub async fn webhook_event(&self, id: &str) -> Result<Option<EventRow>, StoreError> {
        Ok(on_conn!(pool self, |c| sqlx::query_as(
            "SELECT stripe_event_id, type, status, attempts, last_error, reason, source, received_at, \
                    processed_at FROM webhook_events WHERE stripe_event_id = $1",
        )
        .bind(id)
        .fetch_optional(c)
        .await)?)
    }
}
