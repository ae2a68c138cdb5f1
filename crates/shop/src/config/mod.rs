//! Configuration: every setting caisse reads, where it comes from, and the key rules of DESIGN.md 1.1.
//!
//! Settings come from environment variables and, below them, from an optional `caisse.toml` whose
//! keys are the same names in lower case (`stripe_secret_key = "…"`). The environment wins, so a
//! deployment can keep the file for defaults and inject secrets as variables. [`SETTINGS`] is the one
//! declaration of names and defaults: loading, `caisse config check` and the README table all follow
//! it.
//!
//! Validation collects every problem as one line that names the variable and never its value.
//!
//! One file per section: [`settings`] (the declaration), `source` (environment and file),
//! `reader` (values, defaults, the report), `stripe_keys` (DESIGN.md 1.1), `http`, `checkout`,
//! `webhooks`, `mail`, `identity`, `admin` (the dashboard's password hash), `operations`
//! (Redis time limit, retention) and `time_zone` (the zone dates are written in). This module depends on
//! nothing above `domain` and `secret`.

mod admin;
mod checkout;
mod http;
mod identity;
mod mail;
mod operations;
mod reader;
pub mod settings;
mod source;
mod stripe_keys;
mod time_zone;
mod webhooks;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::secret::Secret;
use reader::Reader;

pub use admin::check_hash;
pub use checkout::CheckoutConfig;
pub use identity::{IdentityConfig, JwtRules};
pub use mail::{MailConfig, MailTransport};
pub use operations::{AlertDelivery, OperationsConfig, MIN_RETENTION_DAYS};
pub use settings::*;
pub use source::Source;
pub use stripe_keys::{KeyMode, StripeConfig};
pub use webhooks::WebhookConfig;

/// What the configuration is for: `serve` needs real keys, `dev` fills in sandbox ones, tools
/// (`migrate`, `catalog import`, `config check --for tool`) need only the database, and the
/// one-shot commands that talk to Stripe (`reconcile`, `events replay`, `stripe setup`) need the
/// secret key but neither the webhook secret nor serve's mail and guest settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Serve,
    Dev,
    Tool,
    Stripe,
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
    pub max_connections_per_ip: usize,
    pub log_format: LogFormat,
    pub checkout: CheckoutConfig,
    pub webhooks: WebhookConfig,
    pub mail: MailConfig,
    /// The zone audit sentences, alerts and the dashboard write dates in.
    pub time_zone: jiff::tz::TimeZone,
    pub identity: IdentityConfig,
    pub redis_url: Option<Secret>,
    pub operations: OperationsConfig,
    /// Browser origins allowed to call the API with credentials; empty: same origin only.
    pub cors_origins: Vec<String>,
    /// The dashboard's password hash; `None`: no dashboard.
    pub admin_password_hash: Option<Secret>,
    /// Password checks running at once at most, process-wide.
    pub admin_max_concurrent_signins: usize,
    /// Whether `/` serves the demo storefront.
    pub storefront: bool,
    /// Each setting's shown value and origin, secrets masked, in the order of [`SETTINGS`]: what
    /// `config check` prints.
    pub report: Report,
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

