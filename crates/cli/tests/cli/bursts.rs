//! Bursts from outside against a real `caisse serve`: memory and connections stay bounded.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use crate::support::{free_port, serve, wait_for, Running};

/// The peak resident memory of a process, in MiB (`VmHWM`).
fn peak_rss_mib(process: &Running) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", process.0.id())).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024
}

/// 127.0.0.2, 127.0.0.3, …: distinct client addresses on the loopback.
fn loopback(i: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + i))
}

/// 200 wrong sign-ins at once from 50 addresses (four each: within the per-network rate, so every
/// one reaches the password check): the process-wide cap on argon2 checks keeps the memory of the
/// whole process under 300 MB (without it, each check holds 19 MiB: 200 × 19 MiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_wrong_sign_ins_at_once_leave_the_process_under_300_mb() {
    let dir = tempfile::tempdir().unwrap();
    let hash = caisse_shop::admin::hash_password("the right password, surely").unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = serve(
        dir.path(),
        port,
        "http://127.0.0.1:9",
        &[
            ("CAISSE_MAIL", "off"),
            ("CAISSE_ADMIN_PASSWORD_HASH", hash.as_str()),
        ],
    );
    wait_for(&format!("{base}/healthz")).await;
    let before = peak_rss_mib(&server);
    let clients: Vec<reqwest::Client> = (0..50)
        .map(|i| {
            reqwest::Client::builder()
                .local_address(loopback(i))
                .build()
                .unwrap()
        })
        .collect();
    let answers = futures_util::future::join_all((0..200).map(|n| {
        let req = clients[n % 50]
            .post(format!("{base}/admin/login"))
            .header("cookie", "caisse_admin_login=double-submitted")
            .form(&[("csrf", "double-submitted"), ("password", "wrong")]);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.headers().contains_key("retry-after"))
        }
    }))
    .await;
    let wrong = answers.iter().filter(|(s, _)| *s == 401).count();
    let busy = answers.iter().filter(|(s, _)| *s == 429).count();
    assert_eq!(wrong + busy, 200, "{answers:?}");
    assert!(wrong >= 1, "some were checked");
    assert!(answers.iter().all(|(s, retry)| *s != 429 || *retry));
    let peak = peak_rss_mib(&server);
    eprintln!(
        "sign-in burst: {wrong} checked (401), {busy} turned away (429), peak RSS {before} MiB before, {peak} MiB after"
    );
    assert!(peak < 300, "peak RSS {peak} MiB");
}

/// Lets this test process hold a thousand sockets where the soft limit is the usual 1,024.
fn raise_own_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < 4096 {
            limit.rlim_cur = limit.rlim_max.min(4096);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// 1,000 idle connections from one address, against a server that may hold 500: the per-address
/// cap (64) closes the rest at once, and `/healthz` answers every request from another address
/// (without the cap, the 500 slots are the idle ones').
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_connections_from_one_address_leave_healthz_to_the_others() {
    raise_own_fd_limit();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = serve(
        dir.path(),
        port,
        "http://127.0.0.1:9",
        &[("CAISSE_MAIL", "off"), ("CAISSE_MAX_CONNECTIONS", "500")],
    );
    wait_for(&format!("{base}/healthz")).await;
    let target: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut idle = Vec::new();
    for _ in 0..1000 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(std::net::SocketAddr::new(loopback(0), 0))
            .unwrap();
        idle.push(socket.connect(target).await.unwrap());
    }
    let other = reqwest::Client::builder()
        .local_address(loopback(1))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut answered = 0;
    for _ in 0..60 {
        let r = other.get(format!("{base}/healthz")).send().await;
        if r.is_ok_and(|r| r.status() == 200) {
            answered += 1;
        }
    }
    assert_eq!(answered, 60, "every /healthz from another address answered");
    drop(idle);
}

/// Under a hard file-descriptor limit of 600 (soft 300), `caisse serve` raises its soft limit to
/// 600 and lowers the default `CAISSE_MAX_CONNECTIONS` (10,000) to what 600 holds, saying so.
#[tokio::test]
async fn serve_raises_its_fd_limit_and_lowers_a_connection_cap_it_cannot_hold() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let db = format!("sqlite://{}", dir.path().join("caisse.db").display());
    let listen = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new("sh")
        .args([
            "-c",
            "ulimit -Sn 300 && ulimit -Hn 600 && exec \"$0\" serve",
            env!("CARGO_BIN_EXE_caisse"),
        ])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs([
            ("DATABASE_URL", db.as_str()),
            ("CAISSE_LISTEN", listen.as_str()),
            ("STRIPE_SECRET_KEY", crate::support::SK),
            ("STRIPE_WEBHOOK_SECRET", crate::support::WH),
            ("CAISSE_GUEST_COOKIE_SECRET", crate::support::GUEST),
            ("CAISSE_METRICS_LISTEN", "127.0.0.1:0"),
            ("CAISSE_MAIL", "off"),
            ("CAISSE_LOG_FORMAT", "json"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let running = Running(child);
    wait_for(&format!("http://{listen}/healthz")).await;
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", running.0.id())).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert_eq!(
        open_files.split_whitespace().nth(3),
        Some("600"),
        "soft limit raised to the hard one: {open_files}"
    );
    drop(running);
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut { stderr }, &mut logs).unwrap();
    let warning = logs
        .lines()
        .find(|l| l.contains("CAISSE_MAX_CONNECTIONS is more than"))
        .unwrap_or_else(|| panic!("no warning in {logs}"));
    assert!(
        warning.contains("\"lowered_to\":344") && warning.contains("\"configured\":10000"),
        "{warning}"
    );
}

/// 300 deliveries with a bad signature: one log line a second at most, each with the count of
/// failures it stands for, instead of a line each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_signatures_logs_one_line_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let db = format!("sqlite://{}", dir.path().join("caisse.db").display());
    let mut child = crate::support::caisse(
        dir.path(),
        &["serve"],
        &[
            ("DATABASE_URL", db.as_str()),
            ("CAISSE_LISTEN", listen.as_str()),
            ("STRIPE_SECRET_KEY", crate::support::SK),
            ("STRIPE_WEBHOOK_SECRET", crate::support::WH),
            ("CAISSE_GUEST_COOKIE_SECRET", crate::support::GUEST),
            ("CAISSE_METRICS_LISTEN", "127.0.0.1:0"),
            ("CAISSE_MAIL", "off"),
            ("CAISSE_LOG_FORMAT", "json"),
        ],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let stderr = child.stderr.take().unwrap();
    let running = Running(child);
    wait_for(&format!("http://{listen}/healthz")).await;
    let http = reqwest::Client::new();
    let started = Instant::now();
    for _ in 0..300 {
        let r = http
            .post(format!("http://{listen}/api/webhooks/stripe"))
            .header("stripe-signature", "t=1,v1=00")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
    }
    let seconds = started.elapsed().as_secs() + 1;
    drop(running);
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut { stderr }, &mut logs).unwrap();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter(|l| l.contains("bad signature"))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        !lines.is_empty() && lines.len() as u64 <= seconds + 1,
        "{} lines in {seconds} s",
        lines.len()
    );
    let counted: u64 = lines
        .iter()
        .map(|l| l["fields"]["failures"].as_u64().unwrap())
        .sum();
    assert!(
        counted <= 300 && lines[0]["fields"]["failures"] == 1,
        "{lines:?}"
    );
}
