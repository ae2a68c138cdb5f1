//! The `/v1` API: the Stripe subset caisse uses, form-encoded, behind `Authorization: Bearer
//! sk_test_…`, with `Idempotency-Key` replay and Stripe's list shapes.
//!
//! This file holds what every call goes through: the routing table and the middleware that checks
//! the API key and `Stripe-Version`, names the request and injects the faults tests ask for. The
//! handlers live per resource (`checkout`, `payments`, `refunds`, `events`, `catalog`,
//! `webhook_endpoints`); POSTs go through
//! `idempotency`, GETs through `reads`.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;

use crate::error::ApiError;
use crate::state::new_id;
use crate::Shared;

mod catalog;
mod checkout;
mod events;
mod idempotency;
mod payments;
mod reads;
mod refunds;
mod webhook_endpoints;

pub fn routes(shared: Shared) -> Router<Shared> {
    Router::new()
        .route(
            "/v1/checkout/sessions",
            post(checkout::create_session).get(checkout::list_sessions),
        )
        .route(
            "/v1/checkout/sessions/{id}",
            get(checkout::retrieve_session).post(checkout::update_session),
        )
        .route(
            "/v1/checkout/sessions/{id}/line_items",
            get(checkout::session_line_items),
        )
        .route(
            "/v1/checkout/sessions/{id}/expire",
            post(checkout::expire_session),
        )
        .route(
            "/v1/payment_intents/{id}",
            get(payments::retrieve_payment_intent),
        )
        .route(
            "/v1/payment_intents/{id}/capture",
            post(payments::capture_payment_intent),
        )
        .route(
            "/v1/payment_intents/{id}/cancel",
            post(payments::cancel_payment_intent),
        )
        .route("/v1/charges", get(payments::list_charges))
        .route("/v1/charges/{id}", get(payments::retrieve_charge))
        .route(
            "/v1/charges/{id}/refunds",
            get(refunds::list_charge_refunds),
        )
        .route("/v1/events", get(events::list_events))
        .route("/v1/events/{id}", get(events::retrieve_event))
        .route(
            "/v1/refunds",
            post(refunds::create_refund).get(refunds::list_refunds),
        )
        .route(
            "/v1/refunds/{id}",
            get(refunds::retrieve_refund).post(refunds::update_refund),
        )
        .route(
            "/v1/products",
            post(catalog::create_product).get(catalog::list_products),
        )
        .route("/v1/products/{id}", get(catalog::retrieve_product))
        .route(
            "/v1/prices",
            post(catalog::create_price).get(catalog::list_prices),
        )
        .route("/v1/prices/{id}", get(catalog::retrieve_price))
        .route(
            "/v1/webhook_endpoints",
            post(webhook_endpoints::create).get(webhook_endpoints::list),
        )
        .route(
            "/v1/webhook_endpoints/{id}",
            get(webhook_endpoints::retrieve)
                .post(webhook_endpoints::update)
                .delete(webhook_endpoints::delete),
        )
        .route(
            "/v1/shipping_rates/{id}",
            get(catalog::retrieve_shipping_rate),
        )
        .layer(middleware::from_fn_with_state(shared, authenticate))
}

/// Stripe's API keys: Bearer (the SDKs) or Basic with the key as user name (curl -u).
fn api_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    if let Some(key) = value.strip_prefix("Bearer ") {
        return Some(key.trim().to_string());
    }
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.strip_prefix("Basic ")?)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    Some(text.split(':').next().unwrap_or("").to_string())
}

async fn authenticate(State(shared): State<Shared>, req: Request, next: Next) -> Response {
    let request_id = new_id("req_");
    // The version a request asks for (`Stripe-Version`) names the shape of its answer; the
    // sandbox has one shape, and says which version it answered in.
    let asked_version = req
        .headers()
        .get("stripe-version")
        .map(|v| v.to_str().unwrap_or("").to_string());
    let version = asked_version
        .clone()
        .unwrap_or_else(|| shared.with_account(|a| a.api_version.clone()));
    let mut response = match api_key(req.headers()) {
        // Stripe knows every version it has released, and none after today.
        _ if !crate::is_released_api_version(&version, shared.with_account(|a| a.now())) => {
            ApiError::invalid(
                format!("Invalid Stripe API version: {version}"),
                None,
            )
            .into_response()
        }
        None => ApiError::unauthorized(
            "You did not provide an API key. You need to provide your API key in the Authorization header, \
             using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        )
        .into_response(),
        Some(key)
            if !(key.starts_with("sk_test_") || key.starts_with("rk_test_")) || key.len() <= 8 =>
        {
            ApiError::unauthorized(format!(
                "Invalid API Key provided: {}. The sandbox accepts test-mode secret keys only.",
                redacted(&key)
            ))
            .into_response()
        }
        Some(_)
            if shared
                .rate_limit
                .as_ref()
                .is_some_and(|r| !r.admit(req.method())) =>
        {
            crate::rate_limit::refused().into_response()
        }
        Some(_) => {
            let (after, latency) = shared.with_account(|a| (a.after_execution, a.latency_ms));
            let before = if after { None } else { shared.take_fault() };
            match before {
                Some(status) => injected(status),
                None => {
                    if latency > 0 && !after {
                        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
                    }
                    let mut req = req;
                    req.extensions_mut().insert(RequestId(request_id.clone()));
                    let response = next.run(req).await;
                    let mut delay = shared.with_account(|a| a.answer_delay_ms);
                    if after {
                        delay += latency;
                    }
                    if delay > 0 {
                        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                    }
                    match after.then(|| shared.take_fault()).flatten() {
                        Some(status) => injected(status),
                        None => response,
                    }
                }
            }
        }
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("request-id", v);
    }
    if let (true, Ok(v)) = (
        crate::is_api_version(&version),
        HeaderValue::from_str(&version),
    ) {
        response.headers_mut().insert("stripe-version", v);
    }
    response
}

/// A key as Stripe echoes it: its start and its last four characters, the middle starred, no
/// character shown twice and at most half of a short key shown.
fn redacted(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let shown = chars.len() / 2;
    let head = shown.min(8);
    let tail = (shown - head).min(4);
    let stars = chars.len() - head - tail;
    format!(
        "{}{}{}",
        chars[..head].iter().collect::<String>(),
        "*".repeat(stars.min(20)),
        chars[chars.len() - tail..].iter().collect::<String>()
    )
}

/// The answer of a call the sandbox was told to fail.
fn injected(status: u16) -> Response {
    ApiError {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        kind: "api_error",
        code: None,
        message: "The sandbox was told to fail this request.".into(),
        param: None,
    }
    .into_response()
}

#[derive(Clone)]
struct RequestId(String);

fn decode(body: &str) -> Result<Value, ApiError> {
    caisse_stripe::form::decode(body)
        .map_err(|e| ApiError::invalid(format!("Invalid request body: {e}"), None))
}
