//! Runs the real `caisse` binary with a clean environment.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const SK: &str = "sk_test_CLISECRETKEYVALUE0123456789";
pub const PK: &str = "pk_test_CLIPUBLISHABLE0123456789";
pub const WH: &str = "whsec_CLI_WEBHOOK_SECRET_VALUE_0123456789";
pub const GUEST: &str = "CLI-GUEST-COOKIE-SECRET-VALUE-0123456789";

/// `caisse` with only `vars` set (plus PATH), in `dir`.
pub fn caisse(dir: &std::path::Path, args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_caisse"));
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

pub fn run(dir: &std::path::Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    caisse(dir, args, vars).output().expect("run caisse")
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A port free on every interface whose next one is free too: `caisse dev` puts its sandbox on
/// the port after its own, and tests run side by side (a next port taken by another test's
/// process made `caisse dev` exit before it answered).
pub fn free_port_pair() -> u16 {
    loop {
        let first = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        let port = first.local_addr().unwrap().port();
        if port < u16::MAX && std::net::TcpListener::bind(("0.0.0.0", port + 1)).is_ok() {
            return port;
        }
    }
}

/// A child process stopped with SIGTERM (then killed) when dropped.
pub struct Running(pub Child);

impl Running {
    /// SIGKILL: the process dies at once, mid-whatever it was doing.
    pub fn kill_now(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.0.try_wait() {
            return;
        }
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
    }
}

/// Waits until `url` answers 2xx, for at most 30 s.
pub async fn wait_for(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reqwest::get(url)
        .await
        .map(|r| r.status().is_success())
        .unwrap_or(false)
    {
        assert!(Instant::now() < deadline, "{url} never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `caisse serve` on `port` with its SQLite file in `dir`, the sandbox at `api_base` and extra
/// settings (a later `DATABASE_URL` among them wins).
pub fn serve(dir: &std::path::Path, port: u16, api_base: &str, extra: &[(&str, &str)]) -> Running {
    Running(
        serve_command(dir, port, api_base, extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// The command [`serve`] runs.
pub fn serve_command(
    dir: &std::path::Path,
    port: u16,
    api_base: &str,
    extra: &[(&str, &str)],
) -> Command {
    let db = format!("sqlite://{}", dir.join("caisse.db").display());
    let listen = format!("127.0.0.1:{port}");
    let mut vars = vec![
        ("DATABASE_URL", db.as_str()),
        ("CAISSE_LISTEN", listen.as_str()),
        ("STRIPE_SECRET_KEY", SK),
        ("STRIPE_WEBHOOK_SECRET", WH),
        ("STRIPE_API_BASE", api_base),
        ("CAISSE_GUEST_COOKIE_SECRET", GUEST),
        ("CAISSE_METRICS_LISTEN", "127.0.0.1:0"),
    ];
    vars.extend_from_slice(extra);
    caisse(dir, &["serve"], &vars)
}

/// The `name=value` part of a response's (first) `Set-Cookie` header, to send back.
pub fn cookie_pair(response: &reqwest::Response) -> String {
    response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// `CAISSE_TEST_POSTGRES_URL` when CI asks for PostgreSQL; a test that needs it says `SKIPPED`
/// without it.
pub fn postgres_admin_url() -> Option<String> {
    let url = std::env::var("CAISSE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("SKIPPED: CAISSE_TEST_POSTGRES_URL is not set (.ci/run sets it)");
    }
    url
}
