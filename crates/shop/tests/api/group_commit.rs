//! SQLite's group commit (`store/sqlite_writer.rs`): transactions queued for the writer share one
//! commit, each is answered only once that commit is durable, and one that fails or is abandoned
//! undoes only itself. SQLite only, whatever backend the run is for. These drive the writer's
//! turns by hand, below `Store::write`, to interleave them exactly.

use std::sync::Arc;
use std::time::Duration;

use caisse_shop::store::{SqliteWriter, StoreError, WriterTurn};
use caisse_shop::Store;

use crate::support::{scalar, wait_for};

async fn sqlite() -> (tempfile::TempDir, Store, Arc<SqliteWriter>) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("group.db").display());
    let store = Store::connect(&url).await.unwrap();
    let Store::Sqlite(pool, writer) = &store else {
        unreachable!("a sqlite: URL")
    };
    sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        .execute(pool)
        .await
        .unwrap();
    let writer = writer.clone();
    (dir, store, writer)
}

async fn insert(turn: &mut WriterTurn, id: i64) -> Result<(), rusqlite::Error> {
    turn.sqlite()
        .execute("INSERT INTO t (id) VALUES ($1)", [id])
        .map(|_| ())
}

async fn rows(store: &Store) -> i64 {
    scalar(store, "SELECT COALESCE(SUM(id), 0) FROM t").await
}

async fn until_queued(writer: &SqliteWriter, n: usize) {
    wait_for(5, "transactions queued for the writer", || async {
        (writer.queued() == n).then_some(())
    })
    .await
}

/// Is the task still running once every task that could run has run? Called once another
/// member holds the writer's turn, which only the group's commit can end: a task answered
/// before that commit is finished here, whatever the timing (the test runtime has one thread).
async fn still_waiting<T>(task: &tokio::task::JoinHandle<T>) -> bool {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    !task.is_finished()
}

#[tokio::test]
async fn queued_transactions_share_one_commit_and_each_is_answered_once_it_is_durable() {
    let (_dir, store, writer) = sqlite().await;
    let mut a = writer.begin().await.unwrap();
    insert(&mut a, 1).await.unwrap();
    let s = writer.clone();
    let (go, wait) = tokio::sync::oneshot::channel::<()>();
    let (in_turn, b_has_turn) = tokio::sync::oneshot::channel::<()>();
    let b = tokio::spawn(async move {
        let mut b = s.begin().await.unwrap();
        insert(&mut b, 2).await.unwrap();
        in_turn.send(()).unwrap();
        wait.await.unwrap();
        b.commit().await
    });
    until_queued(&writer, 1).await;
    // A commits while B waits: A's commit hands the turn to B and waits for B, and nothing of A
    // is visible yet.
    let a = tokio::spawn(a.commit());
    b_has_turn.await.unwrap();
    assert!(
        still_waiting(&a).await,
        "A answered before its group committed"
    );
    assert_eq!(
        rows(&store).await,
        0,
        "A is not durable until the group commits"
    );
    go.send(()).unwrap();
    b.await.unwrap().unwrap();
    a.await.unwrap().unwrap();
    assert_eq!(rows(&store).await, 1 + 2);
}

