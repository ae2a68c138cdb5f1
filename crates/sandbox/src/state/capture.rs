//! A manual capture after its authorization (`payment_intent_data[capture_method]=manual`): the
//! PaymentIntent waits in `requires_capture` until it is captured, whole or in part (the rest is
//! released), canceled (all of it released), or left 7 days on the sandbox clock (Stripe cancels
//! it: `charge.expired`).
//!
//! What a release does depends on the account's API version, as Stripe changed it in
//! 2025-03-31.basil: before, the charge counts the released amount as refunded (`amount_refunded`,
//! `refunded` once whole, `charge.refunded` on a cancel) and an expiry's cancellation reason is
//! `automatic`; from it, a release refunds nothing and sends no `charge.refunded`, and an expiry
//! is `expired`. (Before basil Stripe also made a Refund object for a release; the sandbox does
//! not.)

use serde_json::Value;

use super::model::{Account, Cause, PaymentIntent};
use crate::currencies::{check_chargeable, minimum_charge};
use crate::error::ApiError;

/// Stripe cancels an uncaptured PaymentIntent this long after its creation.
pub const AUTHORIZATION_LIFETIME_SECS: i64 = 7 * 86_400;

fn awaiting_capture<'a>(
    account: &'a mut Account,
    id: &str,
    verb: &str,
) -> Result<&'a mut PaymentIntent, ApiError> {
    let pi = account
        .payment_intents
        .get_mut(id)
        .ok_or_else(|| ApiError::not_found("payment_intent", id, "intent"))?;
    if pi.status != "requires_capture" {
        // Every sandbox PaymentIntent belongs to a Checkout Session, which Stripe lets a caller
        // cancel only while it awaits capture (an open session is expired instead).
        return Err(ApiError::invalid(
            format!(
                "This PaymentIntent could not be {verb} because it has a status of {}. Only a PaymentIntent with one of the following statuses may be {verb}: requires_capture.",
                pi.status
            ),
            None,
        )
        .with_code("payment_intent_unexpected_state"));
    }
    Ok(pi)
}

impl Account {
    /// Captures `amount` (by default all) of an authorized PaymentIntent: `charge.captured`
    /// and `payment_intent.succeeded`; what is not captured is released.
    pub fn capture(
        &mut self,
        id: &str,
        amount: Option<i64>,
        cause: &Cause,
    ) -> Result<Value, ApiError> {
        let release_is_refund = !crate::from_basil(&self.api_version);
        let pi = awaiting_capture(self, id, "captured")?;
        let amount = amount.unwrap_or(pi.amount_capturable);
        if amount < 1 {
            return Err(ApiError::invalid(
                "This value must be greater than or equal to 1.",
                Some("amount_to_capture"),
            )
            .with_code("parameter_invalid_integer"));
        }
        check_chargeable(amount, &pi.currency, "amount_to_capture")?;
        if let Some(min) = minimum_charge(&pi.currency).filter(|m| amount < *m) {
            return Err(ApiError::invalid(
                format!(
                    "The amount to capture must be at least {min} {} (in the currency's smallest unit).",
                    pi.currency
                ),
                Some("amount_to_capture"),
            )
            .with_code("amount_too_small"));
        }
        if amount > pi.amount_capturable {
            return Err(ApiError::invalid(
                format!(
                    "The amount to capture ({amount}) is greater than the amount capturable ({}).",
                    pi.amount_capturable
                ),
                Some("amount_to_capture"),
            )
            .with_code("amount_too_large"));
        }
        pi.released = pi.amount_capturable - amount;
        pi.release_is_refund = release_is_refund;
        pi.amount_capturable = 0;
        pi.amount_received = amount;
        pi.status = "succeeded";
        if let Some(c) = pi.charges.iter_mut().find(|c| c.status == "succeeded") {
            c.captured = true;
        }
        let disputed = std::mem::take(&mut pi.dispute_on_capture);
        let charge = Self::succeeded_charge(pi).map(|c| Self::charge_json(pi, c));
        let snapshot = Self::payment_intent_json(pi);
        if let Some(charge) = charge {
            self.emit("charge.captured", charge, cause);
        }
        self.emit("payment_intent.succeeded", snapshot.clone(), cause);
        if disputed {
            self.schedule_dispute(id);
        }
        Ok(snapshot)
    }

    /// Cancels an authorized PaymentIntent, releasing the authorization: `payment_intent.canceled`
    /// (after `charge.refunded` before basil).
    pub fn cancel(
        &mut self,
        id: &str,
        reason: Option<&str>,
        cause: &Cause,
    ) -> Result<Value, ApiError> {
        awaiting_capture(self, id, "canceled")?;
        let charge_event = (!crate::from_basil(&self.api_version)).then_some("charge.refunded");
        Ok(self.release(id, reason, charge_event, cause))
    }

    /// Cancels the authorizations left uncaptured for 7 days (the ticker calls it through
    /// `expire_due`): `charge.expired` and `payment_intent.canceled`.
    pub(super) fn cancel_expired_authorizations(&mut self) {
        let now = self.now();
        let due: Vec<String> = self
            .payment_intents
            .values()
            .filter(|pi| {
                pi.status == "requires_capture" && pi.created + AUTHORIZATION_LIFETIME_SECS <= now
            })
            .map(|pi| pi.id.clone())
            .collect();
        let reason = if crate::from_basil(&self.api_version) {
            "expired"
        } else {
            "automatic"
        };
        for id in due {
            self.release(&id, Some(reason), Some("charge.expired"), &Cause::default());
        }
    }

    fn release(
        &mut self,
        id: &str,
        reason: Option<&str>,
        charge_event: Option<&str>,
        cause: &Cause,
    ) -> Value {
        let now = self.now();
        let release_is_refund = !crate::from_basil(&self.api_version);
        let pi = self
            .payment_intents
            .get_mut(id)
            .expect("checked by the caller");
        pi.released = pi.amount_capturable;
        pi.release_is_refund = release_is_refund;
        pi.amount_capturable = 0;
        pi.status = "canceled";
        pi.canceled_at = Some(now);
        pi.cancellation_reason = reason.map(str::to_string);
        pi.dispute_on_capture = false;
        let charge = Self::succeeded_charge(pi).map(|c| Self::charge_json(pi, c));
        let snapshot = Self::payment_intent_json(pi);
        if let (Some(kind), Some(charge)) = (charge_event, charge) {
            self.emit(kind, charge, cause);
        }
        self.emit("payment_intent.canceled", snapshot.clone(), cause);
        snapshot
    }

    /// A dispute test card's payment: disputed shortly, or once captured when only authorized.
    pub(super) fn dispute_once_captured(&mut self, pi_id: &str) {
        match self.payment_intents.get_mut(pi_id) {
            Some(pi) if pi.status == "requires_capture" => pi.dispute_on_capture = true,
            _ => self.schedule_dispute(pi_id),
        }
    }
}
