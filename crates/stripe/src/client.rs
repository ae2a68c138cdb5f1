//! A small Stripe API client on reqwest: the calls caisse makes, Stripe's form encoding, one
//! `Idempotency-Key` per POST reused on every retry, back-off on network errors, 409, 429 and 5xx,
//! Stripe's error JSON as a typed error, a timeout on every call, and a hook that sees every
//! exchange (the shop records them in `stripe_requests`).
//!
//! The secret key goes only into the `Authorization` header, marked sensitive; the client's `Debug`
//! masks it and no record, error or log line carries it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::event::Event;
use crate::form::Form;
use crate::objects::{CheckoutSession, List, PaymentIntent, Price, Product, Refund};

mod webhook_endpoints;
pub use webhook_endpoints::WebhookEndpoint;

/// One HTTP exchange with Stripe, as the hook sees it. Never contains the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    /// 1 for the first try, 2 for the first retry, …
    pub attempt: u32,
    pub status: Option<u16>,
    pub request_id: Option<String>,
    pub duration_ms: u64,
    pub error: Option<String>,
}

/// Receives every exchange; implemented by the shop to write `stripe_requests`.
pub trait RequestHook: Send + Sync {
    fn record(&self, record: RequestRecord) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StripeError {
    /// Stripe answered with its error JSON.
    #[error("Stripe {status} {kind}{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Api {
        status: u16,
        /// `type`: `invalid_request_error`, `card_error`, `idempotency_error`, `api_error`, …
        kind: String,
        code: Option<String>,
        message: String,
        param: Option<String>,
        request_id: Option<String>,
    },
    #[error("Stripe could not be reached: {0}")]
    Network(String),
    #[error("Stripe did not answer in time")]
    Timeout,
    #[error("unexpected answer from Stripe: {0}")]
    Decode(String),
    /// Refused by [`ClientOptions::guard`] before it was sent.
    #[error("{0}")]
    Refused(String),
}

impl StripeError {
    /// True when the same request may succeed later (what the client itself retries): a 409
    /// (another request with this idempotency key is in progress, as Stripe's own libraries
    /// retry it), a 429, a 5xx, or no answer.
    pub fn is_transient(&self) -> bool {
        match self {
            StripeError::Api { status, .. } => matches!(*status, 409 | 429) || *status >= 500,
            StripeError::Network(_) | StripeError::Timeout => true,
            StripeError::Decode(_) | StripeError::Refused(_) => false,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            StripeError::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            StripeError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Says whether a request may be sent now; its argument names the request in the refusal.
pub type RequestGuard = fn(&str) -> Result<(), String>;

#[derive(Clone)]
pub struct ClientOptions {
    pub api_base: String,
    pub secret_key: String,
    /// Limit of one attempt, connection included.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Asked before every request: an `Err` refuses it unsent (the shop refuses calls made
    /// inside a database transaction).
    pub guard: Option<RequestGuard>,
}

impl ClientOptions {
    pub fn new(api_base: impl Into<String>, secret_key: impl Into<String>) -> ClientOptions {
        ClientOptions {
            api_base: api_base.into().trim_end_matches('/').to_string(),
            secret_key: secret_key.into(),
            timeout: Duration::from_secs(20),
            max_retries: 2,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(2),
            guard: None,
        }
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("api_base", &self.api_base)
            .field("secret_key", &"****")
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    options: Arc<ClientOptions>,
    auth: HeaderValue,
    hook: Option<Arc<dyn RequestHook>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("options", &self.options)
            .finish()
    }
}

/// Filters of `GET /v1/events`.
#[derive(Clone, Debug, Default)]
pub struct EventsQuery {
    pub limit: Option<u32>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
    pub types: Vec<String>,
    pub created_gte: Option<i64>,
    pub created_lte: Option<i64>,
}

impl EventsQuery {
    fn form(&self) -> Form {
        let mut query = Form::new();
        if let Some(limit) = self.limit {
            query.push("limit", limit);
        }
        if let Some(s) = &self.starting_after {
            query.push("starting_after", s);
        }
        if let Some(s) = &self.ending_before {
            query.push("ending_before", s);
        }
        for t in &self.types {
            query.push("types[]", t);
        }
        if let Some(t) = self.created_gte {
            query.push("created[gte]", t);
        }
        if let Some(t) = self.created_lte {
            query.push("created[lte]", t);
        }
        query
    }
}

/// An event as listed, and its JSON text as Stripe sent it.
#[derive(Clone, Debug)]
pub struct RawEvent {
    pub event: Event,
    pub payload: String,
}

impl Client {
    pub fn new(options: ClientOptions) -> Result<Client, StripeError> {
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", options.secret_key)).map_err(|_| {
                StripeError::Decode("the secret key is not a valid header value".into())
            })?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(
            "Stripe-Version",
            HeaderValue::from_static(crate::API_VERSION),
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("caisse/", env!("CARGO_PKG_VERSION")))
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| StripeError::Network(e.to_string()))?;
        Ok(Client {
            http,
            options: Arc::new(options),
            auth,
            hook: None,
        })
    }

