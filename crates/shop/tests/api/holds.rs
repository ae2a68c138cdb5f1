//! Holds under contention and over time: never more held than on hand, and the sweeper gives
//! expired holds back only after Stripe has expired their sessions.

use std::collections::HashMap;

use caisse_sandbox::Method;

use crate::support::{cart, raw, scalar, TestApp, TestDb, LOOSE};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_checkouts_for_ten_items() {
    let app = TestApp::spawn().await;
    // The sweeper alone releases here: the sandbox's checkout.session.expired would race it.
    app.sandbox.set_forward_to(None);
    raw(
        &app.store,
        "UPDATE products SET stock_on_hand = 10 WHERE id = 'tee-classic'",
    )
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let (http, url) = (app.http.clone(), app.url("/api/checkout"));
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .json(&cart(&[("tee-classic", 1)]))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap();
            (status, body)
        }));
    }
    let mut outcomes: HashMap<(u16, String), usize> = HashMap::new();
    let mut sessions = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        if status == 201 {
            sessions.push(body["checkout_session_id"].as_str().unwrap().to_string());
        }
        let code = body["error"]["code"]
            .as_str()
            .unwrap_or("created")
            .to_string();
        *outcomes.entry((status, code)).or_default() += 1;
    }
    assert_eq!(
        outcomes.get(&(201, "created".into())),
        Some(&10),
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.get(&(409, "insufficient_stock".into())),
        Some(&190),
        "{outcomes:?}"
    );
    assert_eq!(app.reserved("tee-classic").await, 10);
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM holds WHERE status = 'active'"
        )
        .await,
        10
    );

    // Nothing happens before the holds expire…
    let now = caisse_shop::store::unix_now();
    let early = reconcile_at(&app, now).await;
    assert_eq!(early, caisse_shop::holds::reconciler::Report::default());
    // …then the sweeper expires each session at Stripe and gives the stock back.
    let later = now + 1860 + 1;
    let report = reconcile_at(&app, later).await;
    assert_eq!(report.released, 10);
    assert_eq!(app.reserved("tee-classic").await, 0);
    for id in &sessions {
        assert_eq!(
            app.sandbox.session(id).unwrap()["status"],
            "expired",
            "{id}"
        );
    }
    let released = app
        .store
        .audit_log(None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "hold.released" && e.actor == "system:reconciler")
        .count();
    assert_eq!(released, 10);
    // A second pass, or a second instance, finds nothing left to do.
    assert_eq!(
        reconcile_at(&app, later).await,
        caisse_shop::holds::reconciler::Report::default()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_session_paid_whose_webhooks_never_came_is_fulfilled_by_the_reconciler() {
    let app = TestApp::spawn().await;
    // The payment's webhooks never arrive.
    app.sandbox.set_forward_to(None);
    let (_, paid, _) = app.checkout(cart(&[("mug-enamel", 1)]), &[]).await;
    let (_, unpaid, _) = app.checkout(cart(&[("mug-enamel", 2)]), &[]).await;
    app.sandbox
        .pay(
            paid["checkout_session_id"].as_str().unwrap(),
            Method::Card("4242424242424242".into()),
        )
        .unwrap();
    let report = reconcile_at(&app, caisse_shop::store::unix_now() + 4000).await;
    assert_eq!((report.released, report.fulfilled), (1, 1), "{report:?}");
    let status = |id: &str| {
        let id = id.to_string();
        let store = app.store.clone();
        async move { store.hold(&id).await.unwrap().unwrap().status }
    };
    assert_eq!(
        status(paid["hold_id"].as_str().unwrap()).await,
        caisse_shop::domain::status::HoldStatus::Converted
    );
    assert_eq!(
        status(unpaid["hold_id"].as_str().unwrap()).await,
        caisse_shop::domain::status::HoldStatus::Released
    );
    let order = app
        .store
        .order_for_hold(paid["hold_id"].as_str().unwrap())
        .await
        .unwrap()
        .expect("the order");
    assert_eq!(order.status, caisse_shop::domain::status::OrderStatus::Paid);
    let mug = app.store.product("mug-enamel").await.unwrap().unwrap();
    assert_eq!((mug.stock_on_hand, mug.stock_reserved), (19, 0));
    app.stop().await;
}

#[tokio::test]
async fn a_session_stripe_does_not_know_is_released_with_an_alert() {
    let app = TestApp::spawn().await;
    let (_, held, _) = app.checkout(cart(&[("tote-bag", 2)]), &[]).await;
    let hold_id = held["hold_id"].as_str().unwrap();
    // As after a restart of caisse dev: the sandbox forgot the session.
    raw(
        &app.store,
        &format!(
            "UPDATE holds SET checkout_session_id = 'cs_test_forgotten' WHERE id = '{hold_id}'"
        ),
    )
    .await
    .unwrap();
    let report = reconcile_at(&app, caisse_shop::store::unix_now() + 4000).await;
    assert_eq!(report.missing, 1, "{report:?}");
    assert_eq!(app.reserved("tote-bag").await, 0);
    let alerts = app.store.alerts(true, 10).await.unwrap();
    assert_eq!(
        (alerts[0].kind.as_str(), alerts[0].severity.as_str()),
        ("session_missing", "warning")
    );
    let trail = app
        .store
        .audit_log(Some(("hold", hold_id)), 5)
        .await
        .unwrap();
    assert_eq!(trail[0].actor, "system:reconciler");
    app.stop().await;
}

#[tokio::test]
async fn a_delayed_payment_waits_then_is_fulfilled_and_no_batch_starves_the_others() {
    let app = TestApp::spawn().await;
    app.sandbox.set_forward_to(None);
    raw(
        &app.store,
        "UPDATE products SET stock_on_hand = 1000 WHERE id = 'sticker-pack'",
    )
    .await
    .unwrap();
    // More complete-but-unpaid (SEPA) holds than one pass takes.
    let mut sessions = Vec::new();
    for _ in 0..230 {
        let (status, body, _) = app.checkout(cart(&[("sticker-pack", 1)]), &[]).await;
        assert_eq!(status, 201, "{body}");
        let session = body["checkout_session_id"].as_str().unwrap().to_string();
        app.sandbox
            .pay(&session, Method::Iban(caisse_sandbox::IBAN_SUCCEEDS.into()))
            .unwrap();
        sessions.push(session);
    }
    let later = caisse_shop::store::unix_now() + 4000;
    let first = reconcile_at(&app, later).await;
    let second = reconcile_at(&app, later).await;
    // The sandbox settles debits on its own clock too: a hold looked at is either still
    // awaiting its payment or already an order.
    let looked = |r: &caisse_shop::holds::reconciler::Report| r.awaiting + r.fulfilled;
    assert_eq!(
        (looked(&first), looked(&second)),
        (200, 30),
        "{first:?} {second:?}"
    );
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM holds WHERE checks = 1").await,
        230,
        "every hold looked at once, none twice"
    );
    // `caisse reconcile` after an outage looks at every open one now, schedule or not.
    let open = scalar(
        &app.store,
        "SELECT COUNT(*) FROM holds WHERE status = 'awaiting_payment'",
    )
    .await as usize;
    let everything = caisse_shop::holds::reconciler::reconcile(
        &app.app,
        later,
        caisse_shop::holds::reconciler::Pass::Everything,
    )
    .await
    .unwrap();
    assert_eq!(looked(&everything), open.min(200), "{everything:?}");
    // The debits settle; the next checks make the orders.
    app.sandbox.advance_clock(10);
    for _ in 0..2 {
        reconcile_at(&app, later + 121).await;
    }
    assert_eq!(app.reserved("sticker-pack").await, 0);
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM orders").await, 230);
    app.stop().await;
}

