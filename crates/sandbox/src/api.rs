//! The `/v1` API: the Stripe subset caisse uses, form-encoded, behind `Authorization: Bearer
//! sk_test_…`, with `Idempotency-Key` replay and Stripe's list shapes.

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::sessions;
use crate::state::{new_id, Account, Cause};
use crate::Shared;

pub fn routes(shared: Shared) -> Router<Shared> {
    Router::new()
        .route(
            "/v1/checkout/sessions",
            post(create_session).get(list_sessions),
        )
        .route("/v1/checkout/sessions/{id}", get(retrieve_session))
        .route(
            "/v1/checkout/sessions/{id}/line_items",
            get(session_line_items),
        )
        .route("/v1/checkout/sessions/{id}/expire", post(expire_session))
        .route("/v1/payment_intents/{id}", get(retrieve_payment_intent))
        .route("/v1/events", get(list_events))
        .route("/v1/events/{id}", get(retrieve_event))
        .route("/v1/refunds", post(create_refund))
        .route("/v1/products", post(create_product))
        .route("/v1/prices", post(create_price))
        .route("/v1/prices/{id}", get(retrieve_price))
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
    let mut response = match api_key(req.headers()) {
        None => ApiError::unauthorized(
            "You did not provide an API key. You need to provide your API key in the Authorization header, \
             using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        )
        .into_response(),
        Some(key) if !(key.starts_with("sk_test_") || key.starts_with("rk_test_")) => {
            let tail: String = key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
            let prefix: String = key.chars().take(8).collect();
            ApiError::unauthorized(format!(
                "Invalid API Key provided: {prefix}{}{tail}. The sandbox accepts test-mode secret keys only.",
                "*".repeat(key.chars().count().saturating_sub(12).min(20))
            ))
            .into_response()
        }
        Some(_) => match shared.take_fault() {
            Some(status) => ApiError {
                status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                kind: "api_error",
                code: None,
                message: "The sandbox was told to fail this request.".into(),
                param: None,
            }
            .into_response(),
            None => {
                let latency = shared.with_account(|a| a.latency_ms);
                if latency > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
                }
                let mut req = req;
                req.extensions_mut().insert(RequestId(request_id.clone()));
                let response = next.run(req).await;
                let delay = shared.with_account(|a| a.answer_delay_ms);
                if delay > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                }
                response
            }
        },
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("request-id", v);
    }
    response
}

#[derive(Clone)]
struct RequestId(String);

fn decode(body: &str) -> Result<Value, ApiError> {
    caisse_stripe::form::decode(body)
        .map_err(|e| ApiError::invalid(format!("Invalid request body: {e}"), None))
}

/// A POST to run once per `Idempotency-Key`: the first answer (even an error) is saved and
/// replayed; the same key with other parameters is an `idempotency_error`.
struct IdempotentPost {
    shared: Shared,
    headers: HeaderMap,
    request_id: String,
    /// Method and path: the same key on another endpoint is another request.
    route: String,
    body: String,
}

impl axum::extract::FromRequest<Shared> for IdempotentPost {
    type Rejection = ApiError;

    async fn from_request(req: Request, shared: &Shared) -> Result<Self, ApiError> {
        let request_id = req
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let route = format!("{} {}", req.method(), req.uri().path());
        let headers = req.headers().clone();
        let body = String::from_request(req, shared)
            .await
            .map_err(|_| ApiError::invalid("Invalid request body: not UTF-8.", None))?;
        Ok(IdempotentPost {
            shared: shared.clone(),
            headers,
            request_id,
            route,
            body,
        })
    }
}

