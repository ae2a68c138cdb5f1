//! Refunds caisse asks Stripe for on its own: a payment that arrived after its hold was released
//! and found the stock gone, when `CAISSE_REFUND_UNFULFILLABLE=true`.
//!
//! The request is an outbox message written in the fulfilment's transaction, so a crash between
//! the commit and the call to Stripe loses nothing: the outbox worker sends it (woken right after
//! the commit) and retries it. The Stripe call carries one idempotency key per order, so two
//! workers asking at once make one refund.

use serde_json::json;

use super::{Attempt, Audit};
use crate::app::App;
use crate::domain::money::format_amount;
use crate::email::SendError;
use crate::store::OutboxRow;

pub async fn request(app: &App, row: &OutboxRow) -> Attempt {
    let payload: serde_json::Value = serde_json::from_str(&row.payload).unwrap_or_default();
    let text = |k: &str| payload[k].as_str().unwrap_or_default().to_string();
    let (order_id, pi) = (text("order_id"), text("payment_intent"));
    let number = payload["number"].as_i64().unwrap_or_default();
    match app
        .stripe
        .create_refund(&pi, None, None, &format!("caisse-{order_id}-refund"))
        .await
    {
        Ok(refund) => Attempt::Done(Some(Audit {
            action: "refund.requested",
            entity_type: "order",
            message: format!(
                "Refund {} of {} requested for order #{number} (paid without stock, payment {pi})",
                refund.id,
                format_amount(refund.amount, &refund.currency)
            ),
            after: json!({ "refund": refund.id, "amount": refund.amount }),
            entity_id: order_id,
        })),
        Err(e) if e.is_transient() => Attempt::Failed(SendError::Temporary(e.to_string())),
        Err(e) => Attempt::Failed(SendError::Permanent(e.to_string())),
    }
}
