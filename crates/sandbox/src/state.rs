//! The emulated Stripe account: its objects, its clock, its event log, and every state change a
//! payment goes through. All of it sits behind one mutex, and each API call or payment runs
//! entirely under it, so the sandbox's own behaviour is serial and easy to reason about.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::shapes::shape;

pub type Metadata = Map<String, Value>;

/// A fresh Stripe-looking id: `cs_test_…`, `pi_…`, `evt_…`.
pub fn new_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let random: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    // The counter keeps ids unique and sortable by creation within one sandbox.
    format!("{prefix}{n:06}{random}")
}

pub fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionStatus {
    Open,
    Complete,
    Expired,
}

impl SessionStatus {
    fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Open => "open",
            SessionStatus::Complete => "complete",
            SessionStatus::Expired => "expired",
        }
    }
}

#[derive(Clone, Debug)]
pub struct LineItem {
    pub id: String,
    pub price_id: String,
    pub product_id: String,
    pub description: String,
    pub unit_amount: i64,
    pub currency: String,
    pub quantity: i64,
}

#[derive(Clone, Debug)]
pub struct Session {
    pub id: String,
    pub created: i64,
    pub expires_at: i64,
    pub status: SessionStatus,
    pub paid: bool,
    pub amount_total: i64,
    pub currency: String,
    pub line_items: Vec<LineItem>,
    pub metadata: Metadata,
    pub payment_intent_metadata: Metadata,
    pub client_reference_id: Option<String>,
    pub customer_email: Option<String>,
    pub success_url: String,
    pub cancel_url: Option<String>,
    pub payment_intent: Option<String>,
    /// A delayed payment (SEPA debit) settles at this sandbox time, to success or failure.
    pub settlement: Option<(i64, bool)>,
    /// `card`, and `sepa_debit` for a session in euros (or as the shop listed them).
    pub payment_method_types: Vec<String>,
    /// The email the customer entered on the page (prefilled with `customer_email`).
    pub collected_email: Option<String>,
    pub locale: Option<String>,
    pub submit_type: Option<String>,
    /// `payment_intent_data`'s `description`, `receipt_email`, `statement_descriptor` and
    /// `statement_descriptor_suffix`, copied onto the PaymentIntent and its charges.
    pub payment_intent_text: Metadata,
}

#[derive(Clone, Debug)]
pub struct PaymentIntent {
    pub id: String,
    pub created: i64,
    pub amount: i64,
    pub amount_received: i64,
    pub currency: String,
    pub status: &'static str,
    pub metadata: Metadata,
    pub last_payment_error: Option<Value>,
    pub method: &'static str,
    pub refunded: i64,
    /// The PaymentMethod of the latest attempt (the sandbox keeps it as an id only).
    pub payment_method: Option<String>,
    /// One per attempt, oldest first: failed ones, then at most one pending or succeeded.
    pub charges: Vec<Charge>,
    /// What the customer must do (3-D Secure) while `status` is `requires_action`.
    pub next_action: Option<Value>,
    /// From the session's `payment_intent_data` (see `Session::payment_intent_text`).
    pub text: Metadata,
    pub canceled_at: Option<i64>,
    /// Its refunds, oldest first, as created.
    pub refunds: Vec<Value>,
}

#[derive(Clone, Debug)]
pub struct Charge {
    pub id: String,
    pub created: i64,
    /// `pending`, `succeeded` or `failed`.
    pub status: &'static str,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Price {
    pub id: String,
    pub product: String,
    pub unit_amount: i64,
    pub currency: String,
    pub created: i64,
    pub active: bool,
    pub nickname: Option<String>,
    pub lookup_key: Option<String>,
    pub metadata: Metadata,
}

#[derive(Clone, Debug)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub created: i64,
    pub active: bool,
    pub description: Option<String>,
    pub images: Vec<String>,
    pub metadata: Metadata,
}

