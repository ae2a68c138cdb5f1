//! `webhook_events`: the inbox. The claim on an event is the unique insert of its Stripe id, made
//! in the same transaction as the event's effect, so that two deliveries of one event (two
//! instances, two connections) produce one effect: on PostgreSQL the insert comes first, and the
//! second one waits for the first transaction and then sees its row; on SQLite the file's one
//! writer runs them one after the other (`sqlite_writer.rs`), and the insert is the event's final
//! status at the end of its transaction (one statement per effect fewer).

use super::statement::args;
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

/// SQLite's claim and finish of an event in one statement ([`Tx::finish_event`]).
pub(super) const FINISH_ON_SQLITE: &str =
    "INSERT INTO webhook_events (stripe_event_id, type, livemode, api_version, stripe_created, \
                                 payload, status, reason, attempts, received_at, processed_at, source) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9, $10) \
     ON CONFLICT (stripe_event_id) DO UPDATE SET status = excluded.status, \
         reason = excluded.reason, last_error = NULL, processed_at = excluded.processed_at, \
         attempts = webhook_events.attempts + 1 \
     WHERE webhook_events.status IN ('received', 'failed')";

impl Tx {
    /// Claims the event for this transaction. On SQLite the claim is the insert of
    /// [`Tx::finish_event`], at the end of the same transaction, and this only reads whether the
    /// event is finished (in process: the inbox asks nothing of the pool first). The file's one
    /// writer runs transactions one after the other, so what this reads stays true until the
    /// insert. On PostgreSQL transactions run at once, and the unique insert first is what makes
    /// a second delivery wait for the first.
    pub async fn claim_event(&mut self, e: &NewEvent<'_>, now: i64) -> Result<Claim, StoreError> {
        if matches!(self, Tx::Sqlite(_)) {
            let status: Option<EventStatus> = self
                .opt_value(
                    "SELECT status FROM webhook_events WHERE stripe_event_id = $1",
                    args![e.id],
                )
                .await?;
            return Ok(match status {
                Some(status) if status.is_final() => Claim::Done,
                _ => Claim::Owned,
            });
        }
        let inserted = self.run("INSERT INTO webhook_events (stripe_event_id, type, livemode, api_version, stripe_created, \
                                         payload, status, attempts, received_at, source) \
             VALUES ($1, $2, $3, $4, $5, $6, 'received', 1, $7, $8) \
             ON CONFLICT (stripe_event_id) DO NOTHING", args![e.id, e.kind, e.livemode, e.api_version, e.created, e.payload, now, e.source]).await?;
        if inserted == 1 {
            return Ok(Claim::Owned);
        }
        let sql = format!(
            "SELECT status FROM webhook_events WHERE stripe_event_id = $1{}",
            self.for_update()
        );
        let status: EventStatus = self.value(&sql, args![e.id]).await?;
        if status.is_final() {
            return Ok(Claim::Done);
        }
        self.run(
            "UPDATE webhook_events SET attempts = attempts + 1 WHERE stripe_event_id = $1",
            args![e.id],
        )
        .await?;
        Ok(Claim::Owned)
    }

    /// Marks an owned event `processed` or `ignored`, in the transaction of its effect. False
    /// when another delivery finished it first (only on SQLite, whose claim is this statement):
    /// the caller rolls its effect back and answers a duplicate.
    pub async fn finish_event(
        &mut self,
        e: &NewEvent<'_>,
        status: EventStatus,
        reason: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let rows = if matches!(self, Tx::Sqlite(_)) {
            self.run(
                FINISH_ON_SQLITE,
                args![
                    e.id,
                    e.kind,
                    e.livemode,
                    e.api_version,
                    e.created,
                    e.payload,
                    status,
                    reason,
                    now,
                    e.source
                ],
            )
            .await?
        } else {
            self.run(
                "UPDATE webhook_events SET status = $1, reason = $2, last_error = NULL, processed_at = $3 \
                 WHERE stripe_event_id = $4",
                args![status, reason, now, e.id],
            )
            .await?
        };
        Ok(rows == 1)
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
            tx.run("INSERT INTO webhook_events (stripe_event_id, type, livemode, api_version, stripe_created, \
                                             payload, status, attempts, last_error, received_at, source) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'failed', 1, $7, $8, $9) \
                 ON CONFLICT (stripe_event_id) DO UPDATE SET status = 'failed', \
                     attempts = webhook_events.attempts + 1, last_error = excluded.last_error \
                 WHERE webhook_events.status IN ('received', 'failed')", args![e.id, e.kind, e.livemode, e.api_version, e.created, e.payload, error, now, e.source]).await?;
            Ok(())
        })
        .await
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
