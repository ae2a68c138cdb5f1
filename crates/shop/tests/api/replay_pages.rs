//! `events replay` applies each page of Stripe's Events API as it reads it: what it holds is one
//! page, whatever the window, and what it applied before a failure stays applied.

use crate::support::{cart, count, scalar, wait_for, TestApp};
use caisse_shop::replay::replay_in_pages;

async fn replayed(app: &TestApp) -> i64 {
    scalar(
        &app.store,
        "SELECT COUNT(*) FROM webhook_events WHERE source = 'replay'",
    )
    .await
}

#[tokio::test]
async fn a_replay_applies_each_page_before_reading_the_next() {
    let app = TestApp::spawn().await;
    // The endpoint is down: Stripe's events pile up, as during an outage.
    app.sandbox.set_forward_to(None);
    let since = app.sandbox.now() - 60;
    for _ in 0..3 {
        let (status, held, _) = app.checkout(cart(&[("mug-enamel", 1)]), &[]).await;
        assert_eq!(status, 201, "{held}");
        let session = held["checkout_session_id"].as_str().unwrap();
        let card = caisse_sandbox::Method::Card("4242424242424242".into());
        app.sandbox.pay(session, card).unwrap();
    }
    let total = app.sandbox.events().len() as i64;
    assert!(total >= 12, "{total} events: at least six pages of two");

    // Each page of two takes 300 ms to come; once the first is applied, Stripe starts failing.
    app.sandbox.set_latency(300);
    let first = tokio::spawn({
        let app = app.app.clone();
        async move { replay_in_pages(&app, since, &[], 2).await }
    });
    wait_for(20, "the first page to be applied", || async {
        (replayed(&app).await > 0).then_some(())
    })
    .await;
    app.sandbox.fail_next(10, 400);
    let outcome = first.await.unwrap();
    assert!(outcome.is_err(), "a later page failed: {outcome:?}");
    let applied = replayed(&app).await;
    assert!(
        applied > 0 && applied < total,
        "the pages read before the failure are applied, the others not: {applied} of {total}"
    );

    // Run again once Stripe answers: the rest is applied, what was applied is a duplicate.
    app.sandbox.fail_next(0, 500);
    app.sandbox.set_latency(0);
    let report = replay_in_pages(&app.app, since, &[], 2).await.unwrap();
    assert_eq!(report.fetched as i64, total);
    assert_eq!(report.duplicate as i64, applied);
    assert_eq!(report.failed, 0);
    assert_eq!(count(&app.store, "orders").await, 3);
    app.stop().await;
}