/// The first answer to an idempotent request, replayed for the same key.
#[derive(Clone, Debug)]
pub struct Saved {
    pub fingerprint: String,
    pub status: u16,
    pub body: Value,
    /// The request that executed, named on replays (`Original-Request`).
    pub request_id: String,
}

#[derive(Default)]
pub struct Account {
    pub clock_offset: i64,
    /// The webhook endpoint's API version, stamped on every event.
    pub api_version: String,
    pub sessions: BTreeMap<String, Session>,
    pub payment_intents: HashMap<String, PaymentIntent>,
    pub prices: HashMap<String, Price>,
    pub products: HashMap<String, Product>,
    pub refunds: HashMap<String, Value>,
    /// Every event, oldest first.
    pub events: Vec<Value>,
    pub idempotency: HashMap<String, Saved>,
    /// Events created but not yet handed to the delivery worker.
    pub outgoing: Vec<Value>,
    /// Seconds a delayed payment takes to settle.
    pub settle_after: i64,
    /// Failures to inject: the next `n` API calls answer `status`.
    pub faults: Option<(u32, u16)>,
    /// Added to every API call's answer time, to exercise callers' timeouts: the call waits,
    /// then runs (a caller that gives up first changed nothing).
    pub latency_ms: u64,
    /// Added after the call has run: a caller that gives up has changed something anyway, as
    /// when Stripe executes a request whose answer is lost.
    pub answer_delay_ms: u64,
    /// Injected failures and `latency_ms` strike after the call has run (its effects, and its
    /// idempotent result, exist), not before.
    pub after_execution: bool,
}

/// The context of the request that caused an event (Stripe's `request` field).
#[derive(Clone, Debug, Default)]
pub struct Cause {
    pub request_id: Option<String>,
    pub idempotency_key: Option<String>,
}

impl Account {
    pub fn now(&self) -> i64 {
        system_now() + self.clock_offset
    }

    /// Records an event about `object` and queues it for delivery.
    pub fn emit(&mut self, kind: &str, object: Value, cause: &Cause) {
        let event = shape(
            "event",
            json!({
                "id": new_id("evt_"),
                "object": "event",
                "api_version": self.api_version,
                "created": self.now(),
                "data": { "object": object },
                "livemode": false,
                "pending_webhooks": 1,
                "request": { "id": cause.request_id, "idempotency_key": cause.idempotency_key },
                "type": kind,
            }),
        );
        self.events.push(event.clone());
        self.outgoing.push(event);
    }

    pub fn session_json(&self, s: &Session, base_url: &str) -> Value {
        shape(
            "checkout.session",
            json!({
                "id": s.id,
                "object": "checkout.session",
                "amount_subtotal": s.amount_total,
                "amount_total": s.amount_total,
                "cancel_url": s.cancel_url,
                "client_reference_id": s.client_reference_id,
                "created": s.created,
                "currency": s.currency,
                "customer_email": s.customer_email,
                // What the customer entered on the page: nothing while the session is open; the
                // email (prefilled from `customer_email`) once it completed. No address, name or
                // phone is collected.
                "customer_details": (s.status == SessionStatus::Complete).then(|| json!({
                    "address": null, "email": s.collected_email.as_ref().or(s.customer_email.as_ref()),
                    "name": null, "phone": null, "tax_exempt": "none", "tax_ids": [],
                    "business_name": null, "individual_name": null,
                })),
                "expires_at": s.expires_at,
                "livemode": false,
                "metadata": s.metadata,
                "mode": "payment",
                "locale": s.locale,
                "submit_type": s.submit_type,
                "payment_intent": s.payment_intent,
                "payment_method_types": s.payment_method_types,
                "payment_status": if s.paid { "paid" } else { "unpaid" },
                "status": s.status.as_str(),
                "success_url": s.success_url,
                "url": (s.status == SessionStatus::Open).then(|| format!("{base_url}/c/pay/{}", s.id)),
            }),
        )
    }

