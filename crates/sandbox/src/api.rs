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
use crate::params::{self, Params};
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
        .route("/v1/charges", get(list_charges))
        .route("/v1/charges/{id}", get(retrieve_charge))
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
        // Stripe knows no version after the newest it has released (the one the SDKs pin).
        _ if !crate::is_api_version(&version)
            || version.get(..10) > crate::SDK_API_VERSION.get(..10) =>
        {
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
        let body = String::from_request(req, shared).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    ..ApiError::invalid("Request body too large.", None)
                }
            } else {
                ApiError::invalid("Invalid request body: not UTF-8.", None)
            }
        })?;
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
        accepts: &Params,
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
            let outcome = decode(body).and_then(|params| {
                accepts.check(&params)?;
                action(account, &params, &cause)
            });
            let (status, value) = match outcome {
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
    post.run(&params::CREATE_SESSION, |account, params, _| {
        let session = sessions::create_session(account, params, &base)?;
        Ok(expand_session(account, session, &expansions(params), ""))
    })
}

async fn expire_session(Path(id): Path<String>, post: IdempotentPost) -> Response {
    let base = post.shared.base_url.clone();
    post.run(&params::EXPIRE_SESSION, |account, params, cause| {
        let session = account.expire(&id, &base, cause)?;
        Ok(expand_session(account, session, &expansions(params), ""))
    })
}

async fn create_refund(post: IdempotentPost) -> Response {
    post.run(&params::CREATE_REFUND, sessions::create_refund)
}

async fn create_product(post: IdempotentPost) -> Response {
    post.run(&params::CREATE_PRODUCT, |a, p, _| {
        sessions::create_product(a, p)
    })
}

async fn create_price(post: IdempotentPost) -> Response {
    post.run(&params::CREATE_PRICE, |a, p, _| {
        sessions::create_price(a, p)
    })
}

/// The `expand[]` values of a request (already checked against what the endpoint expands).
fn expansions(params: &Value) -> Vec<String> {
    sessions::strings(params, "expand")
}

/// A session with the expansions asked for under `prefix` (`""`, or `data.` in a list): its
/// PaymentIntent as an object (and that one's `latest_charge`), its `line_items` as a list.
fn expand_session(account: &Account, mut session: Value, expand: &[String], prefix: &str) -> Value {
    let wants = |what: &str| expand.iter().any(|e| e.strip_prefix(prefix) == Some(what));
    let with_charge = wants("payment_intent.latest_charge");
    if wants("payment_intent") || with_charge {
        let pi = session["payment_intent"]
            .as_str()
            .and_then(|id| account.payment_intents.get(id));
        if let Some(pi) = pi {
            session["payment_intent"] = Account::payment_intent_json(pi);
            if let (true, Some(charge)) = (with_charge, Account::latest_charge_json(pi)) {
                session["payment_intent"]["latest_charge"] = charge;
            }
        }
    }
    if wants("line_items") {
        let id = session["id"].as_str().unwrap_or_default();
        if let Some(s) = account.sessions.get(id) {
            session["line_items"] = Account::line_items_json(s);
        }
    }
    session
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
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(raw, &params::RETRIEVE_SESSION)?;
    let session = shared.with_account(|a| {
        a.sessions.get(&id).map(|s| {
            let json = a.session_json(s, &shared.base_url);
            expand_session(a, json, &expansions(&q), "")
        })
    });
    found(session, "checkout.session", &id, "session")
}

async fn session_line_items(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(raw, &params::LIST_LINE_ITEMS)?;
    let with_product = expansions(&q).iter().any(|e| e == "data.price.product");
    let items = shared.with_account(|a| {
        a.sessions.get(&id).map(|s| {
            let mut items = Account::line_items_json(s);
            if let (true, Some(data)) = (with_product, items["data"].as_array_mut()) {
                for item in data {
                    let id = item["price"]["product"].as_str().unwrap_or_default();
                    // A `product_data` line's product is the line's own, as Stripe makes one.
                    let inline = crate::state::Product {
                        id: id.to_string(),
                        name: item["description"].as_str().unwrap_or_default().to_string(),
                        created: s.created,
                        active: true,
                        description: None,
                        images: Vec::new(),
                        metadata: Default::default(),
                    };
                    let product = a.products.get(id).unwrap_or(&inline);
                    item["price"]["product"] = Account::product_json(product);
                }
            }
            items
        })
    });
    let items = found(items, "checkout.session", &id, "session")?.0;
    let items = items["data"].as_array().cloned().unwrap_or_default();
    page(items, &q, &format!("/v1/checkout/sessions/{id}/line_items"))
}

