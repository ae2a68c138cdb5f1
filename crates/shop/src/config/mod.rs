//! Configuration: every setting caisse reads, where it comes from, and the key rules of DESIGN.md 1.1.
//!
//! Settings come from environment variables and, below them, from an optional `caisse.toml` whose
//! keys are the same names in lower case (`stripe_secret_key = "…"`). The environment wins, so a
//! deployment can keep the file for defaults and inject secrets as variables. [`SETTINGS`] is the one
//! list of names: loading, `caisse config check` and the README table all follow it.
//!
//! Validation collects every problem as one line that names the variable and never its value.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::domain::money::Locale;
use crate::ratelimit::Rate;
use crate::secret::Secret;

/// One setting: its variable, its default, whether its value is secret, and what it does.
pub struct Setting {
    pub name: &'static str,
    pub default: &'static str,
    pub secret: bool,
    pub doc: &'static str,
}

const fn setting(
    name: &'static str,
    default: &'static str,
    secret: bool,
    doc: &'static str,
) -> Setting {
    Setting {
        name,
        default,
        secret,
        doc,
    }
}

pub const DATABASE_URL: &str = "DATABASE_URL";
pub const LISTEN: &str = "CAISSE_LISTEN";
pub const METRICS_LISTEN: &str = "CAISSE_METRICS_LISTEN";
pub const PUBLIC_URL: &str = "CAISSE_PUBLIC_URL";
pub const SUCCESS_URL: &str = "CAISSE_SUCCESS_URL";
pub const CANCEL_URL: &str = "CAISSE_CANCEL_URL";
pub const SECRET_KEY: &str = "STRIPE_SECRET_KEY";
pub const PUBLISHABLE_KEY: &str = "NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY";
pub const PUBLISHABLE_KEY_ALIAS: &str = "STRIPE_PUBLISHABLE_KEY";
pub const WEBHOOK_SECRET: &str = "STRIPE_WEBHOOK_SECRET";
pub const API_BASE: &str = "STRIPE_API_BASE";
pub const STRIPE_TIMEOUT: &str = "CAISSE_STRIPE_TIMEOUT_SECS";
pub const WEBHOOK_TOLERANCE: &str = "CAISSE_WEBHOOK_TOLERANCE_SECS";
pub const MAX_BODY: &str = "CAISSE_MAX_BODY_BYTES";
pub const REQUEST_TIMEOUT: &str = "CAISSE_REQUEST_TIMEOUT_SECS";
pub const HEADER_READ_TIMEOUT: &str = "CAISSE_HEADER_READ_TIMEOUT_SECS";
pub const IDLE_TIMEOUT: &str = "CAISSE_IDLE_TIMEOUT_SECS";
pub const MAX_CONNECTIONS: &str = "CAISSE_MAX_CONNECTIONS";
pub const LOG_FORMAT: &str = "CAISSE_LOG_FORMAT";
pub const HOLD_TTL: &str = "CAISSE_HOLD_TTL_SECS";
pub const MAX_LINE_QUANTITY: &str = "CAISSE_MAX_LINE_QUANTITY";
pub const MAX_CART_QUANTITY: &str = "CAISSE_MAX_CART_QUANTITY";
pub const RATE_PER_CUSTOMER: &str = "CAISSE_CHECKOUT_RATE_PER_CUSTOMER";
pub const RATE_PER_IP: &str = "CAISSE_CHECKOUT_RATE_PER_IP";
pub const MAX_OPEN_HOLDS: &str = "CAISSE_MAX_OPEN_HOLDS_PER_CUSTOMER";
pub const JWT_SECRET: &str = "CAISSE_JWT_SECRET";
pub const GUEST_SECRET: &str = "CAISSE_GUEST_COOKIE_SECRET";
pub const JWT_LEEWAY: &str = "CAISSE_JWT_LEEWAY_SECS";
pub const JWT_ISSUER: &str = "CAISSE_JWT_ISSUER";
pub const JWT_AUDIENCE: &str = "CAISSE_JWT_AUDIENCE";
pub const MAX_OPEN_HOLDS_PER_IP: &str = "CAISSE_MAX_OPEN_HOLDS_PER_IP";
pub const MAX_HELD_UNITS_PER_IP: &str = "CAISSE_MAX_HELD_UNITS_PER_IP";
pub const TRUSTED_PROXIES: &str = "CAISSE_TRUSTED_PROXIES";
pub const REDIS_URL: &str = "REDIS_URL";
pub const SWEEP_INTERVAL: &str = "CAISSE_SWEEP_INTERVAL_SECS";
pub const CORS_ORIGINS: &str = "CAISSE_CORS_ORIGINS";
pub const RELEASE_ON_PAYMENT_FAILURE: &str = "CAISSE_RELEASE_ON_PAYMENT_FAILURE";
pub const REFUND_UNFULFILLABLE: &str = "CAISSE_REFUND_UNFULFILLABLE";
pub const SIGNATURE_ALERT_THRESHOLD: &str = "CAISSE_SIGNATURE_ALERT_THRESHOLD";
pub const SIGNATURE_ALERT_WINDOW: &str = "CAISSE_SIGNATURE_ALERT_WINDOW_SECS";
pub const SMTP_URL: &str = "SMTP_URL";
pub const MAIL_FROM: &str = "CAISSE_MAIL_FROM";
pub const SHOP_NAME: &str = "CAISSE_SHOP_NAME";
pub const MAIL: &str = "CAISSE_MAIL";
pub const MAIL_DIR: &str = "CAISSE_MAIL_DIR";
pub const MAIL_LANG: &str = "CAISSE_MAIL_LANG";
pub const OUTBOX_MAX_ATTEMPTS: &str = "CAISSE_OUTBOX_MAX_ATTEMPTS";
pub const OUTBOX_LEASE: &str = "CAISSE_OUTBOX_LEASE_SECS";
pub const ADMIN_PASSWORD_HASH: &str = "CAISSE_ADMIN_PASSWORD_HASH";
pub const STOREFRONT: &str = "CAISSE_STOREFRONT";

