//! What reaches the operators after a payment (DESIGN.md 1.12), inside the inbox's transaction:
//! - `charge.dispute.created`: the order is disputed, and a critical `dispute_opened` alert says
//!   the amount, Stripe's reason and the date evidence is due by;
//! - `charge.dispute.closed`: won or lost is recorded on the order, and a lost one raises a
//!   critical `dispute_lost` alert;
//! - `refund.failed`, or `charge.refund.updated` with status `failed`: the refund Stripe gave up
//!   is taken off the payment's refunded amount, with a `refund_failed` alert. The alert's unique
//!   key (the refund's id) is what makes the two events of one failure lower it once, and the
//!   failure's time kept on the payment makes a `charge.refunded` Stripe wrote before it (a late
//!   delivery) leave the amount alone (`webhooks::dispatch`).

use caisse_stripe::objects::{Dispute, Refund};
use jiff::tz::TimeZone;
use serde_json::json;

use super::dispatch::Outcome;
use super::InboxError;
use crate::domain::local_time::local_time;
use crate::domain::money::format_amount;
use crate::domain::status::{AlertKind, DisputeStatus};
use crate::store::{AuditEntry, NewAlert, PaymentRow, Severity, StoreError, Tx};

/// Who acts and when (`created`: the event's time at Stripe).
pub(super) struct Act<'a> {
    pub actor: &'a str,
    pub now: i64,
    pub created: i64,
    /// The shop's time zone, that the evidence's due date is written in.
    pub zone: &'a TimeZone,
}

async fn payment(tx: &mut Tx, pi: Option<&str>) -> Result<Option<PaymentRow>, StoreError> {
    match pi {
        Some(pi) => tx.payment_by_intent_for_update(pi).await,
        None => Ok(None),
    }
}

fn not_ours(what: &str, pi: Option<&str>) -> Outcome {
    Outcome::Ignored(format!(
        "{what}: no payment of caisse's has PaymentIntent {}",
        pi.unwrap_or("(none)")
    ))
}

pub(super) async fn opened(tx: &mut Tx, act: Act<'_>, d: &Dispute) -> Result<Outcome, InboxError> {
    let pi = d.payment_intent.as_deref();
    let Some(payment) = payment(tx, pi).await? else {
        return Ok(not_ours(&format!("dispute {}", d.id), pi));
    };
    let number = tx.order_number(&payment.order_id).await?;
    tx.set_order_dispute(&payment.order_id, DisputeStatus::Open, act.now)
        .await?;
    let due = d
        .evidence_details
        .as_ref()
        .and_then(|e| e.due_by)
        .map_or("unknown".to_string(), |t| local_time(t, act.zone));
    let message = format!(
        "Order #{number} is disputed: {} (reason: {}); evidence is due by {due} (Stripe dispute {}, payment {})",
        format_amount(d.amount, &d.currency),
        d.reason.as_deref().unwrap_or("not given"),
        d.id,
        pi.unwrap_or_default(),
    );
    tx.raise_alert(
        &NewAlert {
            kind: AlertKind::DisputeOpened,
            severity: Severity::Critical,
            message: message.clone(),
            entity: Some(("order", &payment.order_id)),
            dedup_key: format!("dispute_opened:{}", d.id),
        },
        act.now,
    )
    .await?;
    tx.audit(
        AuditEntry {
            actor: act.actor,
            action: "order.disputed",
            entity_type: "order",
            entity_id: &payment.order_id,
            before: None,
            after: Some(json!({ "dispute": DisputeStatus::Open, "dispute_id": d.id, "amount": d.amount, "reason": d.reason })),
            message,
        },
        act.now,
    )
    .await?;
    Ok(Outcome::Processed(format!("order #{number} disputed")))
}

pub(super) async fn closed(tx: &mut Tx, act: Act<'_>, d: &Dispute) -> Result<Outcome, InboxError> {
    let outcome = match d.status.as_deref() {
        Some("won") => DisputeStatus::Won,
        Some("lost") => DisputeStatus::Lost,
        other => {
            return Ok(Outcome::Ignored(format!(
                "dispute {} closed as {}",
                d.id,
                other.unwrap_or("(no status)")
            )))
        }
    };
    let pi = d.payment_intent.as_deref();
    let Some(payment) = payment(tx, pi).await? else {
        return Ok(not_ours(&format!("dispute {}", d.id), pi));
    };
    let number = tx.order_number(&payment.order_id).await?;
    tx.set_order_dispute(&payment.order_id, outcome, act.now)
        .await?;
    let message = format!(
        "Order #{number}: dispute {} closed {outcome} ({})",
        d.id,
        format_amount(d.amount, &d.currency)
    );
    if outcome == DisputeStatus::Lost {
        tx.raise_alert(
            &NewAlert {
                kind: AlertKind::DisputeLost,
                severity: Severity::Critical,
                message: format!("{message}: the money went back to the customer"),
                entity: Some(("order", &payment.order_id)),
                dedup_key: format!("dispute_lost:{}", d.id),
            },
            act.now,
        )
        .await?;
    }
    tx.audit(
        AuditEntry {
            actor: act.actor,
            action: "order.dispute_closed",
            entity_type: "order",
            entity_id: &payment.order_id,
            before: Some(json!({ "dispute": DisputeStatus::Open })),
            after: Some(json!({ "dispute": outcome, "dispute_id": d.id })),
            message,
        },
        act.now,
    )
    .await?;
    Ok(Outcome::Processed(format!(
        "order #{number}: dispute {outcome}"
    )))
}

pub(super) async fn refund_failed(
    tx: &mut Tx,
    act: Act<'_>,
    r: &Refund,
) -> Result<Outcome, InboxError> {
    if r.status.as_deref() != Some("failed") {
        return Ok(Outcome::Ignored(format!(
            "refund {} is {}",
            r.id,
            r.status.as_deref().unwrap_or("(no status)")
        )));
    }
    let pi = r.payment_intent.as_deref();
    let Some(payment) = payment(tx, pi).await? else {
        return Ok(not_ours(&format!("refund {}", r.id), pi));
    };
    let number = tx.order_number(&payment.order_id).await?;
    let left = (payment.amount_refunded - r.amount).max(0);
    let message = format!(
        "Order #{number}: Stripe failed refund {} of {} ({}); the refunded amount goes back from {} to {}",
        r.id,
        format_amount(r.amount, &r.currency),
        r.failure_reason.as_deref().unwrap_or("no reason given"),
        format_amount(payment.amount_refunded, &payment.currency),
        format_amount(left, &payment.currency),
    );
    let first = tx
        .raise_alert(
            &NewAlert {
                kind: AlertKind::RefundFailed,
                severity: Severity::Critical,
                message: message.clone(),
                entity: Some(("order", &payment.order_id)),
                dedup_key: format!("refund_failed:{}", r.id),
            },
            act.now,
        )
        .await?;
    if !first {
        return Ok(Outcome::Processed(format!(
            "the failure of refund {} is already recorded",
            r.id
        )));
    }
    tx.lower_refund(&payment, r.amount, act.created, act.now)
        .await?;
    tx.audit(
        AuditEntry {
            actor: act.actor,
            action: "payment.refund_failed",
            entity_type: "order",
            entity_id: &payment.order_id,
            before: Some(
                json!({ "amount_refunded": payment.amount_refunded, "status": payment.status }),
            ),
            after: Some(json!({ "amount_refunded": left, "refund": r.id })),
            message,
        },
        act.now,
    )
    .await?;
    Ok(Outcome::Processed(format!(
        "order #{number}: refund {} failed, refunded amount lowered",
        r.id
    )))
}
