//! Shipping at checkout, through the real sandbox: with `CAISSE_SHIPPING_COUNTRIES` the session
//! collects an address in those countries and offers the catalog's rate; the sandbox's page
//! refuses another country and a missing address; the order records the address, phone, rate
//! and subtotal / shipping / total; a cart of products that need no parcel asks for nothing; and
//! a session whose figures do not add up makes an order that needs attention.

use caisse_sandbox::shipping::Entered;
use caisse_sandbox::{Method, Outcome};
use caisse_shop::catalog::{self, Format, Stock};
use caisse_shop::config;
use serde_json::json;

use crate::support::{event, guest_cookie, scalar, wait_for, TestApp, LOOSE};

async fn shipping_app() -> TestApp {
    let mut extra = LOOSE.to_vec();
    extra.extend_from_slice(&[
        (config::SHIPPING_COUNTRIES, "FR,be"),
        (config::COLLECT_PHONE, "true"),
    ]);
    TestApp::spawn_with(&extra).await
}

fn address(country: &str) -> Entered {
    Entered {
        shipping_name: "Camille Martin".into(),
        shipping_line1: "12 rue de la Paix".into(),
        shipping_postal_code: "75002".into(),
        shipping_city: "Paris".into(),
        shipping_country: country.into(),
        phone: "+33 6 12 34 56 78".into(),
        ..Entered::default()
    }
}

async fn open_checkout(app: &TestApp, product: &str) -> String {
    open_checkout_as_guest(app, product).await.0
}