/// A provisional write (`Store::write_provisional`) is answered once its savepoint is released
/// into the group, before the group is durable (while a durable member of the same group still
/// waits), sees and is seen by the group's other members, and is committed with the group.
#[tokio::test]
async fn a_provisional_write_is_answered_before_its_group_is_durable() {
    let (_dir, store, writer) = sqlite().await;
    let mut a = writer.begin().await.unwrap();
    insert(&mut a, 1).await.unwrap();
    let s = store.clone();
    let b = tokio::spawn(async move {
        s.write_provisional(async |tx| {
            let seen: i64 = tx.value("SELECT COUNT(*) FROM t WHERE id = 1", &[]).await?;
            tx.run("INSERT INTO t (id) VALUES (2)", &[]).await?;
            Ok::<_, StoreError>(seen)
        })
        .await
    });
    until_queued(&writer, 1).await;
    let s = writer.clone();
    let (go, wait) = tokio::sync::oneshot::channel::<()>();
    let (in_turn, c_has_turn) = tokio::sync::oneshot::channel::<i64>();
    let c = tokio::spawn(async move {
        let mut c = s.begin().await.unwrap();
        let seen: i64 = c
            .sqlite()
            .query_row("SELECT COUNT(*) FROM t WHERE id = 2", [], |r| r.get(0))
            .unwrap();
        insert(&mut c, 4).await.unwrap();
        in_turn.send(seen).unwrap();
        wait.await.unwrap();
        c.commit().await
    });
    until_queued(&writer, 2).await;
    // A commits durably: it hands the turn to B, B to C, and C keeps the group open.
    let a = tokio::spawn(a.commit());
    assert_eq!(c_has_turn.await.unwrap(), 1, "C sees B's provisional row");
    assert!(!still_waiting(&b).await, "B is answered at once");
    assert_eq!(b.await.unwrap().unwrap(), 1, "B saw A's row");
    assert!(still_waiting(&a).await, "A waits for the group's commit");
    assert_eq!(
        rows(&store).await,
        0,
        "nothing is committed before the group"
    );
    go.send(()).unwrap();
    c.await.unwrap().unwrap();
    a.await.unwrap().unwrap();
    assert_eq!(
        rows(&store).await,
        1 + 2 + 4,
        "B is committed with its group"
    );
}

#[tokio::test]
async fn a_failed_member_undoes_only_itself() {
    let (_dir, store, writer) = sqlite().await;
    let mut a = writer.begin().await.unwrap();
    insert(&mut a, 1).await.unwrap();
    let s = writer.clone();
    let b = tokio::spawn(async move {
        let mut b = s.begin().await.unwrap();
        insert(&mut b, 10).await.unwrap();
        // The same key as A: refused, and B gives up (its error handling drops the transaction).
        let refused = insert(&mut b, 1).await;
        assert!(refused.is_err());
        drop(b);
    });
    let s = writer.clone();
    let c = tokio::spawn(async move {
        let mut c = s.begin().await.unwrap();
        insert(&mut c, 100).await.unwrap();
        c.commit().await
    });
    until_queued(&writer, 2).await;
    let a = tokio::spawn(a.commit());
    b.await.unwrap();
    c.await.unwrap().unwrap();
    a.await.unwrap().unwrap();
    assert_eq!(rows(&store).await, 1 + 100, "B's own row 10 is undone");
}

#[tokio::test]
async fn a_group_is_committed_even_when_its_last_member_is_abandoned() {
    let (_dir, store, writer) = sqlite().await;
    let mut a = writer.begin().await.unwrap();
    insert(&mut a, 1).await.unwrap();
    let s = writer.clone();
    let (go, wait) = tokio::sync::oneshot::channel::<()>();
    // B is cancelled mid-transaction, as when a client disconnects: nobody else is queued.
    let b = tokio::spawn(async move {
        let mut b = s.begin().await.unwrap();
        insert(&mut b, 2).await.unwrap();
        let _ = go.send(());
        std::future::pending::<()>().await;
        drop(b);
    });
    until_queued(&writer, 1).await;
    let a = tokio::spawn(a.commit());
    wait.await.unwrap();
    b.abort();
    tokio::time::timeout(Duration::from_secs(5), a)
        .await
        .expect("A's commit is not left waiting for an abandoned member")
        .unwrap()
        .unwrap();
    assert_eq!(rows(&store).await, 1);
    // The writer is usable afterwards.
    let mut d = writer.begin().await.unwrap();
    insert(&mut d, 4).await.unwrap();
    d.commit().await.unwrap();
    assert_eq!(rows(&store).await, 1 + 4);
}

