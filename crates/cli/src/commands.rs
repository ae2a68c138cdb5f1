//! What each subcommand does, in terms of the shop's library.

use std::net::SocketAddr;
use std::path::Path;

/// `println!` that does not panic when stdout is gone (`caisse serve | head -1`, a closed pipe):
/// what caisse prints is for people; a reader who left must not stop a server.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod admin;
mod dev;
mod doctor;
mod orders;
mod stripe_setup;

pub use admin::{
    admin_add_user, admin_hash_password, admin_list_users, admin_remove_user, admin_totp,
};
pub use dev::dev;
pub use doctor::doctor;
pub use orders::{orders_deliver, orders_export, orders_ship};
pub use stripe_setup::setup as stripe_setup;

use anyhow::Context;
use caisse_shop::catalog;
use caisse_shop::config::{self, Config, ConfigError, DevKeys, LogFormat, Mode, Source};
use caisse_shop::store::Missing;
use caisse_shop::{App, Store};

/// How a command fails: a configuration problem (exit 2, one line per problem) or anything else.
pub enum Failure {
    Config(Vec<ConfigError>),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

type Result<T> = std::result::Result<T, Failure>;

fn load(
    file: Option<&Path>,
    mode: Mode,
    adjust: impl FnOnce(&mut Source),
    dev: Option<&DevKeys>,
) -> Result<Config> {
    let mut source = Source::from_process(file).map_err(|e| Failure::Config(vec![e]))?;
    // Not a reason to refuse to start (the environment may hold another program's), but a
    // misspelt setting must not pass in silence.
    for unknown in source.unknown_variables() {
        eprintln!("warning: {unknown}");
    }
    adjust(&mut source);
    Config::load(&source, mode, dev).map_err(Failure::Config)
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    // Colours only for a person at a terminal, never into a log file.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder.try_init(),
    };
}

/// The shop's database. What sets a shop up (`Missing::Create`) migrates it; every other tool
/// takes it as it is and refuses one whose migrations are not exactly this caisse's (pending, or
/// a newer caisse's): a tool run for an export must not change the schema under a running
/// server of another version.
async fn open_store(config: &Config, missing: Missing) -> anyhow::Result<Store> {
    let store = Store::open(config.database_url.expose(), missing)
        .await
        .context("cannot open the database")?;
    match missing {
        Missing::Create => store.migrate().await.context("cannot apply migrations")?,
        Missing::Refuse => {
            if !store
                .is_ready()
                .await
                .context("cannot read the database's migrations")?
            {
                anyhow::bail!(
                    "the database's migrations are not this caisse's: `caisse migrate` with this \
                     version applies them (as `caisse serve` does at start-up)"
                );
            }
        }
    }
    Ok(store)
}

pub async fn serve(file: Option<&Path>, listen: Option<&str>) -> Result<()> {
    let config = load(
        file,
        Mode::Serve,
        |s| {
            if let Some(l) = listen {
                s.set(config::LISTEN, l)
            }
        },
        None,
    )?;
    init_logs(config.log_format);
    let listener = bind(config.listen).await?;
    let store = open_store(&config, Missing::Create).await?;
    run(App::new(config, store)?, listener, &[], None).await
}

async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

/// Where a browser on this machine reaches a listener: an address bound on every interface
/// (`0.0.0.0`, `::`) is no address to browse, `localhost` is.
fn browsable(bound: SocketAddr) -> String {
    if bound.ip().is_unspecified() {
        format!("localhost:{}", bound.port())
    } else {
        bound.to_string()
    }
}

