//! The refund notice, sent by the outbox worker after the `charge.refunded` that queued it.

use serde_json::json;

use super::{Attempt, Audit};
use crate::app::App;
use crate::email::{self, SendError};
use crate::store::OutboxRow;

pub async fn send(app: &App, row: &OutboxRow) -> Attempt {
    let payload: serde_json::Value = serde_json::from_str(&row.payload).unwrap_or_default();
    let order_id = payload["order_id"].as_str().unwrap_or_default();
    let amount = payload["amount"].as_i64().unwrap_or_default();
    let order = match app.store.order_delivery(order_id).await {
        Ok(Some(d)) => d,
        Ok(None) => return Attempt::Failed(SendError::Permanent(format!("no order {order_id}"))),
        Err(e) => return Attempt::Failed(SendError::Temporary(e.to_string())),
    };
    let message = match email::refunded::message(&app.config.mail, &order, amount, row.id) {
        Ok(m) => m,
        Err(e) => return Attempt::Failed(e),
    };
    let file = format!("refunded-{}-{}-{}", order.number, order.id, row.id);
    match app.mailer.send(message, &file).await {
        Ok(()) => {
            metrics::counter!("caisse_emails_sent_total").increment(1);
            Attempt::Done(Some(Audit {
                action: "email.sent",
                entity_type: "order",
                entity_id: order.id.clone(),
                message: format!("Refund email of order #{} sent", order.number),
                after: json!({ "outbox": row.id }),
            }))
        }
        Err(e) => Attempt::Failed(e),
    }
}
