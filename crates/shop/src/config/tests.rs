//! The loading rules, section by section, and the declaration they follow.

use std::path::PathBuf;

use super::source::parse_file;
use super::*;

/// Loads `pairs` with a guest-cookie secret (required by serve) unless they set one.
fn load(pairs: &[(&str, &str)], mode: Mode) -> Result<Config, Vec<ConfigError>> {
    let mut all = vec![(GUEST_SECRET, "guest-cookie-secret-0123456789abcdef")];
    all.extend_from_slice(pairs);
    Config::load(&Source::from_pairs(all), mode, None)
}

#[test]
fn hardened_rules() {
    let keys = [(SECRET_KEY, SK), (WEBHOOK_SECRET, WH), (MAIL, "off")];
    let bare = Config::load(&Source::from_pairs(keys), Mode::Serve, None).unwrap_err();
    assert_eq!(
        bare[0].variable, GUEST_SECRET,
        "serve needs the guest secret"
    );
    assert!(Config::load(&Source::from_pairs(keys), Mode::Dev, None).is_ok());
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut all = keys.to_vec();
        all.extend_from_slice(extra);
        load(&all, Mode::Serve)
    };
    let live = [
        (SECRET_KEY, "sk_live_fake_key_for_tests"),
        (API_BASE, "https://api.stripe.com"),
    ];
    assert_eq!(
        with(&live).unwrap_err()[0].variable,
        PUBLIC_URL,
        "live keys over http://"
    );
    let mut live_https = live.to_vec();
    live_https.push((PUBLIC_URL, "https://shop.example"));
    assert!(with(&live_https).is_ok());
    // By prefix: a test key whose body happens to contain `_live_` is a test key.
    assert_eq!(
        with(&[(SECRET_KEY, "sk_test_abc_live_def")])
            .unwrap()
            .stripe
            .mode,
        KeyMode::Test
    );
    assert!(with(&[(SECRET_KEY, "sk_abc_test_def")]).is_err());
    assert_eq!(
        with(&[(WEBHOOK_TOLERANCE, "601")]).unwrap_err()[0].variable,
        WEBHOOK_TOLERANCE
    );
    assert!(with(&[(WEBHOOK_TOLERANCE, "600")]).is_ok());
}

/// The first problem of a serve configuration that sends no email unless `pairs` say so.
fn first_error(pairs: &[(&str, &str)]) -> String {
    let mut all = vec![(MAIL, "off")];
    all.extend_from_slice(pairs);
    load(&all, Mode::Serve).unwrap_err()[0].to_string()
}

const SK: &str = "sk_test_abcdefghijklmnop";
const PK: &str = "pk_test_abcdefghijklmnop";
const WH: &str = "whsec_abcdefghijklmnop";

#[test]
fn a_complete_serve_configuration_loads() {
    let c = load(
        &[
            (SECRET_KEY, SK),
            (PUBLISHABLE_KEY_ALIAS, PK),
            (WEBHOOK_SECRET, &format!("{WH}, whsec_second")),
            (SMTP_URL, "smtps://shop:MAILPASSWORD@mail.example:465"),
            (MAIL_FROM, "Shop <orders@shop.example>"),
        ],
        Mode::Serve,
    )
    .unwrap();
    assert!(matches!(c.mail.transport, MailTransport::Smtp(_)));
    assert_eq!(c.stripe.webhook_secrets.len(), 2);
    assert_eq!(c.stripe.publishable_key.as_deref(), Some(PK));
    assert_eq!(c.webhook_tolerance, Duration::from_secs(300));
    let debug = format!("{c:?}");
    assert!(!debug.contains(SK) && !debug.contains(WH), "{debug}");
    assert!(!debug.contains("MAILPASSWORD"), "{debug}");
    assert!(c
        .report
        .iter()
        .all(|(_, shown, _)| !shown.contains("MAILPASSWORD")));
}

