//! `outbox`: messages written in the transaction of the effect that causes them and sent after
//! commit by a worker. The unique dedup key makes a message once per cause (one confirmation email
//! per order), whichever event or instance writes it.

use super::{on_conn, Store, StoreError, Tx};

impl Tx {
    /// Queues a message due now; false when one with this key already exists.
    pub async fn enqueue(
        &mut self,
        kind: &str,
        dedup_key: &str,
        payload: &serde_json::Value,
        now: i64,
    ) -> Result<bool, StoreError> {
        let payload = payload.to_string();
        let rows = on_conn!(tx self, |c| sqlx::query(
            "INSERT INTO outbox (kind, dedup_key, payload, status, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, 'pending', $4, $4) ON CONFLICT (dedup_key) DO NOTHING",
        )
        .bind(kind)
        .bind(dedup_key)
        .bind(&payload)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub kind: String,
    pub dedup_key: String,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
}

const ROW: &str =
    "SELECT id, kind, dedup_key, payload, status, attempts, next_attempt_at, last_error FROM outbox";

impl Tx {
    /// Marks a pending message sent; false when another worker already did.
    pub async fn outbox_sent(&mut self, id: i64, now: i64) -> Result<bool, StoreError> {
        let rows = on_conn!(tx self, |c| sqlx::query(
            "UPDATE outbox SET status = 'sent', sent_at = $1, attempts = attempts + 1, last_error = NULL \
             WHERE id = $2 AND status = 'pending'",
        )
        .bind(now)
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }

    /// Records a failed attempt: due again at `retry_at`, or `failed` for good when `None`. False
    /// when the message was no longer pending.
    pub async fn outbox_attempt_failed(
        &mut self,
        id: i64,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let rows = on_conn!(tx self, |c| sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $1, \
                 status = CASE WHEN $2 THEN 'pending' ELSE 'failed' END, \
                 next_attempt_at = COALESCE($3, next_attempt_at) \
             WHERE id = $4 AND status = 'pending'",
        )
        .bind(error)
        .bind(retry_at.is_some())
        .bind(retry_at)
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }
}

impl Store {
    /// Pending messages of `kind` that are due, oldest first.
    pub async fn outbox_due(
        &self,
        kind: &str,
        now: i64,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let sql = format!(
            "{ROW} WHERE status = 'pending' AND kind = $1 AND next_attempt_at <= $2 \
             ORDER BY next_attempt_at, id LIMIT $3"
        );
        Ok(
            on_conn!(pool self, |c| sqlx::query_as(&sql).bind(kind).bind(now).bind(limit).fetch_all(c).await)?,
        )
    }

    pub async fn outbox_by_key(&self, dedup_key: &str) -> Result<Option<OutboxRow>, StoreError> {
        let sql = format!("{ROW} WHERE dedup_key = $1");
        Ok(on_conn!(pool self, |c| sqlx::query_as(&sql).bind(dedup_key).fetch_optional(c).await)?)
    }
}
