//! Test fixtures: a database per test and a running caisse on a random port.

use caisse_shop::config::{self, Config, Mode, Source};
use caisse_shop::store::StoreError;
use caisse_shop::{App, Store};
use sqlx::Connection;

pub const SECRET_KEY: &str = "sk_test_caissetestsecretkey0123456789";
pub const PUBLISHABLE_KEY: &str = "pk_test_caissetestpublishable0123456789";
pub const WEBHOOK_SECRET: &str = "whsec_caisse_test_webhook_secret_0123456789";
/// One guest secret for every instance, as a deployment of several sets it.
pub const GUEST_SECRET: &str = "caisse-test-guest-cookie-secret-0123456789";

/// A database of its own: a SQLite file in a temporary directory, or a new PostgreSQL database
/// (with a temporary directory too, where the instances on it write their emails).
#[derive(Clone)]
pub struct TestDb {
    pub url: String,
    dir: std::sync::Arc<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new() -> TestDb {
        match std::env::var("CAISSE_TEST_POSTGRES_URL") {
            Ok(admin_url) if !admin_url.is_empty() => {
                // Asked for PostgreSQL: a server that does not answer is a failure, not a skip.
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                            "CAISSE_TEST_POSTGRES_URL is set but PostgreSQL does not answer: {e}"
                        )
                    });
                let name = format!("caisse_test_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .expect("create the test database");
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(b, _)| b)
                    .unwrap_or(&admin_url);
                TestDb {
                    url: format!("{base}/{name}"),
                    dir: std::sync::Arc::new(tempfile::tempdir().expect("temp dir")),
                }
            }
            _ => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("caisse.db").display());
                TestDb {
                    url,
                    dir: std::sync::Arc::new(dir),
                }
            }
        }
    }

    /// The same database reached at another URL (through a proxy of the test's).
    pub fn reached_at(&self, url: String) -> TestDb {
        TestDb {
            url,
            dir: self.dir.clone(),
        }
    }

    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url).await.expect("connect");
        store.migrate().await.expect("migrate");
        store
    }
}

/// A migrated store on a database of its own; keep the `TestDb` alive as long as the store.
pub async fn fresh() -> (TestDb, Store) {
    let db = TestDb::new().await;
    let store = db.store().await;
    (db, store)
}

/// Runs one raw statement, as a hostile or careless hand at the database would.
pub async fn raw(store: &Store, sql: &str) -> Result<u64, StoreError> {
    Ok(match store {
        Store::Sqlite(p, _) => sqlx::query(sql).execute(p).await?.rows_affected(),
        Store::Postgres(p) => sqlx::query(sql).execute(p).await?.rows_affected(),
    })
}

pub async fn scalar(store: &Store, sql: &str) -> i64 {
    match store {
        Store::Sqlite(p, _) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        Store::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
    }
}

/// The one text value `sql` reads, if it finds a row.
pub async fn text(store: &Store, sql: &str) -> Option<String> {
    match store {
        Store::Sqlite(p, _) => sqlx::query_scalar(sql).fetch_optional(p).await.unwrap(),
        Store::Postgres(p) => sqlx::query_scalar(sql).fetch_optional(p).await.unwrap(),
    }
}

pub fn config(db: &TestDb, extra: &[(&str, &str)]) -> Config {
    let mail = db.dir.path().join("mail");
    let mut source = Source::from_pairs([
        (config::DATABASE_URL, db.url.as_str()),
        (config::LISTEN, "127.0.0.1:0"),
        (config::SECRET_KEY, SECRET_KEY),
        (config::PUBLISHABLE_KEY, PUBLISHABLE_KEY),
        (config::WEBHOOK_SECRET, WEBHOOK_SECRET),
        // Emails as files, as `caisse dev` writes them; tests about email set SMTP_URL.
        (config::MAIL_DIR, mail.to_str().unwrap()),
        (config::GUEST_SECRET, GUEST_SECRET),
    ]);
    for (k, v) in extra {
        source.set(k, v);
    }
    Config::load(&source, Mode::Serve, None).expect("test configuration")
}

