//! Holds: stock set aside for one checkout until it is paid, released or expired.
//!
//! Reserving is one conditional `UPDATE … WHERE stock_on_hand - stock_reserved >= $n` per line, so
//! the check and the write are a single step on both databases: concurrent checkouts can never hold
//! more than is on hand, and the CHECK constraints back that up. Releasing is a conditional update
//! of the hold's status (`WHERE status IN ('active', 'awaiting_payment')`), so two releasers (a webhook and the sweeper, two
//! instances) give stock back once.

use super::statement::{args, tx_row, Arg};
use super::{on_conn, Store, StoreError, Tx};
use crate::domain::status::HoldStatus;

tx_row! {
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Hold {
    pub id: String,
    pub customer_id: String,
    pub client_ip: Option<String>,
    pub email: Option<String>,
    pub status: HoldStatus,
    pub amount_total: i64,
    pub currency: String,
    pub expires_at: i64,
    pub checkout_session_id: Option<String>,
    pub checkout_url: Option<String>,
    pub payment_intent_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub release_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub released_at: Option<i64>,
    pub next_check_at: Option<i64>,
    pub checks: i64,
    /// The tag its own PaymentIntent carries ([`crate::domain::intent_tag`]); none for holds made
    /// before tags.
    #[serde(skip)]
    pub intent_tag: Option<String>,
    /// The shipping rates offered to Stripe (JSON `OfferedRate`s) when the checkout asked for an
    /// address; `None` when nothing ships.
    pub shipping_offer: Option<String>,
}
}

tx_row! {
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HoldItem {
    pub product_id: String,
    pub quantity: i64,
    pub unit_amount: i64,
}
}

/// A hold about to be written.
#[derive(Clone, Debug)]
pub struct NewHold<'a> {
    pub id: &'a str,
    pub customer_id: &'a str,
    pub client_ip: Option<&'a str>,
    pub client_net: Option<&'a str>,
    pub email: Option<&'a str>,
    pub amount_total: i64,
    pub currency: &'a str,
    pub expires_at: i64,
    pub idempotency_key: Option<&'a str>,
    /// Whose key it is: the signed-in customer, or the client network of a guest.
    pub idempotency_scope: Option<&'a str>,
    /// The tag its PaymentIntent will carry ([`crate::domain::intent_tag::new_tag`]).
    pub intent_tag: &'a str,
    pub items: &'a [HoldItem],
    pub shipping_offer: Option<&'a str>,
}

/// Why stock could not be reserved: the product that ran short and what is left of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shortage {
    pub product_id: String,
    pub requested: i64,
    pub available: i64,
}

/// A hold's items in lock order (by product id).
const ITEMS: &str =
    "SELECT product_id, quantity, unit_amount FROM hold_items WHERE hold_id = $1 ORDER BY product_id";

pub(super) const COLUMNS: &str = "id, customer_id, client_ip, email, status, amount_total, currency, expires_at, \
                       checkout_session_id, checkout_url, payment_intent_id, idempotency_key, release_reason, \
                       created_at, updated_at, released_at, next_check_at, checks, intent_tag, shipping_offer";

impl Tx {
    /// Serialises the checkouts of one owner (a customer, a client network), so that counting
    /// its open holds and adding one is a single step. SQLite's `BEGIN IMMEDIATE` already
    /// serialises every writer.
    pub async fn lock_owner(&mut self, owner: &Owner<'_>) -> Result<(), StoreError> {
        let name = match owner {
            Owner::Customer(id) => format!("customer:{id}"),
            Owner::Network(net) => format!("network:{net}"),
        };
        self.lock_name(&name).await
    }

