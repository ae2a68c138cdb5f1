//! `POST /api/webhooks/stripe` through a real server and database: what a bad delivery gets (and
//! that it writes nothing), the status contract, exactly-once effects under duplicates and
//! concurrency, and each event's effect.

use caisse_shop::config;
use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::support::{
    cart, count, event, guest_cookie, intent_metadata, raw, scalar, with_intent_tag, TestApp,
    LOOSE, WEBHOOK_SECRET,
};

/// The tables a webhook can write to.
const TABLES: &[&str] = &[
    "webhook_events",
    "orders",
    "payments",
    "outbox",
    "alerts",
    "audit_log",
];

async fn rows(app: &TestApp) -> Vec<i64> {
    let mut all = Vec::new();
    for t in TABLES {
        all.push(count(&app.store, t).await);
    }
    all
}

fn now() -> i64 {
    caisse_shop::store::unix_now()
}

/// A hold made through the real checkout, and the cookie of the guest who owns it.
async fn hold(app: &TestApp, lines: &[(&str, i64)]) -> (Value, String) {
    let (status, body, headers) = app.checkout(cart(lines), &[]).await;
    assert_eq!(status, 201, "{body}");
    (
        with_intent_tag(&app.store, body).await,
        guest_cookie(&headers),
    )
}

/// A `payment_intent.succeeded` for `hold` as Stripe would send it (metadata from
/// `payment_intent_data`).
fn intent_succeeded(hold: &Value, pi: &str, amount: i64, currency: &str) -> Value {
    event(
        "payment_intent.succeeded",
        json!({
            "id": pi, "object": "payment_intent", "amount": amount, "amount_received": amount,
            "currency": currency, "status": "succeeded", "livemode": false,
            "metadata": intent_metadata(hold),
        }),
    )
}