impl IdempotentPost {
    fn run(
        self,
        action: impl FnOnce(&mut Account, &Value, &Cause) -> Result<Value, ApiError>,
    ) -> Response {
        let key = self
            .headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if key.as_ref().is_some_and(|k| k.len() > 255) {
            return ApiError::invalid("Idempotency keys may be at most 255 characters long.", None)
                .into_response();
        }
        let auth = api_key(&self.headers).unwrap_or_default();
        let fingerprint = format!("{}\n{}", self.route, self.body);
        let cause = Cause {
            request_id: Some(self.request_id.clone()),
            idempotency_key: key.clone(),
        };
        let body = &self.body;
        let request_id = self.request_id.clone();
        let (status, value, replayed) = self.shared.with_account(|account| {
            let slot = key.as_ref().map(|k| format!("{auth}\n{k}"));
            if let Some(saved) = slot.as_ref().and_then(|s| account.idempotency.get(s)) {
                if saved.fingerprint != fingerprint {
                    let e = ApiError {
                        kind: "idempotency_error",
                        ..ApiError::invalid(
                            format!(
                                "Keys for idempotent requests can only be used with the same parameters they were first \
                                 used with. Try using a key other than '{}' if you meant to execute a different request.",
                                key.as_deref().unwrap_or_default()
                            ),
                            None,
                        )
                    };
                    return (e.status.as_u16(), e.body(), None);
                }
                return (saved.status, saved.body.clone(), Some(saved.request_id.clone()));
            }
            let (status, value) = match decode(body).and_then(|params| action(account, &params, &cause)) {
                Ok(v) => (200, v),
                Err(e) => (e.status.as_u16(), e.body()),
            };
            // Stripe saves a result only once the request started executing: a request refused
            // as invalid (400) saves nothing, so a corrected retry with the same key goes through.
            if let (Some(slot), false) = (slot, status == 400) {
                account.idempotency.insert(
                    slot,
                    crate::state::Saved {
                        fingerprint: fingerprint.clone(),
                        status,
                        body: value.clone(),
                        request_id: request_id.clone(),
                    },
                );
            }
            (status, value, None)
        });
        let mut response = (
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            Json(value),
        )
            .into_response();
        if let Some(original) = replayed {
            let h = response.headers_mut();
            h.insert("idempotent-replayed", HeaderValue::from_static("true"));
            if let Ok(v) = HeaderValue::from_str(&original) {
                h.insert("original-request", v);
            }
        }
        response
    }
}

async fn create_session(post: IdempotentPost) -> Response {
    let base = post.shared.base_url.clone();
    post.run(|account, params, _| sessions::create_session(account, params, &base))
}

async fn expire_session(Path(id): Path<String>, post: IdempotentPost) -> Response {
    let base = post.shared.base_url.clone();
    post.run(|account, _, cause| account.expire(&id, &base, cause))
}

async fn create_refund(post: IdempotentPost) -> Response {
    post.run(sessions::create_refund)
}

async fn create_product(post: IdempotentPost) -> Response {
    post.run(|a, p, _| sessions::create_product(a, p))
}

async fn create_price(post: IdempotentPost) -> Response {
    post.run(|a, p, _| sessions::create_price(a, p))
}

/// One object by id, or Stripe's 404 for it.
fn found(
    object: Option<Value>,
    kind: &str,
    id: &str,
    param: &str,
) -> Result<Json<Value>, ApiError> {
    object
        .map(Json)
        .ok_or_else(|| ApiError::not_found(kind, id, param))
}

async fn retrieve_session(
    State(shared): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let session = shared.with_account(|a| {
        a.sessions
            .get(&id)
            .map(|s| a.session_json(s, &shared.base_url))
    });
    found(session, "checkout.session", &id, "session")
}

async fn session_line_items(
    State(shared): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let items = shared.with_account(|a| a.sessions.get(&id).map(Account::line_items_json));
    found(items, "checkout.session", &id, "session")
}

async fn retrieve_payment_intent(
    State(shared): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let pi = shared.with_account(|a| a.payment_intents.get(&id).map(Account::payment_intent_json));
    found(pi, "payment_intent", &id, "intent")
}

async fn retrieve_price(
    State(shared): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let price = shared.with_account(|a| a.prices.get(&id).map(Account::price_json));
    found(price, "price", &id, "price")
}