    /// Takes a lock on `name` until the transaction ends: on PostgreSQL an advisory lock (two
    /// names may share one, which only serialises them); on SQLite the transaction's write lock
    /// already excludes every other writer.
    pub(super) async fn lock_name(&mut self, name: &str) -> Result<(), StoreError> {
        if let Tx::Postgres(tx) = self {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(name)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// What an owner holds right now: open holds, their units, and when the first expires.
    pub async fn open_holds(
        &mut self,
        owner: &Owner<'_>,
        now: i64,
    ) -> Result<OpenHolds, StoreError> {
        let (column, value) = match owner {
            Owner::Customer(id) => ("customer_id", *id),
            Owner::Network(net) => ("client_net", *net),
        };
        let (holds, units, first_expiry): (i64, i64, Option<i64>) =
            self.one(&open_holds_sql(column), args![value, now]).await?;
        Ok(OpenHolds {
            holds,
            units,
            first_expiry,
        })
    }

    /// Writes the hold and reserves every item, or names the first product that ran short (the
    /// caller then rolls back, and the hold and the reservations before the shortage with it).
    /// Items must be sorted by product id (one lock order for every checkout). Returns the
    /// products whose low-stock watch has something to change now: the caller runs it once the
    /// checkout stands (a checkout that fails gives its stock straight back, and is no fall of
    /// the stock to alert anyone about).
    ///
    /// The reservations are the transaction's last statements: on PostgreSQL a reservation locks
    /// its product's row until the commit, and every checkout of a popular product waits for
    /// that lock, so nothing but the commit runs while it is held. The items' foreign key to the
    /// product is checked at the commit there (migration 0017), when the row is already this
    /// transaction's. The caller writes what else the transaction needs (the audit) before
    /// calling this.
    pub async fn create_hold(
        &mut self,
        hold: &NewHold<'_>,
        now: i64,
    ) -> Result<Result<Vec<String>, Shortage>, StoreError> {
        self.run("INSERT INTO holds (id, customer_id, client_ip, email, status, amount_total, currency, \
                                expires_at, idempotency_key, created_at, updated_at, client_net, \
                                idempotency_scope, intent_tag, shipping_offer) \
             VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $8, $9, $9, $10, $11, $12, $13)", args![hold.id, hold.customer_id, hold.client_ip, hold.email, hold.amount_total, hold.currency, hold.expires_at, hold.idempotency_key, now, hold.client_net, hold.idempotency_scope, hold.intent_tag, hold.shipping_offer]).await?;
        let (sql, values) = insert_items_sql(hold.id, hold.items);
        self.run(&sql, &values).await?;
        let mut watch = Vec::new();
        for item in hold.items {
            // Whether the low-stock watch has anything to change (its own condition, on the
            // row as reserved): usually not.
            let changes: Option<bool> = self
                .opt_value(
                    "UPDATE products SET stock_reserved = stock_reserved + $1, updated_at = $2 \
                     WHERE id = $3 AND active = TRUE AND stock_on_hand - stock_reserved >= $1 \
                     RETURNING low_stock_alerted <> (low_stock_threshold IS NOT NULL \
                         AND stock_on_hand - stock_reserved <= low_stock_threshold)",
                    args![item.quantity, now, &item.product_id],
                )
                .await?;
            match changes {
                None => {
                    let available: Option<i64> = self.opt_value("SELECT stock_on_hand - stock_reserved FROM products WHERE id = $1 AND active = TRUE", args![&item.product_id]).await?;
                    return Ok(Err(Shortage {
                        product_id: item.product_id.clone(),
                        requested: item.quantity,
                        available: available.unwrap_or(0).max(0),
                    }));
                }
                Some(true) => watch.push(item.product_id.clone()),
                Some(false) => {}
            }
        }
        Ok(Ok(watch))
    }

    /// Links a hold to its Checkout Session, whose `expires_at` (taken when Stripe was called)
    /// becomes the hold's. False when there is no such open hold: its provisional commit was
    /// lost, or the reconciler released it (see `checkout::create`'s provisional expiry).
    pub async fn set_hold_session(
        &mut self,
        hold_id: &str,
        session_id: &str,
        url: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let changed = self.run("UPDATE holds SET checkout_session_id = $1, checkout_url = $2, expires_at = $3, updated_at = $4 WHERE id = $5 AND status = 'active'", args![session_id, url, expires_at, now, hold_id]).await?;
        Ok(changed == 1)
    }

    pub async fn hold_for_update(&mut self, hold_id: &str) -> Result<Option<Hold>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM holds WHERE id = $1{}",
            self.for_update()
        );
        self.row(&sql, args![hold_id]).await
    }

    pub async fn hold_items_tx(&mut self, hold_id: &str) -> Result<Vec<HoldItem>, StoreError> {
        self.rows(ITEMS, args![hold_id]).await
    }

