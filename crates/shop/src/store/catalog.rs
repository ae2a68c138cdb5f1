//! Products: the catalog the shop sells from, and the only source of prices.

use super::statement::{args, tx_row, Arg};
use super::stock_settle::{stock_now, unsettled_units};
use super::{on_conn, Store, StoreError, Tx};
use crate::domain::product::ValidProduct;

tx_row! {
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub description: String,
    pub unit_amount: i64,
    pub currency: String,
    pub stock_on_hand: i64,
    pub stock_reserved: i64,
    pub stripe_price_id: Option<String>,
    pub active: bool,
    /// Needs a parcel (false: a gift card, a download).
    pub shipping: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// For the operators (products page, catalog file), not for customers.
    #[serde(skip)]
    pub low_stock_threshold: Option<i64>,
}
}

impl Product {
    /// What can still be sold: on hand minus what open checkouts hold.
    pub fn available(&self) -> i64 {
        self.stock_on_hand - self.stock_reserved
    }
}

/// A product as reads show it: its stock with the sold units not yet settled taken off
/// ([`super::stock_settle`]).
const COLUMNS: &str = concat!(
    "id, name, description, unit_amount, currency, ",
    stock_now!("products.id"),
    ", stripe_price_id, active, shipping, created_at, updated_at, low_stock_threshold"
);

impl Store {
    pub async fn active_products(&self) -> Result<Vec<Product>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM products WHERE active = TRUE ORDER BY name, id");
        Ok(on_conn!(pool self, |c| sqlx::query_as(&sql).fetch_all(c).await)?)
    }

    pub async fn product(&self, id: &str) -> Result<Option<Product>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM products WHERE id = $1");
        Ok(on_conn!(pool self, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?)
    }

    /// Every product, active or not, by id.
    pub async fn all_products(&self) -> Result<Vec<Product>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM products ORDER BY id");
        Ok(on_conn!(pool self, |c| sqlx::query_as(&sql).fetch_all(c).await)?)
    }

    pub async fn product_count(&self) -> Result<i64, StoreError> {
        Ok(
            on_conn!(pool self, |c| sqlx::query_scalar("SELECT COUNT(*) FROM products")
            .fetch_one(c)
            .await)?,
        )
    }
}

impl Tx {
    /// The products among `ids` that exist, in one query.
    pub async fn products_by_ids(&mut self, ids: &[&str]) -> Result<Vec<Product>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {COLUMNS} FROM products WHERE id IN ({})",
            placeholders.join(", ")
        );
        let args: Vec<Arg> = ids.iter().map(|id| Arg::from(*id)).collect();
        self.rows(&sql, &args).await
    }

    /// The product, locked. The lock comes first and the figures after, in a statement of their
    /// own: on PostgreSQL a statement that waited for the row (a settle committing) would still
    /// see the sold holds as unsettled and take their units off twice.
    pub async fn product_for_update(&mut self, id: &str) -> Result<Option<Product>, StoreError> {
        self.lock_product(id).await?;
        let sql = format!("SELECT {COLUMNS} FROM products WHERE id = $1");
        self.row(&sql, args![id]).await
    }

    /// Locks the product's row (on SQLite the transaction's write lock already excludes others).
    async fn lock_product(&mut self, id: &str) -> Result<(), StoreError> {
        if matches!(self, Tx::Postgres(_)) {
            let _: Option<String> = self
                .opt_value(
                    "SELECT id FROM products WHERE id = $1 FOR UPDATE",
                    args![id],
                )
                .await?;
        }
        Ok(())
    }

    /// Inserts the product or updates every field the catalog owns; an existing product's
    /// `stock_on_hand` only when `set_stock`. Stock held by open checkouts is kept; a new
    /// `stock_on_hand` below it is refused by the database's CHECK.
    ///
    /// `before` is the product as the caller read it under [`Tx::product_for_update`]'s lock,
    /// and the stock is set relative to it (the column moves by the file's figure less
    /// `before`'s): payments do not take the product's lock (they mark their hold, see
    /// [`super::stock_settle`]), so a sale may commit between that read and this write, and it
    /// then counts after the import, as it does in the audit, whose `before` is that read. The
    /// product returned is the write's, in the same frame: its stock is what the import set.
    pub async fn upsert_product(
        &mut self,
        p: &ValidProduct,
        before: Option<&Product>,
        set_stock: bool,
        now: i64,
    ) -> Result<Product, StoreError> {
        self.lock_product(&p.id).await?;
        // Without a `before` the row is new to this transaction (or another import made it a
        // moment ago, and nothing was sold from it yet).
        let moved_by = before.map(|b| p.stock_on_hand - b.stock_on_hand);
        let sql = format!(
            "INSERT INTO products (id, name, description, unit_amount, currency, stock_on_hand, \
                                   stock_reserved, stripe_price_id, active, shipping, created_at, updated_at, \
                                   low_stock_threshold) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $11, $9, $9, $12) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, \
                 unit_amount = excluded.unit_amount, currency = excluded.currency, \
                 stock_on_hand = CASE WHEN $10 THEN COALESCE(products.stock_on_hand + $13, \
                     excluded.stock_on_hand + {unsettled}) ELSE products.stock_on_hand END, \
                 stripe_price_id = excluded.stripe_price_id, \
                 active = excluded.active, shipping = excluded.shipping, updated_at = excluded.updated_at, \
                 low_stock_threshold = excluded.low_stock_threshold",
            unsettled = unsettled_units!("products.id")
        );
        self.run(
            &sql,
            args![
                &p.id,
                &p.name,
                &p.description,
                p.unit_amount,
                p.currency.as_str(),
                p.stock_on_hand,
                &p.stripe_price_id,
                p.active,
                now,
                set_stock,
                p.shipping,
                p.low_stock_threshold,
                moved_by
            ],
        )
        .await?;
        let sql = format!("SELECT {COLUMNS} FROM products WHERE id = $1");
        let mut after: Product = self.one(&sql, args![&p.id]).await?;
        if let Some(b) = before {
            after.stock_on_hand = b.stock_on_hand + moved_by.filter(|_| set_stock).unwrap_or(0);
            after.stock_reserved = b.stock_reserved;
        }
        Ok(after)
    }
}
