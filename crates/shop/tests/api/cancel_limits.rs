//! Cancels cannot multiply calls to Stripe: the endpoint is rate limited like checkout creation,
//! and a hold's session is expired at Stripe at most once, later cancels answering from the
//! database.

use caisse_shop::config;

use crate::support::{cart, guest_cookie, scalar, TestApp, LOOSE};

/// 1,000 cancels of one checkout by its owner, all at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_cancels_make_one_stripe_call_and_429_past_the_rate() {
    let mut settings = LOOSE.to_vec();
    settings.push((config::RATE_PER_CUSTOMER, "10/min"));
    let app = TestApp::spawn_with(&settings).await;
    let (status, body, headers) = app.checkout(cart(&[("tote-bag", 2)]), &[]).await;
    assert_eq!(status, 201, "{body}");
    let cookie = guest_cookie(&headers);
    let session = body["checkout_session_id"].as_str().unwrap().to_string();
    let url = app.url(&format!("/api/checkout/{session}/cancel"));
    let answers = futures_util::future::join_all((0..1000).map(|_| {
        let req = app.http.post(&url).header("cookie", &cookie);
        async move {
            let r = req.send().await.unwrap();
            let retry_after = r.headers().contains_key("retry-after");
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap();
            (status, retry_after, body)
        }
    }))
    .await;
    let ok = answers.iter().filter(|(s, ..)| *s == 200).count();
    let limited: Vec<_> = answers.iter().filter(|(s, ..)| *s == 429).collect();
    assert_eq!(ok + limited.len(), 1000, "only 200 or 429");
    assert!((1..=10).contains(&ok), "{ok} cancels within the rate");
    assert!(limited
        .iter()
        .all(|(_, retry_after, b)| *retry_after && b["error"]["code"] == "rate_limited"));
    app.app.stripe_log.flush().await;
    let expires = scalar(
        &app.store,
        "SELECT COUNT(*) FROM stripe_requests WHERE path LIKE '%/expire'",
    )
    .await;
    assert_eq!(expires, 1, "one call to Stripe for the hold");
    assert_eq!(app.reserved("tote-bag").await, 0);
    app.stop().await;
}

/// A hold released for a declined card keeps its session open: its first cancel expires it at
/// Stripe, the next ones answer from the database.
#[tokio::test]
async fn a_released_hold_is_expired_once_then_answered_from_the_database() {
    let app = TestApp::spawn().await;
    let (_, body, headers) = app.checkout(cart(&[("tote-bag", 1)]), &[]).await;
    let cookie = guest_cookie(&headers);
    let session = body["checkout_session_id"].as_str().unwrap().to_string();
    app.sandbox
        .pay(
            &session,
            caisse_sandbox::Method::Card("4000000000000002".into()),
        )
        .unwrap();
    app.wait_status(&session, &cookie, "failed").await;
    assert_eq!(app.sandbox.session(&session).unwrap()["status"], "open");
    for _ in 0..3 {
        let r = app
            .http
            .post(app.url(&format!("/api/checkout/{session}/cancel")))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert_eq!(app.sandbox.session(&session).unwrap()["status"], "expired");
    app.app.stripe_log.flush().await;
    let expires = scalar(
        &app.store,
        "SELECT COUNT(*) FROM stripe_requests WHERE path LIKE '%/expire'",
    )
    .await;
    assert_eq!(expires, 1);
    app.stop().await;
}
