//! The plans SQLite makes for the lookups that run at every checkout and every worker pass.
//! SQLite keeps no statistics here and picks an index by the shape of a query, so a new index
//! can quietly turn a customer's lookup into a read of every open hold (it did, while issue 23's
//! partial indexes were written). PostgreSQL plans from its statistics.

use super::holds::{holds_to_check_sql, open_holds_sql};
use super::outbox::claim_outbox_sql;
use super::Store;
use crate::domain::status::OutboxKind;

/// The `detail` lines of `EXPLAIN QUERY PLAN` for `sql`, its parameters left unbound.
fn plan(file: &std::path::Path, sql: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(file).unwrap();
    let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let mut rows = statement.raw_query();
    let mut lines = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        lines.push(row.get(3).unwrap());
    }
    lines
}

#[tokio::test]
async fn the_hot_lookups_read_their_own_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plans.db");
    let store = Store::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.close().await;
    let cases = [
        (
            open_holds_sql("customer_id"),
            "holds_open_by_customer (customer_id=? AND expires_at>?)",
        ),
        (
            open_holds_sql("client_net"),
            "holds_open_by_network (client_net=? AND expires_at>?)",
        ),
        (
            holds_to_check_sql(),
            "holds_open_by_expiry (status=? AND expires_at<?)",
        ),
        (
            claim_outbox_sql(Some(OutboxKind::OrderConfirmation), false),
            "outbox_due (status=? AND kind=? AND next_attempt_at<?)",
        ),
    ];
    for (sql, index) in cases {
        let plan = plan(&file, &sql);
        assert!(
            plan.iter().any(|line| line.contains(index)),
            "{sql}\nshould read {index}, but its plan is {plan:#?}"
        );
    }
}