/// Serves `app` until a signal, after printing its addresses (and `extra` lines: dev's sandbox).
async fn run(
    app: App,
    listener: tokio::net::TcpListener,
    extra: &[String],
    admin_password: Option<String>,
) -> Result<()> {
    let bound = listener.local_addr().context("no local address")?;
    let addr = browsable(bound);
    if bound.ip().is_unspecified() {
        say!("caisse is listening on {bound} (every interface), this machine's links:");
    } else {
        say!("caisse is listening on http://{addr}");
    }
    if app.config.storefront {
        say!("  shop       http://{addr}/  (demo storefront)");
    }
    match (&app.config.admin_password_hash, admin_password) {
        (Some(_), Some(password)) => {
            say!("  dashboard  http://{addr}/admin  (password for this run: {password})")
        }
        (Some(_), None) => say!("  dashboard  http://{addr}/admin  (CAISSE_ADMIN_PASSWORD_HASH)"),
        (None, _) => {
            // What the dashboard answers now: an operator added later opens it without a restart.
            let operators = app.store.operators().await.map_or(0, |o| o.len());
            if operators == 0 {
                say!(
                    "  dashboard  http://{addr}/admin  for the operators of caisse admin add-user (none yet: 404; or set CAISSE_ADMIN_PASSWORD_HASH)"
                )
            } else {
                say!("  dashboard  http://{addr}/admin  for the {operators} operator(s) of caisse admin add-user")
            }
        }
    }
    say!("  products   http://{addr}/api/products");
    say!("  checkout   POST http://{addr}/api/checkout");
    say!("  health     http://{addr}/readyz");
    // In serve, metrics answer on their own (private) listener only.
    let metrics = if app.config.mode == Mode::Serve {
        let listen = app.config.metrics_listen;
        let server = caisse_shop::http::spawn_metrics(app.clone(), listen)
            .await
            .with_context(|| format!("cannot listen on {listen} (CAISSE_METRICS_LISTEN)"))?;
        say!("  metrics    http://{}/metrics", browsable(server.addr));
        Some(server)
    } else {
        say!("  metrics    http://{addr}/metrics");
        None
    };
    if app.config.mode == Mode::Dev {
        say!(
            "  database   {}",
            caisse_shop::secret::redact_url(app.config.database_url.expose())
        );
    }
    for line in extra {
        say!("{line}");
    }
    match &app.config.mail.transport {
        caisse_shop::config::MailTransport::Files(dir) => {
            say!(
                "  mail       {} (each email as an .eml file)",
                dir.display()
            )
        }
        caisse_shop::config::MailTransport::Smtp(url) => say!(
            "  mail       {}",
            caisse_shop::secret::redact_url_user(url.expose())
        ),
        caisse_shop::config::MailTransport::Off => say!("  mail       off (CAISSE_MAIL=off)"),
    }
    let workers = caisse_shop::workers::spawn(&app);
    let trace = app.stripe_log.clone();
    let served =
        caisse_shop::http::serve(app, listener, caisse_shop::http::shutdown_signal()).await;
    for w in workers {
        w.abort();
    }
    trace.flush().await;
    if let Some(m) = metrics {
        let _ = m.stop().await;
    }
    served.context("HTTP server failed")?;
    Ok(())
}

/// The configuration and store of a one-shot command that talks to Stripe: the secret key, not
/// the webhook secret (it verifies no webhook), nor serve's mail transport or guest-cookie key.
async fn tool_app(file: Option<&Path>) -> Result<App> {
    let config = tool_config(file, Mode::Stripe)?;
    let store = open_store(&config, Missing::Refuse).await?;
    Ok(App::new(config, store)?)
}

pub async fn reconcile(file: Option<&Path>) -> Result<()> {
    let app = tool_app(file).await?;
    let r = caisse_shop::holds::reconciler::reconcile(
        &app,
        caisse_shop::store::unix_now(),
        caisse_shop::holds::reconciler::Pass::Everything,
    )
    .await
    .map_err(anyhow::Error::from)?;
    app.stripe_log.flush().await;
    say!(
        "holds past their expiry: {} released, {} fulfilled, {} awaiting a delayed payment, {} unknown to Stripe (released), {} settled elsewhere, {} left for later",
        r.released, r.fulfilled, r.awaiting, r.missing, r.settled_elsewhere, r.deferred
    );
    Ok(())
}

pub async fn prune(file: Option<&Path>, dry_run: bool) -> Result<()> {
    let config = tool_config(file, Mode::Tool)?;
    let store = open_store(&config, Missing::Refuse).await?;
    let days = config.operations.retention_days;
    let now = caisse_shop::store::unix_now();
    let p = caisse_shop::retention::prune(&store, days, now, dry_run)
        .await
        .map_err(anyhow::Error::from)?;
    say!(
        "older than {days} days: {} webhook event payloads, {} Stripe request traces, {} sent or failed outbox messages {}",
        p.webhook_payloads,
        p.stripe_requests,
        p.outbox_messages,
        if dry_run { "would be removed (dry run: nothing changed)" } else { "removed" }
    );
    Ok(())
}

