//! Shipping: the catalog's rates (replaced as a whole by an import that lists them), which
//! products of a cart need a parcel, and what an order records from Stripe's session (the
//! customer's name, phone and address, the rate and the subtotal / shipping / total).

use super::statement::{args, tx_row};
use super::{on_conn, Store, StoreError, Tx};
use crate::domain::shipping::ShippingRate;

tx_row! {
struct RateRow {
    id: String,
    name: String,
    amount: i64,
    currency: String,
    min_days: Option<i64>,
    max_days: Option<i64>,
    free_over: Option<i64>,
}
}

impl From<RateRow> for ShippingRate {
    fn from(r: RateRow) -> ShippingRate {
        ShippingRate {
            id: r.id,
            name: r.name,
            amount: r.amount,
            currency: r.currency,
            min_days: r.min_days,
            max_days: r.max_days,
            free_over: r.free_over,
        }
    }
}

const RATES: &str = "SELECT id, name, amount, currency, min_days, max_days, free_over \
                     FROM shipping_rates ORDER BY position, id";

/// What the customer gave Stripe's page, and the shipping figures, as the order records them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderShipping {
    pub customer_name: Option<String>,
    pub phone: Option<String>,
    pub name: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub rate_id: Option<String>,
    pub rate_name: Option<String>,
    pub amount_subtotal: i64,
    pub amount_shipping: i64,
}

impl Store {
    /// The catalog's rates, in the file's order.
    pub async fn shipping_rates(&self) -> Result<Vec<ShippingRate>, StoreError> {
        let rows: Vec<RateRow> = on_conn!(pool self, |c| sqlx::query_as(RATES).fetch_all(c).await)?;
        Ok(rows.into_iter().map(ShippingRate::from).collect())
    }
}

impl Tx {
    pub async fn shipping_rates_tx(&mut self) -> Result<Vec<ShippingRate>, StoreError> {
        let rows: Vec<RateRow> = self.rows(RATES, args![]).await?;
        Ok(rows.into_iter().map(ShippingRate::from).collect())
    }

    /// Makes `rates` the catalog's rates, in this order.
    pub async fn replace_shipping_rates(
        &mut self,
        rates: &[ShippingRate],
        now: i64,
    ) -> Result<(), StoreError> {
        self.run("DELETE FROM shipping_rates", args![]).await?;
        for (position, r) in rates.iter().enumerate() {
            self.run(
                "INSERT INTO shipping_rates (id, name, amount, currency, min_days, max_days, \
                                             free_over, position, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
                args![
                    &r.id,
                    &r.name,
                    r.amount,
                    &r.currency,
                    r.min_days,
                    r.max_days,
                    r.free_over,
                    position as i64,
                    now
                ],
            )
            .await?;
        }
        Ok(())
    }

    /// Records what Stripe's session says of an order's customer and shipping, once: the first
    /// event that carries the session writes it; `amount_subtotal` is null until then.
    pub async fn set_order_shipping(
        &mut self,
        order_id: &str,
        s: &OrderShipping,
        now: i64,
    ) -> Result<bool, StoreError> {
        let rows = self
            .run(
                "UPDATE orders SET customer_name = $1, phone = $2, shipping_name = $3, \
                 shipping_line1 = $4, shipping_line2 = $5, shipping_postal_code = $6, \
                 shipping_city = $7, shipping_state = $8, shipping_country = $9, \
                 shipping_rate_id = $10, shipping_rate_name = $11, amount_subtotal = $12, \
                 amount_shipping = $13, amount_total = $12 + $13, updated_at = $14 \
             WHERE id = $15 AND amount_subtotal IS NULL",
                args![
                    &s.customer_name,
                    &s.phone,
                    &s.name,
                    &s.line1,
                    &s.line2,
                    &s.postal_code,
                    &s.city,
                    &s.state,
                    &s.country,
                    &s.rate_id,
                    &s.rate_name,
                    s.amount_subtotal,
                    s.amount_shipping,
                    now,
                    order_id
                ],
            )
            .await?;
        Ok(rows == 1)
    }
}
