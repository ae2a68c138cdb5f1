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

#[tokio::test]
async fn tools_refuse_a_sqlite_database_that_is_not_there_instead_of_making_an_empty_one() {
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
    // A database in a folder that is not there is named, with the folder, even by what creates.
    let out = run(
        dir.path(),
        &["migrate"],
        &[("DATABASE_URL", "sqlite://sub/new.db")],
    );
    let stderr = text(&out).1;
    assert!(
        stderr.contains("the folder of the SQLite database sub/new.db does not exist"),
        "{stderr}"
    );
    // Nor do they take an empty file, or another program's database, for a shop's: nothing in it
    // changes, not even its journal mode.
    std::fs::write(dir.path().join("zero.db"), b"").unwrap();
    let other = dir.path().join("other.db");
    {
        use sqlx::ConnectOptions;
        let mut c = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&other)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        // Another program that migrates with sqlx too: its own `_sqlx_migrations`, version 1.
        for sql in [
            "CREATE TABLE foo (x)",
            "INSERT INTO foo VALUES (1)",
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
             installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, \
             checksum BLOB NOT NULL, execution_time BIGINT NOT NULL)",
            "INSERT INTO _sqlx_migrations VALUES (1, 'init', '2024-01-01', 1, x'00', 5)",
        ] {
            sqlx::query(sql).execute(&mut c).await.unwrap();
        }
        c.close().await.unwrap();
    }
    let before = std::fs::read(&other).unwrap();
    std::fs::write(dir.path().join("notes.db"), b"not a database at all").unwrap();
    for (file, refusal) in [
        ("zero.db", "has no migration of caisse's"),
        ("other.db", "holds another program's tables"),
        ("notes.db", "is not a SQLite database caisse can read"),
    ] {
        let url = format!("sqlite://{file}");
        for args in [
            &["backup", "copy.db"][..],
            &["orders", "export", "-"],
            &["catalog", "export"],
            &["prune", "--dry-run"],
        ] {
            let out = run(dir.path(), args, &[("DATABASE_URL", &url)]);
            let (stdout, stderr) = text(&out);
            assert!(!out.status.success(), "{file} {args:?}: {stdout}{stderr}");
            assert!(stderr.contains(refusal), "{file} {args:?}: {stderr}");
        }
    }
    // Nor does `caisse migrate` make another program's database a shop.
    let out = run(
        dir.path(),
        &["migrate"],
        &[("DATABASE_URL", "sqlite://other.db")],
    );
    assert!(!out.status.success(), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("holds another program's tables"),
        "{:?}",
        text(&out)
    );
    assert_eq!(std::fs::read(dir.path().join("zero.db")).unwrap(), b"");
    assert_eq!(
        std::fs::read(&other).unwrap(),
        before,
        "another program's database untouched"
    );
    assert!(!dir.path().join("other.db-wal").exists());
    assert!(!dir.path().join("copy.db").exists());
    // A shop's database one migration behind this caisse: the tools leave the schema to
    // `caisse migrate` (a server of the older version may be running on it).
    let shop = dir.path().join("behind.db");
    let behind = [("DATABASE_URL", "sqlite://behind.db")];
    assert!(run(dir.path(), &["migrate"], &behind).status.success());
    {
        let mut c = sqlite(&shop).await;
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)")
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
    }
    let out = run(dir.path(), &["orders", "export", "-"], &behind);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("migrations are not this caisse's"),
        "{stderr}"
    );
    let migrations = async || {
        let mut c = sqlite(&shop).await;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
        n
    };
    let applied = migrations().await;
    assert!(run(dir.path(), &["migrate"], &behind).status.success());
    assert_eq!(
        applied + 1,
        migrations().await,
        "the export applied no migration"
    );
    assert!(run(dir.path(), &["orders", "export", "-"], &behind)
        .status
        .success());
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

/// On PostgreSQL too: a database with no migration of caisse's (a fresh `CREATE DATABASE`) is not
/// a shop's for a tool that reads one, and stays empty; `caisse migrate` makes it one.
#[tokio::test]
async fn tools_refuse_a_postgresql_database_caisse_never_migrated() {
    let Some(admin) = crate::support::postgres_admin_url() else {
        return;
    };
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    let name = format!(
        "caisse_not_a_shop_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    let url = format!("{base}/{name}");
    let dir = tempfile::tempdir().unwrap();
    let vars = [("DATABASE_URL", url.as_str())];
    let out = run(dir.path(), &["orders", "export", "-"], &vars);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("has no migration of caisse's"), "{stderr}");
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(tables, 0, "nothing was migrated");
    db.close().await.unwrap();
    assert!(run(dir.path(), &["migrate"], &vars).status.success());
    let out = run(dir.path(), &["orders", "export", "-"], &vars);
    assert!(out.status.success(), "{:?}", text(&out));
}
