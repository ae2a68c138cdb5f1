//! Orders and their payments. Only fulfilment creates them (one per hold: `orders.hold_id` and
//! `payments.payment_intent_id` are unique), and only `charge.refunded` marks them refunded.

use super::statement::{args, tx_row};
use super::{on_conn, Store, StoreError, Tx};
use crate::domain::status::{OrderStatus, PaymentStatus};

tx_row! {
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OrderSummary {
    pub id: String,
    pub number: i64,
    pub status: OrderStatus,
    pub attention_reason: Option<String>,
    pub email: Option<String>,
    pub amount_total: i64,
    pub currency: String,
}
}

/// An order about to be written, with its payment.
#[derive(Clone, Debug)]
pub struct NewOrder<'a> {
    pub id: &'a str,
    pub hold_id: &'a str,
    pub customer_id: &'a str,
    pub email: Option<&'a str>,
    pub attention_reason: Option<&'a str>,
    pub amount_total: i64,
    pub currency: &'a str,
    pub payment: NewPayment<'a>,
}

#[derive(Clone, Debug)]
pub struct NewPayment<'a> {
    pub id: &'a str,
    pub payment_intent_id: &'a str,
    pub checkout_session_id: Option<&'a str>,
    /// What Stripe collected, which may differ from the order's total (then the order needs
    /// attention).
    pub amount: i64,
    pub currency: &'a str,
}

tx_row! {
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PaymentRow {
    pub id: String,
    pub order_id: String,
    pub payment_intent_id: String,
    pub checkout_session_id: Option<String>,
    pub amount: i64,
    pub amount_refunded: i64,
    pub currency: String,
    pub status: PaymentStatus,
}
}

/// [`Tx::insert_order`]'s statements, numbered alike: the order `$1`…`$9`, its payment `$10`…`$14`.
pub(super) const ORDER_ROW: &str =
    "INSERT INTO orders (id, hold_id, customer_id, email, status, attention_reason, \
                         amount_total, currency, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)";
const LINES: &str = "INSERT INTO order_items (order_id, product_id, quantity, unit_amount) \
                     SELECT $1, product_id, quantity, unit_amount FROM hold_items WHERE hold_id = $2";
const PAYMENT_ROW: &str = "INSERT INTO payments (id, order_id, payment_intent_id, \
                           checkout_session_id, amount, currency, status, created_at) \
                           VALUES ($10, $1, $11, $12, $13, $14, 'succeeded', $9)";

const ORDER: &str =
    "SELECT id, number, status, attention_reason, email, amount_total, currency FROM orders";
const PAYMENT: &str = "SELECT id, order_id, payment_intent_id, checkout_session_id, amount, \
                       amount_refunded, currency, status FROM payments";

impl Tx {
    pub async fn order_for_hold_tx(
        &mut self,
        hold_id: &str,
    ) -> Result<Option<OrderSummary>, StoreError> {
        let sql = format!("{ORDER} WHERE hold_id = $1");
        self.row(&sql, args![hold_id]).await
    }

    /// Writes the order, its lines (its hold's items, copied by the statement) and its payment;
    /// returns the order's sequential number. On PostgreSQL one statement, a round trip where
    /// three would be three (its foreign keys are checked at the statement's end, when the order
    /// exists); on SQLite four, each a few microseconds in process.
    pub async fn insert_order(&mut self, o: &NewOrder<'_>, now: i64) -> Result<i64, StoreError> {
        let status = if o.attention_reason.is_some() {
            OrderStatus::NeedsAttention
        } else {
            OrderStatus::Paid
        };
        let p = &o.payment;
        let args = args![
            o.id,
            o.hold_id,
            o.customer_id,
            o.email,
            status,
            o.attention_reason,
            o.amount_total,
            o.currency,
            now,
            p.id,
            p.payment_intent_id,
            p.checkout_session_id,
            p.amount,
            p.currency
        ];
        if matches!(self, Tx::Postgres(_)) {
            let sql = format!("WITH o AS ({ORDER_ROW} RETURNING number), l AS ({LINES}), p AS ({PAYMENT_ROW}) SELECT number FROM o");
            return self.value(&sql, args).await;
        }
        // The number is the row's id, which SQLite hands back without `RETURNING` (whose rows
        // SQLite gathers in a temporary b-tree, built and dropped at each run).
        self.run(ORDER_ROW, &args[..9]).await?;
        let number: i64 = self.value("SELECT last_insert_rowid()", &[]).await?;
        self.run(LINES, &args[..2]).await?;
        self.run(PAYMENT_ROW, args).await?;
        Ok(number)
    }

