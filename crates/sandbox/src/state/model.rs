//! The object model of the emulated account: the objects Stripe would store (sessions,
//! PaymentIntents and their charges, products, prices, saved idempotent answers) and [`Account`],
//! the store that holds them with the clock and the event log. Nothing here decides what a
//! payment does (`payment`) or how an object reads as JSON (`render`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Map, Value};

use super::memory::{EventLog, IdempotencyKeys};
use crate::random;
use crate::shapes::shape;
use crate::shipping::{Collected, ShippingSetup};
use crate::ApiError;

pub type Metadata = Map<String, Value>;

/// A fresh Stripe-looking id: `cs_test_…`, `pi_…`, `evt_…`.
pub fn new_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // The counter keeps ids unique and sortable by creation within one sandbox.
    format!("{prefix}{n:06}{}", random::alphanumeric(20))
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
    pub(super) fn as_str(self) -> &'static str {
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
    /// The line items' sum (Stripe's `amount_subtotal`); [`Session::total`] adds shipping.
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
    /// `payment_intent_data[capture_method]`: `automatic_async` (Stripe's default),
    /// `automatic`, or `manual` (the payment is only authorized until captured).
    pub capture_method: &'static str,
    /// The address, rates and phone number the page asks for.
    pub shipping: ShippingSetup,
    /// What the customer entered for them, once they submitted a payment.
    pub collected: Option<Collected>,
}

impl Session {
    /// The chosen rate's index: the customer's, else the first (Stripe's page preselects it).
    pub fn chosen_rate(&self) -> Option<usize> {
        match self.collected.as_ref().and_then(|c| c.rate) {
            Some(i) => Some(i),
            None => (!self.shipping.options.is_empty()).then_some(0),
        }
    }

    pub fn shipping_amount(&self) -> i64 {
        self.chosen_rate()
            .and_then(|i| self.shipping.options.get(i))
            .map_or(0, |r| r.amount)
    }

    /// What the customer pays: the line items and the chosen shipping rate.
    pub fn total(&self) -> i64 {
        self.amount_total + self.shipping_amount()
    }

    /// Whether the page must collect something before a payment: an address, a phone number.
    pub fn needs_collection(&self) -> bool {
        !self.shipping.allowed_countries.is_empty() || self.shipping.collect_phone
    }

    /// Where the customer lands once the payment went through: `success_url` with Stripe's
    /// `{CHECKOUT_SESSION_ID}` template filled in, so the shop learns which session it was.
    pub fn success_redirect(&self) -> String {
        self.success_url.replace("{CHECKOUT_SESSION_ID}", &self.id)
    }
}

#[derive(Clone, Debug)]
pub struct PaymentIntent {
    pub id: String,
    pub created: i64,
    pub amount: i64,
    pub amount_received: i64,
    pub currency: String,
    pub status: &'static str,
    /// As the session asked (`Session::capture_method`).
    pub capture_method: &'static str,
    /// Authorized and not yet captured (manual capture), while `requires_capture`.
    pub amount_capturable: i64,
    /// What an authorization gave back uncaptured: the rest of a partial capture, or all of it
    /// when canceled or expired.
    pub released: i64,
    /// Whether the charge counts `released` as refunded, as Stripe did before 2025-03-31.basil.
    pub release_is_refund: bool,
    /// A dispute test card on a manual capture: disputed once captured.
    pub dispute_on_capture: bool,
    /// Its charge was disputed (`charge.dispute.created`): it stays so, and cannot be refunded.
    pub disputed: bool,
    pub metadata: Metadata,
    pub last_payment_error: Option<Value>,
    pub method: &'static str,
    pub refunded: i64,
    /// The PaymentMethod of the attempt under way or that succeeded (`Account::payment_methods`);
    /// none after a failed attempt, as at Stripe (its error names it).
    pub payment_method: Option<String>,
    /// One per attempt, oldest first: failed ones, then at most one pending or succeeded.
    pub charges: Vec<Charge>,
    /// What the customer must do (3-D Secure) while `status` is `requires_action`.
    pub next_action: Option<Value>,
    /// From the session's `payment_intent_data` (see `Session::payment_intent_text`).
    pub text: Metadata,
    pub canceled_at: Option<i64>,
    /// `abandoned` for an expired session's, else as the cancel call or the 7-day expiry said.
    pub cancellation_reason: Option<String>,
    /// Its refunds, oldest first, as created.
    pub refunds: Vec<Value>,
}

#[derive(Clone, Debug)]
pub struct Charge {
    pub id: String,
    pub created: i64,
    /// `pending`, `succeeded` or `failed`.
    pub status: &'static str,
    /// False for a succeeded charge of a manual capture until it is captured.
    pub captured: bool,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    /// The attempt's PaymentMethod, kept when a failure takes it off the PaymentIntent.
    pub payment_method: Option<String>,
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
    /// The account's default API version, stamped on every event (an endpoint with a version
    /// of its own receives its events in that one).
    pub api_version: String,
    /// The webhook endpoints, shared with the deliverer.
    pub endpoints: crate::endpoints::Endpoints,
    pub sessions: BTreeMap<String, Session>,
    pub payment_intents: HashMap<String, PaymentIntent>,
    pub prices: HashMap<String, Price>,
    pub products: HashMap<String, Product>,
    /// The PaymentMethod of every payment attempt.
    pub payment_methods: HashMap<String, super::PaymentMethod>,
    pub refunds: HashMap<String, Value>,
    /// Pending refunds (of SEPA debits) and the sandbox time each succeeds at.
    pub pending_refunds: BTreeMap<String, i64>,
    /// Disputes by id (`crate::disputes`).
    pub disputes: BTreeMap<String, crate::disputes::Dispute>,
    /// Every event of the last 30 days, oldest first.
    pub events: EventLog,
    pub idempotency: IdempotencyKeys,
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

fn session_not_found(id: &str) -> ApiError {
    ApiError::not_found("checkout.session", id, "session")
}

impl Account {
    pub fn now(&self) -> i64 {
        system_now() + self.clock_offset
    }

    /// The session `id`, or Stripe's 404 for it.
    pub fn checkout_session(&self, id: &str) -> Result<&Session, ApiError> {
        self.sessions.get(id).ok_or_else(|| session_not_found(id))
    }

    pub fn checkout_session_mut(&mut self, id: &str) -> Result<&mut Session, ApiError> {
        self.sessions
            .get_mut(id)
            .ok_or_else(|| session_not_found(id))
    }

    /// Records an event about `object` and queues it for delivery.
    pub fn emit(&mut self, kind: &str, object: Value, cause: &Cause) {
        self.record(kind, json!({ "object": object }), cause);
    }

    /// Records an event whose `data` is `data` (the object, and for an update what it was).
    pub(super) fn record(&mut self, kind: &str, data: Value, cause: &Cause) {
        let event = shape(
            "event",
            json!({
                "id": new_id("evt_"),
                "object": "event",
                "api_version": self.api_version,
                "created": self.now(),
                "data": data,
                "livemode": false,
                "pending_webhooks": self.endpoints.lock().targets(kind).len(),
                "request": { "id": cause.request_id, "idempotency_key": cause.idempotency_key },
                "type": kind,
            }),
        );
        let now = self.now();
        self.events.push(event.clone(), now);
        self.outgoing.push(event);
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
}
