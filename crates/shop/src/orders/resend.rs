//! "Resend confirmation email" on an order's dashboard page: a new `order_confirmation` message in
//! the outbox, keyed by the order and the form's own token, so that one form sent twice (a double
//! click, a reload) queues one email and a later form another. Audited with who asked.

use serde_json::json;

use super::FulfilmentError;
use crate::domain::status::{OrderStatus, OutboxKind};
use crate::store::{AuditEntry, Store};

pub async fn resend_confirmation(
    store: &Store,
    number: i64,
    form_token: &str,
    actor: &str,
    now: i64,
) -> Result<bool, FulfilmentError> {
    // Only a token the dashboard made (43 URL-safe characters) names a form.
    let well_formed = form_token.len() == 43
        && form_token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(FulfilmentError::Invalid(
            "this form is out of date; reload the order page".into(),
        ));
    }
    store
        .write(async |tx| {
            let order = tx
                .order_delivery_for_update(number)
                .await?
                .ok_or(FulfilmentError::NoOrder(number))?;
            if order.status == OrderStatus::NeedsAttention {
                return Err(FulfilmentError::Invalid(format!(
                    "order #{number} needs attention: it was never confirmed to the customer"
                )));
            }
            if order.status == OrderStatus::Refunded {
                return Err(FulfilmentError::Invalid(format!(
                    "order #{number} was refunded: a confirmation would tell the customer otherwise"
                )));
            }
            if order.email.is_none() {
                return Err(FulfilmentError::Invalid(format!(
                    "order #{number} has no email address"
                )));
            }
            let queued = tx
                .enqueue(
                    OutboxKind::OrderConfirmation,
                    &format!("{}:resend:{form_token}", order.id),
                    &json!({ "order_id": order.id }),
                    now,
                )
                .await?;
            if queued {
                tx.audit(
                    AuditEntry {
                        actor,
                        action: "email.resend_requested",
                        entity_type: "order",
                        entity_id: &order.id,
                        before: None,
                        after: None,
                        message: format!(
                            "Confirmation email of order #{number} sent again at {actor}'s request"
                        ),
                    },
                    now,
                )
                .await?;
            }
            Ok(queued)
        })
        .await
}
