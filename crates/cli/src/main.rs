//! `caisse`: the one binary. Each subcommand wires the library crates together; no business rule
//! lives here.

mod commands;
mod webhook_secrets;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "caisse",
    version,
    about = "Payment back end for shops that sell through Stripe Checkout"
)]
struct Cli {
    /// Settings file (default: ./caisse.toml when it exists). Environment variables override it.
    #[arg(long, global = true, env = "CAISSE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything locally with no setup: SQLite in a data directory, the demo catalog, the
    /// Stripe sandbox with webhooks wired back to caisse, the storefront and the dashboard.
    Dev {
        /// Address of caisse's HTTP server.
        #[arg(long, default_value = commands::DEV_LISTEN)]
        listen: String,
        /// The URL a browser reaches caisse at (default: http://localhost:PORT when --listen is
        /// every interface, such as 0.0.0.0:8080 in a container; else the listen address).
        #[arg(long)]
        public_url: Option<String>,
        /// Where the SQLite database and dev files live.
        #[arg(long, default_value = commands::DEV_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Run in production: real Stripe keys required, migrations applied at start-up.
    Serve {
        /// Address to bind (overrides CAISSE_LISTEN).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Settle every open hold past its expiry once (expire its session at Stripe, then release,
    /// fulfil a paid one, or wait for a delayed payment), and exit. The server does it on its own.
    #[command(alias = "sweep")]
    Reconcile,
    /// Your Stripe account: `setup` registers caisse's webhook endpoint.
    Stripe {
        #[command(subcommand)]
        command: StripeCommand,
    },
    /// Check serve's configuration against the world: the key and the webhook endpoint at
    /// Stripe, the clock, the database, Redis and SMTP. One line per check; exit 1 when any fails.
    Doctor,
    /// Remove what is older than CAISSE_RETENTION_DAYS (webhook payloads, Stripe request traces,
    /// sent or failed outbox messages) once, and print what was removed. The server does it hourly.
    Prune {
        /// Print what would be removed, and remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write a consistent copy of the SQLite database to FILE while caisse runs (never over an
    /// existing file). On PostgreSQL, use pg_dump.
    Backup { file: PathBuf },
    /// Stripe's events.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Fulfil orders: mark them shipped (the customer gets one shipping email) and delivered.
    Orders {
        #[command(subcommand)]
        command: OrdersCommand,
    },
    /// Manage the product catalog.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Run the Stripe sandbox on its own: the API subset caisse uses, hosted payment pages, and
    /// signed webhooks sent to --forward-to.
    Sandbox {
        #[arg(long, default_value = "127.0.0.1:12111")]
        listen: String,
        /// Where to deliver webhooks (caisse's /api/webhooks/stripe).
        #[arg(long)]
        forward_to: Option<String>,
        /// Signing secret (whsec_…); repeat it to sign with several, as during a rotation.
        /// Visible to `ps`: prefer --webhook-secret-file or STRIPE_WEBHOOK_SECRET.
        #[arg(long = "webhook-secret")]
        webhook_secrets: Vec<String>,
        #[command(flatten)]
        secret_file: webhook_secrets::SecretFile,
        /// Base of the URLs handed out, when customers reach the sandbox at another address.
        #[arg(long)]
        public_url: Option<String>,
        /// The account's API version, stamped on every event of an endpoint made without one
        /// and on the --forward-to endpoint's (default: with --forward-to, the version caisse
        /// reads, as `caisse stripe setup` registers it, so that `caisse doctor` passes; without,
        /// the version Stripe's official SDKs pin).
        #[arg(long)]
        api_version: Option<String>,
        /// Deliver one copy of each event, in order (by default, as Stripe, events may come out
        /// of order and a few twice).
        #[arg(long)]
        strict_order: bool,
        /// Refuse requests past Stripe's test-mode rate (25 reads and 25 writes a second) with
        /// Stripe's 429 `rate_limit`, to test a client's back-off.
        #[arg(long)]
        rate_limit: bool,
    },
    /// Webhook tools.
    Webhook {
        #[command(subcommand)]
        command: WebhookCommand,
    },
    /// The operators' dashboard.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Reads a password on standard input (never from an argument, which `ps` and shell history
    /// would keep) and prints its argon2id hash for CAISSE_ADMIN_PASSWORD_HASH.
    HashPassword {
        /// Taken only to be refused without being echoed (clap would print it back).
        #[arg(hide = true, num_args = 0.., allow_hyphen_values = true)]
        refused: Vec<String>,
    },
    /// Adds a named operator of the dashboard; the password (at least 12 characters) is read on
    /// standard input.
    AddUser {
        email: String,
        /// owner (refunds, stock, prices, operators) or staff (everything else).
        #[arg(long, value_parser = parse_role)]
        role: caisse_shop::domain::status::OperatorRole,
    },
    /// Removes a named operator; their sessions end.
    RemoveUser { email: String },
    /// Lists the named operators: email, role, second factor.
    ListUsers,
    /// Turns on an operator's second factor (TOTP) and prints its otpauth:// URI once.
    Totp {
        email: String,
        /// Turn it off instead.
        #[arg(long)]
        off: bool,
    },
}

fn parse_role(text: &str) -> Result<caisse_shop::domain::status::OperatorRole, String> {
    text.parse()
        .map_err(|_| "the role is owner or staff".to_string())
}

#[derive(Subcommand)]
enum StripeCommand {
    /// Register (or update) the webhook endpoint Stripe calls, for exactly the event types caisse
    /// acts on and the API version it reads; prints a new endpoint's signing secret on standard
    /// output, for STRIPE_WEBHOOK_SECRET.
    Setup {
        /// The endpoint's URL (default: {CAISSE_PUBLIC_URL}/api/webhooks/stripe).
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Read Stripe's Events API and feed each event through the same inbox as the webhook
    /// endpoint: what an outage of the endpoint missed is applied, the rest are duplicates.
    Replay {
        /// How far back: a duration (1h, 30m, 3d) or an RFC 3339 time; at most 30 days.
        #[arg(long, default_value = "3d")]
        since: String,
        /// Only events of this type (repeat for several).
        #[arg(long = "type")]
        types: Vec<String>,
    },
}

#[derive(Subcommand)]
enum WebhookCommand {
    /// Print a Stripe-Signature header for a payload file, for replaying a webhook with curl.
    Sign {
        /// Signing secret (whsec_…); repeat for one v1 per secret. Visible to `ps`: prefer
        /// --webhook-secret-file or STRIPE_WEBHOOK_SECRET.
        #[arg(long = "secret")]
        secrets: Vec<String>,
        #[command(flatten)]
        secret_file: webhook_secrets::SecretFile,
        /// Unix time to sign at (default: now).
        #[arg(long)]
        timestamp: Option<i64>,
        /// The exact bytes that will be sent as the body.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum OrdersCommand {
    /// Mark order NUMBER shipped with its carrier and tracking code; queues and sends the
    /// shipping email. Shipping an order twice is refused.
    Ship {
        number: i64,
        #[arg(long)]
        carrier: String,
        #[arg(long)]
        tracking: String,
        #[arg(long)]
        tracking_url: Option<String>,
    },
    /// Mark shipped order NUMBER delivered.
    Deliver { number: i64 },
    /// Write the orders as CSV (for accounting), streamed: FILE, or stdout by default.
    Export {
        /// First day (2026-11-01, a day of CAISSE_TIME_ZONE) or RFC 3339 time.
        #[arg(long)]
        from: Option<String>,
        /// Last day, included (2026-11-30, of CAISSE_TIME_ZONE), or an RFC 3339 time (excluded).
        #[arg(long)]
        to: Option<String>,
        /// Only orders in this status: paid, needs_attention or refunded.
        #[arg(long)]
        status: Option<String>,
        #[arg(default_value = "-")]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Create or update products from a JSON or CSV file (all or nothing).
    Import {
        /// A .json file (a list, or {"products": [...]}) or a .csv file with a header row.
        file: PathBuf,
        /// Also set existing products' stock on hand to the file's figures (after a stock
        /// count); without it, only new products take the file's stock.
        #[arg(long)]
        set_stock: bool,
    },
    /// Write today's catalog, stock included, as a JSON file `import` reads (`-` for stdout).
    Export {
        #[arg(default_value = "-")]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration, secrets masked; exit 2 on any problem.
    Check {
        /// Check for this use: serve (real keys required), dev, or tool (database only).
        #[arg(long = "for", default_value = "serve", value_parser = ["serve", "dev", "tool"])]
        purpose: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let config = cli.config.as_deref();
        match cli.command {
            Command::Dev {
                listen,
                public_url,
                data_dir,
            } => commands::dev(config, &listen, public_url.as_deref(), &data_dir).await,
            Command::Serve { listen } => commands::serve(config, listen.as_deref()).await,
            Command::Migrate => commands::migrate(config).await,
            Command::Reconcile => commands::reconcile(config).await,
            Command::Stripe {
                command: StripeCommand::Setup { url },
            } => commands::stripe_setup(config, url.as_deref()).await,
            Command::Doctor => commands::doctor(config).await,
            Command::Prune { dry_run } => commands::prune(config, dry_run).await,
            Command::Backup { file } => commands::backup(config, &file).await,
            Command::Events {
                command: EventsCommand::Replay { since, types },
            } => commands::events_replay(config, &since, &types).await,
            Command::Orders {
                command:
                    OrdersCommand::Ship {
                        number,
                        carrier,
                        tracking,
                        tracking_url,
                    },
            } => {
                let shipment = caisse_shop::orders::Shipment {
                    carrier: &carrier,
                    tracking_code: &tracking,
                    tracking_url: tracking_url.as_deref(),
                };
                commands::orders_ship(config, number, &shipment).await
            }
            Command::Orders {
                command: OrdersCommand::Deliver { number },
            } => commands::orders_deliver(config, number).await,
            Command::Orders {
                command:
                    OrdersCommand::Export {
                        from,
                        to,
                        status,
                        file,
                    },
            } => {
                commands::orders_export(
                    config,
                    from.as_deref(),
                    to.as_deref(),
                    status.as_deref(),
                    &file,
                )
                .await
            }
            Command::Catalog {
                command: CatalogCommand::Import { file, set_stock },
            } => commands::catalog_import(config, &file, set_stock).await,
            Command::Catalog {
                command: CatalogCommand::Export { file },
            } => commands::catalog_export(config, &file).await,
            Command::Config {
                command: ConfigCommand::Check { purpose },
            } => commands::config_check(config, &purpose),
            Command::Sandbox {
                listen,
                forward_to,
                webhook_secrets,
                secret_file,
                public_url,
                api_version,
                strict_order,
                rate_limit,
            } => {
                let none_given = webhook_secrets.is_empty() && secret_file.path.is_none();
                let webhook_secrets = match webhook_secrets::resolve(
                    "--webhook-secret",
                    webhook_secrets,
                    secret_file.path.as_deref(),
                ) {
                    Ok(s) => s,
                    // Without --forward-to the secrets would sign nothing: the endpoints made
                    // through /v1/webhook_endpoints have their own.
                    Err(_) if none_given && forward_to.is_none() => Vec::new(),
                    Err(e) => return Err(commands::Failure::Config(vec![e])),
                };
                let api_version = api_version.unwrap_or_else(|| {
                    match forward_to {
                        Some(_) => caisse_stripe::API_VERSION,
                        None => caisse_sandbox::SDK_API_VERSION,
                    }
                    .to_string()
                });
                let chaos = if strict_order {
                    caisse_sandbox::Chaos::strict()
                } else {
                    caisse_sandbox::Chaos::default()
                };
                commands::sandbox(
                    &listen,
                    forward_to,
                    webhook_secrets,
                    public_url,
                    api_version,
                    chaos,
                    rate_limit,
                )
                .await
            }
            Command::Webhook {
                command:
                    WebhookCommand::Sign {
                        secrets,
                        secret_file,
                        timestamp,
                        file,
                    },
            } => match webhook_secrets::resolve("--secret", secrets, secret_file.path.as_deref()) {
                Ok(secrets) => commands::webhook_sign(&secrets, timestamp, &file),
                Err(e) => Err(commands::Failure::Config(vec![e])),
            },
            Command::Admin {
                command: AdminCommand::HashPassword { refused },
            } => commands::admin_hash_password(!refused.is_empty()),
            Command::Admin {
                command: AdminCommand::AddUser { email, role },
            } => commands::admin_add_user(config, &email, role).await,
            Command::Admin {
                command: AdminCommand::RemoveUser { email },
            } => commands::admin_remove_user(config, &email).await,
            Command::Admin {
                command: AdminCommand::ListUsers,
            } => commands::admin_list_users(config).await,
            Command::Admin {
                command: AdminCommand::Totp { email, off },
            } => commands::admin_totp(config, &email, off).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(commands::Failure::Config(lines)) => {
            for line in lines {
                eprintln!("error: {line}");
            }
            ExitCode::from(2)
        }
        Err(commands::Failure::Other(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
