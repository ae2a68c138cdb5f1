//! Who hears of a new order: the customer (the confirmation email, through the outbox), or, when
//! the order needs attention, the operators (an alert) and, by policy, Stripe (a refund, through
//! the outbox).

use serde_json::json;

use super::record::{created_sentence, Recorded};
use super::{Paid, Policy};
use crate::domain::lifecycle::{Attention, HoldState};
use crate::domain::money::format_amount;
use crate::domain::status::OutboxKind;
use crate::store::{Hold, NewAlert, Severity, StoreError, Tx};

/// Queues what the order calls for; returns what to add to the order's audit sentence.
pub(super) async fn notify(
    tx: &mut Tx,
    policy: Policy,
    hold: &Hold,
    paid: &Paid<'_>,
    order: &Recorded,
    attention: Option<Attention>,
    now: i64,
) -> Result<String, StoreError> {
    let o = &order.summary;
    let Some(reason) = attention else {
        if policy.mail_on {
            tx.enqueue(
                OutboxKind::OrderConfirmation,
                &o.id,
                &json!({ "order_id": o.id }),
                now,
            )
            .await?;
        }
        let retaken = if HoldState::from(hold.status) == HoldState::Released {
            ": its hold had been released, and the stock was taken again"
        } else {
            ""
        };
        let mail = if policy.mail_on {
            ""
        } else {
            " (mail is off: no confirmation email)"
        };
        return Ok(format!("{retaken}{mail}"));
    };
    let refund = reason == Attention::PaidWithoutStock && policy.refund_unfulfillable;
    let why = match reason {
        Attention::AmountMismatch => format!(
            "Stripe collected {} but the hold priced {}{}",
            format_amount(paid.amount, paid.currency),
            format_amount(hold.amount_total, &hold.currency),
            match o.amount_total - hold.amount_total {
                0 => String::new(),
                shipping => format!(" plus {} shipping", format_amount(shipping, &hold.currency)),
            }
        ),
        Attention::PaidWithoutStock => format!(
            "paid after its hold was released, and the stock is gone{}",
            if refund {
                "; a refund is requested"
            } else {
                "; ship it or refund it"
            }
        ),
    };
    let said = format!(", needs attention: {why}");
    tx.raise_alert(
        &NewAlert {
            kind: reason.into(),
            severity: Severity::Critical,
            message: format!("{}{said}", created_sentence(o.number, paid)),
            entity: Some(("order", &o.id)),
            dedup_key: format!("{}:{}", reason.as_str(), o.id),
        },
        now,
    )
    .await?;
    if refund {
        // Sent by the outbox worker after the commit (`outbox::refund`), retried until Stripe
        // answers; one idempotency key per order makes it one refund.
        tx.enqueue(
            OutboxKind::StripeRefund,
            &o.id,
            &json!({ "order_id": o.id, "number": o.number, "payment_intent": paid.payment_intent_id }),
            now,
        )
        .await?;
    }
    Ok(said)
}
