//! `stripe_requests`: every exchange caisse has with Stripe, written by the client's hook.

use super::statement::args;
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

/// The hold or order a call was for: caisse's idempotency keys are `caisse-{id}-{why}`, and ids
/// (`hold_…`, `ord_…`) have no `-`.
pub fn subject(idempotency_key: &str) -> Option<&str> {
    let rest = idempotency_key.strip_prefix("caisse-")?;
    let (id, _) = rest.split_once('-')?;
    (id.starts_with("hold_") || id.starts_with("ord_")).then_some(id)
}

impl Store {
    /// Writes a batch of exchanges, each with when it happened, in one unit of work.
    pub async fn record_stripe_requests(
        &self,
        batch: &[(caisse_stripe::RequestRecord, i64)],
    ) -> Result<(), StoreError> {
        self.write(async |tx| {
            for (r, at) in batch {
                tx.run("INSERT INTO stripe_requests (method, path, idempotency_key, status, request_id, duration_ms, error, at, subject) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", args![&r.method, &r.path, &r.idempotency_key, r.status.map(i64::from), &r.request_id, r.duration_ms as i64, &r.error, at, r.idempotency_key.as_deref().and_then(subject)]).await?;
            }
            Ok(())
        })
        .await
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

#[cfg(test)]
mod tests {
    use super::subject;

    #[test]
    fn the_subject_is_the_id_inside_caisse_keys_only() {
        assert_eq!(subject("caisse-hold_0193ab-create"), Some("hold_0193ab"));
        assert_eq!(
            subject("caisse-ord_0193ab-refund-admin-x1"),
            Some("ord_0193ab")
        );
        assert_eq!(subject("caisse-evil-create"), None);
        assert_eq!(subject("hold_1-create"), None);
        assert_eq!(subject("caisse-hold_1"), None);
    }
}
