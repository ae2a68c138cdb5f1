//! Nothing is lost, from outside: `caisse serve` killed with SIGKILL between an order's commit and
//! its email, and a webhook endpoint that was down, made good by `caisse events replay`.

use std::time::{Duration, Instant};

use caisse_sandbox::smtp::{Behaviour, SmtpServer};

use crate::support::{free_port, run, serve, text, wait_for, SK, WH};

/// The demo-like catalog: one product, as the shop's import would make it.
fn import_catalog(dir: &std::path::Path) {
    std::fs::write(
        dir.join("catalog.json"),
        r#"[{"id": "mug", "name": "Mug", "unit_amount": 1200, "currency": "eur", "stock_on_hand": 20}]"#,
    )
    .unwrap();
    let db = format!("sqlite://{}", dir.join("caisse.db").display());
    let out = run(
        dir,
        &["catalog", "import", "catalog.json"],
        &[("DATABASE_URL", &db)],
    );
    assert!(out.status.success(), "{:?}", text(&out));
}

/// A checkout as a guest; returns its session id and the guest cookie.
pub(crate) async fn checkout(base: &str, email: &str) -> (String, String) {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/checkout"))
        .json(&serde_json::json!({"items": [{"product_id": "mug", "quantity": 1}], "email": email}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let cookie = crate::support::cookie_pair(&r);
    let body: serde_json::Value = r.json().await.unwrap();
    (
        body["checkout_session_id"].as_str().unwrap().to_string(),
        cookie,
    )
}

async fn status(base: &str, session: &str, cookie: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("{base}/api/checkout/{session}"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub(crate) async fn until(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caisse_killed_before_sending_sends_the_email_once_after_its_restart() {
    let dir = tempfile::tempdir().unwrap();
    import_catalog(dir.path());
    let smtp = SmtpServer::start().await.unwrap();
    smtp.set_behaviour(Behaviour::Stall);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut options = caisse_sandbox::SandboxOptions::default();
    options.delivery.secrets = vec![WH.into()];
    options.forward_to = Some(format!("{base}/api/webhooks/stripe"));
    let sandbox = caisse_sandbox::start(options).await.unwrap();
    let smtp_url = smtp.url();
    let mail = [
        ("SMTP_URL", smtp_url.as_str()),
        ("CAISSE_MAIL_FROM", "Shop <orders@shop.example>"),
        ("CAISSE_OUTBOX_LEASE_SECS", "3"),
    ];
    let first = serve(dir.path(), port, sandbox.url(), &mail);
    wait_for(&format!("{base}/readyz")).await;
    let (session, cookie) = checkout(&base, "ada@example.com").await;
    sandbox
        .pay(
            &session,
            caisse_sandbox::Method::Card("4242424242424242".into()),
        )
        .unwrap();
    // The order is committed and its email is on the wire when caisse dies.
    until(20, "the email to be in flight", || smtp.stalled() == 1).await;
    assert_eq!(status(&base, &session, &cookie).await["status"], "paid");
    first.kill_now();

    smtp.set_behaviour(Behaviour::Accept);
    let _second = serve(dir.path(), port, sandbox.url(), &mail);
    wait_for(&format!("{base}/readyz")).await;
    until(20, "the email after the restart", || {
        smtp.mails().len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "exactly one email");
    assert_eq!(mails[0].to, ["ada@example.com"]);
    assert!(mails[0].data.contains("Message-ID: <order-ord_"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_replay_applies_what_the_endpoint_missed_and_only_once() {
    let dir = tempfile::tempdir().unwrap();
    import_catalog(dir.path());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    // The endpoint is down for the sandbox: no webhook arrives.
    let mut options = caisse_sandbox::SandboxOptions::default();
    options.delivery.secrets = vec![WH.into()];
    let sandbox = caisse_sandbox::start(options).await.unwrap();
    let mail_dir = dir.path().join("mail");
    let mail_dir_text = mail_dir.display().to_string();
    let _serve = serve(
        dir.path(),
        port,
        sandbox.url(),
        &[("CAISSE_MAIL_DIR", mail_dir_text.as_str())],
    );
    wait_for(&format!("{base}/readyz")).await;
    let (session, cookie) = checkout(&base, "grace@example.com").await;
    sandbox
        .pay(
            &session,
            caisse_sandbox::Method::Card("4242424242424242".into()),
        )
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(status(&base, &session, &cookie).await["status"], "pending");

    let db = format!("sqlite://{}", dir.path().join("caisse.db").display());
    // Neither tool verifies a webhook: neither asks for STRIPE_WEBHOOK_SECRET (nor for serve's
    // mail transport or guest-cookie key).
    let tool_vars = [
        ("DATABASE_URL", db.as_str()),
        ("STRIPE_SECRET_KEY", SK),
        ("STRIPE_API_BASE", sandbox.url()),
    ];
    let replay = || {
        run(
            dir.path(),
            &["events", "replay", "--since", "1h"],
            &tool_vars,
        )
    };
    let reconciled = run(dir.path(), &["reconcile"], &tool_vars);
    assert!(reconciled.status.success(), "{:?}", text(&reconciled));
    assert!(text(&reconciled)
        .0
        .contains("holds past their expiry: 0 released"));
    let out = replay();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    // payment_intent.created and charge.succeeded (ignored), payment_intent.succeeded,
    // checkout.session.completed.
    assert!(
        stdout.contains("4 events fetched: 2 processed, 0 duplicate, 2 ignored, 0 failed"),
        "{stdout}"
    );
    let paid = status(&base, &session, &cookie).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    // The running server's worker writes the confirmation.
    until(20, "the confirmation email file", || {
        std::fs::read_dir(&mail_dir).is_ok_and(|d| d.count() == 1)
    })
    .await;

    let again = replay();
    let (stdout, _) = text(&again);
    assert!(
        stdout.contains("4 events fetched: 0 processed, 4 duplicate, 0 ignored, 0 failed"),
        "{stdout}"
    );
    assert_eq!(std::fs::read_dir(&mail_dir).unwrap().count(), 1);
}
