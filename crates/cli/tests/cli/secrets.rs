//! No secret value in `config check`'s output, in the logs of a running server, or in its answers.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{caisse, free_port, run, text, GUEST, PK, SK, WH};

#[test]
fn config_check_masks_every_secret() {
    let dir = tempfile::tempdir().unwrap();
    let jwt = "CLIJWTSECRETVALUE-0123456789-0123456789";
    let out = run(
        dir.path(),
        &["config", "check"],
        &[
            ("STRIPE_SECRET_KEY", SK),
            (
                "STRIPE_WEBHOOK_SECRET",
                &format!("{WH},whsec_CLI_ROTATED_SECRET_0123"),
            ),
            ("STRIPE_PUBLISHABLE_KEY", PK),
            ("CAISSE_JWT_SECRET", jwt),
            (
                "DATABASE_URL",
                "postgres://caisse:CLIDBPASSWORD@db.internal/caisse",
            ),
            ("SMTP_URL", "smtps://shop:CLISMTPPASSWORD@mail.internal:465"),
            ("CAISSE_GUEST_COOKIE_SECRET", GUEST),
            ("CAISSE_MAIL_FROM", "Shop <orders@shop.example>"),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("sk_test_****") && stdout.contains("whsec_****"),
        "{stdout}"
    );
    assert!(
        stdout.contains(PK),
        "the publishable key is public and shown"
    );
    assert!(
        stdout.contains("smtps://shop:****@mail.internal:465"),
        "{stdout}"
    );
    for secret in [
        SK,
        WH,
        "CLI_ROTATED_SECRET",
        jwt,
        "CLIDBPASSWORD",
        "CLISMTPPASSWORD",
    ] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} leaked:\n{stdout}{stderr}"
        );
    }
}

/// A real `caisse serve` with debug logs, a few requests, SIGTERM: a clean exit and no secret in
/// anything it wrote.
#[test]
fn serve_logs_no_secret_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let metrics_listen = format!("127.0.0.1:{}", free_port());
    let mut child = caisse(
        dir.path(),
        &["serve"],
        &[
            ("STRIPE_SECRET_KEY", SK),
            ("STRIPE_WEBHOOK_SECRET", WH),
            ("DATABASE_URL", &db),
            ("CAISSE_LISTEN", &listen),
            ("CAISSE_LOG_FORMAT", "json"),
            ("RUST_LOG", "debug"),
            ("SMTP_URL", "smtp://shop:CLISMTPPASSWORD@127.0.0.1:1"),
            ("CAISSE_METRICS_LISTEN", &metrics_listen),
            ("CAISSE_GUEST_COOKIE_SECRET", GUEST),
            ("CAISSE_MAIL_FROM", "orders@shop.example"),
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let answers = runtime.block_on(async {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while client
            .get(format!("http://{listen}/healthz"))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "caisse serve did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut all = String::new();
        for path in ["/api/config", "/api/products", "/readyz", "/nope"] {
            all += &client
                .get(format!("http://{listen}{path}"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
        }
        // Metrics only on the operators' listener.
        all += &client
            .get(format!("http://{metrics_listen}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(all.contains("caisse_http_requests_total"), "{all}");
        all
    });

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = wait(&mut child, Duration::from_secs(20));
    let mut logs = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert_eq!(
        exit,
        Some(0),
        "caisse serve should exit cleanly on SIGTERM:\n{logs}"
    );
    assert!(logs.contains("shutting down"), "{logs}");
    assert!(
        logs.lines().filter(|l| l.starts_with('{')).count() >= 1,
        "JSON logs expected:\n{logs}"
    );
    for secret in [SK, WH] {
        assert!(!logs.contains(secret), "secret in logs:\n{logs}");
        assert!(!answers.contains(secret), "secret in a response");
    }
}

fn wait(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
