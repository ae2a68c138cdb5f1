//! Fulfilment after a paid checkout with an address: "ship" marks the order shipped (audited with
//! who did it) and one shipping email with the tracking code reaches the customer over real SMTP;
//! shipping again is refused in words and sends nothing; "deliver" follows "ship" only.

use caisse_sandbox::shipping::Entered;
use caisse_sandbox::smtp::SmtpServer;
use caisse_shop::config;
use caisse_shop::orders::{self, FulfilmentError, Shipment};
use caisse_shop::store::unix_now;
use serde_json::json;

use caisse_shop::domain::status::OperatorRole;

use crate::admin::{client, post_form, PASSWORD};
use crate::operators::{self, STAFF, STAFF_PW};
use crate::support::{scalar, wait_for, TestApp, LOOSE};

/// Pays for a mug with an address in France; returns the order's number once it has the address.
async fn buy_with_address(app: &TestApp, email: &str) -> i64 {
    let paris = Entered {
        shipping_name: "Ada Lovelace".into(),
        shipping_line1: "12 rue de la Paix".into(),
        shipping_postal_code: "75002".into(),
        shipping_city: "Paris".into(),
        shipping_country: "FR".into(),
        ..Entered::default()
    };
    app.paid_order_with(
        json!({"items": [{"product_id": "mug-enamel", "quantity": 1}], "email": email}),
        &paris,
    )
    .await
}

