//! `POST /api/checkout`, `GET /api/checkout/{session_id}` and its `cancel`: who is asking (the
//! [`Caller`] extractor), how often, then the checkout service; its errors become the API's
//! stable codes.

use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::app::App;
use crate::checkout::{self, CancelError, CheckoutError};
use crate::domain::cart::CartError;
use crate::error::ApiError;
use crate::identity;
use crate::ratelimit::{self, Decision, Scope};
use crate::store::unix_now;

use super::caller::{guest_set_cookie, Caller};
use super::{ApiJson, PublicRoutes};

pub fn routes(r: PublicRoutes) -> PublicRoutes {
    r.post("/api/checkout", create)
        .get("/api/checkout/{session_id}", status)
        .post("/api/checkout/{session_id}/cancel", cancel)
}

fn rate_headers(response: &mut Response, limit: u32, d: &Decision) {
    let h = response.headers_mut();
    let secs = |ms: i64| ((ms.max(0) + 999) / 1000).to_string();
    for (name, value) in [
        ("ratelimit-limit", limit.to_string()),
        ("ratelimit-remaining", d.remaining.to_string()),
        ("ratelimit-reset", secs(d.reset_ms)),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
}

async fn create(State(app): State<App>, caller: Caller, req: Request) -> Response {
    let response = create_for(&app, &caller, req).await;
    caller.answer(&app, response)
}

/// The checkout limits (DESIGN 1.7), per customer and per client network, for creating a
/// checkout or cancelling one (each with its own budget at the same rates: a cancel is a call to
/// Stripe too); a refusal as the `429` to send, else the tightest decision for the headers.
async fn limited(
    app: &App,
    caller: &Caller,
    [per_customer, per_ip]: [Scope; 2],
    what: &str,
) -> Result<Option<(u32, Decision)>, Response> {
    let ip = identity::network_key(caller.client_ip);
    let now_ms = ratelimit::now_ms();
    let limits = [
        (
            per_customer,
            "customer",
            caller.customer.id.as_str(),
            app.config.checkout.rate_per_customer,
        ),
        (per_ip, "ip", ip.as_str(), app.config.checkout.rate_per_ip),
    ];
    // A signed-in customer spends their own budget only: a storefront's server relays all its
    // customers from one address, which must not make them share one network's budget.
    let applicable = if caller.customer.is_signed_in() { 1 } else { 2 };
    let mut tightest: Option<(u32, Decision)> = None;
    for (scope, who, id, rate) in limits.into_iter().take(applicable) {
        let d = app.limiter.check(scope, id, rate, now_ms).await;
        if !d.allowed {
            metrics::counter!("caisse_rate_limited_total", "scope" => scope.as_str()).increment(1);
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many {what} from this {who}; try again later"),
            );
            e.retry_after_secs = Some(((d.retry_after_ms + 999) / 1000).max(1) as u64);
            let mut response = e.into_response();
            rate_headers(&mut response, rate.count, &d);
            return Err(response);
        }
        if tightest
            .as_ref()
            .is_none_or(|(_, t)| d.remaining < t.remaining)
        {
            tightest = Some((rate.count, d));
        }
    }
    Ok(tightest)
}

