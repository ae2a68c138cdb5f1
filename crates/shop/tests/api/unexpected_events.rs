//! Events no parser expected: what a customer types on Stripe's page reaches caisse inside a
//! signed event, NUL included, and must be processed, not refused for three days.

use serde_json::json;

use crate::support::{cart, count, event, guest_cookie, intent_metadata, scalar, TestApp};

#[tokio::test]
async fn an_escaped_nul_in_a_customer_typed_name_is_processed_into_an_order() {
    let app = TestApp::spawn().await;
    app.sandbox.set_forward_to(None);
    let (status, held, headers) = app.checkout(cart(&[("mug-enamel", 1)]), &[]).await;
    assert_eq!(status, 201, "{held}");
    let session = held["checkout_session_id"].as_str().unwrap();
    let amount = held["amount_total"].as_i64().unwrap();
    let completed = event(
        "checkout.session.completed",
        json!({"id": session, "object": "checkout.session", "status": "complete",
               "payment_status": "paid", "amount_total": amount, "currency": "eur",
               "payment_intent": "pi_nul_name", "metadata": {"hold_id": held["hold_id"]},
               "customer_details": {"name": "Ann\u{0}e", "email": "ann@example.com"}}),
    );
    let body = completed.to_string();
    assert!(
        body.contains("Ann\\u0000e"),
        "the body carries the escape as Stripe sends it"
    );
    let (status, answer) = app.deliver(&completed).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "processed", "{answer}");
    assert_eq!(count(&app.store, "orders").await, 1);
    let page = app
        .wait_status(session, &guest_cookie(&headers), "paid")
        .await;
    assert_eq!(page["order_number"], 1);
    // The payload is kept as it came, escape and all (it is all ASCII: length is bytes).
    let id = completed["id"].as_str().unwrap();
    let stored = app.store.webhook_event(id).await.unwrap().unwrap();
    assert_eq!(stored.status.as_str(), "processed");
    let length = scalar(
        &app.store,
        &format!("SELECT CAST(length(payload) AS BIGINT) FROM webhook_events WHERE stripe_event_id = '{id}'"),
    )
    .await;
    assert_eq!(length, body.len() as i64);
    assert!(app.store.alerts(true, 10).await.unwrap().is_empty());
    app.stop().await;
}

/// Where caisse stores a string from the event (a failed payment's reason, in its alert and the
/// hold's audit), a NUL is replaced: PostgreSQL's text could not hold it, and the event would
/// fail at every one of Stripe's retries.
#[tokio::test]
async fn a_nul_in_a_string_caisse_stores_is_replaced_there() {
    let app = TestApp::spawn().await;
    app.sandbox.set_forward_to(None);
    let (status, held, _) = app.checkout(cart(&[("mug-enamel", 1)]), &[]).await;
    assert_eq!(status, 201, "{held}");
    let failed = event(
        "payment_intent.payment_failed",
        json!({"id": "pi_nul_reason", "object": "payment_intent", "amount": 1200,
               "currency": "eur", "status": "requires_payment_method",
               "metadata": intent_metadata(&held),
               "last_payment_error": {"code": "card_declined", "message": "Refus\u{0}e par la banque"}}),
    );
    let (status, answer) = app.deliver(&failed).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("processed")),
        "{answer}"
    );
    let alerts = app.store.alerts(true, 10).await.unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].message.contains("Refus\u{FFFD}e par la banque"),
        "{}",
        alerts[0].message
    );
    assert_eq!(app.reserved("mug-enamel").await, 0, "released");
    app.stop().await;
}
