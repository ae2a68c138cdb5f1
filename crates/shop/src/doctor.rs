//! `caisse doctor`: a configuration checked against the world, one verdict per check — the secret
//! key against Stripe, test or live on both sides, the webhook endpoint Stripe calls, the clock
//! against Stripe's, the database, Redis and the SMTP server when configured, https in live
//! mode. Each verdict says why in words that carry no secret: no key, no password, no URL with
//! credentials (Stripe's own refusal of a key is not repeated, since it echoes part of the key).

use std::time::Duration;

use caisse_stripe::{Client, ClientOptions, StripeError, WebhookEndpoint};

use crate::config::{Config, KeyMode};
use crate::store::Store;

/// Stripe's clock and ours may differ by less than this: webhook signatures carry Stripe's time
/// and are checked against ours.
pub const MAX_CLOCK_SKEW_SECS: i64 = 30;

/// How long a database, Redis or SMTP server has to answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// One check's verdict: what was checked and either what is fine or what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub outcome: Result<String, String>,
}

impl Check {
    fn ok(name: &'static str, why: impl Into<String>) -> Check {
        Check {
            name,
            outcome: Ok(why.into()),
        }
    }

    fn fail(name: &'static str, why: impl Into<String>) -> Check {
        Check {
            name,
            outcome: Err(why.into()),
        }
    }
}

/// The URL Stripe must call: `{CAISSE_PUBLIC_URL}/api/webhooks/stripe`.
pub fn webhook_url(config: &Config) -> String {
    format!(
        "{}/api/webhooks/stripe",
        config.public_url.trim_end_matches('/')
    )
}

/// A Stripe client for one-shot checks: the configured base, key and time limit; nothing traced.
pub fn stripe_client(config: &Config) -> anyhow::Result<Client> {
    let mut options =
        ClientOptions::new(&config.stripe.api_base, config.stripe.secret_key.expose());
    options.timeout = config.stripe.timeout;
    Ok(Client::new(options)?)
}

/// Every check, in order.
pub async fn run(config: &Config, now: i64) -> Vec<Check> {
    let mut checks = Vec::new();
    let client = match stripe_client(config) {
        Ok(c) => c,
        Err(e) => return vec![Check::fail("stripe key", format!("no Stripe client: {e}"))],
    };
    let endpoints = client.list_webhook_endpoints().await;
    checks.push(match &endpoints {
        Ok(_) => Check::ok(
            "stripe key",
            format!("accepted by {}", config.stripe.api_base),
        ),
        Err(e) => Check::fail("stripe key", refusal(e)),
    });
    checks.push(mode(config, endpoints.as_deref().ok()));
    checks.push(match &endpoints {
        Ok(list) => endpoint(config, list),
        Err(_) => Check::fail(
            "webhook endpoint",
            "not checked: Stripe did not answer the key",
        ),
    });
    checks.push(match client.server_time().await {
        Ok(stripe) => {
            let skew = now - stripe;
            if skew.abs() < MAX_CLOCK_SKEW_SECS {
                Check::ok("clock", format!("{skew:+} s from Stripe's"))
            } else {
                Check::fail(
                    "clock",
                    format!("{skew:+} s from Stripe's (at most {MAX_CLOCK_SKEW_SECS} s): webhook signatures would be refused; synchronise the clock (NTP)"),
                )
            }
        }
        Err(e) => Check::fail("clock", format!("Stripe's time unknown: {}", refusal(&e))),
    });
    checks.push(database(config).await);
    if let Some(url) = &config.redis_url {
        checks.push(redis(url.expose()).await);
    }
    if let crate::config::MailTransport::Smtp(url) = &config.mail.transport {
        checks.push(smtp(url.expose()).await);
    }
    checks.push(public_url(config));
    checks
}

/// Why Stripe did not answer, without its message for a refused key (it echoes part of it).
fn refusal(e: &StripeError) -> String {
    match e {
        StripeError::Api { status: 401, .. } => {
            "refused by Stripe (401): STRIPE_SECRET_KEY is not a key of this account, or was rolled"
                .to_string()
        }
        StripeError::Api { status: 403, .. } => {
            "refused by Stripe (403): a restricted key without the Webhook Endpoints read permission"
                .to_string()
        }
        other => other.to_string(),
    }
}

fn mode(config: &Config, endpoints: Option<&[WebhookEndpoint]>) -> Check {
    let live = config.stripe.mode == KeyMode::Live;
    let name = if live { "live" } else { "test" };
    let Some(endpoints) = endpoints else {
        return Check::fail(
            "mode",
            format!("{name} keys; Stripe's side not checked: the key was not accepted"),
        );
    };
    match endpoints.iter().find(|e| e.livemode != live) {
        Some(e) => Check::fail(
            "mode",
            format!(
                "{name} keys, but Stripe answered with {} objects ({})",
                if e.livemode { "live" } else { "test" },
                e.id
            ),
        ),
        None => Check::ok(
            "mode",
            format!("{name} keys, and Stripe answers in {name} mode"),
        ),
    }
}