async fn retrieve_payment_intent(
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

async fn retrieve_charge(
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
async fn list_charges(
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

async fn retrieve_price(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    query(raw, &params::RETRIEVE)?;
    let price = shared.with_account(|a| a.prices.get(&id).map(Account::price_json));
    found(price, "price", &id, "price")
}

async fn retrieve_event(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    query(raw, &params::RETRIEVE)?;
    let event = shared.with_account(|a| a.events.iter().find(|e| e["id"] == id.as_str()).cloned());
    let pending = pending_webhooks(&shared);
    found(event.map(pending), "event", &id, "id")
}

/// A GET's query string, checked against what the endpoint takes.
fn query(raw: Option<String>, accepts: &Params) -> Result<Value, ApiError> {
    let q = decode(raw.as_deref().unwrap_or(""))?;
    accepts.check(&q)?;
    Ok(q)
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
    if q.get("starting_after").is_some() && q.get("ending_before").is_some() {
        return Err(ApiError::invalid(
            "You may only specify one of these parameters: ending_before, starting_after.",
            None,
        ));
    }
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
        // The page just before the cursor: its last `limit` items; more lie beyond its start.
        let skip = items.len().saturating_sub(limit);
        items.drain(..skip);
        return Ok(Json(
            json!({ "object": "list", "url": url, "has_more": skip > 0, "data": items }),
        ));
    }
    let has_more = items.len() > limit;
    items.truncate(limit);
    Ok(Json(
        json!({ "object": "list", "url": url, "has_more": has_more, "data": items }),
    ))
}

/// `payment_intent`, `status`, `customer` (the sandbox makes no customers: none match),
/// `created`, cursors, limit, `expand[]=data.…`.
async fn list_sessions(
    State(shared): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(raw, &params::LIST_SESSIONS)?;
    let filter = |k: &str| q.get(k).and_then(Value::as_str).map(str::to_string);
    let (pi, status, customer) = (
        filter("payment_intent"),
        filter("status"),
        filter("customer"),
    );
    if let Some(s) = &status {
        if !["open", "complete", "expired"].contains(&s.as_str()) {
            return Err(ApiError::invalid(
                format!("Invalid status: must be one of complete, expired, or open (not {s})."),
                Some("status"),
            ));
        }
    }
    let created = created_filter(&q)?;
    let expand = expansions(&q);
    let items = shared.with_account(|a| {
        a.sessions
            .values()
            .rev()
            .filter(|s| pi.is_none() || s.payment_intent == pi)
            .filter(|_| customer.is_none())
            .map(|s| a.session_json(s, &shared.base_url))
            .filter(|s| status.as_deref().is_none_or(|want| s["status"] == want))
            .filter(|s| created(s["created"].as_i64().unwrap_or(0)))
            .map(|s| expand_session(a, s, &expand, "data."))
            .collect::<Vec<_>>()
    });
    page(items, &q, "/v1/checkout/sessions")
}

/// `created=T` or `created[gt|gte|lt|lte]=T`, as a test of a `created` time.
fn created_filter(q: &Value) -> Result<impl Fn(i64) -> bool, ApiError> {
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
    let exact = match q.get("created").and_then(Value::as_str) {
        None => None,
        Some(s) => Some(
            s.parse::<i64>()
                .map_err(|_| ApiError::invalid(format!("Invalid integer: {s}"), Some("created")))?,
        ),
    };
    let (gt, gte, lt, lte) = (bound("gt")?, bound("gte")?, bound("lt")?, bound("lte")?);
    Ok(move |created: i64| {
        exact.is_none_or(|x| created == x)
            && gt.is_none_or(|x| created > x)
            && gte.is_none_or(|x| created >= x)
            && lt.is_none_or(|x| created < x)
            && lte.is_none_or(|x| created <= x)
    })
}

/// `type` (with `*` wildcards), `types[]`, `created` or `created[gt|gte|lt|lte]`,
/// `delivery_success` (every endpoint answered a 2xx), cursors, limit.
async fn list_events(
    State(shared): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(raw, &params::LIST_EVENTS)?;
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
        if !types.is_empty() {
            return Err(ApiError::invalid(
                "You may only specify one of these parameters: type, types.",
                None,
            ));
        }
        types.push(t.to_string());
    }
    let created = created_filter(&q)?;
    let delivery_success = match q.get("delivery_success").and_then(Value::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(ApiError::invalid(
                format!("Invalid boolean: {other}"),
                Some("delivery_success"),
            ))
        }
    };
    let delivered = shared.deliverer.delivered_events();
    let pending = pending_webhooks(&shared);
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
                let id = e["id"].as_str().unwrap_or_default();
                matches_type(e["type"].as_str().unwrap_or(""))
                    && created(e["created"].as_i64().unwrap_or(0))
                    && delivery_success.is_none_or(|want| delivered.contains(id) == want)
            })
            .cloned()
            .map(&pending)
            .collect::<Vec<_>>()
    });
    page(items, &q, "/v1/events")
}

/// An event's `pending_webhooks` as it stands: 1 while the endpoint has not answered it a 2xx,
/// 0 once it has (or when no endpoint is set).
fn pending_webhooks(shared: &Shared) -> impl Fn(Value) -> Value {
    let delivered = shared.deliverer.delivered_events();
    let endpoint = shared
        .deliverer
        .forward_to
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .is_some();
    move |mut event: Value| {
        let waiting = endpoint && !delivered.contains(event["id"].as_str().unwrap_or_default());
        event["pending_webhooks"] = Value::from(u8::from(waiting));
        event
    }
}
