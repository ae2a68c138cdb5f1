//! Each bad configuration stops `caisse serve` with exit code 2 and one line naming the variable.

use crate::support::{run, text, GUEST, PK, SK, WH};

fn serve_fails_with(vars: &[(&str, &str)], expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let mut all = vec![
        ("DATABASE_URL", db.as_str()),
        ("CAISSE_LISTEN", "127.0.0.1:0"),
        ("CAISSE_MAIL", "off"),
        ("CAISSE_GUEST_COOKIE_SECRET", GUEST),
    ];
    all.extend_from_slice(vars);
    let out = run(dir.path(), &["serve"], &all);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(
        lines[0].starts_with(&format!("error: {expected}")),
        "{stderr}"
    );
    for secret in [SK, PK, WH, "sk_live_CLI_SECRET", "pk_live_CLIPUB"] {
        assert!(
            !stderr.contains(secret),
            "the message shows a key: {stderr}"
        );
    }
}

#[test]
fn missing_secret_key() {
    serve_fails_with(
        &[("STRIPE_WEBHOOK_SECRET", WH)],
        "STRIPE_SECRET_KEY: is missing",
    );
}

#[test]
fn missing_webhook_secret() {
    serve_fails_with(
        &[("STRIPE_SECRET_KEY", SK)],
        "STRIPE_WEBHOOK_SECRET: is missing",
    );
}

#[test]
fn secret_key_in_the_publishable_variable() {
    serve_fails_with(
        &[
            ("STRIPE_SECRET_KEY", SK),
            ("STRIPE_WEBHOOK_SECRET", WH),
            ("NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY", SK),
        ],
        "NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY: holds a secret key",
    );
    serve_fails_with(
        &[
            ("STRIPE_SECRET_KEY", SK),
            ("STRIPE_WEBHOOK_SECRET", WH),
            ("STRIPE_PUBLISHABLE_KEY", SK),
        ],
        "STRIPE_PUBLISHABLE_KEY: holds a secret key",
    );
}

#[test]
fn publishable_key_as_the_secret_key() {
    serve_fails_with(
        &[("STRIPE_SECRET_KEY", PK), ("STRIPE_WEBHOOK_SECRET", WH)],
        "STRIPE_SECRET_KEY: holds a publishable key",
    );
}

#[test]
fn webhook_secret_without_whsec() {
    serve_fails_with(
        &[
            ("STRIPE_SECRET_KEY", SK),
            ("STRIPE_WEBHOOK_SECRET", "CLIWEBHOOKSECRETVALUE"),
        ],
        "STRIPE_WEBHOOK_SECRET: every comma-separated secret must start with whsec_",
    );
}

#[test]
fn test_and_live_keys_mixed() {
    serve_fails_with(
        &[
            ("STRIPE_SECRET_KEY", SK),
            ("STRIPE_WEBHOOK_SECRET", WH),
            ("STRIPE_PUBLISHABLE_KEY", "pk_live_CLIPUB0123"),
        ],
        "STRIPE_SECRET_KEY: is a test key but STRIPE_PUBLISHABLE_KEY is a live key",
    );
    serve_fails_with(
        &[
            ("STRIPE_SECRET_KEY", "sk_live_CLI_SECRET_0123"),
            ("STRIPE_WEBHOOK_SECRET", WH),
            ("STRIPE_PUBLISHABLE_KEY", PK),
            ("CAISSE_PUBLIC_URL", "https://shop.example"),
        ],
        "STRIPE_SECRET_KEY: is a live key but STRIPE_PUBLISHABLE_KEY is a test key",
    );
}

#[test]
fn config_check_exits_non_zero_on_a_problem_and_zero_when_fine() {
    let dir = tempfile::tempdir().unwrap();
    let bad = run(
        dir.path(),
        &["config", "check"],
        &[("STRIPE_SECRET_KEY", SK)],
    );
    assert_eq!(bad.status.code(), Some(2));
    let good = run(
        dir.path(),
        &["config", "check"],
        &[
            ("STRIPE_SECRET_KEY", SK),
            ("STRIPE_WEBHOOK_SECRET", WH),
            ("CAISSE_MAIL", "off"),
            ("CAISSE_GUEST_COOKIE_SECRET", GUEST),
        ],
    );
    assert_eq!(good.status.code(), Some(0), "{:?}", text(&good));
    let tool = run(dir.path(), &["config", "check", "--for", "tool"], &[]);
    assert_eq!(tool.status.code(), Some(0));
}

