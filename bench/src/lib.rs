//! What `caisse-bench` and `caisse-chaos` share: a database of their own, a `caisse sandbox` and
//! the settings of a `caisse serve` under load, each run as its own process.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The webhook secret both programs sign with and give the sandbox and caisse.
pub const WEBHOOK_SECRET: &str = "whsec_harness_secret_for_signatures_0123";
/// A test-mode key: the sandbox accepts any.
pub const SECRET_KEY: &str = "sk_test_harnesssecretkey0123456789";

/// A child process, killed when dropped (a benchmark that panics leaves no server behind).
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `caisse` binary built beside the running program.
pub fn caisse_binary() -> std::path::PathBuf {
    let caisse = std::env::current_exe().unwrap().with_file_name("caisse");
    assert!(
        caisse.exists(),
        "build caisse beside this program first: cargo build [--release] -p caisse -p caisse-bench"
    );
    caisse
}

/// A database of its own: a SQLite file in `dir`, or a new PostgreSQL database on the server
/// `postgres` names (its URL, with the database to connect to for `CREATE DATABASE`).
pub async fn database(dir: &Path, postgres: Option<&str>, prefix: &str) -> String {
    use sqlx::Connection;
    let Some(admin) = postgres else {
        return format!("sqlite://{}", dir.join(format!("{prefix}.db")).display());
    };
    let mut c = sqlx::PgConnection::connect(admin)
        .await
        .expect("PostgreSQL");
    let name = format!("caisse_{prefix}_{}", std::process::id());
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut c)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut c)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
    format!("{base}/{name}")
}

/// Drops what [`database`] made on PostgreSQL; nothing to do for a SQLite file in a temporary
/// directory.
pub async fn drop_database(postgres: Option<&str>, url: &str) {
    use sqlx::Connection;
    let Some(admin) = postgres else { return };
    if let Ok(mut c) = sqlx::PgConnection::connect(admin).await {
        let name = url.rsplit('/').next().unwrap_or_default();
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut c)
            .await;
    }
}

/// One integer a query of the database at `url` answers (a count, a sum).
pub async fn scalar(url: &str, sql: &str) -> i64 {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
    }
}

/// A `caisse sandbox` on `port` that delivers no webhook by itself (the programs deliver).
pub fn sandbox(caisse: &Path, port: u16) -> Child {
    Command::new(caisse)
        .args([
            "sandbox",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--webhook-secret",
            WEBHOOK_SECRET,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start caisse sandbox")
}

/// The settings of a `caisse serve` on `port` under load: the database, the sandbox as Stripe,
/// no mail (which queues no confirmation: README, Performance), warnings only, and limits no
/// load of one client network meets.
pub fn serve_env(url: &str, port: u16, metrics_port: u16, stripe: &str) -> Vec<(String, String)> {
    [
        ("DATABASE_URL", url.to_string()),
        ("CAISSE_LISTEN", format!("127.0.0.1:{port}")),
        ("CAISSE_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}")),
        ("STRIPE_SECRET_KEY", SECRET_KEY.into()),
        ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET.into()),
        ("STRIPE_API_BASE", stripe.to_string()),
        (
            "CAISSE_GUEST_COOKIE_SECRET",
            "harness-guest-cookie-secret-0123456789-0123".into(),
        ),
        ("CAISSE_MAIL", "off".into()),
        ("CAISSE_LOG_FORMAT", "json".into()),
        ("RUST_LOG", "warn".into()),
        ("CAISSE_CHECKOUT_RATE_PER_CUSTOMER", "100000/sec".into()),
        ("CAISSE_CHECKOUT_RATE_PER_IP", "100000/sec".into()),
        ("CAISSE_MAX_OPEN_HOLDS_PER_CUSTOMER", "1000000".into()),
        ("CAISSE_MAX_OPEN_HOLDS_PER_IP", "1000000".into()),
        ("CAISSE_MAX_HELD_UNITS_PER_IP", "100000000".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// `caisse serve` with `env` and nothing else of this process's environment.
pub fn serve(caisse: &Path, env: &[(String, String)], stderr: Stdio) -> Child {
    Command::new(caisse)
        .arg("serve")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start caisse serve")
}

/// Waits until `url` answers 2xx (60 s at most).
pub async fn wait_for(http: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http
        .get(url)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "{url} never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
