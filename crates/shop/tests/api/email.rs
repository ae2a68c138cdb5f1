//! The confirmation email through a real SMTP conversation (the sandbox's SMTP server): one email
//! per order, temporary refusals retried, a permanent refusal marked failed with an alert, and two
//! workers on one database sending each email once; with mail off, no confirmation queued (the
//! shop sends its own: turning mail on later must not send every past order's), and the claim
//! that leaves confirmations queued before waiting.

use caisse_sandbox::smtp::{Behaviour, SmtpServer};
use caisse_shop::config;
use serde_json::json;

use crate::support::{scalar, wait_for, TestApp, TestDb, LOOSE};

/// A caisse sending its mail to `smtp`, in English (ASCII subjects are easy to read raw).
async fn app_with_mail(db: Option<TestDb>, smtp: &SmtpServer) -> TestApp {
    let url = smtp.url();
    let mut extra = LOOSE.to_vec();
    extra.extend_from_slice(&[
        (config::MAIL, "on"),
        (config::SMTP_URL, url.as_str()),
        (config::MAIL_FROM, "Shop <orders@shop.example>"),
        (config::MAIL_LANG, "en"),
    ]);
    match db {
        Some(db) => TestApp::spawn_on(db, &extra).await,
        None => TestApp::spawn_with(&extra).await,
    }
}

/// A paid checkout for `email`; returns the session id.
async fn buy(app: &TestApp, email: &str) -> String {
    let (status, body, _) = app
        .checkout(
            json!({"items": [{"product_id": "mug-enamel", "quantity": 1}], "email": email}),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let session = body["checkout_session_id"].as_str().unwrap().to_string();
    app.sandbox
        .pay(
            &session,
            caisse_sandbox::Method::Card("4242424242424242".into()),
        )
        .unwrap();
    session
}

async fn outbox_status(app: &TestApp, status: &str) -> i64 {
    scalar(
        &app.store,
        &format!(
            "SELECT COUNT(*) FROM outbox WHERE kind = 'order_confirmation' AND status = '{status}'"
        ),
    )
    .await
}

/// A worker pass as if every lease had run out (a worker killed mid-send leaves its message due
/// again then): it sends nothing, so no email can come twice.
async fn assert_nothing_due_after_the_lease(app: &TestApp) {
    let lease = app.app.config.mail.lease.as_secs() as i64;
    let later = caisse_shop::store::unix_now() + lease + 1;
    let report = caisse_shop::outbox::run_once(&app.app, later)
        .await
        .unwrap();
    assert_eq!(report, caisse_shop::outbox::Report::default());
}

#[tokio::test]
async fn each_order_gets_one_confirmation_email() {
    let smtp = SmtpServer::start().await.unwrap();
    let app = app_with_mail(None, &smtp).await;
    buy(&app, "ada@example.com").await;
    buy(&app, "grace@example.com").await;
    wait_for(20, "two emails", || async {
        (smtp.mails().len() >= 2).then_some(())
    })
    .await;
    wait_for(5, "both marked sent", || async {
        (outbox_status(&app, "sent").await == 2).then_some(())
    })
    .await;
    // Duplicated deliveries (the sandbox sends each event twice) queued nothing more, and a pass
    // after every lease has run out finds nothing to send again.
    assert_nothing_due_after_the_lease(&app).await;
    let mails = smtp.mails();
    assert_eq!(mails.len(), 2, "{mails:#?}");
    let mut to: Vec<&str> = mails.iter().map(|m| m.to[0].as_str()).collect();
    to.sort();
    assert_eq!(to, ["ada@example.com", "grace@example.com"]);
    for m in &mails {
        assert_eq!(m.from, "orders@shop.example");
        assert!(m.data.contains("Subject: Order #"), "{}", m.data);
        assert!(m.data.contains("Message-ID: <order-ord_"), "{}", m.data);
    }
    assert_eq!(outbox_status(&app, "sent").await, 2);
    let trail = scalar(
        &app.store,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'email.sent'",
    )
    .await;
    assert_eq!(trail, 2);
    app.stop().await;
}

#[tokio::test]
async fn a_temporary_refusal_is_retried_and_sends_once() {
    let smtp = SmtpServer::start().await.unwrap();
    smtp.set_behaviour(Behaviour::Refuse { code: 451, n: 1 });
    let app = app_with_mail(None, &smtp).await;
    buy(&app, "ada@example.com").await;
    // The first retry comes within 10 s.
    wait_for(15, "the email after a retry", || async {
        (!smtp.mails().is_empty()).then_some(())
    })
    .await;
    wait_for(5, "the email marked sent", || async {
        (outbox_status(&app, "sent").await == 1).then_some(())
    })
    .await;
    assert_eq!(smtp.refused(), 1);
    assert_eq!(smtp.mails().len(), 1);
    let attempts = scalar(
        &app.store,
        "SELECT attempts FROM outbox WHERE kind = 'order_confirmation'",
    )
    .await;
    assert_eq!(attempts, 2);
    app.stop().await;
}

#[tokio::test]
async fn a_permanent_refusal_marks_the_email_failed_with_an_alert() {
    let smtp = SmtpServer::start().await.unwrap();
    smtp.set_behaviour(Behaviour::Refuse { code: 550, n: 100 });
    let app = app_with_mail(None, &smtp).await;
    buy(&app, "nobody@example.com").await;
    wait_for(15, "the email marked failed", || async {
        (outbox_status(&app, "failed").await == 1).then_some(())
    })
    .await;
    assert_eq!(smtp.refused(), 1, "a 5xx is not retried");
    assert!(smtp.mails().is_empty());
    let alerts = app.store.alerts(true, 10).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        (alerts[0].kind.as_str(), alerts[0].severity.as_str()),
        ("email_failed", "critical")
    );
    assert!(alerts[0].message.contains("550"), "{}", alerts[0].message);
    app.stop().await;
}