#[test]
fn serve_needs_a_mail_transport_or_mail_off() {
    let keys = [(SECRET_KEY, SK), (WEBHOOK_SECRET, WH)];
    let errors = load(&keys, Mode::Serve).unwrap_err();
    assert_eq!(errors[0].variable, SMTP_URL);
    assert!(errors[0].problem.contains("CAISSE_MAIL=off"));
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut all = keys.to_vec();
        all.extend_from_slice(extra);
        load(&all, Mode::Serve)
    };
    assert_eq!(
        with(&[(MAIL, "off")]).unwrap().mail.transport,
        MailTransport::Off
    );
    assert_eq!(
        with(&[(SMTP_URL, "smtp://127.0.0.1:25")]).unwrap_err()[0].variable,
        MAIL_FROM,
        "SMTP_URL without a From address"
    );
    assert_eq!(
        with(&[(SMTP_URL, "http://mail"), (MAIL_FROM, "a@b.example")]).unwrap_err()[0].variable,
        SMTP_URL
    );
    for bad in [
        "smtp://host:notaport",
        "smtp://h?tls=bogus",
        "smtp://u:p@[::1",
    ] {
        assert_eq!(
            with(&[(SMTP_URL, bad), (MAIL_FROM, "a@b.example")]).unwrap_err()[0].variable,
            SMTP_URL,
            "{bad}"
        );
    }
    assert_eq!(
        with(&[(MAIL_DIR, "/tmp/mail")]).unwrap().mail.transport,
        MailTransport::Files(PathBuf::from("/tmp/mail"))
    );
    assert_eq!(
        with(&[(MAIL, "off"), (MAIL_LANG, "de")]).unwrap_err()[0].variable,
        MAIL_LANG
    );
}

#[test]
fn each_key_rule_names_its_variable() {
    assert!(first_error(&[(WEBHOOK_SECRET, WH)]).starts_with("STRIPE_SECRET_KEY: is missing"));
    assert!(first_error(&[(SECRET_KEY, SK)]).starts_with("STRIPE_WEBHOOK_SECRET: is missing"));
    assert!(first_error(&[(SECRET_KEY, PK), (WEBHOOK_SECRET, WH)])
        .starts_with("STRIPE_SECRET_KEY: holds a publishable key"));
    assert!(first_error(&[
        (SECRET_KEY, SK),
        (WEBHOOK_SECRET, WH),
        (PUBLISHABLE_KEY, SK)
    ])
    .starts_with("NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY: holds a secret key"));
    assert!(first_error(&[(SECRET_KEY, SK), (WEBHOOK_SECRET, "abc")])
        .starts_with("STRIPE_WEBHOOK_SECRET: every comma-separated secret must start with whsec_"));
    assert!(first_error(&[
        (SECRET_KEY, SK),
        (WEBHOOK_SECRET, WH),
        (PUBLISHABLE_KEY, "pk_live_x1")
    ])
    .contains("test and live keys cannot be mixed"));
    assert!(first_error(&[
        (SECRET_KEY, SK),
        (WEBHOOK_SECRET, WH),
        (WEBHOOK_TOLERANCE, "0")
    ])
    .starts_with("CAISSE_WEBHOOK_TOLERANCE_SECS"));
    assert!(
        first_error(&[(SECRET_KEY, SK), (WEBHOOK_SECRET, WH), (HOLD_TTL, "60")])
            .starts_with("CAISSE_HOLD_TTL_SECS")
    );
    assert!(first_error(&[
        (SECRET_KEY, SK),
        (WEBHOOK_SECRET, WH),
        (REDIS_URL, "http://cache")
    ])
    .starts_with("REDIS_URL: must start with redis://"));
}

#[test]
fn no_error_line_shows_a_value() {
    let errors = load(
        &[
            (SECRET_KEY, "pk_test_SECRETVALUE"),
            (PUBLISHABLE_KEY, "sk_test_SECRETVALUE"),
        ],
        Mode::Serve,
    )
    .unwrap_err();
    for e in errors {
        assert!(!e.to_string().contains("SECRETVALUE"), "{e}");
    }
}

