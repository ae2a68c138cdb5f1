//! Whole commands as a developer runs them: `caisse dev` end to end, `caisse sandbox`,
//! `caisse webhook sign`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{caisse, free_port, free_port_pair, run, text, wait_for, Running};

/// The README's run command: no setup, the demo catalog, a checkout that lands on the sandbox's
/// hosted page for the database's prices, and a payment there that becomes order #1.
#[tokio::test]
async fn caisse_dev_turns_a_payment_on_the_hosted_page_into_an_order() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port_pair();
    let listen = format!("127.0.0.1:{port}");
    let mut child = caisse(dir.path(), &["dev", "--listen", &listen], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _dev = Running(child);
    // What it prints, up to the line that says how to replay its sandbox's events.
    let printed = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line.trim_start().starts_with("replay");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    })
    .await
    .unwrap();
    let base = format!("http://{listen}");
    wait_for(&format!("{base}/readyz")).await;
    let products: serde_json::Value = reqwest::get(format!("{base}/api/products"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tee = products["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "tee-classic")
        .unwrap()
        .clone();
    assert_eq!(tee["unit_amount"], 2500);

    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/api/checkout"))
        .json(&serde_json::json!({"items": [{"product_id": "tee-classic", "quantity": 2}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let cookie = crate::support::cookie_pair(&r);
    let created: serde_json::Value = r.json().await.unwrap();
    let url = created["url"].as_str().unwrap();
    assert!(!url.starts_with(&base), "the hosted page is the sandbox's");
    let page = http.get(url).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("50.00 EUR") && page.contains("2 × Classic T-shirt"),
        "{page}"
    );
    assert!(dir.path().join("caisse-data/caisse.db").exists());

    // Paying on the hosted page: the sandbox's signed webhooks turn the hold into an order that
    // the success page (the guest who made the checkout) can see.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let paid = no_redirect
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("card=4242+4242+4242+4242&iban=")
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 303);
    let session = created["checkout_session_id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        let status: serde_json::Value = http
            .get(format!("{base}/api/checkout/{session}"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["status"] == "paid" || std::time::Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(status["status"], "paid", "{status}");
    assert_eq!(status["order_number"], 1);

    // The replay command it printed works as printed, against its sandbox: the payment's four
    // events, applied (the last may still be on its way), duplicates or ignored.
    let replay = printed.last().unwrap();
    let words: Vec<&str> = replay.split_whitespace().collect();
    assert_eq!(
        &words[words.len() - 5..],
        ["caisse", "events", "replay", "--since", "1h"],
        "{printed:?}"
    );
    let vars: Vec<(&str, &str)> = words[1..words.len() - 5]
        .iter()
        .map(|w| w.split_once('=').unwrap())
        .collect();
    let out = run(dir.path(), &words[words.len() - 4..], &vars);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("4 events fetched") && stdout.contains("0 failed"),
        "{stdout}"
    );

    // Database tools run in the same folder use dev's database, and say so.
    let out = run(dir.path(), &["catalog", "export"], &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("tee-classic"), "{stdout}");
    assert!(
        stderr.contains("database: sqlite://caisse-data/caisse.db"),
        "{stderr}"
    );
    // Every one of them, and none makes a `./caisse.db` of its own.
    for args in [
        &["backup", "copy.db"][..],
        &["orders", "export", "-"],
        &["prune", "--dry-run"],
        &["admin", "list-users"],
    ] {
        let out = run(dir.path(), args, &[]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains("database: sqlite://caisse-data/caisse.db"),
            "{args:?}: {stderr}"
        );
        if args[0] == "orders" {
            assert_eq!(
                stdout.lines().count(),
                2,
                "the header and order #1: {stdout}"
            );
        }
    }
    assert!(!dir.path().join("caisse.db").exists());
    // The backup is dev's database: its order is there.
    let out = run(
        dir.path(),
        &["orders", "export", "-"],
        &[("DATABASE_URL", "sqlite://copy.db")],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stdout.lines().count(),
        2,
        "the header and order #1: {stdout}"
    );
}

/// In a container (`--listen 0.0.0.0:P`), the links handed out are the host's: caisse at
/// `http://localhost:P`, the sandbox's payment pages at `http://localhost:P+1`, where it listens;
/// and the links it prints too, never `http://0.0.0.0:P`, which no browser opens.
#[tokio::test]
async fn caisse_dev_on_every_interface_hands_out_links_the_host_reaches() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port_pair();
    let mut dev = Running(
        caisse(
            dir.path(),
            &["dev", "--listen", &format!("0.0.0.0:{port}")],
            &[],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_for(&format!("{base}/readyz")).await;
    let banner = {
        use std::io::BufRead;
        let stdout = std::io::BufReader::new(dev.0.stdout.take().unwrap());
        let lines: Vec<String> = stdout
            .lines()
            .map_while(Result::ok)
            .take_while(|l| !l.contains("health"))
            .collect();
        lines.join("\n")
    };
    assert!(
        banner.contains(&format!("  shop       http://localhost:{port}/")),
        "{banner}"
    );
    assert!(!banner.contains("http://0.0.0.0"), "{banner}");
    let created: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/api/checkout"))
        .json(&serde_json::json!({"items": [{"product_id": "tee-classic", "quantity": 1}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = created["url"].as_str().unwrap();
    let sandbox = format!("localhost:{}", port + 1);
    assert!(url.starts_with(&format!("http://{sandbox}/")), "{url}");
    let session: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{}/v1/checkout/sessions/{}",
            port + 1,
            created["checkout_session_id"].as_str().unwrap()
        ))
        .bearer_auth("sk_test_any_key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let success = session["success_url"].as_str().unwrap();
    assert!(
        success.starts_with(&format!("http://localhost:{port}/")),
        "{success}"
    );
}

/// The secret from a file, so that `ps` does not show it.
#[tokio::test]
async fn caisse_sandbox_runs_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("whsec"), "whsec_cli_test_0123\n").unwrap();
    sandbox_answers(dir.path(), &["--webhook-secret-file", "whsec"]).await;
}

/// Without `--forward-to` no secret signs anything (endpoints made through the API have their
/// own), so none is asked for: `caisse sandbox` then `caisse stripe setup`, as the README says.
/// With `--forward-to` and no secret, it says what is missing.
#[tokio::test]
async fn caisse_sandbox_needs_a_secret_only_to_forward() {
    let dir = tempfile::tempdir().unwrap();
    sandbox_answers(dir.path(), &[]).await;
    let refused = run(
        dir.path(),
        &[
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--forward-to",
            "http://127.0.0.1:9/hook",
        ],
        &[],
    );
    assert_eq!(refused.status.code(), Some(2), "{:?}", text(&refused));
    assert!(text(&refused).1.contains("no signing secret"));
}

/// `caisse sandbox --forward-to` feeds a caisse: its endpoint sends events in the version caisse
/// reads (what `caisse doctor` checks), unless `--api-version` names another.
#[tokio::test]
async fn caisse_sandbox_forwards_in_the_version_caisse_reads_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let forward = [
        "--forward-to",
        "http://127.0.0.1:9/api/webhooks/stripe",
        "--webhook-secret",
        "whsec_cli_test_0123",
    ];
    let version_of_forward = |listen: String| async move {
        let list: serde_json::Value = reqwest::Client::new()
            .get(format!("http://{listen}/v1/webhook_endpoints"))
            .bearer_auth("sk_test_cli")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let endpoint = &list["data"][0];
        assert_eq!(endpoint["description"], "--forward-to", "{list}");
        endpoint["api_version"]
            .as_str()
            .unwrap_or_else(|| panic!("no api_version: {list}"))
            .to_string()
    };
    let (_default, listen) = sandbox_answers(dir.path(), &forward).await;
    assert_eq!(version_of_forward(listen).await, caisse_stripe::API_VERSION);
    // Another version than caisse's, or the test could not tell the option was read.
    let other = caisse_sandbox::SDK_API_VERSION;
    assert_ne!(other, caisse_stripe::API_VERSION);
    let mut told = forward.to_vec();
    told.extend(["--api-version", other]);
    let (_told, listen) = sandbox_answers(dir.path(), &told).await;
    assert_eq!(version_of_forward(listen).await, other);
}

/// `--rate-limit`: past Stripe's test-mode rate (25 reads a second), Stripe's `429` with
/// `code: rate_limit`, and the next second reads go through again; without it, no limit.
#[tokio::test]
async fn caisse_sandbox_rate_limit_answers_429_past_stripe_s_test_mode_rate() {
    let dir = tempfile::tempdir().unwrap();
    let (_limited, limited) = sandbox_answers(dir.path(), &["--rate-limit"]).await;
    let (_free, free) = sandbox_answers(dir.path(), &[]).await;
    let http = reqwest::Client::new();
    let burst = |listen: String| {
        let http = http.clone();
        async move {
            let mut calls = tokio::task::JoinSet::new();
            for _ in 0..40 {
                let call = http
                    .get(format!("http://{listen}/v1/events"))
                    .bearer_auth("sk_test_cli")
                    .send();
                calls.spawn(async move {
                    let r = call.await.unwrap();
                    let status = r.status().as_u16();
                    (status, r.json::<serde_json::Value>().await.unwrap())
                });
            }
            calls.join_all().await
        }
    };
    let answers = burst(free).await;
    assert!(answers.iter().all(|(status, _)| *status == 200));
    let answers = burst(limited.clone()).await;
    let refused: Vec<_> = answers.iter().filter(|(s, _)| *s != 200).collect();
    assert!(!refused.is_empty(), "40 reads at once, none refused");
    for (status, body) in refused {
        assert_eq!(*status, 429);
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["code"], "rate_limit");
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = http
        .get(format!("http://{limited}/v1/events"))
        .bearer_auth("sk_test_cli")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200, "a second later, reads go through");
}

/// Starts `caisse sandbox` with `args` and waits until its API answers; the running sandbox and
/// its address.
async fn sandbox_answers(dir: &std::path::Path, args: &[&str]) -> (Running, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let mut all = vec!["sandbox", "--listen", &listen];
    all.extend_from_slice(args);
    let sandbox = Running(
        caisse(dir, &all, &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let http = reqwest::Client::new();
    loop {
        if let Ok(r) = http
            .get(format!("http://{listen}/v1/events"))
            .bearer_auth("sk_test_cli")
            .send()
            .await
        {
            assert_eq!(r.status(), 200);
            let list: serde_json::Value = r.json().await.unwrap();
            assert_eq!(list["object"], "list");
            break;
        }
        assert!(Instant::now() < deadline, "the sandbox never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (sandbox, listen)
}

#[test]
fn webhook_sign_prints_the_header_stripe_would_send() {
    let vectors =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../stripe/tests/stripe/data");
    let out = run(
        &vectors,
        &[
            "webhook",
            "sign",
            "--secret",
            "webhook_secret",
            "--timestamp",
            "1533204620",
            "tv1_payload.json",
        ],
        &[],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let header = "t=1533204620,v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7";
    assert_eq!(stdout.trim(), header);

    // The same secret out of sight of `ps`: from a file, or from STRIPE_WEBHOOK_SECRET.
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("whsec");
    std::fs::write(&secret_file, "webhook_secret\n").unwrap();
    let payload = vectors.join("tv1_payload.json");
    let payload = payload.to_str().unwrap();
    let sign = |args: &[&str], vars: &[(&str, &str)]| {
        let mut all = vec!["webhook", "sign", "--timestamp", "1533204620"];
        all.extend_from_slice(args);
        all.push(payload);
        run(dir.path(), &all, vars)
    };
    let from_file = sign(
        &["--webhook-secret-file", secret_file.to_str().unwrap()],
        &[],
    );
    assert_eq!(text(&from_file).0.trim(), header, "{:?}", text(&from_file));
    let from_env = sign(&[], &[("STRIPE_WEBHOOK_SECRET", "webhook_secret")]);
    assert_eq!(text(&from_env).0.trim(), header, "{:?}", text(&from_env));
    let none = sign(&[], &[]);
    assert_eq!(none.status.code(), Some(2));
    assert!(
        text(&none).1.contains("no signing secret"),
        "{:?}",
        text(&none)
    );
}

#[test]
fn migrate_then_catalog_import_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("shop.db").display());
    let vars = [("DATABASE_URL", db.as_str())];
    let out = run(dir.path(), &["migrate"], &vars);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(text(&out).0.trim(), "migrations applied");

    std::fs::write(
        dir.path().join("catalog.csv"),
        "id,name,unit_amount,currency,stock_on_hand\nmug,Mug,1200,eur,4\ntee,Tee,2500,eur,9\n",
    )
    .unwrap();
    let out = run(dir.path(), &["catalog", "import", "catalog.csv"], &vars);
    assert_eq!(
        text(&out).0.trim(),
        "2 products: 2 created, 0 updated, 0 unchanged",
        "{:?}",
        text(&out)
    );
    let out = run(dir.path(), &["catalog", "import", "catalog.csv"], &vars);
    assert_eq!(
        text(&out).0.trim(),
        "2 products: 0 created, 0 updated, 2 unchanged"
    );
    // A later file with other stock figures: existing products keep theirs (orders may have
    // sold some) unless --set-stock says the file is a fresh count.
    std::fs::write(
        dir.path().join("recount.csv"),
        "id,name,unit_amount,currency,stock_on_hand\nmug,Mug,1200,eur,40\ntee,Tee,2500,eur,9\n",
    )
    .unwrap();
    let stock_of_mug = |dir: &std::path::Path| {
        let out = run(dir, &["catalog", "export"], &vars);
        assert!(out.status.success(), "{:?}", text(&out));
        let catalog: serde_json::Value = serde_json::from_str(&text(&out).0).unwrap();
        catalog["products"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == "mug")
            .unwrap()["stock_on_hand"]
            .as_i64()
            .unwrap()
    };
    let out = run(dir.path(), &["catalog", "import", "recount.csv"], &vars);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(stock_of_mug(dir.path()), 4, "stock kept");
    let out = run(
        dir.path(),
        &["catalog", "import", "--set-stock", "recount.csv"],
        &vars,
    );
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(stock_of_mug(dir.path()), 40, "stock set by the count");

    std::fs::write(
        dir.path().join("bad.json"),
        r#"[{"id":"mug","name":"Mug","unit_amount":-1,"currency":"eur","stock":1}]"#,
    )
    .unwrap();
    let out = run(dir.path(), &["catalog", "import", "bad.json"], &vars);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).1.contains("row 1: product `mug`: unit_amount"),
        "{:?}",
        text(&out)
    );
    std::fs::write(dir.path().join("catalog.txt"), "").unwrap();
    let out = run(dir.path(), &["catalog", "import", "catalog.txt"], &vars);
    assert!(text(&out).1.contains("must end in .json or .csv"));
}

/// A reader that left (`caisse serve | head -1`) does not stop the server: what it prints at
/// start goes nowhere, and it serves and stops as usual.
#[test]
fn a_closed_stdout_does_not_stop_serve() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let mut child = crate::support::caisse(
        dir.path(),
        &["serve"],
        &[
            ("STRIPE_SECRET_KEY", crate::support::SK),
            ("STRIPE_WEBHOOK_SECRET", crate::support::WH),
            ("CAISSE_GUEST_COOKIE_SECRET", crate::support::GUEST),
            ("CAISSE_MAIL", "off"),
            ("DATABASE_URL", &db),
            ("CAISSE_LISTEN", &format!("127.0.0.1:{port}")),
            ("CAISSE_METRICS_LISTEN", "127.0.0.1:0"),
        ],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    drop(child.stdout.take());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // Serving, not only bound: an HTTP answer (a bound socket accepts before the server runs).
    let answers = || {
        use std::io::{Read, Write};
        let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = c.write_all(b"GET /healthz HTTP/1.0\r\n\r\n");
        let mut head = [0u8; 12];
        c.read_exact(&mut head).is_ok() && head.ends_with(b"200")
    };
    while !answers() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "caisse serve died with its stdout closed"
        );
        assert!(std::time::Instant::now() < deadline, "never listened");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(child.try_wait().unwrap().is_none(), "still serving");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