/// An enabled endpoint for caisse's URL, with every event type caisse acts on and the version it
/// reads.
fn endpoint(config: &Config, endpoints: &[WebhookEndpoint]) -> Check {
    const NAME: &str = "webhook endpoint";
    let url = webhook_url(config);
    let handled = crate::webhooks::HANDLED;
    let mine: Vec<&WebhookEndpoint> = endpoints.iter().filter(|e| e.url == url).collect();
    if mine.is_empty() {
        let others: Vec<&str> = endpoints.iter().map(|e| e.url.as_str()).collect();
        return Check::fail(
            NAME,
            format!(
                "none for {url} (Stripe has {}); run caisse stripe setup --url {url}",
                if others.is_empty() {
                    "none".to_string()
                } else {
                    others.join(", ")
                }
            ),
        );
    }
    let mut problems = Vec::new();
    for e in &mine {
        let missing = e.missing_events(handled);
        let version = e.api_version.as_deref().unwrap_or("the account's default");
        if !e.is_enabled() {
            problems.push(format!("{} is disabled", e.id));
        } else if !missing.is_empty() {
            problems.push(format!("{} does not receive {}", e.id, missing.join(", ")));
        } else if e.api_version.as_deref() != Some(caisse_stripe::API_VERSION) {
            // Stripe cannot change an endpoint's API version: `stripe setup` would not fix it.
            problems.push(format!(
                "{} sends events in {version}, caisse reads {} (Stripe cannot change an endpoint's version: delete {} in Stripe's dashboard first)",
                e.id,
                caisse_stripe::API_VERSION,
                e.id
            ));
        } else {
            return Check::ok(
                NAME,
                format!(
                    "{} for {url}: enabled, caisse's {} event types, version {}",
                    e.id,
                    handled.len(),
                    caisse_stripe::API_VERSION
                ),
            );
        }
    }
    Check::fail(
        NAME,
        format!(
            "{}; run caisse stripe setup --url {url}",
            problems.join("; ")
        ),
    )
}

async fn database(config: &Config) -> Check {
    const NAME: &str = "database";
    let ready = tokio::time::timeout(TIMEOUT, async {
        // A doctor looks: it never creates the database it checks.
        let store =
            Store::open(config.database_url.expose(), crate::store::Missing::Refuse).await?;
        let ready = store.is_ready().await;
        store.close().await;
        ready
    })
    .await;
    match ready {
        Ok(Ok(true)) => Check::ok(NAME, "answers, every migration applied"),
        Ok(Ok(false)) => Check::fail(
            NAME,
            "answers, but migrations are pending: run caisse migrate",
        ),
        Ok(Err(e)) => Check::fail(NAME, format!("does not answer: {e}")),
        Err(_) => Check::fail(NAME, format!("no answer within {} s", TIMEOUT.as_secs())),
    }
}

async fn redis(url: &str) -> Check {
    const NAME: &str = "redis";
    let ping = tokio::time::timeout(TIMEOUT, async {
        let client = redis::Client::open(url)?;
        let mut c = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut c).await
    })
    .await;
    match ping {
        Ok(Ok(pong)) if pong == "PONG" => Check::ok(NAME, "answers PING"),
        Ok(Ok(other)) => Check::fail(NAME, format!("answered PING with {other}")),
        Ok(Err(e)) => Check::fail(NAME, format!("does not answer: {e}")),
        Err(_) => Check::fail(NAME, format!("no answer within {} s", TIMEOUT.as_secs())),
    }
}

async fn smtp(url: &str) -> Check {
    use lettre::{AsyncSmtpTransport, Tokio1Executor};
    const NAME: &str = "smtp";
    let transport: AsyncSmtpTransport<Tokio1Executor> =
        match AsyncSmtpTransport::<Tokio1Executor>::from_url(url) {
            Ok(t) => t.timeout(Some(TIMEOUT)).build(),
            Err(_) => return Check::fail(NAME, "SMTP_URL is not a valid SMTP URL"),
        };
    match transport.test_connection().await {
        Ok(true) => Check::ok(NAME, "the server greets"),
        Ok(false) => Check::fail(NAME, "the server did not greet"),
        Err(e) => Check::fail(NAME, format!("no greeting: {e}")),
    }
}

fn public_url(config: &Config) -> Check {
    const NAME: &str = "public url";
    let https = config.public_url.starts_with("https://");
    match (config.stripe.mode, https) {
        (_, true) => Check::ok(NAME, format!("{} is https", config.public_url)),
        (KeyMode::Test, false) => Check::ok(
            NAME,
            format!(
                "{} (http is allowed with test keys only)",
                config.public_url
            ),
        ),
        (KeyMode::Live, false) => Check::fail(
            NAME,
            format!("{} must be https with live keys", config.public_url),
        ),
    }
}