/// Every setting caisse reads, in the order `config check` prints them.
pub const SETTINGS: &[Setting] = &[
    setting(DATABASE_URL, "sqlite://caisse.db", true, "sqlite://PATH or postgres://…; picks the backend"),
    setting(LISTEN, "127.0.0.1:8080", false, "address the HTTP server binds"),
    setting(METRICS_LISTEN, "127.0.0.1:9464", false, "address of the Prometheus /metrics listener in serve (never the public one)"),
    setting(PUBLIC_URL, "http://{CAISSE_LISTEN}", false, "base URL customers reach caisse at"),
    setting(SUCCESS_URL, "{CAISSE_PUBLIC_URL}/?checkout=success&session_id={CHECKOUT_SESSION_ID}", false, "where Stripe sends a customer who paid"),
    setting(CANCEL_URL, "{CAISSE_PUBLIC_URL}/?checkout=cancelled", false, "where Stripe sends a customer who gave up"),
    setting(SECRET_KEY, "", true, "sk_… or rk_…; server only; required by serve"),
    setting(PUBLISHABLE_KEY, "", false, "pk_…; served by GET /api/config (alias STRIPE_PUBLISHABLE_KEY)"),
    setting(WEBHOOK_SECRET, "", true, "whsec_…[,whsec_…] (several during a rotation); required by serve"),
    setting(API_BASE, "https://api.stripe.com", false, "Stripe API base URL (the sandbox in dev)"),
    setting(STRIPE_TIMEOUT, "8", false, "time limit of one call to Stripe, in seconds (two retries follow a failure)"),
    setting(WEBHOOK_TOLERANCE, "300", false, "webhook timestamp tolerance in seconds, both ways; never 0"),
    setting(MAX_BODY, "1048576", false, "largest request body accepted (413 above)"),
    setting(REQUEST_TIMEOUT, "30", false, "time limit of one HTTP request, in seconds"),
    setting(HEADER_READ_TIMEOUT, "10", false, "a connection must send a whole request head within this many seconds (of connecting, or of its previous answer)"),
    setting(IDLE_TIMEOUT, "60", false, "a connection with no byte either way for this many seconds is closed (more than the request time limit)"),
    setting(MAX_CONNECTIONS, "10000", false, "open connections at most; one more is closed at once"),
    setting(LOG_FORMAT, "human", false, "human or json"),
    setting(HOLD_TTL, "1800", false, "how long a checkout holds stock, 1800 to 86400 s (Stripe's expires_at range)"),
    setting(MAX_LINE_QUANTITY, "10", false, "largest quantity of one product in a cart"),
    setting(MAX_CART_QUANTITY, "50", false, "largest total quantity in a cart"),
    setting(RATE_PER_CUSTOMER, "5/min", false, "checkout creations per customer (N/sec|min|hour)"),
    setting(RATE_PER_IP, "30/min", false, "checkout creations per client IP (N/sec|min|hour)"),
    setting(MAX_OPEN_HOLDS, "3", false, "open holds one customer may have at once"),
    setting(MAX_OPEN_HOLDS_PER_IP, "10", false, "open holds one client IP (IPv6: one /64) may have at once, whatever its cookies"),
    setting(MAX_HELD_UNITS_PER_IP, "50", false, "units one client IP (IPv6: one /64) may hold at once"),
    setting(JWT_SECRET, "", true, "HS256 secret of the shop's sign-in tokens; without it, bearer tokens are refused"),
    setting(JWT_LEEWAY, "60", false, "seconds of clock difference forgiven on a token's exp and nbf"),
    setting(JWT_ISSUER, "", false, "when set, a token's iss must be this"),
    setting(JWT_AUDIENCE, "", false, "when set, a token's aud must name this"),
    setting(GUEST_SECRET, "", true, "key that signs guest cookies (>= 32 chars); required by serve, so that a restart or a second instance knows its guests (caisse dev makes one per run)"),
    setting(TRUSTED_PROXIES, "", false, "comma-separated proxy IPs whose X-Forwarded-For is believed"),
    setting(REDIS_URL, "", true, "redis://… to share the rate limit between instances"),
    setting(SWEEP_INTERVAL, "30", false, "how often the reconciler looks at holds past their expiry, in seconds"),
    setting(CORS_ORIGINS, "", false, "comma-separated browser origins allowed to call the API (a storefront on another origin)"),
    setting(RELEASE_ON_PAYMENT_FAILURE, "true", false, "true: a failed payment releases the hold at once; false: the hold waits for the session to expire"),
    setting(REFUND_UNFULFILLABLE, "false", false, "true: a payment that arrives when its stock is gone is refunded through Stripe"),
    setting(SIGNATURE_ALERT_THRESHOLD, "10", false, "webhook signature failures within the window that raise a signature_failures alert"),
    setting(SIGNATURE_ALERT_WINDOW, "300", false, "window of the signature-failure alert, in seconds"),
    setting(SMTP_URL, "", true, "smtp://host:port, smtps://user:pass@host, smtp://host:587?tls=required: where confirmation emails go"),
    setting(MAIL_FROM, "", false, "the From address of emails (required with SMTP_URL), e.g. Shop <orders@shop.example>"),
    setting(SHOP_NAME, "caisse", false, "the shop's name in emails"),
    setting(MAIL, "on", false, "on, or off to send no email at all (serve refuses to start without a transport otherwise)"),
    setting(MAIL_DIR, "", false, "write each email as an .eml file in this folder instead of sending it (caisse dev: caisse-data/mail)"),
    setting(MAIL_LANG, "fr", false, "language of emails: fr or en"),
    setting(OUTBOX_MAX_ATTEMPTS, "10", false, "attempts before an outbox message (email, refund) is marked failed, with an alert"),
    setting(OUTBOX_LEASE, "120", false, "how long a worker owns an outbox message it is sending; a killed worker's message is due again after it"),
    setting(ADMIN_PASSWORD_HASH, "", true, "argon2id PHC string from `caisse admin hash-password`; without it /admin answers 404 (caisse dev makes a password and prints it)"),
    setting(STOREFRONT, "false", false, "true: serve the demo storefront at / (always on in caisse dev)"),
];

