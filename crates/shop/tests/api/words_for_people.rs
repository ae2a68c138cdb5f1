//! Words for people: a customer short of stock reads the product's name, not its id; a
//! `payment_failed` alert resolves itself when the customer pays the same checkout after all
//! (another card on the same page): it leaves the alerts to look at and stays in the history;
//! audit sentences and dashboard pages write times as dates in the shop's time zone.

use caisse_shop::config;
use caisse_shop::domain::status::AlertKind;

use crate::admin::{sign_in, PASSWORD};
use crate::support::{cart, guest_cookie, scalar, TestApp, LOOSE};

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

/// A product whose last units are only held is not sold out: the catalog says how many are held
/// and until when at the latest, for the storefront's "back within N min".
#[tokio::test]
async fn the_catalog_tells_held_from_sold_out() {
    let app = TestApp::spawn().await;
    let (status, held, _) = app.checkout(cart(&[("poster-a2", 1)]), &[]).await;
    assert_eq!(status, 201, "{held}");
    let expires: i64 = scalar(&app.store, "SELECT expires_at FROM holds").await;
    let (_, catalog) = app.get_json("/api/products").await;
    let poster = catalog["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "poster-a2")
        .unwrap()
        .clone();
    assert_eq!(
        (&poster["available"], &poster["held"], &poster["held_until"]),
        (
            &serde_json::json!(0),
            &serde_json::json!(1),
            &serde_json::json!(expires)
        ),
        "{poster}"
    );
    let mug = catalog["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "mug-enamel")
        .unwrap()
        .clone();
    assert_eq!(
        (&mug["held"], &mug["held_until"]),
        (&serde_json::json!(0), &serde_json::Value::Null)
    );
    app.stop().await;
}

/// Asia/Tokyo has kept +09:00 without summer time since 1951, so the expected date is worked
/// out here without a time-zone library: the UTC date nine hours later, with `JST`.
/// The sentence says the expiry the hold was created with (its `after`); the holds page shows the
/// one the Checkout Session was then given (a minute later: Stripe's margin), as the answer does.
#[tokio::test]
async fn a_new_hold_s_audit_sentence_and_the_holds_page_read_dates_in_the_shop_s_zone() {
    let hash = caisse_shop::admin::hash_password(PASSWORD).unwrap();
    let mut extra = LOOSE.to_vec();
    extra.push((config::ADMIN_PASSWORD_HASH, &hash));
    extra.push((config::TIME_ZONE, "Asia/Tokyo"));
    let app = TestApp::spawn_with(&extra).await;
    let (status, held, _) = app.checkout(cart(&[("mug-enamel", 1)]), &[]).await;
    assert_eq!(status, 201, "{held}");
    let hold_id = held["hold_id"].as_str().unwrap();
    let trail = app
        .store
        .audit_log(Some(("hold", hold_id)), 10)
        .await
        .unwrap();
    let after: serde_json::Value =
        serde_json::from_str(trail[0].after.as_deref().unwrap()).unwrap();
    let expires_at = after["expires_at"].as_i64().unwrap();
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    let tokyo = |t: i64| {
        let local = time::OffsetDateTime::from_unix_timestamp(t + 9 * 3600).unwrap();
        format!("{} JST", local.format(format).unwrap())
    };
    let expected = tokyo(expires_at);
    assert_eq!(trail[0].action, "hold.created");
    assert!(
        trail[0]
            .message
            .ends_with(&format!("expires at {expected}")),
        "{} (expected {expected})",
        trail[0].message
    );
    assert!(!trail[0].message.contains(&expires_at.to_string()));

    let (cookie, _) = sign_in(&app).await;
    let session_expiry = tokyo(held["expires_at"].as_i64().unwrap());
    for (page, expected) in [
        ("/admin/holds", &session_expiry),
        ("/admin/audit", &expected),
    ] {
        let html = app
            .http
            .get(app.url(page))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains(expected.as_str()), "{page} shows {expected}");
        assert!(!html.contains(" UTC<"), "{page} shows a UTC time");
    }
    app.stop().await;
}
