//! Refunds caisse asks Stripe for on its own: a payment that arrived after its hold was released
//! and found the stock gone, when `CAISSE_REFUND_UNFULFILLABLE=true`.
//!
//! The request is an outbox row written in the fulfilment's transaction, so a crash between the
//! commit and the call to Stripe loses nothing: the inbox tries it right after the commit, and the
//! background worker retries what is still due. The Stripe call carries one idempotency key per
//! order, so two workers (two instances) asking at once make one refund.

use serde_json::json;

use crate::app::App;
use crate::domain::money::format_amount;
use crate::store::{AuditEntry, NewAlert, OrderSummary, OutboxRow, Severity, StoreError, Tx};

pub const KIND: &str = "stripe_refund";

/// Attempts before a refund is left to the operators (alert `refund_failed`).
const MAX_ATTEMPTS: i64 = 8;

/// Queues a full refund of `order`'s payment, in the caller's transaction.
pub async fn queue(
    tx: &mut Tx,
    order: &OrderSummary,
    payment_intent: &str,
    now: i64,
) -> Result<(), StoreError> {
    tx.enqueue(
        KIND,
        &format!("{KIND}:{}", order.id),
        &json!({ "order_id": order.id, "number": order.number, "payment_intent": payment_intent }),
        now,
    )
    .await
    .map(|_| ())
}

/// Asks Stripe for every refund that is due. Errors are logged: the rows stay due.
pub async fn run_due(app: &App, now: i64) {
    let due = match app.store.outbox_due(KIND, now, 20).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the refunds to request");
            return;
        }
    };
    for row in due {
        if let Err(e) = request(app, &row, now).await {
            tracing::warn!(error = %e, outbox = row.id, "cannot record a refund attempt");
        }
    }
}

async fn request(app: &App, row: &OutboxRow, now: i64) -> Result<(), StoreError> {
    let payload: serde_json::Value = serde_json::from_str(&row.payload).unwrap_or_default();
    let text = |k: &str| payload[k].as_str().unwrap_or_default().to_string();
    let (order_id, pi) = (text("order_id"), text("payment_intent"));
    let number = payload["number"].as_i64().unwrap_or_default();
    let result = app
        .stripe
        .create_refund(&pi, None, &format!("caisse-{order_id}-refund"))
        .await;
    let mut tx = app.store.begin().await?;
    match result {
        Ok(refund) => {
            if tx.outbox_sent(row.id, now).await? {
                tx.audit(
                    AuditEntry {
                        actor: "system:refunds",
                        action: "refund.requested",
                        entity_type: "order",
                        entity_id: &order_id,
                        before: None,
                        after: Some(json!({ "refund": refund.id, "amount": refund.amount })),
                        message: format!(
                            "Refund {} of {} requested for order #{number} (paid without stock, payment {pi})",
                            refund.id,
                            format_amount(refund.amount, &refund.currency)
                        ),
                    },
                    now,
                )
                .await?;
            }
        }
        Err(e) => {
            let attempts = row.attempts + 1;
            let give_up = !e.is_transient() || attempts >= MAX_ATTEMPTS;
            // 30 s, 1 min, 2 min … capped at an hour.
            let retry_at = (!give_up).then(|| now + (30i64 << (attempts - 1).min(7)).min(3600));
            if tx
                .outbox_attempt_failed(row.id, &e.to_string(), retry_at)
                .await?
                && give_up
            {
                tx.raise_alert(
                    &NewAlert {
                        kind: "refund_failed",
                        severity: Severity::Critical,
                        message: format!(
                            "Stripe refused the refund of order #{number} (payment {pi}): {e}; refund it by hand"
                        ),
                        entity: Some(("order", &order_id)),
                        dedup_key: format!("refund_failed:{order_id}"),
                    },
                    now,
                )
                .await?;
            }
        }
    }
    tx.commit().await
}
