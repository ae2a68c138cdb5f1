//! `caisse backup`: a copy of the SQLite database taken while webhooks are being applied opens
//! whole (`PRAGMA integrity_check` = ok) and holds every order answered before it started; it never
//! overwrites a file; on PostgreSQL it says to use `pg_dump`.

use futures_util::future::join_all;
use serde_json::json;
use sqlx::Connection;

use crate::support::{cart, count, event, intent_metadata, TestApp};
use caisse_shop::store::BackupError;

async fn paid_events(app: &TestApp, n: usize, tag: &str) -> Vec<serde_json::Value> {
    let mut events = Vec::new();
    for i in 0..n {
        let (status, held, _) = app.checkout(cart(&[("sticker-pack", 1)]), &[]).await;
        assert_eq!(status, 201, "{held}");
        events.push(event(
            "payment_intent.succeeded",
            json!({"id": format!("pi_{tag}_{i}"), "object": "payment_intent",
                   "amount": held["amount_total"], "amount_received": held["amount_total"],
                   "currency": "eur", "status": "succeeded", "metadata": intent_metadata(&held)}),
        ));
    }
    events
}

#[tokio::test]
async fn a_backup_taken_while_webhooks_apply_is_whole_and_holds_every_answered_order() {
    let app = TestApp::spawn().await;
    app.sandbox.set_forward_to(None);
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("caisse-backup.db");
    if matches!(app.store, caisse_shop::Store::Postgres(_)) {
        let refused = app.store.backup_to(&copy).await.unwrap_err();
        assert!(matches!(refused, BackupError::Postgres));
        assert!(refused.to_string().contains("pg_dump"), "{refused}");
        assert!(!copy.exists());
        app.stop().await;
        return;
    }
    let before = paid_events(&app, 8, "before").await;
    for e in &before {
        assert_eq!(app.deliver(e).await.0, 200);
    }
    let answered = count(&app.store, "orders").await;
    assert_eq!(answered, 8);
    // More payments arrive while the copy is written.
    let during = paid_events(&app, 24, "during").await;
    let deliveries = join_all(during.iter().map(|e| app.deliver(e)));
    let (results, backup) = tokio::join!(deliveries, app.store.backup_to(&copy));
    backup.unwrap();
    assert!(results.iter().all(|(s, _)| *s == 200), "{results:?}");

    let url = format!("sqlite://{}", copy.display());
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    for e in &before {
        let pi = e["data"]["object"]["id"].as_str().unwrap();
        let found: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM orders o JOIN payments p ON p.order_id = o.id WHERE p.payment_intent_id = ?",
        )
        .bind(pi)
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert_eq!(found, 1, "the order of {pi} was answered before the backup");
    }
    // Consistent: every order in the copy has its payment and its stock taken.
    let orphans: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM payments p WHERE p.order_id = o.id)",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(orphans, 0);
    c.close().await.unwrap();

    // Never over an existing file.
    let size = std::fs::metadata(&copy).unwrap().len();
    let refused = app.store.backup_to(&copy).await.unwrap_err();
    assert!(matches!(refused, BackupError::Exists(_)), "{refused}");
    assert_eq!(std::fs::metadata(&copy).unwrap().len(), size);
    app.stop().await;
}