#[tokio::test]
async fn bad_deliveries_get_clear_errors_and_write_nothing() {
    let app = TestApp::spawn_with(
        &[
            LOOSE,
            &[
                (config::MAX_BODY, "4096"),
                (config::SIGNATURE_ALERT_THRESHOLD, "1000"),
            ],
        ]
        .concat(),
    )
    .await;
    let (held, _) = hold(&app, &[("mug-enamel", 1)]).await;
    let before = rows(&app).await;
    let body = intent_succeeded(&held, "pi_bad", 1200, "eur").to_string();
    let sign = |secret: &str, t: i64, payload: &str| {
        caisse_stripe::signature_header(&[secret], t, payload.as_bytes())
    };
    let good = sign(WEBHOOK_SECRET, now(), &body);
    let altered = body.replace("1200", "1201");
    let cases: Vec<(&str, String, Option<String>, u16, &str)> = vec![
        ("no header", body.clone(), None, 400, "invalid_signature"),
        (
            "garbage header",
            body.clone(),
            Some("garbage".into()),
            400,
            "invalid_signature",
        ),
        (
            "no v1",
            body.clone(),
            Some(format!("t={}", now())),
            400,
            "invalid_signature",
        ),
        (
            "other secret",
            body.clone(),
            Some(sign("whsec_forged_000000000000", now(), &body)),
            400,
            "invalid_signature",
        ),
        (
            "stale",
            body.clone(),
            Some(sign(WEBHOOK_SECRET, now() - 301, &body)),
            400,
            "invalid_signature",
        ),
        (
            "future",
            body.clone(),
            Some(sign(WEBHOOK_SECRET, now() + 301, &body)),
            400,
            "invalid_signature",
        ),
        (
            "altered body",
            altered,
            Some(good.clone()),
            400,
            "invalid_signature",
        ),
        (
            "v0 only",
            body.clone(),
            Some(good.replace("v1=", "v0=")),
            400,
            "invalid_signature",
        ),
    ];
    for (name, payload, header, status, code) in cases {
        let (got, answer) = app.post_webhook(payload, header.as_deref()).await;
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{name}: {answer}"
        );
    }
    // Signed right, but not an event (an id with a NUL is not one Stripe sends).
    let nul = body.replace("pi_bad", "pi_b\\u0000d");
    let bad_id = body.replacen("evt_", "evt_\\u00e9", 1);
    for payload in [nul.as_str(), bad_id.as_str()] {
        let (got, answer) = app
            .post_webhook(
                payload.to_string(),
                Some(&sign(WEBHOOK_SECRET, now(), payload)),
            )
            .await;
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (400, Some("invalid_payload")),
            "{payload}"
        );
    }
    for payload in [
        "not json",
        "[1,2]",
        r#"{"id":"evt_1"}"#,
        r#"{"id":"x","type":"a","created":1,"data":{"object":{}}}"#,
    ] {
        let (got, answer) = app
            .post_webhook(payload, Some(&sign(WEBHOOK_SECRET, now(), payload)))
            .await;
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (400, Some("invalid_payload")),
            "{payload}"
        );
    }
    // Over the body limit, signed or not.
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(5000));
    let (got, _) = app
        .post_webhook(big.clone(), Some(&sign(WEBHOOK_SECRET, now(), &big)))
        .await;
    assert_eq!(got, 413);
    // Nothing but the six signed bodies' alerts: each is from Stripe, and Stripe retries it.
    let mut expected = before.clone();
    let alerts = TABLES.iter().position(|t| *t == "alerts").unwrap();
    expected[alerts] += 6;
    assert_eq!(
        rows(&app).await,
        expected,
        "a refused delivery writes nothing but its alert"
    );
    let kinds: Vec<String> = app
        .store
        .alerts(true, 20)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.kind.to_string())
        .collect();
    assert_eq!(kinds, ["event_unparseable"; 6]);
    assert_eq!(app.product_stock("mug-enamel").await, (20, 1));
    let metrics = app.metrics_text().await;
    // One recorder per test process: the figures add up across tests; the series must exist.
    for reason in ["missing", "malformed", "no_match", "tolerance"] {
        let series = format!("caisse_webhook_signature_failures_total{{reason=\"{reason}\"}}");
        assert!(metrics.contains(&series), "{series}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_burst_of_bad_signatures_raises_one_alert_per_window() {
    let app = TestApp::spawn_setting(config::SIGNATURE_ALERT_THRESHOLD, "3").await;
    // The alert's key names its 300 s window: posts that straddle two windows would rightly raise
    // two. Start early in a window, so that the seven posts (well under 20 s) fall in one.
    let into_window = caisse_shop::store::unix_now() % 300;
    if into_window > 280 {
        tokio::time::sleep(std::time::Duration::from_secs(
            (300 - into_window + 1) as u64,
        ))
        .await;
    }
    for _ in 0..2 {
        app.post_webhook("{}", Some("t=1,v1=00")).await;
    }
    assert_eq!(count(&app.store, "alerts").await, 0, "below the threshold");
    for _ in 0..5 {
        app.post_webhook("{}", Some("t=1,v1=00")).await;
    }
    let alerts = app.store.alerts(true, 10).await.unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].kind.as_str(), "signature_failures");
    assert!(!alerts[0].message.contains(WEBHOOK_SECRET));
    app.stop().await;
}

