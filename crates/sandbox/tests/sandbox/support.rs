//! A sandbox on a random port, a Stripe client for it, and a webhook receiver that verifies every
//! delivery with caisse-stripe's `verify` and records what it got.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use caisse_sandbox::{RunningSandbox, SandboxOptions};
use caisse_stripe::{Client, ClientOptions, Form};
use serde_json::Value;

pub const KEY: &str = "sk_test_sandboxtests0123456789";
pub const SECRET: &str = "whsec_sandbox_tests_0123456789";

#[derive(Clone, Debug)]
pub struct Received {
    pub event: Value,
    pub signature: String,
}

#[derive(Clone, Default)]
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Received>>>,
    /// Answer 500 to this many deliveries before accepting.
    pub fail_first: Arc<Mutex<u32>>,
    /// Deliveries whose signature did not verify.
    pub forged: Arc<Mutex<u32>>,
    /// Take 150 ms over this many deliveries before recording them (a slow endpoint).
    pub slow_first: Arc<Mutex<u32>>,
}

impl Receiver {
    pub async fn start(secrets: Vec<String>) -> Receiver {
        let mut r = Receiver::default();
        let me = r.clone();
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let me = me.clone();
                let secrets = secrets.clone();
                async move {
                    let header = headers
                        .get("stripe-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs() as i64;
                    if caisse_stripe::verify(
                        &header,
                        &body,
                        &secrets,
                        Duration::from_secs(300),
                        now,
                    )
                    .is_err()
                    {
                        *me.forged.lock().unwrap() += 1;
                        return StatusCode::BAD_REQUEST;
                    }
                    {
                        let mut fail = me.fail_first.lock().unwrap();
                        if *fail > 0 {
                            *fail -= 1;
                            return StatusCode::INTERNAL_SERVER_ERROR;
                        }
                    }
                    let slow = {
                        let mut slow = me.slow_first.lock().unwrap();
                        let now = *slow > 0;
                        *slow = slow.saturating_sub(1);
                        now
                    };
                    if slow {
                        tokio::time::sleep(Duration::from_millis(150)).await;
                    }
                    let event: Value = serde_json::from_slice(&body).unwrap();
                    me.got.lock().unwrap().push(Received {
                        event,
                        signature: header,
                    });
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        r.url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        r
    }

    pub fn types(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.event["type"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn events(&self) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.event.clone())
            .collect()
    }

    /// Waits until `n` events arrived (or fails after a few seconds).
    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.got.lock().unwrap().len() < n {
            assert!(
                Instant::now() < deadline,
                "expected {n} events, got {:?}",
                self.types()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Anything more would be a bug: give stray deliveries a moment to show up.
        tokio::time::sleep(Duration::from_millis(150)).await;
        self.types()
    }
}

pub fn fast_options(forward_to: Option<String>, secrets: Vec<String>) -> SandboxOptions {
    let mut o = SandboxOptions {
        forward_to,
        ..SandboxOptions::default()
    };
    o.delivery.secrets = secrets;
    o.delivery.retry_schedule = vec![Duration::from_millis(100), Duration::from_millis(200)];
    o.delivery.timeout = Duration::from_secs(2);
    o.tick = Duration::from_millis(50);
    // These tests read events in the order they happened; the chaos tests switch it back on.
    o.chaos = caisse_sandbox::Chaos::strict();
    o
}

/// A sandbox delivering to a fresh receiver, both signed with `SECRET`.
pub async fn with_receiver() -> (RunningSandbox, Receiver) {
    let receiver = Receiver::start(vec![SECRET.into()]).await;
    let sandbox = caisse_sandbox::start(fast_options(
        Some(receiver.url.clone()),
        vec![SECRET.into()],
    ))
    .await
    .unwrap();
    (sandbox, receiver)
}

pub fn client(sandbox: &RunningSandbox) -> Client {
    Client::new(ClientOptions::new(sandbox.url(), KEY)).unwrap()
}

/// A session for 2 × 15.00 EUR, with both metadata sets.
pub fn session_params() -> Form {
    let mut form = Form::new();
    form.push("mode", "payment")
        .push(
            "success_url",
            "https://shop.test/ok?session_id={CHECKOUT_SESSION_ID}",
        )
        .push("cancel_url", "https://shop.test/cancel")
        .push("line_items[0][price_data][currency]", "eur")
        .push("line_items[0][price_data][unit_amount]", 1500)
        .push("line_items[0][price_data][product_data][name]", "Mug")
        .push("line_items[0][quantity]", 2)
        .push("metadata[hold_id]", "hold_1")
        .push("payment_intent_data[metadata][hold_id]", "hold_1")
        .push("client_reference_id", "hold_1");
    form
}

pub async fn raw(
    sandbox: &RunningSandbox,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> (u16, Value, HeaderMap) {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", sandbox.url()));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let r = req
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers,
    )
}
