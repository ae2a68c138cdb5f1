//! PostgreSQL down (its port refuses connections, its sessions cut): `/readyz`, a checkout and a
//! webhook answer 503 within seconds, not after a load balancer's health check gave up, and each
//! outage the webhooks saw is one `database_unavailable` alert once the database is back; a
//! checkout whose session Stripe made while the database went away ends that session at Stripe.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::support::{cart, event, scalar, TestApp, TestDb, LOOSE};

/// A TCP proxy to PostgreSQL that the test can take down (the port refuses, every session is cut)
/// and bring back on the same port.
struct Switch {
    port: u16,
    target: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Switch {
    async fn start(target: String) -> Switch {
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let switch = Switch {
            port,
            target,
            tasks: Arc::default(),
        };
        switch.up().await;
        switch
    }

    async fn up(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let target = self.target.clone();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(pipe);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    fn down(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

async fn timed<T>(f: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let out = f.await;
    (out, started.elapsed())
}

async fn outage_alerts(app: &TestApp) -> i64 {
    scalar(
        &app.store,
        "SELECT COUNT(*) FROM alerts WHERE kind = 'database_unavailable'",
    )
    .await
}

/// A caisse whose PostgreSQL is reached through a [`Switch`], the switch, and a store that reaches
/// the server directly (the test's own queries); `None` on SQLite.
async fn behind_a_switch() -> Option<(TestApp, Switch, caisse_shop::store::Store)> {
    let db = TestDb::new().await;
    if !db.url.starts_with("postgres") {
        return None;
    }
    // postgres://user@host:port/name → the proxy's port instead.
    let (scheme_user, rest) = db.url.split_once('@').unwrap();
    let (authority, name) = rest.split_once('/').unwrap();
    let switch = Switch::start(authority.to_string()).await;
    let proxied = db.reached_at(format!("{scheme_user}@127.0.0.1:{}/{name}", switch.port));
    let direct = db.store().await;
    let app = TestApp::spawn_on(proxied, LOOSE).await;
    Some((app, switch, direct))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postgresql_down_requests_answer_503_promptly_and_each_outage_is_one_alert() {
    let Some((app, switch, direct)) = behind_a_switch().await else {
        return;
    };
    app.sandbox.set_forward_to(None);
    let ignored = || {
        event(
            "customer.created",
            json!({"id": "cus_1", "object": "customer"}),
        )
    };
    assert_eq!(app.deliver(&ignored()).await.0, 200);
    assert_eq!(app.get_json("/readyz").await.0, 200);

    for outage in 1..=2 {
        switch.down();
        // Past the idle time after which a lent connection is tested: the pool finds its
        // connections dead and must open new ones, which the port refuses.
        tokio::time::sleep(
            caisse_shop::store::POSTGRES_PING_AFTER_IDLE + Duration::from_millis(300),
        )
        .await;
        let ((status, body), took) = timed(app.get_json("/readyz")).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (503, Some("not_ready"))
        );
        // Within the probe's 2 s, before the pool's own 3 s wait for a connection.
        assert!(took < Duration::from_millis(2900), "/readyz took {took:?}");
        let ((status, body, _), took) = timed(app.checkout(cart(&[("tee-classic", 1)]), &[])).await;
        assert_eq!(status, 503, "{body}");
        assert!(took < Duration::from_secs(7), "the checkout took {took:?}");
        let ((status, _), took) = timed(app.deliver(&ignored())).await;
        assert_eq!(status, 503);
        assert!(took < Duration::from_secs(7), "the webhook took {took:?}");

        switch.up().await;
        // The first delivery that succeeds tells the outage.
        let mut answered = 0;
        for _ in 0..100 {
            answered = app.deliver(&ignored()).await.0;
            if answered == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(answered, 200);
        let alerts = scalar(
            &direct,
            "SELECT COUNT(*) FROM alerts WHERE kind = 'database_unavailable'",
        )
        .await;
        assert_eq!(alerts, outage, "one alert per outage, one for each");
    }
    assert_eq!(outage_alerts(&app).await, 2);
    app.stop().await;
    switch.down();
}

/// The database goes away while Stripe makes the session: the session cannot be recorded on its
/// hold, nor the hold even read, and the session is ended at Stripe all the same (it needs no
/// database), so that no one can pay for a hold the reconciler will release. Once the database
/// is back, the session's `checkout.session.expired` releases the hold and frees its key: the
/// client was told to try again, and its retry with the key is a new checkout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_made_as_the_database_went_away_is_ended_at_stripe() {
    let Some((app, switch, _direct)) = behind_a_switch().await else {
        return;
    };
    app.sandbox.set_forward_to(None);
    app.sandbox.set_latency(2_000);
    let checkout = tokio::spawn({
        let (http, url) = (app.http.clone(), app.url("/api/checkout"));
        async move {
            http.post(url)
                .header("idempotency-key", "went-away")
                .json(&cart(&[("tee-classic", 1)]))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    // The hold is written at once; Stripe takes two seconds to make the session.
    tokio::time::sleep(Duration::from_millis(800)).await;
    switch.down();
    assert_eq!(checkout.await.unwrap(), 503);
    app.sandbox.set_latency(0);
    let sessions = app.stripe_get("/v1/checkout/sessions?limit=10").await;
    let all = sessions["data"].as_array().unwrap();
    assert_eq!(all.len(), 1, "{sessions}");
    assert_eq!(all[0]["status"], "expired", "{sessions}");
    switch.up().await;
    let expired = event("checkout.session.expired", all[0].clone());
    let mut answered = 0;
    for _ in 0..100 {
        answered = app.deliver(&expired).await.0;
        if answered == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answered, 200);
    let (status, retried, _) = app
        .checkout(
            cart(&[("tee-classic", 1)]),
            &[("idempotency-key", "went-away")],
        )
        .await;
    assert_eq!(status, 201, "the retry is a new checkout: {retried}");
    assert_ne!(retried["checkout_session_id"], all[0]["id"]);
    app.stop().await;
    switch.down();
}
