//! Ending a checkout that will not be paid through caisse's hold: the sweeper (past expiry), the
//! cancel endpoint (the customer gave up) and a price mismatch at checkout all ask Stripe to expire
//! the session **first**, and give the stock back only once Stripe says the session is expired. A
//! session Stripe reports complete was paid: its hold is left to the payment path.

use crate::domain::status::AlertKind;
use serde_json::json;

use caisse_stripe::Client;

use crate::domain::local_time::local_time;
use crate::domain::status::HoldStatus;
use crate::store::{AuditEntry, Hold, NewAlert, Severity, Store, StoreError, Tx};
use jiff::tz::TimeZone;

/// What Stripe says of a hold's session after the request to expire it.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Expired (now or earlier), or never created: the stock can go back.
    Expired,
    /// Complete: the customer paid (or a delayed payment is under way).
    Complete(Box<caisse_stripe::objects::CheckoutSession>),
    /// Stripe does not know the session (404).
    Missing,
    /// Stripe did not answer or answered something else: try again later.
    Unknown,
}

/// Why caisse ends a session: it names the idempotency key (`caisse-{hold}-{why}`, one per hold
/// and purpose, shared by every instance), which Stripe echoes in the `checkout.session.expired`
/// event, so that the webhook records the same reason as the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Past its expiry (the sweeper).
    Expire,
    /// The customer cancelled.
    Cancel,
    /// Refused at checkout: Stripe's Prices disagree with the database.
    PriceMismatch,
}

impl Purpose {
    const ALL: [Purpose; 3] = [Purpose::Expire, Purpose::Cancel, Purpose::PriceMismatch];

    pub fn key(self, hold_id: &str) -> String {
        let what = match self {
            Purpose::Expire => "expire",
            Purpose::Cancel => "cancel",
            Purpose::PriceMismatch => "refuse",
        };
        format!("caisse-{hold_id}-{what}")
    }

    /// The hold's `release_reason` and the audit trail's words.
    pub fn reason(self) -> (&'static str, &'static str) {
        match self {
            Purpose::Expire => ("expired", "its Checkout Session expired"),
            Purpose::Cancel => ("cancelled", "the customer cancelled the checkout"),
            Purpose::PriceMismatch => (
                "price_mismatch",
                "Stripe's Prices disagree with the catalog; the checkout was refused",
            ),
        }
    }

    /// Which of caisse's requests expired a session, from the idempotency key an event echoes;
    /// none when Stripe expired it on its own.
    pub fn from_key(hold_id: &str, key: Option<&str>) -> Option<Purpose> {
        let key = key?;
        Purpose::ALL.into_iter().find(|p| p.key(hold_id) == key)
    }
}

/// Asks Stripe to expire the hold's session, and reads the session when Stripe refuses because it
/// is not open.
pub async fn expire_at_stripe(stripe: &Client, hold: &Hold, purpose: Purpose) -> Verdict {
    // No session: the request that made the hold died before Stripe answered (or Stripe failed),
    // and a session it may have created carries the same expiry, so it is over too.
    let Some(session_id) = &hold.checkout_session_id else {
        return Verdict::Expired;
    };
    let key = purpose.key(&hold.id);
    let session = match stripe.expire_checkout_session(session_id, &key).await {
        Ok(s) => s,
        // Not open any more (expired by Stripe itself, or paid): ask what it is.
        Err(e) if e.status() == Some(404) => return Verdict::Missing,
        Err(e) if e.status() == Some(400) => {
            match stripe.retrieve_checkout_session(session_id).await {
                Ok(s) => s,
                Err(e) if e.status() == Some(404) => return Verdict::Missing,
                Err(e) => {
                    tracing::warn!(hold_id = %hold.id, error = %e, "cannot read the session of a hold to release");
                    return Verdict::Unknown;
                }
            }
        }
        Err(e) => {
            tracing::warn!(hold_id = %hold.id, error = %e, "cannot expire the session of a hold to release");
            return Verdict::Unknown;
        }
    };
    if session.is_expired() {
        Verdict::Expired
    } else if session.is_complete() {
        Verdict::Complete(Box::new(session))
    } else {
        Verdict::Unknown
    }
}

