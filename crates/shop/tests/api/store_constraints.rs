//! The database itself refuses what would break an invariant, whatever the code above it does.

use caisse_shop::store::StoreError;

use crate::support::{fresh, raw, scalar, TestDb};

async fn seeded() -> (TestDb, caisse_shop::Store) {
    let (db, store) = fresh().await;
    raw(&store, "INSERT INTO products (id, name, unit_amount, currency, stock_on_hand, stock_reserved, created_at, updated_at) \
                 VALUES ('p1', 'P1', 1000, 'eur', 5, 2, 0, 0)").await.unwrap();
    raw(&store, "INSERT INTO holds (id, customer_id, status, amount_total, currency, expires_at, checkout_session_id, created_at, updated_at) \
                 VALUES ('h1', 'c1', 'active', 2000, 'eur', 100, 'cs_1', 0, 0), \
                        ('h2', 'c1', 'active', 2000, 'eur', 100, 'cs_2', 0, 0)").await.unwrap();
    raw(&store, "INSERT INTO orders (id, hold_id, customer_id, status, amount_total, currency, created_at, updated_at) \
                 VALUES ('o1', 'h1', 'c1', 'paid', 2000, 'eur', 0, 0)").await.unwrap();
    raw(&store, "INSERT INTO payments (id, order_id, payment_intent_id, amount, currency, status, created_at) \
                 VALUES ('pay1', 'o1', 'pi_1', 2000, 'eur', 'succeeded', 0)").await.unwrap();
    (db, store)
}

fn assert_check(r: Result<u64, StoreError>) {
    match r {
        Err(e) if e.is_check_violation() => {}
        other => panic!("expected a CHECK violation, got {other:?}"),
    }
}

fn assert_unique(r: Result<u64, StoreError>) {
    match r {
        Err(e) if e.is_unique_violation() => {}
        other => panic!("expected a UNIQUE violation, got {other:?}"),
    }
}

#[tokio::test]
async fn stock_cannot_go_negative() {
    let (_db, store) = seeded().await;
    assert_check(
        raw(
            &store,
            "UPDATE products SET stock_on_hand = -1, stock_reserved = 0 WHERE id = 'p1'",
        )
        .await,
    );
    assert_check(
        raw(
            &store,
            "UPDATE products SET stock_reserved = -1 WHERE id = 'p1'",
        )
        .await,
    );
    assert_eq!(
        scalar(&store, "SELECT stock_on_hand FROM products WHERE id = 'p1'").await,
        5
    );
}

#[tokio::test]
async fn reserved_never_exceeds_on_hand() {
    let (_db, store) = seeded().await;
    assert_check(
        raw(
            &store,
            "UPDATE products SET stock_reserved = 6 WHERE id = 'p1'",
        )
        .await,
    );
    assert_check(
        raw(
            &store,
            "UPDATE products SET stock_on_hand = 1 WHERE id = 'p1'",
        )
        .await,
    );
    assert_eq!(
        raw(
            &store,
            "UPDATE products SET stock_reserved = 5 WHERE id = 'p1'"
        )
        .await
        .unwrap(),
        1
    );
}

#[tokio::test]
async fn amounts_quantities_and_statuses_are_checked() {
    let (_db, store) = seeded().await;
    assert_check(raw(&store, "INSERT INTO hold_items (hold_id, product_id, quantity, unit_amount) VALUES ('h2', 'p1', 0, 100)").await);
    assert_check(raw(&store, "INSERT INTO hold_items (hold_id, product_id, quantity, unit_amount) VALUES ('h2', 'p1', 1, -100)").await);
    assert_check(
        raw(
            &store,
            "UPDATE products SET unit_amount = -5 WHERE id = 'p1'",
        )
        .await,
    );
    assert_check(raw(&store, "UPDATE holds SET status = 'lost' WHERE id = 'h2'").await);
    assert_check(raw(&store, "UPDATE orders SET status = 'maybe' WHERE id = 'o1'").await);
    assert_check(
        raw(
            &store,
            "UPDATE products SET currency = 'EURO' WHERE id = 'p1'",
        )
        .await,
    );
}

#[tokio::test]
async fn one_record_per_stripe_event() {
    let (_db, store) = seeded().await;
    let insert = "INSERT INTO webhook_events (stripe_event_id, type, livemode, stripe_created, payload, status, received_at) \
                  VALUES ('evt_1', 'payment_intent.succeeded', FALSE, 0, '{}', 'received', 0)";
    raw(&store, insert).await.unwrap();
    assert_unique(raw(&store, insert).await);
}

#[tokio::test]
async fn one_order_per_hold() {
    let (_db, store) = seeded().await;
    assert_unique(raw(&store, "INSERT INTO orders (id, hold_id, customer_id, status, amount_total, currency, created_at, updated_at) \
                               VALUES ('o2', 'h1', 'c1', 'paid', 2000, 'eur', 0, 0)").await);
}

#[tokio::test]
async fn one_payment_per_payment_intent() {
    let (_db, store) = seeded().await;
    assert_unique(raw(&store, "INSERT INTO payments (id, order_id, payment_intent_id, amount, currency, status, created_at) \
                               VALUES ('pay2', 'o1', 'pi_1', 2000, 'eur', 'succeeded', 0)").await);
}