#[tokio::test]
async fn shipping_an_order_sends_one_email_with_its_tracking_code() {
    let smtp = SmtpServer::start().await.unwrap();
    let url = smtp.url();
    let mut extra = LOOSE.to_vec();
    extra.extend_from_slice(&[
        (config::MAIL, "on"),
        (config::SMTP_URL, url.as_str()),
        (config::MAIL_FROM, "Shop <orders@shop.example>"),
        (config::MAIL_LANG, "en"),
        (config::SHIPPING_COUNTRIES, "FR"),
    ]);
    let app = TestApp::spawn_with(&extra).await;
    let number = buy_with_address(&app, "ada@example.com").await;
    // The confirmation first.
    wait_for(20, "the confirmation", || async {
        (smtp.mails().len() == 1).then_some(())
    })
    .await;

    // Not shipped yet: it cannot be delivered.
    let early = orders::deliver(&app.store, number, "admin:test", unix_now()).await;
    assert!(
        matches!(early, Err(FulfilmentError::NotShipped(_))),
        "{early:?}"
    );

    let shipment = Shipment {
        carrier: "Colissimo",
        tracking_code: "6A123",
        tracking_url: Some("https://www.laposte.fr/outils/suivre-vos-envois?code=6A123"),
    };
    let shipped = orders::ship(&app.store, number, &shipment, true, "admin:ops", unix_now())
        .await
        .unwrap();
    assert_eq!(shipped.tracking_code.as_deref(), Some("6A123"));
    app.app.outbox_wake.notify_one();
    wait_for(20, "the shipping email, marked sent", || async {
        let sent = scalar(
            &app.store,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'shipping_notice' AND status = 'sent'",
        )
        .await;
        (sent == 1).then_some(())
    })
    .await;

    // Twice: refused in words, nothing queued.
    let again = orders::ship(&app.store, number, &shipment, true, "admin:ops", unix_now()).await;
    let err = again.unwrap_err();
    assert!(matches!(err, FulfilmentError::AlreadyShipped { .. }));
    assert!(err.to_string().contains("already shipped"), "{err}");
    let lease = app.app.config.mail.lease.as_secs() as i64;
    let report = caisse_shop::outbox::run_once(&app.app, unix_now() + lease + 1)
        .await
        .unwrap();
    assert_eq!(report.sent, 0);
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'shipping_notice'"
        )
        .await,
        1
    );

    let mails = smtp.mails();
    assert_eq!(mails.len(), 2, "{mails:#?}");
    let notice = &mails[1];
    assert_eq!(notice.to, ["ada@example.com"]);
    assert!(
        notice
            .data
            .contains(&format!("Subject: Order #{number} shipped")),
        "{}",
        notice.data
    );
    assert!(notice.data.contains("6A123"), "{}", notice.data);
    assert!(notice.data.contains("Colissimo"), "{}", notice.data);
    assert!(notice.data.contains("12 rue de la Paix"), "{}", notice.data);
    let who = scalar(
        &app.store,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'order.shipped' AND actor = 'admin:ops'",
    )
    .await;
    assert_eq!(who, 1);

    orders::deliver(&app.store, number, "admin:ops", unix_now())
        .await
        .unwrap();
    let twice = orders::deliver(&app.store, number, "admin:ops", unix_now()).await;
    assert!(matches!(twice, Err(FulfilmentError::AlreadyDelivered(_))));
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM orders WHERE fulfilment = 'delivered' AND carrier = 'Colissimo'"
        )
        .await,
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn ship_refuses_an_unknown_order_and_a_bad_tracking_url() {
    let app = TestApp::spawn().await;
    let shipment = Shipment {
        carrier: "Colissimo",
        tracking_code: "6A123",
        tracking_url: None,
    };
    let none = orders::ship(&app.store, 42, &shipment, true, "admin:ops", unix_now()).await;
    assert!(matches!(none, Err(FulfilmentError::NoOrder(42))));
    let bad = Shipment {
        tracking_url: Some("javascript:alert(1)"),
        ..shipment
    };
    let refused = orders::ship(&app.store, 42, &bad, true, "admin:ops", unix_now()).await;
    assert!(matches!(refused, Err(FulfilmentError::Invalid(_))));
    // A carrier that would read backwards in the shipping email, as a catalog name may not.
    let backwards = Shipment {
        carrier: "\u{202e}omissiloC",
        ..shipment
    };
    let refused = orders::ship(&app.store, 42, &backwards, true, "admin:ops", unix_now()).await;
    assert!(
        matches!(refused, Err(FulfilmentError::Invalid(_))),
        "{refused:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_dashboard_marks_an_order_shipped_once_then_delivered() {
    let hash = caisse_shop::admin::hash_password(PASSWORD).unwrap();
    let mut extra = LOOSE.to_vec();
    extra.extend_from_slice(&[
        (config::ADMIN_PASSWORD_HASH, hash.as_str()),
        (config::SHIPPING_COUNTRIES, "FR"),
    ]);
    let app = TestApp::spawn_with(&extra).await;
    let number = buy_with_address(&app, "grace@example.com").await;
    // A named staff member does it all: each step is audited under their name, not `admin`'s
    // (the owner of CAISSE_ADMIN_PASSWORD_HASH).
    operators::add(&app, STAFF, OperatorRole::Staff, STAFF_PW).await;
    let (cookie, csrf) = operators::sign_in_as(&app, STAFF, STAFF_PW).await;
    let page = client()
        .get(app.url(&format!("/admin/orders/{number}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("12 rue de la Paix"), "{page}");
    assert!(page.contains("data-testid=\"mark-shipped\""), "{page}");
    assert!(page.contains("Resend confirmation email"), "{page}");

    let path = format!("/admin/orders/{number}/ship");
    let fields = [
        ("csrf", csrf.as_str()),
        ("carrier", "Colissimo"),
        ("tracking", "6A123"),
        ("tracking_url", ""),
    ];
    let r = post_form(&app, &path, &cookie, &fields).await;
    assert_eq!(r.status(), 303);
    let again = post_form(&app, &path, &cookie, &fields).await;
    assert_eq!(again.status(), 422);
    assert!(again.text().await.unwrap().contains("already shipped"));
    let shipped = scalar(
        &app.store,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'order.shipped' AND actor = 'admin:staff@shop.example'",
    )
    .await;
    assert_eq!(shipped, 1);

    // "Resend confirmation email": once per form, whatever the clicks.
    let resend = format!("/admin/orders/{number}/resend-confirmation");
    let confirmations = "SELECT COUNT(*) FROM outbox WHERE kind = 'order_confirmation'";
    assert_eq!(scalar(&app.store, confirmations).await, 1);
    let form = caisse_shop::admin::random_token();
    for _ in 0..2 {
        let r = post_form(
            &app,
            &resend,
            &cookie,
            &[("csrf", csrf.as_str()), ("token", form.as_str())],
        )
        .await;
        assert_eq!(r.status(), 303);
    }
    assert_eq!(scalar(&app.store, confirmations).await, 2);
    let another = caisse_shop::admin::random_token();
    let r = post_form(
        &app,
        &resend,
        &cookie,
        &[("csrf", csrf.as_str()), ("token", another.as_str())],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(scalar(&app.store, confirmations).await, 3);
    // Written as files (the tests' mail transport, as caisse dev's): each resend is a file of its
    // own, the first confirmation's left as it was.
    let caisse_shop::config::MailTransport::Files(dir) = &app.app.config.mail.transport else {
        panic!("the tests write their emails as files");
    };
    wait_for(10, "three confirmation files", || async {
        let files = std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|f| f.file_name().to_string_lossy().starts_with("order-"))
                    .count()
            })
            .unwrap_or(0);
        (files == 3).then_some(())
    })
    .await;

    let deliver = format!("/admin/orders/{number}/deliver");
    let r = post_form(&app, &deliver, &cookie, &[("csrf", csrf.as_str())]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM orders WHERE fulfilment = 'delivered' AND tracking_code = '6A123'"
        )
        .await,
        1
    );
    let audited = scalar(
        &app.store,
        "SELECT COUNT(DISTINCT action) FROM audit_log WHERE actor = 'admin:staff@shop.example' \
         AND action IN ('order.delivered', 'email.resend_requested')",
    )
    .await;
    assert_eq!(audited, 2, "delivered and resent, by the staff member");
    app.stop().await;
}

/// A refunded order gets no confirmation sent again: it would tell the customer the order stands.
#[tokio::test]
async fn a_refunded_order_s_confirmation_is_not_sent_again() {
    let app = TestApp::spawn().await;
    let number = app
        .paid_order(json!({"items": [{"product_id": "mug-enamel", "quantity": 1}], "email": "ada@example.com"}))
        .await;
    let store = &app.store;
    let resend = |form: String| async move {
        orders::resend_confirmation(store, number, &form, "admin:ops", unix_now()).await
    };
    let sent = resend(caisse_shop::admin::random_token()).await;
    assert!(matches!(sent, Ok(true)), "a paid order's is: {sent:?}");
    crate::support::raw(&app.store, "UPDATE orders SET status = 'refunded'")
        .await
        .unwrap();
    let refused = resend(caisse_shop::admin::random_token()).await;
    assert!(
        matches!(&refused, Err(FulfilmentError::Invalid(why)) if why.contains("was refunded")),
        "{refused:?}"
    );
    app.stop().await;
}
