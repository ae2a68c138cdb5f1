//! `caisse orders` from outside, on a shop that ships: a checkout through `caisse serve` and the
//! sandbox's page with an address in France and the catalog's rate; `caisse orders export` prints
//! that address, the shipping and the total; `caisse orders ship 1` writes one shipping email
//! with the tracking code (`CAISSE_MAIL_DIR`), and a second run is refused and writes none;
//! `caisse orders deliver 1` then needs only the database.

use caisse_sandbox::shipping::Entered;

use crate::recovery::{checkout, until};
use crate::support::serve;
use crate::support::{free_port, run, text, wait_for, SK, WH};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipped_order_is_exported_and_shipped_once_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("caisse.db").display());
    std::fs::write(
        dir.path().join("catalog.json"),
        r#"{"products": [{"id": "mug", "name": "Mug", "unit_amount": 1200, "currency": "eur", "stock_on_hand": 20}],
            "shipping_rates": [{"id": "standard", "name": "Colissimo", "amount": 490, "currency": "eur", "min_days": 2, "max_days": 4, "free_over": 5000}]}"#,
    )
    .unwrap();
    let import = run(
        dir.path(),
        &["catalog", "import", "catalog.json"],
        &[("DATABASE_URL", &db)],
    );
    let (stdout, stderr) = text(&import);
    assert!(import.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("1 shipping rates"), "{stdout}");

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut options = caisse_sandbox::SandboxOptions::default();
    options.delivery.secrets = vec![WH.into()];
    options.forward_to = Some(format!("{base}/api/webhooks/stripe"));
    let sandbox = caisse_sandbox::start(options).await.unwrap();
    let mail_dir = dir.path().join("mail");
    let mail_text = mail_dir.display().to_string();
    let settings = [
        ("CAISSE_MAIL_DIR", mail_text.as_str()),
        ("CAISSE_MAIL_LANG", "en"),
        ("CAISSE_SHIPPING_COUNTRIES", "FR,BE"),
    ];
    let _serve = serve(dir.path(), port, sandbox.url(), &settings);
    wait_for(&format!("{base}/readyz")).await;
    let (session, _) = checkout(&base, "ada@example.com").await;
    let card = || caisse_sandbox::Method::Card("4242424242424242".into());
    let mut address = Entered {
        shipping_name: "Ada Lovelace".into(),
        shipping_line1: "12 rue de la Paix".into(),
        shipping_postal_code: "75002".into(),
        shipping_city: "Paris".into(),
        shipping_country: "DE".into(),
        ..Entered::default()
    };
    assert!(sandbox.pay_with(&session, card(), &address).is_err());
    address.shipping_country = "FR".into();
    sandbox.pay_with(&session, card(), &address).unwrap();
    until(20, "the confirmation email file", || {
        std::fs::read_dir(&mail_dir).is_ok_and(|d| d.count() == 1)
    })
    .await;

    let tool = |args: &[&str]| {
        run(
            dir.path(),
            args,
            &[
                ("DATABASE_URL", db.as_str()),
                ("STRIPE_SECRET_KEY", SK),
                ("STRIPE_WEBHOOK_SECRET", WH),
                ("STRIPE_API_BASE", sandbox.url()),
                ("CAISSE_MAIL_DIR", mail_text.as_str()),
                ("CAISSE_MAIL_LANG", "en"),
            ],
        )
    };
    let export = tool(&["orders", "export"]);
    let (csv, stderr) = text(&export);
    assert!(export.status.success(), "{csv}{stderr}");
    let row = csv.lines().nth(1).unwrap_or_default();
    assert!(row.starts_with("\"1\","), "{csv}");
    assert!(
        row.contains(
            r#","12 rue de la Paix","","75002","Paris","FR","mug×1","12.00","4.90","16.90","0.00","EUR","pi_"#
        ),
        "{csv}"
    );
    // A first day after the last is refused in words, not an empty file and success.
    let backwards = tool(&[
        "orders",
        "export",
        "--from",
        "2026-12-06",
        "--to",
        "2026-12-01",
    ]);
    assert_eq!(backwards.status.code(), Some(2));
    assert!(
        text(&backwards)
            .1
            .contains("--to: `2026-12-01` is not after `2026-12-06`"),
        "{:?}",
        text(&backwards)
    );

    let ship = [
        "orders",
        "ship",
        "1",
        "--carrier",
        "Colissimo",
        "--tracking",
        "6A123",
    ];
    let first = tool(&ship);
    let (stdout, stderr) = text(&first);
    assert!(first.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("order #1 marked shipped"), "{stdout}");
    let shipped = || {
        std::fs::read_dir(&mail_dir)
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
            .filter(|m| m.contains("Subject: Order #1 shipped"))
            .collect::<Vec<_>>()
    };
    until(10, "the shipping email", || shipped().len() == 1).await;
    assert!(shipped()[0].contains("6A123"), "{}", shipped()[0]);

    let second = tool(&ship);
    let (stdout, stderr) = text(&second);
    assert!(!second.status.success(), "{stdout}");
    assert!(stderr.contains("already shipped"), "{stderr}");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(shipped().len(), 1);

    // Delivered: the database is all it needs.
    let delivered = run(
        dir.path(),
        &["orders", "deliver", "1"],
        &[("DATABASE_URL", db.as_str())],
    );
    let (stdout, stderr) = text(&delivered);
    assert!(delivered.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("order #1 marked delivered"), "{stdout}");
}