#[test]
fn tools_need_no_keys_and_dev_fills_them_in() {
    assert!(load(&[], Mode::Tool).is_ok());
    let keys = DevKeys::generate();
    let c = Config::load(&Source::default(), Mode::Dev, Some(&keys)).unwrap();
    assert_eq!(c.stripe.secret_key.expose(), keys.secret_key);
    assert!(c
        .report
        .iter()
        .any(|(n, _, o)| *n == SECRET_KEY && *o == Origin::Dev));
}

#[test]
fn stripe_tools_need_the_secret_key_but_no_webhook_secret() {
    let c = Config::load(
        &Source::from_pairs([(SECRET_KEY, "sk_test_x1")]),
        Mode::Stripe,
        None,
    );
    assert!(c.is_ok(), "{:?}", c.err());
    let errors = Config::load(&Source::default(), Mode::Stripe, None).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].variable, SECRET_KEY);
}

#[test]
fn unknown_caisse_variables_are_named_with_the_setting_they_resemble() {
    let source = Source::from_pairs([
        ("CAISSE_COLOUR_SCHEME", "dark"),
        ("CAISSE_HOLD_TTL_SEC", "3600"),
        ("CAISSE_ZZZ", "1"),
        ("CAISSE_CONFIG", "caisse.toml"),
        ("CAISSE_TEST_POSTGRES_URL", "postgres://x"),
        (HOLD_TTL, "1800"),
        ("PATH", "/bin"),
    ]);
    let unknown: Vec<String> = source
        .unknown_variables()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        unknown,
        [
            "CAISSE_COLOUR_SCHEME: is not a setting caisse knows; it is ignored",
            "CAISSE_HOLD_TTL_SEC: is not a setting caisse knows (did you mean CAISSE_HOLD_TTL_SECS?); it is ignored",
            "CAISSE_ZZZ: is not a setting caisse knows; it is ignored",
        ]
    );
}

#[test]
fn the_report_comes_with_the_problems() {
    let (errors, report) =
        Config::load_reported(&Source::from_pairs([(HOLD_TTL, "5")]), Mode::Tool, None)
            .unwrap_err();
    assert_eq!(errors[0].variable, HOLD_TTL);
    assert!(report
        .iter()
        .any(|(n, v, o)| *n == HOLD_TTL && v == "5" && *o == Origin::Env));
    assert_eq!(report.len(), SETTINGS.len());
}

#[test]
fn the_file_is_below_the_environment_and_rejects_unknown_keys() {
    let mut source = Source::from_pairs([(LISTEN, "127.0.0.1:9000")]);
    source.file = parse_file(
        "caisse_listen = \"127.0.0.1:7000\"\ncaisse_hold_ttl_secs = 3600\n",
        "caisse.toml",
    )
    .0;
    let c = Config::load(&source, Mode::Tool, None).unwrap();
    assert_eq!(c.listen.port(), 9000);
    assert_eq!(c.checkout.hold_ttl, Duration::from_secs(3600));
    let (known, unknown) = parse_file(
        "nope = 1\ncaisse_listen = \"127.0.0.1:7000\"",
        "caisse.toml",
    );
    assert_eq!(known.len(), 1, "the rest of the file is read");
    assert_eq!(
        unknown[0].to_string(),
        "caisse.toml: unknown setting `nope`"
    );
    let mut source = Source::default();
    (source.file, source.problems) = parse_file("nope = 1", "caisse.toml");
    let errors = Config::load(&source, Mode::Tool, None).unwrap_err();
    assert_eq!(errors[0].to_string(), "caisse.toml: unknown setting `nope`");
}

