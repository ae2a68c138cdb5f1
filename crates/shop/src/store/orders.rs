//! Orders as the checkout status page needs them; creating them is fulfilment's job.

use super::{on_conn, Store, StoreError};

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct OrderSummary {
    pub id: String,
    pub number: i64,
    pub status: String,
}

impl Store {
    pub async fn order_for_hold(&self, hold_id: &str) -> Result<Option<OrderSummary>, StoreError> {
        Ok(on_conn!(pool self, |c| sqlx::query_as(
            "SELECT id, number, status FROM orders WHERE hold_id = $1",
        )
        .bind(hold_id)
        .fetch_optional(c)
        .await)?)
    }
}
