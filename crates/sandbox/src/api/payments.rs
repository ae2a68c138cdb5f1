//! PaymentIntents and their charges (the payment machine makes them): retrieve and list, and a
//! manual capture's capture and cancel.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::Json;
use serde_json::Value;

use super::idempotency::IdempotentPost;
use super::reads::{created_filter, expansions, found, page, query};
use crate::error::ApiError;
use crate::fields::{integer, text};
use crate::params;
use crate::state::{Account, PaymentIntent};
use crate::Shared;

pub(super) async fn retrieve_payment_intent(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(raw, &params::RETRIEVE_PAYMENT_INTENT)?;
    let pi = shared.with_account(|a| {
        a.payment_intents
            .get(&id)
            .map(|pi| with_expansions(pi, Account::payment_intent_json(pi), &q))
    });
    found(pi, "payment_intent", &id, "intent")
}

/// A PaymentIntent's JSON with its `latest_charge` expanded when `params` ask for it.
fn with_expansions(pi: &PaymentIntent, mut json: Value, params: &Value) -> Value {
    let expand_charge = expansions(params).iter().any(|e| e == "latest_charge");
    if let (true, Some(charge)) = (expand_charge, Account::latest_charge_json(pi)) {
        json["latest_charge"] = charge;
    }
    json
}

/// Runs `action` on PaymentIntent `id`, answering it as it is then, expanded as asked.
fn payment_intent_action(
    post: IdempotentPost,
    id: String,
    accepts: &params::Params,
    action: impl FnOnce(&mut Account, &str, &Value, &crate::state::Cause) -> Result<Value, ApiError>,
) -> Response {
    post.run(accepts, |account, params, cause| {
        let json = action(account, &id, params, cause)?;
        Ok(with_expansions(&account.payment_intents[&id], json, params))
    })
}

pub(super) async fn capture_payment_intent(
    Path(id): Path<String>,
    post: IdempotentPost,
) -> Response {
    payment_intent_action(
        post,
        id,
        &params::CAPTURE_PAYMENT_INTENT,
        |account, id, params, cause| {
            let amount = integer(params, "amount_to_capture", "amount_to_capture")?;
            account.capture(id, amount, cause)
        },
    )
}

pub(super) async fn cancel_payment_intent(
    Path(id): Path<String>,
    post: IdempotentPost,
) -> Response {
    payment_intent_action(
        post,
        id,
        &params::CANCEL_PAYMENT_INTENT,
        |account, id, params, cause| account.cancel(id, text(params, "cancellation_reason"), cause),
    )
}

pub(super) async fn retrieve_charge(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    query(raw, &params::RETRIEVE_CHARGE)?;
    let charge = shared.with_account(|a| {
        a.find_charge(&id)
            .map(|(pi, c)| Account::charge_json(pi, c))
    });
    found(charge, "charge", &id, "charge")
}

/// Charges, newest first; `payment_intent` and `created` filters, cursors, limit.
pub(super) async fn list_charges(
    State(shared): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(raw, &params::LIST_CHARGES)?;
    let pi = q
        .get("payment_intent")
        .and_then(Value::as_str)
        .map(str::to_string);
    let created = created_filter(&q)?;
    let items = shared.with_account(|a| {
        let mut all: Vec<Value> = a
            .payment_intents
            .values()
            .filter(|p| pi.as_deref().is_none_or(|want| p.id == want))
            .flat_map(|p| p.charges.iter().map(move |c| Account::charge_json(p, c)))
            .filter(|c| created(c["created"].as_i64().unwrap_or(0)))
            .collect();
        // Newest first; ids are made in order.
        all.sort_by(|x, y| y["id"].as_str().cmp(&x["id"].as_str()));
        all
    });
    page(items, &q, "/v1/charges")
}
