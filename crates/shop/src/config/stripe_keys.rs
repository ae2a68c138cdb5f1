//! The Stripe key rules of DESIGN.md 1.1: the secret key (`sk_`/`rk_`) never in the publishable
//! variable, the publishable key (`pk_`) never a secret one, webhook secrets (`whsec_`, several
//! during a rotation), test and live never mixed (told apart by prefix), live keys only over
//! https; and the client's API base and time limit.

use std::time::Duration;

use super::reader::Reader;
use super::settings::{
    API_BASE, PUBLIC_URL, PUBLISHABLE_KEY, PUBLISHABLE_KEY_ALIAS, SECRET_KEY, STRIPE_TIMEOUT,
    WEBHOOK_SECRET,
};
use super::Mode;
use crate::secret::Secret;

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

pub(super) fn stripe_keys(r: &mut Reader<'_>, mode: Mode) -> StripeConfig {
    let required = mode != Mode::Tool;
    // Only what receives webhooks needs their secret; `caisse stripe setup` is what makes one.
    let webhook_required = matches!(mode, Mode::Serve | Mode::Dev);
    let secret = r.text(SECRET_KEY);
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
    r.value(PUBLISHABLE_KEY, publishable.as_deref().unwrap_or(""));
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

    let webhook = r.text(WEBHOOK_SECRET);
    let webhook_secrets: Vec<Secret> = webhook
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Secret::new)
        .collect();
    if webhook_secrets.is_empty() {
        if webhook_required {
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

    let api_base = r.text(API_BASE).trim_end_matches('/').to_string();
    if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
        r.fail(API_BASE, "must be an http:// or https:// URL");
    }
    if matches!(mode, Mode::Serve | Mode::Stripe)
        && secret_mode == Some(KeyMode::Live)
        && !api_base.starts_with("https://")
    {
        r.fail(API_BASE, "must be https:// with a live key");
    }

    let timeout = r.number::<u64>(STRIPE_TIMEOUT);
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

/// Live keys need an https public URL: the guest cookie and the payment pages must not travel in
/// clear (checked in `serve` only).
pub(super) fn live_needs_https(
    r: &mut Reader<'_>,
    mode: Mode,
    stripe: &StripeConfig,
    public_url: &str,
) {
    if mode == Mode::Serve && stripe.mode == KeyMode::Live && public_url.starts_with("http://") {
        r.fail(
            PUBLIC_URL,
            "must be https:// with live keys (cookies and payment pages must not travel in clear)",
        );
    }
}
