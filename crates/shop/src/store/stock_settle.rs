//! Sold units not yet settled into their products' figures (issue 23's stock ledger).
//!
//! Paying for a hold does not update its products: the conversion marks the hold
//! `stock_unsettled`, and its units stay counted in both `stock_on_hand` and `stock_reserved`.
//! What can be sold, their difference, is the same before and after a sale from a reservation, so
//! checkout's conditional reserve stays right without them. The product rows are the hottest of a
//! sale: on PostgreSQL every paying transaction would hold its products' locks to its commit, one
//! after the other, and one hot product would bound the shop's payments by its disk's flush rate.
//!
//! [`Tx::settle_sales`] moves the units of many sold holds out of the products' figures in one
//! update per product (the settle worker runs it, [`crate::stock_settle`]); until then every read
//! of `stock_on_hand` and `stock_reserved` subtracts them ([`unsettled_units!`]), so nothing shows
//! the difference. Locks are taken holds first, then products in id order, as every other
//! transaction that touches both does; a writer that sets a product's figures outright locks the
//! product before it reads them (on PostgreSQL a statement that waited for a row lock still reads
//! the other tables as they were when it started).

use super::statement::args;
use super::{Store, StoreError, Tx};

/// The units of a product (the SQL expression naming its id) in sold holds not yet settled.
/// Written so that both planners start from the unsettled holds (the partial index, a second's
/// sales at most) and look each one's line up by its key: as a join, SQLite, and PostgreSQL
/// before its statistics, scanned every hold item ever made (164 ms a read over 200,000).
macro_rules! unsettled_units {
    ($product_id:literal) => {
        concat!(
            "CAST(COALESCE((SELECT SUM((SELECT u.quantity FROM hold_items u \
             WHERE u.hold_id = h.id AND u.product_id = ",
            $product_id,
            ")) FROM holds h WHERE h.stock_unsettled), 0) AS BIGINT)"
        )
    };
}
pub(crate) use unsettled_units;

/// A product's `stock_on_hand` and `stock_reserved` as reads show them (the SQL expression naming
/// its id), under their own names: the one spelling of the figures for every read.
macro_rules! stock_now {
    ($product_id:literal) => {
        concat!(
            "stock_on_hand - ",
            $crate::store::stock_settle::unsettled_units!($product_id),
            " AS stock_on_hand, stock_reserved - ",
            $crate::store::stock_settle::unsettled_units!($product_id),
            " AS stock_reserved"
        )
    };
}
pub(crate) use stock_now;

/// Every product's `id`, `stock_on_hand` and `stock_reserved` as reads show them. For checks from
/// outside the shop's code (the chaos proof).
pub const STOCK_NOW: &str = concat!("SELECT id, ", stock_now!("products.id"), " FROM products");

/// How many sold holds one settle transaction takes at most.
const SETTLE_BATCH: i64 = 500;

impl Tx {
    /// Settles up to `limit` sold holds: clears their mark and takes their units out of their
    /// products' `stock_on_hand` and `stock_reserved`. How many holds it settled. On PostgreSQL
    /// a hold another transaction has locked (an event about it, right now) waits for the next
    /// run.
    pub async fn settle_sales(&mut self, limit: i64, now: i64) -> Result<usize, StoreError> {
        let skip_locked = match self {
            Tx::Postgres(_) => " FOR UPDATE SKIP LOCKED",
            Tx::Sqlite(_) => "",
        };
        let sql = format!(
            "UPDATE holds SET stock_unsettled = FALSE WHERE stock_unsettled AND id IN \
             (SELECT id FROM holds WHERE stock_unsettled ORDER BY id LIMIT $1{skip_locked}) \
             RETURNING id"
        );
        let settled: Vec<String> = self.values(&sql, args![limit]).await?;
        if settled.is_empty() {
            return Ok(0);
        }
        // The ids as one JSON array: one statement text whatever their number.
        let ids = serde_json::to_string(&settled).expect("strings serialize");
        // As an array on PostgreSQL: `IN (SELECT …)` hashed them and scanned every hold item.
        let of_ids = match self {
            Tx::Postgres(_) => "= ANY(ARRAY(SELECT jsonb_array_elements_text(CAST($1 AS jsonb))))",
            Tx::Sqlite(_) => "IN (SELECT value FROM json_each($1))",
        };
        let units: Vec<(String, i64)> = self
            .rows(
                &format!(
                    "SELECT product_id, CAST(SUM(quantity) AS BIGINT) FROM hold_items \
                     WHERE hold_id {of_ids} GROUP BY product_id ORDER BY product_id"
                ),
                args![ids.as_str()],
            )
            .await?;
        for (product_id, units) in &units {
            self.run(
                "UPDATE products SET stock_on_hand = stock_on_hand - $1, \
                 stock_reserved = stock_reserved - $1, updated_at = $2 WHERE id = $3",
                args![units, now, product_id],
            )
            .await?;
        }
        Ok(settled.len())
    }
}

impl Store {
    /// Settles every sold hold, a batch per transaction; how many.
    pub async fn settle_all_sales(&self, now: i64) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let settled = self
                .write(async |tx| tx.settle_sales(SETTLE_BATCH, now).await)
                .await?;
            total += settled;
            if settled < SETTLE_BATCH as usize {
                return Ok(total);
            }
        }
    }
}
