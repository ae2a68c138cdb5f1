//! Disputes and failed refunds reach the operators, through the real sandbox: the dispute test
//! card pays, then its dispute marks the order disputed with a critical `dispute_opened` alert;
//! closing it lost records it with a `dispute_lost` alert; a refund the sandbox fails lowers the
//! recorded refund back (once, though Stripe sends two events for it) with a `refund_failed`
//! alert; a refund Stripe confirms sends the customer one refund email.

use caisse_sandbox::Method;
use serde_json::{json, Value};

use crate::support::{scalar, wait_for, TestApp, LOOSE, SECRET_KEY};

/// Pays for a mug with `card`; returns the order's PaymentIntent.
async fn buy(app: &TestApp, card: &str) -> String {
    let (status, body, _) = app
        .checkout(
            json!({"items": [{"product_id": "mug-enamel", "quantity": 1}], "email": "ada@example.com"}),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let session = body["checkout_session_id"].as_str().unwrap();
    app.sandbox.pay(session, Method::Card(card.into())).unwrap();
    wait_for(20, "the order", || async {
        let pi = app
            .store
            .hold_by_session(session)
            .await
            .unwrap()
            .and_then(|h| h.payment_intent_id)?;
        app.store.payment_by_intent(&pi).await.unwrap().map(|_| pi)
    })
    .await
}

async fn control(app: &TestApp, path: &str, body: Value) -> Value {
    let r = app
        .http
        .post(format!("{}{path}", app.sandbox.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    scalar(&app.store, sql).await
}

/// The order's dashboard page, for the signed-in `cookie`.
async fn order_page(app: &TestApp, cookie: &str) -> String {
    let page = crate::operators::get(app, "/admin/orders/1", cookie).await;
    page.text().await.unwrap()
}

/// The dashboard's refund of `amount` ("" for all that is left) of order #1 with the form's
/// `token`, for a duplicate.
async fn refund_form(
    app: &TestApp,
    (cookie, csrf): (&str, &str),
    token: &str,
    amount: &str,
) -> reqwest::Response {
    let fields = [
        ("csrf", csrf),
        ("token", token),
        ("amount", amount),
        ("reason", "duplicate"),
    ];
    crate::admin::post_form(app, "/admin/orders/1/refund", cookie, &fields).await
}

#[tokio::test]
async fn a_disputed_payment_alerts_the_operators_and_a_lost_dispute_is_recorded() {
    use crate::admin::{sign_in, with_dashboard};
    let app = with_dashboard().await;
    let pi = buy(&app, "4000 0000 0000 0259").await;
    // Stripe opens the dispute a moment after the payment.
    app.sandbox.advance_clock(3);
    wait_for(20, "the dispute_opened alert", || async {
        let n = count(
            &app,
            "SELECT COUNT(*) FROM alerts WHERE kind = 'dispute_opened' AND severity = 'critical' \
             AND message LIKE '%fraudulent%' AND message LIKE '%evidence is due by%'",
        )
        .await;
        (n == 1).then_some(())
    })
    .await;
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM orders WHERE dispute = 'open'").await,
        1
    );
    let events = app
        .stripe_get("/v1/events?type=charge.dispute.created&limit=10")
        .await;
    let dispute = &events["data"][0]["data"]["object"];
    assert_eq!(dispute["payment_intent"], pi.as_str());
    let id = dispute["id"].as_str().unwrap();

    // The operators see it on the order, and are offered no refund Stripe would refuse.
    let (cookie, csrf) = sign_in(&app).await;
    let page = order_page(&app, &cookie).await;
    assert!(
        page.contains("data-testid=\"dispute\">dispute open"),
        "{page}"
    );
    assert!(!page.contains("data-testid=\"refund-form\""), "{page}");
    assert!(page.contains("data-testid=\"refund-disputed\""), "{page}");
    let order_id = app
        .store
        .payment_by_intent(&pi)
        .await
        .unwrap()
        .unwrap()
        .order_id;
    let token = caisse_shop::admin::refund_form_token(&csrf, &order_id);
    let refused = refund_form(&app, (&cookie, &csrf), &token, "").await;
    assert_eq!(refused.status(), 422);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("the payment is disputed"));
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM stripe_requests WHERE path = '/v1/refunds'"
        )
        .await,
        0,
        "nothing asked of Stripe"
    );

    control(
        &app,
        &format!("/_sandbox/disputes/{id}/close"),
        json!({"outcome": "lost"}),
    )
    .await;
    wait_for(20, "the lost dispute", || async {
        let n = count(&app, "SELECT COUNT(*) FROM orders WHERE dispute = 'lost'").await;
        (n == 1).then_some(())
    })
    .await;
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM alerts WHERE kind = 'dispute_lost'"
        )
        .await,
        1
    );
    // Charged back: the page says so, the goods do not ship, the accounts show it.
    let page = order_page(&app, &cookie).await;
    assert!(page.contains("dispute lost"), "{page}");
    assert!(!page.contains("data-testid=\"ship-form\""), "{page}");
    let shipment = caisse_shop::orders::Shipment {
        carrier: "Colissimo",
        tracking_code: "6A1",
        tracking_url: None,
    };
    let shipped = caisse_shop::orders::ship(&app.store, 1, &shipment, true, "cli:test", 0).await;
    assert!(
        matches!(
            shipped,
            Err(caisse_shop::orders::FulfilmentError::ChargedBack(1))
        ),
        "{shipped:?}"
    );
    let csv = crate::operators::get(&app, "/admin/orders.csv", &cookie).await;
    let csv = csv.text().await.unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().ends_with(",\"dispute\""), "{csv}");
    assert!(lines.next().unwrap().ends_with(",\"lost\""), "{csv}");
    app.stop().await;
}

