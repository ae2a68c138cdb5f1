//! What each event does (DESIGN.md 1.5), inside the inbox's transaction. Every handler finds the
//! hold the event is about, locks it, and asks [`crate::domain::lifecycle`] what to do; the paid
//! paths all go through [`crate::orders::fulfil`]. Nothing here calls Stripe.

use crate::domain::status::AlertKind;
use crate::domain::text;
use caisse_stripe::objects::{Charge, CheckoutSession};
use caisse_stripe::{Event, EventObject};
use jiff::tz::TimeZone;
use serde_json::json;

use super::disputes::{self, Act};
use super::event_hold::{find_hold, intent_hold, session_hold, IntentHold};
use super::InboxError;
use crate::config::WebhookConfig;
use crate::domain::lifecycle::{self, Decision, HoldState, Signal};
use crate::domain::money::format_amount;
use crate::domain::status::{HoldStatus, OutboxKind, PaymentStatus};
use crate::holds::release::{self, Purpose};
use crate::orders::{self, Fulfilment, Paid};
use crate::store::{AuditEntry, Hold, HoldReference, NewAlert, Severity, Tx};

/// What an event did, recorded on its `webhook_events` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Applied; the text says what it did.
    Processed(String),
    /// Nothing to do for caisse, and why (unknown type or session, other livemode).
    Ignored(String),
}

/// The effect of an event, and whether it queued outbox messages (an email, a refund) for the
/// worker to send after the commit.
pub struct Effect {
    pub outcome: Outcome,
    pub outbox_queued: bool,
}

impl From<Outcome> for Effect {
    fn from(outcome: Outcome) -> Effect {
        Effect {
            outcome,
            outbox_queued: false,
        }
    }
}

fn processed(what: impl Into<String>) -> Result<Effect, InboxError> {
    Ok(Outcome::Processed(what.into()).into())
}

pub(super) fn ignored(why: impl Into<String>) -> Result<Effect, InboxError> {
    Ok(Outcome::Ignored(why.into()).into())
}

/// What an event's effect depends on besides the database: the keys' mode and the shop's
/// webhook policies. Plain data, read before the transaction.
pub struct Policy<'a> {
    /// caisse runs with live keys.
    pub live: bool,
    pub webhooks: &'a WebhookConfig,
    /// What a new order may set going (a refund, the customer's emails); its `mail_on` also
    /// says whether a refund Stripe confirms queues its email.
    pub orders: orders::Policy,
    /// The zone dates in audit sentences and alerts are written in.
    pub time_zone: &'a TimeZone,
}

/// One event's handling: the policy, the transaction, who acts (`webhook:evt_…`) and when.
pub(super) struct Ctx<'a> {
    pub(super) policy: &'a Policy<'a>,
    pub(super) tx: &'a mut Tx,
    pub(super) event: &'a Event,
    pub(super) actor: String,
    pub(super) now: i64,
}

impl<'a> Ctx<'a> {
    /// The transaction, and who acts and when, for the disputes' handlers.
    fn tx_and_act(&mut self) -> (&mut Tx, Act<'_>) {
        let act = Act {
            actor: &self.actor,
            now: self.now,
            created: self.event.created,
            zone: self.policy.time_zone,
        };
        (self.tx, act)
    }
}

