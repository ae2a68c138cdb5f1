//! The shipping notice, sent by the outbox worker after the "ship" that queued it committed.

use super::order_email::{self, OrderRef};
use super::Attempt;
use crate::app::App;
use crate::email::{self, SendError};
use crate::store::OutboxRow;

pub async fn send(app: &App, row: &OutboxRow) -> Attempt {
    let payload: serde_json::Value = serde_json::from_str(&row.payload).unwrap_or_default();
    let order_id = payload["order_id"].as_str().unwrap_or_default();
    let delivery = match app.store.order_delivery(order_id).await {
        Ok(Some(d)) => d,
        Ok(None) => return Attempt::Failed(SendError::Permanent(format!("no order {order_id}"))),
        Err(e) => return Attempt::Failed(SendError::Temporary(e.to_string())),
    };
    let file = format!("shipped-{}-{}", delivery.number, delivery.id);
    let message = email::shipped::message(&app.config.mail, &delivery);
    order_email::send(
        app,
        row,
        message,
        &file,
        OrderRef {
            id: &delivery.id,
            number: delivery.number,
        },
        "Shipping email",
    )
    .await
}