#[tokio::test]
async fn every_secret_of_a_rotation_and_every_v1_is_tried() {
    let old = "whsec_old_rotation_secret_000000000";
    let app =
        TestApp::spawn_setting(config::WEBHOOK_SECRET, &format!("{old},{WEBHOOK_SECRET}")).await;
    for secrets in [
        vec![old],
        vec![WEBHOOK_SECRET],
        vec!["whsec_unknown_0000000", WEBHOOK_SECRET],
    ] {
        let body = event(
            "customer.created",
            json!({"id": "cus_1", "object": "customer"}),
        )
        .to_string();
        let header = caisse_stripe::signature_header(&secrets, now(), body.as_bytes());
        let (status, answer) = app.post_webhook(body, Some(&header)).await;
        assert_eq!(
            (status, answer["status"].as_str()),
            (200, Some("ignored")),
            "{secrets:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_4242_payment_becomes_one_order_through_duplicated_and_reordered_deliveries() {
    let app = TestApp::spawn().await;
    let (held, cookie) = hold(&app, &[("tee-classic", 2)]).await;
    let session = held["checkout_session_id"].as_str().unwrap();
    // The test delivers the payment's events itself: newest first, each twice at once, so that
    // the reordering and the duplicates happen every run, not when random delays allow.
    app.sandbox.set_forward_to(None);
    let before = app.sandbox.events().len();
    let paid = app
        .sandbox
        .pay(
            session,
            caisse_sandbox::Method::Card("4242424242424242".into()),
        )
        .unwrap();
    let caisse_sandbox::Outcome::Paid { payment_intent, .. } = paid else {
        panic!("{paid:?}")
    };
    let mut events: Vec<Value> = app.sandbox.events().split_off(before);
    assert!(events.len() >= 2, "{events:?}");
    events.reverse();
    for e in &events {
        let (a, b) = tokio::join!(app.deliver(e), app.deliver(e));
        assert_eq!((a.0, b.0), (200, 200), "{} {}", a.1, b.1);
    }
    let status = app.wait_status(session, &cookie, "paid").await;
    let number = status["order_number"].as_i64().unwrap();
    assert!(status["order_id"].as_str().unwrap().starts_with("ord_"));
    assert_eq!(
        app.product_stock("tee-classic").await,
        (48, 0),
        "taken for good"
    );
    assert_eq!(count(&app.store, "orders").await, 1);
    assert_eq!(
        count(&app.store, "outbox").await,
        1,
        "one confirmation email"
    );
    let payment = app
        .store
        .payment_by_intent(&payment_intent)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            payment.amount,
            payment.currency.as_str(),
            payment.checkout_session_id.as_deref()
        ),
        (5000, "eur", Some(session))
    );
    let hold = app
        .store
        .hold(held["hold_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (hold.status.as_str(), hold.payment_intent_id.as_deref()),
        ("converted", Some(payment_intent.as_str()))
    );
    let trail = app
        .store
        .audit_log(Some(("order", status["order_id"].as_str().unwrap())), 10)
        .await
        .unwrap();
    assert_eq!(
        trail[0].message,
        format!("Order #{number} created after Stripe payment {payment_intent} (50.00 EUR)")
    );
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM webhook_events WHERE status NOT IN ('processed', 'ignored')"
        )
        .await,
        0
    );
    assert_eq!(
        count(&app.store, "webhook_events").await,
        app.sandbox.events().len() as i64
    );
    app.stop().await;
}

#[tokio::test]
async fn a_decline_releases_and_a_retry_on_the_same_page_takes_the_stock_again() {
    let app = TestApp::spawn().await;
    let (held, cookie) = hold(&app, &[("mug-enamel", 3)]).await;
    let session = held["checkout_session_id"].as_str().unwrap();
    let card = |n: &str| caisse_sandbox::Method::Card(n.into());
    app.sandbox.pay(session, card("4000000000000002")).unwrap();
    let failed = app.wait_status(session, &cookie, "failed").await;
    assert_eq!(failed["release_reason"], "payment_failed");
    assert_eq!(app.product_stock("mug-enamel").await, (20, 0));
    let alerts = app.store.alerts(true, 10).await.unwrap();
    assert_eq!(
        alerts.iter().map(|a| a.kind.as_str()).collect::<Vec<_>>(),
        ["payment_failed"]
    );

    app.sandbox.pay(session, card("4242424242424242")).unwrap();
    let paid = app.wait_status(session, &cookie, "paid").await;
    assert_eq!(
        paid["release_reason"],
        Value::Null,
        "the paid order is the state now"
    );
    assert_eq!(app.product_stock("mug-enamel").await, (17, 0));
    let order = app
        .store
        .order_for_hold(held["hold_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (order.status.as_str(), order.number),
        ("paid", paid["order_number"].as_i64().unwrap())
    );
    app.stop().await;
}

#[tokio::test]
async fn a_payment_after_the_stock_was_sold_needs_attention_and_is_refunded() {
    let app = TestApp::spawn_setting(config::REFUND_UNFULFILLABLE, "true").await;
    let card = |n: &str| caisse_sandbox::Method::Card(n.into());
    // The last poster: declined, released, bought by someone else, then paid by the first.
    let (first, first_cookie) = hold(&app, &[("poster-a2", 1)]).await;
    let first_session = first["checkout_session_id"].as_str().unwrap();
    app.sandbox
        .pay(first_session, card("4000000000009995"))
        .unwrap();
    app.wait_status(first_session, &first_cookie, "failed")
        .await;
    let (second, second_cookie) = hold(&app, &[("poster-a2", 1)]).await;
    let second_session = second["checkout_session_id"].as_str().unwrap();
    app.sandbox
        .pay(second_session, card("4242424242424242"))
        .unwrap();
    app.wait_status(second_session, &second_cookie, "paid")
        .await;

    app.sandbox
        .pay(first_session, card("4242424242424242"))
        .unwrap();
    // The order needs attention; the refund is asked for right after its commit, and the
    // charge.refunded that follows closes it.
    app.wait_status(first_session, &first_cookie, "refunded")
        .await;
    assert_eq!(
        app.product_stock("poster-a2").await,
        (0, 0),
        "never negative, never twice"
    );
    let alert = app
        .store
        .alerts(true, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.kind.as_str() == "paid_without_stock")
        .expect("an alert");
    assert_eq!(alert.severity, "critical");
    let order = app
        .store
        .order_for_hold(first["hold_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        order.attention_reason.as_deref(),
        Some("paid_without_stock")
    );
    let trail = app
        .store
        .audit_log(Some(("order", &order.id)), 10)
        .await
        .unwrap();
    assert!(
        trail.iter().any(|e| e.action == "refund.requested"),
        "{trail:?}"
    );
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'order_confirmation'"
        )
        .await,
        1,
        "only the order that ships is confirmed"
    );
    app.stop().await;
}