#[test]
fn a_toml_file_is_read_and_its_mistakes_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("caisse.toml"),
        format!("stripe_secret_key = \"{SK}\"\nstripe_webhook_secret = \"{WH}\"\ncaisse_listen = \"127.0.0.1:9999\"\ncaisse_mail = \"off\"\ncaisse_guest_cookie_secret = \"{GUEST}\"\n"),
    )
    .unwrap();
    let out = run(dir.path(), &["config", "check"], &[]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout.contains("127.0.0.1:9999  (caisse.toml)"), "{stdout}");

    // An unknown key is named first, at start as by config check, which still shows the rest.
    std::fs::write(
        dir.path().join("caisse.toml"),
        "stripe_secret = 1\ncaisse_listen = \"127.0.0.1:9999\"\n",
    )
    .unwrap();
    let out = run(dir.path(), &["config", "check", "--for", "tool"], &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr.trim(),
        "error: caisse.toml: unknown setting `stripe_secret`"
    );
    assert!(stdout.contains("127.0.0.1:9999  (caisse.toml)"), "{stdout}");
    let out = run(dir.path(), &["migrate"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out)
        .1
        .starts_with("error: caisse.toml: unknown setting `stripe_secret`"));
}

#[test]
fn serve_without_a_mail_transport() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let out = run(
        dir.path(),
        &["serve"],
        &[
            ("DATABASE_URL", &db),
            ("STRIPE_SECRET_KEY", SK),
            ("STRIPE_WEBHOOK_SECRET", WH),
            ("CAISSE_GUEST_COOKIE_SECRET", GUEST),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.starts_with("error: SMTP_URL: is missing"),
        "{:?}",
        text(&out)
    );
}

#[test]
fn serve_without_a_guest_cookie_secret() {
    serve_fails_with_env(
        &[
            ("STRIPE_SECRET_KEY", SK),
            ("STRIPE_WEBHOOK_SECRET", WH),
            ("CAISSE_MAIL", "off"),
        ],
        "CAISSE_GUEST_COOKIE_SECRET: is required by serve",
    );
}

/// `serve` with exactly `vars` (and a database): one line naming the variable, exit 2.
fn serve_fails_with_env(vars: &[(&str, &str)], expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let mut all = vec![("DATABASE_URL", db.as_str())];
    all.extend_from_slice(vars);
    let out = run(dir.path(), &["serve"], &all);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: {expected}")),
        "{stderr}"
    );
}

#[test]
fn an_unknown_time_zone() {
    serve_fails_with(
        &[
            ("STRIPE_SECRET_KEY", SK),
            ("STRIPE_WEBHOOK_SECRET", WH),
            ("CAISSE_TIME_ZONE", "Europe/Atlantis"),
        ],
        "CAISSE_TIME_ZONE: is not a time zone of the tz database",
    );
}

#[test]
fn live_keys_with_a_plain_http_public_url() {
    serve_fails_with(
        &[
            ("STRIPE_SECRET_KEY", "sk_live_CLI_SECRET_0123"),
            ("STRIPE_WEBHOOK_SECRET", WH),
        ],
        "CAISSE_PUBLIC_URL: must be https:// with live keys",
    );
}

/// `config check` shows the effective configuration beside its problems, names a `CAISSE_…`
/// variable that is no setting (also a warning at start), and `--for dev` shows dev's values.
#[test]
fn config_check_shows_the_configuration_with_its_problems_and_dev_s_values() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["config", "check"],
        &[
            ("STRIPE_SECRET_KEY", SK),
            ("CAISSE_HOLD_TTL_SECS", "60"),
            ("CAISSE_SHIPING_COUNTRIES", "FR,BE"),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stdout.contains("CAISSE_HOLD_TTL_SECS                     60  (environment)"),
        "{stdout}"
    );
    assert!(stdout.contains("STRIPE_SECRET_KEY                        sk_test_****  (environment)"));
    assert!(!stdout.contains("configuration OK"));
    assert!(stderr.contains("error: CAISSE_HOLD_TTL_SECS"), "{stderr}");
    assert!(
        stderr.contains("error: STRIPE_WEBHOOK_SECRET: is missing"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: CAISSE_SHIPING_COUNTRIES: is not a setting caisse knows"),
        "{stderr}"
    );
    assert!(!format!("{stdout}{stderr}").contains(SK), "secrets masked");

    let out = run(dir.path(), &["config", "check", "--for", "dev"], &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("sqlite://caisse-data/caisse.db  (caisse dev)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("caisse-data/mail  (caisse dev)"),
        "{stdout}"
    );
    assert!(stdout.contains("STRIPE_SECRET_KEY                        sk_test_****  (caisse dev)"));

    // At start, the unknown variable is a warning that names it; the command still runs.
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let out = run(
        dir.path(),
        &["migrate"],
        &[("DATABASE_URL", &db), ("CAISSE_SHIPING_COUNTRIES", "FR")],
    );
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: CAISSE_SHIPING_COUNTRIES: is not a setting caisse knows"),
        "{stderr}"
    );
}
