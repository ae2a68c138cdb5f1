//! `caisse stripe setup` and `caisse doctor` against the sandbox, as an operator connects caisse to
//! Stripe: the endpoint registered (once, however often the command runs), its secret printed
//! alone on standard output, a payment that then reaches `caisse serve` signed with it, and the
//! doctor's verdicts on a good configuration and on broken ones.

use std::process::Stdio;

use caisse_stripe::{Client, ClientOptions};

use crate::support::{caisse, free_port, run, text, wait_for, Running, GUEST, SK};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_registers_one_endpoint_whose_secret_signs_the_payments_caisse_receives() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("catalog.json"),
        r#"[{"id": "mug", "name": "Mug", "unit_amount": 1200, "currency": "eur", "stock_on_hand": 20}]"#,
    )
    .unwrap();
    let db = format!("sqlite://{}", dir.path().join("caisse.db").display());
    let imported = run(
        dir.path(),
        &["catalog", "import", "catalog.json"],
        &[("DATABASE_URL", &db)],
    );
    assert!(imported.status.success(), "{:?}", text(&imported));

    let sandbox = caisse_sandbox::start(caisse_sandbox::SandboxOptions {
        chaos: caisse_sandbox::Chaos::strict(),
        ..Default::default()
    })
    .await
    .unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let hook = format!("{base}/api/webhooks/stripe");
    let stripe_vars = [
        ("STRIPE_SECRET_KEY", SK),
        ("STRIPE_API_BASE", sandbox.url()),
    ];

    // Only the secret key is needed: the webhook secret is what this makes.
    let first = run(
        dir.path(),
        &["stripe", "setup", "--url", &hook],
        &stripe_vars,
    );
    let (stdout, stderr) = text(&first);
    assert!(first.status.success(), "{stdout}{stderr}");
    let secret = stdout.trim().to_string();
    assert!(secret.starts_with("whsec_"), "{stdout}");
    assert_eq!(
        stdout.lines().count(),
        1,
        "the secret and nothing else: {stdout}"
    );
    assert!(stderr.contains("created webhook endpoint we_"), "{stderr}");
    assert!(
        !stderr.contains(&secret),
        "the secret only on standard output"
    );

    let again = run(
        dir.path(),
        &["stripe", "setup", "--url", &hook],
        &stripe_vars,
    );
    let (stdout, stderr) = text(&again);
    assert!(again.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout, "", "no secret to show the second time");
    assert!(stderr.contains("updated webhook endpoint"), "{stderr}");
    assert!(
        stderr.contains("only when it creates it") && stderr.contains("Roll secret"),
        "{stderr}"
    );

    // As Stripe's webhook_endpoints.list shows it: one endpoint, caisse's types and version.
    let stripe = Client::new(ClientOptions::new(sandbox.url(), SK)).unwrap();
    let listed = stripe.list_webhook_endpoints().await.unwrap();
    let mine: Vec<_> = listed.iter().filter(|e| e.url == hook).collect();
    assert_eq!(mine.len(), 1, "{listed:?}");
    let mut events = mine[0].enabled_events.clone();
    events.sort();
    let mut handled: Vec<String> = caisse_shop::webhooks::HANDLED
        .iter()
        .map(|s| s.to_string())
        .collect();
    handled.sort();
    assert_eq!(events, handled);
    assert_eq!(
        mine[0].api_version.as_deref(),
        Some(caisse_stripe::API_VERSION)
    );

    // caisse serve with that secret: a payment becomes an order.
    let listen = format!("127.0.0.1:{port}");
    let mail_dir = dir.path().join("mail").display().to_string();
    let serve_vars = [
        ("DATABASE_URL", db.as_str()),
        ("CAISSE_LISTEN", listen.as_str()),
        ("CAISSE_METRICS_LISTEN", "127.0.0.1:0"),
        ("STRIPE_SECRET_KEY", SK),
        ("STRIPE_WEBHOOK_SECRET", secret.as_str()),
        ("STRIPE_API_BASE", sandbox.url()),
        ("CAISSE_GUEST_COOKIE_SECRET", GUEST),
        ("CAISSE_MAIL_DIR", mail_dir.as_str()),
    ];
    let _serve = Running(
        caisse(dir.path(), &["serve"], &serve_vars)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(&format!("{base}/readyz")).await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/api/checkout"))
        .json(&serde_json::json!({"items": [{"product_id": "mug", "quantity": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let cookie = crate::support::cookie_pair(&r);
    let session = r.json::<serde_json::Value>().await.unwrap()["checkout_session_id"]
        .as_str()
        .unwrap()
        .to_string();
    sandbox
        .pay(
            &session,
            caisse_sandbox::Method::Card("4242424242424242".into()),
        )
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let status: serde_json::Value = http
            .get(format!("{base}/api/checkout/{session}"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["status"] == "paid" {
            assert_eq!(status["order_number"], 1);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never paid: {status}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        sandbox.deliveries().iter().all(|a| a.status == Some(200)),
        "every delivery verified with the printed secret: {:?}",
        sandbox.deliveries()
    );

    // The doctor on that configuration, then on broken ones.
    let doctor = |extra: &[(&'static str, &str)]| {
        let mut vars: Vec<(&str, &str)> = serve_vars.to_vec();
        vars.push(("CAISSE_PUBLIC_URL", base.as_str()));
        vars.extend_from_slice(extra);
        let out = run(dir.path(), &["doctor"], &vars);
        let (stdout, stderr) = text(&out);
        (out.status.code(), stdout, stderr)
    };
    let (code, stdout, stderr) = doctor(&[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    for name in [
        "stripe key",
        "mode",
        "webhook endpoint",
        "clock",
        "database",
        "public url",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("ok") && l.contains(name)),
            "{name}: {stdout}"
        );
    }
    assert!(!stdout.contains("FAIL"));
    for s in [SK, secret.as_str(), GUEST] {
        assert!(
            !stdout.contains(s) && !stderr.contains(s),
            "nothing secret printed"
        );
    }

    let failing = |out: (Option<i32>, String, String), check: &str| {
        let (code, stdout, stderr) = out;
        assert_eq!(code, Some(1), "{stdout}{stderr}");
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("FAIL") && l.contains(check)),
            "{check}: {stdout}"
        );
    };
    failing(
        doctor(&[("CAISSE_PUBLIC_URL", "http://127.0.0.1:9")]),
        "webhook endpoint",
    );
    failing(doctor(&[("STRIPE_SECRET_KEY", "sk_test_")]), "stripe key");
    let dead_redis = format!("redis://127.0.0.1:{}", free_port());
    failing(doctor(&[("REDIS_URL", &dead_redis)]), "redis");
    stripe
        .update_webhook_endpoint(&mine[0].id, &["checkout.session.completed"], "caisse")
        .await
        .unwrap();
    failing(doctor(&[]), "webhook endpoint");
    sandbox.stop().await.unwrap();
}
