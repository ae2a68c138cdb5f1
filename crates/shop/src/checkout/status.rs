//! What the success page shows while it polls: the checkout's outcome as the customer sees it.

use crate::app::App;
use crate::domain::status::{HoldStatus, OrderStatus};
use crate::identity::Customer;
use crate::store::{Hold, StoreError};

/// A checkout as its customer sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Not paid yet (the customer is on Stripe's page, or a delayed payment is under way).
    Pending,
    Paid,
    /// The payment failed and the hold was released.
    Failed,
    /// Expired or cancelled.
    Expired,
    /// Paid, and the shop must look at the order before shipping it.
    NeedsAttention,
    Refunded,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = serde_json::to_value(self).map_err(|_| std::fmt::Error)?;
        f.write_str(text.as_str().unwrap_or_default())
    }
}

/// What the success page shows while it polls.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CheckoutStatus {
    pub status: Outcome,
    pub hold_id: String,
    pub checkout_session_id: String,
    pub order_id: Option<String>,
    pub order_number: Option<i64>,
    /// Why the hold was released (`payment_failed`, `expired`, `canceled`, `cancelled`, …).
    pub release_reason: Option<String>,
    /// What the order ships with, once it exists and when it ships.
    pub shipping: Option<ShippingLine>,
}

/// The success page's shipping line: the rate, what it cost, where the parcel goes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ShippingLine {
    pub rate: Option<String>,
    /// In minor units of `currency`.
    pub amount: i64,
    pub currency: String,
    /// The address as lines: name, street, town, country.
    pub address: Vec<String>,
}

/// The status of `session_id` for `customer`; `None` when it does not exist or is someone else's
/// (the two are indistinguishable on purpose).
pub async fn status(
    app: &App,
    customer: &Customer,
    session_id: &str,
) -> Result<Option<CheckoutStatus>, StoreError> {
    let Some(hold) = app.store.hold_by_session(session_id).await? else {
        return Ok(None);
    };
    if hold.customer_id != customer.id {
        return Ok(None);
    }
    Ok(Some(status_of(app, hold).await?))
}

pub(super) async fn status_of(app: &App, hold: Hold) -> Result<CheckoutStatus, StoreError> {
    let order = app.store.order_for_hold(&hold.id).await?;
    let status = match (&order, hold.status, hold.release_reason.as_deref()) {
        (Some(o), _, _) => match o.status {
            OrderStatus::NeedsAttention => Outcome::NeedsAttention,
            OrderStatus::Refunded => Outcome::Refunded,
            OrderStatus::Paid => Outcome::Paid,
        },
        (None, HoldStatus::Released, Some("payment_failed")) => Outcome::Failed,
        (None, HoldStatus::Released, _) => Outcome::Expired,
        _ => Outcome::Pending,
    };
    let delivery = match &order {
        Some(o) => app.store.order_delivery(&o.id).await?,
        None => None,
    };
    let shipping = delivery
        .filter(|d| d.shipping_line1.is_some() || d.amount_shipping > 0)
        .map(|d| ShippingLine {
            address: d.address_lines(),
            rate: d.shipping_rate_name,
            amount: d.amount_shipping,
            currency: d.currency,
        });
    Ok(CheckoutStatus {
        shipping,
        status,
        hold_id: hold.id,
        checkout_session_id: hold.checkout_session_id.unwrap_or_default(),
        order_id: order.as_ref().map(|o| o.id.clone()),
        order_number: order.as_ref().map(|o| o.number),
        // A release that a later payment overrode is history, not the checkout's state.
        release_reason: if order.is_some() {
            None
        } else {
            hold.release_reason
        },
    })
}
