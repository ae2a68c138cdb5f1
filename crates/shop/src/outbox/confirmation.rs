//! The order confirmation email, sent by the outbox worker after the order's commit.

use super::order_email::{self, OrderRef};
use super::Attempt;
use crate::app::App;
use crate::email::{self, SendError};
use crate::store::{OutboxRow, StoreError};

pub async fn send(app: &App, row: &OutboxRow) -> Attempt {
    let payload: serde_json::Value = serde_json::from_str(&row.payload).unwrap_or_default();
    let order_id = payload["order_id"].as_str().unwrap_or_default();
    let loaded = async {
        let order = app.store.order(order_id).await?;
        let lines = app.store.order_lines(order_id).await?;
        let delivery = app.store.order_delivery(order_id).await?;
        Ok::<_, StoreError>((order, lines, delivery))
    };
    let (order, lines, delivery) = match loaded.await {
        Ok((Some(order), lines, delivery)) => (order, lines, delivery),
        Ok((None, _, _)) => {
            return Attempt::Failed(SendError::Permanent(format!("no order {order_id}")))
        }
        Err(e) => return Attempt::Failed(SendError::Temporary(e.to_string())),
    };
    // A confirmation sent again (the dashboard's "Resend") is a file of its own: the first one's
    // stays as it was.
    let file = if row.dedup_key.contains(":resend:") {
        format!("order-{}-{}-resent-{}", order.number, order.id, row.id)
    } else {
        format!("order-{}-{}", order.number, order.id)
    };
    let message = email::confirmation::message(&app.config.mail, &order, &lines, delivery.as_ref());
    order_email::send(
        app,
        row,
        message,
        &file,
        OrderRef {
            id: &order.id,
            number: order.number,
        },
        "Confirmation email",
    )
    .await
}
