//! Critical alerts reach people: a payment after its stock was sold emails the owner once (real
//! SMTP, the sandbox's server) and posts once, signed, to the alert webhook (a real HTTP server
//! here); more of the same kind within 15 minutes make one digest email, not one each.

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use caisse_sandbox::smtp::SmtpServer;
use caisse_shop::config;
use caisse_shop::domain::status::{AlertKind, OperatorRole};
use caisse_shop::store::{unix_now, NewAlert, Severity};

use crate::operators::{add, OWNER, OWNER_PW};
use crate::support::{cart, guest_cookie, wait_for, TestApp, LOOSE};

const HOOK_SECRET: &str = "alert-hook-signing-secret";

/// An incoming-webhook receiver on a random port: what it was sent (signature header and body).
async fn receiver() -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let kept = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let kept = kept.clone();
            async move {
                let signature = headers
                    .get("caisse-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                kept.lock().unwrap().push((signature, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

#[tokio::test]
async fn a_payment_without_stock_emails_the_owner_once_posts_once_and_more_make_one_digest() {
    let smtp = SmtpServer::start().await.unwrap();
    let (hook, posts) = receiver().await;
    let url = smtp.url();
    let mut extra = LOOSE.to_vec();
    extra.extend_from_slice(&[
        (config::MAIL, "on"),
        (config::SMTP_URL, url.as_str()),
        (config::MAIL_FROM, "Shop <orders@shop.example>"),
        (config::MAIL_LANG, "en"),
        (config::ALERT_WEBHOOK_URL, hook.as_str()),
        (config::ALERT_WEBHOOK_SECRET, HOOK_SECRET),
    ]);
    let app = TestApp::spawn_with(&extra).await;
    add(&app, OWNER, OperatorRole::Owner, OWNER_PW).await;

    // The last poster: declined, released, bought by someone else, then paid by the first.
    let card = |n: &str| caisse_sandbox::Method::Card(n.into());
    let (status, first, headers) = app.checkout(cart(&[("poster-a2", 1)]), &[]).await;
    assert_eq!(status, 201, "{first}");
    let (first_session, first_cookie) = (
        first["checkout_session_id"].as_str().unwrap().to_string(),
        guest_cookie(&headers),
    );
    app.sandbox
        .pay(&first_session, card("4000000000009995"))
        .unwrap();
    app.wait_status(&first_session, &first_cookie, "failed")
        .await;
    let (status, second, headers) = app.checkout(cart(&[("poster-a2", 1)]), &[]).await;
    assert_eq!(status, 201, "{second}");
    let second_session = second["checkout_session_id"].as_str().unwrap().to_string();
    app.sandbox
        .pay(&second_session, card("4242424242424242"))
        .unwrap();
    app.wait_status(&second_session, &guest_cookie(&headers), "paid")
        .await;
    app.sandbox
        .pay(&first_session, card("4242424242424242"))
        .unwrap();

    let to_owner = |smtp: &SmtpServer| {
        smtp.mails()
            .into_iter()
            .filter(|m| m.to == [OWNER.to_string()])
            .collect::<Vec<_>>()
    };
    let mails = wait_for(20, "the alert email", || async {
        let m = to_owner(&smtp);
        (!m.is_empty()).then_some(m)
    })
    .await;
    assert!(
        mails[0].data.contains("Critical alert: paid_without_stock"),
        "{}",
        mails[0].data
    );
    let (signature, body) = wait_for(20, "the alert webhook", || async {
        posts.lock().unwrap().first().cloned()
    })
    .await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        json["text"]
            .as_str()
            .unwrap()
            .contains("paid_without_stock"),
        "{body}"
    );
    let t: i64 = signature
        .strip_prefix("t=")
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        signature,
        caisse_stripe::signature_header(&[HOOK_SECRET], t, body.as_bytes()),
        "signed as Stripe signs, with the alert secret"
    );

    // Nine more in the same minute: nothing now, one digest when the 15 minutes are up.
    let now = unix_now();
    for i in 0..9 {
        app.store
            .write(async |tx| {
                tx.raise_alert(
                    &NewAlert {
                        kind: AlertKind::PaidWithoutStock,
                        severity: Severity::Critical,
                        message: format!("Payment pi_test{i} arrived after its stock was sold"),
                        entity: None,
                        dedup_key: format!("test-digest-{i}"),
                    },
                    now,
                )
                .await
            })
            .await
            .unwrap();
    }
    caisse_shop::outbox::run_once(&app.app, now).await.unwrap();
    assert_eq!(
        to_owner(&smtp).len(),
        1,
        "no second email within 15 minutes"
    );
    wait_for(20, "ten webhook posts, one per alert", || async {
        (posts.lock().unwrap().len() == 10).then_some(())
    })
    .await;
    let later = now + caisse_shop::outbox::alert_notices::MAIL_EVERY_SECS + 1;
    caisse_shop::outbox::run_once(&app.app, later)
        .await
        .unwrap();
    caisse_shop::outbox::run_once(&app.app, later)
        .await
        .unwrap();
    let mails = wait_for(20, "the digest", || async {
        let m = to_owner(&smtp);
        (m.len() >= 2).then_some(m)
    })
    .await;
    assert_eq!(mails.len(), 2, "one digest for nine alerts");
    assert!(
        mails[1]
            .data
            .contains("9 critical alerts: paid_without_stock"),
        "{}",
        mails[1].data
    );
    assert!(mails[1].data.contains("pi_test8"));
    app.stop().await;
}
