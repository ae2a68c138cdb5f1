//! Confirmations under SIGKILL: `caisse serve` killed 30 times while it sends confirmation emails
//! to an SMTP server that is slow for some recipients. Every paid order gets at least one email,
//! and second copies are at most the messages that were in flight at the kills — not whole
//! batches. On SQLite, or on PostgreSQL when `CAISSE_TEST_POSTGRES_URL` is set (as the shop's
//! tests choose).

use std::time::{Duration, Instant};

use caisse_sandbox::smtp::{Behaviour, SmtpServer};
use sqlx::Connection;

use crate::support::{free_port, run, serve, text, wait_for, WH};

const KILLS: usize = 30;
/// Checkouts paid in each life of the server.
const PER_LIFE: usize = 4;
/// How late the SMTP server answers messages to `slow-…` recipients.
const SLOW: Duration = Duration::from_millis(1500);
/// A message answered this shortly before a kill counts as in flight: its "sent" mark may not
/// have committed yet (one unit of work, an fsync on a loaded machine).
const GRACE: Duration = Duration::from_millis(250);

/// The database of this run: a SQLite file in `dir`, or a fresh PostgreSQL database.
async fn database(dir: &std::path::Path) -> String {
    match std::env::var("CAISSE_TEST_POSTGRES_URL") {
        Ok(admin) if !admin.is_empty() => {
            let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
            let name = format!("caisse_kills_{}", uuid_like());
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .unwrap();
            let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
            format!("{base}/{name}")
        }
        _ => format!("sqlite://{}", dir.join("caisse.db").display()),
    }
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{nanos:x}{}", std::process::id())
}

async fn checkout(base: &str, email: &str) -> (String, String) {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/checkout"))
        .json(&serde_json::json!({"items": [{"product_id": "mug", "quantity": 1}], "email": email}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let cookie = crate::support::cookie_pair(&r);
    let body: serde_json::Value = r.json().await.unwrap();
    (body["checkout_session_id"].as_str().unwrap().into(), cookie)
}

async fn is_paid(base: &str, session: &str, cookie: &str) -> bool {
    let Ok(r) = reqwest::Client::new()
        .get(format!("{base}/api/checkout/{session}"))
        .header("cookie", cookie)
        .send()
        .await
    else {
        return false;
    };
    r.json::<serde_json::Value>()
        .await
        .is_ok_and(|s| s["status"] == "paid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_sigkills_while_sending_double_at_most_the_emails_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path()).await;
    std::fs::write(
        dir.path().join("catalog.json"),
        r#"[{"id": "mug", "name": "Mug", "unit_amount": 1200, "currency": "eur", "stock_on_hand": 1000}]"#,
    )
    .unwrap();
    let out = run(
        dir.path(),
        &["catalog", "import", "catalog.json"],
        &[("DATABASE_URL", &db)],
    );
    assert!(out.status.success(), "{:?}", text(&out));

    let smtp = SmtpServer::start().await.unwrap();
    smtp.set_behaviour(Behaviour::SlowFor {
        recipient: "slow-".into(),
        delay: SLOW,
    });
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut options = caisse_sandbox::SandboxOptions::default();
    options.delivery.secrets = vec![WH.into()];
    // Webhooks that meet a dead server come back soon, as Stripe's would (sooner).
    options.delivery.retry_schedule = vec![Duration::from_millis(300); 400];
    options.forward_to = Some(format!("{base}/api/webhooks/stripe"));
    let sandbox = caisse_sandbox::start(options).await.unwrap();
    let smtp_url = smtp.url();
    let settings = [
        ("DATABASE_URL", db.as_str()),
        ("SMTP_URL", smtp_url.as_str()),
        ("CAISSE_MAIL_FROM", "Shop <orders@shop.example>"),
        ("CAISSE_OUTBOX_LEASE_SECS", "4"),
        ("CAISSE_CHECKOUT_RATE_PER_CUSTOMER", "1000/sec"),
        ("CAISSE_CHECKOUT_RATE_PER_IP", "1000/sec"),
        ("CAISSE_MAX_OPEN_HOLDS_PER_CUSTOMER", "1000"),
        ("CAISSE_MAX_OPEN_HOLDS_PER_IP", "100000"),
        ("CAISSE_MAX_HELD_UNITS_PER_IP", "1000000"),
    ];

    let mut paid = Vec::new();
    let mut in_flight = 0;
    for life in 0..KILLS {
        let server = serve(dir.path(), port, sandbox.url(), &settings);
        wait_for(&format!("{base}/healthz")).await;
        for i in 0..PER_LIFE {
            let speed = if i == 0 { "slow" } else { "fast" };
            let email = format!("{speed}-{life}-{i}@example.com");
            let (session, cookie) = checkout(&base, &email).await;
            sandbox
                .pay(
                    &session,
                    caisse_sandbox::Method::Card("4242424242424242".into()),
                )
                .unwrap();
            paid.push((session, cookie, email));
        }
        // Kills at varied moments of the sends: 0.2 to 2.4 s after the last payment.
        tokio::time::sleep(Duration::from_millis(200 + (life as u64 * 7 % 12) * 200)).await;
        server.kill_now();
        in_flight += smtp.in_flight_at(Instant::now(), GRACE);
    }

    let _last = serve(dir.path(), port, sandbox.url(), &settings);
    wait_for(&format!("{base}/healthz")).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mails = smtp.mails();
        let mut missing = 0;
        for (session, cookie, email) in &paid {
            let mailed = mails.iter().any(|m| m.to.contains(email));
            if !mailed || !is_paid(&base, session, cookie).await {
                missing += 1;
            }
        }
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} paid orders without a confirmation",
            paid.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Past every lease: a message left leased by a kill is sent (again) by now.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mails = smtp.mails();
    let second_copies = mails.len() - paid.len();
    eprintln!(
        "{KILLS} SIGKILLs on {}: {} orders, {} emails, {second_copies} second copies, \
         {in_flight} messages in flight at the kills",
        db.split(':').next().unwrap(),
        paid.len(),
        mails.len()
    );
    for (_, _, email) in &paid {
        let copies: Vec<_> = mails.iter().filter(|m| m.to.contains(email)).collect();
        // One Message-ID per message across attempts: a second copy is the same message.
        assert!(copies
            .windows(2)
            .all(|w| message_id(&w[0].data) == message_id(&w[1].data)));
    }
    assert!(
        second_copies <= in_flight,
        "{second_copies} second copies, but only {in_flight} messages in flight at the kills"
    );
}

fn message_id(data: &str) -> Option<&str> {
    data.lines().find(|l| l.starts_with("Message-ID:"))
}
