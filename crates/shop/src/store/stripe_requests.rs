//! `stripe_requests`: every exchange caisse has with Stripe, written by the client's hook.

use super::{on_conn, Store, StoreError};

#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct StripeRequestRow {
    pub id: i64,
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub status: Option<i64>,
    pub request_id: Option<String>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub at: i64,
}

impl Store {
    pub async fn record_stripe_request(
        &self,
        r: &caisse_stripe::RequestRecord,
        at: i64,
    ) -> Result<(), StoreError> {
        on_conn!(pool self, |c| sqlx::query(
            "INSERT INTO stripe_requests (method, path, idempotency_key, status, request_id, duration_ms, error, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&r.method)
        .bind(&r.path)
        .bind(&r.idempotency_key)
        .bind(r.status.map(i64::from))
        .bind(&r.request_id)
        .bind(r.duration_ms as i64)
        .bind(&r.error)
        .bind(at)
        .execute(c)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    pub async fn stripe_requests(&self, limit: i64) -> Result<Vec<StripeRequestRow>, StoreError> {
        Ok(on_conn!(pool self, |c| sqlx::query_as(
            "SELECT id, method, path, idempotency_key, status, request_id, duration_ms, error, at \
             FROM stripe_requests ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(c)
        .await)?)
    }
}