    /// Gives the hold's stock back if it is still active; false when someone else already moved
    /// it on (released, or turned into an order).
    pub async fn release_hold(
        &mut self,
        hold_id: &str,
        reason: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let changed = self.run("UPDATE holds SET status = 'released', release_reason = $1, released_at = $2, updated_at = $2 \
             WHERE id = $3 AND status IN ('active', 'awaiting_payment')", args![reason, now, hold_id]).await?;
        if changed == 0 {
            return Ok(false);
        }
        let items = self.hold_items_tx(hold_id).await?;
        self.move_stock(&items, Stock::Released, now).await?;
        Ok(true)
    }
}

impl Tx {
    /// The hold of a Checkout Session or of a PaymentIntent, locked (for the events whose object
    /// lacks `metadata[hold_id]`).
    pub async fn hold_by_reference_for_update(
        &mut self,
        column: HoldReference,
        value: &str,
    ) -> Result<Option<Hold>, StoreError> {
        let column = match column {
            HoldReference::Session => "checkout_session_id",
            HoldReference::PaymentIntent => "payment_intent_id",
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM holds WHERE {column} = $1{}",
            self.for_update()
        );
        self.row(&sql, args![value]).await
    }

    /// Records what Stripe's events tell about a hold — its session (when the request that
    /// created it died before storing it), its PaymentIntent, the customer's email — without
    /// overwriting what is already known.
    pub async fn link_hold(
        &mut self,
        hold_id: &str,
        session_id: Option<&str>,
        payment_intent_id: Option<&str>,
        email: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        self.run(
            "UPDATE holds SET checkout_session_id = COALESCE(checkout_session_id, $1), \
                              payment_intent_id = COALESCE(payment_intent_id, $2), \
                              email = COALESCE(email, $3), updated_at = $4 WHERE id = $5",
            args![session_id, payment_intent_id, email, now, hold_id],
        )
        .await?;
        Ok(())
    }

    /// Marks an active hold `converted` and records `link` in the same statement; false when it
    /// was no longer active. Its reserved units are sold without touching the products: the hold
    /// is marked `stock_unsettled`, and the settle worker ([`Tx::settle_sales`]) moves them out of
    /// `stock_on_hand` and `stock_reserved` later, many sales in one update. The product rows are
    /// the hottest rows of a sale: on PostgreSQL an update would hold each one's lock to the
    /// commit, one paying transaction after the other.
    pub async fn convert_active_hold(
        &mut self,
        hold_id: &str,
        link: &HoldLink<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.set_converted(hold_id, ConvertFrom::Open, link, now)
            .await
    }

    /// A payment for a hold that was already released: the hold becomes `converted`, and its
    /// stock is taken again from what is free (products locked in id order, as checkout locks
    /// them), all lines or none. False when a line is short: no stock was taken.
    pub async fn convert_released_hold(
        &mut self,
        hold_id: &str,
        link: &HoldLink<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let items = self.hold_items_tx(hold_id).await?;
        let lock = format!(
            "SELECT stock_on_hand - stock_reserved FROM products WHERE id = $1{}",
            self.for_update()
        );
        for item in &items {
            let free: Option<i64> = self.opt_value(&lock, args![&item.product_id]).await?;
            if free.unwrap_or(0) < item.quantity {
                self.set_converted(hold_id, ConvertFrom::Released, link, now)
                    .await?;
                return Ok(false);
            }
        }
        if !self
            .set_converted(hold_id, ConvertFrom::Released, link, now)
            .await?
        {
            return Ok(false);
        }
        self.move_stock(&items, Stock::SoldFromFree, now).await?;
        Ok(true)
    }

    /// The conversion and [`Tx::link_hold`]'s link in one statement: fulfilment knows both.
    async fn set_converted(
        &mut self,
        hold_id: &str,
        from: ConvertFrom,
        link: &HoldLink<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (sql, values) = set_converted_sql(hold_id, from, link, now);
        let rows = self.run(&sql, &values).await?;
        Ok(rows == 1)
    }

