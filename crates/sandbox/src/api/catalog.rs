//! Products and Prices: create, and retrieve a price; retrieve a session's shipping rate.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::Json;
use serde_json::Value;

use super::idempotency::IdempotentPost;
use super::reads::{found, query};
use crate::catalog;
use crate::error::ApiError;
use crate::params;
use crate::state::Account;
use crate::Shared;

pub(super) async fn create_product(post: IdempotentPost) -> Response {
    post.run(&params::CREATE_PRODUCT, |a, p, _| {
        catalog::create_product(a, p)
    })
}

pub(super) async fn create_price(post: IdempotentPost) -> Response {
    post.run(&params::CREATE_PRICE, |a, p, _| catalog::create_price(a, p))
}

pub(super) async fn retrieve_price(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    query(raw, &params::RETRIEVE)?;
    let price = shared.with_account(|a| a.prices.get(&id).map(Account::price_json));
    found(price, "price", &id, "price")
}

/// A `shr_` rate a session created from its `shipping_rate_data`.
pub(super) async fn retrieve_shipping_rate(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    query(raw, &params::RETRIEVE)?;
    let rate = shared.with_account(|a| {
        a.sessions
            .values()
            .flat_map(|s| &s.shipping.options)
            .find(|r| r.id == id)
            .map(|r| r.json())
    });
    found(rate, "shipping_rate", &id, "shipping_rate")
}
