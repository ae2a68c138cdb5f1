//! `payment_failed` alerts: the first few of a product in an hour stand alone, the rest of the
//! hour fall into one grouped alert, so that declined checkouts cannot bury the dashboard.

use serde_json::json;

use crate::support::{cart, event, intent_metadata, scalar, with_intent_tag, TestApp};

#[tokio::test]
async fn declines_beyond_the_first_five_of_a_product_in_an_hour_make_one_grouped_alert() {
    let app = TestApp::spawn().await;
    for i in 0..8 {
        let (status, held, _) = app.checkout(cart(&[("mug-enamel", 1)]), &[]).await;
        assert_eq!(status, 201, "{held}");
        let held = with_intent_tag(&app.store, held).await;
        let failed = event(
            "payment_intent.payment_failed",
            json!({"id": format!("pi_declined_{i}"), "object": "payment_intent",
                   "amount": held["amount_total"], "currency": "eur",
                   "status": "requires_payment_method", "metadata": intent_metadata(&held),
                   "last_payment_error": {"code": "card_declined", "message": "Your card was declined."}}),
        );
        let (status, answer) = app.deliver(&failed).await;
        assert_eq!(status, 200, "{answer}");
    }
    let count = |sql: &'static str| scalar(&app.store, sql);
    assert_eq!(
        count("SELECT COUNT(*) FROM alerts WHERE kind = 'payment_failed' AND entity_type = 'hold'")
            .await,
        5,
        "the first five stand alone"
    );
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM alerts WHERE kind = 'payment_failed' \
             AND entity_type = 'product' AND entity_id = 'mug-enamel'"
        )
        .await,
        1,
        "the other three in one"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM holds WHERE release_reason = 'payment_failed'").await,
        8,
        "every decline still releases its hold"
    );
    app.stop().await;
}
