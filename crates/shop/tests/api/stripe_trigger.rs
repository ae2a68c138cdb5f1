//! What `stripe trigger` does to caisse: Stripe makes a session of its own (no `hold_id`), pays
//! it, and sends the events to every endpoint. caisse records each as `ignored` with the reason,
//! and changes nothing else. Here the sandbox plays Stripe: the session is made over its API, not
//! through caisse, and paid on it; its signed webhooks reach caisse as Stripe's would.

use caisse_stripe::Form;

use crate::support::{count, scalar, wait_for, TestApp};

#[tokio::test]
async fn events_of_a_session_caisse_never_made_are_recorded_as_ignored_and_change_nothing() {
    let app = TestApp::spawn().await;
    let stock_before = app.product_stock("mug-enamel").await;
    let form = Form::new()
        .with("mode", "payment")
        .with("success_url", "https://example.com/success")
        .with("cancel_url", "https://example.com/cancel")
        .with("line_items[0][price_data][currency]", "usd")
        .with("line_items[0][price_data][unit_amount]", 2000)
        .with("line_items[0][price_data][product_data][name]", "myproduct")
        .with("line_items[0][quantity]", 1);
    let session = app
        .app
        .stripe
        .create_checkout_session(&form, "stripe-trigger-like")
        .await
        .unwrap();
    app.sandbox
        .pay(
            &session.id,
            caisse_sandbox::Method::Card("4242424242424242".into()),
        )
        .unwrap();
    let store = app.store.clone();
    wait_for(20, "the payment's events to be recorded", || {
        let store = store.clone();
        async move {
            let sql = "SELECT COUNT(*) FROM webhook_events WHERE type IN \
                       ('checkout.session.completed', 'payment_intent.succeeded')";
            (scalar(&store, sql).await == 2).then_some(())
        }
    })
    .await;
    let not_ignored = scalar(
        &app.store,
        "SELECT COUNT(*) FROM webhook_events WHERE status <> 'ignored'",
    )
    .await;
    assert_eq!(not_ignored, 0, "every event ignored");
    let reasons = scalar(
        &app.store,
        &format!(
            "SELECT COUNT(*) FROM webhook_events WHERE type = 'checkout.session.completed' \
             AND reason LIKE '%no hold of caisse''s has session {}%'",
            session.id
        ),
    )
    .await;
    assert_eq!(reasons, 1, "recorded with the reason");
    for table in ["orders", "payments", "holds", "outbox", "alerts"] {
        assert_eq!(count(&app.store, table).await, 0, "{table}");
    }
    assert_eq!(app.product_stock("mug-enamel").await, stock_before);
    app.stop().await;
}