#[tokio::test]
async fn two_workers_on_one_database_send_each_email_once() {
    let smtp = SmtpServer::start().await.unwrap();
    let first = app_with_mail(None, &smtp).await;
    let second = app_with_mail(Some(first._db.clone()), &smtp).await;
    // Orders made through the first instance; both instances' workers poll the same outbox.
    for i in 0..8 {
        buy(&first, &format!("customer{i}@example.com")).await;
    }
    wait_for(20, "eight emails", || async {
        (smtp.mails().len() >= 8).then_some(())
    })
    .await;
    wait_for(5, "eight marked sent", || async {
        (outbox_status(&first, "sent").await == 8).then_some(())
    })
    .await;
    assert_nothing_due_after_the_lease(&first).await;
    assert_nothing_due_after_the_lease(&second).await;
    assert_eq!(smtp.mails().len(), 8);
    second.stop().await;
    first.stop().await;
}

/// `CAISSE_MAIL=off`: a paid order queues no confirmation, and says so in its audit sentence; an
/// instance with mail on, on the same database, finds nothing to send. (It used to queue it, and
/// the shop that turned mail on after sending its own emails sent every past order's again.)
#[tokio::test]
async fn with_mail_off_an_order_queues_no_confirmation_to_send_later() {
    let mut extra = LOOSE.to_vec();
    extra.push((config::MAIL, "off"));
    let db = TestDb::new().await;
    let off = TestApp::spawn_on(db.clone(), &extra).await;
    let number = off
        .paid_order(json!({"items": [{"product_id": "mug-enamel", "quantity": 1}], "email": "ada@example.com"}))
        .await;
    assert_eq!(number, 1);
    let said = scalar(
        &off.store,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'order.created' \
         AND message LIKE '%(mail is off: no confirmation email)%'",
    )
    .await;
    assert_eq!(said, 1);
    off.stop().await;

    let smtp = SmtpServer::start().await.unwrap();
    let on = app_with_mail(Some(db), &smtp).await;
    caisse_shop::outbox::run_once(&on.app, caisse_shop::store::unix_now())
        .await
        .unwrap();
    assert_eq!(
        outbox_status(&on, "pending").await + outbox_status(&on, "sent").await,
        0
    );
    assert!(smtp.mails().is_empty());
    on.stop().await;
}

/// With mail off, the worker's claim leaves the confirmations waiting (sent once mail is on) and
/// still takes the other messages (a refund for Stripe), however many confirmations wait.
#[tokio::test]
async fn a_claim_without_mail_takes_the_other_kinds_and_leaves_confirmations_waiting() {
    use caisse_shop::domain::status::OutboxKind;
    let (_db, store) = crate::support::fresh().await;
    store
        .write(async |tx| {
            for i in 0..30 {
                let order = format!("ord_{i}");
                tx.enqueue(
                    OutboxKind::OrderConfirmation,
                    &order,
                    &json!({ "order_id": order }),
                    1,
                )
                .await?;
            }
            tx.enqueue(
                OutboxKind::StripeRefund,
                "ord_x",
                &json!({ "order_id": "ord_x" }),
                2,
            )
            .await?;
            Ok::<_, caisse_shop::store::StoreError>(())
        })
        .await
        .unwrap();
    let claim = |skip: Option<OutboxKind>, token: &'static str| {
        let store = store.clone();
        async move {
            store
                .write(async |tx| tx.claim_outbox(10, 60, token, skip, 20).await)
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.kind)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        claim(Some(OutboxKind::OrderConfirmation), "a").await,
        [OutboxKind::StripeRefund]
    );
    let with_mail = claim(None, "b").await;
    assert_eq!(
        with_mail.len(),
        20,
        "the confirmations are due for a mailer"
    );
    assert!(with_mail
        .iter()
        .all(|k| *k == OutboxKind::OrderConfirmation));
}
