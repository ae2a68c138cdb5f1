//! What a payment's statements cost SQLite beyond their rows (issue 23): none of them builds a
//! temporary b-tree, which SQLite does for `RETURNING` and for a CHECK written as `IN (three or
//! more constants)`, at every run; and migration 0016, which rewrote those CHECKs, kept every
//! row and counter of the tables it rebuilt.

use std::path::Path;

use super::holds::{set_converted_sql, ConvertFrom};
use super::orders::ORDER_ROW;
use super::outbox::ENQUEUE;
use super::webhook_events::FINISH_ON_SQLITE;
use super::{HoldLink, Store};

/// The opcodes SQLite compiles `sql` into.
fn opcodes(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut statement = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
    let mut rows = statement.raw_query();
    let mut ops = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        ops.push(row.get(1).unwrap());
    }
    ops
}

#[tokio::test]
async fn a_payment_s_writes_build_no_temporary_table() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("checks.db");
    let store = Store::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.close().await;
    let conn = rusqlite::Connection::open(&file).unwrap();
    let link = HoldLink {
        session_id: Some("cs_1"),
        payment_intent_id: Some("pi_1"),
        email: Some("a@b.example"),
    };
    let (convert, _) = set_converted_sql("hold_1", ConvertFrom::Open, &link, 0);
    let (reconvert, _) = set_converted_sql("hold_1", ConvertFrom::Released, &link, 0);
    let statements = [
        convert,
        reconvert,
        ORDER_ROW.to_string(),
        ENQUEUE.to_string(),
        FINISH_ON_SQLITE.to_string(),
    ];
    for sql in statements {
        let ops = opcodes(&conn, &sql);
        assert!(
            !ops.iter().any(|op| op == "OpenEphemeral"),
            "{sql}\nbuilds a temporary b-tree at each run: {ops:?}"
        );
    }
}

/// Applies the SQLite migrations whose number is in `versions`, in order, as
/// [`Store::migrate`] does: each in a transaction, foreign keys off.
fn apply(conn: &rusqlite::Connection, versions: std::ops::RangeInclusive<u32>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let version: u32 = name.split('_').next().unwrap().parse().unwrap();
        if versions.contains(&version) {
            let sql = std::fs::read_to_string(&file).unwrap();
            conn.execute_batch(&format!("BEGIN; {sql}; COMMIT;"))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

/// Every row of `table`, as text, in rowid order.
fn dump(conn: &rusqlite::Connection, table: &str) -> Vec<Vec<String>> {
    let mut statement = conn
        .prepare(&format!("SELECT * FROM {table} ORDER BY rowid"))
        .unwrap();
    let columns = statement.column_count();
    let mut rows = statement.raw_query();
    let mut all = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        all.push(
            (0..columns)
                .map(|i| match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    other => format!("{other:?}"),
                })
                .collect(),
        );
    }
    all
}

#[test]
fn the_check_rewrite_keeps_every_row_the_counters_and_the_rules() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    apply(&conn, 1..=15);
    conn.execute_batch(
        "INSERT INTO products (id, name, unit_amount, currency, stock_on_hand, created_at, updated_at) \
             VALUES ('p1', 'Mug', 1200, 'eur', 5, 0, 0);
         INSERT INTO holds (id, customer_id, status, amount_total, currency, expires_at, \
                            checkout_session_id, created_at, updated_at, stock_unsettled) \
             VALUES ('h1', 'c1', 'converted', 1200, 'eur', 9, 'cs_1', 1, 2, TRUE), \
                    ('h2', 'c2', 'active', 2400, 'eur', 9, NULL, 1, 2, FALSE), \
                    ('h3', 'c3', 'released', 1200, 'eur', 9, 'cs_3', 1, 2, FALSE);
         INSERT INTO hold_items (hold_id, product_id, quantity, unit_amount) VALUES ('h1', 'p1', 1, 1200);
         INSERT INTO orders (id, hold_id, customer_id, email, status, amount_total, currency, \
                             created_at, updated_at, fulfilment, dispute) \
             VALUES ('o1', 'h1', 'c1', 'a@b.example', 'paid', 1200, 'eur', 3, 3, 'shipped', 'won'), \
                    ('o3', 'h3', 'c3', NULL, 'needs_attention', 1200, 'eur', 3, 3, 'unfulfilled', NULL);
         DELETE FROM orders WHERE id = 'o3';
         INSERT INTO outbox (kind, dedup_key, payload, status, next_attempt_at, created_at) \
             VALUES ('order_confirmation', 'k1', '{}', 'sent', 0, 0), \
                    ('stripe_refund', 'k2', '{}', 'pending', 0, 0);
         DELETE FROM outbox WHERE dedup_key = 'k2';
         INSERT INTO webhook_events (stripe_event_id, type, livemode, stripe_created, payload, status, \
                                     received_at, source, reason) \
             VALUES ('evt_1', 'payment_intent.succeeded', 0, 0, '{}', 'processed', 4, 'replay', 'done');",
    )
    .unwrap();
    let tables = [
        "holds",
        "orders",
        "outbox",
        "webhook_events",
        "sqlite_sequence",
    ];
    let before: Vec<_> = tables.iter().map(|t| dump(&conn, t)).collect();
    apply(&conn, 16..=16);
    let after: Vec<_> = tables.iter().map(|t| dump(&conn, t)).collect();
    assert_eq!(before, after);
    let orphans: i64 = conn
        .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(orphans, 0);
    // The next order takes the number after the deleted one's, as before the rebuild.
    conn.execute(
        "INSERT INTO orders (id, hold_id, customer_id, status, amount_total, currency, created_at, updated_at) \
         VALUES ('o4', 'h2', 'c2', 'paid', 2400, 'eur', 5, 5)",
        [],
    )
    .unwrap();
    let number: i64 = conn
        .query_row("SELECT number FROM orders WHERE id = 'o4'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(number, 3);
    for refused in [
        "UPDATE holds SET status = 'lost' WHERE id = 'h2'",
        "UPDATE orders SET status = 'maybe' WHERE id = 'o1'",
        "UPDATE orders SET fulfilment = 'lost' WHERE id = 'o1'",
        "UPDATE orders SET dispute = 'pending' WHERE id = 'o1'",
        "UPDATE orders SET attention_reason = 'whim' WHERE id = 'o1'",
        "UPDATE outbox SET status = 'queued' WHERE dedup_key = 'k1'",
        "UPDATE webhook_events SET status = 'done' WHERE stripe_event_id = 'evt_1'",
    ] {
        let error = conn.execute(refused, []).unwrap_err().to_string();
        assert!(
            error.contains("CHECK constraint failed"),
            "{refused}: {error}"
        );
    }
}
