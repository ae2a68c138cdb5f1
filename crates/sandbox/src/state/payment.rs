//! The payment machine: what paying, declining, 3-D Secure, a SEPA debit settling and a session
//! expiring do to a session, its PaymentIntent and charges, and which events each step emits, in
//! the order Stripe emits them (a manual capture's later steps are `capture`). Time acts here too
//! ([`Account::expire_due`]): the ticker and the control API's clock both come through it, so an
//! expiry and a settlement follow one rule.

use serde_json::{json, Value};

use super::model::{new_id, Account, Cause, Charge, PaymentIntent, SessionStatus};
use super::payment_method::PaymentMethod;
use super::test_cards::{Behaviour, Method};
use crate::error::{doc_url, ApiError};
use crate::fields::is_email;

impl Account {
    /// A new attempt on `pi` (with the PaymentMethod `pay` gave it): its charge, in `status`.
    fn attempt(&mut self, pi_id: &str, status: &'static str) {
        let now = self.now();
        if let Some(pi) = self.payment_intents.get_mut(pi_id) {
            pi.charges.push(Charge {
                id: new_id("ch_"),
                created: now,
                status,
                captured: false,
                failure_code: None,
                failure_message: None,
                payment_method: pi.payment_method.clone(),
            });
        }
    }

    /// Ends the latest attempt's charge (a new one if none is pending) and emits its event.
    fn settle_charge(
        &mut self,
        pi_id: &str,
        status: &'static str,
        failure: Option<(&str, &str)>,
        cause: &Cause,
    ) {
        let pending = self.payment_intents[pi_id]
            .charges
            .last()
            .is_some_and(|c| c.status == "pending");
        if !pending {
            self.attempt(pi_id, status);
        }
        let pi = self
            .payment_intents
            .get_mut(pi_id)
            .expect("payment intent exists");
        let manual = pi.capture_method == "manual";
        let charge = pi.charges.last_mut().expect("an attempt");
        charge.status = status;
        charge.captured = status == "succeeded" && !manual;
        charge.failure_code = failure.map(|f| f.0.to_string());
        charge.failure_message = failure.map(|f| f.1.to_string());
        let snapshot = Self::latest_charge_json(pi).expect("an attempt");
        let kind = if status == "succeeded" {
            "charge.succeeded"
        } else {
            "charge.failed"
        };
        self.emit(kind, snapshot, cause);
    }

    /// The session's PaymentIntent, created (with its event) on the first confirmation as Stripe
    /// does since API version 2022-08-01.
    fn ensure_payment_intent(
        &mut self,
        session_id: &str,
        method: &'static str,
        cause: &Cause,
    ) -> String {
        let session = &self.sessions[session_id];
        if let Some(id) = &session.payment_intent {
            return id.clone();
        }
        let pi = PaymentIntent {
            id: new_id("pi_"),
            created: self.now(),
            amount: session.total(),
            amount_received: 0,
            currency: session.currency.clone(),
            status: "requires_payment_method",
            capture_method: session.capture_method,
            amount_capturable: 0,
            released: 0,
            release_is_refund: false,
            dispute_on_capture: false,
            disputed: false,
            metadata: session.payment_intent_metadata.clone(),
            last_payment_error: None,
            method,
            refunded: 0,
            payment_method: None,
            charges: Vec::new(),
            next_action: None,
            text: session.payment_intent_text.clone(),
            canceled_at: None,
            cancellation_reason: None,
            refunds: Vec::new(),
        };
        let id = pi.id.clone();
        self.emit(
            "payment_intent.created",
            Self::payment_intent_json(&pi),
            cause,
        );
        self.payment_intents.insert(id.clone(), pi);
        if let Some(s) = self.sessions.get_mut(session_id) {
            s.payment_intent = Some(id.clone());
        }
        id
    }

