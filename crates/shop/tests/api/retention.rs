//! Retention and backups: what grows with every payment is pruned past `CAISSE_RETENTION_DAYS`
//! (payloads, traces, sent messages), never orders, payments or the audit log; `caisse backup`'s
//! copy of a SQLite database taken while webhooks are applied is whole and consistent.

use serde_json::json;

use crate::support::{
    cart, count, event, intent_metadata, raw, scalar, wait_for, TestApp, TestDb, LOOSE,
};
use caisse_shop::retention;
use caisse_shop::store::{unix_now, Pruned};

const DAY: i64 = 86_400;

/// An order made through a real checkout and a signed `payment_intent.succeeded`.
async fn order(app: &TestApp, pi: &str) -> serde_json::Value {
    let (status, held, _) = app.checkout(cart(&[("mug-enamel", 1)]), &[]).await;
    assert_eq!(status, 201, "{held}");
    let paid = event(
        "payment_intent.succeeded",
        json!({"id": pi, "object": "payment_intent", "amount": 1200, "amount_received": 1200,
               "currency": "eur", "status": "succeeded", "metadata": intent_metadata(&held)}),
    );
    let (status, answer) = app.deliver(&paid).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("processed")),
        "{answer}"
    );
    paid
}

/// Rows that must never go, whatever their age.
async fn kept(app: &TestApp) -> Vec<i64> {
    let mut rows = Vec::new();
    for table in [
        "orders",
        "order_items",
        "payments",
        "holds",
        "audit_log",
        "alerts",
        "webhook_events",
    ] {
        rows.push(count(&app.store, table).await);
    }
    rows
}

/// Makes everything `days` older, and every message sent.
async fn age(app: &TestApp, days: i64) {
    let old = days * DAY;
    for sql in [
        format!("UPDATE webhook_events SET received_at = received_at - {old}"),
        format!("UPDATE stripe_requests SET at = at - {old}"),
        format!("UPDATE outbox SET status = 'sent', sent_at = created_at, created_at = created_at - {old}"),
        format!("UPDATE orders SET created_at = created_at - {old}"),
    ] {
        raw(&app.store, &sql).await.unwrap();
    }
}

async fn payload_bytes(app: &TestApp) -> i64 {
    scalar(
        &app.store,
        "SELECT CAST(COALESCE(SUM(length(payload)), 0) AS BIGINT) FROM webhook_events",
    )
    .await
}

#[tokio::test]
async fn what_is_older_than_the_retention_is_pruned_and_a_dry_run_changes_nothing() {
    let app = TestApp::spawn().await;
    app.sandbox.set_forward_to(None);
    let first = order(&app, "pi_old_one").await;
    order(&app, "pi_old_two").await;
    app.app.stripe_log.flush().await;
    // A hundred days go by (the audit log cannot be aged: it is append-only; it must stay anyway).
    age(&app, 100).await;
    // And one recent of each, which stays.
    order(&app, "pi_recent").await;
    app.app.stripe_log.flush().await;
    let (events, requests, messages) = (
        count(&app.store, "webhook_events").await,
        count(&app.store, "stripe_requests").await,
        count(&app.store, "outbox").await,
    );
    assert_eq!((events, messages), (3, 3));
    let old_requests = scalar(
        &app.store,
        &format!(
            "SELECT COUNT(*) FROM stripe_requests WHERE at < {}",
            unix_now() - 90 * DAY
        ),
    )
    .await;
    assert!(old_requests >= 2, "{old_requests}");
    let before = (
        kept(&app).await,
        payload_bytes(&app).await,
        requests,
        messages,
    );

    let expected = Pruned {
        webhook_payloads: 2,
        stripe_requests: old_requests as u64,
        outbox_messages: 2,
    };
    let dry = retention::prune(&app.store, 90, unix_now(), true)
        .await
        .unwrap();
    assert_eq!(dry, expected);
    let after_dry = (
        kept(&app).await,
        payload_bytes(&app).await,
        count(&app.store, "stripe_requests").await,
        count(&app.store, "outbox").await,
    );
    assert_eq!(after_dry, before, "a dry run changes nothing");

    let done = retention::prune(&app.store, 90, unix_now(), false)
        .await
        .unwrap();
    assert_eq!(done, expected);
    assert_eq!(
        kept(&app).await,
        before.0,
        "orders, payments, holds, audit log, events' rows stay"
    );
    assert_eq!(
        count(&app.store, "stripe_requests").await,
        requests - old_requests
    );
    assert_eq!(count(&app.store, "outbox").await, 1);
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM webhook_events WHERE payload = ''"
        )
        .await,
        2
    );
    // The pruned events are still duplicates: a redelivery changes nothing.
    let (status, answer) = app.deliver(&first).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate")),
        "{answer}"
    );
    assert_eq!(
        retention::prune(&app.store, 90, unix_now(), false)
            .await
            .unwrap(),
        Pruned::default(),
        "a second pass finds nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn every_server_prunes_when_it_starts_and_keeps_what_is_recent() {
    let db = TestDb::new().await;
    let first = TestApp::spawn_on(db.clone(), LOOSE).await;
    first.sandbox.set_forward_to(None);
    order(&first, "pi_before_restart").await;
    first.app.stripe_log.flush().await;
    age(&first, 40).await;
    first.stop().await;
    // 40 days old: kept with the default 90, pruned with 30.
    let kept_default = TestApp::spawn_on(db.clone(), LOOSE).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(count(&kept_default.store, "outbox").await, 1);
    kept_default.stop().await;
    let thirty = [LOOSE, &[(caisse_shop::config::RETENTION_DAYS, "30")]].concat();
    let second = TestApp::spawn_on(db, &thirty).await;
    wait_for(10, "the retention worker's first pass", || async {
        let emptied = scalar(
            &second.store,
            "SELECT COUNT(*) FROM webhook_events WHERE payload = ''",
        )
        .await;
        let left =
            count(&second.store, "outbox").await + count(&second.store, "stripe_requests").await;
        (emptied == 1 && left == 0).then_some(())
    })
    .await;
    assert_eq!(count(&second.store, "orders").await, 1);
    second.stop().await;
}
