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
            (
                "CAISSE_ALERT_WEBHOOK_URL",
                "https://CLIHOOKUSERTOKEN@hooks.slack.com/services/T000/B000/CLIHOOKPATHTOKEN",
            ),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("https://****@hooks.slack.com/****"),
        "an incoming webhook's URL is its credential: {stdout}"
    );
    assert!(
        stdout.contains("sk_test_****") && stdout.contains("whsec_****"),
        "{stdout}"
    );
    assert!(
        stdout.contains(PK),
        "the publishable key is public and shown"
    );
    assert!(
        stdout.contains("smtps://****:****@mail.internal:465"),
        "{stdout}"
    );
    for secret in [
        SK,
        WH,
        "CLI_ROTATED_SECRET",
        jwt,
        "CLIDBPASSWORD",
        "CLISMTPPASSWORD",
        "CLIHOOKPATHTOKEN",
        "CLIHOOKUSERTOKEN",
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
    // Read as they come: debug logs past a pipe's 64 KiB would block the server on its next
    // line, and it could not stop.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );

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
    if exit.is_none() {
        let _ = child.kill();
    }
    let logs = stdout.join().unwrap() + &stderr.join().unwrap();
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

/// Real flows with known secret values — a config error, a paid checkout through a separate
/// `caisse sandbox` process, Stripe failing, a forged webhook, a dashboard sign-in and a refund,
/// an email to an SMTP server that is not there — and none of the values anywhere: not in either
/// process's logs (debug level), not in any answer or header, not in `/metrics`, not in the
/// database's files.
#[test]
fn secrets_appear_nowhere_in_real_flows() {
    let jwt_secret = "CLIJWTFLOWSECRET-0123456789-0123456789";
    let smtp_password = "CLISMTPFLOWPASSWORD";
    let admin_password = "CLIADMINFLOWPASSWORD-0123";
    let secrets = [SK, WH, GUEST, jwt_secret, smtp_password, admin_password];
    let dir = tempfile::tempdir().unwrap();
    let mut seen = String::new();
    // Logs go to files: debug logs would fill a pipe nobody reads and stall the process.
    let log_file = |name: &str| Stdio::from(std::fs::File::create(dir.path().join(name)).unwrap());

    // A configuration error names the variable, never the value.
    let bad = run(
        dir.path(),
        &["serve"],
        &[("STRIPE_SECRET_KEY", SK), ("STRIPE_PUBLISHABLE_KEY", SK)],
    );
    assert_eq!(bad.status.code(), Some(2));
    let (o, e) = text(&bad);
    seen += &o;
    seen += &e;

    let hash_out = {
        use std::io::Write;
        let mut child = caisse(dir.path(), &["admin", "hash-password"], &[])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{admin_password}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let hash = String::from_utf8(hash_out.stdout)
        .unwrap()
        .trim()
        .to_string();

    let (port, sandbox_port, metrics_port) = (free_port(), free_port(), free_port());
    let base = format!("http://127.0.0.1:{port}");
    let stripe = format!("http://127.0.0.1:{sandbox_port}");
    let sandbox = caisse(
        dir.path(),
        &[
            "sandbox",
            "--listen",
            &format!("127.0.0.1:{sandbox_port}"),
            "--forward-to",
            &format!("{base}/api/webhooks/stripe"),
            "--webhook-secret",
            WH,
        ],
        &[("RUST_LOG", "debug")],
    )
    .stdout(log_file("sandbox.out"))
    .stderr(log_file("sandbox.err"))
    .spawn()
    .unwrap();
    let sandbox = crate::support::Running(sandbox);
    let db_path = dir.path().join("flows.db");
    let server = caisse(
        dir.path(),
        &["serve"],
        &[
            ("STRIPE_SECRET_KEY", SK),
            ("STRIPE_WEBHOOK_SECRET", WH),
            ("STRIPE_API_BASE", &stripe),
            ("STRIPE_PUBLISHABLE_KEY", PK),
            ("DATABASE_URL", &format!("sqlite://{}", db_path.display())),
            ("CAISSE_LISTEN", &format!("127.0.0.1:{port}")),
            (
                "CAISSE_METRICS_LISTEN",
                &format!("127.0.0.1:{metrics_port}"),
            ),
            ("CAISSE_LOG_FORMAT", "json"),
            ("RUST_LOG", "debug"),
            ("CAISSE_GUEST_COOKIE_SECRET", GUEST),
            ("CAISSE_JWT_SECRET", jwt_secret),
            ("CAISSE_ADMIN_PASSWORD_HASH", &hash),
            ("CAISSE_STRIPE_TIMEOUT_SECS", "2"),
            (
                "SMTP_URL",
                &format!("smtp://shop:{smtp_password}@127.0.0.1:1"),
            ),
            ("CAISSE_MAIL_FROM", "orders@shop.example"),
            ("CAISSE_OUTBOX_MAX_ATTEMPTS", "1"),
        ],
    )
    .stdout(log_file("serve.out"))
    .stderr(log_file("serve.err"))
    .spawn()
    .unwrap();
    let mut server = crate::support::Running(server);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let answers = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        crate::support::wait_for(&format!("{base}/healthz")).await;
        crate::support::wait_for(&format!("{stripe}/_sandbox/clock")).await;
        let mut all = String::new();
        let keep = |r: reqwest::Response| async move {
            let mut s = format!("{:?}", r.headers());
            s += &r.text().await.unwrap_or_default();
            s
        };
        // A product to buy.
        let catalog = dir.path().join("catalog.json");
        std::fs::write(
            &catalog,
            r#"[{"id":"tee","name":"T-shirt","unit_amount":2500,"currency":"eur","stock_on_hand":5}]"#,
        )
        .unwrap();
        let imported = run(
            dir.path(),
            &["catalog", "import", catalog.to_str().unwrap()],
            &[("DATABASE_URL", &format!("sqlite://{}", db_path.display()))],
        );
        assert_eq!(imported.status.code(), Some(0), "{:?}", text(&imported));

        let token = caisse_shop::identity::sign_jwt(
            &serde_json::json!({"sub": "customer-42", "exp": caisse_shop::store::unix_now() + 600}),
            jwt_secret.as_bytes(),
        );
        let checkout = |key: &'static str| {
            client
                .post(format!("{base}/api/checkout"))
                .bearer_auth(&token)
                .header("idempotency-key", key)
                .json(&serde_json::json!({"items": [{"product_id": "tee", "quantity": 1}], "email": "ada@example.com"}))
                .send()
        };
        // Stripe failing: the customer hears it, with nothing of Stripe's keys.
        client
            .post(format!("{stripe}/_sandbox/faults"))
            .json(&serde_json::json!({"fail_next": 10, "status": 500}))
            .send()
            .await
            .unwrap();
        let failed = checkout("k-fail").await.unwrap();
        assert_eq!(failed.status(), 503);
        all += &keep(failed).await;
        client
            .post(format!("{stripe}/_sandbox/faults"))
            .json(&serde_json::json!({"fail_next": 0}))
            .send()
            .await
            .unwrap();

        let created = checkout("k-pay").await.unwrap();
        assert_eq!(created.status(), 201);
        let body: serde_json::Value = created.json().await.unwrap();
        let session = body["checkout_session_id"].as_str().unwrap().to_string();
        all += &body.to_string();
        let paid = client
            .post(format!("{stripe}/_sandbox/checkout/sessions/{session}/pay"))
            .json(&serde_json::json!({"card": "4242424242424242"}))
            .send()
            .await
            .unwrap();
        assert!(paid.status().is_success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s: serde_json::Value = client
                .get(format!("{base}/api/checkout/{session}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if s["status"] == "paid" {
                all += &s.to_string();
                break;
            }
            assert!(Instant::now() < deadline, "never paid: {s}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // A forged webhook.
        let forged = client
            .post(format!("{base}/api/webhooks/stripe"))
            .header("stripe-signature", "t=1,v1=deadbeef")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 400);
        all += &keep(forged).await;

        // The dashboard: sign in, refund the order.
        let login = client
            .get(format!("{base}/admin/login"))
            .send()
            .await
            .unwrap();
        let cookie = crate::support::cookie_pair(&login);
        let page = login.text().await.unwrap();
        let field = |html: &str, name: &str| {
            let at = html.find(&format!("name=\"{name}\" value=\"")).unwrap() + name.len() + 15;
            html[at..at + html[at..].find('"').unwrap()].to_string()
        };
        let signed_in = client
            .post(format!("{base}/admin/login"))
            .header("cookie", &cookie)
            .form(&[("csrf", field(&page, "csrf").as_str()), ("password", admin_password)])
            .send()
            .await
            .unwrap();
        assert_eq!(signed_in.status(), 303);
        let session_cookie = crate::support::cookie_pair(&signed_in);
        all += &keep(signed_in).await;
        let order_page = client
            .get(format!("{base}/admin/orders/1"))
            .header("cookie", &session_cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let refund = client
            .post(format!("{base}/admin/orders/1/refund"))
            .header("cookie", &session_cookie)
            .form(&[
                ("csrf", field(&order_page, "csrf").as_str()),
                ("token", field(&order_page, "token").as_str()),
                ("amount", ""),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(refund.status(), 303);
        all += &order_page;
        for page in ["/admin", "/admin/orders/1", "/admin/stripe-requests", "/admin/events", "/admin/audit", "/admin/alerts?all=1"] {
            let r = client
                .get(format!("{base}{page}"))
                .header("cookie", &session_cookie)
                .send()
                .await
                .unwrap();
            all += &keep(r).await;
        }
        all += &client
            .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // The session's cookie is a credential too: the database keeps only its hash.
        (all, session_cookie.trim_start_matches("caisse_admin=").to_string())
    });
    let (answers, session_token) = answers;

    let _ = std::process::Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status();
    let _ = wait(&mut server.0, Duration::from_secs(20));
    drop(sandbox);
    let mut logs = String::new();
    for name in ["serve.out", "serve.err", "sandbox.out", "sandbox.err"] {
        logs += &std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    }
    assert!(logs.contains("checkout"), "the logs were captured: {logs}");
    let mut database = Vec::new();
    for suffix in ["", "-wal"] {
        let mut path = db_path.clone().into_os_string();
        path.push(suffix);
        database.extend(std::fs::read(path).unwrap_or_default());
    }
    let database = String::from_utf8_lossy(&database);
    assert!(
        database.contains("ada@example.com"),
        "the database files were read"
    );
    for secret in secrets {
        assert!(!seen.contains(secret), "{secret} in a config error: {seen}");
        assert!(!logs.contains(secret), "{secret} in the logs");
        assert!(
            !answers.contains(secret),
            "{secret} in an answer or /metrics"
        );
        assert!(!database.contains(secret), "{secret} in the database");
    }
    assert!(!logs.contains(&hash) && !answers.contains(&hash) && !database.contains(&hash));
    assert!(
        !database.contains(&session_token),
        "a session token in the database"
    );
}