/// A refund of `amount` at the sandbox, as the Stripe API takes it; returns its id.
async fn refund(app: &TestApp, pi: &str, amount: &str, key: &str) -> String {
    let r: Value = app
        .http
        .post(format!("{}/v1/refunds", app.sandbox.url()))
        .bearer_auth(SECRET_KEY)
        .header("idempotency-key", key)
        .form(&[("payment_intent", pi), ("amount", amount)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_refund_stripe_confirms_sends_one_refund_email() {
    let smtp = caisse_sandbox::smtp::SmtpServer::start().await.unwrap();
    let url = smtp.url();
    let mut extra = LOOSE.to_vec();
    extra.extend_from_slice(&[
        (caisse_shop::config::MAIL, "on"),
        (caisse_shop::config::SMTP_URL, url.as_str()),
        (caisse_shop::config::MAIL_FROM, "Shop <orders@shop.example>"),
        (caisse_shop::config::MAIL_LANG, "en"),
    ]);
    let app = TestApp::spawn_with(&extra).await;
    let pi = buy(&app, "4242424242424242").await;
    refund(&app, &pi, "300", "r1").await;
    wait_for(20, "the refund email, marked sent", || async {
        let sent = count(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'refund_notice' AND status = 'sent'",
        )
        .await;
        (sent == 1).then_some(())
    })
    .await;
    let lease = app.app.config.mail.lease.as_secs() as i64;
    caisse_shop::outbox::run_once(&app.app, caisse_shop::store::unix_now() + lease + 1)
        .await
        .unwrap();
    let refunds: Vec<_> = smtp
        .mails()
        .into_iter()
        .filter(|m| m.data.contains("Subject: Order #1 refunded"))
        .collect();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].to, ["ada@example.com"]);
    app.stop().await;
}

#[tokio::test]
async fn a_refund_stripe_fails_is_taken_off_the_refunded_amount_once() {
    let app = TestApp::spawn().await;
    let pi = buy(&app, "4242424242424242").await;
    let mut refunds = Vec::new();
    for key in ["r1", "r2"] {
        refunds.push(refund(&app, &pi, "300", key).await);
    }
    let refunded = format!("SELECT amount_refunded FROM payments WHERE payment_intent_id = '{pi}'");
    wait_for(20, "both refunds recorded", || async {
        (count(&app, &refunded).await == 600).then_some(())
    })
    .await;

    control(
        &app,
        &format!("/_sandbox/refunds/{}/fail", refunds[0]),
        json!({}),
    )
    .await;
    wait_for(20, "the refund_failed alert", || async {
        let n = count(
            &app,
            "SELECT COUNT(*) FROM alerts WHERE kind = 'refund_failed'",
        )
        .await;
        (n == 1).then_some(())
    })
    .await;
    // Both events of the failure (and their duplicates) have had time to arrive: lowered once.
    wait_for(20, "both failure events applied", || async {
        let n = count(
            &app,
            "SELECT COUNT(*) FROM webhook_events WHERE type IN ('refund.failed', 'charge.refund.updated') \
             AND status IN ('processed', 'ignored')",
        )
        .await;
        (n == 2).then_some(())
    })
    .await;
    assert_eq!(count(&app, &refunded).await, 300);

    // A charge.refunded Stripe wrote before the failure, delivered only now, still counts the
    // failed refund: it does not raise the amount back.
    let charge = app
        .stripe_get(&format!("/v1/charges?payment_intent={pi}"))
        .await["data"][0]
        .clone();
    let mut stale = crate::support::event("charge.refunded", {
        let mut c = charge.clone();
        c["amount_refunded"] = json!(600);
        c
    });
    stale["created"] = json!(caisse_shop::store::unix_now() - 60);
    let (status, answer) = app.deliver(&stale).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(count(&app, &refunded).await, 300);
    // A later refund (a second later at Stripe: one in the failure's own second counts as
    // before it) is recorded as usual.
    app.sandbox.advance_clock(2);
    refund(&app, &pi, "100", "r3").await;
    wait_for(20, "the later refund", || async {
        (count(&app, &refunded).await == 400).then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_dashboard_refund_is_confirmed_with_stripe_s_reason_before_it_is_sent() {
    use crate::admin::{field, post_form, sign_in, with_dashboard};
    let app = with_dashboard().await;
    buy(&app, "4242424242424242").await;
    let (cookie, csrf) = sign_in(&app).await;
    let page = order_page(&app, &cookie).await;
    assert!(page.contains("/admin/orders/1/refund/confirm"), "{page}");
    let token = field(&page, "token");
    let confirm = post_form(
        &app,
        "/admin/orders/1/refund/confirm",
        &cookie,
        &[("csrf", &csrf), ("token", &token), ("amount", "5")],
    )
    .await;
    assert_eq!(confirm.status(), 200);
    let html = confirm.text().await.unwrap();
    assert!(html.contains("5.00"), "{html}");
    assert!(html.contains("value=\"fraudulent\""), "{html}");
    // The confirmation refuses what the refund would: more than was paid, or nothing.
    for (amount, refusal) in [
        ("500.01", "at most"),
        ("0", "more than zero"),
        ("abc", "is not an amount"),
    ] {
        let r = post_form(
            &app,
            "/admin/orders/1/refund/confirm",
            &cookie,
            &[("csrf", &csrf), ("token", &token), ("amount", amount)],
        )
        .await;
        assert_eq!(r.status(), 422, "{amount}");
        let words = r.text().await.unwrap();
        assert!(words.contains(refusal), "{amount}: {words}");
        assert!(!words.contains("cannot be undone"), "{amount}: {words}");
    }
    // Nothing was sent to Stripe yet.
    let none = app.stripe_get("/v1/events?type=refund.created").await;
    assert_eq!(none["data"], json!([]));

    let path = "/admin/orders/1/refund";
    let odd = [
        ("csrf", csrf.as_str()),
        ("token", token.as_str()),
        ("amount", "5"),
        ("reason", "whim"),
    ];
    assert_eq!(post_form(&app, path, &cookie, &odd).await.status(), 422);
    let fields = [
        ("csrf", csrf.as_str()),
        ("token", token.as_str()),
        ("amount", "5"),
        ("reason", "duplicate"),
    ];
    assert_eq!(post_form(&app, path, &cookie, &fields).await.status(), 303);
    let sent = app.stripe_get("/v1/events?type=refund.created").await;
    assert_eq!(
        sent["data"][0]["data"]["object"]["reason"], "duplicate",
        "{sent}"
    );
    assert_eq!(sent["data"][0]["data"]["object"]["amount"], 500);

    // A refund Stripe refuses is in the audit trail too: who asked, how much, Stripe's words.
    let page = order_page(&app, &cookie).await;
    let token = field(&page, "token");
    app.sandbox.fail_next(1, 400);
    let refused = refund_form(&app, (&cookie, &csrf), &token, "1").await;
    assert_eq!(refused.status(), 502);
    let audited = count(
        &app,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'refund.refused' AND actor = 'admin' \
         AND message LIKE 'Refund of 1.00 EUR for order #1 refused by Stripe: %told to fail%'",
    )
    .await;
    assert_eq!(audited, 1);
    app.stop().await;
}
