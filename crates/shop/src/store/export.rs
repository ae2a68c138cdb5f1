//! The orders export's one query: every order in a date range (and status, fulfilment), by
//! number, with its items folded into one text (`mug×2; tee×1`) and its payment, read as a
//! stream of rows so that 100,000 orders never sit in memory at once.

use futures_util::stream::{BoxStream, StreamExt};

use super::{on_conn, Store, StoreError};
use crate::domain::status::{DisputeStatus, FulfilmentStatus, OrderStatus};

/// Which orders: created in `[from, to)` (unix seconds), of this status and fulfilment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportFilter {
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub status: Option<OrderStatus>,
    pub fulfilment: Option<FulfilmentStatus>,
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ExportRow {
    pub number: i64,
    pub created_at: i64,
    pub status: OrderStatus,
    pub fulfilment: FulfilmentStatus,
    pub email: Option<String>,
    pub customer_name: Option<String>,
    pub phone: Option<String>,
    pub shipping_line1: Option<String>,
    pub shipping_line2: Option<String>,
    pub shipping_postal_code: Option<String>,
    pub shipping_city: Option<String>,
    pub shipping_country: Option<String>,
    pub items: Option<String>,
    pub amount_subtotal: Option<i64>,
    pub amount_shipping: i64,
    pub amount_total: i64,
    pub refunded: i64,
    pub currency: String,
    pub payment_intent_id: Option<String>,
    pub dispute: Option<DisputeStatus>,
}

// `string_agg(… ORDER BY …)` is PostgreSQL's and SQLite's (3.44+) alike.
const EXPORT: &str = "SELECT o.number, o.created_at, o.status, o.fulfilment, o.email, \
     o.customer_name, o.phone, o.shipping_line1, o.shipping_line2, o.shipping_postal_code, \
     o.shipping_city, o.shipping_country, \
     (SELECT string_agg(i.product_id || '×' || CAST(i.quantity AS TEXT), '; ' ORDER BY i.product_id) \
        FROM order_items i WHERE i.order_id = o.id) AS items, \
     o.amount_subtotal, o.amount_shipping, o.amount_total, \
     COALESCE(p.amount_refunded, 0) AS refunded, o.currency, p.payment_intent_id, o.dispute \
     FROM orders o LEFT JOIN payments p ON p.order_id = o.id \
     WHERE ($1 IS NULL OR o.created_at >= $1) AND ($2 IS NULL OR o.created_at < $2) \
       AND ($3 IS NULL OR o.status = $3) AND ($4 IS NULL OR o.fulfilment = $4) \
     ORDER BY o.number";

impl Store {
    /// The orders `filter` selects, one row at a time.
    pub fn export_orders(
        &self,
        filter: &ExportFilter,
    ) -> BoxStream<'_, Result<ExportRow, StoreError>> {
        let status = filter.status.map(|s| s.as_str());
        let fulfilment = filter.fulfilment.map(|s| s.as_str());
        on_conn!(pool self, |c| sqlx::query_as(EXPORT)
            .bind(filter.from)
            .bind(filter.to)
            .bind(status)
            .bind(fulfilment)
            .fetch(c)
            .map(|r| r.map_err(StoreError::from))
            .boxed())
    }
}