#[tokio::test]
async fn two_sweepers_at_once_release_each_hold_once() {
    let app = TestApp::spawn().await;
    // The sweepers alone: the sandbox's checkout.session.expired would race them.
    app.sandbox.set_forward_to(None);
    for _ in 0..5 {
        assert_eq!(app.checkout(cart(&[("sticker-pack", 3)]), &[]).await.0, 201);
    }
    let later = caisse_shop::store::unix_now() + 4000;
    let (a, b) = tokio::join!(reconcile_at(&app, later), reconcile_at(&app, later));
    assert_eq!(a.released + b.released, 5, "{a:?} {b:?}");
    assert_eq!(app.reserved("sticker-pack").await, 0);
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'hold.released'"
        )
        .await,
        5
    );
    app.stop().await;
}

/// A process killed between committing a hold and hearing from Stripe leaves a hold with no
/// session: it expires like any other and its stock comes back.
#[tokio::test]
async fn a_hold_stranded_by_a_crash_is_swept_after_its_expiry() {
    let app = TestApp::spawn().await;
    let now = caisse_shop::store::unix_now();
    let items = [caisse_shop::store::HoldItem {
        product_id: "poster-a2".into(),
        quantity: 1,
        unit_amount: 4800,
    }];
    let hold = caisse_shop::store::NewHold {
        id: "hold_stranded",
        customer_id: "guest:crashed",
        client_ip: None,
        client_net: None,
        email: None,
        amount_total: 4800,
        currency: "eur",
        expires_at: now + 1830,
        idempotency_key: None,
        idempotency_scope: None,
        intent_tag: "0123456789abcdef0123456789abcdef",
        items: &items,
        shipping_offer: None,
    };
    app.store
        .write(async |tx| tx.create_hold(&hold, now).await)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(app.reserved("poster-a2").await, 1);
    assert_eq!(app.checkout(cart(&[("poster-a2", 1)]), &[]).await.0, 409);

    let report = reconcile_at(&app, now + 1831).await;
    assert_eq!(report.released, 1);
    assert_eq!(app.reserved("poster-a2").await, 0);
    assert_eq!(
        app.checkout(cart(&[("poster-a2", 1)]), &[]).await.0,
        201,
        "the poster is for sale again"
    );
    app.stop().await;
}