    /// The customer submits a payment method on the hosted page (or the control API).
    pub fn pay(
        &mut self,
        session_id: &str,
        method: &Method,
        email: Option<&str>,
        base_url: &str,
        cause: &Cause,
    ) -> Result<Outcome, ApiError> {
        self.expire_due(base_url);
        let session = self.checkout_session(session_id)?;
        if session.status != SessionStatus::Open {
            return Err(ApiError::invalid(
                format!(
                    "This Checkout Session is {} and can no longer be paid.",
                    session.status.as_str()
                ),
                None,
            )
            .with_code("checkout_session_not_open"));
        }
        if !session
            .payment_method_types
            .iter()
            .any(|t| t == method.kind())
        {
            return Err(ApiError::invalid(
                format!(
                    "This Checkout Session does not accept {} (its payment_method_types are {}).",
                    method.kind(),
                    session.payment_method_types.join(", ")
                ),
                None,
            )
            .with_code("payment_method_not_available"));
        }
        if session.needs_collection() && session.collected.is_none() {
            return Err(ApiError::invalid(
                "Your shipping address is incomplete.",
                Some("shipping_address"),
            )
            .with_code("shipping_address_incomplete"));
        }
        let pending = session
            .payment_intent
            .as_ref()
            .and_then(|id| self.payment_intents.get(id))
            .is_some_and(|pi| pi.status == "requires_action");
        if pending {
            return Err(ApiError::invalid(
                "This payment is waiting for its 3-D Secure challenge to be completed or failed.",
                None,
            )
            .with_code("payment_intent_unexpected_state"));
        }
        let email = email.map(str::trim).filter(|e| !e.is_empty());
        if let Some(e) = email {
            if !is_email(e) {
                return Err(
                    ApiError::invalid("Your email address is invalid.", Some("email"))
                        .with_code("email_invalid"),
                );
            }
        }
        let behaviour = method.behaviour()?;
        // A session created with `customer_email` shows it fixed: what the page sends is ignored.
        if let (Some(e), Some(s)) = (email, self.sessions.get_mut(session_id)) {
            if s.customer_email.is_none() {
                s.collected_email = Some(e.to_string());
            }
        }
        let pi_id = self.ensure_payment_intent(session_id, method.kind(), cause);
        let session = &self.sessions[session_id];
        let email = session
            .collected_email
            .clone()
            .or(session.customer_email.clone());
        let payment_method = PaymentMethod::new(method.details(), email, self.now());
        if let Some(pi) = self.payment_intents.get_mut(&pi_id) {
            pi.payment_method = Some(payment_method.id.clone());
        }
        self.payment_methods
            .insert(payment_method.id.clone(), payment_method);
        let redirect = self.sessions[session_id].success_redirect();
        let disputed = matches!(behaviour, Behaviour::Dispute);
        match behaviour {
            Behaviour::Succeed | Behaviour::Dispute => {
                self.succeed_payment_intent(&pi_id, cause);
                self.complete_session(session_id, true, base_url, cause);
                if disputed {
                    self.dispute_once_captured(&pi_id);
                }
                Ok(Outcome::Paid {
                    redirect,
                    payment_intent: pi_id,
                })
            }
            Behaviour::Decline(code, decline_code, message) => {
                self.fail_payment_intent(&pi_id, code, Some(decline_code), message, cause);
                Ok(Outcome::Declined {
                    payment_intent: pi_id,
                    code: decline_code,
                    message,
                })
            }
            Behaviour::Authenticate => {
                let challenge = format!("{base_url}/c/pay/{session_id}/authenticate");
                let pi = self.payment_intents.get_mut(&pi_id).expect("created above");
                pi.status = "requires_action";
                pi.next_action = Some(json!({
                    "type": "redirect_to_url",
                    "redirect_to_url": { "url": challenge, "return_url": redirect },
                }));
                let snapshot = Self::payment_intent_json(pi);
                self.emit("payment_intent.requires_action", snapshot, cause);
                Ok(Outcome::RequiresAction {
                    challenge,
                    payment_intent: pi_id,
                })
            }
            Behaviour::Delayed(succeeds) => {
                self.attempt(&pi_id, "pending");
                let pi = self.payment_intents.get_mut(&pi_id).expect("created above");
                pi.status = "processing";
                pi.method = "sepa_debit";
                let charge = Self::latest_charge_json(pi).expect("an attempt");
                self.emit("charge.pending", charge, cause);
                let pi = &self.payment_intents[&pi_id];
                let snapshot = Self::payment_intent_json(pi);
                self.emit("payment_intent.processing", snapshot, cause);
                let settle_at = self.now() + self.settle_after;
                if let Some(s) = self.sessions.get_mut(session_id) {
                    s.settlement = Some((settle_at, succeeds));
                }
                self.complete_session(session_id, false, base_url, cause);
                Ok(Outcome::Processing {
                    redirect,
                    payment_intent: pi_id,
                })
            }
        }
    }

