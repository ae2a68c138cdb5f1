//! `caisse stripe setup`: registers caisse's webhook endpoint through Stripe's API, receiving
//! exactly the event types caisse acts on, in the API version it reads. Standard output carries
//! the signing secret and nothing else, so that `caisse stripe setup --url … > secret` works;
//! every message goes to standard error.

use std::path::Path;

use caisse_shop::config::{ConfigError, KeyMode, Mode};
use caisse_shop::doctor;

use super::{init_logs, load, Failure, Result};

pub async fn setup(file: Option<&Path>, url: Option<&str>) -> Result<()> {
    let config = load(file, Mode::Stripe, |_| {}, None)?;
    init_logs(config.log_format);
    let url = url.map_or_else(|| doctor::webhook_url(&config), str::to_string);
    let https = url.starts_with("https://");
    if !(https || url.starts_with("http://")) || url.contains(char::is_whitespace) {
        return Err(Failure::Config(vec![ConfigError {
            variable: "--url".into(),
            problem: "must be an http(s) URL, such as https://shop.example/api/webhooks/stripe"
                .into(),
        }]));
    }
    if config.stripe.mode == KeyMode::Live && !https {
        return Err(Failure::Config(vec![ConfigError {
            variable: "--url".into(),
            problem: "must be https with live keys (Stripe calls live endpoints over https only)"
                .into(),
        }]));
    }
    let client = doctor::stripe_client(&config)?;
    let events = caisse_shop::webhooks::HANDLED;
    let version = caisse_stripe::API_VERSION;
    let existing = client
        .list_webhook_endpoints()
        .await
        .map_err(|e| anyhow::anyhow!("cannot list Stripe's webhook endpoints: {e}"))?;
    let mine: Vec<_> = existing.iter().filter(|e| e.url == url).collect();
    let Some(first) = mine.first() else {
        let made = client
            .create_webhook_endpoint(&url, events, version, "caisse")
            .await
            .map_err(|e| anyhow::anyhow!("Stripe refused the webhook endpoint: {e}"))?;
        let Some(secret) = made.secret else {
            return Err(anyhow::anyhow!(
                "Stripe made endpoint {} but sent no signing secret; roll its secret in Stripe's dashboard",
                made.id
            )
            .into());
        };
        eprintln!(
            "created webhook endpoint {} for {url}: {} event types, API version {version}",
            made.id,
            events.len()
        );
        eprintln!("its signing secret is on standard output: put it in STRIPE_WEBHOOK_SECRET");
        say!("{secret}");
        return Ok(());
    };
    let updated = client
        .update_webhook_endpoint(&first.id, events, "caisse")
        .await
        .map_err(|e| anyhow::anyhow!("Stripe refused to update endpoint {}: {e}", first.id))?;
    eprintln!(
        "updated webhook endpoint {} for {url}: enabled, {} event types",
        updated.id,
        events.len()
    );
    eprintln!(
        "Stripe shows an endpoint's signing secret only when it creates it: keep the STRIPE_WEBHOOK_SECRET you have. \
         To roll it, use \"Roll secret\" on the endpoint in Stripe's dashboard (Developers > Webhooks) and set \
         STRIPE_WEBHOOK_SECRET to the new and the old secret, comma-separated, until the old one expires."
    );
    for other in &mine[1..] {
        eprintln!(
            "note: endpoint {} also has this URL; Stripe delivers each event to both (delete one in the dashboard)",
            other.id
        );
    }
    if updated.api_version.as_deref() != Some(version) {
        return Err(anyhow::anyhow!(
            "endpoint {} sends events in API version {}, caisse reads {version}, and Stripe changes no endpoint's \
             version: delete the endpoint in Stripe's dashboard and run caisse stripe setup again (it makes a new secret)",
            updated.id,
            updated.api_version.as_deref().unwrap_or("of the account's default")
        )
        .into());
    }
    Ok(())
}
