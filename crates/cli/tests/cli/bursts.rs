//! Bursts from outside against a real `caisse serve`: memory and connections stay bounded.

use std::net::{IpAddr, Ipv4Addr};

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
