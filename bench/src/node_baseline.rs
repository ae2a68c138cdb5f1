//! The seed's Node stack (`bench/node/server.js`: a `node:http` route handler, stripe-node's
//! `constructEvent`, better-sqlite3), driven like caisse's webhook effect: the same event bodies,
//! load generator and connections, on its own copy of caisse's freshly migrated and seeded
//! SQLite file. Its packages are installed from the committed lock file when missing; its orders
//! are counted afterwards, so that a 200 without the work cannot pass for a rate.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use caisse_bench::{free_port, scalar, Proc, SECRET_KEY, WEBHOOK_SECRET};

use crate::load::{load, post_signed};
use crate::profile::cpu_seconds;

/// What one load of the seed's stack measured.
pub struct Measured {
    pub rate: f64,
    pub latencies: Vec<Duration>,
    /// CPU seconds its process spent on the load.
    pub cpu: f64,
}

/// `bench/node`: the server, its `package.json` and lock file.
fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("node")
}

/// Runs `command`; on failure, why (its status and the last line it wrote on stderr).
fn run(command: &mut Command) -> Result<(), String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
    Err(format!("{}: {last}", out.status))
}

/// `node` runnable and `bench/node/node_modules` installed: `npm ci` when it is missing.
fn install() -> Result<(), String> {
    run(Command::new("node").arg("--version")).map_err(|e| format!("node: {e}"))?;
    let dir = dir();
    let modules = dir.join("node_modules");
    if modules.is_dir() {
        return Ok(());
    }
    eprintln!(
        "caisse-bench: {} is missing; running npm ci there (it compiles better-sqlite3: a minute or two)",
        modules.display()
    );
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir))
    .map_err(|e| {
        // A half-made install would pass for a whole one next time.
        let _ = std::fs::remove_dir_all(&modules);
        format!("npm ci in {}: {e}", dir.display())
    })
}

/// `server.js` on a free port over the SQLite file `db_path`, answering; its base URL.
async fn start(http: &reqwest::Client, db_path: &str) -> Result<(Proc, String), String> {
    install()?;
    let port = free_port();
    let mut server = Proc(
        Command::new("node")
            .arg(dir().join("server.js"))
            .env("PORT", port.to_string())
            .env("DATABASE_PATH", db_path)
            .env("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("STRIPE_SECRET_KEY", SECRET_KEY)
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("node: {e}"))?,
    );
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = server.0.try_wait() {
            return Err(format!("server.js exited ({status}) before it answered"));
        }
        let health = http.get(format!("{base}/healthz")).send().await;
        if health.is_ok_and(|r| r.status().is_success()) {
            return Ok((server, base));
        }
        if Instant::now() > deadline {
            return Err("server.js did not answer /healthz within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The seed's stack on `bodies`, `connections` at once, over the seeded database `db_url` (a
/// SQLite URL); why not when Node or its packages are missing. Panics when it made other than
/// one order per event.
pub async fn measure(
    http: &reqwest::Client,
    db_url: &str,
    bodies: Arc<Vec<String>>,
    connections: usize,
) -> Result<Measured, String> {
    let path = db_url
        .strip_prefix("sqlite://")
        .expect("the Node baseline runs on a SQLite file");
    let (server, base) = start(http, path).await?;
    let (h, n) = (http.clone(), bodies.len());
    let cpu_before = cpu_seconds(Some(server.0.id()));
    let (rate, latencies) = load(n, connections, move |i| {
        let (h, b, u) = (h.clone(), bodies.clone(), base.clone());
        async move {
            post_signed(&h, &u, b[i].clone()).await;
        }
    })
    .await;
    let cpu = cpu_seconds(Some(server.0.id())) - cpu_before;
    drop(server);
    let orders = scalar(db_url, "SELECT COUNT(*) FROM orders").await;
    assert_eq!(orders as usize, n, "the Node baseline: one order per event");
    Ok(Measured {
        rate,
        latencies,
        cpu,
    })
}
