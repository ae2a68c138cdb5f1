//! A failure on caisse's side reaches the operators: a 500 raises one critical `internal_error`
//! alert per route and hour, naming the route and the request id and nothing of the error; a
//! webhook's 500 is the inbox's `webhook_failed` alert only.

use serde_json::json;

use crate::support::{
    cart, event, intent_metadata, raw, scalar, text, wait_for, with_intent_tag, TestApp,
};

#[tokio::test]
async fn a_failure_of_ours_raises_one_internal_error_alert_per_route() {
    let app = TestApp::spawn().await;
    app.sandbox.set_forward_to(None);
    let (status, held, _) = app.checkout(cart(&[("sticker-pack", 1)]), &[]).await;
    assert_eq!(status, 201, "{held}");
    let held = with_intent_tag(&app.store, held).await;
    // A database error that is not an outage: every checkout and every payment writes the audit.
    raw(&app.store, "DROP TABLE audit_log").await.unwrap();

    let first_hour = caisse_shop::store::unix_now() / 3600;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, body, headers) = app.checkout(cart(&[("sticker-pack", 1)]), &[]).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (500, Some("internal_error")),
            "{body}"
        );
        assert!(!body.to_string().contains("audit_log"), "{body}");
        ids.push(headers["x-request-id"].to_str().unwrap().to_string());
    }
    let message = wait_for(5, "the internal_error alert", || async {
        text(
            &app.store,
            "SELECT message FROM alerts WHERE kind = 'internal_error' AND severity = 'critical'",
        )
        .await
    })
    .await;
    assert!(message.contains("POST /api/checkout"), "{message}");
    assert!(
        message.contains(&ids[0]),
        "the first failure's request id: {message}"
    );
    assert!(!message.contains("audit_log"), "no error text: {message}");

    // The webhook's failure is its own alert, not a second one.
    let paid = event(
        "payment_intent.succeeded",
        json!({"id": "pi_internal_failure", "object": "payment_intent",
               "amount": held["amount_total"], "amount_received": held["amount_total"],
               "currency": "eur", "status": "succeeded", "metadata": intent_metadata(&held)}),
    );
    let (status, _) = app.deliver(&paid).await;
    assert_eq!(status, 500);
    wait_for(5, "the webhook_failed alert", || async {
        let n = scalar(
            &app.store,
            "SELECT COUNT(*) FROM alerts WHERE kind = 'webhook_failed'",
        )
        .await;
        (n == 1).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // One per clock hour: two only if the requests straddled one.
    let hours = caisse_shop::store::unix_now() / 3600 - first_hour + 1;
    let alerts = scalar(
        &app.store,
        "SELECT COUNT(*) FROM alerts WHERE kind = 'internal_error'",
    )
    .await;
    assert!(
        (1..=hours).contains(&alerts),
        "three failed checkouts and a failed webhook are one internal_error alert: {alerts}"
    );
    app.stop().await;
}

/// A handler that panics: the client gets the JSON 500, and the operators the alert, where the
/// connection used to be dropped unanswered.
#[tokio::test]
async fn a_panic_is_answered_as_a_failure_of_ours_and_alerted() {
    let app = TestApp::spawn().await;
    let routes = axum::Router::new().route(
        "/api/boom/{n}",
        // A bug of the kind a handler can have: an index taken from the request.
        axum::routing::get(
            |axum::extract::Path(n): axum::extract::Path<usize>| async move {
                let lines: Vec<&str> = Vec::new();
                lines[n]
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = caisse_shop::http::layered(app.app.clone(), routes);
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let response = reqwest::get(format!("http://{addr}/api/boom/3"))
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "internal_error", "{body}");
    assert!(!body.to_string().contains("index"), "{body}");
    let message = wait_for(5, "the internal_error alert", || async {
        text(
            &app.store,
            "SELECT message FROM alerts WHERE kind = 'internal_error'",
        )
        .await
    })
    .await;
    assert!(
        message.contains("GET /api/boom/{n}") && message.contains(&id),
        "{message}"
    );
    server.abort();
    app.stop().await;
}