pub async fn backup(file: Option<&Path>, path: &Path) -> Result<()> {
    let config = tool_config(file, Mode::Tool)?;
    if !config.database_url.expose().starts_with("sqlite:") {
        return Err(anyhow::Error::from(caisse_shop::store::BackupError::Postgres).into());
    }
    // No migration: a backup copies the database as it is.
    let store = Store::open(config.database_url.expose(), Missing::Refuse)
        .await
        .context("cannot open the database")?;
    store.backup_to(path).await.map_err(anyhow::Error::from)?;
    say!("backup written to {}", path.display());
    Ok(())
}

pub async fn events_replay(file: Option<&Path>, since: &str, types: &[String]) -> Result<()> {
    let now = caisse_shop::store::unix_now();
    let since = caisse_shop::replay::parse_since(since, now).map_err(|problem| {
        Failure::Config(vec![ConfigError {
            variable: "--since".into(),
            problem,
        }])
    })?;
    let app = tool_app(file).await?;
    let r = caisse_shop::replay::replay(&app, since, types).await;
    app.stripe_log.flush().await;
    let r = r.context("cannot read Stripe's events")?;
    say!(
        "{} events fetched: {} processed, {} duplicate, {} ignored, {} failed",
        r.fetched,
        r.processed,
        r.duplicate,
        r.ignored,
        r.failed
    );
    if r.failed > 0 {
        return Err(anyhow::anyhow!(
            "{} events could not be applied now; they are recorded as failed — run the replay again",
            r.failed
        )
        .into());
    }
    Ok(())
}

/// Where `caisse dev` listens by default (`--listen`).
pub const DEV_LISTEN: &str = "127.0.0.1:8080";

/// Where `caisse dev` keeps its data by default (`--data-dir`).
pub const DEV_DATA_DIR: &str = "caisse-data";

/// The configuration of a one-shot command on the database (every one but `serve`, `dev` and
/// `doctor`), saying on standard error which database it uses. Without `DATABASE_URL`, run where
/// `caisse dev` ran (a `caisse-data/caisse.db` and no `./caisse.db`), that is dev's database.
fn tool_config(file: Option<&Path>, mode: Mode) -> Result<Config> {
    let config = load(
        file,
        mode,
        |s| {
            let dev = Path::new(DEV_DATA_DIR).join("caisse.db");
            if s.get_raw(config::DATABASE_URL).is_none()
                && dev.exists()
                && !Path::new("caisse.db").exists()
            {
                s.set(config::DATABASE_URL, &format!("sqlite://{}", dev.display()));
            }
        },
        None,
    )?;
    init_logs(config.log_format);
    eprintln!(
        "database: {}",
        caisse_shop::secret::redact_url(config.database_url.expose())
    );
    Ok(config)
}

pub async fn migrate(file: Option<&Path>) -> Result<()> {
    let config = tool_config(file, Mode::Tool)?;
    open_store(&config, Missing::Create).await?;
    say!("migrations applied");
    Ok(())
}

pub async fn catalog_import(file: Option<&Path>, path: &Path, set_stock: bool) -> Result<()> {
    let config = tool_config(file, Mode::Tool)?;
    let format =
        catalog::Format::from_path(path).context("the catalog file must end in .json or .csv")?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let parsed = catalog::parse(&text, format).map_err(anyhow::Error::from)?;
    let store = open_store(&config, Missing::Create).await?;
    let stock = if set_stock {
        catalog::Stock::Set
    } else {
        catalog::Stock::Keep
    };
    let report = catalog::import(
        &store,
        &parsed,
        stock,
        "cli:catalog-import",
        caisse_shop::store::unix_now(),
    )
    .await
    .map_err(anyhow::Error::from)?;
    say!(
        "{} products: {} created, {} updated, {} unchanged",
        parsed.products.len(),
        report.created,
        report.updated,
        report.unchanged
    );
    if let Some(rates) = report.shipping_rates {
        say!("{rates} shipping rates");
    }
    Ok(())
}