/// What the configuration is for: `serve` needs real keys, `dev` fills in sandbox ones, tools
/// (`migrate`, `catalog import`, `config check` without `--serve`) need only the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Serve,
    Dev,
    Tool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// Where a value came from, for `config check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Env,
    File,
    Default,
    Dev,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Env => "environment",
            Origin::File => "caisse.toml",
            Origin::Default => "default",
            Origin::Dev => "caisse dev",
        })
    }
}

/// One problem with the configuration: the variable and what is wrong, never the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: String,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.problem)
    }
}

impl std::error::Error for ConfigError {}

fn problem(variable: &str, text: impl Into<String>) -> ConfigError {
    ConfigError {
        variable: variable.to_string(),
        problem: text.into(),
    }
}

/// The raw values: the environment over the optional file, empty strings counting as unset.
#[derive(Clone, Debug, Default)]
pub struct Source {
    env: BTreeMap<String, String>,
    file: BTreeMap<String, String>,
    pub file_path: Option<PathBuf>,
}

impl Source {
    /// The process environment and `path` (or `./caisse.toml` when it exists).
    pub fn from_process(path: Option<&Path>) -> Result<Source, ConfigError> {
        let mut source = Source {
            env: std::env::vars().collect(),
            ..Source::default()
        };
        let default = Path::new("caisse.toml");
        let path = match path {
            Some(p) => Some(p.to_path_buf()),
            None if default.exists() => Some(default.to_path_buf()),
            None => None,
        };
        if let Some(path) = path {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| problem("--config", format!("cannot read {}: {e}", path.display())))?;
            source.file = parse_file(&text)?;
            source.file_path = Some(path);
        }
        Ok(source)
    }

    /// A source from explicit pairs, as if they were environment variables (tests, embedding).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Source {
        Source {
            env: pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Source::default()
        }
    }

    /// The value of `name`, from the environment or the file, when set and not empty.
    pub fn get_raw(&self, name: &str) -> Option<String> {
        self.get(name).map(|(v, _)| v)
    }

    pub fn set(&mut self, name: &str, value: &str) {
        self.env.insert(name.to_string(), value.to_string());
    }

    fn get(&self, name: &str) -> Option<(String, Origin)> {
        let non_empty = |v: &String| !v.trim().is_empty();
        if let Some(v) = self.env.get(name).filter(|v| non_empty(v)) {
            return Some((v.trim().to_string(), Origin::Env));
        }
        self.file
            .get(&name.to_ascii_lowercase())
            .filter(|v| non_empty(v))
            .map(|v| (v.trim().to_string(), Origin::File))
    }
}

fn parse_file(text: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| problem("caisse.toml", e.message().to_string()))?;
    let known: Vec<String> = SETTINGS
        .iter()
        .map(|s| s.name.to_ascii_lowercase())
        .chain([PUBLISHABLE_KEY_ALIAS.to_ascii_lowercase()])
        .collect();
    let mut out = BTreeMap::new();
    for (key, value) in table {
        if !known.contains(&key) {
            return Err(problem("caisse.toml", format!("unknown setting `{key}`")));
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => {
                return Err(problem(
                    "caisse.toml",
                    format!("`{key}` must be a string or a number"),
                ))
            }
        };
        out.insert(key, text);
    }
    Ok(out)
}

/// Test or live: the two must never meet in one configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyMode {
    Test,
    Live,
}

