//! `/readyz` tells whether a write can complete, and `/healthz` only that the process answers:
//! an outside process holding what every write needs — SQLite's write lock, or a lock on a
//! PostgreSQL table the payments write — makes the instance not ready until it lets go. A
//! PostgreSQL server that closed the pool's idle connections costs no request.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use crate::support::{raw, wait_for, TestApp};

/// `sqlite3` with `BEGIN IMMEDIATE`, or `psql` with `LOCK TABLE orders IN SHARE MODE` (what an
/// operator's long report or a migration by hand takes), in a transaction left open until
/// [`release`]; returns once the lock is held.
fn hold_the_write_lock(url: &str) -> Child {
    let (program, args, script) = match url.strip_prefix("sqlite://") {
        Some(path) => ("sqlite3", vec![path], "BEGIN IMMEDIATE;\nSELECT 'held';\n"),
        None => (
            "psql",
            vec![url, "-qAt"],
            "BEGIN;\nLOCK TABLE orders IN SHARE MODE;\nSELECT 'held';\n",
        ),
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} (needed by this test): {e}"));
    let stdin = child.stdin.as_mut().unwrap();
    stdin.write_all(script.as_bytes()).unwrap();
    stdin.flush().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "held");
    child
}

/// Ends the outside transaction: its input closes, it rolls back and exits.
fn release(mut child: Child) {
    drop(child.stdin.take());
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_while_an_outside_process_holds_the_write_lock_and_200_after() {
    let app = TestApp::spawn().await;
    let status = |path: &'static str| {
        let req = app.http.get(app.url(path));
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status("/readyz").await, 200);

    let holder = hold_the_write_lock(&app._db.url);
    wait_for(20, "/readyz to say 503", || async {
        (status("/readyz").await == 503).then_some(())
    })
    .await;
    let (_, body) = app.get_json("/readyz").await;
    assert_eq!(body["error"]["code"], "not_ready", "{body}");
    assert_eq!(status("/healthz").await, 200, "the process still answers");

    release(holder);
    wait_for(20, "/readyz to say 200 again", || async {
        (status("/readyz").await == 200).then_some(())
    })
    .await;
    app.stop().await;
}

/// A restart of PostgreSQL, or a proxy that drops idle connections, leaves the pool holding dead
/// ones: those idle for `POSTGRES_PING_AFTER_IDLE` are tested before they are lent, so the next
/// requests get live ones. (SQLite has no server to hang up.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_after_postgresql_closed_the_idle_connections_succeed() {
    let app = TestApp::spawn().await;
    if !app.store.is_postgres() {
        return app.stop().await;
    }
    let products = || {
        let req = app.http.get(app.url("/api/products"));
        async move { req.send().await.unwrap().status().as_u16() }
    };
    // Several connections in the pool, all idle afterwards.
    let warm = futures_util::future::join_all((0..12).map(|_| products())).await;
    assert!(warm.iter().all(|s| *s == 200), "{warm:?}");

    // Every session of the database but the one asking, as a restart would.
    let closed = raw(
        &app.store,
        "SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a \
         WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()",
    )
    .await
    .unwrap();
    assert!(closed >= 2, "{closed} connections closed");
    tokio::time::sleep(
        caisse_shop::store::POSTGRES_PING_AFTER_IDLE + std::time::Duration::from_millis(300),
    )
    .await;

    let after = futures_util::future::join_all((0..12).map(|_| products())).await;
    assert!(after.iter().all(|s| *s == 200), "{after:?}");
    app.stop().await;
}