async fn create_for(app: &App, caller: &Caller, req: Request) -> Response {
    let (customer, client) = (&caller.customer, caller.client_ip);
    let tightest = match limited(app, caller, [Scope::Customer, Scope::Ip], "checkouts").await {
        Ok(t) => t,
        Err(refused) => return refused,
    };
    let key = match req.headers().get("idempotency-key").map(|v| v.to_str()) {
        None => None,
        Some(Ok(k))
            if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Some(k.to_string())
        }
        Some(_) => {
            return ApiError::invalid_request(
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
            .into_response()
        }
    };
    let ApiJson(body) = match ApiJson::<checkout::CheckoutRequest>::from_request(req, app).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    // On its own task: a client that hangs up, or the request time limit, must not cut a checkout
    // between its hold and its Stripe session; it finishes (or releases its hold) regardless.
    let (task_app, task_customer) = (app.clone(), customer.clone());
    let outcome = tokio::spawn(async move {
        let key = key.as_deref();
        checkout::create(&task_app, &task_customer, client, body, key, unix_now()).await
    })
    .await;
    // A replay of another guest's click (the first one, before its cookie was set): this browser
    // is that guest, whatever the answer.
    let as_first_guest = |mut response: Response, owner: &str| {
        if owner != customer.id {
            if let Some(v) = identity::guest_cookie_for(owner, &app.config.identity)
                .and_then(|cookie| guest_set_cookie(app, &cookie))
            {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
        }
        response
    };
    let mut response = match outcome {
        Ok(Ok(created)) => {
            let owner = created.customer_id.clone();
            as_first_guest((StatusCode::CREATED, Json(created)).into_response(), &owner)
        }
        Ok(Err(e)) => match e.first_guest().map(str::to_string) {
            Some(owner) => as_first_guest(checkout_error(e).into_response(), &owner),
            None => checkout_error(e).into_response(),
        },
        Err(e) => {
            tracing::error!(error = %e, "checkout task failed");
            ApiError::internal().into_response()
        }
    };
    if let Some((limit, d)) = tightest {
        rate_headers(&mut response, limit, &d);
    }
    response
}

fn checkout_error(e: CheckoutError) -> ApiError {
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let message = e.to_string();
    match e {
        CheckoutError::Cart(cart) => match cart {
            CartError::Empty => ApiError::new(unprocessable, "empty_cart", message),
            CartError::UnknownProduct(id) => {
                ApiError::new(unprocessable, "unknown_product", message).with_details(json!({"product_id": id}))
            }
            CartError::Inactive(id) => {
                ApiError::new(unprocessable, "product_inactive", message).with_details(json!({"product_id": id}))
            }
            CartError::QuantityOutOfRange { product_id, max } => ApiError::new(unprocessable, "quantity_out_of_range", message)
                .with_details(json!({"product_id": product_id, "max": max})),
            CartError::CartTooLarge { max } => {
                ApiError::new(unprocessable, "cart_too_large", message).with_details(json!({"max": max}))
            }
            CartError::MixedCurrencies(..) => ApiError::new(unprocessable, "mixed_currencies", message),
            CartError::AmountTooLarge => ApiError::new(unprocessable, "amount_too_large", message),
            CartError::AmountTooSmall { minimum, currency, .. } => ApiError::new(unprocessable, "amount_too_small", message)
                .with_details(json!({"minimum": minimum, "currency": currency})),
            CartError::TooManyLines { max } => {
                ApiError::new(unprocessable, "too_many_lines", message).with_details(json!({"max": max}))
            }
            CartError::InsufficientStock { product_id, requested, available, .. } => {
                ApiError::new(StatusCode::CONFLICT, "insufficient_stock", message)
                    .with_details(json!({"product_id": product_id, "requested": requested, "available": available}))
            }
        },
        CheckoutError::InvalidEmail => ApiError::invalid_request(message),
        CheckoutError::TooManyOpenHolds { max, retry_after, .. } => {
            let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_open_holds", message)
                .with_details(json!({"max": max}));
            e.retry_after_secs = Some(retry_after.max(1) as u64);
            e
        }
        CheckoutError::KeyReused(_) => {
            ApiError::new(unprocessable, "idempotency_key_reused", message)
        }
        CheckoutError::InProgress { .. } => ApiError::new(StatusCode::CONFLICT, "checkout_in_progress", message),
        CheckoutError::Closed { status, checkout_session_id, .. } => ApiError::new(StatusCode::CONFLICT, "checkout_closed", message)
            .with_details(json!({"status": status, "checkout_session_id": checkout_session_id})),
        CheckoutError::ProviderUnavailable => provider_unavailable(
            "the payment provider is unavailable; nothing was charged and no stock is held — try again in a moment",
        ),
        CheckoutError::ProviderRefused => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "payment_provider_refused",
            "the payment provider refused this checkout; nothing was charged and no stock is held, and the shop has been alerted — retrying will not help until it is fixed",
        ),
        CheckoutError::Store(e) => e.into(),
    }
}

async fn status(
    State(app): State<App>,
    Path(session_id): Path<String>,
    caller: Caller,
) -> Response {
    let response = match checkout::status(&app, &caller.customer, &session_id).await {
        Ok(Some(s)) => Json(s).into_response(),
        Ok(None) => ApiError::not_found("no checkout with this session id for you").into_response(),
        Err(e) => ApiError::from(e).into_response(),
    };
    caller.answer(&app, response)
}

fn provider_unavailable(message: &str) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "payment_provider_unavailable",
        message,
    )
}

/// `POST /api/checkout/{session_id}/cancel`, for the shop's cancel page.
async fn cancel(
    State(app): State<App>,
    Path(session_id): Path<String>,
    caller: Caller,
) -> Response {
    let tightest = match limited(
        &app,
        &caller,
        [Scope::CancelCustomer, Scope::CancelIp],
        "cancels",
    )
    .await
    {
        Ok(t) => t,
        Err(refused) => return caller.answer(&app, refused),
    };
    let mut response = match checkout::cancel(&app, &caller.customer, &session_id, unix_now()).await
    {
        Ok(s) => Json(s).into_response(),
        Err(e) => {
            let message = e.to_string();
            match e {
                CancelError::NotFound => ApiError::not_found(message),
                CancelError::AlreadyPaid => {
                    ApiError::new(StatusCode::CONFLICT, "already_paid", message)
                }
                CancelError::ProviderUnavailable => provider_unavailable(
                    "the payment provider is unavailable; the checkout is still open — try again in a moment",
                ),
                CancelError::Store(e) => e.into(),
            }
            .into_response()
        }
    };
    if let Some((limit, d)) = tightest {
        rate_headers(&mut response, limit, &d);
    }
    caller.answer(&app, response)
}
