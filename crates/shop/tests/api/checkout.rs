//! `POST /api/checkout` through a real server, a real database and the sandbox.

use serde_json::json;

use crate::support::{cart, dead_address, guest_cookie, raw, scalar, TestApp};

#[tokio::test]
async fn a_checkout_holds_stock_and_opens_a_stripe_session_priced_by_the_database() {
    let app = TestApp::spawn().await;
    let (status, body, headers) = app
        .checkout(json!({"items": [{"product_id": "tee-classic", "quantity": 2}, {"product_id": "mug-enamel", "quantity": 1}], "email": "ada@example.com"}), &[])
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(headers
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("caisse_guest="));
    assert!(headers.contains_key("ratelimit-remaining"));
    let hold_id = body["hold_id"].as_str().unwrap();
    let session_id = body["checkout_session_id"].as_str().unwrap();
    assert_eq!(
        (body["amount_total"].as_i64(), body["currency"].as_str()),
        (Some(2 * 2500 + 1200), Some("eur"))
    );
    assert_eq!(
        body["url"].as_str().unwrap(),
        format!("{}/c/pay/{session_id}", app.sandbox.url())
    );
    assert_eq!(
        (
            app.reserved("tee-classic").await,
            app.reserved("mug-enamel").await
        ),
        (2, 1)
    );

    // What Stripe got: the database's prices, the hold on the session and its PaymentIntent.
    let session = app.sandbox.session(session_id).unwrap();
    assert_eq!(session["amount_total"], 6200);
    assert_eq!(session["metadata"]["hold_id"], hold_id);
    assert_eq!(session["client_reference_id"], hold_id);
    assert_eq!(session["customer_email"], "ada@example.com");
    assert_eq!(session["expires_at"], body["expires_at"]);
    let line_items = app
        .stripe_get(&format!("/v1/checkout/sessions/{session_id}/line_items"))
        .await;
    let lines: Vec<(i64, i64)> = line_items["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["price"]["unit_amount"].as_i64().unwrap(),
                l["quantity"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(lines, vec![(1200, 1), (2500, 2)]);
    let paid = app
        .sandbox
        .pay(
            session_id,
            caisse_sandbox::Method::Card("4242424242424242".into()),
        )
        .unwrap();
    let caisse_sandbox::Outcome::Paid { payment_intent, .. } = paid else {
        panic!("{paid:?}")
    };
    let pi = app
        .stripe_get(&format!("/v1/payment_intents/{payment_intent}"))
        .await;
    assert_eq!(
        pi["metadata"]["hold_id"], hold_id,
        "PaymentIntent events carry the hold too"
    );

    // Traced: the hold in the audit log, the Stripe call in stripe_requests (without the key).
    let trail = app
        .store
        .audit_log(Some(("hold", hold_id)), 10)
        .await
        .unwrap();
    assert_eq!(trail[0].action, "hold.created");
    assert!(trail[0].actor.starts_with("customer:guest:"));
    // With the expiry Stripe enforces and the customer was told, not the hold's provisional one.
    let after: serde_json::Value =
        serde_json::from_str(trail[0].after.as_deref().unwrap()).unwrap();
    assert_eq!(after["expires_at"], body["expires_at"]);
    assert_eq!(after["checkout_session_id"], session_id);
    assert!(
        trail[0].message.contains(session_id),
        "{}",
        trail[0].message
    );
    assert!(
        trail[0].message.contains("2 × tee-classic at 25.00 EUR"),
        "{}",
        trail[0].message
    );
    app.app.stripe_log.flush().await;
    let calls = app.store.stripe_requests(10).await.unwrap();
    let create = calls
        .iter()
        .find(|c| c.path == "/v1/checkout/sessions")
        .unwrap();
    assert_eq!((create.method.as_str(), create.status), ("POST", Some(200)));
    assert_eq!(
        create.idempotency_key.as_deref(),
        Some(format!("caisse-{hold_id}-create").as_str())
    );
    assert!(create.request_id.as_deref().unwrap().starts_with("req_"));
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM stripe_requests WHERE path LIKE '%sk_test%' OR error LIKE '%sk_test%'").await, 0);
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("caisse_checkouts_total{outcome=\"created\"}"),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test]
async fn each_bad_cart_gets_its_code_and_changes_nothing() {
    let app = TestApp::spawn().await;
    raw(&app.store, "INSERT INTO products (id, name, unit_amount, currency, stock_on_hand, created_at, updated_at) VALUES ('usd-hat', 'Hat', 900, 'usd', 5, 0, 0)").await.unwrap();
    let cases = [
        (json!({"items": []}), 422, "empty_cart"),
        (cart(&[("nope", 1)]), 422, "unknown_product"),
        (cart(&[("cap-retired", 1)]), 422, "product_inactive"),
        (cart(&[("tee-classic", 0)]), 422, "quantity_out_of_range"),
        (cart(&[("tee-classic", 11)]), 422, "quantity_out_of_range"),
        (
            cart(&[("tee-classic", 6), ("tee-classic", 6)]),
            422,
            "quantity_out_of_range",
        ),
        (
            cart(&[
                ("tee-classic", 10),
                ("mug-enamel", 10),
                ("tote-bag", 10),
                ("sticker-pack", 10),
                ("poster-a2", 1),
                ("mug-enamel", 0),
            ]),
            422,
            "quantity_out_of_range",
        ),
        (
            cart(&[
                ("tee-classic", 10),
                ("mug-enamel", 10),
                ("tote-bag", 10),
                ("sticker-pack", 10),
                ("poster-a2", 1),
            ]),
            201,
            "",
        ),
        (
            cart(&[("tee-classic", 1), ("usd-hat", 1)]),
            422,
            "mixed_currencies",
        ),
        (cart(&[("poster-a2", 2)]), 409, "insufficient_stock"),
        (
            json!({"items": [{"product_id": "tee-classic", "quantity": 1, "unit_amount": 1}]}),
            400,
            "invalid_request",
        ),
        (
            json!({"items": [{"product_id": "tee-classic", "quantity": 1}], "amount_total": 1}),
            400,
            "invalid_request",
        ),
        (
            json!({"items": [{"product_id": "tee-classic", "quantity": "1"}]}),
            400,
            "invalid_request",
        ),
        (
            json!({"items": [{"product_id": "tee-classic", "quantity": 1}], "email": "not-an-email"}),
            400,
            "invalid_request",
        ),
        (json!([1, 2]), 400, "invalid_request"),
    ];
    for (i, (body, status, code)) in cases.iter().enumerate() {
        let before = scalar(
            &app.store,
            "SELECT CAST(SUM(stock_reserved) AS BIGINT) FROM products",
        )
        .await;
        let holds_before = scalar(&app.store, "SELECT COUNT(*) FROM holds").await;
        let (s, answer, _) = app.checkout(body.clone(), &[]).await;
        assert_eq!(s, *status, "case {i}: {answer}");
        if *status == 201 {
            continue;
        }
        assert_eq!(answer["error"]["code"], *code, "case {i}: {answer}");
        assert!(answer["error"]["message"].is_string());
        assert_eq!(
            scalar(
                &app.store,
                "SELECT CAST(SUM(stock_reserved) AS BIGINT) FROM products"
            )
            .await,
            before,
            "case {i} changed stock"
        );
        assert_eq!(
            scalar(&app.store, "SELECT COUNT(*) FROM holds").await,
            holds_before,
            "case {i} wrote a hold"
        );
    }
    let (_, answer, _) = app.checkout(cart(&[("poster-a2", 1)]), &[]).await;
    assert_eq!(
        answer["error"]["code"], "insufficient_stock",
        "the poster is held by the large cart above"
    );
    assert_eq!(
        (
            answer["error"]["product_id"].as_str(),
            answer["error"]["available"].as_i64()
        ),
        (Some("poster-a2"), Some(0))
    );

    let r = app
        .http
        .post(app.url("/api/checkout"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let huge = format!(
        "{{\"items\":[{}]}}",
        vec![r#"{"product_id":"tee-classic","quantity":1}"#; 40_000].join(",")
    );
    let r = app
        .http
        .post(app.url("/api/checkout"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "payload_too_large"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_double_click_makes_one_hold_and_one_session() {
    let app = TestApp::spawn().await;
    let (_, first, headers) = app.checkout(cart(&[("tee-classic", 1)]), &[]).await;
    let cookie = guest_cookie(&headers);
    assert_eq!(app.reserved("tee-classic").await, 1);
    let key = "click-7f3a";
    let headers = [("cookie", cookie.as_str()), ("idempotency-key", key)];
    let send = || app.checkout(cart(&[("tee-classic", 2)]), &headers);
    let (a, b) = tokio::join!(send(), send());
    assert_eq!((a.0, b.0), (201, 201), "{} {}", a.1, b.1);
    assert_eq!(a.1, b.1, "both clicks get the same answer");
    let (c, again, _) = send().await;
    assert_eq!((c, &again), (201, &a.1));
    assert_eq!(
        app.reserved("tee-classic").await,
        3,
        "the first checkout's 1 and one hold of 2"
    );
    assert_ne!(a.1["hold_id"], first["hold_id"]);
    assert_eq!(app.sandbox.events().len(), 0);
    let sessions = crate::support::scalar(
        &app.store,
        "SELECT COUNT(*) FROM holds WHERE checkout_session_id IS NOT NULL",
    )
    .await;
    assert_eq!(sessions, 2);

    let (s, other, _) = app
        .checkout(
            cart(&[("mug-enamel", 1)]),
            &[("cookie", cookie.as_str()), ("idempotency-key", key)],
        )
        .await;
    assert_eq!(
        (s, other["error"]["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );
    app.stop().await;
}

#[tokio::test]
async fn when_stripe_fails_the_hold_is_released_at_once() {
    let app = TestApp::spawn().await;
    app.sandbox.fail_next(3, 500);
    let (status, body, headers) = app
        .checkout(
            cart(&[("mug-enamel", 2)]),
            &[("idempotency-key", "retry-me")],
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("payment_provider_unavailable"))
    );
    assert_eq!(
        app.reserved("mug-enamel").await,
        0,
        "no hold without a session"
    );
    let hold = scalar(&app.store, "SELECT COUNT(*) FROM holds WHERE status = 'released' AND release_reason = 'payment_provider_unavailable'").await;
    assert_eq!(hold, 1);
    app.app.stripe_log.flush().await;
    let attempts = scalar(
        &app.store,
        "SELECT COUNT(*) FROM stripe_requests WHERE status = 500",
    )
    .await;
    assert_eq!(
        attempts, 3,
        "the client retried twice with one key, each try recorded"
    );

    // Stripe is back: the same request (same key) now goes through.
    let cookie = guest_cookie(&headers);
    let (status, body, _) = app
        .checkout(
            cart(&[("mug-enamel", 2)]),
            &[("cookie", cookie.as_str()), ("idempotency-key", "retry-me")],
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(app.reserved("mug-enamel").await, 2);
    app.stop().await;
}

#[tokio::test]
async fn when_stripe_is_unreachable_the_hold_is_released_at_once() {
    let dead = format!("http://{}", dead_address());
    let app = TestApp::spawn_setting(caisse_shop::config::API_BASE, &dead).await;
    let (status, body, _) = app.checkout(cart(&[("poster-a2", 1)]), &[]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("payment_provider_unavailable"))
    );
    assert_eq!(app.reserved("poster-a2").await, 0);
    let trail = app.store.audit_log(None, 10).await.unwrap();
    assert_eq!(trail[0].action, "hold.released");
    assert!(trail[0].message.contains("Stripe did not create"));
    app.stop().await;
}

#[tokio::test]
async fn a_customer_sees_only_their_own_checkout() {
    let app = TestApp::spawn().await;
    let (_, body, headers) = app.checkout(cart(&[("tote-bag", 1)]), &[]).await;
    let session = body["checkout_session_id"].as_str().unwrap();
    let mine = guest_cookie(&headers);
    let r = app
        .http
        .get(app.url(&format!("/api/checkout/{session}")))
        .header("cookie", &mine)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let status: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (status["status"].as_str(), status["order_id"].is_null()),
        (Some("pending"), true)
    );

    let (_, _, other_headers) = app.checkout(cart(&[("tote-bag", 1)]), &[]).await;
    let theirs = guest_cookie(&other_headers);
    for cookie in [Some(theirs.as_str()), None, Some("caisse_guest=forged.00")] {
        let mut req = app.http.get(app.url(&format!("/api/checkout/{session}")));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 404, "{cookie:?}");
    }
    assert_eq!(app.get_json("/api/checkout/cs_test_unknown").await.0, 404);
    app.stop().await;
}

#[tokio::test]
async fn signed_in_customers_are_identified_by_their_token() {
    let secret = "jwt-secret-for-tests-0123456789abcdef";
    let app = TestApp::spawn_setting(caisse_shop::config::JWT_SECRET, secret).await;
    let exp = caisse_shop::store::unix_now() + 600;
    let token =
        caisse_shop::identity::sign_jwt(&json!({"sub": "ada", "exp": exp}), secret.as_bytes());
    let auth = format!("Bearer {token}");
    let (status, body, headers) = app
        .checkout(
            cart(&[("tote-bag", 1)]),
            &[("authorization", auth.as_str())],
        )
        .await;
    assert_eq!(status, 201);
    assert!(
        headers.get("set-cookie").is_none(),
        "no guest cookie for a signed-in customer"
    );
    let hold = app
        .store
        .hold(body["hold_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hold.customer_id, "user:ada");
    let forged = caisse_shop::identity::sign_jwt(
        &json!({"sub": "ada", "exp": exp}),
        b"not-the-secret-not-the-secret-xx",
    );
    let (status, body, _) = app
        .checkout(
            cart(&[("tote-bag", 1)]),
            &[("authorization", &format!("Bearer {forged}"))],
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    assert_eq!(app.reserved("tote-bag").await, 1);
    // A sub with a newline is refused, never stored raw.
    let newline = caisse_shop::identity::sign_jwt(
        &json!({"sub": "ada\nuser:admin", "exp": exp}),
        secret.as_bytes(),
    );
    let (status, _, _) = app
        .checkout(
            cart(&[("tote-bag", 1)]),
            &[("authorization", &format!("Bearer {newline}"))],
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(app.reserved("tote-bag").await, 1);
    // Time claims are numbers compared as numbers, and exp is required (RFC 7519).
    let now = caisse_shop::store::unix_now();
    for claims in [
        json!({"sub": "ada", "exp": now as f64 - 120.5}),
        json!({"sub": "ada", "exp": (now - 3600).to_string()}),
        json!({"sub": "ada"}),
        json!({"sub": "ada", "exp": now + 600, "nbf": now as f64 + 3600.5}),
    ] {
        let token = caisse_shop::identity::sign_jwt(&claims, secret.as_bytes());
        let (status, body, _) = app
            .checkout(
                cart(&[("tote-bag", 1)]),
                &[("authorization", &format!("Bearer {token}"))],
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("unauthorized")),
            "{claims}"
        );
    }
    let r = app
        .http
        .post(app.url("/api/checkout"))
        .header(
            "authorization",
            reqwest::header::HeaderValue::from_bytes(b"Bearer \xc3\xa9").unwrap(),
        )
        .json(&cart(&[("tote-bag", 1)]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "a non-ASCII Authorization is refused, never a guest"
    );
    assert_eq!(app.reserved("tote-bag").await, 1);
    app.stop().await;
}

/// The hold is committed provisionally before Stripe is called (answered without waiting for
/// its durability, which the session's durable write then brings). If it is lost in between (a
/// failed group commit, a crash), recording the session finds no hold, and the customer gets a
/// 503: never a session URL whose payment would find no hold, and the session is ended at
/// Stripe.
#[tokio::test]
async fn a_hold_lost_before_its_session_is_recorded_gives_no_session_url() {
    let app = TestApp::spawn().await;
    app.sandbox.set_latency(800);
    let lose_the_hold = async {
        let hold = crate::support::wait_for(5, "the hold", || {
            crate::support::text(&app.store, "SELECT id FROM holds")
        })
        .await;
        for table in ["hold_items WHERE hold_id", "holds WHERE id"] {
            raw(&app.store, &format!("DELETE FROM {table} = '{hold}'"))
                .await
                .unwrap();
        }
    };
    let ((status, body, _), ()) =
        tokio::join!(app.checkout(cart(&[("tote-bag", 1)]), &[]), lose_the_hold);
    assert_eq!(status, 503, "{body}");
    assert!(body.get("url").is_none(), "{body}");
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM holds").await, 0);
    app.sandbox.set_latency(0);
    let sessions = app.stripe_get("/v1/checkout/sessions?limit=10").await;
    assert_eq!(sessions["data"][0]["status"], "expired", "{sessions}");
    app.stop().await;
}

/// Until its session is recorded a hold expires within minutes (so that one a crash left goes
/// back soon, see `holds::a_hold_its_checkout_died_with_is_released_and_its_key_freed`); one
/// released meanwhile (by the reconciler, past that expiry) never gets a session URL: the
/// checkout answers 503 and ends the session at Stripe.
#[tokio::test]
async fn a_hold_released_before_its_session_is_recorded_gives_no_url_and_ends_the_session() {
    let app = TestApp::spawn().await;
    app.sandbox.set_latency(800);
    let release_the_hold = async {
        crate::support::wait_for(5, "the hold", || async {
            (scalar(&app.store, "SELECT COUNT(*) FROM holds").await == 1).then_some(())
        })
        .await;
        let provisional = scalar(&app.store, "SELECT expires_at - created_at FROM holds").await;
        assert!(
            (60..1800).contains(&provisional),
            "a provisional expiry of minutes, not the session's half hour: {provisional} s"
        );
        raw(&app.store, "UPDATE holds SET status = 'released'")
            .await
            .unwrap();
    };
    let ((status, body, _), ()) = tokio::join!(
        app.checkout(cart(&[("tote-bag", 1)]), &[]),
        release_the_hold
    );
    assert_eq!(status, 503, "{body}");
    assert!(body.get("url").is_none(), "{body}");
    app.sandbox.set_latency(0);
    let sessions = app.stripe_get("/v1/checkout/sessions?limit=10").await;
    let made = sessions["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(made.len(), 1, "{sessions}");
    assert_eq!(made[0]["status"], "expired", "{sessions}");
    app.stop().await;
}

/// A Stripe slower than the configured limit is a failure like any other: the customer hears
/// `payment_provider_unavailable` and the stock is back at once.
#[tokio::test]
async fn when_stripe_is_too_slow_the_hold_is_released() {
    let app = TestApp::spawn_setting(caisse_shop::config::STRIPE_TIMEOUT, "1").await;
    app.sandbox.set_latency(1500);
    let (status, body, _) = app.checkout(cart(&[("tote-bag", 3)]), &[]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("payment_provider_unavailable"))
    );
    assert_eq!(app.reserved("tote-bag").await, 0);
    app.app.stripe_log.flush().await;
    let timeouts = scalar(
        &app.store,
        "SELECT COUNT(*) FROM stripe_requests WHERE status IS NULL AND error LIKE '%in time%'",
    )
    .await;
    assert_eq!(timeouts, 3, "one try and two retries, each recorded");
    app.stop().await;
}

/// Stripe runs the request but its answer comes too late, every time: caisse gives up (503, the
/// stock back at once), its retries carried one idempotency key so Stripe made one session, and
/// that session, if it is paid anyway, still becomes an order: nothing is charged without one.
#[tokio::test]
async fn when_stripe_runs_the_request_but_answers_too_late_nothing_is_lost() {
    let app = TestApp::spawn_setting(caisse_shop::config::STRIPE_TIMEOUT, "1").await;
    app.sandbox.set_answer_delay(1500);
    let (status, body, headers) = app.checkout(cart(&[("tote-bag", 3)]), &[]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("payment_provider_unavailable"))
    );
    assert_eq!(
        app.reserved("tote-bag").await,
        0,
        "the stock is back at once"
    );
    app.sandbox.set_answer_delay(0);
    let sessions = app.stripe_get("/v1/checkout/sessions?limit=100").await;
    let made = sessions["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        made.len(),
        1,
        "three attempts, one key, one session: {sessions}"
    );
    let session = made[0]["id"].as_str().unwrap().to_string();
    // Nobody has its URL, but if it is paid (a replayed answer reached someone), the payment
    // takes the stock again and becomes an order. The PaymentIntent's events are delivered
    // first: the session's completion, last, is the first signal to name the session.
    app.sandbox.set_forward_to(None);
    let before = app.sandbox.events().len();
    app.sandbox
        .pay(
            &session,
            caisse_sandbox::Method::Card("4242424242424242".into()),
        )
        .unwrap();
    let mut events = app.sandbox.events().split_off(before);
    events.sort_by_key(|e| e["type"].as_str().unwrap_or("").starts_with("checkout."));
    assert!(events.last().unwrap()["type"]
        .as_str()
        .unwrap()
        .starts_with("checkout.session"));
    for e in &events {
        assert_eq!(app.deliver(e).await.0, 200);
    }
    let store = app.store.clone();
    crate::support::wait_for(10, "the order", || {
        let store = store.clone();
        async move { (scalar(&store, "SELECT COUNT(*) FROM orders").await == 1).then_some(()) }
    })
    .await;
    // Whichever of the payment's events comes last, the hold ends up naming its session.
    let linked = format!(
        "SELECT COUNT(*) FROM holds WHERE checkout_session_id = '{session}' AND status = 'converted'"
    );
    crate::support::wait_for(10, "the hold to name its session", || {
        let (store, sql) = (store.clone(), linked.clone());
        async move { (scalar(&store, &sql).await == 1).then_some(()) }
    })
    .await;
    let cookie = crate::support::guest_cookie(&headers);
    let paid = app.wait_status(&session, &cookie, "paid").await;
    assert!(paid["order_number"].as_i64().is_some(), "{paid}");
    assert_eq!(app.product_stock("tote-bag").await.1, 0);
    app.stop().await;
}

/// A customer who hangs up mid-checkout does not leave a hold without a session behind.
#[tokio::test]
async fn a_client_that_hangs_up_does_not_strand_a_hold() {
    let app = TestApp::spawn().await;
    app.sandbox.set_latency(700);
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(200))
        .build()
        .unwrap();
    let r = client
        .post(app.url("/api/checkout"))
        .json(&cart(&[("tote-bag", 2)]))
        .send()
        .await;
    assert!(r.is_err(), "the client gave up");
    let with_session = crate::support::wait_for(10, "the checkout to finish", || async {
        let n = scalar(
            &app.store,
            "SELECT COUNT(*) FROM holds WHERE status = 'active' AND checkout_session_id IS NOT NULL",
        )
        .await;
        (n > 0).then_some(n)
    })
    .await;
    let without = scalar(
        &app.store,
        "SELECT COUNT(*) FROM holds WHERE checkout_session_id IS NULL",
    )
    .await;
    assert_eq!(
        (with_session, without),
        (1, 0),
        "the checkout finished on its own"
    );
    app.stop().await;
}

/// The request time limit answers the customer; the checkout itself still completes behind it.
#[tokio::test]
async fn a_request_over_the_time_limit_gets_a_json_503() {
    let app = TestApp::spawn_setting(caisse_shop::config::REQUEST_TIMEOUT, "1").await;
    // Stripe takes 3 s, the limit is 1 s: the answer comes while the session is still being made.
    app.sandbox.set_latency(3000);
    let (status, body, _) = app.checkout(cart(&[("mug-enamel", 1)]), &[]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("timeout"))
    );
    let waiting = scalar(
        &app.store,
        "SELECT COUNT(*) FROM holds WHERE status = 'active' AND checkout_session_id IS NULL",
    )
    .await;
    assert_eq!(waiting, 1, "answered before Stripe did");
    let done = crate::support::wait_for(10, "the checkout to finish behind", || async {
        let n = scalar(
            &app.store,
            "SELECT COUNT(*) FROM holds WHERE status = 'active' AND checkout_session_id IS NOT NULL",
        )
        .await;
        (n > 0).then_some(n)
    })
    .await;
    assert_eq!(done, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_cart_over_the_total_quantity_is_refused() {
    let app = TestApp::spawn_setting(caisse_shop::config::MAX_CART_QUANTITY, "12").await;
    let (status, body, _) = app
        .checkout(cart(&[("tee-classic", 10), ("mug-enamel", 3)]), &[])
        .await;
    assert_eq!(
        (
            status,
            body["error"]["code"].as_str(),
            body["error"]["max"].as_i64()
        ),
        (422, Some("cart_too_large"), Some(12))
    );
    assert_eq!(
        app.reserved("tee-classic").await + app.reserved("mug-enamel").await,
        0
    );
    assert_eq!(
        app.checkout(cart(&[("tee-classic", 10), ("mug-enamel", 2)]), &[])
            .await
            .0,
        201
    );
    app.stop().await;
}

#[tokio::test]
async fn the_cancel_page_expires_the_session_then_releases_and_only_for_its_owner() {
    let app = TestApp::spawn().await;
    let (_, body, headers) = app.checkout(cart(&[("tote-bag", 2)]), &[]).await;
    let cookie = guest_cookie(&headers);
    let session = body["checkout_session_id"].as_str().unwrap();
    let cancel = |cookie: Option<&str>| {
        let mut req = app
            .http
            .post(app.url(&format!("/api/checkout/{session}/cancel")));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        async move {
            let r = req.send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let (status, _) = cancel(None).await;
    assert_eq!(status, 404, "someone else's checkout is not found");
    assert_eq!(app.reserved("tote-bag").await, 2);

    let (status, answer) = cancel(Some(&cookie)).await;
    assert_eq!(
        (
            status,
            answer["status"].as_str(),
            answer["release_reason"].as_str()
        ),
        (200, Some("expired"), Some("cancelled")),
        "{answer}"
    );
    assert_eq!(app.reserved("tote-bag").await, 0);
    assert_eq!(
        app.sandbox.session(session).unwrap()["status"],
        "expired",
        "nobody can pay it now"
    );
    let (status, again) = cancel(Some(&cookie)).await;
    assert_eq!(
        (status, again["status"].as_str()),
        (200, Some("expired")),
        "cancelling twice answers the same"
    );

    // A paid checkout cannot be cancelled.
    let (_, body, headers) = app.checkout(cart(&[("tote-bag", 1)]), &[]).await;
    let cookie = guest_cookie(&headers);
    let paid = body["checkout_session_id"].as_str().unwrap().to_string();
    app.sandbox
        .pay(
            &paid,
            caisse_sandbox::Method::Card("4242424242424242".into()),
        )
        .unwrap();
    let r = app
        .http
        .post(app.url(&format!("/api/checkout/{paid}/cancel")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let answer: serde_json::Value = r.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "already_paid");
    app.stop().await;
}

#[tokio::test]
async fn a_stripe_price_that_disagrees_with_the_database_refuses_the_checkout() {
    let app = TestApp::spawn().await;
    // The mug's Stripe Price says 13.00 EUR; caisse's catalog says 12.00.
    let product = app
        .app
        .stripe
        .create_product("Enamel mug", "product-test")
        .await
        .unwrap();
    let price = app
        .app
        .stripe
        .create_price(&product.id, 1300, "eur", "price-mismatch-test")
        .await
        .unwrap();
    raw(
        &app.store,
        &format!(
            "UPDATE products SET stripe_price_id = '{}' WHERE id = 'mug-enamel'",
            price.id
        ),
    )
    .await
    .unwrap();
    let (status, body, _) = app.checkout(cart(&[("mug-enamel", 2)]), &[]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("payment_provider_unavailable")),
        "{body}"
    );
    assert_eq!(app.reserved("mug-enamel").await, 0, "the hold is released");
    let alerts = app.store.alerts(true, 10).await.unwrap();
    assert_eq!(
        alerts.iter().map(|a| a.kind.as_str()).collect::<Vec<_>>(),
        ["price_mismatch"]
    );
    assert!(
        alerts[0].message.contains("26.00 EUR") && alerts[0].message.contains("24.00 EUR"),
        "{}",
        alerts[0].message
    );
    let session = scalar(
        &app.store,
        "SELECT COUNT(*) FROM holds WHERE release_reason = 'price_mismatch'",
    )
    .await;
    assert_eq!(session, 1);
    // A Price that agrees goes through.
    let fair = app
        .app
        .stripe
        .create_price(&product.id, 1200, "eur", "price-fair-test")
        .await
        .unwrap();
    raw(
        &app.store,
        &format!(
            "UPDATE products SET stripe_price_id = '{}' WHERE id = 'mug-enamel'",
            fair.id
        ),
    )
    .await
    .unwrap();
    assert_eq!(app.checkout(cart(&[("mug-enamel", 2)]), &[]).await.0, 201);
    app.stop().await;
}

#[tokio::test]
async fn a_cart_of_thousands_of_ids_is_refused_before_any_lookup() {
    let app = TestApp::spawn().await;
    // 1,500 lines: within the 64 KiB body limit, thirty times the cart's.
    let lines: Vec<serde_json::Value> = (0..1_500)
        .map(|i| json!({"product_id": format!("x{i}"), "quantity": 1}))
        .collect();
    let (status, body, _) = app.checkout(json!({ "items": lines }), &[]).await;
    // The size rule answers, not the first unknown id: no product was looked up.
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("cart_too_large")),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_cookieless_double_click_is_one_checkout_and_keys_are_checked_and_expire() {
    let app = TestApp::spawn().await;
    let key = [("idempotency-key", "click-0001")];
    let body =
        json!({"items": [{"product_id": "mug-enamel", "quantity": 2}], "email": "ada@example.com"});
    // Two clicks at once, before any cookie: two new guests, one network, one key.
    let barrier = tokio::sync::Barrier::new(2);
    let click = || async {
        barrier.wait().await;
        app.checkout(body.clone(), &key).await
    };
    let (first, second) = tokio::join!(click(), click());
    assert_eq!((first.0, second.0), (201, 201), "{} {}", first.1, second.1);
    assert_eq!(
        first.1["checkout_session_id"],
        second.1["checkout_session_id"]
    );
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM holds").await, 1);
    assert_eq!(app.reserved("mug-enamel").await, 2);
    // Whichever answer the browser keeps, its cookie finds the checkout.
    let session = first.1["checkout_session_id"].as_str().unwrap();
    for answer in [&first, &second] {
        let cookies: Vec<_> = answer.2.get_all("set-cookie").iter().collect();
        assert_eq!(cookies.len(), 1, "one identity per answer: {cookies:?}");
        let cookie = guest_cookie(&answer.2);
        let status = app
            .http
            .get(app.url(&format!("/api/checkout/{session}")))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(status.status(), 200);
    }

    // The same key with another email, or with a cart that breaks the rules, is not a replay.
    let other_email =
        json!({"items": [{"product_id": "mug-enamel", "quantity": 2}], "email": "eve@example.com"});
    let (status, answer, _) = app.checkout(other_email, &key).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );
    assert_eq!(
        answer["error"]["message"],
        "this Idempotency-Key was used for another cart or email"
    );
    let (status, answer, _) = app
        .checkout(
            json!({"items": [{"product_id": "mug-enamel", "quantity": 0}]}),
            &key,
        )
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (422, Some("quantity_out_of_range"))
    );

    // Once the checkout is over, a replay says so instead of handing out a dead URL.
    let cookie = guest_cookie(&first.2);
    let r = app
        .http
        .post(app.url(&format!("/api/checkout/{session}/cancel")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, answer, _) = app.checkout(body.clone(), &key).await;
    assert_eq!(
        (
            status,
            answer["error"]["code"].as_str(),
            answer["error"]["status"].as_str()
        ),
        (409, Some("checkout_closed"), Some("expired")),
        "{answer}"
    );

    // After 24 hours the key is free again.
    raw(
        &app.store,
        "UPDATE holds SET created_at = created_at - 86401",
    )
    .await
    .unwrap();
    let (status, answer, _) = app.checkout(body, &key).await;
    assert_eq!(status, 201, "{answer}");
    assert_ne!(answer["checkout_session_id"].as_str(), Some(session));
    app.stop().await;
}

#[tokio::test]
async fn a_session_the_database_could_not_record_is_ended_and_its_key_freed() {
    let app = TestApp::spawn().await;
    let sqlite = matches!(app.store, caisse_shop::Store::Sqlite(..));
    if sqlite {
        raw(&app.store, "CREATE TRIGGER no_session BEFORE UPDATE OF checkout_session_id ON holds WHEN NEW.checkout_session_id IS NOT NULL BEGIN SELECT RAISE(ABORT, 'injected'); END").await.unwrap();
    } else {
        raw(&app.store, "CREATE FUNCTION no_session() RETURNS trigger AS $$ BEGIN IF NEW.checkout_session_id IS NOT NULL THEN RAISE EXCEPTION 'injected'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql").await.unwrap();
        raw(&app.store, "CREATE TRIGGER no_session BEFORE UPDATE OF checkout_session_id ON holds FOR EACH ROW EXECUTE FUNCTION no_session()").await.unwrap();
    }
    let key = [("idempotency-key", "store-fails-1")];
    let (status, body, headers) = app.checkout(cart(&[("tote-bag", 2)]), &key).await;
    assert!(status >= 500, "{status} {body}");
    assert_eq!(app.reserved("tote-bag").await, 0, "the hold is released");
    let sessions = app.stripe_get("/v1/checkout/sessions?limit=10").await;
    assert_eq!(
        sessions["data"][0]["status"], "expired",
        "nobody can pay it"
    );
    // The same click again is a fresh checkout, not `checkout_in_progress`.
    raw(
        &app.store,
        if sqlite {
            "DROP TRIGGER no_session"
        } else {
            "DROP TRIGGER no_session ON holds"
        },
    )
    .await
    .unwrap();
    let cookie = guest_cookie(&headers);
    let (status, body, _) = app
        .checkout(
            cart(&[("tote-bag", 2)]),
            &[key[0], ("cookie", cookie.as_str())],
        )
        .await;
    assert_eq!(status, 201, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn addresses_the_mailer_could_not_use_are_refused_at_checkout() {
    let app = TestApp::spawn().await;
    for email in [
        "a@@example.com",
        "a@example.com;b@example.com",
        "a\"@example.com",
        "a@[127.0.0.1]",
        "a@exa\u{202e}mple.com",
        "a@example.com\r\nBcc: eve@example.com",
    ] {
        let (status, body, _) = app
            .checkout(
                json!({"items": [{"product_id": "mug-enamel", "quantity": 1}], "email": email}),
                &[],
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_request")),
            "{email:?}"
        );
    }
    assert_eq!(app.reserved("mug-enamel").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn another_guest_of_the_network_cannot_replay_a_key_into_the_first_guests_identity() {
    let app = TestApp::spawn().await;
    let body = json!({"items": [{"product_id": "mug-enamel", "quantity": 1}], "email": "victim@example.com"});
    let key = ("idempotency-key", "order-1");
    let (status, _, victim) = app.checkout(body.clone(), &[key]).await;
    assert_eq!(status, 201);
    let victim_cookie = guest_cookie(&victim);
    // A guest with a cookie of its own, same network, same key, same cart.
    let (_, _, other) = app
        .checkout(
            json!({"items": [{"product_id": "tote-bag", "quantity": 1}]}),
            &[],
        )
        .await;
    let other_cookie = guest_cookie(&other);
    let (status, answer, headers) = app
        .checkout(body.clone(), &[key, ("cookie", other_cookie.as_str())])
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (422, Some("idempotency_key_reused")),
        "{answer}"
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("this Idempotency-Key belongs to another customer's checkout"),
        "{answer}"
    );
    assert!(headers.get("set-cookie").is_none());
    // A cookieless repeat long after the first click is not a double click either.
    raw(&app.store, "UPDATE holds SET created_at = created_at - 61")
        .await
        .unwrap();
    let (status, _, headers) = app.checkout(body, &[key]).await;
    assert_eq!(status, 422);
    let handed = headers
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap().starts_with(&victim_cookie));
    assert!(!handed, "the victim's cookie was handed out");
    app.stop().await;
}