pub async fn apply(
    policy: &Policy<'_>,
    tx: &mut Tx,
    event: &Event,
    object: Result<EventObject, String>,
    now: i64,
) -> Result<Effect, InboxError> {
    let live = policy.live;
    if event.livemode != live {
        let mode = |l: bool| if l { "live" } else { "test" };
        tx.raise_alert(
            &NewAlert {
                kind: AlertKind::LivemodeMismatch,
                severity: Severity::Warning,
                message: format!(
                    "Event {} is a {} event but caisse runs with {} keys: this endpoint is registered in the wrong Stripe mode",
                    event.id,
                    mode(event.livemode),
                    mode(live)
                ),
                entity: Some(("webhook_event", &event.id)),
                // One per day: enough to be seen, not a flood.
                dedup_key: format!("livemode_mismatch:{}", now / 86_400),
            },
            now,
        )
        .await?;
        return ignored(format!(
            "livemode {} differs from the keys' mode",
            event.livemode
        ));
    }
    let object = match object {
        Ok(o) => o,
        // The endpoint refuses these before the inbox; a replayed one fails loudly too.
        Err(why) => return Err(InboxError::Malformed(why)),
    };
    let mut cx = Ctx {
        policy,
        tx,
        event,
        actor: format!("webhook:{}", event.id),
        now,
    };
    match (event.kind.as_str(), object) {
        (
            "checkout.session.completed" | "checkout.session.async_payment_succeeded",
            EventObject::CheckoutSession(s),
        ) => session_paid(&mut cx, &s).await,
        ("checkout.session.async_payment_failed", EventObject::CheckoutSession(s)) => {
            let Some(hold) = session_hold(&mut cx, &s).await? else {
                return ignored(format!("no hold of caisse's has session {}", s.id));
            };
            let why = "the delayed payment (SEPA debit) failed";
            payment_failed(&mut cx, &hold, s.payment_intent.as_deref(), why).await
        }
        ("checkout.session.expired", EventObject::CheckoutSession(s)) => {
            let Some(hold) = session_hold(&mut cx, &s).await? else {
                return ignored(format!("no hold of caisse's has session {}", s.id));
            };
            // Expired by Stripe at `expires_at`, or by one of caisse's requests, whose key the
            // event echoes: the hold records the same reason as the request's own release.
            let key = event
                .request
                .as_ref()
                .and_then(|r| r.idempotency_key.as_deref());
            let purpose = Purpose::from_key(&hold.id, key).unwrap_or(Purpose::Expire);
            let (reason, why) = purpose.reason();
            release(&mut cx, &hold, reason, why).await
        }
        ("payment_intent.succeeded", EventObject::PaymentIntent(pi)) => {
            let hold = match intent_hold(&mut cx, &pi).await? {
                IntentHold::Own(hold) => hold,
                other => return other.ignore(&mut cx, &pi).await,
            };
            if hold.shipping_offer.is_some() {
                // The PaymentIntent knows neither the address nor the shipping: the session's
                // `checkout.session.completed` (or the reconciler, which reads the session)
                // makes this order.
                return ignored(format!(
                    "hold {} ships: its order is made from its session, which carries the address and shipping",
                    hold.id
                ));
            }
            let email = hold.email.clone().or(pi
                .receipt_email
                .clone()
                .filter(|e| crate::domain::email::is_plausible(e)));
            let paid = Paid {
                payment_intent_id: &pi.id,
                checkout_session_id: None,
                amount: pi.amount_received.unwrap_or(pi.amount),
                currency: &pi.currency,
                email: email.as_deref(),
                session: None,
            };
            fulfil(&mut cx, &hold, &paid).await
        }
        ("payment_intent.payment_failed", EventObject::PaymentIntent(pi)) => {
            let hold = match intent_hold(&mut cx, &pi).await? {
                IntentHold::Own(hold) => hold,
                other => return other.ignore(&mut cx, &pi).await,
            };
            let why = pi
                .last_payment_error
                .as_ref()
                .map(|e| {
                    let code = e.decline_code.as_deref().or(e.code.as_deref());
                    match (code, e.message.as_deref()) {
                        (Some(c), Some(m)) => format!("{m} ({c})"),
                        (Some(c), None) => c.to_string(),
                        (None, Some(m)) => m.to_string(),
                        (None, None) => "no reason given".to_string(),
                    }
                })
                .unwrap_or_else(|| "no reason given".to_string());
            let why = format!("payment {} failed: {why}", pi.id);
            payment_failed(&mut cx, &hold, Some(&pi.id), &why).await
        }
        ("payment_intent.canceled", EventObject::PaymentIntent(pi)) => {
            let hold = match intent_hold(&mut cx, &pi).await? {
                IntentHold::Own(hold) => hold,
                other => return other.ignore(&mut cx, &pi).await,
            };
            release(&mut cx, &hold, "canceled", "its PaymentIntent was canceled").await
        }
        ("charge.refunded", EventObject::Charge(charge)) => refunded(&mut cx, &charge).await,
        ("charge.dispute.created", EventObject::Dispute(d)) => {
            let (tx, act) = cx.tx_and_act();
            disputes::opened(tx, act, &d).await.map(Effect::from)
        }
        ("charge.dispute.closed", EventObject::Dispute(d)) => {
            let (tx, act) = cx.tx_and_act();
            disputes::closed(tx, act, &d).await.map(Effect::from)
        }
        ("refund.failed" | "charge.refund.updated", EventObject::Refund(r)) => {
            let (tx, act) = cx.tx_and_act();
            disputes::refund_failed(tx, act, &r).await.map(Effect::from)
        }
        (kind, _) if HANDLED.contains(&kind) => ignored(format!(
            "a {kind} event whose object is not the expected type"
        )),
        (kind, _) => ignored(format!("caisse does not act on {kind} events")),
    }
}

