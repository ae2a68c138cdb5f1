//! `caisse prune [--dry-run]` and `caisse backup FILE` from outside: what they print, what they
//! change, and what they refuse.

use sqlx::Connection;

use crate::support::{run, text, GUEST, SK, WH};

const DAY: i64 = 86_400;

async fn sqlite(path: &std::path::Path) -> sqlx::SqliteConnection {
    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

async fn rows(path: &std::path::Path) -> (i64, i64, i64) {
    let mut c = sqlite(path).await;
    let mut one =
        async |sql: &str| -> i64 { sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap() };
    let payloads = one("SELECT COUNT(*) FROM webhook_events WHERE payload <> ''").await;
    let traces = one("SELECT COUNT(*) FROM stripe_requests").await;
    let messages = one("SELECT COUNT(*) FROM outbox").await;
    (payloads, traces, messages)
}

#[tokio::test]
async fn prune_removes_what_is_older_than_the_retention_and_a_dry_run_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("caisse.db");
    let db = format!("sqlite://{}", file.display());
    let vars = [("DATABASE_URL", db.as_str())];
    assert!(run(dir.path(), &["migrate"], &vars).status.success());
    let now = caisse_shop::store::unix_now();
    let mut c = sqlite(&file).await;
    // One of each, 100 days old, and one of each from today.
    for (i, at) in [(0, now - 100 * DAY), (1, now)] {
        let statements = [
            format!("INSERT INTO webhook_events (stripe_event_id, type, livemode, stripe_created, payload, status, attempts, received_at) \
                     VALUES ('evt_{i}', 'payment_intent.succeeded', 0, {at}, '{{}}', 'processed', 1, {at})"),
            format!("INSERT INTO stripe_requests (method, path, duration_ms, at) VALUES ('POST', '/v1/checkout/sessions', 3, {at})"),
            format!("INSERT INTO outbox (kind, dedup_key, payload, status, attempts, next_attempt_at, created_at, sent_at) \
                     VALUES ('order_confirmation', 'order_confirmation:ord_{i}', '{{}}', 'sent', 1, {at}, {at}, {at})"),
        ];
        for sql in statements {
            sqlx::query(&sql).execute(&mut c).await.unwrap();
        }
    }
    drop(c);
    assert_eq!(rows(&file).await, (2, 2, 2));

    let dry = run(dir.path(), &["prune", "--dry-run"], &vars);
    let (out, err) = text(&dry);
    assert!(dry.status.success(), "{out} {err}");
    assert!(
        out.contains("older than 90 days: 1 webhook event payloads, 1 Stripe request traces, 1 sent or failed outbox messages would be removed"),
        "{out}"
    );
    assert_eq!(rows(&file).await, (2, 2, 2), "a dry run changes nothing");

    let pruned = run(dir.path(), &["prune"], &vars);
    let (out, err) = text(&pruned);
    assert!(pruned.status.success(), "{out} {err}");
    assert!(
        out.ends_with("removed\n") && out.contains(": 1 webhook"),
        "{out}"
    );
    assert_eq!(rows(&file).await, (1, 1, 1), "today's stay");

    let too_short = run(
        dir.path(),
        &["prune"],
        &[
            ("DATABASE_URL", db.as_str()),
            ("CAISSE_RETENTION_DAYS", "7"),
        ],
    );
    assert_eq!(too_short.status.code(), Some(2));
    assert!(
        text(&too_short).1.contains("CAISSE_RETENTION_DAYS"),
        "{:?}",
        text(&too_short)
    );
}

#[tokio::test]
async fn backup_writes_a_copy_that_opens_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("caisse.db").display());
    let vars = [("DATABASE_URL", db.as_str())];
    assert!(run(dir.path(), &["migrate"], &vars).status.success());
    let made = run(dir.path(), &["backup", "copy.db"], &vars);
    assert!(made.status.success(), "{:?}", text(&made));
    let copy = dir.path().join("copy.db");
    let mut c = sqlite(&copy).await;
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    let tables: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'orders'")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(tables, 1);
    drop(c);
    let size = std::fs::metadata(&copy).unwrap().len();

    let again = run(dir.path(), &["backup", "copy.db"], &vars);
    assert!(!again.status.success());
    assert!(
        text(&again).1.contains("already exists"),
        "{:?}",
        text(&again)
    );
    assert_eq!(std::fs::metadata(&copy).unwrap().len(), size, "untouched");

    let on_postgres = run(
        dir.path(),
        &["backup", "pg.db"],
        &[("DATABASE_URL", "postgres://caisse@127.0.0.1:1/caisse")],
    );
    assert!(!on_postgres.status.success());
    assert!(
        text(&on_postgres).1.contains("pg_dump"),
        "{:?}",
        text(&on_postgres)
    );
    assert!(!dir.path().join("pg.db").exists());
}

#[test]
fn tools_refuse_a_sqlite_database_that_is_not_there_instead_of_making_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let vars = [("DATABASE_URL", "sqlite://typo.db")];
    for args in [
        &["backup", "copy.db"][..],
        &["orders", "export", "-"],
        &["orders", "deliver", "1"],
        &["prune", "--dry-run"],
        &["catalog", "export"],
        &["admin", "list-users"],
    ] {
        let out = run(dir.path(), args, &vars);
        let (stdout, stderr) = text(&out);
        assert!(!out.status.success(), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains("there is no SQLite database at typo.db"),
            "{args:?}: {stderr}"
        );
        assert!(!dir.path().join("typo.db").exists(), "{args:?} made it");
    }
    assert!(!dir.path().join("copy.db").exists());
    // `caisse doctor` says so too, and makes nothing.
    let doctor = run(
        dir.path(),
        &["doctor"],
        &[
            vars[0],
            ("STRIPE_SECRET_KEY", SK),
            ("STRIPE_WEBHOOK_SECRET", WH),
            ("CAISSE_GUEST_COOKIE_SECRET", GUEST),
            ("CAISSE_MAIL", "off"),
            ("STRIPE_API_BASE", "http://127.0.0.1:1"),
        ],
    );
    assert!(
        text(&doctor)
            .0
            .contains("there is no SQLite database at typo.db"),
        "{:?}",
        text(&doctor)
    );
    assert!(!dir.path().join("typo.db").exists());
    // What sets a shop up creates it.
    assert!(run(dir.path(), &["migrate"], &vars).status.success());
    assert!(dir.path().join("typo.db").exists());
    assert!(run(dir.path(), &["prune", "--dry-run"], &vars)
        .status
        .success());
}
