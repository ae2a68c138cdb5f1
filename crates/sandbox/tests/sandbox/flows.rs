//! Each way a customer can pay, and the exact signed events it produces.

use caisse_sandbox::{Method, Outcome, IBAN_FAILS, IBAN_SUCCEEDS};
use serde_json::Value;

use crate::support::{client, session_params, with_receiver};

fn by_type<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

#[tokio::test]
async fn a_card_that_pays() {
    let (sandbox, receiver) = with_receiver().await;
    let session = client(&sandbox)
        .create_checkout_session(&session_params(), "c1")
        .await
        .unwrap();
    let outcome = sandbox
        .pay(&session.id, Method::Card("4242 4242 4242 4242".into()))
        .unwrap();
    let Outcome::Paid {
        redirect,
        payment_intent,
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        redirect,
        format!("https://shop.test/ok?session_id={}", session.id)
    );
    let types = receiver.wait_for(4).await;
    assert_eq!(
        types,
        vec![
            "payment_intent.created",
            "charge.succeeded",
            "payment_intent.succeeded",
            "checkout.session.completed"
        ]
    );
    let events = receiver.events();
    let pi = &by_type(&events, "payment_intent.succeeded")["data"]["object"];
    assert_eq!(
        (
            pi["id"].as_str(),
            pi["amount"].as_i64(),
            pi["metadata"]["hold_id"].as_str()
        ),
        (Some(payment_intent.as_str()), Some(3000), Some("hold_1"))
    );
    let cs = &by_type(&events, "checkout.session.completed")["data"]["object"];
    assert_eq!(
        (cs["payment_status"].as_str(), cs["status"].as_str()),
        (Some("paid"), Some("complete"))
    );
    assert_eq!(cs["payment_intent"].as_str(), Some(payment_intent.as_str()));
    assert_eq!(cs["metadata"]["hold_id"], "hold_1");
    for e in &events {
        assert_eq!(e["object"], "event");
        assert!(e["id"].as_str().unwrap().starts_with("evt_"));
        assert_eq!(e["livemode"], false);
        assert!(
            e["created"].is_i64() && e["api_version"].is_string() && e["pending_webhooks"].is_i64()
        );
    }
    // A paid session cannot be paid again.
    assert!(sandbox
        .pay(&session.id, Method::Card("4242424242424242".into()))
        .is_err());
}