#[tokio::test]
async fn sepa_debits_wait_for_settlement_then_fulfil_or_release() {
    let app = TestApp::spawn().await;
    let (ok, ok_cookie) = hold(&app, &[("tote-bag", 2)]).await;
    let (ko, ko_cookie) = hold(&app, &[("tote-bag", 1)]).await;
    let iban = |i: &str| caisse_sandbox::Method::Iban(i.into());
    let ok_session = ok["checkout_session_id"].as_str().unwrap();
    let ko_session = ko["checkout_session_id"].as_str().unwrap();
    app.sandbox
        .pay(ok_session, iban(caisse_sandbox::IBAN_SUCCEEDS))
        .unwrap();
    app.sandbox
        .pay(ko_session, iban(caisse_sandbox::IBAN_FAILS))
        .unwrap();
    // Complete but unpaid: the hold waits, its PaymentIntent linked.
    let hold_id = ok["hold_id"].as_str().unwrap();
    crate::support::wait_for(20, "the session linked to its PaymentIntent", || async {
        let h = app.store.hold(hold_id).await.unwrap().unwrap();
        h.payment_intent_id.map(|_| ())
    })
    .await;
    assert_eq!(
        app.checkout_status(ok_session, &ok_cookie).await["status"],
        "pending"
    );
    assert_eq!(app.product_stock("tote-bag").await, (30, 3));
    app.sandbox.advance_clock(10);
    app.wait_status(ok_session, &ok_cookie, "paid").await;
    app.wait_status(ko_session, &ko_cookie, "failed").await;
    assert_eq!(app.product_stock("tote-bag").await, (28, 0));
    let kinds: Vec<String> = app
        .store
        .alerts(true, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.kind.to_string())
        .collect();
    assert_eq!(
        kinds,
        ["payment_failed"],
        "one alert for the two failure events"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_expired_session_gives_its_stock_back_and_a_late_release_keeps_the_order() {
    let app = TestApp::spawn().await;
    // A paid order, then an expiry for it that comes late: nothing changes, the trail says so.
    let (paid, paid_cookie) = hold(&app, &[("sticker-pack", 4)]).await;
    let paid_session = paid["checkout_session_id"].as_str().unwrap();
    app.sandbox
        .pay(
            paid_session,
            caisse_sandbox::Method::Card("4242424242424242".into()),
        )
        .unwrap();
    app.wait_status(paid_session, &paid_cookie, "paid").await;
    let late = event(
        "checkout.session.expired",
        json!({"id": paid_session, "object": "checkout.session", "status": "expired",
               "metadata": {"hold_id": paid["hold_id"]}, "livemode": false}),
    );
    let (status, answer) = app.deliver(&late).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("processed")),
        "{answer}"
    );
    assert_eq!(app.product_stock("sticker-pack").await, (196, 0));
    assert_eq!(
        app.checkout_status(paid_session, &paid_cookie).await["status"],
        "paid"
    );
    let trail = app
        .store
        .audit_log(Some(("hold", paid["hold_id"].as_str().unwrap())), 10)
        .await
        .unwrap();
    assert_eq!(trail[0].action, "hold.release_ignored");
    assert!(
        trail[0].message.contains("nothing changed"),
        "{}",
        trail[0].message
    );

    // A checkout left on Stripe's page until its session expires (the sandbox's clock moves;
    // caisse's does not, so this comes last).
    let (held, cookie) = hold(&app, &[("sticker-pack", 5)]).await;
    let session = held["checkout_session_id"].as_str().unwrap();
    app.sandbox
        .advance_clock(held["expires_at"].as_i64().unwrap() - app.sandbox.now() + 1);
    let expired = app.wait_status(session, &cookie, "expired").await;
    assert_eq!(expired["release_reason"], "expired");
    assert_eq!(app.product_stock("sticker-pack").await, (196, 0));
    app.stop().await;
}