pub async fn catalog_export(file: Option<&Path>, path: &Path) -> Result<()> {
    let config = tool_config(file, Mode::Tool)?;
    let store = open_store(&config, Missing::Refuse).await?;
    let text = catalog::export(&store).await.map_err(anyhow::Error::from)?;
    if path == Path::new("-") {
        say!("{text}");
    } else {
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

pub fn config_check(file: Option<&Path>, purpose: &str) -> Result<()> {
    let mode = match purpose {
        "dev" => Mode::Dev,
        "tool" => Mode::Tool,
        _ => Mode::Serve,
    };
    let keys = DevKeys::generate();
    let mut source = Source::from_process(file).map_err(|e| Failure::Config(vec![e]))?;
    if mode == Mode::Dev {
        // dev's own values, as `caisse dev` with its default options would set them.
        dev::dev_settings(
            &mut source,
            DEV_LISTEN,
            None,
            Path::new(DEV_DATA_DIR),
            "http://(the sandbox caisse dev starts)",
        );
    }
    let (report, mut problems) =
        match Config::load_reported(&source, mode, (mode == Mode::Dev).then_some(&keys)) {
            Ok(config) => (config.report, Vec::new()),
            Err((problems, report)) => (report, problems),
        };
    // Every declared setting, in the declaration's order, secrets masked by the reader: the
    // effective configuration, also when something is wrong with it.
    for setting in config::SETTINGS {
        for (name, value, origin) in report.iter().filter(|e| e.0 == setting.name) {
            say!("{name:<40} {value}  ({origin})");
        }
    }
    problems.extend(source.unknown_variables());
    if !problems.is_empty() {
        return Err(Failure::Config(problems));
    }
    say!("configuration OK for {purpose}");
    Ok(())
}

pub async fn sandbox(
    listen: &str,
    forward_to: Option<String>,
    secrets: Vec<String>,
    public_url: Option<String>,
    api_version: String,
    chaos: caisse_sandbox::Chaos,
    rate_limit: bool,
) -> Result<()> {
    init_logs(LogFormat::Human);
    let listen: SocketAddr = listen
        .parse()
        .context("--listen must be an address such as 127.0.0.1:12111")?;
    if secrets.iter().any(|s| !s.starts_with("whsec_")) {
        return Err(Failure::Config(vec![ConfigError {
            variable: "--webhook-secret".into(),
            problem: "must start with whsec_".into(),
        }]));
    }
    if !caisse_sandbox::is_api_version(&api_version) {
        return Err(Failure::Config(vec![ConfigError {
            variable: "--api-version".into(),
            problem: "must look like 2024-06-20 or 2026-10-28.endive".into(),
        }]));
    }
    let options = caisse_sandbox::SandboxOptions {
        listen,
        public_url,
        api_version,
        chaos,
        rate_limit,
        forward_to: forward_to.clone(),
        delivery: caisse_sandbox::DeliveryConfig {
            secrets,
            ..Default::default()
        },
        ..Default::default()
    };
    let sandbox = caisse_sandbox::start(options)
        .await
        .context("cannot start the sandbox")?;
    say!("Stripe sandbox on {}", sandbox.url());
    say!("  STRIPE_API_BASE={}", sandbox.url());
    match forward_to {
        Some(url) => say!("  webhooks -> {url}"),
        None => say!("  webhooks go to the endpoints made through /v1/webhook_endpoints (caisse stripe setup); none yet"),
    }
    if rate_limit {
        say!("  rate limit: Stripe's test mode, 25 reads and 25 writes a second (429 rate_limit past it)");
    }
    caisse_shop::http::shutdown_signal().await;
    sandbox.stop().await.context("sandbox stopped badly")?;
    Ok(())
}

pub fn webhook_sign(secrets: &[String], timestamp: Option<i64>, file: &Path) -> Result<()> {
    let payload = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let t = timestamp.unwrap_or_else(caisse_shop::store::unix_now);
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    say!("{}", caisse_stripe::signature_header(&secrets, t, &payload));
    Ok(())
}