    pub fn line_items_json(s: &Session) -> Value {
        let data: Vec<Value> = s
            .line_items
            .iter()
            .map(|li| {
                shape(
                    "item",
                    json!({
                        "id": li.id,
                        "object": "item",
                        "amount_subtotal": li.unit_amount * li.quantity,
                        "amount_total": li.unit_amount * li.quantity,
                        "currency": li.currency,
                        "description": li.description,
                        "quantity": li.quantity,
                        "price": Self::price_json(&Price {
                            id: li.price_id.clone(),
                            product: li.product_id.clone(),
                            unit_amount: li.unit_amount,
                            currency: li.currency.clone(),
                            created: s.created,
                            active: true,
                            nickname: None,
                            lookup_key: None,
                            metadata: Metadata::new(),
                        }),
                    }),
                )
            })
            .collect();
        json!({ "object": "list", "data": data, "has_more": false, "url": format!("/v1/checkout/sessions/{}/line_items", s.id) })
    }

    pub fn payment_intent_json(pi: &PaymentIntent) -> Value {
        let mut json = json!({
            "id": pi.id,
            "object": "payment_intent",
            "amount": pi.amount,
            "amount_capturable": 0,
            "amount_received": pi.amount_received,
            "canceled_at": pi.canceled_at,
            "cancellation_reason": pi.canceled_at.map(|_| "abandoned"),
            "capture_method": "automatic_async",
            "client_secret": format!("{}_secret_sandbox", pi.id),
            "confirmation_method": "automatic",
            "currency": pi.currency,
            "created": pi.created,
            "last_payment_error": pi.last_payment_error,
            "latest_charge": pi.charges.last().map(|c| c.id.clone()),
            "next_action": pi.next_action,
            "payment_method": pi.payment_method,
            "livemode": false,
            "metadata": pi.metadata,
            "payment_method_types": [pi.method],
            "status": pi.status,
        });
        for (key, value) in &pi.text {
            json[key] = value.clone();
        }
        shape("payment_intent", json)
    }

    /// The charge of `pi` that took the money, if any.
    pub fn succeeded_charge(pi: &PaymentIntent) -> Option<&Charge> {
        pi.charges.iter().find(|c| c.status == "succeeded")
    }

    /// The PaymentIntent and charge of a charge id.
    pub fn find_charge(&self, id: &str) -> Option<(&PaymentIntent, &Charge)> {
        self.payment_intents
            .values()
            .find_map(|pi| pi.charges.iter().find(|c| c.id == id).map(|c| (pi, c)))
    }

    pub fn charge_json(pi: &PaymentIntent, c: &Charge) -> Value {
        let succeeded = c.status == "succeeded";
        let amount_refunded = if succeeded { pi.refunded } else { 0 };
        shape(
            "charge",
            json!({
                "id": c.id,
                "object": "charge",
                "amount": pi.amount,
                "amount_captured": if succeeded { pi.amount } else { 0 },
                "amount_refunded": amount_refunded,
                "captured": succeeded,
                "created": c.created,
                "currency": pi.currency,
                "disputed": false,
                "failure_code": c.failure_code,
                "failure_message": c.failure_message,
                "livemode": false,
                "metadata": pi.metadata,
                "paid": succeeded,
                "payment_intent": pi.id,
                "payment_method": pi.payment_method,
                "refunded": succeeded && amount_refunded >= pi.amount,
                "refunds": {
                    "object": "list",
                    "data": if succeeded { pi.refunds.iter().rev().cloned().collect() } else { Vec::new() },
                    "has_more": false,
                    "total_count": if succeeded { pi.refunds.len() } else { 0 },
                    "url": format!("/v1/charges/{}/refunds", c.id),
                },
                "description": pi.text.get("description"),
                "receipt_email": pi.text.get("receipt_email"),
                "statement_descriptor": pi.text.get("statement_descriptor"),
                "statement_descriptor_suffix": pi.text.get("statement_descriptor_suffix"),
                "billing_details": {
                    "address": null, "email": null, "name": null, "phone": null, "tax_id": null,
                },
                "status": c.status,
            }),
        )
    }