/// A caisse serving on a random port with the demo catalog loaded, talking to its own sandbox.
pub struct TestApp {
    pub base: String,
    pub store: Store,
    pub app: App,
    pub sandbox: caisse_sandbox::RunningSandbox,
    pub http: reqwest::Client,
    pub _db: TestDb,
    server: caisse_shop::http::RunningServer,
    metrics: caisse_shop::http::RunningServer,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

/// Limits loose enough that only the tests about limits meet them.
pub const LOOSE: &[(&str, &str)] = &[
    (config::RATE_PER_CUSTOMER, "1000/sec"),
    (config::RATE_PER_IP, "1000/sec"),
    (config::MAX_OPEN_HOLDS, "1000"),
    (config::MAX_OPEN_HOLDS_PER_IP, "100000"),
    (config::MAX_HELD_UNITS_PER_IP, "1000000"),
    // Every test client is 127.0.0.1.
    (config::MAX_CONNECTIONS_PER_IP, "100000"),
];

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(LOOSE).await
    }

    /// The loose limits plus one more setting.
    pub async fn spawn_setting(name: &str, value: &str) -> TestApp {
        let mut extra = LOOSE.to_vec();
        extra.push((name, value));
        TestApp::spawn_with(&extra).await
    }

    pub async fn spawn_with(extra: &[(&str, &str)]) -> TestApp {
        TestApp::spawn_on(TestDb::new().await, extra).await
    }

    /// Another instance on the same database (and sandbox settings).
    pub async fn spawn_on(db: TestDb, extra: &[(&str, &str)]) -> TestApp {
        let store = db.store().await;
        caisse_shop::catalog::load_demo_if_empty(&store, caisse_shop::store::unix_now())
            .await
            .unwrap();
        let mut options = caisse_sandbox::SandboxOptions::default();
        options.delivery.secrets = vec![WEBHOOK_SECRET.into()];
        // Stripe keeps no order between events and may send one twice: so does every test's
        // sandbox.
        options.chaos = caisse_sandbox::Chaos {
            duplicate: true,
            max_delay_ms: 150,
            ..caisse_sandbox::Chaos::strict()
        };
        let sandbox = caisse_sandbox::start(options).await.unwrap();
        let mut all: Vec<(&str, &str)> = vec![(config::API_BASE, sandbox.url())];
        all.extend_from_slice(extra);
        let app = App::new(config(&db, &all), store.clone()).unwrap();
        let server = caisse_shop::http::spawn(app.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let workers = caisse_shop::workers::spawn(&app);
        let metrics = caisse_shop::http::spawn_metrics(app.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        // The sandbox's webhooks reach this instance, as Stripe's reach a deployed caisse.
        sandbox.set_forward_to(Some(format!("http://{}/api/webhooks/stripe", server.addr)));
        TestApp {
            base: format!("http://{}", server.addr),
            store,
            app,
            sandbox,
            http: reqwest::Client::new(),
            _db: db,
            server,
            metrics,
            workers,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    /// `POST /api/checkout` with `body`, as a fresh guest unless `headers` say otherwise.
    pub async fn checkout(
        &self,
        body: serde_json::Value,
        headers: &[(&str, &str)],
    ) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
        let mut req = self.http.post(self.url("/api/checkout")).json(&body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, r.json().await.unwrap(), headers)
    }

    /// The operators' listener.
    pub fn metrics_addr(&self) -> std::net::SocketAddr {
        self.metrics.addr
    }

    /// `/metrics` from the operators' listener (the public one answers 404 in serve).
    pub async fn metrics_text(&self) -> String {
        self.http
            .get(format!("http://{}/metrics", self.metrics.addr))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// A GET on the sandbox's API, as Stripe's client would make it.
    pub async fn stripe_get(&self, path: &str) -> serde_json::Value {
        self.http
            .get(format!("{}{path}", self.sandbox.url()))
            .bearer_auth(SECRET_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn reserved(&self, product: &str) -> i64 {
        self.store
            .product(product)
            .await
            .unwrap()
            .unwrap()
            .stock_reserved
    }

    pub async fn stop(self) {
        for w in &self.workers {
            w.abort();
        }
        self.server.stop().await.unwrap();
        self.metrics.stop().await.unwrap();
        self.sandbox.stop().await.unwrap();
    }
}

pub fn cart(lines: &[(&str, i64)]) -> serde_json::Value {
    serde_json::json!({ "items": lines.iter().map(|(id, q)| serde_json::json!({"product_id": id, "quantity": q})).collect::<Vec<_>>() })
}

/// The `caisse_guest` cookie a response set, as a `Cookie` header value.
pub fn guest_cookie(headers: &reqwest::header::HeaderMap) -> String {
    headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// An address where nothing listens: a service that is down.
pub fn dead_address() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// A Stripe event around `object`, with a fresh id, as Stripe would send it.
pub fn event(kind: &str, object: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "id": format!("evt_{}", uuid::Uuid::new_v4().simple()),
        "object": "event",
        "api_version": caisse_stripe::API_VERSION,
        "created": caisse_shop::store::unix_now(),
        "data": { "object": object },
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": null, "idempotency_key": null },
        "type": kind,
    })
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `secs` seconds.
pub async fn wait_for<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

impl TestApp {
    /// POSTs `body` to the webhook endpoint with `signature` as the `Stripe-Signature` header.
    pub async fn post_webhook(
        &self,
        body: impl Into<reqwest::Body>,
        signature: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .http
            .post(self.url("/api/webhooks/stripe"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(sig) = signature {
            req = req.header("stripe-signature", sig);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Delivers `event` signed with the configured secret, now.
    pub async fn deliver(&self, event: &serde_json::Value) -> (u16, serde_json::Value) {
        let body = event.to_string();
        let sig = caisse_stripe::signature_header(
            &[WEBHOOK_SECRET],
            caisse_shop::store::unix_now(),
            body.as_bytes(),
        );
        self.post_webhook(body, Some(&sig)).await
    }

    /// `GET /api/checkout/{session}` with the guest cookie that created it.
    pub async fn checkout_status(&self, session: &str, cookie: &str) -> serde_json::Value {
        self.http
            .get(self.url(&format!("/api/checkout/{session}")))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until the status page says `status`, and returns its answer.
    pub async fn wait_status(
        &self,
        session: &str,
        cookie: &str,
        status: &str,
    ) -> serde_json::Value {
        wait_for(
            20,
            &format!("checkout {session} to be {status}"),
            || async {
                let body = self.checkout_status(session, cookie).await;
                (body["status"] == status).then_some(body)
            },
        )
        .await
    }

    pub async fn product_stock(&self, product: &str) -> (i64, i64) {
        let p = self.store.product(product).await.unwrap().unwrap();
        (p.stock_on_hand, p.stock_reserved)
    }

    /// A checkout of `request` paid with 4242 on the sandbox, once its webhooks made the order:
    /// the order's number.
    pub async fn paid_order(&self, request: serde_json::Value) -> i64 {
        self.paid_order_with(request, &caisse_sandbox::shipping::Entered::default())
            .await
    }

    /// [`TestApp::paid_order`] with the payment page's shipping and phone fields filled in. When
    /// an address was typed, waits until the order has it too: the order can come from the
    /// PaymentIntent's event before the session's brings the address.
    pub async fn paid_order_with(
        &self,
        request: serde_json::Value,
        entered: &caisse_sandbox::shipping::Entered,
    ) -> i64 {
        let (status, body, _) = self.checkout(request, &[]).await;
        assert_eq!(status, 201, "{body}");
        let session = body["checkout_session_id"].as_str().unwrap().to_string();
        self.sandbox
            .pay_with(
                &session,
                caisse_sandbox::Method::Card("4242424242424242".into()),
                entered,
            )
            .unwrap();
        let address = if entered.shipping_line1.is_empty() {
            ""
        } else {
            " AND o.shipping_line1 IS NOT NULL"
        };
        let number = format!(
            "SELECT COALESCE(MAX(o.number), 0) FROM orders o JOIN holds h ON h.id = o.hold_id \
             WHERE h.checkout_session_id = '{session}'{address}"
        );
        let store = self.store.clone();
        wait_for(20, "the order", || {
            let (store, number) = (store.clone(), number.clone());
            async move { Some(scalar(&store, &number).await).filter(|n| *n > 0) }
        })
        .await
    }
}

/// Counts rows of `table` (a fixed name from the test itself).
pub async fn count(store: &Store, table: &str) -> i64 {
    scalar(store, &format!("SELECT COUNT(*) FROM {table}")).await
}

/// A checkout's answer with, beside it, the tag checkout kept on the hold's row for its
/// PaymentIntent (the answer does not carry it: only Stripe and the database know it).
pub async fn with_intent_tag(store: &Store, mut checkout: serde_json::Value) -> serde_json::Value {
    let hold_id = checkout["hold_id"].as_str().unwrap();
    let hold = store.hold(hold_id).await.unwrap().unwrap();
    checkout["intent_tag"] = hold
        .intent_tag
        .expect("a hold made by checkout has a tag")
        .into();
    checkout
}

/// The metadata of a hold's own PaymentIntent, as checkout asks Stripe to set it: the hold's id
/// and its tag (a checkout answer passed through [`with_intent_tag`]).
pub fn intent_metadata(hold: &serde_json::Value) -> serde_json::Value {
    use caisse_shop::domain::intent_tag::METADATA_KEY;
    let mut metadata = serde_json::json!({ "hold_id": hold["hold_id"] });
    metadata[METADATA_KEY] = hold["intent_tag"].clone();
    assert!(
        metadata[METADATA_KEY].is_string(),
        "pass the checkout through with_intent_tag"
    );
    metadata
}