#[tokio::test]
async fn one_hold_per_checkout_session() {
    let (_db, store) = seeded().await;
    assert_unique(
        raw(
            &store,
            "UPDATE holds SET checkout_session_id = 'cs_1' WHERE id = 'h2'",
        )
        .await,
    );
}

#[tokio::test]
async fn one_outbox_row_per_dedup_key() {
    let (_db, store) = seeded().await;
    let insert =
        "INSERT INTO outbox (kind, dedup_key, payload, status, next_attempt_at, created_at) \
                  VALUES ('order_confirmation', 'order:o1', '{}', 'pending', 0, 0)";
    raw(&store, insert).await.unwrap();
    assert_unique(raw(&store, insert).await);
}

#[tokio::test]
async fn orders_get_sequential_numbers() {
    let (_db, store) = seeded().await;
    raw(&store, "INSERT INTO orders (id, hold_id, customer_id, status, amount_total, currency, created_at, updated_at) \
                 VALUES ('o2', 'h2', 'c1', 'paid', 2000, 'eur', 0, 0)").await.unwrap();
    let first = scalar(&store, "SELECT number FROM orders WHERE id = 'o1'").await;
    assert_eq!(
        scalar(&store, "SELECT number FROM orders WHERE id = 'o2'").await,
        first + 1
    );
}

#[tokio::test]
async fn the_audit_log_is_append_only() {
    let (_db, store) = seeded().await;
    raw(
        &store,
        "INSERT INTO audit_log (at, actor, action, entity_type, entity_id, message) \
                 VALUES (0, 'admin:test', 'test', 'order', 'o1', 'written once')",
    )
    .await
    .unwrap();
    let update = raw(&store, "UPDATE audit_log SET message = 'rewritten'").await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = raw(&store, "DELETE FROM audit_log").await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    assert_eq!(
        scalar(
            &store,
            "SELECT COUNT(*) FROM audit_log WHERE message = 'written once'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn migrations_are_idempotent_and_readiness_follows_them() {
    let db = TestDb::new().await;
    let store = caisse_shop::Store::connect(&db.url).await.unwrap();
    assert!(!store.is_ready().await.unwrap());
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    assert!(store.is_ready().await.unwrap());
}

/// Instances started together on a fresh database all come up: on SQLite, whose migrations take
/// no lock, the ones that meet another's migration try again (they exited with "database is
/// locked" or "table products already exists").
#[tokio::test]
async fn instances_migrating_one_database_at_once_all_succeed() {
    let db = TestDb::new().await;
    let mut stores = Vec::new();
    for _ in 0..6 {
        stores.push(caisse_shop::Store::connect(&db.url).await.unwrap());
    }
    let results = futures_util::future::join_all(stores.iter().map(|store| store.migrate())).await;
    for result in results {
        result.unwrap();
    }
    for store in &stores {
        assert!(store.is_ready().await.unwrap());
    }
}

#[tokio::test]
async fn foreign_keys_are_enforced() {
    let (_db, store) = seeded().await;
    let r = raw(&store, "INSERT INTO hold_items (hold_id, product_id, quantity, unit_amount) VALUES ('no-such-hold', 'p1', 1, 100)").await;
    assert!(
        matches!(
            r,
            Err(StoreError::Constraint {
                kind: caisse_shop::store::ConstraintKind::ForeignKey,
                ..
            })
        ),
        "{r:?}"
    );
    let r = raw(&store, "INSERT INTO hold_items (hold_id, product_id, quantity, unit_amount) VALUES ('h2', 'no-such-product', 1, 100)").await;
    assert!(r.is_err());
}

/// A 2xx to Stripe is a promise: commits are durable before it leaves.
#[tokio::test]
async fn connections_are_set_for_durable_commits() {
    let (db, store) = fresh().await;
    let pool = match &store {
        caisse_shop::Store::Postgres(pool) => {
            // A database whose own default is off: caisse's connections must still commit
            // durably, so the setting must come from caisse, not from the server.
            let name: String = sqlx::query_scalar("SELECT current_database()")
                .fetch_one(pool)
                .await
                .unwrap();
            sqlx::query(&format!(
                "ALTER DATABASE {name} SET synchronous_commit = off"
            ))
            .execute(pool)
            .await
            .unwrap();
            // Set in each write transaction (never as a start-up option, which PgBouncer in
            // transaction mode refuses), with caisse's lock and statement time limits.
            let store = db.store().await;
            store
                .write(async |tx| {
                    let caisse_shop::store::Tx::Postgres(conn) = tx else {
                        unreachable!("same backend")
                    };
                    for (setting, expected) in [
                        ("synchronous_commit", "on"),
                        ("lock_timeout", "5s"),
                        ("statement_timeout", "15s"),
                    ] {
                        let value: String = sqlx::query_scalar(&format!("SHOW {setting}"))
                            .fetch_one(&mut **conn)
                            .await
                            .unwrap();
                        assert_eq!(value, expected, "{setting} inside a write transaction");
                    }
                    Ok::<_, caisse_shop::store::StoreError>(())
                })
                .await
                .unwrap();
            return;
        }
        caisse_shop::Store::Sqlite(pool, _) => pool,
    };
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await
        .unwrap();
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(pool)
        .await
        .unwrap();
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(pool)
        .await
        .unwrap();
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!((mode.as_str(), sync, fk), ("wal", 2, 1));
    assert!(busy >= 5_000, "{busy}");
}
