//! `caisse-chaos`: the exactly-once proof, rerunnable by anyone (issue 10, part 1).
//!
//! ```text
//! caisse-chaos --n 300 --postgres postgres://…/postgres --redis redis://127.0.0.1:6379  # 3 instances
//! caisse-chaos --n 300                                                                 # SQLite, 1 instance
//! ```
//!
//! It starts a `caisse sandbox` (which delivers nothing by itself) and `caisse serve` instances on
//! one database (three on PostgreSQL + Redis, one on SQLite), creates N checkouts across them and
//! pays each on the sandbox. Then it delivers **every event three times**, the copies shuffled and
//! sent 32 at a time to random instances, while a killer **SIGKILLs a random instance every few
//! seconds** and restarts it, and a tenth of the deliveries are **cut off** 1 to 40 ms after they
//! are sent (the client gives up and closes the connection while caisse works on it); a delivery
//! that fails (connection refused or reset, cut off, 5xx) is retried later, as Stripe does. At the end it compares the database with the model: one order, one
//! payment and one confirmation email per paid hold; stock on hand exactly what was sold less;
//! nothing reserved; every event `processed` or `ignored`. It exits 1 on any difference.
//!
//! It runs the `caisse` binary next to itself (`cargo build -p caisse -p caisse-bench`, debug or
//! release).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use caisse_bench::{free_port, scalar, SECRET_KEY, WEBHOOK_SECRET};
use caisse_shop::store::STOCK_NOW;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};

const PRODUCTS: [(&str, i64); 3] = [("tee", 2500), ("mug", 1200), ("cap", 1800)];
const STOCK: i64 = 1_000_000;

struct Args {
    n: usize,
    postgres: Option<String>,
    redis: Option<String>,
    kill_every_ms: u64,
    cut_share: f64,
}

fn args() -> Args {
    let mut a = Args {
        n: 300,
        postgres: None,
        redis: None,
        kill_every_ms: 500,
        cut_share: 0.1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().expect("a value after the flag");
        match arg.as_str() {
            "--n" => a.n = value().parse().expect("--n N"),
            "--postgres" => a.postgres = Some(value()),
            "--redis" => a.redis = Some(value()),
            "--kill-every-ms" => a.kill_every_ms = value().parse().expect("--kill-every-ms MS"),
            "--cut-share" => a.cut_share = value().parse().expect("--cut-share 0..1"),
            other => panic!(
                "unknown argument {other} (--n, --postgres, --redis, --kill-every-ms, --cut-share)"
            ),
        }
    }
    a
}

/// One `caisse serve`, which the killer may replace at any moment.
struct Instance {
    port: u16,
    child: Mutex<Option<Child>>,
    env: Vec<(String, String)>,
    caisse: PathBuf,
    log: PathBuf,
}

impl Instance {
    fn start(&self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = caisse_bench::serve(&self.caisse, &self.env, Stdio::from(log));
        *self.child.lock().unwrap() = Some(child);
    }