#[derive(Clone, Debug)]
pub struct StripeConfig {
    pub secret_key: Secret,
    pub publishable_key: Option<String>,
    pub webhook_secrets: Vec<Secret>,
    pub api_base: String,
    pub mode: KeyMode,
    pub timeout: Duration,
}

#[derive(Clone, Debug)]
pub struct CheckoutConfig {
    pub hold_ttl: Duration,
    pub max_line_quantity: i64,
    pub max_cart_quantity: i64,
    pub success_url: String,
    pub cancel_url: String,
    pub rate_per_customer: Rate,
    pub rate_per_ip: Rate,
    pub max_open_holds: i64,
    pub max_open_holds_per_ip: i64,
    pub max_held_units_per_ip: i64,
    pub sweep_interval: Duration,
}

/// What webhooks do beyond DESIGN.md's fixed rules: the policies of 1.5 and the signature alarm.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub release_on_payment_failure: bool,
    pub refund_unfulfillable: bool,
    pub signature_alert_threshold: u32,
    pub signature_alert_window: Duration,
}

/// Where emails go.
#[derive(Clone, Debug, PartialEq)]
pub enum MailTransport {
    Smtp(Secret),
    Files(PathBuf),
    Off,
}

#[derive(Clone, Debug)]
pub struct MailConfig {
    pub transport: MailTransport,
    pub from: String,
    pub shop_name: String,
    pub lang: Locale,
    pub max_attempts: i64,
    pub lease: Duration,
}

#[derive(Clone, Debug)]
pub struct IdentityConfig {
    pub jwt_secret: Option<Secret>,
    pub guest_secret: Secret,
    pub trusted_proxies: Vec<IpAddr>,
    pub jwt_rules: crate::identity::JwtRules,
}

/// The effective configuration. `Debug` is safe to print: every secret is a [`Secret`].
#[derive(Clone, Debug)]
pub struct Config {
    pub mode: Mode,
    pub database_url: Secret,
    pub listen: SocketAddr,
    /// Where `serve` answers `/metrics`; `caisse dev` also answers it on the public listener.
    pub metrics_listen: SocketAddr,
    pub public_url: String,
    pub stripe: StripeConfig,
    pub webhook_tolerance: Duration,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub log_format: LogFormat,
    pub checkout: CheckoutConfig,
    pub webhooks: WebhookConfig,
    pub mail: MailConfig,
    pub identity: IdentityConfig,
    pub redis_url: Option<Secret>,
    /// Browser origins allowed to call the API with credentials; empty: same origin only.
    pub cors_origins: Vec<String>,
    /// The dashboard's password hash; `None`: no dashboard.
    pub admin_password_hash: Option<Secret>,
    /// Whether `/` serves the demo storefront.
    pub storefront: bool,
    /// Each setting's shown value and origin, secrets masked: what `config check` prints.
    pub report: Vec<(&'static str, String, Origin)>,
}

/// The keys `caisse dev` uses with its sandbox when none are configured.
pub struct DevKeys {
    pub secret_key: String,
    pub publishable_key: String,
    pub webhook_secret: String,
}

impl DevKeys {
    /// Fresh random keys: the sandbox accepts any `sk_test_` key, and the webhook secret is shared
    /// with the sandbox in the same process.
    pub fn generate() -> DevKeys {
        let r = || uuid::Uuid::new_v4().simple().to_string();
        DevKeys {
            secret_key: format!("sk_test_dev{}", r()),
            publishable_key: format!("pk_test_dev{}", r()),
            webhook_secret: format!("whsec_dev{}", r()),
        }
    }
}

struct Reader<'a> {
    source: &'a Source,
    errors: Vec<ConfigError>,
    report: Vec<(&'static str, String, Origin)>,
}

impl Reader<'_> {
    fn raw(&mut self, name: &'static str) -> Option<(String, Origin)> {
        self.source.get(name)
    }

    /// The value or the default, recorded for the report.
    fn text(&mut self, name: &'static str, default: &str) -> String {
        let (value, origin) = self
            .raw(name)
            .unwrap_or_else(|| (default.to_string(), Origin::Default));
        let secret = SETTINGS.iter().any(|s| s.name == name && s.secret);
        let shown = if value.is_empty() {
            "(not set)".to_string()
        } else if secret && value.contains("://") {
            crate::secret::redact_url(&value)
        } else if secret {
            Secret::new(value.clone()).masked()
        } else {
            value.clone()
        };
        self.report.push((name, shown, origin));
        value
    }

