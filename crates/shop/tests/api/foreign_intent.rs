//! A PaymentIntent that is not its hold's session's — another integration on the same Stripe
//! account putting a hold's id in its metadata — pays nothing: recorded, ignored with a reason,
//! alerted; the hold's own payment then makes the order.

use serde_json::json;

use crate::support::{cart, event, guest_cookie, scalar, TestApp};

#[tokio::test]
async fn a_foreign_payment_intent_makes_no_order_and_the_holds_own_payment_does() {
    let app = TestApp::spawn().await;
    let (status, held, headers) = app.checkout(cart(&[("mug-enamel", 1)]), &[]).await;
    assert_eq!(status, 201, "{held}");
    let cookie = guest_cookie(&headers);
    let (hold_id, session) = (
        held["hold_id"].as_str().unwrap(),
        held["checkout_session_id"].as_str().unwrap(),
    );
    let amount = held["amount_total"].clone();
    let foreign = event(
        "payment_intent.succeeded",
        json!({"id": "pi_foreign", "object": "payment_intent", "amount": amount,
               "amount_received": amount, "currency": "eur", "status": "succeeded",
               "metadata": {"hold_id": hold_id}}),
    );
    let (status, answer) = app.deliver(&foreign).await;
    assert_eq!(status, 200, "{answer}");
    let sql = |q: &str| q.replace("{hold}", hold_id);
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM orders").await, 0);
    assert_eq!(
        scalar(
            &app.store,
            &sql("SELECT COUNT(*) FROM holds WHERE id = '{hold}' AND status = 'active'")
        )
        .await,
        1,
        "the hold still waits"
    );
    let recorded = format!(
        "SELECT COUNT(*) FROM webhook_events WHERE stripe_event_id = '{}' AND status = 'ignored' \
         AND reason LIKE '%pi_foreign%not the PaymentIntent of its Checkout Session%'",
        foreign["id"].as_str().unwrap()
    );
    assert_eq!(scalar(&app.store, &recorded).await, 1, "recorded, with why");
    assert_eq!(
        scalar(
            &app.store,
            &sql(
                "SELECT COUNT(*) FROM alerts WHERE kind = 'foreign_payment_intent' \
                  AND entity_id = '{hold}'"
            )
        )
        .await,
        1
    );

    // The hold's own payment, on its session's page, through the sandbox's signed webhooks.
    app.sandbox
        .pay(
            session,
            caisse_sandbox::Method::Card("4242424242424242".into()),
        )
        .unwrap();
    app.wait_status(session, &cookie, "paid").await;
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM payments WHERE payment_intent_id = 'pi_foreign'"
        )
        .await,
        0
    );
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM orders").await, 1);
    app.stop().await;
}
