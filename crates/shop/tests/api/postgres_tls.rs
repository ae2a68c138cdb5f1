//! PostgreSQL over TLS: a `DATABASE_URL` with `sslmode=require`, as managed databases ask, serves
//! the shop over an encrypted connection. caisse was built without TLS and refused every such
//! URL (found by an outside probe); without `sslmode` it is `prefer`, as with libpq.

use serde_json::json;

use crate::support::{scalar, TestApp, TestDb, LOOSE};

#[tokio::test]
async fn a_database_url_with_sslmode_require_is_served_over_tls() {
    let db = TestDb::new().await;
    if !db.url.starts_with("postgres") {
        return;
    }
    let url = format!("{}?sslmode=require", db.url);
    let app = TestApp::spawn_on(db.reached_at(url), LOOSE).await;
    let (status, body, _) = app
        .checkout(
            json!({"items": [{"product_id": "mug-enamel", "quantity": 1}]}),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let encrypted = scalar(
        &app.store,
        "SELECT COUNT(*) FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl",
    )
    .await;
    assert_eq!(
        encrypted, 1,
        "the connection is TLS (this test needs a PostgreSQL server with ssl = on, Debian's default)"
    );
    app.stop().await;
}