    fn kill(&self) {
        if let Some(mut c) = self.child.lock().unwrap().take() {
            let _ = c.kill(); // SIGKILL: mid-whatever it was doing
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

async fn wait_ready(http: &reqwest::Client, url: &str) {
    caisse_bench::wait_for(http, &format!("{url}/readyz")).await;
}

#[tokio::main]
async fn main() {
    let args = args();
    let caisse = caisse_bench::caisse_binary();
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let url = caisse_bench::database(dir.path(), args.postgres.as_deref(), "chaos").await;
    let instances = if args.postgres.is_some() { 3 } else { 1 };

    // The catalog, through the CLI as a shop would load it.
    let catalog = dir.path().join("catalog.json");
    let products: Vec<Value> = PRODUCTS
        .iter()
        .map(|(id, amount)| json!({"id": id, "name": id, "unit_amount": amount, "currency": "eur", "stock_on_hand": STOCK}))
        .collect();
    std::fs::write(&catalog, serde_json::to_string(&products).unwrap()).unwrap();
    let imported = Command::new(&caisse)
        .args(["catalog", "import", catalog.to_str().unwrap()])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(imported.status.success(), "{imported:?}");

    let sandbox_port = free_port();
    let stripe = format!("http://127.0.0.1:{sandbox_port}");
    let mut sandbox = caisse_bench::sandbox(&caisse, sandbox_port);

    let mail = dir.path().join("mail");
    let fleet: Arc<Vec<Instance>> = Arc::new(
        (0..instances)
            .map(|i| {
                let port = free_port();
                let mut env = caisse_bench::serve_env(&url, port, 0, &stripe);
                // Emails are written as files (to count them), not off; short leases so that a
                // killed instance's emails are sent again soon.
                env.retain(|(k, _)| k != "CAISSE_MAIL");
                env.push(("CAISSE_MAIL_DIR".into(), mail.display().to_string()));
                env.push(("CAISSE_OUTBOX_LEASE_SECS".into(), "5".into()));
                if let Some(redis) = &args.redis {
                    env.push(("REDIS_URL".into(), redis.clone()));
                }
                Instance {
                    port,
                    child: Mutex::new(None),
                    env,
                    caisse: caisse.clone(),
                    log: dir.path().join(format!("serve-{i}.log")),
                }
            })
            .collect(),
    );
    for i in fleet.iter() {
        i.start();
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    for i in fleet.iter() {
        wait_ready(&http, &i.url()).await;
    }
    caisse_bench::wait_for(&http, &format!("{stripe}/_sandbox/clock")).await;

    // N checkouts across the instances, each paid on the sandbox with 4242.
    let mut sold = [0i64; PRODUCTS.len()];
    let mut rng = rand::thread_rng();
    for n in 0..args.n {
        let p = rng.gen_range(0..PRODUCTS.len());
        let quantity = rng.gen_range(1..=3);
        sold[p] += quantity;
        let at = &fleet[n % fleet.len()];
        let r = http
            .post(format!("{}/api/checkout", at.url()))
            .header("idempotency-key", format!("chaos-{n}"))
            .json(&json!({"items": [{"product_id": PRODUCTS[p].0, "quantity": quantity}], "email": format!("c{n}@example.com")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
        let body: Value = r.json().await.unwrap();
        let session = body["checkout_session_id"].as_str().unwrap();
        let paid = http
            .post(format!("{stripe}/_sandbox/checkout/sessions/{session}/pay"))
            .json(&json!({"card": "4242424242424242"}))
            .send()
            .await
            .unwrap();
        assert!(
            paid.status().is_success(),
            "{}",
            paid.text().await.unwrap_or_default()
        );
    }

    // Every event Stripe made, oldest first.
    let mut events: Vec<Value> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut req = http
            .get(format!("{stripe}/v1/events?limit=100"))
            .bearer_auth(SECRET_KEY);
        if let Some(a) = &after {
            req = req.query(&[("starting_after", a)]);
        }
        let page: Value = req.send().await.unwrap().json().await.unwrap();
        let data = page["data"].as_array().cloned().unwrap_or_default();
        after = data
            .last()
            .and_then(|e| e["id"].as_str())
            .map(str::to_string);
        events.extend(data);
        if page["has_more"] != json!(true) {
            break;
        }
    }
    events.reverse();

    // Three copies of each, shuffled, 32 at a time to random instances, while the killer works.
    let mut copies: Vec<String> = events
        .iter()
        .flat_map(|e| std::iter::repeat_n(e.to_string(), 3))
        .collect();
    copies.shuffle(&mut rng);
    let total = copies.len();
    let queue = Arc::new(Mutex::new(VecDeque::from(copies)));
    let done = Arc::new(AtomicUsize::new(0));
    let retries = Arc::new(AtomicUsize::new(0));
    let cuts = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicUsize::new(0));
    let killer = {
        let (fleet, stop, kills, every) = (
            fleet.clone(),
            stop.clone(),
            kills.clone(),
            args.kill_every_ms,
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(every)).await;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let victim = rand::thread_rng().gen_range(0..fleet.len());
                fleet[victim].kill();
                kills.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(300)).await;
                fleet[victim].start();
            }
        })
    };
    let senders: Vec<_> = (0..32)
        .map(|_| {
            let (queue, done, retries, cuts, fleet, http) = (
                queue.clone(),
                done.clone(),
                retries.clone(),
                cuts.clone(),
                fleet.clone(),
                http.clone(),
            );
            let cut_share = args.cut_share;
            tokio::spawn(async move {
                loop {
                    let next = queue.lock().unwrap().pop_front();
                    let Some(body) = next else {
                        if done.load(Ordering::Relaxed) >= total {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    let (at, cut) = {
                        let mut rng = rand::thread_rng();
                        let cut = rng
                            .gen_bool(cut_share.clamp(0.0, 1.0))
                            .then(|| Duration::from_millis(rng.gen_range(1..=40)));
                        (&fleet[rng.gen_range(0..fleet.len())], cut)
                    };
                    let sig = caisse_stripe::signature_header(
                        &[WEBHOOK_SECRET],
                        caisse_shop::store::unix_now(),
                        body.as_bytes(),
                    );
                    let mut request = http
                        .post(format!("{}/api/webhooks/stripe", at.url()))
                        .header("stripe-signature", sig)
                        .header("content-type", "application/json")
                        .body(body.clone());
                    if let Some(after) = cut {
                        // The client gives up mid-request: caisse's handler is dropped wherever
                        // it is, the writer's turn included.
                        cuts.fetch_add(1, Ordering::Relaxed);
                        request = request.timeout(after);
                    }
                    let ok = request.send().await.is_ok_and(|r| r.status().is_success());
                    if ok {
                        done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        // Stripe retries a failed delivery later, to whichever instance answers.
                        retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        queue.lock().unwrap().push_back(body);
                    }
                }
            })
        })
        .collect();
    for s in senders {
        s.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    killer.await.unwrap();
    for i in fleet.iter() {
        if i.child.lock().unwrap().is_none() {
            i.start();
        }
    }
    for i in fleet.iter() {
        wait_ready(&http, &i.url()).await;
    }

    // The model: every paid hold is one order, one payment, one email; stock exact.
    let n = args.n as i64;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let sent = scalar(
            &url,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'order_confirmation' AND status = 'sent'",
        )
        .await;
        if sent >= n || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut failures = Vec::new();
    let mut expect = |what: &str, got: i64, want: i64| {
        let mark = if got == want { "ok" } else { "WRONG" };
        println!("  {what:<52} {got:>8} (model {want}) {mark}");
        if got != want {
            failures.push(what.to_string());
        }
    };
    println!(
        "\ncaisse-chaos: {} checkouts, {} instance(s) on {}, {} events x 3 = {total} deliveries, {} cut off, {} retried, {} SIGKILLs, {:.0} s",
        args.n,
        instances,
        if args.postgres.is_some() { "PostgreSQL + Redis" } else { "SQLite" },
        events.len(),
        cuts.load(Ordering::Relaxed),
        retries.load(Ordering::Relaxed),
        kills.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    expect(
        "orders",
        scalar(&url, "SELECT COUNT(*) FROM orders").await,
        n,
    );
    expect(
        "orders paid",
        scalar(&url, "SELECT COUNT(*) FROM orders WHERE status = 'paid'").await,
        n,
    );
    expect(
        "payments",
        scalar(&url, "SELECT COUNT(*) FROM payments").await,
        n,
    );
    expect(
        "holds converted",
        scalar(
            &url,
            "SELECT COUNT(*) FROM holds WHERE status = 'converted'",
        )
        .await,
        n,
    );
    expect(
        "holds not converted",
        scalar(
            &url,
            "SELECT COUNT(*) FROM holds WHERE status <> 'converted'",
        )
        .await,
        0,
    );
    expect(
        "confirmation emails queued",
        scalar(
            &url,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'order_confirmation'",
        )
        .await,
        n,
    );
    expect(
        "confirmation emails sent",
        scalar(
            &url,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'order_confirmation' AND status = 'sent'",
        )
        .await,
        n,
    );
    let files = std::fs::read_dir(&mail)
        .map(|d| d.count() as i64)
        .unwrap_or(0);
    expect("email files written", files, n);
    for (i, (id, _)) in PRODUCTS.iter().enumerate() {
        expect(
            &format!("stock on hand of {id}"),
            scalar(
                &url,
                &format!("SELECT stock_on_hand FROM ({STOCK_NOW}) s WHERE id = '{id}'"),
            )
            .await,
            STOCK - sold[i],
        );
    }
    expect(
        "units still reserved",
        scalar(
            &url,
            &format!(
                "SELECT CAST(COALESCE(SUM(stock_reserved), 0) AS BIGINT) FROM ({STOCK_NOW}) s"
            ),
        )
        .await,
        0,
    );
    expect(
        "events recorded",
        scalar(&url, "SELECT COUNT(*) FROM webhook_events").await,
        events.len() as i64,
    );
    expect(
        "events not processed or ignored",
        scalar(
            &url,
            "SELECT COUNT(*) FROM webhook_events WHERE status NOT IN ('processed', 'ignored')",
        )
        .await,
        0,
    );

    for i in fleet.iter() {
        i.kill();
    }
    let _ = sandbox.kill();
    let _ = sandbox.wait();
    if failures.is_empty() {
        caisse_bench::drop_database(args.postgres.as_deref(), &url).await;
        println!("the final state is the model's");
    } else {
        println!(
            "DIFFERENT from the model: {failures:?} (database {url} and logs in {} kept)",
            dir.keep().display()
        );
        std::process::exit(1);
    }
}
