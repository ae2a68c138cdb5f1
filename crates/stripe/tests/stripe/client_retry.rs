//! The client against a stub that fails on purpose: retries with one key, typed errors, timeouts,
//! and the hook that sees every exchange.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use caisse_stripe::client::EventsQuery;
use caisse_stripe::{Client, ClientOptions, Form, RequestHook, RequestRecord, StripeError};

#[derive(Default)]
struct Recorder(Mutex<Vec<RequestRecord>>);

impl RequestHook for Recorder {
    fn record(
        &self,
        r: RequestRecord,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        self.0.lock().unwrap().push(r);
        Box::pin(async {})
    }
}

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Call>>>);

/// What one call carried: its Idempotency-Key, Authorization and body.
type Call = (Option<String>, String, String);

/// A server whose n-th call (from 1) answers `script[n-1]`, remembering each call's key, auth, body.
async fn stub(script: Vec<(u16, &'static str)>, delay: Duration) -> (String, Seen) {
    let seen = Seen::default();
    let calls = Arc::new(Mutex::new(0usize));
    let s = seen.clone();
    let app = Router::new().route(
        "/v1/checkout/sessions",
        post(move |headers: HeaderMap, body: String| {
            let (seen, calls, script) = (s.clone(), calls.clone(), script.clone());
            async move {
                tokio::time::sleep(delay).await;
                let n = {
                    let mut c = calls.lock().unwrap();
                    *c += 1;
                    *c
                };
                let h = |k: &str| {
                    headers
                        .get(k)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                seen.0.lock().unwrap().push((
                    h("idempotency-key"),
                    h("authorization").unwrap_or_default(),
                    body,
                ));
                let (status, body) = script[(n - 1).min(script.len() - 1)];
                (
                    StatusCode::from_u16(status).unwrap(),
                    [("request-id", format!("req_{n}"))],
                    body,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

fn client(base: &str, recorder: Arc<Recorder>) -> Client {
    let mut options = ClientOptions::new(base, "sk_test_STUBKEY123");
    options.initial_backoff = Duration::from_millis(10);
    options.timeout = Duration::from_millis(500);
    Client::new(options).unwrap().with_hook(recorder)
}

const SESSION: &str =
    r#"{"id":"cs_test_1","object":"checkout.session","status":"open","url":"https://x"}"#;
const SERVER_ERROR: &str = r#"{"error":{"type":"api_error","message":"boom"}}"#;
const BAD_PARAM: &str = r#"{"error":{"type":"invalid_request_error","code":"parameter_missing","param":"success_url","message":"Missing required param: success_url."}}"#;

const IN_PROGRESS: &str = r#"{"error":{"type":"idempotency_error","code":"idempotency_key_in_use","message":"There is currently another in-progress request using this Stripe-Idempotency-Key. Please try again later."}}"#;

#[tokio::test]
async fn a_key_in_progress_409_is_retried_with_the_same_key() {
    let (base, seen) = stub(vec![(409, IN_PROGRESS), (200, SESSION)], Duration::ZERO).await;
    let recorder = Arc::new(Recorder::default());
    let form = Form::new().with("metadata[hold_id]", "hold_9");
    let session = client(&base, recorder.clone())
        .create_checkout_session(&form, "hold_9-create")
        .await
        .unwrap();
    assert_eq!(session.id, "cs_test_1");
    let keys: Vec<_> = seen.0.lock().unwrap().iter().map(|c| c.0.clone()).collect();
    assert_eq!(
        keys,
        [
            Some("hold_9-create".to_string()),
            Some("hold_9-create".to_string())
        ]
    );
    let statuses: Vec<_> = recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [Some(409), Some(200)]);
}

#[tokio::test]
async fn retries_reuse_one_idempotency_key() {
    let (base, seen) = stub(
        vec![(500, SERVER_ERROR), (429, SERVER_ERROR), (200, SESSION)],
        Duration::ZERO,
    )
    .await;
    let recorder = Arc::new(Recorder::default());
    let form = Form::new().with("metadata[hold_id]", "hold_1");
    let session = client(&base, recorder.clone())
        .create_checkout_session(&form, "hold_1-create")
        .await
        .unwrap();
    assert_eq!(session.id, "cs_test_1");

    let seen = seen.0.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert!(seen
        .iter()
        .all(|(key, auth, body)| key.as_deref() == Some("hold_1-create")
            && auth == "Bearer sk_test_STUBKEY123"
            && body == "metadata[hold_id]=hold_1"));

    let records = recorder.0.lock().unwrap();
    let statuses: Vec<_> = records
        .iter()
        .map(|r| (r.attempt, r.status, r.request_id.clone()))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (1, Some(500), Some("req_1".into())),
            (2, Some(429), Some("req_2".into())),
            (3, Some(200), Some("req_3".into()))
        ]
    );
    assert!(records
        .iter()
        .all(|r| r.idempotency_key.as_deref() == Some("hold_1-create")));
    assert!(records
        .iter()
        .all(|r| !format!("{r:?}").contains("STUBKEY")));
}

#[tokio::test]
async fn a_client_error_is_not_retried_and_is_typed() {
    let (base, seen) = stub(vec![(400, BAD_PARAM)], Duration::ZERO).await;
    let recorder = Arc::new(Recorder::default());
    let err = client(&base, recorder.clone())
        .create_checkout_session(&Form::new(), "k")
        .await
        .unwrap_err();
    match &err {
        StripeError::Api {
            status,
            kind,
            code,
            param,
            request_id,
            ..
        } => {
            assert_eq!(
                (*status, kind.as_str(), code.as_deref(), param.as_deref()),
                (
                    400,
                    "invalid_request_error",
                    Some("parameter_missing"),
                    Some("success_url")
                )
            );
            assert_eq!(request_id.as_deref(), Some("req_1"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(seen.0.lock().unwrap().len(), 1);
    assert_eq!(
        recorder.0.lock().unwrap()[0].error.as_deref(),
        Some(err.to_string().as_str())
    );
}

#[tokio::test]
async fn retries_stop_after_the_limit_and_timeouts_count() {
    let (base, seen) = stub(vec![(503, SERVER_ERROR)], Duration::ZERO).await;
    let err = client(&base, Arc::default())
        .create_checkout_session(&Form::new(), "k")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(seen.0.lock().unwrap().len(), 3, "one try and two retries");

    let (base, seen) = stub(vec![(200, SESSION)], Duration::from_secs(2)).await;
    let err = client(&base, Arc::default())
        .create_checkout_session(&Form::new(), "k")
        .await
        .unwrap_err();
    assert_eq!(err, StripeError::Timeout);
    assert!(err.is_transient());
    drop(seen);
}

#[tokio::test]
async fn an_unreachable_stripe_is_a_network_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let recorder = Arc::new(Recorder::default());
    let err = client(&format!("http://127.0.0.1:{port}"), recorder.clone())
        .list_events(&EventsQuery::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StripeError::Network(_)), "{err:?}");
    assert_eq!(recorder.0.lock().unwrap().len(), 3);
    assert!(recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .all(|r| r.status.is_none() && r.idempotency_key.is_none()));
}