    /// The latest charge of `pi`, as its `latest_charge` expands.
    pub fn latest_charge_json(pi: &PaymentIntent) -> Option<Value> {
        pi.charges.last().map(|c| Self::charge_json(pi, c))
    }

    /// A new attempt on `pi` with a new PaymentMethod: its charge, in `status`.
    fn attempt(&mut self, pi_id: &str, status: &'static str) {
        let now = self.now();
        if let Some(pi) = self.payment_intents.get_mut(pi_id) {
            pi.payment_method = Some(new_id("pm_"));
            pi.charges.push(Charge {
                id: new_id("ch_"),
                created: now,
                status,
                failure_code: None,
                failure_message: None,
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
        let charge = pi.charges.last_mut().expect("an attempt");
        charge.status = status;
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

    pub fn price_json(p: &Price) -> Value {
        shape(
            "price",
            json!({
                "id": p.id, "object": "price", "active": p.active, "billing_scheme": "per_unit",
                "created": p.created, "currency": p.currency, "livemode": false,
                "lookup_key": p.lookup_key, "metadata": p.metadata, "nickname": p.nickname,
                "product": p.product, "tax_behavior": "unspecified", "type": "one_time",
                "unit_amount": p.unit_amount, "unit_amount_decimal": p.unit_amount.to_string(),
            }),
        )
    }

    pub fn product_json(p: &Product) -> Value {
        shape(
            "product",
            json!({
                "id": p.id, "object": "product", "active": p.active, "created": p.created,
                "description": p.description, "images": p.images, "livemode": false,
                "metadata": p.metadata, "name": p.name, "type": "service", "updated": p.created,
            }),
        )
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
            amount: session.amount_total,
            amount_received: 0,
            currency: session.currency.clone(),
            status: "requires_payment_method",
            metadata: session.payment_intent_metadata.clone(),
            last_payment_error: None,
            method,
            refunded: 0,
            payment_method: None,
            charges: Vec::new(),
            next_action: None,
            text: session.payment_intent_text.clone(),
            canceled_at: None,
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
        let session = self
            .sessions
            .get(session_id)
            .ok_or_else(|| ApiError::not_found("checkout.session", session_id, "session"))?;
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
            if !e.contains('@') || e.len() > 512 {
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
        let redirect = self.sessions[session_id]
            .success_url
            .replace("{CHECKOUT_SESSION_ID}", session_id);
        match behaviour {
            Behaviour::Succeed => {
                self.succeed_payment_intent(&pi_id, cause);
                self.complete_session(session_id, true, base_url, cause);
                Ok(Outcome::Paid {
                    redirect,
                    payment_intent: pi_id,
                })
            }
            Behaviour::Decline(code, decline_code, message) => {
                self.fail_payment_intent(&pi_id, code, decline_code, message, cause);
                Ok(Outcome::Declined {
                    payment_intent: pi_id,
                    code: decline_code.unwrap_or(code),
                    message,
                })
            }
            Behaviour::Authenticate => {
                let challenge = format!("{base_url}/c/pay/{session_id}/authenticate");
                let pi = self.payment_intents.get_mut(&pi_id).expect("created above");
                pi.payment_method = Some(new_id("pm_"));
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
        let session = self
            .sessions
            .get(session_id)
            .ok_or_else(|| ApiError::not_found("checkout.session", session_id, "session"))?;
        let redirect = session
            .success_url
            .replace("{CHECKOUT_SESSION_ID}", session_id);
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
            let pi = self.payment_intents.get_mut(&pi_id).expect("checked above");
            pi.status = "requires_payment_method";
            pi.last_payment_error = Some(json!({
                "type": "invalid_request_error",
                "code": "payment_intent_authentication_failure",
                "message": message,
            }));
            let snapshot = Self::payment_intent_json(pi);
            self.emit("payment_intent.payment_failed", snapshot, cause);
            Ok(Outcome::Declined {
                payment_intent: pi_id,
                code: "payment_intent_authentication_failure",
                message,
            })
        }
    }

    fn succeed_payment_intent(&mut self, pi_id: &str, cause: &Cause) {
        self.settle_charge(pi_id, "succeeded", None, cause);
        let pi = self
            .payment_intents
            .get_mut(pi_id)
            .expect("payment intent exists");
        pi.status = "succeeded";
        pi.amount_received = pi.amount;
        pi.last_payment_error = None;
        let snapshot = Self::payment_intent_json(pi);
        self.emit("payment_intent.succeeded", snapshot, cause);
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
        let pi = self
            .payment_intents
            .get_mut(pi_id)
            .expect("payment intent exists");
        pi.status = "requires_payment_method";
        pi.last_payment_error = Some(json!({
            "type": "card_error", "code": code, "decline_code": decline_code, "message": message,
        }));
        let snapshot = Self::payment_intent_json(pi);
        self.emit("payment_intent.payment_failed", snapshot, cause);
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
        let s = self
            .sessions
            .get_mut(session_id)
            .ok_or_else(|| ApiError::not_found("checkout.session", session_id, "session"))?;
        if s.status != SessionStatus::Open {
            return Err(ApiError::invalid(
                "Only Checkout Sessions with a status in [\"open\"] can be expired.",
                Some("session"),
            ));
        }
        s.status = SessionStatus::Expired;
        let pi_id = s.payment_intent.clone();
        let now = system_now() + self.clock_offset;
        let snapshot = self.session_json(&self.sessions[session_id], base_url);
        if let Some(pi) = pi_id.and_then(|id| self.payment_intents.get_mut(&id)) {
            if pi.status != "succeeded" {
                pi.status = "canceled";
                pi.canceled_at = Some(now);
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

/// What the customer pays with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    Card(String),
    Iban(String),
}

enum Behaviour {
    Succeed,
    /// code, decline_code, message
    Decline(&'static str, Option<&'static str>, &'static str),
    /// A delayed method: settles later, to success (true) or failure.
    Delayed(bool),
    /// 3-D Secure: the customer must complete (or fail) a challenge first.
    Authenticate,
}

/// IBANs of Stripe's SEPA debit test mode.
pub const IBAN_SUCCEEDS: &str = "DE89370400440532013000";
pub const IBAN_FAILS: &str = "DE62370400440532013001";

impl Method {
    fn kind(&self) -> &'static str {
        match self {
            Method::Card(_) => "card",
            Method::Iban(_) => "sepa_debit",
        }
    }

    fn behaviour(&self) -> Result<Behaviour, ApiError> {
        let digits = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        Ok(match self {
            Method::Card(number) => match digits(number).as_str() {
                // Visa, Visa debit, Mastercard (two), American Express, Discover.
                "4242424242424242" | "4000056655665556" | "5555555555554444"
                | "5200828282828210" | "378282246310005" | "6011111111111117" => Behaviour::Succeed,
                "4000000000000002" => Behaviour::Decline(
                    "card_declined",
                    Some("generic_decline"),
                    "Your card was declined.",
                ),
                "4000000000009995" => Behaviour::Decline(
                    "card_declined",
                    Some("insufficient_funds"),
                    "Your card has insufficient funds.",
                ),
                "4000000000000069" => {
                    Behaviour::Decline("expired_card", None, "Your card has expired.")
                }
                "4000000000000119" => Behaviour::Decline(
                    "processing_error",
                    None,
                    "An error occurred while processing your card. Try again in a little bit.",
                ),
                "4000002760003184" => Behaviour::Authenticate,
                _ => {
                    return Err(ApiError::invalid(
                        "Your card number is incorrect.",
                        Some("card[number]"),
                    )
                    .with_code("incorrect_number"))
                }
            },
            Method::Iban(iban) => match digits(iban).to_ascii_uppercase().as_str() {
                IBAN_SUCCEEDS => Behaviour::Delayed(true),
                IBAN_FAILS => Behaviour::Delayed(false),
                _ => {
                    return Err(
                        ApiError::invalid("The IBAN you entered is invalid.", Some("iban"))
                            .with_code("invalid_bank_account_iban"),
                    )
                }
            },
        })
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