#[tokio::test]
async fn foreign_unknown_and_other_mode_events_are_ignored_with_their_reason() {
    let app = TestApp::spawn().await;
    let (held, _) = hold(&app, &[("mug-enamel", 1)]).await;
    let foreign = event(
        "checkout.session.completed",
        json!({"id": "cs_test_not_ours", "object": "checkout.session", "payment_status": "paid",
               "status": "complete", "amount_total": 1200, "currency": "eur", "metadata": {}}),
    );
    let unknown_type = event("invoice.paid", json!({"id": "in_1", "object": "invoice"}));
    let mut live = intent_succeeded(&held, "pi_live", 1200, "eur");
    live["livemode"] = json!(true);
    for (e, reason) in [
        (&foreign, "no hold"),
        (&unknown_type, "does not act on invoice.paid"),
        (&live, "livemode"),
    ] {
        let (status, answer) = app.deliver(e).await;
        assert_eq!(
            (status, answer["status"].as_str()),
            (200, Some("ignored")),
            "{answer}"
        );
        assert!(
            answer["reason"].as_str().unwrap().contains(reason),
            "{answer}"
        );
        let row = app
            .store
            .webhook_event(e["id"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            row.status,
            caisse_shop::domain::status::EventStatus::Ignored
        );
        assert!(row.reason.unwrap().contains(reason));
    }
    assert_eq!(count(&app.store, "orders").await, 0);
    assert_eq!(app.product_stock("mug-enamel").await, (20, 1));
    let kinds: Vec<String> = app
        .store
        .alerts(true, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.kind.to_string())
        .collect();
    assert_eq!(kinds, ["livemode_mismatch"]);
    // Twice is a duplicate, whatever the first outcome was.
    let (status, answer) = app.deliver(&unknown_type).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );
    app.stop().await;
}