    fn number<T>(&mut self, name: &'static str, default: T) -> T
    where
        T: std::str::FromStr + fmt::Display + Copy,
    {
        let text = self.text(name, &default.to_string());
        match text.parse() {
            Ok(v) => v,
            Err(_) => {
                self.errors.push(problem(name, "must be a whole number"));
                default
            }
        }
    }

    fn flag(&mut self, name: &'static str, default: bool) -> bool {
        match self
            .text(name, &default.to_string())
            .to_ascii_lowercase()
            .as_str()
        {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => {
                self.errors.push(problem(name, "must be true or false"));
                default
            }
        }
    }

    fn fail(&mut self, name: &str, text: impl Into<String>) {
        self.errors.push(problem(name, text));
    }
}

impl Config {
    /// Reads and checks everything; `dev_keys` fills in the Stripe keys in [`Mode::Dev`].
    pub fn load(
        source: &Source,
        mode: Mode,
        dev_keys: Option<&DevKeys>,
    ) -> Result<Config, Vec<ConfigError>> {
        let mut source = source.clone();
        let mut dev_origin = Vec::new();
        if let (Mode::Dev, Some(keys)) = (mode, dev_keys) {
            for (name, value) in [
                (SECRET_KEY, &keys.secret_key),
                (PUBLISHABLE_KEY, &keys.publishable_key),
                (WEBHOOK_SECRET, &keys.webhook_secret),
            ] {
                if source.get(name).is_none()
                    && !(name == PUBLISHABLE_KEY && source.get(PUBLISHABLE_KEY_ALIAS).is_some())
                {
                    source.set(name, value);
                    dev_origin.push(name);
                }
            }
        }
        let mut r = Reader {
            source: &source,
            errors: Vec::new(),
            report: Vec::new(),
        };

        let database_url = r.text(DATABASE_URL, "sqlite://caisse.db");
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            r.fail(DATABASE_URL, "must start with sqlite: or postgres://");
        }
        let listen_text = r.text(LISTEN, "127.0.0.1:8080");
        let listen = listen_text.parse().unwrap_or_else(|_| {
            r.fail(LISTEN, "must be an address such as 127.0.0.1:8080");
            SocketAddr::from(([127, 0, 0, 1], 8080))
        });
        let metrics_text = r.text(METRICS_LISTEN, "127.0.0.1:9464");
        let metrics_listen = metrics_text.parse().unwrap_or_else(|_| {
            r.fail(METRICS_LISTEN, "must be an address such as 127.0.0.1:9464");
            SocketAddr::from(([127, 0, 0, 1], 9464))
        });
        let public_url = r
            .text(PUBLIC_URL, &format!("http://{listen}"))
            .trim_end_matches('/')
            .to_string();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            r.fail(PUBLIC_URL, "must be an http:// or https:// URL");
        }
        let success_url = r.text(
            SUCCESS_URL,
            &format!("{public_url}/?checkout=success&session_id={{CHECKOUT_SESSION_ID}}"),
        );
        let cancel_url = r.text(CANCEL_URL, &format!("{public_url}/?checkout=cancelled"));

        let stripe = stripe_keys(&mut r, mode);

        let tolerance = r.number(WEBHOOK_TOLERANCE, 300u64);
        if tolerance == 0 {
            r.fail(
                WEBHOOK_TOLERANCE,
                "must be at least 1 second (0 would accept replays forever)",
            );
        } else if tolerance > 600 {
            r.fail(
                WEBHOOK_TOLERANCE,
                "must be at most 600 seconds (a longer window lets a captured delivery be replayed longer)",
            );
        }
        if mode == Mode::Serve && stripe.mode == KeyMode::Live && public_url.starts_with("http://")
        {
            r.fail(
                PUBLIC_URL,
                "must be https:// with live keys (cookies and payment pages must not travel in clear)",
            );
        }
        let max_body_bytes = r.number(MAX_BODY, 1_048_576usize);
        if max_body_bytes < 1024 {
            r.fail(MAX_BODY, "must be at least 1024 bytes");
        }
        let request_timeout = r.number(REQUEST_TIMEOUT, 30u64);
        if request_timeout == 0 {
            r.fail(REQUEST_TIMEOUT, "must be at least 1 second");
        }
        let header_read = r.number(HEADER_READ_TIMEOUT, 10u64);
        if !(1..=300).contains(&header_read) {
            r.fail(HEADER_READ_TIMEOUT, "must be 1 to 300 seconds");
        }
        let idle = r.number(IDLE_TIMEOUT, 60u64);
        if idle <= request_timeout {
            r.fail(
                IDLE_TIMEOUT,
                format!("must be more than {REQUEST_TIMEOUT} (a request may be silent that long)"),
            );
        }
        let max_connections = r.number(MAX_CONNECTIONS, 10_000usize);
        if max_connections < 16 {
            r.fail(MAX_CONNECTIONS, "must be at least 16");
        }
        let log_format = match r.text(LOG_FORMAT, "human").as_str() {
            "human" => LogFormat::Human,
            "json" => LogFormat::Json,
            _ => {
                r.fail(LOG_FORMAT, "must be human or json");
                LogFormat::Human
            }
        };

        let checkout = checkout_settings(&mut r, success_url, cancel_url);
        let webhooks = webhook_settings(&mut r);
        let mail = mail_settings(&mut r, mode);
        let identity = identity_settings(&mut r, mode);
        let redis = r.text(REDIS_URL, "");
        if !(redis.is_empty() || redis.starts_with("redis://") || redis.starts_with("rediss://")) {
            r.fail(REDIS_URL, "must start with redis:// or rediss://");
        }
        let redis_url = (!redis.is_empty()).then(|| Secret::new(redis));

