//! `/_sandbox/…`: what tests (and curious developers) use to drive the sandbox from outside: pay a
//! session without the page, move the clock, inject failures, switch chaos on, read deliveries.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::delivery::Chaos;
use crate::error::ApiError;
use crate::state::{Cause, Method, Outcome};
use crate::Shared;

/// A JSON body, refused in Stripe's error shape (not axum's plain text) when it is not one.
struct Body<T>(T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(v)| Body(v))
            .map_err(|e| ApiError::invalid(format!("Invalid JSON body: {}", e.body_text()), None))
    }
}

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/_sandbox/checkout/sessions/{id}/pay", post(pay))
        .route(
            "/_sandbox/checkout/sessions/{id}/authenticate",
            post(authenticate),
        )
        .route("/_sandbox/disputes/{id}/close", post(close_dispute))
        .route("/_sandbox/refunds/{id}/fail", post(fail_refund))
        .route("/_sandbox/clock", get(clock))
        .route("/_sandbox/clock/advance", post(advance))
        .route("/_sandbox/chaos", get(get_chaos).post(set_chaos))
        .route("/_sandbox/faults", post(faults))
        .route("/_sandbox/deliveries", get(deliveries))
        .route("/_sandbox/webhook", post(webhook))
}

#[derive(serde::Deserialize)]
struct Pay {
    card: Option<String>,
    iban: Option<String>,
    /// What the customer types in the page's email field.
    email: Option<String>,
    /// The page's shipping and phone fields, by the same names.
    #[serde(flatten)]
    shipping: crate::shipping::Entered,
}

#[derive(serde::Deserialize)]
struct Authenticate {
    complete: bool,
}

pub fn outcome_json(o: &Outcome) -> Value {
    match o {
        Outcome::Paid {
            redirect,
            payment_intent,
        } => json!({"outcome": "paid", "redirect": redirect, "payment_intent": payment_intent}),
        Outcome::Processing {
            redirect,
            payment_intent,
        } => {
            json!({"outcome": "processing", "redirect": redirect, "payment_intent": payment_intent})
        }
        Outcome::Declined {
            payment_intent,
            code,
            message,
        } => {
            json!({"outcome": "declined", "payment_intent": payment_intent, "decline_code": code, "message": message})
        }
        Outcome::RequiresAction {
            challenge,
            payment_intent,
        } => {
            json!({"outcome": "requires_action", "challenge": challenge, "payment_intent": payment_intent})
        }
    }
}

async fn pay(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    Body(body): Body<Pay>,
) -> Result<Json<Value>, ApiError> {
    let method = match (body.card, body.iban) {
        (Some(card), None) => Method::Card(card),
        (None, Some(iban)) => Method::Iban(iban),
        _ => {
            return Err(ApiError::invalid(
                "Send exactly one of `card` or `iban`.",
                None,
            ))
        }
    };
    let outcome = shared.with_account(|a| {
        a.enter_shipping(&id, &body.shipping)?;
        a.pay(
            &id,
            &method,
            body.email.as_deref(),
            &shared.base_url,
            &Cause::default(),
        )
    })?;
    Ok(Json(outcome_json(&outcome)))
}

/// The 3-D Secure challenge, completed (`{"complete": true}`) or failed.
async fn authenticate(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    Body(body): Body<Authenticate>,
) -> Result<Json<Value>, ApiError> {
    let outcome = shared.with_account(|a| {
        a.authenticate(&id, body.complete, &shared.base_url, &Cause::default())
    })?;
    Ok(Json(outcome_json(&outcome)))
}

#[derive(serde::Deserialize)]
struct CloseDispute {
    /// `won` or `lost`.
    outcome: String,
}

/// Closes an open dispute: `{"outcome": "won"}` or `{"outcome": "lost"}`.
async fn close_dispute(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    Body(body): Body<CloseDispute>,
) -> Result<Json<Value>, ApiError> {
    let won = match body.outcome.as_str() {
        "won" => true,
        "lost" => false,
        _ => {
            return Err(ApiError::invalid(
                "`outcome` is won or lost.",
                Some("outcome"),
            ))
        }
    };
    Ok(Json(shared.with_account(|a| a.close_dispute(&id, won))?))
}

