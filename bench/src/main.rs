//! `caisse-bench`: rates and ratios measured in one run on one machine (issue 10's benchmark).
//!
//! ```text
//! cargo build --release -p caisse -p caisse-bench
//! target/release/caisse-bench [--postgres postgres://…/postgres] [--events 4000] [--products 1]
//! ```
//!
//! It runs the release `caisse` binary (next to itself) as `caisse serve` and a `caisse sandbox`,
//! each its own process, and measures from outside over HTTP:
//!
//! 1. the **raw durable commit rate** of the database: single-row insert transactions from 32
//!    tasks through caisse's own store (same pool, same settings: SQLite WAL + `synchronous=FULL`,
//!    PostgreSQL `synchronous_commit=on`);
//! 2. the **webhook effect**: unique signed `payment_intent.succeeded` events, each turning a hold
//!    into an order (the whole fulfilment transaction), 32 connections at once; on SQLite then the
//!    **seed's Node stack** (`bench/node/server.js`, a `node:http` route handler with stripe-node's
//!    `constructEvent` and one better-sqlite3 transaction per event) on the same events and
//!    connections, over its own copy of the seeded database (`npm ci` in `bench/node` first when
//!    its `node_modules` is missing; "not measured" and why when `node` or the install fails);
//! 3. **duplicates** of one processed event against `GET /healthz`, 32 connections;
//! 4. **checkout creation** at 16 clients, the sandbox answering, against the same sessions asked of
//!    the sandbox alone: throughput, p50, p99;
//! 5. caisse's **peak RSS** (`VmHWM`) after each load.
//!
//! and prints one table. Nothing here is a test: it measures, it does not judge.

use std::process::Stdio;
use std::sync::Arc;

mod load;
mod node_baseline;
mod profile;
mod targets;

use caisse_bench::{free_port, scalar, Proc, SECRET_KEY};
use caisse_shop::store::Arg;
use caisse_shop::Store;
use load::{load, pct, post_signed};
use profile::{cpu_seconds, peak_rss_mib, write_profile};
use serde_json::json;

struct Args {
    postgres: Option<String>,
    events: usize,
    /// The paid holds are spread over this many products (1: every effect sells the same one).
    products: usize,
}

fn args() -> Args {
    let mut a = Args {
        postgres: None,
        events: 4000,
        products: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--postgres" => a.postgres = it.next(),
            "--events" => a.events = it.next().and_then(|n| n.parse().ok()).unwrap_or(4000),
            "--products" => a.products = it.next().and_then(|n| n.parse().ok()).unwrap_or(1).max(1),
            other => {
                panic!("unknown argument {other} (--postgres URL, --events N, --products N)")
            }
        }
    }
    a
}

/// The product of the `i`th paid hold: `bench` (the one checkout sells too), then `bench_1` …
fn product(i: usize, products: usize) -> String {
    match i % products {
        0 => "bench".to_string(),
        k => format!("bench_{k}"),
    }
}

