//! A redelivery of an event this instance saw finished is answered from memory, after the
//! signature check and before any query (issue 23): it holds with the pool closed, while a new
//! event still goes to the database.

use serde_json::json;

use crate::support::{event, TestApp};

#[tokio::test]
async fn a_finished_event_is_answered_as_a_duplicate_without_the_database() {
    let app = TestApp::spawn().await;
    let finished = event(
        "product.created",
        json!({"id": "prod_finished", "object": "product"}),
    );
    let (status, body) = app.deliver(&finished).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ignored")));

    // The server's pool is this one: closed, every query of it fails.
    app.store.close().await;

    let (status, body) = app.deliver(&finished).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("duplicate")),
        "{body}"
    );
    // A forged redelivery is still refused first: the set answers only verified bodies.
    let (status, _) = app
        .post_webhook(finished.to_string(), Some("t=1,v1=00"))
        .await;
    assert_eq!(status, 400);
    // An event never seen is not answered from memory: it goes to the database. On PostgreSQL
    // the closed pool fails it (Stripe is asked to retry); SQLite's writer, which reads nothing
    // from the pool, opens its connection again and records it.
    let new = event(
        "product.created",
        json!({"id": "prod_new", "object": "product"}),
    );
    let (status, body) = app.deliver(&new).await;
    assert_ne!(
        body["status"].as_str(),
        Some("duplicate"),
        "{status} {body}"
    );
    if app.store.is_postgres() {
        assert!(status >= 500, "{status} {body}");
    } else {
        assert_eq!((status, body["status"].as_str()), (200, Some("ignored")));
    }
}
