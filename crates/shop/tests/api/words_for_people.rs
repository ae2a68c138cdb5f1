//! Words for people: a customer short of stock reads the product's name, not its id; a
//! `payment_failed` alert resolves itself when the customer pays the same checkout after all
//! (another card on the same page): it leaves the alerts to look at and stays in the history.

use caisse_shop::domain::status::AlertKind;

use crate::support::{cart, guest_cookie, TestApp};

#[tokio::test]
async fn a_declined_card_then_a_good_one_resolves_the_payment_failed_alert() {
    let app = TestApp::spawn().await;
    let card = |n: &str| caisse_sandbox::Method::Card(n.into());
    let (status, held, headers) = app.checkout(cart(&[("mug-enamel", 1)]), &[]).await;
    assert_eq!(status, 201, "{held}");
    let session = held["checkout_session_id"].as_str().unwrap();
    let cookie = guest_cookie(&headers);
    app.sandbox.pay(session, card("4000000000000002")).unwrap();
    app.wait_status(session, &cookie, "failed").await;
    let open = |app: &TestApp| {
        let store = app.store.clone();
        async move {
            store
                .alerts_page(true, None)
                .await
                .unwrap()
                .into_iter()
                .filter(|a| a.kind == AlertKind::PaymentFailed)
                .count()
        }
    };
    assert_eq!(open(&app).await, 1, "the decline is an alert to look at");

    app.sandbox.pay(session, card("4242424242424242")).unwrap();
    app.wait_status(session, &cookie, "paid").await;
    assert_eq!(open(&app).await, 0, "paid after all: nothing to look at");
    let history = app.store.alerts_page(false, None).await.unwrap();
    let resolved = history
        .iter()
        .find(|a| a.kind == AlertKind::PaymentFailed)
        .expect("still in the history");
    assert_eq!(
        resolved.acknowledged_by.as_deref(),
        Some("system:fulfilment")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_customer_short_of_stock_reads_the_products_name() {
    let app = TestApp::spawn().await;
    let (status, body, _) = app.checkout(cart(&[("poster-a2", 2)]), &[]).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_stock");
    assert_eq!(
        body["error"]["message"],
        "only 1 of Signed A2 poster left (asked for 2)"
    );
    assert_eq!(
        body["error"]["product_id"], "poster-a2",
        "the id stays in the details: {body}"
    );
    app.stop().await;
}