/// The session and the guest cookie that created it.
async fn open_checkout_as_guest(app: &TestApp, product: &str) -> (String, String) {
    let (status, body, headers) = app
        .checkout(
            json!({"items": [{"product_id": product, "quantity": 1}], "email": "camille@example.com"}),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{body}");
    (
        body["checkout_session_id"].as_str().unwrap().to_string(),
        guest_cookie(&headers),
    )
}

#[derive(sqlx::FromRow, Debug)]
struct OrderRow {
    status: String,
    amount_total: i64,
    amount_subtotal: Option<i64>,
    amount_shipping: i64,
    customer_name: Option<String>,
    phone: Option<String>,
    shipping_line1: Option<String>,
    shipping_city: Option<String>,
    shipping_country: Option<String>,
    shipping_rate_id: Option<String>,
    shipping_rate_name: Option<String>,
    payment: i64,
}

async fn the_order(app: &TestApp) -> OrderRow {
    let sql = "SELECT o.status, o.amount_total, o.amount_subtotal, o.amount_shipping, \
               o.customer_name, o.phone, o.shipping_line1, o.shipping_city, o.shipping_country, \
               o.shipping_rate_id, o.shipping_rate_name, p.amount AS payment \
               FROM orders o JOIN payments p ON p.order_id = o.id";
    wait_for(20, "the order with its address", || async {
        let row: Option<OrderRow> = match &app.store {
            caisse_shop::store::Store::Sqlite(pool, _) => {
                sqlx::query_as(sql).fetch_optional(pool).await.unwrap()
            }
            caisse_shop::store::Store::Postgres(pool) => {
                sqlx::query_as(sql).fetch_optional(pool).await.unwrap()
            }
        };
        // Both events of the payment have been applied once the address is there.
        row.filter(|r| r.shipping_city.is_some())
    })
    .await
}

#[tokio::test]
async fn a_checkout_collects_an_address_in_the_allowed_countries_and_charges_the_rate() {
    let app = shipping_app().await;
    let (session_id, cookie) = open_checkout_as_guest(&app, "mug-enamel").await;

    let session = app
        .stripe_get(&format!("/v1/checkout/sessions/{session_id}"))
        .await;
    assert_eq!(
        session["shipping_address_collection"]["allowed_countries"],
        json!(["FR", "BE"])
    );
    assert_eq!(session["phone_number_collection"]["enabled"], true);
    let options = session["shipping_options"].as_array().unwrap();
    assert_eq!(options.len(), 1, "{session}");
    assert_eq!(options[0]["shipping_amount"], 490);
    let rate = options[0]["shipping_rate"].as_str().unwrap().to_string();
    assert!(rate.starts_with("shr_"), "{rate}");
    assert_eq!(session["amount_subtotal"], 1200);

    // The page refuses a country outside the list, and a missing address.
    let card = || Method::Card("4242424242424242".into());
    let germany = app.sandbox.pay_with(&session_id, card(), &address("DE"));
    assert_eq!(
        germany.unwrap_err().code,
        Some("shipping_country_not_allowed")
    );
    let nothing = app
        .sandbox
        .pay_with(&session_id, card(), &Entered::default());
    assert_eq!(
        nothing.unwrap_err().code,
        Some("shipping_address_incomplete")
    );
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM orders").await, 0);

    let mut france = address("FR");
    france.shipping_rate = rate;
    let paid = app.sandbox.pay_with(&session_id, card(), &france).unwrap();
    assert!(matches!(paid, Outcome::Paid { .. }), "{paid:?}");

    let order = the_order(&app).await;
    assert_eq!(order.status, "paid", "{order:?}");
    assert_eq!(order.amount_subtotal, Some(1200));
    assert_eq!(order.amount_shipping, 490);
    assert_eq!(order.amount_total, 1690);
    assert_eq!(order.payment, 1690);
    assert_eq!(order.customer_name.as_deref(), Some("Camille Martin"));
    assert_eq!(order.phone.as_deref(), Some("+33 6 12 34 56 78"));
    assert_eq!(order.shipping_line1.as_deref(), Some("12 rue de la Paix"));
    assert_eq!(order.shipping_city.as_deref(), Some("Paris"));
    assert_eq!(order.shipping_country.as_deref(), Some("FR"));
    assert_eq!(order.shipping_rate_id.as_deref(), Some("standard"));
    assert_eq!(order.shipping_rate_name.as_deref(), Some("Colissimo"));
    // The success page's shipping line (the OpenAPI test checks the shape of this answer).
    let status = app.wait_status(&session_id, &cookie, "paid").await;
    assert_eq!(
        status["shipping"],
        json!({"rate": "Colissimo", "amount": 490, "currency": "eur",
               "address": ["Camille Martin", "12 rue de la Paix", "75002 Paris", "FR"]})
    );
    app.stop().await;
}

#[tokio::test]
async fn a_cart_above_the_free_threshold_ships_free() {
    let app = shipping_app().await;
    let (status, body, _) = app
        .checkout(
            json!({"items": [{"product_id": "tee-classic", "quantity": 2}]}),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["checkout_session_id"].as_str().unwrap();
    let session = app.stripe_get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(session["shipping_options"][0]["shipping_amount"], 0);
    assert_eq!(session["amount_total"], 5000);
    app.stop().await;
}

#[tokio::test]
async fn a_cart_of_products_that_need_no_parcel_asks_for_no_address() {
    let app = shipping_app().await;
    let file = r#"{"products": [{"id": "gift-card", "name": "Gift card", "unit_amount": 3000,
        "currency": "eur", "stock_on_hand": 100, "shipping": false}]}"#;
    let parsed = catalog::parse(file, Format::Json).unwrap();
    catalog::import(&app.store, &parsed, Stock::Set, "cli:test", 1)
        .await
        .unwrap();
    let session_id = open_checkout(&app, "gift-card").await;
    let session = app
        .stripe_get(&format!("/v1/checkout/sessions/{session_id}"))
        .await;
    assert_eq!(session["shipping_address_collection"], json!(null));
    assert_eq!(session["shipping_options"], json!([]));
    // Without an address, a phone number is all the page needs.
    let entered = Entered {
        phone: "+32 470 12 34 56".into(),
        ..Entered::default()
    };
    let paid = app
        .sandbox
        .pay_with(
            &session_id,
            Method::Card("4242424242424242".into()),
            &entered,
        )
        .unwrap();
    assert!(matches!(paid, Outcome::Paid { .. }));
    wait_for(20, "the gift card's order", || async {
        let n = scalar(
            &app.store,
            "SELECT COUNT(*) FROM orders WHERE status = 'paid' AND amount_total = 3000 \
             AND amount_shipping = 0 AND phone = '+32 470 12 34 56'",
        )
        .await;
        (n == 1).then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_session_whose_total_is_not_subtotal_plus_shipping_needs_attention() {
    let app = shipping_app().await;
    let session_id = open_checkout(&app, "mug-enamel").await;
    let hold: String = wait_for(5, "the hold", || async {
        app.store
            .hold_by_session(&session_id)
            .await
            .unwrap()
            .map(|h| h.id)
    })
    .await;
    let session = app
        .stripe_get(&format!("/v1/checkout/sessions/{session_id}"))
        .await;
    let rate = session["shipping_options"][0]["shipping_rate"].clone();
    // Shipping 490 on a subtotal of 1200, but 1790 collected: the figures do not add up.
    let completed = event(
        "checkout.session.completed",
        json!({
            "id": session_id, "object": "checkout.session", "status": "complete",
            "payment_status": "paid", "payment_intent": "pi_forged_total",
            "amount_subtotal": 1200, "amount_total": 1790, "currency": "eur",
            "metadata": {"hold_id": hold},
            "shipping_cost": {"amount_total": 490, "shipping_rate": rate},
            "shipping_options": [{"shipping_amount": 490, "shipping_rate": rate}],
            "total_details": {"amount_shipping": 490},
            "shipping_details": {"name": "Camille Martin", "address": {"line1": "1 rue", "postal_code": "75001", "city": "Paris", "country": "FR"}},
        }),
    );
    let (status, _) = app.deliver(&completed).await;
    assert_eq!(status, 200);
    let attention = scalar(
        &app.store,
        "SELECT COUNT(*) FROM orders WHERE status = 'needs_attention' \
         AND attention_reason = 'amount_mismatch' AND shipping_city = 'Paris'",
    )
    .await;
    assert_eq!(attention, 1);
    let alerts = scalar(
        &app.store,
        "SELECT COUNT(*) FROM alerts WHERE kind = 'amount_mismatch'",
    )
    .await;
    assert_eq!(alerts, 1);
    app.stop().await;
}
