//! Refunds: create, retrieve, list (by `charge` or `payment_intent`, or a charge's own list at
//! its `refunds.url`), update (metadata).

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::Json;
use serde_json::Value;

use super::idempotency::IdempotentPost;
use super::reads::{created_filter, found, page, query};
use crate::error::ApiError;
use crate::params;
use crate::refunds;
use crate::state::Account;
use crate::Shared;

pub(super) async fn create_refund(post: IdempotentPost) -> Response {
    post.run(&params::CREATE_REFUND, refunds::create_refund)
}

pub(super) async fn update_refund(Path(id): Path<String>, post: IdempotentPost) -> Response {
    post.run(&params::UPDATE_REFUND, |account, params, cause| {
        refunds::update_refund(account, &id, params, cause)
    })
}

pub(super) async fn retrieve_refund(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    query(raw, &params::RETRIEVE)?;
    let refund = shared.with_account(|a| a.refunds.get(&id).cloned());
    found(refund, "refund", &id, "refund")
}

/// Refunds, newest first; `charge`, `payment_intent` and `created` filters, cursors, limit.
pub(super) async fn list_refunds(
    State(shared): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(raw, &params::LIST_REFUNDS)?;
    let created = created_filter(&q)?;
    let matches = |r: &Value, key: &str| q.get(key).is_none_or(|want| r[key] == *want);
    let items = shared.with_account(|a| {
        newest_first(a, |r| {
            matches(r, "charge")
                && matches(r, "payment_intent")
                && created(r["created"].as_i64().unwrap_or(0))
        })
    });
    page(items, &q, "/v1/refunds")
}

/// The refunds of charge `id`, newest first, with `limit` and cursors: where the charge's
/// `refunds.url` points.
pub(super) async fn list_charge_refunds(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(raw, &params::LIST_CHARGE_REFUNDS)?;
    let items = shared.with_account(|a| {
        a.find_charge(&id)
            .map(|_| newest_first(a, |r| r["charge"] == id.as_str()))
    });
    let items = items.ok_or_else(|| ApiError::not_found("charge", &id, "charge"))?;
    page(items, &q, &format!("/v1/charges/{id}/refunds"))
}

fn newest_first(account: &Account, keep: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut all: Vec<Value> = account
        .refunds
        .values()
        .filter(|r| keep(r))
        .cloned()
        .collect();
    // Ids are made in order.
    all.sort_by(|x, y| y["id"].as_str().cmp(&x["id"].as_str()));
    all
}