        let cors_origins = cors(&mut r);
        let admin_hash = r.text(ADMIN_PASSWORD_HASH, "");
        if !admin_hash.is_empty() {
            if let Err(why) = crate::admin::check_hash(&admin_hash) {
                r.fail(ADMIN_PASSWORD_HASH, why);
            }
        }
        let admin_password_hash = (!admin_hash.is_empty()).then(|| Secret::new(admin_hash));
        let storefront = r.flag(STOREFRONT, false) || mode == Mode::Dev;
        let mut report = r.report;
        for entry in report.iter_mut() {
            if dev_origin.contains(&entry.0) {
                entry.2 = Origin::Dev;
            }
        }
        if !r.errors.is_empty() {
            return Err(r.errors);
        }
        Ok(Config {
            mode,
            database_url: Secret::new(database_url),
            listen,
            metrics_listen,
            public_url,
            stripe,
            webhook_tolerance: Duration::from_secs(tolerance),
            max_body_bytes,
            request_timeout: Duration::from_secs(request_timeout),
            header_read_timeout: Duration::from_secs(header_read),
            idle_timeout: Duration::from_secs(idle),
            max_connections,
            log_format,
            checkout,
            webhooks,
            mail,
            identity,
            redis_url,
            cors_origins,
            admin_password_hash,
            storefront,
            report,
        })
    }
}

/// Test or live from the key's prefix (`sk_test_`, `rk_live_`, `pk_test_` …), never from a
/// `_test_` somewhere inside it.
fn key_mode(key: &str) -> Option<KeyMode> {
    let rest = ["sk_", "rk_", "pk_"]
        .iter()
        .find_map(|p| key.strip_prefix(p))?;
    if rest.starts_with("test_") {
        Some(KeyMode::Test)
    } else if rest.starts_with("live_") {
        Some(KeyMode::Live)
    } else {
        None
    }
}

fn stripe_keys(r: &mut Reader<'_>, mode: Mode) -> StripeConfig {
    let required = mode != Mode::Tool;
    let secret = r.text(SECRET_KEY, "");
    let mut secret_mode = None;
    if secret.is_empty() {
        if required {
            r.fail(
                SECRET_KEY,
                "is missing (the server needs it to create Checkout Sessions)",
            );
        }
    } else if secret.starts_with("pk_") {
        r.fail(
            SECRET_KEY,
            "holds a publishable key (pk_…); it needs the secret key sk_… or rk_…",
        );
    } else if secret.starts_with("whsec_") {
        r.fail(
            SECRET_KEY,
            "holds a webhook secret (whsec_…); it needs the secret key sk_… or rk_…",
        );
    } else if !(secret.starts_with("sk_") || secret.starts_with("rk_")) {
        r.fail(SECRET_KEY, "must start with sk_ or rk_");
    } else {
        secret_mode = key_mode(&secret);
        if secret_mode.is_none() {
            r.fail(
                SECRET_KEY,
                "must be a test (sk_test_…) or live (sk_live_…) key",
            );
        }
    }

    let primary = r.raw(PUBLISHABLE_KEY).map(|v| v.0);
    let alias = r.raw(PUBLISHABLE_KEY_ALIAS).map(|v| v.0);
    let (publishable_name, publishable) = match (primary, alias) {
        (Some(a), Some(b)) if a != b => {
            r.fail(
                PUBLISHABLE_KEY,
                format!("and {PUBLISHABLE_KEY_ALIAS} are both set and differ; set one"),
            );
            (PUBLISHABLE_KEY, Some(a))
        }
        (Some(a), _) => (PUBLISHABLE_KEY, Some(a)),
        (None, Some(b)) => (PUBLISHABLE_KEY_ALIAS, Some(b)),
        (None, None) => (PUBLISHABLE_KEY, None),
    };
    r.text(PUBLISHABLE_KEY, publishable.as_deref().unwrap_or(""));
    let mut publishable_mode = None;
    if let Some(pk) = &publishable {
        if pk.starts_with("sk_") || pk.starts_with("rk_") || pk.starts_with("whsec_") {
            // The one mistake that leaks a secret to every browser: refuse, never echo it.
            r.fail(
                publishable_name,
                "holds a secret key; only a publishable key (pk_…) may be sent to browsers",
            );
        } else if !pk.starts_with("pk_") {
            r.fail(publishable_name, "must start with pk_");
        } else {
            publishable_mode = key_mode(pk);
            if publishable_mode.is_none() {
                r.fail(
                    publishable_name,
                    "must be a test (pk_test_…) or live (pk_live_…) key",
                );
            }
        }
    }
    if let (Some(s), Some(p)) = (secret_mode, publishable_mode) {
        if s != p {
            r.fail(
                SECRET_KEY,
                format!(
                    "is a {} key but {publishable_name} is a {} key; test and live keys cannot be mixed",
                    if s == KeyMode::Test { "test" } else { "live" },
                    if p == KeyMode::Test { "test" } else { "live" },
                ),
            );
        }
    }

    let webhook = r.text(WEBHOOK_SECRET, "");
    let webhook_secrets: Vec<Secret> = webhook
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Secret::new)
        .collect();
    if webhook_secrets.is_empty() {
        if required {
            r.fail(
                WEBHOOK_SECRET,
                "is missing (without it no webhook can be verified)",
            );
        }
    } else if webhook_secrets
        .iter()
        .any(|s| !s.expose().starts_with("whsec_") || s.expose().len() <= "whsec_".len())
    {
        r.fail(
            WEBHOOK_SECRET,
            "every comma-separated secret must start with whsec_",
        );
    }

    let api_base = r
        .text(API_BASE, "https://api.stripe.com")
        .trim_end_matches('/')
        .to_string();
    if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
        r.fail(API_BASE, "must be an http:// or https:// URL");
    }
    if mode == Mode::Serve
        && secret_mode == Some(KeyMode::Live)
        && !api_base.starts_with("https://")
    {
        r.fail(API_BASE, "must be https:// with a live key");
    }

    let timeout = r.number(STRIPE_TIMEOUT, 8u64);
    if !(1..=60).contains(&timeout) {
        r.fail(STRIPE_TIMEOUT, "must be 1 to 60 seconds");
    }
    StripeConfig {
        timeout: Duration::from_secs(timeout),
        secret_key: Secret::new(secret),
        publishable_key: publishable,
        webhook_secrets,
        api_base,
        mode: secret_mode.or(publishable_mode).unwrap_or(KeyMode::Test),
    }
}

