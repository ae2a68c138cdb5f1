//! `outbox`: messages written in the transaction of the effect that causes them and sent after
//! commit by a worker. The unique dedup key makes a message once per cause (one confirmation email
//! per order), whichever event or instance writes it.

use super::statement::{args, tx_row};
use super::{on_conn, Store, StoreError, Tx};
use crate::domain::status::{OutboxKind, OutboxStatus};

/// The outbox worker's claim: up to `$4` messages due by `$3`, of every kind but `skip_kind`,
/// leased until `$1` under the token `$2` ([`Tx::claim_outbox`]).
pub(super) fn claim_outbox_sql(skip_kind: Option<OutboxKind>, postgres: bool) -> String {
    // The kinds as literals (the enum's own names): `outbox_due` is (status, kind,
    // next_attempt_at), so a claim reads the due messages of these kinds only, however many of a
    // skipped kind wait.
    let kinds = OutboxKind::ALL
        .iter()
        .filter(|k| Some(**k) != skip_kind)
        .map(|k| format!("'{}'", k.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let skip_locked = if postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    format!(
        "UPDATE outbox SET next_attempt_at = $1, lease_token = $2, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND kind IN ({kinds}) \
                      AND next_attempt_at <= $3 ORDER BY next_attempt_at, id LIMIT $4{skip_locked}) \
         RETURNING id, kind, dedup_key, payload, status, attempts, next_attempt_at, last_error"
    )
}

pub(super) const ENQUEUE: &str =
    "INSERT INTO outbox (kind, dedup_key, payload, status, next_attempt_at, created_at) \
     VALUES ($1, $2, $3, 'pending', $4, $4) ON CONFLICT (dedup_key) DO NOTHING";

impl Tx {
    /// Queues a message due now; false when one with this key already exists.
    pub async fn enqueue(
        &mut self,
        kind: OutboxKind,
        subject: &str,
        payload: &serde_json::Value,
        now: i64,
    ) -> Result<bool, StoreError> {
        let dedup_key = kind.key(subject);
        let payload = payload.to_string();
        let rows = self
            .run(ENQUEUE, args![kind, &dedup_key, &payload, now])
            .await?;
        Ok(rows == 1)
    }
}

tx_row! {
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub kind: OutboxKind,
    pub dedup_key: String,
    pub payload: String,
    pub status: OutboxStatus,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
}
}

impl Tx {
    /// Takes up to `limit` due messages for this worker: each gets `token` and is pushed
    /// `lease` seconds into the future, so that no other worker takes it meanwhile and a worker
    /// killed mid-send leaves it due again once the lease is over. On PostgreSQL rows another
    /// worker is claiming are skipped (`SKIP LOCKED`); SQLite serialises the claims.
    pub async fn claim_outbox(
        &mut self,
        now: i64,
        lease: i64,
        token: &str,
        skip_kind: Option<OutboxKind>,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let sql = claim_outbox_sql(skip_kind, matches!(self, Tx::Postgres(_)));
        self.rows(&sql, args![now + lease, token, now, limit]).await
    }

    /// Marks a claimed message sent; false when the lease was lost (another worker took it after
    /// this one's lease ran out).
    pub async fn outbox_sent(
        &mut self,
        id: i64,
        token: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let rows = self.run("UPDATE outbox SET status = 'sent', sent_at = $1, lease_token = NULL, last_error = NULL \
             WHERE id = $2 AND lease_token = $3 AND status = 'pending'", args![now, id, token]).await?;
        Ok(rows == 1)
    }

    /// Records a failed attempt of a claimed message: due again at `retry_at`, or `failed` for
    /// good when `None`. False when the lease was lost.
    pub async fn outbox_attempt_failed(
        &mut self,
        id: i64,
        token: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let rows = self
            .run(
                "UPDATE outbox SET last_error = $1, lease_token = NULL, \
                 status = CASE WHEN $2 THEN 'pending' ELSE 'failed' END, \
                 next_attempt_at = COALESCE($3, next_attempt_at) \
             WHERE id = $4 AND lease_token = $5 AND status = 'pending'",
                args![error, retry_at.is_some(), retry_at, id, token],
            )
            .await?;
        Ok(rows == 1)
    }
}

impl Store {
    /// Messages waiting to be sent (the `caisse_outbox_pending` gauge).
    pub async fn outbox_pending(&self) -> Result<i64, StoreError> {
        Ok(on_conn!(pool self, |c| sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE status = 'pending'",
        )
        .fetch_one(c)
        .await)?)
    }
}
