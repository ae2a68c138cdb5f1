//! Catalog import against a real database: upserts, audit entries, all-or-nothing.

use caisse_shop::catalog::{self, Format, ImportError, Stock};

use crate::support::{fresh, raw, scalar};

#[tokio::test]
async fn import_creates_then_updates_and_audits_each_change() {
    let (_db, store) = fresh().await;
    let first = catalog::parse(
        "id,name,unit_amount,currency,stock_on_hand\nmug,Mug,1200,eur,4\ntee,Tee,2500,EUR,9\n",
        Format::Csv,
    )
    .unwrap();
    let report = catalog::import(&store, &first, Stock::Set, "cli:test", 10)
        .await
        .unwrap();
    assert_eq!(
        (report.created, report.updated, report.unchanged),
        (2, 0, 0)
    );

    let second = catalog::parse(
        r#"[{"id":"mug","name":"Mug","unit_amount":1300,"currency":"eur","stock":4},
            {"id":"tee","name":"Tee","unit_amount":2500,"currency":"eur","stock":9}]"#,
        Format::Json,
    )
    .unwrap();
    let report = catalog::import(&store, &second, Stock::Set, "cli:test", 20)
        .await
        .unwrap();
    assert_eq!(
        (report.created, report.updated, report.unchanged),
        (0, 1, 1)
    );
    assert_eq!(
        store.product("mug").await.unwrap().unwrap().unit_amount,
        1300
    );

    let trail = store.audit_log(Some(("product", "mug")), 10).await.unwrap();
    assert_eq!(trail.len(), 2);
    assert_eq!(trail[0].action, "product.updated");
    assert!(trail[0].before.as_deref().unwrap().contains("1200"));
    assert!(trail[0].after.as_deref().unwrap().contains("1300"));
    assert_eq!(trail[0].actor, "cli:test");
}

#[tokio::test]
async fn an_import_below_reserved_stock_changes_nothing() {
    let (_db, store) = fresh().await;
    let products = catalog::parse(
        "id,name,unit_amount,currency,stock_on_hand\na,A,100,eur,5\nb,B,100,eur,5\n",
        Format::Csv,
    )
    .unwrap();
    catalog::import(&store, &products, Stock::Set, "cli:test", 0)
        .await
        .unwrap();
    raw(
        &store,
        "UPDATE products SET stock_reserved = 3 WHERE id = 'b'",
    )
    .await
    .unwrap();

    let lower = catalog::parse(
        "id,name,unit_amount,currency,stock_on_hand\na,A,999,eur,5\nb,B,100,eur,2\n",
        Format::Csv,
    )
    .unwrap();
    let err = catalog::import(&store, &lower, Stock::Set, "cli:test", 1)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImportError::BelowHeld { ref id, on_hand: 2, held: 3 } if id == "b"),
        "{err}"
    );
    assert!(err
        .to_string()
        .contains("2 on hand would be fewer than the 3"));
    // All or nothing: the valid change to `a` was rolled back with the refused one.
    assert_eq!(store.product("a").await.unwrap().unwrap().unit_amount, 100);
    assert_eq!(scalar(&store, "SELECT COUNT(*) FROM audit_log").await, 2);
}

#[tokio::test]
async fn the_demo_catalog_loads_once() {
    let (_db, store) = fresh().await;
    assert!(catalog::load_demo_if_empty(&store, 0).await.unwrap());
    assert!(!catalog::load_demo_if_empty(&store, 0).await.unwrap());
    let active = store.active_products().await.unwrap();
    assert!(active.iter().any(|p| p.available() == 1));
    assert!(active.iter().all(|p| p.id != "cap-retired"));
}

#[tokio::test]
async fn re_importing_the_same_file_does_not_bring_sold_units_back() {
    let (_db, store) = fresh().await;
    let file = catalog::parse(
        "id,name,unit_amount,currency,stock_on_hand\nmug,Mug,1200,eur,10\n",
        Format::Csv,
    )
    .unwrap();
    catalog::import(&store, &file, Stock::Keep, "cli:test", 0)
        .await
        .unwrap();
    // Orders sold three.
    raw(
        &store,
        "UPDATE products SET stock_on_hand = 7 WHERE id = 'mug'",
    )
    .await
    .unwrap();
    let report = catalog::import(&store, &file, Stock::Keep, "cli:test", 1)
        .await
        .unwrap();
    assert_eq!(report.unchanged, 1);
    assert_eq!(
        store.product("mug").await.unwrap().unwrap().stock_on_hand,
        7
    );
    // After a stock count, --set-stock says what is on the shelves.
    catalog::import(&store, &file, Stock::Set, "cli:test", 2)
        .await
        .unwrap();
    assert_eq!(
        store.product("mug").await.unwrap().unwrap().stock_on_hand,
        10
    );
    // Export then import is a round trip.
    let exported = catalog::export(&store).await.unwrap();
    let again = catalog::parse(&exported, Format::Json).unwrap();
    let report = catalog::import(&store, &again, Stock::Set, "cli:test", 3)
        .await
        .unwrap();
    assert_eq!(
        (report.created, report.updated, report.unchanged),
        (0, 0, 1)
    );
}

/// A shop's whole catalog in one file is one transaction, however large: on SQLite its
/// savepoint keeps the first version of every page it changes (about 4 MB here), which must stay
/// possible (an outside probe found imports of 5,000 products and more refused with "database or
/// disk is full" once that journal spilled to a temporary file past 1 MiB: SQLite's one large
/// write, which `store/sqlite_files.rs` now hands on in pieces).
#[tokio::test]
async fn a_large_catalog_imports_and_recounts_in_one_transaction() {
    let (_db, store) = fresh().await;
    let file = |stock: i64| {
        let mut csv = String::from("id,name,description,unit_amount,currency,stock_on_hand\n");
        for i in 0..2_000 {
            csv.push_str(&format!(
                "bulk-{i:05},Bulk product {i},{},{},eur,{}\n",
                "d".repeat(1_500),
                100 + i,
                stock + i
            ));
        }
        catalog::parse(&csv, Format::Csv).unwrap()
    };
    let report = catalog::import(&store, &file(0), Stock::Set, "cli:test", 1)
        .await
        .unwrap();
    assert_eq!((report.created, report.updated), (2_000, 0));
    let report = catalog::import(&store, &file(7), Stock::Set, "cli:test", 2)
        .await
        .unwrap();
    assert_eq!((report.created, report.updated), (0, 2_000));
    let on_hand = scalar(
        &store,
        "SELECT CAST(SUM(stock_on_hand) AS BIGINT) FROM products WHERE id LIKE 'bulk-%'",
    )
    .await;
    assert_eq!(on_hand, 7 * 2_000 + 1_999 * 2_000 / 2);
}
