//! After the payment, the parcel: an operator (the CLI, the dashboard) marks an order shipped,
//! with its carrier and tracking, then delivered. Each step is one unit of work on the locked
//! order, audited with who did it; a step already taken is refused in words and changes nothing
//! (so a second "ship" queues no second email). Shipping queues the shipping notice in the outbox
//! under the order's key, so it is sent once whatever happens next.

use serde_json::json;

use crate::domain::status::{DisputeStatus, FulfilmentStatus, OrderStatus, OutboxKind};
use crate::store::{AuditEntry, OrderDelivery, Store, StoreError};

/// What an operator typed to ship an order.
#[derive(Clone, Debug)]
pub struct Shipment<'a> {
    pub carrier: &'a str,
    pub tracking_code: &'a str,
    pub tracking_url: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum FulfilmentError {
    #[error("there is no order #{0}")]
    NoOrder(i64),
    #[error("order #{number} was already shipped ({carrier} {tracking}): nothing was changed and no email was sent")]
    AlreadyShipped {
        number: i64,
        carrier: String,
        tracking: String,
    },
    #[error("order #{0} was refunded: it is not to be shipped")]
    Refunded(i64),
    #[error(
        "order #{0} was charged back (its payment's dispute was lost): it is not to be shipped"
    )]
    ChargedBack(i64),
    #[error("order #{0} has not been shipped: mark it shipped first")]
    NotShipped(i64),
    #[error("order #{0} was already marked delivered")]
    AlreadyDelivered(i64),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Shipment<'_> {
    fn check(&self) -> Result<(), FulfilmentError> {
        // What the shipping email and the order page show: no control character, line separator
        // or bidirectional override, as for the catalog's names.
        let text_ok = |t: &str| {
            let t = t.trim();
            !t.is_empty()
                && t.chars().count() <= 100
                && crate::domain::text::no_control_characters("", t, "").is_ok()
        };
        if !text_ok(self.carrier) {
            return Err(FulfilmentError::Invalid(
                "the carrier must be 1 to 100 characters".into(),
            ));
        }
        if !text_ok(self.tracking_code) {
            return Err(FulfilmentError::Invalid(
                "the tracking code must be 1 to 100 characters".into(),
            ));
        }
        if let Some(url) = self.tracking_url {
            if url.len() > 500 {
                return Err(FulfilmentError::Invalid(
                    "the tracking URL must be at most 500 characters".into(),
                ));
            }
            let ok = (url.starts_with("https://") || url.starts_with("http://"))
                && !url.chars().any(|c| c.is_whitespace() || c.is_control());
            if !ok {
                return Err(FulfilmentError::Invalid(
                    "the tracking URL must be an http(s):// address".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Marks order `number` shipped and, when `notify` (mail is on), queues its shipping email.
pub async fn ship(
    store: &Store,
    number: i64,
    shipment: &Shipment<'_>,
    notify: bool,
    actor: &str,
    now: i64,
) -> Result<OrderDelivery, FulfilmentError> {
    shipment.check()?;
    let carrier = shipment.carrier.trim();
    let tracking = shipment.tracking_code.trim();
    store
        .write(async |tx| {
            let order = tx
                .order_delivery_for_update(number)
                .await?
                .ok_or(FulfilmentError::NoOrder(number))?;
            if order.status == OrderStatus::Refunded {
                return Err(FulfilmentError::Refunded(number));
            }
            // An open dispute may be answered with the parcel's tracking: it ships. A lost one
            // gave the money back.
            if order.dispute == Some(DisputeStatus::Lost) {
                return Err(FulfilmentError::ChargedBack(number));
            }
            if order.fulfilment != FulfilmentStatus::Unfulfilled
                || !tx
                    .mark_shipped(&order.id, carrier, tracking, shipment.tracking_url, now)
                    .await?
            {
                return Err(FulfilmentError::AlreadyShipped {
                    number,
                    carrier: order.carrier.unwrap_or_default(),
                    tracking: order.tracking_code.unwrap_or_default(),
                });
            }
            tx.audit(
                AuditEntry {
                    actor,
                    action: "order.shipped",
                    entity_type: "order",
                    entity_id: &order.id,
                    before: Some(json!({ "fulfilment": order.fulfilment })),
                    after: Some(json!({
                        "fulfilment": FulfilmentStatus::Shipped, "carrier": carrier,
                        "tracking_code": tracking, "tracking_url": shipment.tracking_url,
                    })),
                    message: format!(
                        "Order #{number} marked shipped by {actor}: {carrier} {tracking}{}",
                        if notify {
                            "; shipping email queued"
                        } else {
                            " (mail is off: no email)"
                        }
                    ),
                },
                now,
            )
            .await?;
            if notify {
                tx.enqueue(
                    OutboxKind::ShippingNotice,
                    &order.id,
                    &json!({ "order_id": order.id }),
                    now,
                )
                .await?;
            }
            let mut shipped = order;
            shipped.fulfilment = FulfilmentStatus::Shipped;
            shipped.carrier = Some(carrier.to_string());
            shipped.tracking_code = Some(tracking.to_string());
            shipped.tracking_url = shipment.tracking_url.map(str::to_string);
            Ok(shipped)
        })
        .await
}

/// Marks shipped order `number` delivered.
pub async fn deliver(
    store: &Store,
    number: i64,
    actor: &str,
    now: i64,
) -> Result<OrderDelivery, FulfilmentError> {
    store
        .write(async |tx| {
            let mut order = tx
                .order_delivery_for_update(number)
                .await?
                .ok_or(FulfilmentError::NoOrder(number))?;
            match order.fulfilment {
                FulfilmentStatus::Unfulfilled => return Err(FulfilmentError::NotShipped(number)),
                FulfilmentStatus::Delivered => {
                    return Err(FulfilmentError::AlreadyDelivered(number))
                }
                FulfilmentStatus::Shipped => {}
            }
            if !tx.mark_delivered(&order.id, now).await? {
                return Err(FulfilmentError::AlreadyDelivered(number));
            }
            tx.audit(
                AuditEntry {
                    actor,
                    action: "order.delivered",
                    entity_type: "order",
                    entity_id: &order.id,
                    before: Some(json!({ "fulfilment": order.fulfilment })),
                    after: Some(json!({ "fulfilment": FulfilmentStatus::Delivered })),
                    message: format!("Order #{number} marked delivered by {actor}"),
                },
                now,
            )
            .await?;
            order.fulfilment = FulfilmentStatus::Delivered;
            Ok(order)
        })
        .await
}