#[tokio::test]
async fn a_declined_card_then_a_good_one_on_the_same_session() {
    let (sandbox, receiver) = with_receiver().await;
    let session = client(&sandbox)
        .create_checkout_session(&session_params(), "c2")
        .await
        .unwrap();
    let declined = sandbox
        .pay(&session.id, Method::Card("4000000000000002".into()))
        .unwrap();
    assert!(
        matches!(
            declined,
            Outcome::Declined {
                code: "generic_decline",
                ..
            }
        ),
        "{declined:?}"
    );
    assert_eq!(
        sandbox.session(&session.id).unwrap()["status"],
        "open",
        "a decline leaves the session open"
    );
    let funds = sandbox
        .pay(&session.id, Method::Card("4000000000009995".into()))
        .unwrap();
    assert!(
        matches!(
            funds,
            Outcome::Declined {
                code: "insufficient_funds",
                ..
            }
        ),
        "{funds:?}"
    );
    sandbox
        .pay(&session.id, Method::Card("4242424242424242".into()))
        .unwrap();
    let types = receiver.wait_for(8).await;
    assert_eq!(
        types,
        vec![
            "payment_intent.created",
            "charge.failed",
            "payment_intent.payment_failed",
            "charge.failed",
            "payment_intent.payment_failed",
            "charge.succeeded",
            "payment_intent.succeeded",
            "checkout.session.completed"
        ]
    );
    let events = receiver.events();
    let failed = &by_type(&events, "payment_intent.payment_failed")["data"]["object"];
    assert_eq!(
        failed["last_payment_error"]["decline_code"],
        "generic_decline"
    );
    let pi_ids: std::collections::HashSet<&str> = events
        .iter()
        .filter(|e| e["data"]["object"]["object"] == "payment_intent")
        .map(|e| e["data"]["object"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(pi_ids.len(), 1, "one PaymentIntent across retries");
}

#[tokio::test]
async fn a_delayed_method_that_settles_and_one_that_fails() {
    let (sandbox, receiver) = with_receiver().await;
    let stripe = client(&sandbox);
    let good = stripe
        .create_checkout_session(&session_params(), "d1")
        .await
        .unwrap();
    let outcome = sandbox
        .pay(&good.id, Method::Iban(IBAN_SUCCEEDS.into()))
        .unwrap();
    assert!(matches!(outcome, Outcome::Processing { .. }));
    assert_eq!(
        receiver.wait_for(4).await,
        vec![
            "payment_intent.created",
            "charge.pending",
            "payment_intent.processing",
            "checkout.session.completed"
        ]
    );
    assert_eq!(
        by_type(&receiver.events(), "checkout.session.completed")["data"]["object"]
            ["payment_status"],
        "unpaid"
    );
    sandbox.advance_clock(10);
    let types = receiver.wait_for(7).await;
    assert_eq!(
        &types[4..],
        [
            "charge.succeeded",
            "payment_intent.succeeded",
            "checkout.session.async_payment_succeeded"
        ]
    );
    assert_eq!(
        by_type(
            &receiver.events(),
            "checkout.session.async_payment_succeeded"
        )["data"]["object"]["payment_status"],
        "paid"
    );

    let bad = stripe
        .create_checkout_session(&session_params(), "d2")
        .await
        .unwrap();
    sandbox
        .pay(&bad.id, Method::Iban(IBAN_FAILS.into()))
        .unwrap();
    receiver.wait_for(11).await;
    sandbox.advance_clock(10);
    let types = receiver.wait_for(14).await;
    assert_eq!(
        &types[7..],
        [
            "payment_intent.created",
            "charge.pending",
            "payment_intent.processing",
            "checkout.session.completed",
            "charge.failed",
            "payment_intent.payment_failed",
            "checkout.session.async_payment_failed"
        ]
    );
}

#[tokio::test]
async fn a_session_left_alone_expires_at_its_time() {
    let (sandbox, receiver) = with_receiver().await;
    let stripe = client(&sandbox);
    let session = stripe
        .create_checkout_session(
            &session_params().with("expires_at", sandbox.now() + 1830),
            "x1",
        )
        .await
        .unwrap();
    // Declined once, so its PaymentIntent exists and is canceled with it.
    sandbox
        .pay(&session.id, Method::Card("4000000000000002".into()))
        .unwrap();
    receiver.wait_for(3).await;
    // Up to a few seconds before its expiry (real seconds pass while the test runs)…
    sandbox.advance_clock(session.expires_at.unwrap() - sandbox.now() - 5);
    assert_eq!(
        stripe
            .retrieve_checkout_session(&session.id)
            .await
            .unwrap()
            .status
            .as_deref(),
        Some("open")
    );
    // …then past it.
    sandbox.advance_clock(5);
    let types = receiver.wait_for(5).await;
    assert_eq!(
        &types[3..],
        ["payment_intent.canceled", "checkout.session.expired"]
    );
    assert!(stripe
        .retrieve_checkout_session(&session.id)
        .await
        .unwrap()
        .is_expired());
    assert!(sandbox
        .pay(&session.id, Method::Card("4242424242424242".into()))
        .is_err());
}

#[tokio::test]
async fn the_hosted_page_takes_a_card_and_redirects() {
    let (sandbox, receiver) = with_receiver().await;
    let session = client(&sandbox)
        .create_checkout_session(&session_params(), "h1")
        .await
        .unwrap();
    let url = session.url.unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("30.00 EUR") && page.contains("2 × Mug"),
        "{page}"
    );

    let declined = http
        .post(&url)
        .form(&[("card", "4000000000000002")])
        .send()
        .await
        .unwrap();
    assert_eq!(declined.status(), 200);
    assert!(declined
        .text()
        .await
        .unwrap()
        .contains("Your card was declined."));

    let paid = http
        .post(&url)
        .form(&[("card", "4242424242424242")])
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 303);
    assert_eq!(
        paid.headers()["location"],
        format!("https://shop.test/ok?session_id={}", session.id).as_str()
    );
    assert_eq!(http.get(&url).send().await.unwrap().status(), 410);
    assert_eq!(
        receiver.wait_for(4).await.last().map(String::as_str),
        Some("checkout.session.completed")
    );
}