#[test]
fn a_file_that_is_not_toml_is_named_with_the_place_of_its_mistake() {
    let (read, problems) = parse_file(
        "caisse_listen = \"127.0.0.1:7000\"\ncaisse_hold_ttl_secs = \"3600\n",
        "/etc/caisse/prod.toml",
    );
    assert!(read.is_empty(), "nothing of a broken file is read");
    let said = problems[0].to_string();
    assert!(
        said.starts_with("/etc/caisse/prod.toml: line 2, column "),
        "{said}"
    );
    let (_, problems) = parse_file("caisse_listen = [1]", "other.toml");
    assert_eq!(
        problems[0].to_string(),
        "other.toml: `caisse_listen` must be a string or a number"
    );
}

#[test]
fn every_declared_setting_is_read_once_and_reported_in_declaration_order() {
    let c = load(&[], Mode::Tool).unwrap();
    let reported: Vec<&str> = c.report.iter().map(|(name, _, _)| *name).collect();
    let declared: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
    assert_eq!(reported, declared);
    for (alias, name) in ALIASES {
        assert!(settings::declared(name).is_some(), "{alias} names {name}");
        assert!(settings::declared(alias).is_none(), "{alias} is an alias");
    }
}

#[test]
fn without_settings_every_value_is_its_declared_default() {
    let c = Config::load(&Source::default(), Mode::Tool, None).unwrap();
    for ((name, shown, origin), s) in c.report.iter().zip(SETTINGS) {
        assert_eq!(*origin, Origin::Default, "{name}");
        if s.default.is_empty() {
            assert_eq!(shown, "(not set)", "{name}");
        } else if !s.default.contains('{') {
            assert_eq!(shown, s.default, "{name}");
        }
    }
    // Defaults that name another setting take its effective value.
    let shown = |name: &str| c.report.iter().find(|e| e.0 == name).unwrap().1.clone();
    assert_eq!(shown(PUBLIC_URL), format!("http://{}", shown(LISTEN)));
    assert_eq!(
        shown(SUCCESS_URL),
        format!(
            "{}/?checkout=success&session_id={{CHECKOUT_SESSION_ID}}",
            shown(PUBLIC_URL)
        )
    );
    assert_eq!(c.public_url, "http://127.0.0.1:8080");
    assert_eq!(c.checkout.hold_ttl, Duration::from_secs(1800));
    assert_eq!(c.checkout.rate_per_customer.to_string(), "5/min");
    assert_eq!(c.log_format, LogFormat::Human);
    assert_eq!(c.mail.lang, crate::domain::money::Locale::Fr);
    assert!(c.webhooks.release_on_payment_failure && !c.webhooks.refund_unfulfillable);
    // A public URL set without its listener follows it; a listener set moves the default.
    let moved = load(&[(LISTEN, "127.0.0.1:9000")], Mode::Tool).unwrap();
    assert_eq!(moved.public_url, "http://127.0.0.1:9000");
    assert_eq!(
        moved.checkout.cancel_url,
        "http://127.0.0.1:9000/?checkout=cancelled"
    );
}

#[test]
fn a_mistake_names_its_variable_and_the_rest_is_still_checked() {
    let errors = load(
        &[
            (LISTEN, "nowhere"),
            (RATE_PER_IP, "lots"),
            (LOG_FORMAT, "JSON"),
            (MAIL, "OFF"),
            (STOREFRONT, "maybe"),
        ],
        Mode::Tool,
    )
    .unwrap_err();
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "CAISSE_LISTEN: must be an address such as 127.0.0.1:8080",
            "CAISSE_LOG_FORMAT: must be human or json",
            "CAISSE_CHECKOUT_RATE_PER_IP: must look like 5/min (N/sec, N/min or N/hour, N ≥ 1)",
            "CAISSE_STOREFRONT: must be true or false",
        ]
    );
}