    /// The customer ends the 3-D Secure challenge of `session_id`'s payment: completed, the
    /// payment succeeds; failed, it fails (no charge was made) and the session stays open.
    pub fn authenticate(
        &mut self,
        session_id: &str,
        complete: bool,
        base_url: &str,
        cause: &Cause,
    ) -> Result<Outcome, ApiError> {
        self.expire_due(base_url);
        let session = self.checkout_session(session_id)?;
        let redirect = session.success_redirect();
        let pi_id = session
            .payment_intent
            .clone()
            .filter(|id| self.payment_intents[id].status == "requires_action")
            .ok_or_else(|| {
                ApiError::invalid(
                    "No 3-D Secure challenge is waiting on this Checkout Session.",
                    None,
                )
                .with_code("payment_intent_unexpected_state")
            })?;
        if let Some(pi) = self.payment_intents.get_mut(&pi_id) {
            pi.next_action = None;
        }
        if complete {
            self.succeed_payment_intent(&pi_id, cause);
            self.complete_session(session_id, true, base_url, cause);
            Ok(Outcome::Paid {
                redirect,
                payment_intent: pi_id,
            })
        } else {
            let message = "The provided PaymentMethod has failed authentication.";
            // No charge was made: the error names none.
            let error = self.payment_error(
                &pi_id,
                "invalid_request_error",
                "payment_intent_authentication_failure",
                None,
                message,
            );
            let pi = self.payment_intents.get_mut(&pi_id).expect("checked above");
            pi.status = "requires_payment_method";
            pi.payment_method = None;
            pi.last_payment_error = Some(error);
            let snapshot = Self::payment_intent_json(pi);
            self.emit("payment_intent.payment_failed", snapshot, cause);
            Ok(Outcome::Declined {
                payment_intent: pi_id,
                code: "payment_intent_authentication_failure",
                message,
            })
        }
    }

    /// The charge goes through: the money is taken, or only authorized for a manual capture
    /// (`requires_capture`, captured later through `state/capture.rs`).
    fn succeed_payment_intent(&mut self, pi_id: &str, cause: &Cause) {
        self.settle_charge(pi_id, "succeeded", None, cause);
        let pi = self
            .payment_intents
            .get_mut(pi_id)
            .expect("payment intent exists");
        pi.last_payment_error = None;
        let kind = if pi.capture_method == "manual" {
            pi.status = "requires_capture";
            pi.amount_capturable = pi.amount;
            "payment_intent.amount_capturable_updated"
        } else {
            pi.status = "succeeded";
            pi.amount_received = pi.amount;
            "payment_intent.succeeded"
        };
        let snapshot = Self::payment_intent_json(pi);
        self.emit(kind, snapshot, cause);
    }

    fn fail_payment_intent(
        &mut self,
        pi_id: &str,
        code: &str,
        decline_code: Option<&str>,
        message: &str,
        cause: &Cause,
    ) {
        // A charge's `failure_code` is the error's code (`card_declined`); why the bank declined
        // (`insufficient_funds`) is the PaymentIntent error's `decline_code`.
        let failure = (code, message);
        self.settle_charge(pi_id, "failed", Some(failure), cause);
        let mut error = self.payment_error(pi_id, "card_error", code, decline_code, message);
        let pi = self
            .payment_intents
            .get_mut(pi_id)
            .expect("payment intent exists");
        error["charge"] = pi.charges.last().map(|c| c.id.clone()).into();
        pi.status = "requires_payment_method";
        pi.payment_method = None;
        pi.last_payment_error = Some(error);
        let snapshot = Self::payment_intent_json(pi);
        self.emit("payment_intent.payment_failed", snapshot, cause);
    }

    /// A PaymentIntent's `last_payment_error` as Stripe gives it: the error's type, code and
    /// message, its `doc_url`, the bank's `decline_code` when there is one, and the attempt's
    /// PaymentMethod in full (the caller adds the failed `charge`, when one was made).
    fn payment_error(
        &self,
        pi_id: &str,
        kind: &str,
        code: &str,
        decline_code: Option<&str>,
        message: &str,
    ) -> Value {
        let mut error = json!({
            "type": kind, "code": code, "doc_url": doc_url(code), "message": message,
            "payment_method": self.payment_intents[pi_id]
                .payment_method
                .as_ref()
                .and_then(|id| self.payment_methods.get(id))
                .map(PaymentMethod::json),
        });
        if let Some(decline_code) = decline_code {
            error["decline_code"] = decline_code.into();
        }
        error
    }