/// Fails a refund Stripe had accepted (`refund.failed`).
async fn fail_refund(
    State(shared): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(shared.with_account(|a| a.fail_refund(&id))?))
}

async fn clock(State(shared): State<Shared>) -> Json<Value> {
    Json(json!({ "now": shared.with_account(|a| a.now()) }))
}

#[derive(serde::Deserialize)]
struct Advance {
    seconds: i64,
}

/// Moves the sandbox's clock forward, then lets time act (expiries, settlements).
async fn advance(
    State(shared): State<Shared>,
    Body(body): Body<Advance>,
) -> Result<Json<Value>, ApiError> {
    // Up to ten years at a time: a sandbox clock far in the future makes `created` times that
    // clients cannot read as dates.
    if !(0..=10 * 366 * 86_400).contains(&body.seconds) {
        return Err(ApiError::invalid(
            "The clock moves forward, by at most ten years at a time.",
            Some("seconds"),
        ));
    }
    let now = shared.with_account(|a| {
        a.advance(body.seconds, &shared.base_url);
        a.now()
    });
    Ok(Json(json!({ "now": now })))
}

async fn get_chaos(State(shared): State<Shared>) -> Json<Chaos> {
    Json(shared.deliverer.chaos.lock().expect("lock").clone())
}

async fn set_chaos(
    State(shared): State<Shared>,
    Body(chaos): Body<Chaos>,
) -> Result<Json<Chaos>, ApiError> {
    for (name, p) in [
        ("drop_first", chaos.drop_first),
        ("duplicate_share", chaos.duplicate_share),
    ] {
        if !(0.0..=1.0).contains(&p) {
            return Err(ApiError::invalid(
                format!("{name} is a probability, 0 to 1."),
                Some(name),
            ));
        }
    }
    *shared.deliverer.chaos.lock().expect("lock") = chaos.clone();
    Ok(Json(chaos))
}

#[derive(serde::Deserialize)]
struct Faults {
    #[serde(default)]
    fail_next: u32,
    /// Milliseconds added to every API answer from now on (0 to stop).
    #[serde(default)]
    latency_ms: Option<u64>,
    /// Milliseconds each API call waits after it has run, before answering (0 to stop).
    #[serde(default)]
    answer_delay_ms: Option<u64>,
    #[serde(default = "server_error")]
    status: u16,
    /// The failures and the latency strike after the call has run (true) or before (false).
    #[serde(default)]
    after_execution: Option<bool>,
}

fn server_error() -> u16 {
    500
}

/// The next `fail_next` API calls answer `status` (default 500) with Stripe's `api_error`;
/// `latency_ms` slows every call down before it runs, `answer_delay_ms` after it has run. With
/// `after_execution: true` the failures and `latency_ms` strike after the call ran: the session
/// exists, its idempotent result is saved, and only the answer is lost or late.
async fn faults(State(shared): State<Shared>, Body(f): Body<Faults>) -> Result<Response, ApiError> {
    if !(400..600).contains(&f.status) {
        return Err(ApiError::invalid(
            "status must be 400 to 599.",
            Some("status"),
        ));
    }
    shared.with_account(|a| {
        a.faults = (f.fail_next > 0).then_some((f.fail_next, f.status));
        if let Some(ms) = f.latency_ms {
            a.latency_ms = ms;
        }
        if let Some(ms) = f.answer_delay_ms {
            a.answer_delay_ms = ms;
        }
        // Each call says when its failures strike; it does not carry over to the next call.
        a.after_execution = f.after_execution.unwrap_or(false);
    });
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn deliveries(State(shared): State<Shared>) -> Json<Value> {
    Json(json!({ "data": *shared.deliverer.log.lock().expect("lock") }))
}

#[derive(serde::Deserialize)]
struct Webhook {
    url: Option<String>,
}

/// Points the `--forward-to` endpoint at another URL (made when there is none), or deletes it.
async fn webhook(
    State(shared): State<Shared>,
    Body(w): Body<Webhook>,
) -> Result<Json<Value>, ApiError> {
    if let Some(url) = &w.url {
        if reqwest::Url::parse(url).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
            return Err(ApiError::invalid("Not a valid URL", Some("url")).with_code("url_invalid"));
        }
    }
    shared.set_forward_to(w.url.clone());
    Ok(Json(json!({ "url": w.url })))
}
