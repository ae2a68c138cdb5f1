//! Writing a new order: the order with the hold's items at the hold's prices, its payment, and
//! the audit sentence (the hold was linked to the payment when it was converted).

use serde_json::json;

use super::Paid;
use crate::domain::lifecycle::Attention;
use crate::domain::money::format_amount;
use crate::domain::status::OrderStatus;
use crate::store::{AuditEntry, Hold, NewOrder, NewPayment, OrderSummary, StoreError, Tx};

/// An order just written.
pub(super) struct Recorded {
    pub summary: OrderSummary,
}

pub(super) async fn record(
    tx: &mut Tx,
    hold: &Hold,
    paid: &Paid<'_>,
    attention: Option<Attention>,
    amount_shipping: i64,
    now: i64,
) -> Result<Recorded, StoreError> {
    let amount_total = hold.amount_total + amount_shipping;
    let order_id = format!("ord_{}", uuid::Uuid::now_v7().simple());
    let payment_id = format!("pay_{}", uuid::Uuid::now_v7().simple());
    let number = tx
        .insert_order(
            &NewOrder {
                id: &order_id,
                hold_id: &hold.id,
                customer_id: &hold.customer_id,
                email: paid.email,
                attention_reason: attention.map(Attention::as_str),
                amount_total,
                currency: &hold.currency,
                payment: NewPayment {
                    id: &payment_id,
                    payment_intent_id: paid.payment_intent_id,
                    checkout_session_id: paid
                        .checkout_session_id
                        .or(hold.checkout_session_id.as_deref()),
                    amount: paid.amount,
                    currency: paid.currency,
                },
            },
            now,
        )
        .await?;
    if let Some(session) = paid.session {
        tx.set_order_shipping(&order_id, &super::shipping::recorded(hold, session), now)
            .await?;
    }
    // A payment that failed first and succeeded after all is no longer a problem to look at.
    tx.resolve_payment_failed(&hold.id, now).await?;
    Ok(Recorded {
        summary: OrderSummary {
            id: order_id,
            number,
            status: if attention.is_some() {
                OrderStatus::NeedsAttention
            } else {
                OrderStatus::Paid
            },
            attention_reason: attention.map(|a| a.as_str().to_string()),
            email: paid.email.map(str::to_string),
            amount_total,
            currency: hold.currency.clone(),
        },
    })
}

/// "Order #123 created after Stripe payment pi_… (12,00 €)", and what [`super::notify`] said.
pub(super) async fn audit(
    tx: &mut Tx,
    hold: &Hold,
    paid: &Paid<'_>,
    order: &Recorded,
    said: &str,
    actor: &str,
    now: i64,
) -> Result<(), StoreError> {
    let o = &order.summary;
    tx.audit(
        AuditEntry {
            actor,
            action: "order.created",
            entity_type: "order",
            entity_id: &o.id,
            before: Some(json!({ "hold": hold.id, "hold_status": hold.status })),
            after: Some(json!({
                "number": o.number, "status": o.status, "attention_reason": o.attention_reason,
                "payment_intent": paid.payment_intent_id, "amount": paid.amount, "currency": paid.currency,
            })),
            message: format!("{}{said}", created_sentence(o.number, paid)),
        },
        now,
    )
    .await
}

/// The first words of the order's audit sentence and alert.
pub(super) fn created_sentence(number: i64, paid: &Paid<'_>) -> String {
    format!(
        "Order #{number} created after Stripe payment {} ({})",
        paid.payment_intent_id,
        format_amount(paid.amount, paid.currency)
    )
}