/// Each setting's shown value (secrets masked) and origin, in the order of [`SETTINGS`].
pub type Report = Vec<(&'static str, String, Origin)>;

impl Config {
    /// Reads and checks everything; `dev_keys` fills in the Stripe keys in [`Mode::Dev`].
    pub fn load(
        source: &Source,
        mode: Mode,
        dev_keys: Option<&DevKeys>,
    ) -> Result<Config, Vec<ConfigError>> {
        Config::load_reported(source, mode, dev_keys).map_err(|(errors, _)| errors)
    }

    /// Like [`Config::load`], the problems coming with the report of every value as read, so
    /// that `config check` shows the effective configuration beside what is wrong with it.
    pub fn load_reported(
        source: &Source,
        mode: Mode,
        dev_keys: Option<&DevKeys>,
    ) -> Result<Config, (Vec<ConfigError>, Report)> {
        let mut source = source.clone();
        let mut dev_origin = Vec::new();
        if let (Mode::Dev, Some(keys)) = (mode, dev_keys) {
            for (name, value) in [
                (SECRET_KEY, &keys.secret_key),
                (PUBLISHABLE_KEY, &keys.publishable_key),
                (WEBHOOK_SECRET, &keys.webhook_secret),
            ] {
                // A signing secret of the developer's own (to sign test events by hand) is kept,
                // and the sandbox's added beside it, as during a rotation: the sandbox signs
                // every payment's events with its own.
                let given = source.get_raw(name).filter(|v| !v.trim().is_empty());
                if let (WEBHOOK_SECRET, Some(given)) = (name, given) {
                    source.set(name, &format!("{given},{value}"));
                    continue;
                }
                if source.get(name).is_none()
                    && !(name == PUBLISHABLE_KEY && source.get(PUBLISHABLE_KEY_ALIAS).is_some())
                {
                    source.set(name, value);
                    dev_origin.push(name);
                }
            }
        }
        // The sections in a fixed order: it is the order of the problems reported.
        let mut r = Reader::new(&source);
        r.errors.extend(source.problems.iter().cloned());
        let database_url = r.text(DATABASE_URL);
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            r.fail(DATABASE_URL, "must start with sqlite: or postgres://");
        }
        if let Some(why) = crate::store::unsupported_url(&database_url) {
            r.fail(DATABASE_URL, why);
        }
        let addresses = http::addresses(&mut r);
        let stripe = stripe_keys::stripe_keys(&mut r, mode);
        let webhook_tolerance = webhooks::tolerance(&mut r);
        stripe_keys::live_needs_https(&mut r, mode, &stripe, &addresses.public_url);
        let limits = http::limits(&mut r);
        let log_format = r.choice(
            LOG_FORMAT,
            &[("human", LogFormat::Human), ("json", LogFormat::Json)],
            "must be human or json",
        );
        let checkout =
            checkout::checkout_settings(&mut r, addresses.success_url, addresses.cancel_url);
        let webhooks = webhooks::webhook_settings(&mut r);
        let mail = mail::mail_settings(&mut r, mode);
        let time_zone = time_zone::time_zone(&mut r);
        let identity = identity::identity_settings(&mut r, mode);
        let redis_url = checkout::redis_url(&mut r);
        let operations = operations::operations_settings(&mut r);
        let cors_origins = http::cors(&mut r);
        let admin_password_hash = admin::password_hash(&mut r);
        let admin_max_concurrent_signins = admin::max_concurrent_signins(&mut r);
        let storefront = r.flag(STOREFRONT) || mode == Mode::Dev;

        let mut report = r.report;
        for entry in report.iter_mut() {
            if dev_origin.contains(&entry.0) {
                entry.2 = Origin::Dev;
            }
        }
        // Printed in the order of the declaration, whatever the order of reading.
        report.sort_by_key(|(name, _, _)| SETTINGS.iter().position(|s| s.name == *name));
        if !r.errors.is_empty() {
            return Err((r.errors, report));
        }
        Ok(Config {
            mode,
            database_url: Secret::new(database_url),
            listen: addresses.listen,
            metrics_listen: addresses.metrics_listen,
            public_url: addresses.public_url,
            stripe,
            webhook_tolerance,
            max_body_bytes: limits.max_body_bytes,
            request_timeout: limits.request_timeout,
            header_read_timeout: limits.header_read_timeout,
            idle_timeout: limits.idle_timeout,
            max_connections: limits.max_connections,
            max_connections_per_ip: limits.max_connections_per_ip,
            log_format,
            checkout,
            webhooks,
            mail,
            time_zone,
            identity,
            redis_url,
            operations,
            cors_origins,
            admin_password_hash,
            admin_max_concurrent_signins,
            storefront,
            report,
        })
    }
}

#[cfg(test)]
mod tests;