/// Two instances on one database, 60 checkouts each at once, for 7 items: 7 holds in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_never_hold_more_than_is_on_hand() {
    let db = TestDb::new().await;
    let a = TestApp::spawn_on(db.clone(), LOOSE).await;
    let b = TestApp::spawn_on(db, LOOSE).await;
    raw(
        &a.store,
        "UPDATE products SET stock_on_hand = 7 WHERE id = 'mug-enamel'",
    )
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for i in 0..120 {
        let url = if i % 2 == 0 {
            a.url("/api/checkout")
        } else {
            b.url("/api/checkout")
        };
        let http = a.http.clone();
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .json(&cart(&[("mug-enamel", 1)]))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            201 => created += 1,
            409 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(created, 7);
    assert_eq!(a.reserved("mug-enamel").await, 7);
    assert_eq!(b.reserved("mug-enamel").await, 7);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_pass_settles_holds_side_by_side_and_starts_none_after_its_deadline() {
    use caisse_shop::holds::reconciler::{reconcile, Pass, AT_ONCE};
    // A pass's deadline is the sweep interval: one second here.
    let app = TestApp::spawn_setting(caisse_shop::config::SWEEP_INTERVAL, "1").await;
    app.sandbox.set_forward_to(None);
    for _ in 0..AT_ONCE + 4 {
        let (status, body, _) = app.checkout(cart(&[("sticker-pack", 1)]), &[]).await;
        assert_eq!(status, 201, "{body}");
    }
    // Stripe takes 1.5 s to answer each call: one after the other, a pass would settle one hold
    // before its deadline; side by side, the first AT_ONCE all at once, and none started after.
    app.sandbox.set_latency(1500);
    let later = scalar(&app.store, "SELECT MAX(expires_at) FROM holds").await + 1;
    let report = reconcile(&app.app, later, Pass::Scheduled).await.unwrap();
    assert_eq!(
        (report.released, report.deferred),
        (AT_ONCE, 4),
        "{report:?}"
    );
    let open = "SELECT COUNT(*) FROM holds WHERE status = 'active'";
    assert_eq!(scalar(&app.store, open).await, 4, "left for the next pass");
    app.sandbox.set_latency(0);
    let next = reconcile(&app.app, later, Pass::Scheduled).await.unwrap();
    assert_eq!(next.released, 4, "{next:?}");
    assert_eq!(app.reserved("sticker-pack").await, 0);
    app.stop().await;
}

/// A hold whose checkout died between the hold and its session (a crash: the provisional hold
/// became durable with another request's commit, its session was never recorded) expires within
/// minutes, not at the end of a session's lifetime, and the reconciler frees its
/// Idempotency-Key with its stock: no URL was ever answered, so the client's retry is a new
/// checkout, not `checkout_in_progress` then `checkout_closed` for half an hour.
#[tokio::test]
async fn a_hold_its_checkout_died_with_is_released_and_its_key_freed() {
    let app = TestApp::spawn().await;
    let key = [("idempotency-key", "crash-retry-1")];
    let (status, first, _) = app.checkout(cart(&[("tote-bag", 2)]), &key).await;
    assert_eq!(status, 201, "{first}");
    let hold = first["hold_id"].as_str().unwrap().to_string();
    // What the crash leaves: the hold as it was before its session was recorded.
    let now = caisse_shop::store::unix_now();
    raw(
        &app.store,
        &format!(
            "UPDATE holds SET checkout_session_id = NULL, checkout_url = NULL, \
             expires_at = created_at + 144 WHERE id = '{hold}'"
        ),
    )
    .await
    .unwrap();
    let report = reconcile_at(&app, now + 145).await;
    assert_eq!(report.released, 1);
    assert_eq!(app.reserved("tote-bag").await, 0);
    let (status, again, _) = app.checkout(cart(&[("tote-bag", 2)]), &key).await;
    assert_eq!(status, 201, "{again}");
    assert_ne!(again["hold_id"], first["hold_id"], "a new checkout");
    app.stop().await;
}

/// One scheduled pass of the reconciler, as if run at `now`.
async fn reconcile_at(app: &TestApp, now: i64) -> caisse_shop::holds::reconciler::Report {
    caisse_shop::holds::reconciler::reconcile(
        &app.app,
        now,
        caisse_shop::holds::reconciler::Pass::Scheduled,
    )
    .await
    .unwrap()
}
