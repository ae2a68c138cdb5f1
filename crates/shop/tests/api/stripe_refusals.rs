//! What Stripe refuses, and what caisse checks before asking: a refusal (4xx) is `502
//! payment_provider_refused` with one `stripe_refused` alert per product and code, not a blip
//! to retry; a cart under Stripe's minimum charge never reaches Stripe; three-decimal currencies
//! are charged and written as Stripe counts them; `expires_at` is taken from the call's own time.

use crate::support::{cart, raw, scalar, TestApp};

#[tokio::test]
async fn a_stripe_price_stripe_does_not_know_is_refused_once_alerted_and_holds_nothing() {
    let app = TestApp::spawn().await;
    raw(
        &app.store,
        "UPDATE products SET stripe_price_id = 'price_deleted_at_stripe' WHERE id = 'mug-enamel'",
    )
    .await
    .unwrap();
    // Eight customers try at once, then a ninth later: the same answer, one alert.
    let barrier = tokio::sync::Barrier::new(8);
    let answers = futures_util::future::join_all((0..8).map(|_| async {
        barrier.wait().await;
        let (status, body, _) = app
            .checkout(cart(&[("tee-classic", 1), ("mug-enamel", 1)]), &[])
            .await;
        (status, body["error"]["code"].as_str().map(str::to_string))
    }))
    .await;
    let (status, body, _) = app.checkout(cart(&[("mug-enamel", 2)]), &[]).await;
    for answer in answers
        .into_iter()
        .chain([(status, body["error"]["code"].as_str().map(str::to_string))])
    {
        assert_eq!(answer, (502, Some("payment_provider_refused".to_string())));
    }
    assert_eq!(app.reserved("mug-enamel").await, 0);
    assert_eq!(app.reserved("tee-classic").await, 0);
    let open = scalar(
        &app.store,
        "SELECT COUNT(*) FROM holds WHERE status IN ('active', 'awaiting_payment')",
    )
    .await;
    assert_eq!(open, 0, "no open hold");
    let refused = scalar(
        &app.store,
        "SELECT COUNT(*) FROM holds WHERE release_reason = 'payment_provider_refused'",
    )
    .await;
    assert_eq!(refused, 9);

    let alerts = app.store.alerts(true, 10).await.unwrap();
    assert_eq!(
        alerts
            .iter()
            .map(|a| (a.kind.as_str(), a.severity.as_str(), a.entity_id.as_deref()))
            .collect::<Vec<_>>(),
        [("stripe_refused", "critical", Some("mug-enamel"))],
        "one per product and code, naming the line Stripe named"
    );
    let message = &alerts[0].message;
    assert!(
        message.contains("No such price: 'price_deleted_at_stripe'")
            && message.contains("resource_missing")
            && message.contains("Stripe request req_"),
        "Stripe's words and request id: {message}"
    );
    // The client did not retry a refusal: one call per checkout.
    app.app.stripe_log.flush().await;
    let calls = scalar(
        &app.store,
        "SELECT COUNT(*) FROM stripe_requests WHERE status = 400",
    )
    .await;
    assert_eq!(calls, 9);
    app.stop().await;
}

#[tokio::test]
async fn a_cart_under_stripes_minimum_charge_is_refused_without_calling_stripe() {
    let app = TestApp::spawn().await;
    raw(
        &app.store,
        "UPDATE products SET unit_amount = 40 WHERE id = 'sticker-pack'",
    )
    .await
    .unwrap();
    let (status, body, _) = app.checkout(cart(&[("sticker-pack", 1)]), &[]).await;
    assert_eq!(
        (
            status,
            body["error"]["code"].as_str(),
            body["error"]["minimum"].as_i64(),
            body["error"]["currency"].as_str()
        ),
        (422, Some("amount_too_small"), Some(50), Some("eur"))
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("0.40 EUR") && message.contains("0.50 EUR"),
        "{message}"
    );
    assert_eq!(app.reserved("sticker-pack").await, 0);
    assert_eq!(crate::support::count(&app.store, "holds").await, 0);
    app.app.stripe_log.flush().await;
    assert_eq!(
        crate::support::count(&app.store, "stripe_requests").await,
        0,
        "Stripe was not asked"
    );
    let sessions = app.stripe_get("/v1/checkout/sessions").await;
    assert_eq!(sessions["data"].as_array().map(Vec::len), Some(0));
    // Two of them reach the minimum.
    assert_eq!(app.checkout(cart(&[("sticker-pack", 2)]), &[]).await.0, 201);
    app.stop().await;
}

#[tokio::test]
async fn three_decimal_currencies_are_charged_and_written_in_thousandths() {
    let app = TestApp::spawn().await;
    raw(
        &app.store,
        "UPDATE products SET unit_amount = 5120, currency = 'kwd' WHERE id = 'tote-bag'",
    )
    .await
    .unwrap();
    let (status, body, _) = app.checkout(cart(&[("tote-bag", 2)]), &[]).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["amount_total"].as_i64(), body["currency"].as_str()),
        (Some(10_240), Some("kwd"))
    );
    let session = app
        .stripe_get(&format!(
            "/v1/checkout/sessions/{}",
            body["checkout_session_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(session["amount_total"].as_i64(), Some(10_240));
    let trail = app.store.audit_log(None, 10).await.unwrap();
    let created = trail.iter().find(|e| e.action == "hold.created").unwrap();
    assert!(
        created
            .message
            .contains("2 × tote-bag at 5.120 KWD (total 10.240 KWD)"),
        "{}",
        created.message
    );
    app.stop().await;
}

#[tokio::test]
async fn expires_at_is_counted_from_the_call_with_a_minute_of_margin() {
    let app = TestApp::spawn().await;
    let before = caisse_shop::store::unix_now();
    let (status, body, _) = app.checkout(cart(&[("mug-enamel", 1)]), &[]).await;
    assert_eq!(status, 201, "{body}");
    let session = app
        .stripe_get(&format!(
            "/v1/checkout/sessions/{}",
            body["checkout_session_id"].as_str().unwrap()
        ))
        .await;
    let expires_at = session["expires_at"].as_i64().unwrap();
    assert_eq!(body["expires_at"].as_i64(), Some(expires_at));
    assert!(
        expires_at - session["created"].as_i64().unwrap() >= 1800 + 59,
        "at least a minute over Stripe's 30 minutes: {session}"
    );
    assert!(expires_at >= before + 1860);
    let hold = app
        .store
        .hold(body["hold_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hold.expires_at, expires_at, "the hold keeps the session's");
    app.stop().await;
}
