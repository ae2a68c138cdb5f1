//! Retention: what grows with every payment and may go once it is older than
//! `CAISSE_RETENTION_DAYS` — the payloads of processed and ignored webhook events (their rows keep
//! id, type, status and times, so that a redelivery or a replay is still a duplicate), the traces of
//! calls to Stripe, and outbox messages that were sent or given up. Orders, payments, holds,
//! alerts and the audit log are never pruned.
//!
//! Work goes in batches, each its own short unit of work, so that pruning a year of history never
//! holds SQLite's one writer for long; any number of instances may prune at once (each statement
//! takes what is still there).

use super::statement::args;
use super::{on_conn, Store, StoreError, Tx};
use crate::domain::status::{EventStatus, OutboxStatus};

/// Rows one unit of work prunes at most.
const BATCH: i64 = 500;

/// What a pass removed, or would remove.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Webhook events whose payload was (or would be) emptied.
    pub webhook_payloads: u64,
    pub stripe_requests: u64,
    pub outbox_messages: u64,
}

const PAYLOADS: &str = "SELECT stripe_event_id FROM webhook_events \
     WHERE status IN ($1, $2) AND received_at < $3 AND payload <> ''";
const REQUESTS: &str = "SELECT id FROM stripe_requests WHERE at < $1";
const MESSAGES: &str = "SELECT id FROM outbox WHERE status IN ($1, $2) AND created_at < $3";

impl Tx {
    async fn prune_payloads(&mut self, before: i64) -> Result<u64, StoreError> {
        let sql = format!(
            "UPDATE webhook_events SET payload = '' WHERE stripe_event_id IN ({PAYLOADS} LIMIT {BATCH})"
        );
        self.run(
            &sql,
            args![EventStatus::Processed, EventStatus::Ignored, before],
        )
        .await
    }

    async fn prune_requests(&mut self, before: i64) -> Result<u64, StoreError> {
        let sql = format!("DELETE FROM stripe_requests WHERE id IN ({REQUESTS} LIMIT {BATCH})");
        self.run(&sql, args![before]).await
    }

    async fn prune_messages(&mut self, before: i64) -> Result<u64, StoreError> {
        let sql = format!("DELETE FROM outbox WHERE id IN ({MESSAGES} LIMIT {BATCH})");
        self.run(
            &sql,
            args![OutboxStatus::Sent, OutboxStatus::Failed, before],
        )
        .await
    }
}

impl Store {
    /// What [`Store::prune`] would remove of what is older than `before` (unix seconds).
    pub async fn prunable(&self, before: i64) -> Result<Pruned, StoreError> {
        let count = |select: &str| format!("SELECT COUNT(*) FROM ({select}) AS old");
        let (payloads, requests, messages) = (count(PAYLOADS), count(REQUESTS), count(MESSAGES));
        let webhook_payloads: i64 = on_conn!(pool self, |c| sqlx::query_scalar(&payloads)
            .bind(EventStatus::Processed)
            .bind(EventStatus::Ignored)
            .bind(before)
            .fetch_one(c)
            .await)?;
        let stripe_requests: i64 = on_conn!(pool self, |c| sqlx::query_scalar(&requests)
            .bind(before)
            .fetch_one(c)
            .await)?;
        let outbox_messages: i64 = on_conn!(pool self, |c| sqlx::query_scalar(&messages)
            .bind(OutboxStatus::Sent)
            .bind(OutboxStatus::Failed)
            .bind(before)
            .fetch_one(c)
            .await)?;
        Ok(Pruned {
            webhook_payloads: webhook_payloads as u64,
            stripe_requests: stripe_requests as u64,
            outbox_messages: outbox_messages as u64,
        })
    }

    /// Removes what is older than `before` (unix seconds), a batch per unit of work.
    pub async fn prune(&self, before: i64) -> Result<Pruned, StoreError> {
        let mut total = Pruned::default();
        loop {
            let batch = self
                .write(async |tx| {
                    Ok::<_, StoreError>(Pruned {
                        webhook_payloads: tx.prune_payloads(before).await?,
                        stripe_requests: tx.prune_requests(before).await?,
                        outbox_messages: tx.prune_messages(before).await?,
                    })
                })
                .await?;
            total.webhook_payloads += batch.webhook_payloads;
            total.stripe_requests += batch.stripe_requests;
            total.outbox_messages += batch.outbox_messages;
            let full = BATCH as u64;
            if batch.webhook_payloads < full
                && batch.stripe_requests < full
                && batch.outbox_messages < full
            {
                return Ok(total);
            }
        }
    }
}