fn checkout_settings(
    r: &mut Reader<'_>,
    success_url: String,
    cancel_url: String,
) -> CheckoutConfig {
    let hold_ttl = r.number(HOLD_TTL, 1800u64);
    if !(1800..=86_400).contains(&hold_ttl) {
        r.fail(
            HOLD_TTL,
            "must be between 1800 and 86400 seconds (Stripe's expires_at range)",
        );
    }
    let max_line_quantity = r.number(MAX_LINE_QUANTITY, 10i64);
    if max_line_quantity < 1 {
        r.fail(MAX_LINE_QUANTITY, "must be at least 1");
    }
    let max_cart_quantity = r.number(MAX_CART_QUANTITY, 50i64);
    if max_cart_quantity < max_line_quantity {
        r.fail(
            MAX_CART_QUANTITY,
            format!("must be at least {MAX_LINE_QUANTITY}"),
        );
    }
    let rate = |r: &mut Reader<'_>, name: &'static str, default: &str| {
        let text = r.text(name, default);
        text.parse::<Rate>().unwrap_or_else(|e| {
            r.fail(name, e);
            default.parse().expect("default rates parse")
        })
    };
    let rate_per_customer = rate(r, RATE_PER_CUSTOMER, "5/min");
    let rate_per_ip = rate(r, RATE_PER_IP, "30/min");
    let max_open_holds = r.number(MAX_OPEN_HOLDS, 3i64);
    if max_open_holds < 1 {
        r.fail(MAX_OPEN_HOLDS, "must be at least 1");
    }
    let max_open_holds_per_ip = r.number(MAX_OPEN_HOLDS_PER_IP, 10i64);
    if max_open_holds_per_ip < 1 {
        r.fail(MAX_OPEN_HOLDS_PER_IP, "must be at least 1");
    }
    let max_held_units_per_ip = r.number(MAX_HELD_UNITS_PER_IP, 50i64);
    if max_held_units_per_ip < 1 {
        r.fail(MAX_HELD_UNITS_PER_IP, "must be at least 1");
    }
    let sweep = r.number(SWEEP_INTERVAL, 30u64);
    if sweep == 0 {
        r.fail(SWEEP_INTERVAL, "must be at least 1 second");
    }
    CheckoutConfig {
        hold_ttl: Duration::from_secs(hold_ttl),
        max_line_quantity,
        max_cart_quantity,
        success_url,
        cancel_url,
        rate_per_customer,
        rate_per_ip,
        max_open_holds,
        max_open_holds_per_ip,
        max_held_units_per_ip,
        sweep_interval: Duration::from_secs(sweep),
    }
}

fn webhook_settings(r: &mut Reader<'_>) -> WebhookConfig {
    let release_on_payment_failure = r.flag(RELEASE_ON_PAYMENT_FAILURE, true);
    let refund_unfulfillable = r.flag(REFUND_UNFULFILLABLE, false);
    let threshold = r.number(SIGNATURE_ALERT_THRESHOLD, 10u32);
    if threshold == 0 {
        r.fail(SIGNATURE_ALERT_THRESHOLD, "must be at least 1");
    }
    let window = r.number(SIGNATURE_ALERT_WINDOW, 300u64);
    if !(1..=86_400).contains(&window) {
        r.fail(SIGNATURE_ALERT_WINDOW, "must be 1 to 86400 seconds");
    }
    WebhookConfig {
        release_on_payment_failure,
        refund_unfulfillable,
        signature_alert_threshold: threshold,
        signature_alert_window: Duration::from_secs(window),
    }
}

