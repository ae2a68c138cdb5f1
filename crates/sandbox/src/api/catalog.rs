//! Products and Prices: create, retrieve and list them (with Stripe's filters and, on prices,
//! `expand[]` of their product); retrieve a session's shipping rate.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::Json;
use serde_json::Value;

use super::idempotency::IdempotentPost;
use super::reads::{created_filter, expansions, found, page, query};
use crate::catalog;
use crate::error::ApiError;
use crate::fields::{boolean, strings, text};
use crate::params;
use crate::state::{Account, Price};
use crate::Shared;

pub(super) async fn create_product(post: IdempotentPost) -> Response {
    post.run(&params::CREATE_PRODUCT, |a, p, _| {
        catalog::create_product(a, p)
    })
}

pub(super) async fn create_price(post: IdempotentPost) -> Response {
    post.run(&params::CREATE_PRICE, |a, p, _| catalog::create_price(a, p))
}

/// A price as listed or retrieved: its `product` expanded when asked (`prefix` is `data.` in a
/// list).
fn price_json(account: &Account, price: &Price, expand: &[String], prefix: &str) -> Value {
    let mut json = Account::price_json(price);
    let wants_product = expand
        .iter()
        .any(|e| e.strip_prefix(prefix) == Some("product"));
    if let (true, Some(product)) = (wants_product, account.products.get(&price.product)) {
        json["product"] = Account::product_json(product);
    }
    json
}

pub(super) async fn retrieve_price(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(raw, &params::RETRIEVE_PRICE)?;
    let price = shared.with_account(|a| {
        a.prices
            .get(&id)
            .map(|p| price_json(a, p, &expansions(&q), ""))
    });
    found(price, "price", &id, "price")
}

pub(super) async fn retrieve_product(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    query(raw, &params::RETRIEVE)?;
    let product = shared.with_account(|a| a.products.get(&id).map(Account::product_json));
    found(product, "product", &id, "id")
}

/// Newest first; within one second, by id (the sandbox's ids count up).
fn newest_first(created: i64, id: &str) -> (std::cmp::Reverse<i64>, std::cmp::Reverse<String>) {
    (
        std::cmp::Reverse(created),
        std::cmp::Reverse(id.to_string()),
    )
}

/// `active`, `currency`, `product`, `type`, `lookup_keys[]`, `created`, cursors, `limit`,
/// `expand[]=data.product`.
pub(super) async fn list_prices(
    State(shared): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(raw, &params::LIST_PRICES)?;
    let active = boolean(&q, "active")?;
    let currency = text(&q, "currency").map(str::to_ascii_lowercase);
    let product = text(&q, "product");
    let one_time = text(&q, "type").is_none_or(|t| t == "one_time");
    let lookup_keys = strings(&q, "lookup_keys");
    if lookup_keys.len() > 10 {
        return Err(ApiError::invalid(
            "You may pass at most 10 lookup keys.",
            Some("lookup_keys"),
        ));
    }
    let created = created_filter(&q)?;
    let expand = expansions(&q);
    let items = shared.with_account(|a| {
        let mut prices: Vec<&Price> = a
            .prices
            .values()
            .filter(|p| one_time && active.is_none_or(|want| p.active == want))
            .filter(|p| currency.as_ref().is_none_or(|c| &p.currency == c))
            .filter(|p| product.is_none_or(|id| p.product == id))
            .filter(|p| {
                lookup_keys.is_empty()
                    || p.lookup_key
                        .as_ref()
                        .is_some_and(|k| lookup_keys.contains(k))
            })
            .filter(|p| created(p.created))
            .collect();
        prices.sort_by_key(|p| newest_first(p.created, &p.id));
        prices
            .into_iter()
            .map(|p| price_json(a, p, &expand, "data."))
            .collect::<Vec<_>>()
    });
    page(items, &q, "/v1/prices")
}

/// `active`, `ids[]`, `created`, cursors, `limit`.
pub(super) async fn list_products(
    State(shared): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(raw, &params::LIST_PRODUCTS)?;
    let active = boolean(&q, "active")?;
    let ids = strings(&q, "ids");
    let created = created_filter(&q)?;
    let items = shared.with_account(|a| {
        let mut products: Vec<_> = a
            .products
            .values()
            .filter(|p| active.is_none_or(|want| p.active == want))
            .filter(|p| ids.is_empty() || ids.contains(&p.id))
            .filter(|p| created(p.created))
            .collect();
        products.sort_by_key(|p| newest_first(p.created, &p.id));
        products
            .into_iter()
            .map(Account::product_json)
            .collect::<Vec<_>>()
    });
    page(items, &q, "/v1/products")
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