#[tokio::test]
async fn an_amount_that_differs_from_the_hold_needs_attention_and_keeps_the_stock() {
    let app = TestApp::spawn().await;
    let (held, cookie) = hold(&app, &[("tee-classic", 1)]).await;
    app.sandbox.set_forward_to(None);
    for (pi, amount, currency) in [("pi_short", 2400, "eur")] {
        let (status, answer) = app
            .deliver(&intent_succeeded(&held, pi, amount, currency))
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    let session = held["checkout_session_id"].as_str().unwrap();
    assert_eq!(
        app.checkout_status(session, &cookie).await["status"],
        "needs_attention"
    );
    assert_eq!(app.product_stock("tee-classic").await, (49, 0));
    let alert = &app.store.alerts(true, 10).await.unwrap()[0];
    assert_eq!(
        (alert.kind.as_str(), alert.severity.as_str()),
        ("amount_mismatch", "critical")
    );
    assert!(
        alert.message.contains("24.00 EUR") && alert.message.contains("25.00 EUR"),
        "{}",
        alert.message
    );
    assert_eq!(count(&app.store, "outbox").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn one_event_delivered_eight_times_at_once_has_one_effect() {
    let app = TestApp::spawn().await;
    app.sandbox.set_forward_to(None);
    let (held, _) = hold(&app, &[("mug-enamel", 2)]).await;
    let paid = intent_succeeded(&held, "pi_concurrent", 2400, "eur");
    let answers = at_once(8, || app.deliver(&paid)).await;
    let mut statuses: Vec<&str> = answers
        .iter()
        .map(|(s, a)| {
            assert_eq!(*s, 200, "{a}");
            a["status"].as_str().unwrap()
        })
        .collect();
    statuses.sort();
    assert_eq!(statuses, [vec!["duplicate"; 7], vec!["processed"]].concat());
    assert_eq!(count(&app.store, "orders").await, 1);
    assert_eq!(count(&app.store, "outbox").await, 1);
    assert_eq!(app.product_stock("mug-enamel").await, (18, 0));
    app.stop().await;
}

/// Runs `n` copies of a request at once: each waits at a barrier until all have started.
async fn at_once<F, Fut, T>(n: usize, make: F) -> Vec<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let barrier = tokio::sync::Barrier::new(n);
    join_all((0..n).map(|_| async {
        barrier.wait().await;
        make().await
    }))
    .await
}

#[tokio::test]
async fn two_instances_receiving_the_same_events_at_once_make_one_order_each() {
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_on(first._db.clone(), LOOSE).await;
    first.sandbox.set_forward_to(None);
    second.sandbox.set_forward_to(None);
    let mut events = Vec::new();
    for i in 0..6 {
        let (held, _) = hold(&first, &[("sticker-pack", 1 + i % 3)]).await;
        let amount = held["amount_total"].as_i64().unwrap();
        let session = held["checkout_session_id"].as_str().unwrap();
        events.push(intent_succeeded(
            &held,
            &format!("pi_two_{i}"),
            amount,
            "eur",
        ));
        events.push(event(
            "checkout.session.completed",
            json!({"id": session, "object": "checkout.session", "status": "complete",
                   "payment_status": "paid", "amount_total": amount, "currency": "eur",
                   "payment_intent": format!("pi_two_{i}"), "metadata": {"hold_id": held["hold_id"]},
                   "customer_details": {"email": "ada@example.com"}}),
        ));
    }
    // Each event twice to each instance, all at once.
    let deliveries: Vec<_> = events
        .iter()
        .flat_map(|e| [(&first, e), (&second, e), (&first, e), (&second, e)])
        .collect();
    let barrier = tokio::sync::Barrier::new(deliveries.len());
    let results = join_all(deliveries.iter().map(|(app, e)| {
        let barrier = &barrier;
        async move {
            barrier.wait().await;
            app.deliver(e).await
        }
    }))
    .await;
    assert!(results.iter().all(|(s, _)| *s == 200), "{results:?}");
    let processed = results
        .iter()
        .filter(|(_, a)| a["status"] == "processed")
        .count();
    assert_eq!(processed, events.len(), "each event applied once");
    assert_eq!(count(&first.store, "orders").await, 6);
    assert_eq!(count(&first.store, "payments").await, 6);
    assert_eq!(count(&first.store, "outbox").await, 6);
    assert_eq!(first.product_stock("sticker-pack").await, (200 - 12, 0));
    assert_eq!(
        scalar(
            &first.store,
            "SELECT COUNT(*) FROM orders WHERE email = 'ada@example.com'"
        )
        .await,
        6,
        "the session's address, whichever event came first"
    );
    second.stop().await;
    first.stop().await;
}

#[tokio::test]
async fn a_failed_attempt_rolls_back_is_recorded_and_the_redelivery_finishes_the_job() {
    let app = TestApp::spawn().await;
    app.sandbox.set_forward_to(None);
    let (held, _) = hold(&app, &[("mug-enamel", 1)]).await;
    let paid = intent_succeeded(&held, "pi_retry", 1200, "eur");
    let sqlite = matches!(app.store, caisse_shop::Store::Sqlite(..));
    if sqlite {
        raw(&app.store, "CREATE TRIGGER fail_orders BEFORE INSERT ON orders BEGIN SELECT RAISE(ABORT, 'injected failure'); END").await.unwrap();
    } else {
        raw(&app.store, "CREATE FUNCTION fail_orders() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql").await.unwrap();
        raw(&app.store, "CREATE TRIGGER fail_orders BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION fail_orders()").await.unwrap();
    }
    let (status, _) = app.deliver(&paid).await;
    assert!(
        status >= 500,
        "a failure is a 5xx so that Stripe retries: {status}"
    );
    let row = app
        .store
        .webhook_event(paid["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.status.as_str(), row.attempts), ("failed", 1));
    assert!(row.last_error.unwrap().contains("injected failure"));
    assert_eq!(count(&app.store, "orders").await, 0);
    assert_eq!(
        app.product_stock("mug-enamel").await,
        (20, 1),
        "rolled back"
    );

    raw(
        &app.store,
        if sqlite {
            "DROP TRIGGER fail_orders"
        } else {
            "DROP TRIGGER fail_orders ON orders"
        },
    )
    .await
    .unwrap();
    let (status, answer) = app.deliver(&paid).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("processed")),
        "{answer}"
    );
    let row = app
        .store
        .webhook_event(paid["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.status.as_str(), row.attempts, row.last_error),
        ("processed", 2, None)
    );
    assert_eq!(app.product_stock("mug-enamel").await, (19, 0));
    app.stop().await;
}

#[tokio::test]
async fn refunds_are_recorded_partially_then_fully_in_any_order() {
    let app = TestApp::spawn().await;
    let (held, cookie) = hold(&app, &[("tee-classic", 2)]).await;
    let session = held["checkout_session_id"].as_str().unwrap();
    app.sandbox
        .pay(
            session,
            caisse_sandbox::Method::Card("4242424242424242".into()),
        )
        .unwrap();
    app.wait_status(session, &cookie, "paid").await;
    let order = app
        .store
        .order_for_hold(held["hold_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let pi = app
        .store
        .hold(held["hold_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap()
        .payment_intent_id
        .unwrap();
    let refunded = |amount: i64| {
        event(
            "charge.refunded",
            json!({"id": "ch_1", "object": "charge", "amount": 5000, "amount_refunded": amount,
                   "currency": "eur", "payment_intent": pi, "refunded": amount == 5000}),
        )
    };
    app.deliver(&refunded(1000)).await;
    let payment = app.store.payment_by_intent(&pi).await.unwrap().unwrap();
    assert_eq!(
        (payment.amount_refunded, payment.status.as_str()),
        (1000, "succeeded")
    );
    assert_eq!(
        app.checkout_status(session, &cookie).await["status"],
        "paid"
    );
    // The full refund, then a late copy of an older partial one.
    app.deliver(&refunded(5000)).await;
    app.deliver(&refunded(3000)).await;
    let payment = app.store.payment_by_intent(&pi).await.unwrap().unwrap();
    assert_eq!(
        (payment.amount_refunded, payment.status.as_str()),
        (5000, "refunded")
    );
    assert_eq!(
        app.checkout_status(session, &cookie).await["status"],
        "refunded"
    );
    let trail = app
        .store
        .audit_log(Some(("order", &order.id)), 10)
        .await
        .unwrap();
    assert!(
        trail[0].message.starts_with(&format!(
            "Order #{} fully refunded: 50.00 EUR of 50.00 EUR",
            order.number
        )),
        "{}",
        trail[0].message
    );
    assert_eq!(
        app.product_stock("tee-classic").await,
        (48, 0),
        "a refund does not restock"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_policy_can_keep_a_hold_after_a_failed_payment() {
    let app = TestApp::spawn_setting(config::RELEASE_ON_PAYMENT_FAILURE, "false").await;
    let (held, cookie) = hold(&app, &[("mug-enamel", 2)]).await;
    let session = held["checkout_session_id"].as_str().unwrap();
    app.sandbox
        .pay(
            session,
            caisse_sandbox::Method::Card("4000000000000002".into()),
        )
        .unwrap();
    crate::support::wait_for(20, "the failure alert", || async {
        (count(&app.store, "alerts").await == 1).then_some(())
    })
    .await;
    assert_eq!(
        app.checkout_status(session, &cookie).await["status"],
        "pending"
    );
    assert_eq!(app.product_stock("mug-enamel").await, (20, 2));
    app.stop().await;
}

#[tokio::test]
async fn a_signed_object_stripe_never_sends_is_refused_with_an_alert() {
    let app = TestApp::spawn().await;
    app.sandbox.set_forward_to(None);
    let (held, _) = hold(&app, &[("mug-enamel", 1)]).await;
    let before = count(&app.store, "orders").await;
    let empty_id = intent_succeeded(&held, "", 1200, "eur");
    let negative = intent_succeeded(&held, "pi_negative", -1200, "eur");
    let mut no_amount = intent_succeeded(&held, "pi_no_amount", 1200, "eur");
    no_amount["data"]["object"]
        .as_object_mut()
        .unwrap()
        .remove("amount");
    // A currency the tables would refuse (length 3) was a 500 Stripe retried for days.
    let euro = intent_succeeded(&held, "pi_euro", 1200, "euro");
    let session = held["checkout_session_id"].as_str().unwrap();
    let euro_session = event(
        "checkout.session.completed",
        json!({
            "id": session, "object": "checkout.session", "status": "complete",
            "payment_status": "paid", "payment_intent": "pi_euro_session", "amount_total": 1200,
            "currency": "EUR", "livemode": false,
            "metadata": {"hold_id": held["hold_id"]},
        }),
    );
    for e in [&empty_id, &negative, &no_amount, &euro, &euro_session] {
        let (status, answer) = app.deliver(e).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some("invalid_payload")),
            "{answer}"
        );
        assert!(app
            .store
            .webhook_event(e["id"].as_str().unwrap())
            .await
            .unwrap()
            .is_none());
    }
    assert_eq!(count(&app.store, "orders").await, before);
    assert_eq!(app.product_stock("mug-enamel").await, (20, 1));
    let kinds: Vec<String> = app
        .store
        .alerts(true, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.kind.to_string())
        .collect();
    assert_eq!(kinds, ["event_unparseable"; 5]);
    app.stop().await;
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_at_once() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    for path in ["/api/webhooks/stripe", "/api/checkout"] {
        let mut stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
            .await
            .unwrap();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n{{}}"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = vec![0u8; 1024];
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
            .await
            .expect("an answer without waiting for the body")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer[..n]);
        assert!(answer.starts_with("HTTP/1.1 413"), "{path}: {answer}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_refund_that_overtakes_its_payment_is_retried_not_lost() {
    let app = TestApp::spawn().await;
    app.sandbox.set_forward_to(None);
    let (held, cookie) = hold(&app, &[("tee-classic", 1)]).await;
    let refund = event(
        "charge.refunded",
        json!({"id": "ch_early", "object": "charge", "amount": 2500, "amount_refunded": 2500,
               "currency": "eur", "payment_intent": "pi_early", "refunded": true,
               "metadata": {"hold_id": held["hold_id"]}}),
    );
    let body = refund.to_string();
    let early = app
        .http
        .post(app.url("/api/webhooks/stripe"))
        .header("content-type", "application/json")
        .header(
            "stripe-signature",
            caisse_stripe::signature_header(
                &[WEBHOOK_SECRET],
                caisse_shop::store::unix_now(),
                body.as_bytes(),
            ),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(early.status(), 503, "Stripe must bring it back later");
    assert_eq!(early.headers()["retry-after"], "2");
    let answer: serde_json::Value = early.json().await.unwrap();
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not recorded yet"),
        "told as an event that came early, not as a database outage: {answer}"
    );
    let (status, _) = app
        .deliver(&intent_succeeded(&held, "pi_early", 2500, "eur"))
        .await;
    assert_eq!(status, 200);
    let (status, answer) = app.deliver(&refund).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("processed")),
        "{answer}"
    );
    let session = held["checkout_session_id"].as_str().unwrap();
    assert_eq!(
        app.checkout_status(session, &cookie).await["status"],
        "refunded"
    );
    // A refund of a payment caisse never saw is somebody else's.
    let foreign = event(
        "charge.refunded",
        json!({"id": "ch_x", "object": "charge", "amount": 100, "amount_refunded": 100,
               "currency": "eur", "payment_intent": "pi_someone_else", "refunded": true}),
    );
    let (status, answer) = app.deliver(&foreign).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("ignored")));
    app.stop().await;
}

#[tokio::test]
async fn a_payment_intent_cannot_pay_two_holds() {
    let app = TestApp::spawn().await;
    app.sandbox.set_forward_to(None);
    let (first, _) = hold(&app, &[("mug-enamel", 1)]).await;
    let (second, _) = hold(&app, &[("mug-enamel", 1)]).await;
    assert_eq!(
        app.deliver(&intent_succeeded(&first, "pi_once", 1200, "eur"))
            .await
            .0,
        200
    );
    let (status, answer) = app
        .deliver(&intent_succeeded(&second, "pi_once", 1200, "eur"))
        .await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("ignored")),
        "{answer}"
    );
    assert_eq!(count(&app.store, "orders").await, 1);
    assert_eq!(
        app.product_stock("mug-enamel").await,
        (19, 1),
        "the second hold still holds"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_address_from_stripe_that_cannot_be_mailed_falls_back_to_the_checkout_one() {
    let app = TestApp::spawn().await;
    app.sandbox.set_forward_to(None);
    let (status, held, _) = app
        .checkout(
            json!({"items": [{"product_id": "mug-enamel", "quantity": 1}], "email": "ok@example.com"}),
            &[],
        )
        .await;
    assert_eq!(status, 201);
    let completed = event(
        "checkout.session.completed",
        json!({"id": held["checkout_session_id"], "object": "checkout.session", "status": "complete",
               "payment_status": "paid", "amount_total": 1200, "currency": "eur",
               "payment_intent": "pi_bad_email", "metadata": {"hold_id": held["hold_id"]},
               "customer_details": {"email": "x@example.com\r\nBcc: eve@example.com"}}),
    );
    assert_eq!(app.deliver(&completed).await.0, 200);
    let order = app
        .store
        .order_for_hold(held["hold_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.email.as_deref(), Some("ok@example.com"));
    app.stop().await;
}