    /// Fills in the order's email when it had none (the PaymentIntent came before the session
    /// that carries the address the customer typed).
    pub async fn set_order_email_if_missing(
        &mut self,
        order_id: &str,
        email: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let rows = self
            .run(
                "UPDATE orders SET email = $1, updated_at = $2 WHERE id = $3 AND email IS NULL",
                args![email, now, order_id],
            )
            .await?;
        Ok(rows == 1)
    }

    pub async fn payment_by_intent_for_update(
        &mut self,
        payment_intent_id: &str,
    ) -> Result<Option<PaymentRow>, StoreError> {
        let sql = format!(
            "{PAYMENT} WHERE payment_intent_id = $1{}",
            self.for_update()
        );
        self.row(&sql, args![payment_intent_id]).await
    }

    /// Raises the refunded amount to `amount_refunded` (never lowers it: `charge.refunded` events
    /// may arrive out of order); a full refund makes the payment and its order `refunded`.
    pub async fn record_refund(
        &mut self,
        payment: &PaymentRow,
        amount_refunded: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let refunded = amount_refunded.clamp(payment.amount_refunded, payment.amount);
        let full = refunded >= payment.amount;
        self.run(
            "UPDATE payments SET amount_refunded = $1, status = $2 WHERE id = $3",
            args![
                refunded,
                if full {
                    PaymentStatus::Refunded
                } else {
                    PaymentStatus::Succeeded
                },
                &payment.id
            ],
        )
        .await?;
        if full {
            self.run(
                "UPDATE orders SET status = 'refunded', updated_at = $1 WHERE id = $2",
                args![now, &payment.order_id],
            )
            .await?;
        }
        Ok(())
    }

    pub async fn order_number(&mut self, order_id: &str) -> Result<i64, StoreError> {
        self.value("SELECT number FROM orders WHERE id = $1", args![order_id])
            .await
    }
}

impl Store {
    pub async fn order_for_hold(&self, hold_id: &str) -> Result<Option<OrderSummary>, StoreError> {
        let sql = format!("{ORDER} WHERE hold_id = $1");
        Ok(on_conn!(pool self, |c| sqlx::query_as(&sql).bind(hold_id).fetch_optional(c).await)?)
    }

    pub async fn payment_by_intent(
        &self,
        payment_intent_id: &str,
    ) -> Result<Option<PaymentRow>, StoreError> {
        let sql = format!("{PAYMENT} WHERE payment_intent_id = $1");
        Ok(
            on_conn!(pool self, |c| sqlx::query_as(&sql).bind(payment_intent_id).fetch_optional(c).await)?,
        )
    }
}

/// A line of an order as the customer reads it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct OrderLine {
    pub product_id: String,
    pub name: String,
    pub quantity: i64,
    pub unit_amount: i64,
}

impl Store {
    pub async fn order(&self, order_id: &str) -> Result<Option<OrderSummary>, StoreError> {
        let sql = format!("{ORDER} WHERE id = $1");
        Ok(on_conn!(pool self, |c| sqlx::query_as(&sql).bind(order_id).fetch_optional(c).await)?)
    }

    /// The order's lines with the products' names, in product order.
    pub async fn order_lines(&self, order_id: &str) -> Result<Vec<OrderLine>, StoreError> {
        Ok(on_conn!(pool self, |c| sqlx::query_as(
            "SELECT i.product_id, p.name, i.quantity, i.unit_amount \
             FROM order_items i JOIN products p ON p.id = i.product_id \
             WHERE i.order_id = $1 ORDER BY i.product_id",
        )
        .bind(order_id)
        .fetch_all(c)
        .await)?)
    }
}