#[test]
fn return_urls_and_trusted_proxies_are_checked_at_start() {
    let keys = [(SECRET_KEY, SK), (WEBHOOK_SECRET, WH), (MAIL, "off")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut all = keys.to_vec();
        all.extend_from_slice(extra);
        load(&all, Mode::Serve)
    };
    for (name, bad) in [
        (SUCCESS_URL, "/thanks?session_id={CHECKOUT_SESSION_ID}"),
        (CANCEL_URL, "shop.example/cart"),
        (SUCCESS_URL, "ftp://shop.example/"),
    ] {
        let errors = with(&[(name, bad)]).unwrap_err();
        assert_eq!(errors[0].variable, name, "{bad}");
        assert!(!errors[0].to_string().contains(bad), "never the value");
    }
    assert!(with(&[(
        SUCCESS_URL,
        "https://shop.example/thanks?s={CHECKOUT_SESSION_ID}"
    )])
    .is_ok());

    let proxies = with(&[(TRUSTED_PROXIES, "127.0.0.1, 10.0.0.0/8, fd00::/8")]).unwrap();
    assert_eq!(proxies.identity.trusted_proxies.len(), 3);
    for bad in [
        "10.0.0.0/33",
        "10.0.0.1/8",
        "proxy.internal",
        "0.0.0.0/0",
        "::/0",
    ] {
        assert_eq!(
            with(&[(TRUSTED_PROXIES, bad)]).unwrap_err()[0].variable,
            TRUSTED_PROXIES,
            "{bad}"
        );
    }
}

#[test]
fn the_time_zone_is_an_iana_name_of_the_bundled_database() {
    let zone = |name: &'static str| {
        load(
            &[
                (SECRET_KEY, SK),
                (WEBHOOK_SECRET, WH),
                (MAIL, "off"),
                (TIME_ZONE, name),
            ],
            Mode::Serve,
        )
    };
    let paris = zone("Europe/Paris").unwrap().time_zone;
    assert_eq!(paris.iana_name(), Some("Europe/Paris"));
    for unknown in ["Europe/Atlantis", "CET+1", "paris"] {
        let errors = zone(unknown).unwrap_err();
        assert_eq!(errors.len(), 1, "{unknown}: {errors:?}");
        assert_eq!(errors[0].variable, TIME_ZONE, "{unknown}");
    }
    let default = load(
        &[(SECRET_KEY, SK), (WEBHOOK_SECRET, WH), (MAIL, "off")],
        Mode::Serve,
    );
    assert_eq!(default.unwrap().time_zone.iana_name(), Some("UTC"));
}

#[test]
fn dev_keeps_a_webhook_secret_it_is_given_beside_the_sandbox_s() {
    let keys = DevKeys::generate();
    let secrets = |source: &Source| -> Vec<String> {
        let c = Config::load(source, Mode::Dev, Some(&keys)).unwrap();
        c.stripe
            .webhook_secrets
            .iter()
            .map(|s| s.expose().to_string())
            .collect()
    };
    let given = Source::from_pairs([(WEBHOOK_SECRET, "whsec_mine_0123456789")]);
    assert_eq!(
        secrets(&given),
        ["whsec_mine_0123456789", keys.webhook_secret.as_str()]
    );
    assert_eq!(secrets(&Source::default()), [keys.webhook_secret.as_str()]);
}

#[test]
fn a_database_url_is_shown_with_its_password_masked_and_an_in_memory_one_is_refused() {
    let shown = |url: &str| {
        let c = load(&[(DATABASE_URL, url)], Mode::Tool).unwrap();
        c.report
            .iter()
            .find(|(n, _, _)| *n == DATABASE_URL)
            .map(|(_, v, _)| v.clone())
            .unwrap()
    };
    assert_eq!(shown("sqlite:rel.db"), "sqlite:rel.db");
    assert_eq!(shown("sqlite://caisse.db"), "sqlite://caisse.db");
    assert_eq!(
        shown("postgres://caisse:hunter2@db/shop?sslmode=require"),
        "postgres://caisse:****@db/shop?sslmode=require"
    );
    for memory in ["sqlite::memory:", "sqlite:x.db?mode=memory"] {
        let errors = load(&[(DATABASE_URL, memory)], Mode::Tool).unwrap_err();
        assert_eq!(
            errors[0].to_string(),
            "DATABASE_URL: an in-memory SQLite database is not supported; name a file"
        );
    }
}
