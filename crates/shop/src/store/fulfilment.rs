//! An order's delivery: what the shipping email, the confirmation's shipping lines and the
//! dashboard read (address, rate, subtotal / shipping / total, carrier and tracking), and the
//! conditional updates that move its fulfilment forward once (`unfulfilled` → `shipped` →
//! `delivered`: a second "ship" changes no row).

use super::statement::{args, tx_row};
use super::{on_conn, Store, StoreError, Tx};
use crate::domain::status::{DisputeStatus, FulfilmentStatus, OrderStatus};

tx_row! {
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OrderDelivery {
    pub id: String,
    pub number: i64,
    pub status: OrderStatus,
    pub email: Option<String>,
    pub currency: String,
    /// Null until Stripe's session was read (an order made from its PaymentIntent alone).
    pub amount_subtotal: Option<i64>,
    pub amount_shipping: i64,
    pub amount_total: i64,
    pub customer_name: Option<String>,
    pub phone: Option<String>,
    pub shipping_name: Option<String>,
    pub shipping_line1: Option<String>,
    pub shipping_line2: Option<String>,
    pub shipping_postal_code: Option<String>,
    pub shipping_city: Option<String>,
    pub shipping_country: Option<String>,
    pub shipping_rate_name: Option<String>,
    pub fulfilment: FulfilmentStatus,
    pub carrier: Option<String>,
    pub tracking_code: Option<String>,
    pub tracking_url: Option<String>,
    pub dispute: Option<DisputeStatus>,
}
}

impl OrderDelivery {
    /// The address as lines to print (name, street, town, country), none when there is none.
    pub fn address_lines(&self) -> Vec<String> {
        if self.shipping_line1.is_none() {
            return Vec::new();
        }
        let town = [&self.shipping_postal_code, &self.shipping_city]
            .into_iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        [
            self.shipping_name.clone(),
            self.shipping_line1.clone(),
            self.shipping_line2.clone(),
            Some(town).filter(|t| !t.is_empty()),
            self.shipping_country.clone(),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// The subtotal: recorded from the session, else what the total leaves after shipping.
    pub fn subtotal(&self) -> i64 {
        self.amount_subtotal
            .unwrap_or(self.amount_total - self.amount_shipping)
    }
}

const DELIVERY: &str =
    "SELECT id, number, status, email, currency, amount_subtotal, amount_shipping, \
     amount_total, customer_name, phone, shipping_name, shipping_line1, shipping_line2, \
     shipping_postal_code, shipping_city, shipping_country, shipping_rate_name, fulfilment, \
     carrier, tracking_code, tracking_url, dispute FROM orders";

impl Store {
    pub async fn order_delivery(
        &self,
        order_id: &str,
    ) -> Result<Option<OrderDelivery>, StoreError> {
        let sql = format!("{DELIVERY} WHERE id = $1");
        Ok(on_conn!(pool self, |c| sqlx::query_as(&sql).bind(order_id).fetch_optional(c).await)?)
    }
}

impl Tx {
    /// Order `number`, locked.
    pub async fn order_delivery_for_update(
        &mut self,
        number: i64,
    ) -> Result<Option<OrderDelivery>, StoreError> {
        let sql = format!("{DELIVERY} WHERE number = $1{}", self.for_update());
        self.row(&sql, args![number]).await
    }

    /// `unfulfilled` → `shipped` with the carrier and tracking; false when it was not unfulfilled.
    pub async fn mark_shipped(
        &mut self,
        order_id: &str,
        carrier: &str,
        tracking_code: &str,
        tracking_url: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let rows = self
            .run(
                "UPDATE orders SET fulfilment = 'shipped', carrier = $1, tracking_code = $2, \
                 tracking_url = $3, shipped_at = $4, updated_at = $4 \
             WHERE id = $5 AND fulfilment = 'unfulfilled'",
                args![carrier, tracking_code, tracking_url, now, order_id],
            )
            .await?;
        Ok(rows == 1)
    }

    /// `shipped` → `delivered`; false when it was not shipped.
    pub async fn mark_delivered(&mut self, order_id: &str, now: i64) -> Result<bool, StoreError> {
        let rows = self
            .run(
                "UPDATE orders SET fulfilment = 'delivered', delivered_at = $1, updated_at = $1 \
             WHERE id = $2 AND fulfilment = 'shipped'",
                args![now, order_id],
            )
            .await?;
        Ok(rows == 1)
    }
}
