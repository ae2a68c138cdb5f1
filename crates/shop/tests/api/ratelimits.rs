//! Rate limits and the open-holds cap through HTTP, in process and shared through Redis.

use caisse_shop::config;

use crate::support::{cart, dead_address, guest_cookie, TestApp, TestDb};

#[tokio::test]
async fn a_customer_over_the_rate_gets_429_with_retry_after() {
    let app = TestApp::spawn_with(&[
        (config::RATE_PER_CUSTOMER, "3/min"),
        (config::RATE_PER_IP, "100/min"),
        (config::MAX_OPEN_HOLDS, "100"),
    ])
    .await;
    let (_, _, headers) = app.checkout(cart(&[("sticker-pack", 1)]), &[]).await;
    let cookie = guest_cookie(&headers);
    let with = [("cookie", cookie.as_str())];
    assert_eq!(
        app.checkout(cart(&[("sticker-pack", 1)]), &with).await.0,
        201
    );
    let (status, _, headers) = app.checkout(cart(&[("sticker-pack", 1)]), &with).await;
    assert_eq!(
        (status, headers["ratelimit-remaining"].to_str().unwrap()),
        (201, "0")
    );
    let (status, body, headers) = app.checkout(cart(&[("sticker-pack", 1)]), &with).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limited"))
    );
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    assert_eq!(headers["ratelimit-limit"], "3");
    assert_eq!(
        app.reserved("sticker-pack").await,
        3,
        "a refused checkout holds nothing"
    );
    // Another customer still has a budget.
    assert_eq!(app.checkout(cart(&[("sticker-pack", 1)]), &[]).await.0, 201);
    app.stop().await;
}

#[tokio::test]
async fn one_ip_is_limited_across_guests() {
    let app = TestApp::spawn_with(&[
        (config::RATE_PER_CUSTOMER, "100/min"),
        (config::RATE_PER_IP, "4/min"),
        (config::MAX_OPEN_HOLDS, "100"),
    ])
    .await;
    let statuses: Vec<u16> = futures_statuses(&app, 6).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "{statuses:?}"
    );
    app.stop().await;
}

async fn futures_statuses(app: &TestApp, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(app.checkout(cart(&[("sticker-pack", 1)]), &[]).await.0);
    }
    out
}

#[tokio::test]
async fn open_holds_are_capped_per_customer() {
    let app = TestApp::spawn_with(&[
        (config::RATE_PER_CUSTOMER, "100/min"),
        (config::RATE_PER_IP, "100/min"),
        (config::MAX_OPEN_HOLDS, "2"),
    ])
    .await;
    let (_, _, headers) = app.checkout(cart(&[("tote-bag", 1)]), &[]).await;
    let cookie = guest_cookie(&headers);
    let with = [("cookie", cookie.as_str())];
    assert_eq!(app.checkout(cart(&[("tote-bag", 1)]), &with).await.0, 201);
    let (status, body, _) = app.checkout(cart(&[("tote-bag", 1)]), &with).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("too_many_open_holds"))
    );
    // Retry when the oldest open hold expires (the hold lifetime, 1830 s by default).
    let retry: i64 = headers_of(&app, &with).await;
    assert!((1820..=1830).contains(&retry), "{retry}");
    assert_eq!(app.reserved("tote-bag").await, 2);
    app.stop().await;
}

async fn headers_of(app: &TestApp, with: &[(&str, &str)]) -> i64 {
    let (_, _, headers) = app.checkout(cart(&[("tote-bag", 1)]), with).await;
    headers["retry-after"].to_str().unwrap().parse().unwrap()
}

fn redis_url() -> Option<String> {
    std::env::var("CAISSE_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Two instances, one Redis: a customer's budget is spent across both.
#[tokio::test]
async fn two_instances_share_one_budget_through_redis() {
    let Some(redis) = redis_url() else {
        eprintln!("CAISSE_TEST_REDIS_URL is not set: the Redis limiter test runs in .ci/run");
        return;
    };
    let secret = "jwt-secret-for-redis-tests-0123456789";
    // A customer no earlier run has used, so the shared Redis holds no budget of theirs.
    let sub = uuid::Uuid::new_v4().to_string();
    let token = format!(
        "Bearer {}",
        caisse_shop::identity::sign_jwt(&serde_json::json!({"sub": sub}), secret.as_bytes())
    );
    let settings = [
        (config::REDIS_URL, redis.as_str()),
        (config::JWT_SECRET, secret),
        (config::RATE_PER_CUSTOMER, "3/min"),
        (config::RATE_PER_IP, "1000/min"),
        (config::MAX_OPEN_HOLDS, "100"),
    ];
    let db = TestDb::new().await;
    let a = TestApp::spawn_on(db.clone(), &settings).await;
    let b = TestApp::spawn_on(db, &settings).await;
    let with = [("authorization", token.as_str())];
    let mut statuses = Vec::new();
    for app in [&a, &b, &a, &b] {
        statuses.push(app.checkout(cart(&[("sticker-pack", 1)]), &with).await.0);
    }
    assert_eq!(statuses, vec![201, 201, 201, 429]);
    a.stop().await;
    b.stop().await;
}

/// The documented choice: with Redis unreachable, each instance limits on its own.
#[tokio::test]
async fn an_unreachable_redis_falls_back_to_the_in_process_limit() {
    let dead = format!("redis://{}", dead_address());
    let app = TestApp::spawn_with(&[
        (config::REDIS_URL, dead.as_str()),
        (config::RATE_PER_CUSTOMER, "2/min"),
        (config::RATE_PER_IP, "100/min"),
        (config::MAX_OPEN_HOLDS, "100"),
    ])
    .await;
    let (s1, _, headers) = app.checkout(cart(&[("sticker-pack", 1)]), &[]).await;
    let cookie = guest_cookie(&headers);
    let with = [("cookie", cookie.as_str())];
    let s2 = app.checkout(cart(&[("sticker-pack", 1)]), &with).await.0;
    let s3 = app.checkout(cart(&[("sticker-pack", 1)]), &with).await.0;
    assert_eq!((s1, s2, s3), (201, 201, 429));
    let metrics = app.text("/metrics").await;
    assert!(
        metrics.contains("caisse_ratelimit_backend_errors_total"),
        "{metrics}"
    );
    app.stop().await;
}
