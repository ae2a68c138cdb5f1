//! Which hold an event is about, locked for the event's transaction: a session's by its metadata
//! or its id; a PaymentIntent's only when it is the hold's own (its session named it, or it
//! carries the hold's tag, [`crate::domain::intent_tag`]), anything else naming a hold being
//! foreign: ignored, with an alert.

use caisse_stripe::objects::{CheckoutSession, PaymentIntent};

use super::dispatch::{ignored, Ctx, Effect};
use super::InboxError;
use crate::domain::intent_tag;
use crate::domain::status::AlertKind;
use crate::store::{Hold, HoldReference, NewAlert, Severity, StoreError};

/// The hold a session is about, locked: by `metadata[hold_id]`, else by session id. A hold that
/// already belongs to another session is not this session's.
pub(super) async fn session_hold(
    cx: &mut Ctx<'_>,
    s: &CheckoutSession,
) -> Result<Option<Hold>, StoreError> {
    let hold = find_hold(cx, s.metadata.get("hold_id"), HoldReference::Session, &s.id).await?;
    Ok(hold.filter(|h| h.checkout_session_id.as_deref().is_none_or(|id| id == s.id)))
}

/// Which hold a PaymentIntent event is about.
pub(super) enum IntentHold {
    /// The PaymentIntent of the hold's own session, the hold locked.
    Own(Hold),
    /// No hold of caisse's.
    None,
    /// A hold names it (`metadata[hold_id]`) but it is not the hold's session's.
    Foreign(Hold),
}

impl IntentHold {
    /// The answer to an event that is not about a hold's own PaymentIntent: ignored, and for a
    /// foreign one an alert, once per PaymentIntent (another integration on the same Stripe
    /// account, or a forgery with a leaked hold id); the hold waits for its own payment.
    pub(super) async fn ignore(
        self,
        cx: &mut Ctx<'_>,
        pi: &PaymentIntent,
    ) -> Result<Effect, InboxError> {
        let IntentHold::Foreign(hold) = self else {
            return ignored(format!("no hold of caisse's has PaymentIntent {}", pi.id));
        };
        let why = format!(
            "PaymentIntent {} names hold {} but is not the PaymentIntent of its Checkout Session: \
             {} ignored, the hold waits for its own payment",
            pi.id, hold.id, cx.event.kind
        );
        let kind = AlertKind::ForeignPaymentIntent;
        cx.tx
            .raise_alert(
                &NewAlert {
                    kind,
                    severity: Severity::Warning,
                    message: format!("{why} (another integration on this Stripe account?)"),
                    entity: Some(("hold", &hold.id)),
                    dedup_key: format!("{kind}:{}", pi.id),
                },
                cx.now,
            )
            .await?;
        ignored(why)
    }
}

/// The hold a PaymentIntent is about, locked: the one whose session named this PaymentIntent
/// (a session event linked them), else the one of `metadata[hold_id]` (set through
/// `payment_intent_data`) when the PaymentIntent carries that hold's tag
/// ([`crate::domain::intent_tag`]) and the hold has no other PaymentIntent.
pub(super) async fn intent_hold(
    cx: &mut Ctx<'_>,
    pi: &PaymentIntent,
) -> Result<IntentHold, StoreError> {
    let hold = find_hold(
        cx,
        pi.metadata.get("hold_id"),
        HoldReference::PaymentIntent,
        &pi.id,
    )
    .await?;
    let Some(hold) = hold else {
        return Ok(IntentHold::None);
    };
    let named = hold.payment_intent_id.as_deref() == Some(pi.id.as_str());
    let tagged = || {
        hold.payment_intent_id.is_none()
            && pi.metadata.get("hold_id") == Some(&hold.id)
            && pi
                .metadata
                .get(intent_tag::METADATA_KEY)
                .is_some_and(|tag| intent_tag::matches(hold.intent_tag.as_deref(), tag))
    };
    Ok(if named || tagged() {
        IntentHold::Own(hold)
    } else {
        IntentHold::Foreign(hold)
    })
}

/// The hold `hold_id` names, else the one `reference` finds, locked.
pub(super) async fn find_hold(
    cx: &mut Ctx<'_>,
    hold_id: Option<&String>,
    reference: HoldReference,
    value: &str,
) -> Result<Option<Hold>, StoreError> {
    if let Some(id) = hold_id {
        if let Some(hold) = cx.tx.hold_for_update(id).await? {
            return Ok(Some(hold));
        }
    }
    cx.tx.hold_by_reference_for_update(reference, value).await
}
