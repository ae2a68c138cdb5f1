//! PaymentIntents and their charges (read only: the payment machine makes them) and refunds.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::Json;
use serde_json::Value;

use super::idempotency::IdempotentPost;
use super::reads::{created_filter, expansions, found, page, query};
use crate::error::ApiError;
use crate::params;
use crate::refunds;
use crate::state::Account;
use crate::Shared;

pub(super) async fn retrieve_payment_intent(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(raw, &params::RETRIEVE_PAYMENT_INTENT)?;
    let expand_charge = expansions(&q).iter().any(|e| e == "latest_charge");
    let pi = shared.with_account(|a| {
        a.payment_intents.get(&id).map(|pi| {
            let mut json = Account::payment_intent_json(pi);
            if let (true, Some(charge)) = (expand_charge, Account::latest_charge_json(pi)) {
                json["latest_charge"] = charge;
            }
            json
        })
    });
    found(pi, "payment_intent", &id, "intent")
}

pub(super) async fn retrieve_charge(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    query(raw, &params::RETRIEVE)?;
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

pub(super) async fn create_refund(post: IdempotentPost) -> Response {
    post.run(&params::CREATE_REFUND, refunds::create_refund)
}