#[tokio::test]
async fn the_loser_of_a_race_answers_only_what_is_durable() {
    let (_dir, store, writer) = sqlite().await;
    let mut a = writer.begin().await.unwrap();
    insert(&mut a, 1).await.unwrap();
    let s = writer.clone();
    let (go, wait) = tokio::sync::oneshot::channel::<()>();
    let b = tokio::spawn(async move {
        let mut b = s.begin().await.unwrap();
        // B sees A's row (same group) and loses the race on it.
        assert!(insert(&mut b, 1).await.is_err());
        wait.await.unwrap();
        b.rollback().await
    });
    until_queued(&writer, 1).await;
    let s = writer.clone();
    let (go_c, wait_c) = tokio::sync::oneshot::channel::<()>();
    let (in_turn, c_has_turn) = tokio::sync::oneshot::channel::<()>();
    let c = tokio::spawn(async move {
        let mut c = s.begin().await.unwrap();
        insert(&mut c, 100).await.unwrap();
        in_turn.send(()).unwrap();
        wait_c.await.unwrap();
        c.commit().await
    });
    until_queued(&writer, 2).await;
    let a = tokio::spawn(a.commit());
    go.send(()).unwrap();
    // B's rollback waits for the group, which C holds open; then A's row is durable.
    c_has_turn.await.unwrap();
    assert!(
        still_waiting(&b).await,
        "B answered before what it read was durable"
    );
    go_c.send(()).unwrap();
    c.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    a.await.unwrap().unwrap();
    assert_eq!(rows(&store).await, 1 + 100);
}

#[tokio::test]
async fn a_caller_that_gives_up_mid_turn_leaves_the_writer_usable() {
    use sqlx::{Connection, SqliteConnection};
    let (dir, store, writer) = sqlite().await;
    // Another process's write transaction holds SQLite's lock…
    let url = format!("sqlite://{}", dir.path().join("group.db").display());
    let mut other = SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    // …while a caller waits for it inside the writer's BEGIN, and gives up (a client that resets
    // its connection, a request time-out).
    let gave_up = tokio::time::timeout(Duration::from_millis(200), writer.begin()).await;
    assert!(gave_up.is_err(), "the lock was held");
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();

    // The next transaction still gets a turn, and commits.
    let mut tx = tokio::time::timeout(Duration::from_secs(10), writer.begin())
        .await
        .expect("a turn")
        .expect("a transaction");
    insert(&mut tx, 7).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(rows(&store).await, 7);
    // And the writer does not keep the lock once idle: the other process writes again.
    tokio::time::timeout(Duration::from_secs(10), async {
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut other)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t (id) VALUES (8)")
            .execute(&mut other)
            .await
            .unwrap();
        sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    })
    .await
    .expect("the writer let the lock go");
    assert_eq!(rows(&store).await, 7 + 8);
}

/// SQLite may end a whole transaction on a statement's error (a full disk does), and the
/// savepoint with it: the caller hears that cause as well as the rollback's "no such savepoint",
/// as a transient failure, and the writer goes on.
#[tokio::test]
async fn a_transaction_sqlite_ended_is_told_with_its_own_cause() {
    let (_dir, store, _writer) = sqlite().await;
    let told = store
        .write(async |tx| {
            tx.run("INSERT INTO t (id) VALUES (1)", &[]).await?;
            // What SQLite does to the transaction of a statement that fills the disk.
            tx.run("ROLLBACK", &[]).await?;
            Err::<(), _>(StoreError::Database {
                message: "database or disk is full".into(),
            })
        })
        .await
        .unwrap_err();
    assert!(told.is_transient(), "{told}");
    let told = told.to_string();
    assert!(told.contains("no such savepoint"), "{told}");
    assert!(told.contains("database or disk is full"), "{told}");
    store
        .write(async |tx| {
            tx.run("INSERT INTO t (id) VALUES (2)", &[])
                .await
                .map(|_| ())
        })
        .await
        .unwrap();
    assert_eq!(rows(&store).await, 2);
}
