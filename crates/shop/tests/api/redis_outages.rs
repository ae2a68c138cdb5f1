//! Redis is never needed to take a payment: a Redis that accepts connections and never answers
//! (a failover, a firewall that drops packets), or one that stops and comes back, costs checkout
//! at most `CAISSE_REDIS_TIMEOUT_MS` once per cool-down; the limiter limits in process meanwhile,
//! raises one `redis_unavailable` alert, stays ready, and shares its budget again once Redis
//! answers.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use caisse_shop::config;
use futures_util::future::join_all;

use crate::support::{cart, wait_for, TestApp, LOOSE};

/// A listener that accepts every connection and never answers, nor closes; it counts them.
async fn black_hole() -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (url, accepted, task)
}

async fn redis_alerts(app: &TestApp) -> usize {
    app.store
        .alerts(true, 50)
        .await
        .unwrap()
        .iter()
        .filter(|a| a.kind.as_str() == "redis_unavailable")
        .count()
}

#[tokio::test]
async fn a_redis_that_never_answers_slows_no_checkout_and_raises_one_alert() {
    let (url, accepted, hole) = black_hole().await;
    let started_all = Instant::now();
    let app = TestApp::spawn_with(&[LOOSE, &[(config::REDIS_URL, url.as_str())]].concat()).await;
    // 20 checkouts in a row from distinct customers (each a new guest).
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let started = Instant::now();
        let (status, body, _) = app.checkout(cart(&[("sticker-pack", 1)]), &[]).await;
        slowest = slowest.max(started.elapsed());
        assert_eq!(status, 201, "checkout {i}: {body}");
    }
    assert!(slowest < Duration::from_secs(1), "slowest {slowest:?}");
    // And 16 at once: none queues behind another's wait for Redis.
    let barrier = tokio::sync::Barrier::new(16);
    let statuses = join_all((0..16).map(|_| async {
        barrier.wait().await;
        app.checkout(cart(&[("sticker-pack", 1)]), &[]).await.0
    }))
    .await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    // 72 limiter checks, but Redis is asked again only once per cool-down (2 s), not per check.
    let asked = accepted.load(Ordering::SeqCst);
    let cool_downs = started_all.elapsed().as_secs() as usize / 2 + 1;
    assert!(
        asked <= cool_downs + 1,
        "{asked} connections in {cool_downs} cool-downs"
    );
    wait_for(10, "the redis_unavailable alert", || async {
        (redis_alerts(&app).await > 0).then_some(())
    })
    .await;
    assert_eq!(redis_alerts(&app).await, 1, "one alert per outage");
    let (status, _) = app.get_json("/readyz").await;
    assert_eq!(status, 200, "Redis is not needed to take payments");
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("caisse_ratelimit_fallback_total"),
        "{metrics}"
    );
    hole.abort();
    app.stop().await;
}

/// A `redis-server` of this test's own on a free port (never the shared one).
struct OwnRedis {
    port: u16,
    child: Child,
}

impl OwnRedis {
    fn start(port: u16) -> Option<OwnRedis> {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--bind", "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        Some(OwnRedis { port, child })
    }

    async fn keys(&self) -> i64 {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}", self.port)).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("DBSIZE").query_async(&mut c).await.unwrap()
    }

    async fn ready(self) -> OwnRedis {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}", self.port)).unwrap();
        wait_for(10, "redis-server to answer", || async {
            let mut c = client.get_multiplexed_async_connection().await.ok()?;
            redis::cmd("PING").query_async::<String>(&mut c).await.ok()
        })
        .await;
        self
    }

    fn stop(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

#[tokio::test]
async fn a_redis_stopped_then_started_again_is_left_then_used_again() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let Some(redis) = OwnRedis::start(port) else {
        assert!(
            std::env::var("CAISSE_TEST_REDIS_URL").is_err(),
            "CAISSE_TEST_REDIS_URL is set but redis-server cannot be started"
        );
        eprintln!("SKIPPED: no redis-server to start and stop");
        return;
    };
    let redis = redis.ready().await;
    let url = format!("redis://127.0.0.1:{port}");
    // A stopped Redis refuses at once; a generous time limit keeps a busy test machine's slow
    // first connection from counting as an outage.
    let settings = [
        (config::REDIS_URL, url.as_str()),
        (config::REDIS_TIMEOUT, "2000"),
        // A key lives until its budget is full again: at 1000/hour, seconds, long enough to see.
        (config::RATE_PER_CUSTOMER, "1000/hour"),
        (config::RATE_PER_IP, "1000/hour"),
    ];
    let app = TestApp::spawn_with(&[LOOSE, &settings].concat()).await;
    assert_eq!(app.checkout(cart(&[("sticker-pack", 1)]), &[]).await.0, 201);
    assert!(redis.keys().await > 0, "the budget lives in Redis");
    assert_eq!(redis_alerts(&app).await, 0);

    redis.stop();
    for i in 0..5 {
        let started = Instant::now();
        let (status, body, _) = app.checkout(cart(&[("sticker-pack", 1)]), &[]).await;
        assert_eq!(status, 201, "checkout {i} with Redis stopped: {body}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    wait_for(10, "the redis_unavailable alert", || async {
        (redis_alerts(&app).await == 1).then_some(())
    })
    .await;
    assert_eq!(app.get_json("/readyz").await.0, 200);

    // Started again, empty: once the cool-down is over, the limiter writes to it again.
    let redis = OwnRedis::start(port).unwrap().ready().await;
    assert_eq!(redis.keys().await, 0);
    wait_for(10, "the limiter to use Redis again", || async {
        assert_eq!(app.checkout(cart(&[("sticker-pack", 1)]), &[]).await.0, 201);
        (redis.keys().await > 0).then_some(())
    })
    .await;
    assert_eq!(redis_alerts(&app).await, 1, "still the one outage's alert");
    redis.stop();
    app.stop().await;
}