    /// Applies one stock movement to every item (the CHECK constraints refuse a negative or an
    /// over-reserved result).
    async fn move_stock(
        &mut self,
        items: &[HoldItem],
        movement: Stock,
        now: i64,
    ) -> Result<(), StoreError> {
        // How many units leave `stock_on_hand` and `stock_reserved` per unit held.
        let (on_hand, reserved) = match movement {
            Stock::Released => (0, 1),
            Stock::SoldFromFree => (1, 0),
        };
        for item in items {
            self.run("UPDATE products SET stock_on_hand = stock_on_hand - $1 * $2, \
                                     stock_reserved = stock_reserved - $1 * $3, updated_at = $4 WHERE id = $5", args![item.quantity, on_hand, reserved, now, &item.product_id]).await?;
            self.watch_low_stock(&item.product_id, now).await?;
        }
        Ok(())
    }

    /// A session complete without its money yet (a delayed method): the hold keeps its stock.
    pub async fn mark_awaiting_payment(
        &mut self,
        hold_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let rows = self.run("UPDATE holds SET status = 'awaiting_payment', updated_at = $1 WHERE id = $2 AND status = 'active'", args![now, hold_id]).await?;
        Ok(rows == 1)
    }
}

/// An owner's open holds (`column`: `customer_id` or `client_net`): how many, their units, the
/// first expiry. Checked at every checkout.
pub(super) fn open_holds_sql(column: &str) -> String {
    format!(
        "SELECT COUNT(DISTINCT h.id), CAST(COALESCE(SUM(i.quantity), 0) AS BIGINT), MIN(h.expires_at) \
         FROM holds h JOIN hold_items i ON i.hold_id = h.id \
         WHERE h.{column} = $1 AND h.status IN ('active', 'awaiting_payment') AND h.expires_at > $2"
    )
}

/// The reconciler's next open holds past their expiry ([`Store::holds_to_check`]).
pub(super) fn holds_to_check_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM holds WHERE status IN ('active', 'awaiting_payment') \
         AND expires_at <= $1 AND COALESCE(next_check_at, expires_at) <= $2 \
         ORDER BY COALESCE(next_check_at, expires_at), id LIMIT $3"
    )
}

/// What a paid event tells about its hold, recorded without overwriting what is already known
/// (see [`Tx::link_hold`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct HoldLink<'a> {
    pub session_id: Option<&'a str>,
    pub payment_intent_id: Option<&'a str>,
    pub email: Option<&'a str>,
}

impl<'a> HoldLink<'a> {
    /// Of this link, what `hold` (as read in the same transaction) does not know yet.
    pub fn missing_from(self, hold: &Hold) -> HoldLink<'a> {
        HoldLink {
            session_id: self
                .session_id
                .filter(|_| hold.checkout_session_id.is_none()),
            payment_intent_id: self
                .payment_intent_id
                .filter(|_| hold.payment_intent_id.is_none()),
            email: self.email.filter(|_| hold.email.is_none()),
        }
    }
}

/// The statuses a hold is converted from.
#[derive(Clone, Copy)]
pub(super) enum ConvertFrom {
    /// `active` or `awaiting_payment`: its stock is reserved.
    Open,
    /// Released: its stock went back and must be taken again.
    Released,
}

/// Where the stock of a hold's items goes.
#[derive(Clone, Copy)]
enum Stock {
    /// Back from reserved to free (a release).
    Released,
    /// Sold out of free stock (a payment after the release).
    SoldFromFree,
}

/// Whose open holds are counted.
#[derive(Clone, Copy, Debug)]
pub enum Owner<'a> {
    Customer(&'a str),
    /// A client network: an IPv4 address or an IPv6 /64 ([`crate::identity::network_key`]).
    Network(&'a str),
}

/// What an owner holds at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenHolds {
    pub holds: i64,
    pub units: i64,
    pub first_expiry: Option<i64>,
}

/// A Stripe id a hold can be found by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldReference {
    Session,
    PaymentIntent,
}