/// Alerts for failed payments that stand alone per product and hour; later ones that hour fall
/// into one grouped alert, so that a customer declining card after card (one alert per checkout)
/// cannot bury the dashboard.
pub const PAYMENT_FAILED_ALERTS_PER_HOUR: i64 = 5;

/// The operators' alert for a failed payment: one per PaymentIntent (a customer who tries three
/// cards, or a SEPA failure told by two events, is one failing payment), up to
/// [`PAYMENT_FAILED_ALERTS_PER_HOUR`] per product (the hold's first) and hour, then one grouped
/// alert for the rest of that hour.
pub async fn raise_payment_failed(
    tx: &mut Tx,
    hold: &Hold,
    payment_intent: Option<&str>,
    why: &str,
    now: i64,
    zone: &TimeZone,
) -> Result<(), StoreError> {
    let items = tx.hold_items_tx(&hold.id).await?;
    let product = items
        .iter()
        .map(|i| i.product_id.as_str())
        .min()
        .unwrap_or("-");
    let hour = now - now.rem_euclid(3600);
    let group = format!("{}:{product}:{hour}", AlertKind::PaymentFailed);
    let alert = if tx.alerts_in_group(&group).await? < PAYMENT_FAILED_ALERTS_PER_HOUR {
        NewAlert {
            kind: AlertKind::PaymentFailed,
            severity: Severity::Warning,
            message: format!(
                "Payment failed for hold {} ({}): {why}",
                hold.id,
                crate::domain::money::format_amount(hold.amount_total, &hold.currency)
            ),
            entity: Some(("hold", &hold.id)),
            dedup_key: format!("payment_failed:{}", payment_intent.unwrap_or(&hold.id)),
        }
    } else {
        let from = local_time(hour, zone);
        NewAlert {
            kind: AlertKind::PaymentFailed,
            severity: Severity::Warning,
            message: format!(
                "More than {PAYMENT_FAILED_ALERTS_PER_HOUR} payments failed for checkouts of {product} in the hour from {from}: the rest of that hour is grouped here (each is in the webhook events)"
            ),
            entity: Some(("product", product)),
            dedup_key: format!("{group}:more"),
        }
    };
    tx.raise_grouped_alert(&alert, &group, now).await?;
    Ok(())
}

/// Gives the hold's stock back in its own transaction; false when it was no longer active
/// (another instance, a webhook, or an order got there first).
pub async fn release(
    store: &Store,
    hold: &Hold,
    reason: &str,
    actor: &str,
    why: &str,
    now: i64,
) -> Result<bool, StoreError> {
    store
        .write(async |tx| {
            let released = release_in(tx, &hold.id, reason, actor, why, now).await?;
            Ok(released)
        })
        .await
}

/// [`release_in`], and frees the hold's `Idempotency-Key` if it released it: for a checkout that
/// ended before any URL was answered (Stripe failed it, or its process died before its session
/// was recorded), whose client's retry with the key must be a new checkout. A hold that moved on
/// meanwhile (paid, released by another) keeps its key, so a retry replays what became of it.
pub async fn release_freeing_key(
    tx: &mut Tx,
    hold_id: &str,
    reason: &str,
    actor: &str,
    why: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let released = release_in(tx, hold_id, reason, actor, why, now).await?;
    if released {
        tx.clear_hold_idempotency_key(hold_id).await?;
    }
    Ok(released)
}

/// Gives the hold's stock back in the caller's transaction, with the audit sentence "Hold … released:
/// {why}"; false when it was no longer active.
pub async fn release_in(
    tx: &mut Tx,
    hold_id: &str,
    reason: &str,
    actor: &str,
    why: &str,
    now: i64,
) -> Result<bool, StoreError> {
    if !tx.release_hold(hold_id, reason, now).await? {
        return Ok(false);
    }
    tx.audit(
        AuditEntry {
            actor,
            action: "hold.released",
            entity_type: "hold",
            entity_id: hold_id,
            before: Some(json!({"status": HoldStatus::Active})),
            after: Some(json!({"status": HoldStatus::Released, "reason": reason})),
            message: format!("Hold {hold_id} released: {why}"),
        },
        now,
    )
    .await?;
    Ok(true)
}