fn mail_settings(r: &mut Reader<'_>, mode: Mode) -> MailConfig {
    let smtp = r.text(SMTP_URL, "");
    let from = r.text(MAIL_FROM, "");
    let shop_name = r.text(SHOP_NAME, "caisse");
    let on = match r.text(MAIL, "on").to_ascii_lowercase().as_str() {
        "on" | "true" => true,
        "off" | "false" => false,
        _ => {
            r.fail(MAIL, "must be on or off");
            true
        }
    };
    let dir = r.text(MAIL_DIR, "");
    let lang = match r.text(MAIL_LANG, "fr").as_str() {
        "fr" => Locale::Fr,
        "en" => Locale::En,
        _ => {
            r.fail(MAIL_LANG, "must be fr or en");
            Locale::Fr
        }
    };
    let max_attempts = r.number(OUTBOX_MAX_ATTEMPTS, 10i64);
    if !(1..=100).contains(&max_attempts) {
        r.fail(OUTBOX_MAX_ATTEMPTS, "must be 1 to 100");
    }
    let lease = r.number(OUTBOX_LEASE, 120u64);
    if !(1..=3600).contains(&lease) {
        r.fail(OUTBOX_LEASE, "must be 1 to 3600 seconds");
    }
    if !smtp.is_empty() && !["smtp://", "smtps://"].iter().any(|s| smtp.starts_with(s)) {
        r.fail(SMTP_URL, "must start with smtp:// or smtps://");
    }
    if !smtp.is_empty()
        && lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(&smtp).is_err()
    {
        r.fail(
            SMTP_URL,
            "is not a valid SMTP URL (smtp://host:port, smtps://user:pass@host, smtp://host:587?tls=required; encode / @ : in a password)",
        );
    }
    if !smtp.is_empty() && from.is_empty() {
        r.fail(
            MAIL_FROM,
            "is required with SMTP_URL (the From address of emails)",
        );
    }
    if !from.is_empty() && from.parse::<lettre::message::Mailbox>().is_err() {
        r.fail(
            MAIL_FROM,
            "must be an address such as Shop <orders@shop.example>",
        );
    }
    let transport = if !on {
        MailTransport::Off
    } else if !smtp.is_empty() {
        MailTransport::Smtp(Secret::new(smtp))
    } else if !dir.is_empty() {
        MailTransport::Files(PathBuf::from(dir))
    } else {
        if mode == Mode::Serve {
            r.fail(
                SMTP_URL,
                format!("is missing: caisse serve needs a mail transport for order confirmations (or {MAIL}=off to send none)"),
            );
        }
        MailTransport::Off
    };
    MailConfig {
        transport,
        from: if from.is_empty() {
            format!("{shop_name} <orders@localhost>")
        } else {
            from
        },
        shop_name,
        lang,
        max_attempts,
        lease: Duration::from_secs(lease),
    }
}

fn cors(r: &mut Reader<'_>) -> Vec<String> {
    let text = r.text(CORS_ORIGINS, "");
    let mut origins = Vec::new();
    for origin in text.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let origin = origin.trim_end_matches('/');
        let rest = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !host.contains('/') && origin != "*" => {
                origins.push(origin.to_string())
            }
            _ => r.fail(
                CORS_ORIGINS,
                "each origin is scheme://host[:port], without a path or *",
            ),
        }
    }
    origins
}

fn identity_settings(r: &mut Reader<'_>, mode: Mode) -> IdentityConfig {
    let jwt = r.text(JWT_SECRET, "");
    if !jwt.is_empty() && jwt.len() < 32 {
        r.fail(JWT_SECRET, "must be at least 32 characters");
    }
    let guest = r.text(GUEST_SECRET, "");
    if !guest.is_empty() && guest.len() < 32 {
        r.fail(GUEST_SECRET, "must be at least 32 characters");
    }
    if guest.is_empty() && mode == Mode::Serve {
        r.fail(
            GUEST_SECRET,
            "is required by serve: without it every restart, and every other instance, forgets the guests",
        );
    }
    let guest = if guest.is_empty() {
        format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )
    } else {
        guest
    };
    let proxies = r.text(TRUSTED_PROXIES, "");
    let mut trusted_proxies = Vec::new();
    for p in proxies.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match p.parse() {
            Ok(ip) => trusted_proxies.push(ip),
            Err(_) => r.fail(
                TRUSTED_PROXIES,
                "must be a comma-separated list of IP addresses",
            ),
        }
    }
    let leeway = r.number(JWT_LEEWAY, 60i64);
    if !(0..=600).contains(&leeway) {
        r.fail(JWT_LEEWAY, "must be 0 to 600 seconds");
    }
    let optional = |r: &mut Reader<'_>, name| Some(r.text(name, "")).filter(|v| !v.is_empty());
    let jwt_rules = crate::identity::JwtRules {
        leeway,
        issuer: optional(r, JWT_ISSUER),
        audience: optional(r, JWT_AUDIENCE),
    };
    IdentityConfig {
        jwt_secret: (!jwt.is_empty()).then(|| Secret::new(jwt)),
        guest_secret: Secret::new(guest),
        trusted_proxies,
        jwt_rules,
    }
}

#[cfg(test)]
mod tests {
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
        assert!(
            first_error(&[(SECRET_KEY, SK), (WEBHOOK_SECRET, "abc")]).starts_with(
                "STRIPE_WEBHOOK_SECRET: every comma-separated secret must start with whsec_"
            )
        );
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
    fn the_file_is_below_the_environment_and_rejects_unknown_keys() {
        let mut source = Source::from_pairs([(LISTEN, "127.0.0.1:9000")]);
        source.file =
            parse_file("caisse_listen = \"127.0.0.1:7000\"\ncaisse_hold_ttl_secs = 3600\n")
                .unwrap();
        let c = Config::load(&source, Mode::Tool, None).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.checkout.hold_ttl, Duration::from_secs(3600));
        assert!(parse_file("nope = 1")
            .unwrap_err()
            .to_string()
            .contains("unknown setting `nope`"));
    }
}
