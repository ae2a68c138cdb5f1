//! Fulfilment: the one function every "paid" path calls (`payment_intent.succeeded`, a paid
//! `checkout.session.completed`, `checkout.session.async_payment_succeeded`, and later the
//! reconciler). It runs inside the caller's transaction, on a hold the caller has locked, and is
//! idempotent: whichever event comes first creates the order, the others find it done.
//!
//! In that one transaction: the order (sequential number) with the hold's items at the hold's
//! prices, its payment, the stock taken for good, the hold `converted`, one confirmation email in
//! the outbox and the audit sentence. Nothing here calls Stripe: a refund of an unfulfillable
//! payment is an outbox message too, sent after the commit.

use serde_json::json;

use crate::config::WebhookConfig;
use crate::domain::lifecycle::{self, Attention, Decision, HoldState, Signal};
use crate::domain::money::format_amount;
use crate::store::{
    AuditEntry, Hold, NewAlert, NewOrder, NewPayment, OrderSummary, Severity, StoreError, Tx,
};

/// What Stripe says was paid, from a verified event.
#[derive(Clone, Debug)]
pub struct Paid<'a> {
    pub payment_intent_id: &'a str,
    pub checkout_session_id: Option<&'a str>,
    pub amount: i64,
    pub currency: &'a str,
    /// The best address the caller has: the session's `customer_details.email`, else the hold's,
    /// else the PaymentIntent's `receipt_email`.
    pub email: Option<&'a str>,
}

/// What fulfilment did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fulfilment {
    Created(OrderSummary),
    AlreadyDone(OrderSummary),
    /// The PaymentIntent already paid another hold's order: nothing is done.
    PaymentTaken {
        order_id: String,
    },
}

/// The confirmation email's outbox kind; its key is the order id, so an order gets one.
pub const CONFIRMATION_EMAIL: &str = "order_confirmation";

pub async fn fulfil(
    tx: &mut Tx,
    policy: &WebhookConfig,
    hold: &Hold,
    paid: &Paid<'_>,
    actor: &str,
    now: i64,
) -> Result<Fulfilment, StoreError> {
    let existing = tx.order_for_hold_tx(&hold.id).await?;
    let state = HoldState::parse(&hold.status).ok_or_else(|| StoreError::Database {
        message: format!("hold {} has an unknown status", hold.id),
    })?;
    if existing.is_none() {
        if let Some(taken) = tx
            .payment_by_intent_for_update(paid.payment_intent_id)
            .await?
        {
            return Ok(Fulfilment::PaymentTaken {
                order_id: taken.order_id,
            });
        }
    }
    let decision = lifecycle::decide(state, existing.is_some(), Signal::Paid);
    let stock_taken = match decision {
        Decision::FulfilFromHold => tx.convert_active_hold(&hold.id, now).await?,
        Decision::FulfilAfterRelease => tx.convert_released_hold(&hold.id, now).await?,
        _ => {
            let Some(mut order) = existing else {
                return Err(StoreError::Database {
                    message: format!("hold {} is converted but has no order", hold.id),
                });
            };
            if let Some(email) = paid.email {
                if tx.set_order_email_if_missing(&order.id, email, now).await? {
                    order.email = Some(email.to_string());
                }
            }
            // The second signal of one payment may be the first to name the session (the
            // PaymentIntent came first, for a hold whose session caisse never heard of): the
            // success page finds the order by it.
            tx.link_hold(&hold.id, paid.checkout_session_id, None, None, now)
                .await?;
            return Ok(Fulfilment::AlreadyDone(order));
        }
    };
    let amount_ok = lifecycle::amount_matches(
        (hold.amount_total, &hold.currency),
        (paid.amount, paid.currency),
    );
    let attention = lifecycle::order_status(amount_ok, stock_taken);

    let order_id = format!("ord_{}", uuid::Uuid::now_v7().simple());
    let payment_id = format!("pay_{}", uuid::Uuid::now_v7().simple());
    let items = tx.hold_items_tx(&hold.id).await?;
    let email = paid.email;
    let number = tx
        .insert_order(
            &NewOrder {
                id: &order_id,
                hold_id: &hold.id,
                customer_id: &hold.customer_id,
                email,
                attention_reason: attention.map(Attention::as_str),
                amount_total: hold.amount_total,
                currency: &hold.currency,
                items: &items,
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
    tx.link_hold(
        &hold.id,
        paid.checkout_session_id,
        Some(paid.payment_intent_id),
        email,
        now,
    )
    .await?;

    let received = format_amount(paid.amount, paid.currency);
    let mut message = format!(
        "Order #{number} created after Stripe payment {} ({received})",
        paid.payment_intent_id
    );
    match attention {
        None => {
            tx.enqueue(
                CONFIRMATION_EMAIL,
                &format!("{CONFIRMATION_EMAIL}:{order_id}"),
                &json!({ "order_id": order_id }),
                now,
            )
            .await?;
            if state == HoldState::Released {
                message.push_str(": its hold had been released, and the stock was taken again");
            }
        }
        Some(reason) => {
            let expected = format_amount(hold.amount_total, &hold.currency);
            let why = match reason {
                Attention::AmountMismatch => {
                    format!("Stripe collected {received} but the hold priced {expected}")
                }
                Attention::PaidWithoutStock => format!(
                    "paid after its hold was released, and the stock is gone{}",
                    if policy.refund_unfulfillable {
                        "; a refund is requested"
                    } else {
                        "; ship it or refund it"
                    }
                ),
            };
            message.push_str(&format!(", needs attention: {why}"));
            tx.raise_alert(
                &NewAlert {
                    kind: reason.as_str(),
                    severity: Severity::Critical,
                    message: message.clone(),
                    entity: Some(("order", &order_id)),
                    dedup_key: format!("{}:{order_id}", reason.as_str()),
                },
                now,
            )
            .await?;
        }
    }
    let status = if attention.is_some() {
        "needs_attention"
    } else {
        "paid"
    };
    tx.audit(
        AuditEntry {
            actor,
            action: "order.created",
            entity_type: "order",
            entity_id: &order_id,
            before: Some(json!({ "hold": hold.id, "hold_status": hold.status })),
            after: Some(json!({
                "number": number, "status": status, "attention_reason": attention.map(Attention::as_str),
                "payment_intent": paid.payment_intent_id, "amount": paid.amount, "currency": paid.currency,
            })),
            message,
        },
        now,
    )
    .await?;
    if attention == Some(Attention::PaidWithoutStock) && policy.refund_unfulfillable {
        crate::refunds::queue(tx, &order_id, number, paid.payment_intent_id, now).await?;
    }
    if decision == Decision::FulfilFromHold && stock_taken {
        tx.sell_reserved(&items, now).await?;
    }
    metrics::counter!("caisse_orders_total", "status" => status).increment(1);
    Ok(Fulfilment::Created(OrderSummary {
        id: order_id,
        number,
        status: status.to_string(),
        attention_reason: attention.map(|a| a.as_str().to_string()),
        email: email.map(str::to_string),
        amount_total: hold.amount_total,
        currency: hold.currency.clone(),
    }))
}