impl Store {
    pub async fn hold(&self, hold_id: &str) -> Result<Option<Hold>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM holds WHERE id = $1");
        Ok(on_conn!(pool self, |c| sqlx::query_as(&sql).bind(hold_id).fetch_optional(c).await)?)
    }

    pub async fn hold_by_session(&self, session_id: &str) -> Result<Option<Hold>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM holds WHERE checkout_session_id = $1");
        Ok(on_conn!(pool self, |c| sqlx::query_as(&sql).bind(session_id).fetch_optional(c).await)?)
    }

    pub async fn hold_items(&self, hold_id: &str) -> Result<Vec<HoldItem>, StoreError> {
        Ok(on_conn!(pool self, |c| sqlx::query_as(
            ITEMS,
        )
        .bind(hold_id)
        .fetch_all(c)
        .await)?)
    }

    /// Open holds past their expiry whose next check is due by `due`, the least recently
    /// checked first.
    pub async fn holds_to_check(
        &self,
        now: i64,
        due: i64,
        limit: i64,
    ) -> Result<Vec<Hold>, StoreError> {
        let sql = holds_to_check_sql();
        Ok(
            on_conn!(pool self, |c| sqlx::query_as(&sql).bind(now).bind(due).bind(limit).fetch_all(c).await)?,
        )
    }

    /// Takes a hold for one check (due by `due`) and puts its next one at `next`: false when
    /// another instance took it first. A hold that cannot be settled now thus goes to the back of the queue, and
    /// no number of them can starve the others.
    pub async fn claim_hold_check(
        &self,
        hold: &Hold,
        due: i64,
        next: i64,
    ) -> Result<bool, StoreError> {
        // Through the writer queue (a write of its own, on SQLite in this process's turn).
        self.write(async |tx| {
            let rows = tx
                .run(
                    "UPDATE holds SET next_check_at = $1, checks = checks + 1 \
                 WHERE id = $2 AND status IN ('active', 'awaiting_payment') \
                 AND COALESCE(next_check_at, expires_at) <= $3",
                    args![next, &hold.id, due],
                )
                .await?;
            Ok(rows == 1)
        })
        .await
    }

    pub async fn active_hold_count(&self) -> Result<i64, StoreError> {
        Ok(
            on_conn!(pool self, |c| sqlx::query_scalar("SELECT COUNT(*) FROM holds WHERE status IN ('active', 'awaiting_payment')")
            .fetch_one(c)
            .await)?,
        )
    }
}

/// [`Tx::set_converted`]'s statement and its arguments.
pub(super) fn set_converted_sql<'a>(
    hold_id: &'a str,
    from: ConvertFrom,
    link: &HoldLink<'a>,
    now: i64,
) -> (String, Vec<Arg<'a>>) {
    // A released hold's units are taken from free stock at once (`convert_released_hold`).
    let (condition, unsettled) = match from {
        ConvertFrom::Open => ("status IN ('active', 'awaiting_payment')", "TRUE"),
        ConvertFrom::Released => ("status = 'released'", "FALSE"),
    };
    // Only what the hold lacks is assigned: SQLite rewrites the entries of every index whose
    // column a statement assigns, even to the value it has (the checkout session's unique
    // index and the PaymentIntent's, 5 of a conversion's 19 µs).
    let mut sql = format!(
        "UPDATE holds SET status = 'converted', updated_at = $1, stock_unsettled = {unsettled}"
    );
    let mut values: Vec<Arg> = vec![now.into(), hold_id.into()];
    for (column, value) in [
        ("checkout_session_id", link.session_id),
        ("payment_intent_id", link.payment_intent_id),
        ("email", link.email),
    ] {
        if let Some(value) = value {
            values.push(value.into());
            let n = values.len();
            sql.push_str(&format!(", {column} = COALESCE({column}, ${n})"));
        }
    }
    sql.push_str(&format!(" WHERE id = $2 AND {condition}"));
    (sql, values)
}

/// One `INSERT` of every item of a hold (`$1` is the hold's id).
fn insert_items_sql<'a>(hold_id: &'a str, items: &'a [HoldItem]) -> (String, Vec<Arg<'a>>) {
    let mut sql =
        String::from("INSERT INTO hold_items (hold_id, product_id, quantity, unit_amount) VALUES ");
    let mut values = vec![Arg::from(hold_id)];
    for (n, item) in items.iter().enumerate() {
        let first = 2 + 3 * n;
        if n > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("($1, ${first}, ${}, ${})", first + 1, first + 2));
        values.extend([
            Arg::from(&item.product_id),
            Arg::from(item.quantity),
            Arg::from(item.unit_amount),
        ]);
    }
    (sql, values)
}
