//! `caisse doctor`'s checks against real parts: the sandbox as Stripe (its webhook endpoints and
//! its `Date` header), this test's database (SQLite or PostgreSQL), Redis when the suite has one,
//! the sandbox's SMTP server, and services that are down.

use caisse_sandbox::smtp::SmtpServer;
use caisse_shop::config;
use caisse_shop::doctor::{self, Check};
use caisse_stripe::{Client, ClientOptions};

use crate::support::{dead_address, TestDb, SECRET_KEY};

fn verdicts(checks: &[Check]) -> Vec<(&'static str, bool)> {
    checks.iter().map(|c| (c.name, c.outcome.is_ok())).collect()
}

fn reason(checks: &[Check], name: &str) -> String {
    let check = checks.iter().find(|c| c.name == name).unwrap();
    match &check.outcome {
        Ok(why) | Err(why) => why.clone(),
    }
}

#[tokio::test]
async fn a_good_configuration_passes_every_check_and_each_fault_is_named() {
    let db = TestDb::new().await;
    let _store = db.store().await;
    let sandbox = caisse_sandbox::start(caisse_sandbox::SandboxOptions::default())
        .await
        .unwrap();
    let stripe = Client::new(ClientOptions::new(sandbox.url(), SECRET_KEY)).unwrap();
    let public = "http://127.0.0.1:8080";
    let endpoint = stripe
        .create_webhook_endpoint(
            &format!("{public}/api/webhooks/stripe"),
            caisse_shop::webhooks::HANDLED,
            caisse_stripe::API_VERSION,
            "caisse",
        )
        .await
        .unwrap();
    let smtp = SmtpServer::start().await.unwrap();
    let smtp_url = smtp.url();
    let redis = std::env::var("CAISSE_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let mut settings = vec![
        (config::API_BASE, sandbox.url()),
        (config::PUBLIC_URL, public),
        (config::MAIL, "on"),
        (config::SMTP_URL, smtp_url.as_str()),
        (config::MAIL_FROM, "Shop <orders@shop.example>"),
    ];
    if let Some(url) = &redis {
        settings.push((config::REDIS_URL, url));
    }
    let good = crate::support::config(&db, &settings);
    let now = caisse_shop::store::unix_now();
    let checks = doctor::run(&good, now).await;
    let mut want = vec![
        ("stripe key", true),
        ("mode", true),
        ("webhook endpoint", true),
        ("clock", true),
        ("database", true),
    ];
    if redis.is_some() {
        want.push(("redis", true));
    }
    want.extend([("smtp", true), ("public url", true)]);
    assert_eq!(verdicts(&checks), want, "{checks:#?}");
    assert!(reason(&checks, "webhook endpoint").contains(&endpoint.id));
    let printed = format!("{checks:?}");
    for secret in [
        SECRET_KEY,
        crate::support::WEBHOOK_SECRET,
        crate::support::GUEST_SECRET,
    ] {
        assert!(!printed.contains(secret), "nothing secret is said");
    }

    // A clock a minute off (give or take the second boundaries of Stripe's Date header, and a
    // busy machine's seconds between the two readings).
    let late = doctor::run(&good, now + 60).await;
    let skew: i64 = reason(&late, "clock")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("the skew in seconds first");
    assert!((55..=61).contains(&skew), "{late:?}");
    assert!(!verdicts(&late).contains(&("clock", true)));

    // The endpoint stops receiving payments, then another URL is configured.
    stripe
        .update_webhook_endpoint(&endpoint.id, &["charge.refunded"], "caisse")
        .await
        .unwrap();
    let checks = doctor::run(&good, now).await;
    assert!(!verdicts(&checks).contains(&("webhook endpoint", true)));
    assert!(
        reason(&checks, "webhook endpoint").contains("does not receive checkout.session.completed"),
        "{checks:?}"
    );
    let moved = crate::support::config(
        &db,
        &[
            (config::API_BASE, sandbox.url()),
            (config::PUBLIC_URL, "http://127.0.0.1:9"),
        ],
    );
    let checks = doctor::run(&moved, now).await;
    assert!(reason(&checks, "webhook endpoint")
        .starts_with("none for http://127.0.0.1:9/api/webhooks/stripe"));

    // A key Stripe refuses: named, never shown; what depends on it fails too.
    let refused = crate::support::config(
        &db,
        &[
            (config::API_BASE, sandbox.url()),
            (config::SECRET_KEY, "sk_test_"),
        ],
    );
    let checks = doctor::run(&refused, now).await;
    assert_eq!(
        &verdicts(&checks)[..3],
        &[
            ("stripe key", false),
            ("mode", false),
            ("webhook endpoint", false)
        ]
    );
    assert!(reason(&checks, "stripe key").contains("401"));

    // Redis and SMTP servers that do not answer, and a database that is not migrated.
    let dead_redis = format!("redis://{}", dead_address());
    let dead_smtp = format!("smtp://{}", dead_address());
    let fresh = TestDb::new().await;
    let down = crate::support::config(
        &fresh,
        &[
            (config::API_BASE, sandbox.url()),
            (config::REDIS_URL, &dead_redis),
            (config::MAIL, "on"),
            (config::SMTP_URL, &dead_smtp),
            (config::MAIL_FROM, "Shop <orders@shop.example>"),
        ],
    );
    let checks = doctor::run(&down, now).await;
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| c.outcome.is_err())
        .map(|c| c.name)
        .collect();
    assert_eq!(
        failed,
        ["webhook endpoint", "database", "redis", "smtp"],
        "{checks:#?}"
    );
    assert!(
        reason(&checks, "database").contains("caisse migrate"),
        "{checks:?}"
    );
    sandbox.stop().await.unwrap();
}
