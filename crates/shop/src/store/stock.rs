//! Stock as the owners manage it: each product's figures for the products page, the changes an
//! owner makes (a signed adjustment never below what open checkouts hold, a price, on or off, a
//! low-stock threshold), and the low-stock watch that every stock movement runs, which raises one
//! `low_stock` alert per crossing of the threshold.

use crate::domain::product::MAX_STOCK_ON_HAND;
use crate::domain::status::AlertKind;

use super::statement::args;
use super::stock_settle::stock_now;
use super::{on_conn, NewAlert, Severity, Store, StoreError, Tx};

/// One product's line on the products page.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ProductStock {
    pub id: String,
    pub name: String,
    pub unit_amount: i64,
    pub currency: String,
    pub active: bool,
    pub stock_on_hand: i64,
    /// Held by open checkouts.
    pub stock_reserved: i64,
    pub sold_30_days: i64,
    pub low_stock_threshold: Option<i64>,
    pub stripe_price_id: Option<String>,
}

impl ProductStock {
    pub fn available(&self) -> i64 {
        self.stock_on_hand - self.stock_reserved
    }
}

/// Why an adjustment was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StockRefusal {
    /// It would leave less than open checkouts hold.
    BelowHeld(BelowHeld),
    /// It would leave more than [`MAX_STOCK_ON_HAND`].
    AboveMax,
}

/// An adjustment below what open checkouts hold, in figures the page turns into words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BelowHeld {
    pub name: String,
    pub on_hand: i64,
    pub held: i64,
}

impl Store {
    /// Every product with its stock figures, by name; "sold" counts order lines since `since`.
    pub async fn product_stock(&self, since: i64) -> Result<Vec<ProductStock>, StoreError> {
        Ok(on_conn!(pool self, |c| sqlx::query_as(
            concat!("SELECT p.id, p.name, p.unit_amount, p.currency, p.active, ",
                    stock_now!("p.id"), ", p.low_stock_threshold, p.stripe_price_id, \
                    CAST(COALESCE((SELECT SUM(i.quantity) FROM order_items i \
                                   JOIN orders o ON o.id = i.order_id \
                                   WHERE i.product_id = p.id AND o.created_at >= $1), 0) AS BIGINT) \
                      AS sold_30_days \
             FROM products p ORDER BY p.name, p.id"),
        )
        .bind(since)
        .fetch_all(c)
        .await)?)
    }
}

impl Store {
    /// For each product that open checkouts hold: when the first of those holds expires (its
    /// units are back then at the latest, unless it is paid).
    pub async fn held_until(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(on_conn!(pool self, |c| sqlx::query_as(
            "SELECT i.product_id, MIN(h.expires_at) FROM hold_items i JOIN holds h ON h.id = i.hold_id \
             WHERE h.status IN ('active', 'awaiting_payment') GROUP BY i.product_id",
        )
        .fetch_all(c)
        .await)?)
    }
}

impl Tx {
    /// Adds `delta` (negative: takes away) to a product's stock on hand, unless that would leave
    /// less than open checkouts hold. `Ok(None)`: no such product.
    pub async fn adjust_stock(
        &mut self,
        product_id: &str,
        delta: i64,
        now: i64,
    ) -> Result<Option<Result<i64, StockRefusal>>, StoreError> {
        let Some(p) = self.product_for_update(product_id).await? else {
            return Ok(None);
        };
        let on_hand = match p.stock_on_hand.checked_add(delta) {
            Some(n) if n <= MAX_STOCK_ON_HAND => n,
            _ => return Ok(Some(Err(StockRefusal::AboveMax))),
        };
        if on_hand < p.stock_reserved {
            return Ok(Some(Err(StockRefusal::BelowHeld(BelowHeld {
                name: p.name,
                on_hand: p.stock_on_hand,
                held: p.stock_reserved,
            }))));
        }
        // By the difference: the column still counts the sold units not yet settled.
        self.run(
            "UPDATE products SET stock_on_hand = stock_on_hand + $2, updated_at = $3 WHERE id = $1",
            args![product_id, on_hand - p.stock_on_hand, now],
        )
        .await?;
        self.watch_low_stock(product_id, now).await?;
        Ok(Some(Ok(on_hand)))
    }

    /// Sets a product's price, active flag and low-stock threshold (the fields an owner edits on
    /// the products page).
    pub async fn edit_product(
        &mut self,
        product_id: &str,
        unit_amount: i64,
        active: bool,
        low_stock_threshold: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError> {
        self.run(
            "UPDATE products SET unit_amount = $2, active = $3, low_stock_threshold = $4, \
             updated_at = $5 WHERE id = $1",
            args![product_id, unit_amount, active, low_stock_threshold, now],
        )
        .await?;
        self.watch_low_stock(product_id, now).await?;
        Ok(())
    }

    /// Runs after every change to a product's stock or threshold, in the same transaction: when
    /// available stock has just fallen to the threshold or below, raises one `low_stock` alert and
    /// remembers it; when it has risen above, forgets it, so that the next fall raises another.
    /// True when an alert was raised.
    pub async fn watch_low_stock(
        &mut self,
        product_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let crossed: Option<(bool, String, i64, Option<i64>)> = self
            .row(
                "UPDATE products SET low_stock_alerted = (low_stock_threshold IS NOT NULL \
                 AND stock_on_hand - stock_reserved <= low_stock_threshold) \
             WHERE id = $1 AND low_stock_alerted <> (low_stock_threshold IS NOT NULL \
                 AND stock_on_hand - stock_reserved <= low_stock_threshold) \
             RETURNING low_stock_alerted, name, CAST(stock_on_hand - stock_reserved AS BIGINT), \
                 low_stock_threshold",
                args![product_id],
            )
            .await?;
        let Some((true, name, available, Some(threshold))) = crossed else {
            return Ok(false);
        };
        self.raise_alert(
            &NewAlert {
                kind: AlertKind::LowStock,
                severity: Severity::Warning,
                message: format!(
                    "{name} is running low: {available} available (alert at {threshold} or fewer); count stock in on the products page"
                ),
                entity: Some(("product", product_id)),
                // One alert per crossing: each crossing is a new key.
                dedup_key: format!("low_stock:{product_id}:{}", uuid::Uuid::now_v7().simple()),
            },
            now,
        )
        .await
    }
}
