//! The README's "Running on PostgreSQL" lines run as written (with a database name of this test's
//! own and the test keys filled in), against the suite's PostgreSQL: `caisse serve` comes up and
//! serves the API.

use std::process::{Command, Stdio};

use crate::support::{free_port, wait_for, Running, SK, WH};

/// The shell block under the README's "### Running on PostgreSQL".
fn readme_block() -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = readme
        .split("### Running on PostgreSQL")
        .nth(1)
        .expect("the section");
    let start = section.find("```sh\n").expect("a shell block") + "```sh\n".len();
    section[start..start + section[start..].find("```").unwrap()].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_s_postgresql_commands_work_as_written() {
    let Some(admin) = crate::support::postgres_admin_url() else {
        return;
    };
    // postgres://USER@HOST:PORT/DB, for createdb's PG* variables.
    let rest = admin.split_once("://").unwrap().1;
    let (user, rest) = rest.split_once('@').unwrap();
    let hostport = rest.split('/').next().unwrap();
    let (host, pgport) = hostport.split_once(':').unwrap_or((hostport, "5432"));
    let base = admin.rsplit_once('/').unwrap().0;
    let name = format!("caisse_test_{}", uuid_like());
    let block = readme_block();
    let lines: Vec<&str> = block.lines().filter(|l| !l.trim().is_empty()).collect();
    let (last, first) = lines.split_last().unwrap();
    assert!(last.ends_with("caisse serve"), "{block}");
    // `exec env`: the shell becomes caisse serve (stopped with the test), its line unchanged.
    let script = format!("set -e\n{}\nexec env {last}\n", first.join("\n"))
        .replace("createdb caisse", &format!("createdb {name}"))
        .replace(
            "postgres://user@localhost/caisse",
            &format!("{base}/{name}"),
        )
        .replace("sk_test_…", SK)
        .replace("whsec_…", WH);
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_caisse"))
        .parent()
        .unwrap();
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let _serve = Running(
        Command::new("sh")
            .args(["-c", &script])
            .current_dir(dir.path())
            .env_clear()
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    bin.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("PGHOST", host)
            .env("PGPORT", pgport)
            .env("PGUSER", user)
            .env("CAISSE_LISTEN", format!("127.0.0.1:{port}"))
            .env("CAISSE_METRICS_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}");
    let ready = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        wait_for(&format!("{url}/readyz")),
    )
    .await;
    let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default();
    assert!(ready.is_ok(), "never ready:\n{script}\n{stderr}");
    let products = reqwest::get(format!("{url}/api/products")).await.unwrap();
    assert_eq!(products.status(), 200);
}

/// A name part no other run uses.
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{nanos:x}{:x}", std::process::id())
}