/// The object of an event caisse acts on, parsed and checked for what Stripe never sends (an
/// empty id, a negative amount): such an event is refused, not applied. Events caisse does not
/// act on pass whatever their object.
pub fn typed_object(event: &Event) -> Result<EventObject, String> {
    // A customer may type a NUL on Stripe's page: kept as U+FFFD, never refused (domain/text.rs).
    let object = if text::holds_nul(&event.data.object) {
        let mut clean = event.clone();
        clean.data.object = text::without_nul(&event.data.object);
        clean.object()
    } else {
        event.object()
    };
    if !HANDLED.contains(&event.kind.as_str()) {
        return Ok(object.unwrap_or(EventObject::Other));
    }
    let object = object.map_err(|e| format!("the {} object does not parse: {e}", event.kind))?;
    let id_ok = |id: &str, prefix: &str| {
        id.starts_with(prefix)
            && id.len() <= 255
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    let amount_ok = |a: Option<i64>| a.is_none_or(|a| (0..=99_999_999_999).contains(&a));
    // Stripe's currencies are three lower-case letters (ISO 4217); anything else would only be
    // refused later by the tables' checks, as a failure Stripe would retry for days.
    let currency_ok = |c: &str| c.len() == 3 && c.bytes().all(|b| b.is_ascii_lowercase());
    let valid = match &object {
        EventObject::CheckoutSession(s) => {
            id_ok(&s.id, "cs_")
                && amount_ok(s.amount_total)
                && s.currency.as_deref().is_none_or(currency_ok)
                && s.payment_intent
                    .as_deref()
                    .is_none_or(|pi| id_ok(pi, "pi_"))
        }
        EventObject::PaymentIntent(pi) => {
            id_ok(&pi.id, "pi_")
                && amount_ok(Some(pi.amount))
                && amount_ok(pi.amount_received)
                && currency_ok(&pi.currency)
        }
        EventObject::Charge(c) => {
            amount_ok(Some(c.amount))
                && amount_ok(Some(c.amount_refunded))
                && currency_ok(&c.currency)
                && c.payment_intent
                    .as_deref()
                    .is_none_or(|pi| id_ok(pi, "pi_"))
        }
        EventObject::Dispute(d) => {
            id_ok(&d.id, "dp_")
                && amount_ok(Some(d.amount))
                && currency_ok(&d.currency)
                && d.payment_intent
                    .as_deref()
                    .is_none_or(|pi| id_ok(pi, "pi_"))
        }
        EventObject::Refund(r) => {
            amount_ok(Some(r.amount))
                && currency_ok(&r.currency)
                && r.payment_intent
                    .as_deref()
                    .is_none_or(|pi| id_ok(pi, "pi_"))
        }
        EventObject::Other => false,
    };
    if valid {
        Ok(object)
    } else {
        Err(format!(
            "the {} object is not one Stripe sends (ids, amounts, currencies)",
            event.kind
        ))
    }
}

/// The event types caisse acts on.
pub const HANDLED: &[&str] = &[
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "charge.refunded",
    "charge.dispute.created",
    "charge.dispute.closed",
    "refund.failed",
    "charge.refund.updated",
];

/// `checkout.session.completed` and `…async_payment_succeeded`: link the session to its
/// PaymentIntent, and fulfil when it is paid (a delayed method completes unpaid first).
async fn session_paid(cx: &mut Ctx<'_>, s: &CheckoutSession) -> Result<Effect, InboxError> {
    let Some(hold) = session_hold(cx, s).await? else {
        return ignored(format!("no hold of caisse's has session {}", s.id));
    };
    // The address typed on Stripe's page when it is one caisse can send to, else the one given
    // at checkout.
    let email = s
        .email()
        .filter(|e| crate::domain::email::is_plausible(e))
        .map(str::to_string)
        .or(hold.email.clone());
    if !s.is_paid() {
        cx.tx.mark_awaiting_payment(&hold.id, cx.now).await?;
        cx.tx
            .link_hold(
                &hold.id,
                Some(&s.id),
                s.payment_intent.as_deref(),
                email.as_deref(),
                cx.now,
            )
            .await?;
        return processed(format!(
            "session {} complete, payment pending (delayed method); waiting for it",
            s.id
        ));
    }
    let currency = s.currency.clone().unwrap_or_default();
    let paid = Paid {
        // A session with nothing to pay has no PaymentIntent: the session stands for it.
        payment_intent_id: s.payment_intent.as_deref().unwrap_or(&s.id),
        checkout_session_id: Some(&s.id),
        amount: s.amount_total.unwrap_or(0),
        currency: &currency,
        email: email.as_deref(),
        session: Some(s),
    };
    fulfil(cx, &hold, &paid).await
}

async fn fulfil(cx: &mut Ctx<'_>, hold: &Hold, paid: &Paid<'_>) -> Result<Effect, InboxError> {
    let result = orders::fulfil(cx.tx, cx.policy.orders, hold, paid, &cx.actor, cx.now).await?;
    Ok(match result {
        Fulfilment::Created(order) => Effect {
            outcome: Outcome::Processed(format!(
                "order #{} created ({})",
                order.number, order.status
            )),
            outbox_queued: true,
        },
        Fulfilment::AlreadyDone(order) => {
            Outcome::Processed(format!("order #{} already exists", order.number)).into()
        }
        Fulfilment::PaymentTaken { order_id } => Outcome::Ignored(format!(
            "PaymentIntent {} already paid order {order_id} of another hold",
            paid.payment_intent_id
        ))
        .into(),
    })
}

/// A failed payment: an alert for the operators, and the hold released when the policy says so
/// (the customer may still retry on the same Stripe page; a later success takes the stock again).
async fn payment_failed(
    cx: &mut Ctx<'_>,
    hold: &Hold,
    payment_intent: Option<&str>,
    why: &str,
) -> Result<Effect, InboxError> {
    if let Some(order) = cx.tx.order_for_hold_tx(&hold.id).await? {
        // A decline that reaches us after the success: the order stands.
        return keep_order(cx, hold, order.number, why).await;
    }
    release::raise_payment_failed(
        cx.tx,
        hold,
        payment_intent,
        why,
        cx.now,
        cx.policy.time_zone,
    )
    .await?;
    if cx.policy.webhooks.release_on_payment_failure {
        release(cx, hold, "payment_failed", why).await
    } else {
        processed(format!(
            "{why}; hold kept until its session expires (CAISSE_RELEASE_ON_PAYMENT_FAILURE=false)"
        ))
    }
}

/// Gives a hold's stock back, unless an order already has it.
async fn release(
    cx: &mut Ctx<'_>,
    hold: &Hold,
    reason: &str,
    why: &str,
) -> Result<Effect, InboxError> {
    let order = cx.tx.order_for_hold_tx(&hold.id).await?;
    let state = HoldState::from(hold.status);
    match lifecycle::decide(state, order.is_some(), Signal::Release) {
        Decision::Release => {
            if hold.checkout_session_id.is_none() {
                // Its checkout never recorded its session (the database went away, or the
                // process died, before it could): no URL was answered, and the client was told
                // to try again, so its retry with the key is a new checkout (as the reconciler
                // frees it).
                release::release_freeing_key(cx.tx, &hold.id, reason, &cx.actor, why, cx.now)
                    .await?;
            } else {
                release::release_in(cx.tx, &hold.id, reason, &cx.actor, why, cx.now).await?;
            }
            processed(format!("hold {} released ({reason})", hold.id))
        }
        Decision::KeepOrder => keep_order(cx, hold, order.map_or(0, |o| o.number), why).await,
        _ => processed(format!("hold {} was already released", hold.id)),
    }
}

/// A release or failure that arrives after the order: nothing changes, and the trail says so.
async fn keep_order(
    cx: &mut Ctx<'_>,
    hold: &Hold,
    number: i64,
    why: &str,
) -> Result<Effect, InboxError> {
    cx.tx
        .audit(
            AuditEntry {
                actor: &cx.actor,
                action: "hold.release_ignored",
                entity_type: "hold",
                entity_id: &hold.id,
                before: None,
                after: None,
                message: format!(
                    "{} arrived after order #{number} was created for hold {} ({why}): nothing changed",
                    cx.event.kind, hold.id
                ),
            },
            cx.now,
        )
        .await?;
    processed(format!("order #{number} already exists; nothing released"))
}

/// `charge.refunded`: the refunded amount on the payment (partial refunds recorded), the order
/// `refunded` once all of it is.
async fn refunded(cx: &mut Ctx<'_>, charge: &Charge) -> Result<Effect, InboxError> {
    let Some(pi) = charge.payment_intent.as_deref() else {
        return ignored(format!("charge {} has no PaymentIntent", charge.id));
    };
    let Some(payment) = cx.tx.payment_by_intent_for_update(pi).await? else {
        let hold = find_hold(
            cx,
            charge.metadata.get("hold_id"),
            HoldReference::PaymentIntent,
            pi,
        )
        .await?;
        if hold.is_some_and(|h| h.status != HoldStatus::Converted) {
            // The refund overtook the payment's own events: fail this delivery so that Stripe
            // brings it back once the order exists, rather than lose it.
            return Err(InboxError::NotYet(format!(
                "charge {} refunds PaymentIntent {pi}, whose order is not recorded yet",
                charge.id
            )));
        }
        return ignored(format!("no payment of caisse's has PaymentIntent {pi}"));
    };
    let failed_at = cx.tx.refund_failed_at(&payment.id).await?;
    if failed_at.is_some_and(|t| cx.event.created <= t)
        && charge.amount_refunded > payment.amount_refunded
    {
        // Written before Stripe failed one of these refunds, delivered after: it still counts it.
        return processed(format!(
            "charge {} refunded {} before a refund of it failed; the failure stands",
            charge.id,
            format_amount(charge.amount_refunded, &charge.currency)
        ));
    }
    if charge.amount_refunded <= payment.amount_refunded {
        return processed(format!(
            "refund of {} already recorded",
            format_amount(charge.amount_refunded, &charge.currency)
        ));
    }
    cx.tx
        .record_refund(&payment, charge.amount_refunded, cx.now)
        .await?;
    let number = cx.tx.order_number(&payment.order_id).await?;
    let full = charge.amount_refunded >= payment.amount;
    let refunded_now = charge.amount_refunded.min(payment.amount) - payment.amount_refunded;
    // The customer hears of it once Stripe confirms it: one email per refunded total reached.
    let emailed = cx.policy.orders.mail_on
        && cx
            .tx
            .enqueue(
                OutboxKind::RefundNotice,
                &format!("{}:{}", payment.order_id, charge.amount_refunded),
                &json!({ "order_id": payment.order_id, "amount": refunded_now }),
                cx.now,
            )
            .await?;
    let refunded = format_amount(
        charge.amount_refunded.min(payment.amount),
        &payment.currency,
    );
    let message = format!(
        "Order #{number} {} refunded: {refunded} of {} (Stripe charge {}, payment {pi})",
        if full { "fully" } else { "partially" },
        format_amount(payment.amount, &payment.currency),
        charge.id
    );
    cx.tx
        .audit(
            AuditEntry {
                actor: &cx.actor,
                action: "payment.refunded",
                entity_type: "order",
                entity_id: &payment.order_id,
                before: Some(json!({"amount_refunded": payment.amount_refunded, "status": payment.status})),
                after: Some(json!({"amount_refunded": charge.amount_refunded.min(payment.amount), "status": if full { PaymentStatus::Refunded } else { PaymentStatus::Succeeded }})),
                message,
            },
            cx.now,
        )
        .await?;
    Ok(Effect {
        outcome: Outcome::Processed(format!("order #{number}: {refunded} refunded")),
        outbox_queued: emailed,
    })
}
