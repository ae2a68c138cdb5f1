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
    // Retry when the oldest open hold expires (the session lifetime, 1860 s by default).
    let retry: i64 = headers_of(&app, &with).await;
    assert!((1850..=1860).contains(&retry), "{retry}");
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
        caisse_shop::identity::sign_jwt(
            &serde_json::json!({"sub": sub, "exp": caisse_shop::store::unix_now() + 600}),
            secret.as_bytes()
        )
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
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("caisse_ratelimit_backend_errors_total")
            && metrics.contains("caisse_ratelimit_fallback_total"),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_drops_its_cookie_cannot_hold_more_than_its_network_may() {
    let app = TestApp::spawn_with(&[
        (config::RATE_PER_CUSTOMER, "100/min"),
        (config::RATE_PER_IP, "100/min"),
        (config::MAX_OPEN_HOLDS, "100"),
        (config::MAX_OPEN_HOLDS_PER_IP, "3"),
        (config::MAX_HELD_UNITS_PER_IP, "5"),
    ])
    .await;
    // Cookieless: a new guest every time, the same network.
    assert_eq!(app.checkout(cart(&[("poster-a2", 1)]), &[]).await.0, 201);
    assert_eq!(app.checkout(cart(&[("mug-enamel", 2)]), &[]).await.0, 201);
    let (status, body, headers) = app.checkout(cart(&[("mug-enamel", 3)]), &[]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("too_many_open_holds")),
        "{body}"
    );
    assert!(
        body["error"]["message"].as_str().unwrap().contains("units"),
        "{body}"
    );
    let retry: i64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1830..=1860).contains(&retry), "{retry}");
    assert_eq!(
        app.checkout(cart(&[("mug-enamel", 2)]), &[]).await.0,
        201,
        "within both caps"
    );
    let (status, body, _) = app.checkout(cart(&[("tote-bag", 1)]), &[]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("too_many_open_holds"))
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("3 checkouts"),
        "{body}"
    );
    assert_eq!(app.reserved("tote-bag").await, 0);
    assert_eq!(app.reserved("mug-enamel").await, 4);
    app.stop().await;
}

#[tokio::test]
async fn behind_a_proxy_a_spoofed_forwarded_entry_is_not_believed() {
    let app = TestApp::spawn_with(&[
        (config::RATE_PER_CUSTOMER, "100/min"),
        (config::RATE_PER_IP, "2/min"),
        (config::MAX_OPEN_HOLDS, "100"),
        (config::TRUSTED_PROXIES, "127.0.0.1"),
    ])
    .await;
    // The proxy appends what it saw; a client puts whatever it likes further left, and an entry
    // the proxy could not read stops the walk.
    let mut statuses = Vec::new();
    for i in 0..4 {
        let xff = format!("10.9.8.{i}, unknown");
        statuses.push(
            app.checkout(
                cart(&[("sticker-pack", 1)]),
                &[("x-forwarded-for", xff.as_str())],
            )
            .await
            .0,
        );
    }
    assert_eq!(
        statuses,
        [201, 201, 429, 429],
        "one client, whatever it claims"
    );
    // A proxy that writes ip:port is read right: these are two different clients.
    for xff in ["203.0.113.7:4711", "203.0.113.8:4711"] {
        assert_eq!(
            app.checkout(cart(&[("sticker-pack", 1)]), &[("x-forwarded-for", xff)])
                .await
                .0,
            201,
            "{xff}"
        );
    }
    let nets: Vec<String> = {
        let rows =
            crate::support::scalar(&app.store, "SELECT COUNT(DISTINCT client_net) FROM holds")
                .await;
        vec![rows.to_string()]
    };
    assert_eq!(nets, ["3"], "127.0.0.1, 203.0.113.7 and 203.0.113.8");
    app.stop().await;
}

#[tokio::test]
async fn instances_whose_clocks_disagree_share_one_budget_through_redis() {
    let Some(url) = redis_url() else {
        eprintln!("SKIPPED: CAISSE_TEST_REDIS_URL is not set (.ci/run sets it)");
        return;
    };
    use caisse_shop::ratelimit::{RateLimiter, RedisLimiter, Scope};
    let (_db, store) = crate::support::fresh().await;
    let limiter = || {
        let redis = RedisLimiter::new(&url, std::time::Duration::from_millis(500)).unwrap();
        RateLimiter::with_redis(redis, store.clone())
    };
    let (slow_clock, right_clock) = (limiter(), limiter());
    let rate: caisse_shop::ratelimit::Rate = "2/min".parse().unwrap();
    let id = format!("skew-{}", uuid::Uuid::new_v4().simple());
    let now = caisse_shop::ratelimit::now_ms();
    // One instance's clock is an hour behind: Redis's clock decides for both.
    for _ in 0..2 {
        assert!(
            slow_clock
                .check(Scope::Ip, &id, rate, now - 3_600_000)
                .await
                .allowed
        );
    }
    let third = right_clock.check(Scope::Ip, &id, rate, now).await;
    assert!(
        !third.allowed,
        "the budget is spent whatever the instances' clocks say"
    );
}

#[tokio::test]
async fn the_open_holds_cap_holds_when_one_customer_checks_out_many_times_at_once() {
    let app = TestApp::spawn_with(&[
        (config::RATE_PER_CUSTOMER, "100/min"),
        (config::RATE_PER_IP, "100/min"),
        (config::MAX_OPEN_HOLDS, "2"),
    ])
    .await;
    let (_, _, headers) = app.checkout(cart(&[("sticker-pack", 1)]), &[]).await;
    let cookie = guest_cookie(&headers);
    let barrier = tokio::sync::Barrier::new(8);
    let statuses = futures_util::future::join_all((0..8).map(|_| async {
        barrier.wait().await;
        app.checkout(cart(&[("sticker-pack", 1)]), &[("cookie", cookie.as_str())])
            .await
            .0
    }))
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "one more than the first, at most: {statuses:?}"
    );
    assert_eq!(app.reserved("sticker-pack").await, 2);
    app.stop().await;
}