async fn exec(store: &Store, sql: &str) {
    match store {
        Store::Sqlite(p, _) => sqlx::query(sql).execute(p).await.map(|_| ()),
        Store::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Single-row insert transactions from 32 tasks, each its own durable commit, on a plain pool of
/// the store's own settings: the database's raw commit rate.
async fn raw_commits(store: &Store, n: usize) -> f64 {
    let sql = "INSERT INTO bench_commits (id, at) VALUES ($1, 0)";
    match store {
        Store::Sqlite(pool, _) => {
            let options = (*pool.connect_options()).clone();
            let one = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .unwrap();
            let (rate, _) = load(n, 32, move |i| {
                let one = one.clone();
                async move {
                    let mut tx = one.begin_with("BEGIN IMMEDIATE").await.unwrap();
                    sqlx::query(sql)
                        .bind(i as i64)
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                    tx.commit().await.unwrap();
                }
            })
            .await;
            rate
        }
        Store::Postgres(pool) => {
            let pool = pool.clone();
            let (rate, _) = load(n, 32, move |i| {
                let pool = pool.clone();
                async move {
                    let mut tx = pool.begin().await.unwrap();
                    sqlx::query("SET LOCAL synchronous_commit = on")
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                    sqlx::query(sql)
                        .bind(i as i64)
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                    tx.commit().await.unwrap();
                }
            })
            .await;
            rate
        }
    }
}

/// `n` open holds of one unit each, ready to be paid, spread over `products` products: each
/// knows its PaymentIntent, as a `checkout.session` event would have told it, so that the
/// PaymentIntent's event pays it.
async fn seed_holds(store: &Store, n: usize, products: usize) {
    let now = caisse_shop::store::unix_now();
    for k in 0..products {
        let held = (k..n).step_by(products).count();
        exec(
            store,
            &format!(
                "INSERT INTO products (id, name, unit_amount, currency, stock_on_hand, stock_reserved, created_at, updated_at) \
                 VALUES ('{}', 'Bench', 1000, 'eur', 10000000, {held}, {now}, {now})",
                product(k, products)
            ),
        )
        .await;
    }
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let holds: Vec<String> = chunk
            .iter()
            .map(|i| {
                format!(
                    "('hold_bench{i:08}', 'guest_{i}', 'active', 1000, 'eur', {}, 'cs_test_bench{i}', 'pi_bench{i:08}', {now}, {now})",
                    now + 86_400
                )
            })
            .collect();
        exec(store, &format!(
            "INSERT INTO holds (id, customer_id, status, amount_total, currency, expires_at, checkout_session_id, payment_intent_id, created_at, updated_at) VALUES {}",
            holds.join(",")
        ))
        .await;
        let items: Vec<String> = chunk
            .iter()
            .map(|i| format!("('hold_bench{i:08}', '{}', 1, 1000)", product(*i, products)))
            .collect();
        exec(
            store,
            &format!(
                "INSERT INTO hold_items (hold_id, product_id, quantity, unit_amount) VALUES {}",
                items.join(",")
            ),
        )
        .await;
    }
}

fn succeeded(i: usize) -> String {
    // The hold knows this PaymentIntent (`seed_holds`): it is the hold's own, not a foreign one.
    let hold = format!("hold_bench{i:08}");
    json!({
        "id": format!("evt_bench{i:08}"), "object": "event", "type": "payment_intent.succeeded",
        "api_version": caisse_stripe::API_VERSION, "created": caisse_shop::store::unix_now(),
        "livemode": false, "pending_webhooks": 1,
        "data": {"object": {
            "id": format!("pi_bench{i:08}"), "object": "payment_intent", "amount": 1000,
            "amount_received": 1000, "currency": "eur", "status": "succeeded", "livemode": false,
            "metadata": {"hold_id": hold}
        }}
    })
    .to_string()
}

/// One line of the table: a load's rate, p50 and p99.
fn row(label: &str, rate: f64, latencies: &[std::time::Duration]) {
    println!(
        "{label:<44} {rate:>10.0} {:>9.2} {:>9.2}",
        pct(latencies, 0.5),
        pct(latencies, 0.99)
    );
}

#[tokio::main]
async fn main() {
    let args = args();
    let caisse = caisse_bench::caisse_binary();
    let dir = tempfile::tempdir().unwrap();
    let url = caisse_bench::database(dir.path(), args.postgres.as_deref(), "bench").await;
    let backend = if args.postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };

    // 1. The raw durable commit rate: the database's own, one commit per transaction (on SQLite one
    //    connection, since it has one writer: no busy-handler waits), then the same transactions
    //    through caisse's store (on SQLite grouped into shared commits).
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    exec(
        &store,
        "CREATE TABLE bench_commits (id BIGINT PRIMARY KEY, at BIGINT NOT NULL)",
    )
    .await;
    let commits = args.events;
    let raw_rate = raw_commits(&store, commits).await;
    let s = store.clone();
    let (store_rate, _) = load(commits, 32, move |i| {
        let s = s.clone();
        async move {
            let sql = "INSERT INTO bench_commits (id, at) VALUES ($1, 1)";
            s.write(async |tx| {
                let id = Arg::from((commits + i) as i64);
                tx.run(sql, &[id]).await.map(|_| ())
            })
            .await
            .unwrap();
        }
    })
    .await;
    seed_holds(&store, args.events, args.products).await;
    if args.postgres.is_some() {
        // A shop's holds arrive over time, and autovacuum analyzes a table after its first 50 rows
        // and every tenth more; these were written at once, a moment before the load. Without
        // statistics PostgreSQL reads every hold for each stock read (caisse's reads of sold units
        // start from a partial index it then ignores). SQLite keeps no statistics in caisse.
        exec(&store, "ANALYZE").await;
    }
    store.close().await;
    // The seed's Node stack gets a file of its own, migrated and seeded the same way.
    let node_url = match args.postgres {
        Some(_) => None,
        None => {
            let url = caisse_bench::database(dir.path(), None, "node").await;
            let node = Store::connect(&url).await.unwrap();
            node.migrate().await.unwrap();
            seed_holds(&node, args.events, args.products).await;
            node.close().await;
            Some(url)
        }
    };

    // The sandbox and caisse, each its own process.
    let (port, sandbox_port, metrics_port) = (free_port(), free_port(), free_port());
    let base = format!("http://127.0.0.1:{port}");
    let stripe = format!("http://127.0.0.1:{sandbox_port}");
    let sandbox = Proc(caisse_bench::sandbox(&caisse, sandbox_port));
    // Checkouts come from many networks, as a shop's customers do (through a trusted proxy's
    // X-Forwarded-For): one network's open holds are counted at each of its checkouts.
    let mut env = caisse_bench::serve_env(&url, port, metrics_port, &stripe);
    env.push(("CAISSE_TRUSTED_PROXIES".into(), "127.0.0.1".into()));
    let server = Proc(caisse_bench::serve(&caisse, &env, Stdio::null()));
    let pid = server.0.id();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    caisse_bench::wait_for(&http, &format!("{base}/readyz")).await;
    caisse_bench::wait_for(&http, &format!("{stripe}/_sandbox/clock")).await;
    let rss_idle = peak_rss_mib(pid);

    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let before = write_profile(&http, &metrics_url).await;

    // 2. The webhook effect: each event a new order.
    let bodies: Arc<Vec<String>> = Arc::new((0..args.events).map(succeeded).collect());
    let (h, b, u) = (http.clone(), bodies.clone(), base.clone());
    let cpu_before = cpu_seconds(Some(pid));
    let postgres_before = cpu_seconds(None);
    let (effect_rate, effect_lat) = load(args.events, 32, move |i| {
        let (h, b, u) = (h.clone(), b.clone(), u.clone());
        async move {
            post_signed(&h, &u, b[i].clone()).await;
        }
    })
    .await;
    let effect_cpu = cpu_seconds(Some(pid)) - cpu_before;
    let effect_postgres_cpu = cpu_seconds(None) - postgres_before;
    let rss_effect = peak_rss_mib(pid);
    let after = write_profile(&http, &metrics_url).await;
    let orders = scalar(&url, "SELECT COUNT(*) FROM orders").await;
    assert_eq!(orders as usize, args.events, "one order per event");

    // The seed's Node stack on the same events, load generator and connections (SQLite only:
    // it is a better-sqlite3 program).
    let node = match &node_url {
        Some(node_url) => node_baseline::measure(&http, node_url, bodies.clone(), 32).await,
        None => Err("the Node baseline runs on SQLite only".into()),
    };

    // 3. Duplicates of one processed event, against /healthz.
    let n = args.events * 2;
    let (h, u, one) = (http.clone(), base.clone(), bodies[0].clone());
    let (dup_rate, dup_lat) = load(n, 32, move |_| {
        let (h, u, body) = (h.clone(), u.clone(), one.clone());
        async move {
            post_signed(&h, &u, body).await;
        }
    })
    .await;
    let (h, u) = (http.clone(), base.clone());
    let (health_rate, health_lat) = load(n, 32, move |_| {
        let (h, u) = (h.clone(), u.clone());
        async move {
            assert!(h
                .get(format!("{u}/healthz"))
                .send()
                .await
                .unwrap()
                .status()
                .is_success());
        }
    })
    .await;
    let rss_dup = peak_rss_mib(pid);

    // 4. Checkout creation at 16 clients (and at one, unloaded), the CPU each process spent on
    //    it, and the same sessions from the sandbox alone.
    let checkouts = (args.events / 2).max(200);
    let checkout = |clients: usize, n: usize, tag: &'static str| {
        let (h, u) = (http.clone(), base.clone());
        load(n, clients, move |i| {
            let (h, u) = (h.clone(), u.clone());
            async move {
                let r = h
                    .post(format!("{u}/api/checkout"))
                    .header("idempotency-key", format!("bench-{tag}-{i}"))
                    .header(
                        "x-forwarded-for",
                        format!("10.{}.{}.7", (i >> 8) & 255, i & 255),
                    )
                    .json(&json!({"items": [{"product_id": "bench", "quantity": 1}]}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
            }
        })
    };
    let processes = [
        ("caisse serve", Some(pid)),
        ("caisse sandbox", Some(sandbox.0.id())),
        ("the benchmark's own client", Some(std::process::id())),
        ("PostgreSQL", None),
    ];
    let cpu_before = processes.map(|(_, p)| cpu_seconds(p));
    let (co_rate, co_lat) = checkout(16, checkouts, "16").await;
    let cpu_spent: Vec<f64> = processes
        .iter()
        .zip(cpu_before)
        .map(|((_, p), before)| cpu_seconds(*p) - before)
        .collect();
    let rss_checkout = peak_rss_mib(pid);
    let (_, one_lat) = checkout(1, 200, "1").await;
    let sandbox_alone = |clients: usize, n: usize| {
        let (h, s) = (http.clone(), stripe.clone());
        load(n, clients, move |i| {
            let (h, s) = (h.clone(), s.clone());
            async move {
                let form = [
                    ("mode", "payment".to_string()),
                    ("success_url", "http://127.0.0.1/?ok".to_string()),
                    ("cancel_url", "http://127.0.0.1/?no".to_string()),
                    ("metadata[hold_id]", format!("hold_direct{i}")),
                    ("line_items[0][price_data][currency]", "eur".to_string()),
                    ("line_items[0][price_data][unit_amount]", "1000".to_string()),
                    (
                        "line_items[0][price_data][product_data][name]",
                        "Bench".to_string(),
                    ),
                    ("line_items[0][quantity]", "1".to_string()),
                ];
                let r = h
                    .post(format!("{s}/v1/checkout/sessions"))
                    .bearer_auth(SECRET_KEY)
                    .header("idempotency-key", format!("direct-{clients}-{i}"))
                    .form(&form)
                    .send()
                    .await
                    .unwrap();
                assert!(
                    r.status().is_success(),
                    "{}",
                    r.text().await.unwrap_or_default()
                );
            }
        })
    };
    let (sb_rate, sb_lat) = sandbox_alone(16, checkouts).await;
    let (_, sb_one_lat) = sandbox_alone(1, 200).await;

    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    println!(
        "\ncaisse-bench · {backend} · {cores} cores · {} events over {} product(s)",
        args.events, args.products
    );
    println!(
        "durability: {}",
        if args.postgres.is_some() {
            "synchronous_commit=on (per transaction)"
        } else {
            "WAL, synchronous=FULL"
        }
    );
    println!(
        "\n{:<44} {:>10} {:>9} {:>9}",
        "load", "per s", "p50 ms", "p99 ms"
    );
    println!(
        "{:<44} {:>10.0} {:>9} {:>9}",
        "raw single-row durable commits (32 tasks)", raw_rate, "", ""
    );
    println!(
        "{:<44} {:>10.0} {:>9} {:>9}",
        "  the same through caisse's store", store_rate, "", ""
    );
    row(
        "webhook effect: hold -> order (32 conns)",
        effect_rate,
        &effect_lat,
    );
    match &node {
        Ok(n) => row(
            "the seed's Node stack, same load (32 conns)",
            n.rate,
            &n.latencies,
        ),
        Err(why) => println!("{:<44} {:>10}  ({why})", "the seed's Node stack", "-"),
    }
    row("duplicate event (32 conns)", dup_rate, &dup_lat);
    row("GET /healthz (32 conns)", health_rate, &health_lat);
    row(
        "checkout via caisse + sandbox (16 clients)",
        co_rate,
        &co_lat,
    );
    row("the sandbox alone (16 clients)", sb_rate, &sb_lat);
    targets::print(&targets::Figures {
        postgres: args.postgres.is_some(),
        effect_rate,
        raw_rate,
        node_rate: node.as_ref().map(|n| n.rate).map_err(String::clone),
        dup_rate,
        health_rate,
        checkout_p99: pct(&co_lat, 0.99),
        sandbox_p99: pct(&sb_lat, 0.99),
        peak_rss: [rss_idle, rss_effect, rss_dup, rss_checkout]
            .into_iter()
            .fold(0.0, f64::max),
    });
    println!(
        "  checkout overhead over sandbox, p50     {:+.2} ms",
        pct(&co_lat, 0.5) - pct(&sb_lat, 0.5)
    );
    println!(
        "  checkout alone (1 client)         p50 {:.2} ms, p99 {:.2} ms; the sandbox alone p50 {:.2} ms, p99 {:.2} ms",
        pct(&one_lat, 0.5),
        pct(&one_lat, 0.99),
        pct(&sb_one_lat, 0.5),
        pct(&sb_one_lat, 0.99)
    );
    println!("\nwhere a checkout's time goes (CPU per checkout at 16 clients, by process)");
    for ((name, _), spent) in processes.iter().zip(&cpu_spent) {
        if *spent > 0.0 {
            println!("  {name:<32} {:.2} ms", 1000.0 * spent / checkouts as f64);
        }
    }
    println!(
        "  all of them                      {:.2} ms ({cores} cores: {:.0} checkouts/s at most)",
        1000.0 * cpu_spent.iter().sum::<f64>() / checkouts as f64,
        cores as f64 * checkouts as f64 / cpu_spent.iter().sum::<f64>().max(f64::MIN_POSITIVE)
    );
    let delta = |i: usize| (after[i].0 - before[i].0, after[i].1 - before[i].1);
    let ((wait_s, writes), (turn_s, turns), (commit_s, commits)) = (delta(0), delta(1), delta(2));
    println!("\nwhere an effect's time goes (caisse's own histograms, during the effect load)");
    println!(
        "  write transactions per effect     {:.2}",
        writes / args.events as f64
    );
    println!(
        "  waiting for a connection / turn   {:.2} ms on average",
        1000.0 * wait_s / writes.max(1.0)
    );
    print!(
        "  CPU per effect: caisse serve      {:.2} ms",
        1000.0 * effect_cpu / args.events as f64
    );
    match &node {
        Ok(n) => println!(
            "; the seed's Node stack {:.2} ms",
            1000.0 * n.cpu / args.events as f64
        ),
        // The server's backends, which are on this machine: the two processes' CPU bounds the
        // rate whatever the disk does.
        Err(_) if args.postgres.is_some() => println!(
            "; PostgreSQL {:.2} ms ({cores} cores: {:.0} effects/s at most)",
            1000.0 * effect_postgres_cpu / args.events as f64,
            cores as f64 * args.events as f64
                / (effect_cpu + effect_postgres_cpu).max(f64::MIN_POSITIVE)
        ),
        Err(_) => println!(),
    }
    if turns > 0.0 {
        println!("  holding SQLite's writer turn      {:.2} ms on average (one at a time: {:.0} turns/s at most)", 1000.0 * turn_s / turns, turns / turn_s.max(f64::MIN_POSITIVE));
        println!(
            "  a group's commit (one fsync)      {:.2} ms on average, {:.1} transactions per group",
            1000.0 * commit_s / commits.max(1.0),
            writes / commits.max(1.0)
        );
    } else {
        println!(
            "  the commit                        {:.2} ms on average",
            1000.0 * commit_s / commits.max(1.0)
        );
    }
    println!("\npeak RSS of caisse serve (MiB): idle {rss_idle:.1}, after effects {rss_effect:.1}, after duplicates {rss_dup:.1}, after checkouts {rss_checkout:.1}");
    drop(server);
    caisse_bench::drop_database(args.postgres.as_deref(), &url).await;
}