    pub fn with_hook(mut self, hook: Arc<dyn RequestHook>) -> Client {
        self.hook = Some(hook);
        self
    }

    pub fn api_base(&self) -> &str {
        &self.options.api_base
    }

    /// A POST with `form`; `idempotency_key` (or a fresh one) is sent on every attempt.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        form: &Form,
        idempotency_key: Option<&str>,
    ) -> Result<T, StripeError> {
        let key = idempotency_key
            .map(str::to_string)
            .unwrap_or_else(|| format!("caisse-{}", uuid::Uuid::new_v4()));
        self.send(Method::POST, path, Some(form.encode()), Some(key))
            .await
    }

    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &Form,
    ) -> Result<T, StripeError> {
        let path = if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", query.encode())
        };
        self.send(Method::GET, &path, None, None).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        idempotency_key: Option<String>,
    ) -> Result<T, StripeError> {
        if let Some(guard) = self.options.guard {
            guard("a Stripe request").map_err(StripeError::Refused)?;
        }
        let url = format!("{}{}", self.options.api_base, path);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            let mut retry_after: Option<Duration> = None;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .header(AUTHORIZATION, self.auth.clone());
            if let Some(key) = &idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            if let Some(body) = &body {
                request = request
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body.clone());
            }
            let (outcome, status, request_id, should_retry) = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let header = |name: &str| {
                        response
                            .headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)
                    };
                    // Masked like the error text: an answer that echoes a key anywhere is not
                    // kept with it.
                    let request_id = header("request-id").map(|id| redact_keys(&id));
                    let should_retry = header("stripe-should-retry").map(|v| v == "true");
                    retry_after = header("retry-after")
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let outcome = match response.bytes().await {
                        Ok(bytes) => parse_response::<T>(status, &bytes, request_id.clone()),
                        Err(e) => Err(network_error(e)),
                    };
                    (outcome, Some(status.as_u16()), request_id, should_retry)
                }
                Err(e) => (Err(network_error(e)), None, None, None),
            };
            let error = outcome.as_ref().err();
            if let Some(hook) = &self.hook {
                hook.record(RequestRecord {
                    method: method.to_string(),
                    path: path.to_string(),
                    idempotency_key: idempotency_key.clone(),
                    attempt,
                    status,
                    request_id: request_id.clone(),
                    duration_ms: started.elapsed().as_millis() as u64,
                    error: error.map(ToString::to_string),
                })
                .await;
            }
            let retry = match error {
                None => false,
                Some(e) => should_retry.unwrap_or_else(|| e.is_transient()),
            };
            if !retry || attempt > self.options.max_retries {
                return outcome;
            }
            let wait = retry_wait(&self.options, attempt, retry_after, rand_fraction());
            tracing::warn!(%method, path, attempt, error = ?error, ?wait, "Stripe request failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }

    pub async fn create_checkout_session(
        &self,
        params: &Form,
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError> {
        self.post("/v1/checkout/sessions", params, Some(idempotency_key))
            .await
    }

    pub async fn retrieve_checkout_session(
        &self,
        id: &str,
    ) -> Result<CheckoutSession, StripeError> {
        self.get(
            &format!("/v1/checkout/sessions/{}", path_segment(id)),
            &Form::new(),
        )
        .await
    }

    /// Expires an open session; Stripe refuses one that is complete or already expired.
    pub async fn expire_checkout_session(
        &self,
        id: &str,
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError> {
        let path = format!("/v1/checkout/sessions/{}/expire", path_segment(id));
        self.post(&path, &Form::new(), Some(idempotency_key)).await
    }

    pub async fn retrieve_payment_intent(&self, id: &str) -> Result<PaymentIntent, StripeError> {
        self.get(
            &format!("/v1/payment_intents/{}", path_segment(id)),
            &Form::new(),
        )
        .await
    }

    pub async fn list_events(&self, q: &EventsQuery) -> Result<List<Event>, StripeError> {
        self.get("/v1/events", &q.form()).await
    }

    /// One page of the events matching `q` (newest first, as Stripe lists them), each with its JSON
    /// as Stripe sent it, which the shop's inbox keeps whole; and whether more follow it (the next
    /// page starts after its last event).
    pub async fn events_page(&self, q: &EventsQuery) -> Result<(Vec<RawEvent>, bool), StripeError> {
        let page: List<serde_json::Value> = self.get("/v1/events", &q.form()).await?;
        let mut events = Vec::with_capacity(page.data.len());
        for raw in page.data {
            let payload = raw.to_string();
            let event: Event =
                serde_json::from_value(raw).map_err(|e| StripeError::Decode(e.to_string()))?;
            events.push(RawEvent { event, payload });
        }
        Ok((events, page.has_more))
    }

    /// Every event matching `q`, newest first, following `starting_after` page by page. It holds
    /// them all: a caller that may read many pages takes them one at a time with
    /// [`Client::events_page`].
    pub async fn list_all_events(&self, q: &EventsQuery) -> Result<Vec<RawEvent>, StripeError> {
        let mut q = q.clone();
        let mut all = Vec::new();
        loop {
            let (page, has_more) = self.events_page(&q).await?;
            all.extend(page);
            match (has_more, all.last()) {
                (true, Some(last)) => q.starting_after = Some(last.event.id.clone()),
                _ => return Ok(all),
            }
        }
    }

    /// A refund of `amount` (all that is left when `None`), with Stripe's `reason`
    /// (`requested_by_customer`, `duplicate`, `fraudulent`) when given.
    pub async fn create_refund(
        &self,
        payment_intent: &str,
        amount: Option<i64>,
        reason: Option<&str>,
        idempotency_key: &str,
    ) -> Result<Refund, StripeError> {
        let mut form = Form::new().with("payment_intent", payment_intent);
        if let Some(a) = amount {
            form.push("amount", a);
        }
        if let Some(r) = reason {
            form.push("reason", r);
        }
        self.post("/v1/refunds", &form, Some(idempotency_key)).await
    }

    pub async fn create_product(
        &self,
        name: &str,
        idempotency_key: &str,
    ) -> Result<Product, StripeError> {
        self.post(
            "/v1/products",
            &Form::new().with("name", name),
            Some(idempotency_key),
        )
        .await
    }

    pub async fn create_price(
        &self,
        product: &str,
        unit_amount: i64,
        currency: &str,
        idempotency_key: &str,
    ) -> Result<Price, StripeError> {
        let form = Form::new()
            .with("product", product)
            .with("unit_amount", unit_amount)
            .with("currency", currency);
        self.post("/v1/prices", &form, Some(idempotency_key)).await
    }
}

/// The wait before retry `attempt`: exponential back-off from `initial_backoff`, capped at
/// `max_backoff`, with "full jitter" (a random share of it, so that clients that failed together
/// do not retry together), but never less than what Stripe's `Retry-After` asks (capped too).
fn retry_wait(
    options: &ClientOptions,
    attempt: u32,
    retry_after: Option<Duration>,
    fraction: f64,
) -> Duration {
    let ceiling = (options.initial_backoff * 2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(options.max_backoff);
    let jittered = ceiling.mul_f64(0.5 + fraction.clamp(0.0, 1.0) / 2.0);
    match retry_after {
        Some(asked) => jittered.max(asked.min(options.max_backoff)),
        None => jittered,
    }
}

/// A number in [0, 1) for the backoff's jitter.
fn rand_fraction() -> f64 {
    rand::random()
}

/// An id placed in a path: anything but Stripe's id alphabet is escaped, so an id cannot add
/// segments or a query.
fn path_segment(id: &str) -> String {
    crate::form::percent_encode(id, |b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn network_error(e: reqwest::Error) -> StripeError {
    if e.is_timeout() {
        StripeError::Timeout
    } else {
        // Without the URL: it is ours and adds nothing; the chain says what failed.
        let e = e.without_url();
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text = format!("{text}: {s}");
            source = s.source();
        }
        StripeError::Network(text)
    }
}

fn parse_response<T: DeserializeOwned>(
    status: StatusCode,
    bytes: &[u8],
    request_id: Option<String>,
) -> Result<T, StripeError> {
    if status.is_success() {
        return serde_json::from_slice(bytes).map_err(|e| StripeError::Decode(e.to_string()));
    }
    let body: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let error = &body["error"];
    // Stripe's refusal of a key echoes part of it, and a proxy or an emulator may echo all of
    // it: the error's text goes to logs, `stripe_requests`, alerts and the dashboard.
    let text = |k: &str| error.get(k).and_then(Value::as_str).map(redact_keys);
    Err(StripeError::Api {
        status: status.as_u16(),
        kind: text("type").unwrap_or_else(|| "api_error".into()),
        code: text("code"),
        message: text("message")
            .unwrap_or_else(|| format!("HTTP {status} without a Stripe error body")),
        param: text("param"),
        request_id,
    })
}

/// `text` with every secret or restricted API key (`sk_…`, `rk_…`) and webhook secret
/// (`whsec_…`) in it masked: `sk_test_****`, `whsec_****`.
pub fn redact_keys(text: &str) -> String {
    const SECRETS: [&str; 3] = ["sk_", "rk_", "whsec_"];
    let key_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((at, prefix)) = SECRETS
        .iter()
        .filter_map(|p| rest.find(p).map(|i| (i, *p)))
        .min()
    {
        // Only at the start of a word: `disk_test` is no key.
        let starts_word = !rest[..at].chars().next_back().is_some_and(key_char);
        let after = &rest[at + prefix.len()..];
        let end = after.find(|c: char| !key_char(c)).unwrap_or(after.len());
        out.push_str(&rest[..at]);
        if starts_word && end > 0 {
            let mode = ["test_", "live_"]
                .into_iter()
                .find(|m| after.starts_with(m) && prefix != "whsec_")
                .unwrap_or("");
            out.push_str(prefix);
            out.push_str(mode);
            out.push_str("****");
        } else {
            out.push_str(prefix);
            out.push_str(&after[..end]);
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echoed_key_is_masked_wherever_it_stands() {
        assert_eq!(
            redact_keys("Invalid API Key provided: sk_test_51abcDEF123"),
            "Invalid API Key provided: sk_test_****"
        );
        assert_eq!(
            redact_keys("keys rk_live_x9 and sk_abc, secret whsec_Zz09."),
            "keys rk_live_**** and sk_****, secret whsec_****."
        );
        assert_eq!(
            redact_keys("No such price: 'price_x' on disk_test_1"),
            "No such price: 'price_x' on disk_test_1"
        );
        assert_eq!(redact_keys("sk_"), "sk_");
    }

    #[test]
    fn an_api_error_never_carries_the_key_it_echoes() {
        let body = br#"{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_PROBE1234567890"}}"#;
        let e = parse_response::<Value>(StatusCode::UNAUTHORIZED, body, None).unwrap_err();
        assert!(!e.to_string().contains("PROBE"), "{e}");
        assert!(e.to_string().contains("sk_test_****"), "{e}");
    }

    #[test]
    fn retries_wait_with_jitter_and_honour_retry_after() {
        let o = ClientOptions::new("http://x", "sk_test_x");
        // 250 ms doubling, capped at 2 s, half to all of it.
        assert_eq!(retry_wait(&o, 1, None, 0.0), Duration::from_millis(125));
        assert_eq!(retry_wait(&o, 1, None, 1.0), Duration::from_millis(250));
        assert_eq!(retry_wait(&o, 2, None, 1.0), Duration::from_millis(500));
        assert_eq!(retry_wait(&o, 9, None, 1.0), Duration::from_secs(2));
        assert_eq!(
            retry_wait(&o, 1, Some(Duration::from_secs(1)), 0.0),
            Duration::from_secs(1),
            "Retry-After is a floor"
        );
        assert_eq!(
            retry_wait(&o, 1, Some(Duration::from_secs(3600)), 0.0),
            Duration::from_secs(2),
            "within the client's own cap"
        );
        assert_ne!(rand_fraction(), rand_fraction());
    }

    #[test]
    fn debug_never_shows_the_key() {
        let client = Client::new(ClientOptions::new(
            "http://127.0.0.1:1",
            "sk_test_VERYSECRET",
        ))
        .unwrap();
        assert!(!format!("{client:?}").contains("VERYSECRET"));
    }

    #[test]
    fn ids_cannot_escape_their_path_segment() {
        assert_eq!(path_segment("cs_test_a1"), "cs_test_a1");
        assert_eq!(
            path_segment("../v1/refunds?x=1"),
            "%2E%2E%2Fv1%2Frefunds%3Fx%3D1"
        );
    }

    #[test]
    fn stripe_errors_are_typed() {
        let body = br#"{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such price: 'price_x'","param":"line_items[0][price]"}}"#;
        let err = parse_response::<Value>(StatusCode::BAD_REQUEST, body, Some("req_1".into()))
            .unwrap_err();
        assert_eq!(err.code(), Some("resource_missing"));
        assert!(!err.is_transient());
        let err = parse_response::<Value>(StatusCode::BAD_GATEWAY, b"<html>", None).unwrap_err();
        assert!(err.is_transient());
    }
}