    fn complete_session(&mut self, session_id: &str, paid: bool, base_url: &str, cause: &Cause) {
        let s = self.sessions.get_mut(session_id).expect("session exists");
        s.status = SessionStatus::Complete;
        s.paid = paid;
        let snapshot = self.session_json(&self.sessions[session_id], base_url);
        self.emit("checkout.session.completed", snapshot, cause);
    }

    /// Expires an open session (API call, or its `expires_at` passed); cancels its unpaid
    /// PaymentIntent as Stripe does.
    pub fn expire(
        &mut self,
        session_id: &str,
        base_url: &str,
        cause: &Cause,
    ) -> Result<Value, ApiError> {
        let now = self.now();
        let s = self.checkout_session_mut(session_id)?;
        if s.status != SessionStatus::Open {
            return Err(ApiError::invalid(
                "Only Checkout Sessions with a status in [\"open\"] can be expired.",
                Some("session"),
            ));
        }
        s.status = SessionStatus::Expired;
        let pi_id = s.payment_intent.clone();
        let snapshot = self.session_json(&self.sessions[session_id], base_url);
        if let Some(pi) = pi_id.and_then(|id| self.payment_intents.get_mut(&id)) {
            if pi.status != "succeeded" {
                pi.status = "canceled";
                pi.canceled_at = Some(now);
                pi.cancellation_reason = Some("abandoned".into());
                let pi_snapshot = Self::payment_intent_json(pi);
                self.emit("payment_intent.canceled", pi_snapshot, cause);
            }
        }
        self.emit("checkout.session.expired", snapshot.clone(), cause);
        Ok(snapshot)
    }

    /// Moves the clock forward and lets time act.
    pub fn advance(&mut self, seconds: i64, base_url: &str) {
        self.clock_offset += seconds;
        self.expire_due(base_url);
    }

    /// What time does on its own: sessions past `expires_at` expire, delayed payments settle.
    pub fn expire_due(&mut self, base_url: &str) {
        let now = self.now();
        let due: Vec<String> = self
            .sessions
            .values()
            .filter(|s| s.status == SessionStatus::Open && s.expires_at <= now)
            .map(|s| s.id.clone())
            .collect();
        for id in due {
            let _ = self.expire(&id, base_url, &Cause::default());
        }
        let settling: Vec<(String, bool)> = self
            .sessions
            .values()
            .filter_map(|s| match s.settlement {
                Some((at, ok)) if at <= now => Some((s.id.clone(), ok)),
                _ => None,
            })
            .collect();
        for (id, succeeds) in settling {
            self.settle(&id, succeeds, base_url);
        }
        self.settle_due_refunds();
        self.cancel_expired_authorizations();
        self.open_due_disputes();
    }

    fn settle(&mut self, session_id: &str, succeeds: bool, base_url: &str) {
        let cause = Cause::default();
        let Some(session) = self.sessions.get_mut(session_id) else {
            return;
        };
        session.settlement = None;
        let Some(pi_id) = session.payment_intent.clone() else {
            return;
        };
        if succeeds {
            self.succeed_payment_intent(&pi_id, &cause);
            if let Some(s) = self.sessions.get_mut(session_id) {
                s.paid = true;
            }
            let snapshot = self.session_json(&self.sessions[session_id], base_url);
            self.emit("checkout.session.async_payment_succeeded", snapshot, &cause);
        } else {
            self.fail_payment_intent(
                &pi_id,
                "payment_method_not_available",
                None,
                "The SEPA debit failed.",
                &cause,
            );
            let snapshot = self.session_json(&self.sessions[session_id], base_url);
            self.emit("checkout.session.async_payment_failed", snapshot, &cause);
        }
    }
}

/// What a payment attempt led to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Paid {
        redirect: String,
        payment_intent: String,
    },
    Declined {
        payment_intent: String,
        code: &'static str,
        message: &'static str,
    },
    Processing {
        redirect: String,
        payment_intent: String,
    },
    /// 3-D Secure: the PaymentIntent `requires_action` until the challenge at `challenge` ends.
    RequiresAction {
        challenge: String,
        payment_intent: String,
    },
}