async fn retrieve_event(
    State(shared): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let event = shared.with_account(|a| a.events.iter().find(|e| e["id"] == id.as_str()).cloned());
    found(event, "event", &id, "id")
}

fn query(raw: Option<String>) -> Result<Value, ApiError> {
    decode(raw.as_deref().unwrap_or(""))
}

fn limit(q: &Value) -> Result<usize, ApiError> {
    match q.get("limit").and_then(Value::as_str) {
        None => Ok(10),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(
                "This value must be between 1 and 100.",
                Some("limit"),
            )),
        },
    }
}

/// One page of `items` (newest first) after the cursors of `q`.
fn page(items: Vec<Value>, q: &Value, url: &str) -> Result<Json<Value>, ApiError> {
    let limit = limit(q)?;
    let id_of = |v: &Value| v["id"].as_str().unwrap_or_default().to_string();
    let mut items = items;
    if let Some(after) = q.get("starting_after").and_then(Value::as_str) {
        let pos = items
            .iter()
            .position(|v| id_of(v) == after)
            .ok_or_else(|| ApiError::no_such("object", after, "starting_after"))?;
        items.drain(..=pos);
    }
    if let Some(before) = q.get("ending_before").and_then(Value::as_str) {
        let pos = items
            .iter()
            .position(|v| id_of(v) == before)
            .ok_or_else(|| ApiError::no_such("object", before, "ending_before"))?;
        items.truncate(pos);
        // The page just before the cursor: its last `limit` items.
        let skip = items.len().saturating_sub(limit);
        items.drain(..skip);
    }
    let has_more = items.len() > limit;
    items.truncate(limit);
    Ok(Json(
        json!({ "object": "list", "url": url, "has_more": has_more, "data": items }),
    ))
}

async fn list_sessions(
    State(shared): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(raw)?;
    let pi = q
        .get("payment_intent")
        .and_then(Value::as_str)
        .map(str::to_string);
    let items = shared.with_account(|a| {
        a.sessions
            .values()
            .rev()
            .filter(|s| pi.is_none() || s.payment_intent == pi)
            .map(|s| a.session_json(s, &shared.base_url))
            .collect::<Vec<_>>()
    });
    page(items, &q, "/v1/checkout/sessions")
}

/// `type` (with `*` wildcards), `types[]`, `created` or `created[gt|gte|lt|lte]`, cursors, limit.
async fn list_events(
    State(shared): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(raw)?;
    let mut types: Vec<String> = match q.get("types") {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::Object(map)) => map
            .values()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    if let Some(t) = q.get("type").and_then(Value::as_str) {
        types.push(t.to_string());
    }
    let bound = |k: &str| -> Result<Option<i64>, ApiError> {
        match q
            .get("created")
            .and_then(|c| c.get(k))
            .and_then(Value::as_str)
        {
            None => Ok(None),
            Some(s) => s.parse().map(Some).map_err(|_| {
                ApiError::invalid(
                    format!("Invalid integer: {s}"),
                    Some(&format!("created[{k}]")),
                )
            }),
        }
    };
    let exact = q
        .get("created")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<i64>().ok());
    let (gt, gte, lt, lte) = (bound("gt")?, bound("gte")?, bound("lt")?, bound("lte")?);
    let matches_type = |t: &str| {
        types.is_empty()
            || types.iter().any(|want| match want.strip_suffix('*') {
                Some(prefix) => t.starts_with(prefix),
                None => t == want,
            })
    };
    let items = shared.with_account(|a| {
        a.events
            .iter()
            .rev()
            .filter(|e| {
                let created = e["created"].as_i64().unwrap_or(0);
                matches_type(e["type"].as_str().unwrap_or(""))
                    && exact.is_none_or(|x| created == x)
                    && gt.is_none_or(|x| created > x)
                    && gte.is_none_or(|x| created >= x)
                    && lt.is_none_or(|x| created < x)
                    && lte.is_none_or(|x| created <= x)
            })
            .cloned()
            .collect::<Vec<_>>()
    });
    page(items, &q, "/v1/events")
}