#[tokio::test]
async fn the_hosted_page_escapes_what_the_merchant_sent() {
    let (sandbox, _) = with_receiver().await;
    let form = session_params()
        .with(
            "line_items[0][price_data][product_data][name]",
            "<script>alert(1)</script>",
        )
        .with("cancel_url", "https://shop.test/\"><img src=x>");
    let session = client(&sandbox)
        .create_checkout_session(&form, "xss")
        .await
        .unwrap();
    let page = reqwest::get(session.url.unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("<script>alert") && page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("\"><img"), "{page}");
}

#[tokio::test]
async fn customer_details_appear_once_the_session_completes() {
    let (sandbox, receiver) = with_receiver().await;
    let stripe = client(&sandbox);
    let session = stripe
        .create_checkout_session(
            &session_params().with("customer_email", "ada@example.com"),
            "cd1",
        )
        .await
        .unwrap();
    let open = sandbox.session(&session.id).unwrap();
    assert!(open["customer_details"].is_null(), "{open}");
    sandbox
        .pay(&session.id, Method::Card("4242424242424242".into()))
        .unwrap();
    let done = sandbox.session(&session.id).unwrap();
    assert_eq!(done["customer_details"]["email"], "ada@example.com");
    assert!(done["customer_details"]["name"].is_null());
    // And in the event caisse reads it from.
    receiver.wait_for(3).await;
    let completed = receiver
        .got
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.event["type"] == "checkout.session.completed")
        .map(|r| r.event.clone())
        .unwrap();
    assert_eq!(
        completed["data"]["object"]["customer_details"]["email"],
        "ada@example.com"
    );
}

#[tokio::test]
async fn a_3d_secure_card_goes_through_the_page_s_challenge() {
    let (sandbox, receiver) = with_receiver().await;
    let session = client(&sandbox)
        .create_checkout_session(&session_params(), "3ds")
        .await
        .unwrap();
    let url = session.url.unwrap();
    let challenge = format!("{url}/authenticate");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"name="email""#), "{page}");

    let asked = http
        .post(&url)
        .form(&[("card", "4000 0027 6000 3184"), ("email", "bo@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 303);
    assert_eq!(asked.headers()["location"], challenge.as_str());
    let page = http
        .get(&challenge)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Complete authentication"), "{page}");
    // Another card while the bank waits is refused; failing the challenge keeps the session open.
    let other = http
        .post(&url)
        .form(&[("card", "4242424242424242")])
        .send()
        .await
        .unwrap();
    assert!(other.text().await.unwrap().contains("3-D Secure"));
    let failed = http
        .post(&challenge)
        .form(&[("action", "fail")])
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 200);
    assert!(failed
        .text()
        .await
        .unwrap()
        .contains("failed authentication"));

    http.post(&url)
        .form(&[("card", "4000002760003184"), ("email", "bo@example.com")])
        .send()
        .await
        .unwrap();
    let done = http
        .post(&challenge)
        .form(&[("action", "complete")])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    assert_eq!(
        done.headers()["location"],
        format!("https://shop.test/ok?session_id={}", session.id).as_str()
    );
    let types = receiver.wait_for(7).await;
    assert_eq!(
        types,
        vec![
            "payment_intent.created",
            "payment_intent.requires_action",
            "payment_intent.payment_failed",
            "payment_intent.requires_action",
            "charge.succeeded",
            "payment_intent.succeeded",
            "checkout.session.completed"
        ]
    );
    let completed = sandbox.session(&session.id).unwrap();
    assert_eq!(completed["customer_details"]["email"], "bo@example.com");
}
