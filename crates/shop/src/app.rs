//! The running application's shared state: configuration, store, Stripe client, rate limiter and
//! metrics, handed to every handler and worker.

use std::sync::Arc;

use caisse_stripe::{Client, ClientOptions};

use crate::config::Config;
use crate::email::Mailer;
use crate::failure_alarm::FailureAlarm;
use crate::finished_events::FinishedEvents;
use crate::password_checks::PasswordChecks;
use crate::ratelimit::{RateLimiter, RedisLimiter};
use crate::signature_alarm::SignatureAlarm;
use crate::store::{OutageAlarm, Store, WriteProbe};
use crate::stripe_log::StripeLog;
use crate::telemetry;

/// Everything a request handler or a background job needs, behind one reference count: axum
/// clones the state for every handler and middleware of every request, and a clone of the parts
/// one by one (a dozen counts, the Stripe client's) was 4 % of a webhook's CPU (perf, issue 23).
#[derive(Clone)]
pub struct App(Arc<AppParts>);

impl std::ops::Deref for App {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// What an [`App`] holds.
pub struct AppParts {
    pub config: Arc<Config>,
    pub store: Store,
    pub stripe: Client,
    /// The trace of `stripe`'s exchanges, written in batches off the calls' path.
    pub stripe_log: Arc<StripeLog>,
    pub limiter: Arc<RateLimiter>,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    pub signature_alarm: Arc<SignatureAlarm>,
    pub mailer: Mailer,
    /// Wakes the outbox worker when an effect queued a message.
    pub outbox_wake: Arc<tokio::sync::Notify>,
    /// The database outage this instance's webhook deliveries are living through, if any.
    pub db_outage: Arc<OutageAlarm>,
    /// Events this instance saw finished: a redelivery is answered without a query.
    pub finished_events: Arc<FinishedEvents>,
    /// Where the dashboard's password checks run (`CAISSE_ADMIN_MAX_CONCURRENT_SIGNINS`).
    pub password_checks: Arc<PasswordChecks>,
    /// `/readyz`'s write probe and its last answer.
    pub write_probe: Arc<WriteProbe>,
    /// The KiB of webhook bodies read but not yet verified, across deliveries: the memory a
    /// flood of forged deliveries can take.
    pub webhook_bodies: Arc<tokio::sync::Semaphore>,
    /// The `internal_error` alerts this instance raised this hour.
    pub internal_failures: Arc<FailureAlarm>,
}

/// The budget of unverified webhook bytes, in KiB: 64 MiB, thousands of Stripe's deliveries
/// (3–11 KB each) at once, and at most 64 bodies of the default 1 MiB limit.
pub const WEBHOOK_BODY_BUDGET_KIB: usize = 64 * 1024;

impl App {
    pub fn new(config: Config, store: Store) -> anyhow::Result<App> {
        let mut options =
            ClientOptions::new(&config.stripe.api_base, config.stripe.secret_key.expose());
        options.timeout = config.stripe.timeout;
        options.guard = Some(crate::store::forbid_network_in_transaction);
        let stripe_log = Arc::new(StripeLog::start(store.clone()));
        let stripe = Client::new(options)?.with_hook(stripe_log.clone());
        let limiter = match &config.redis_url {
            Some(url) => RateLimiter::with_redis(
                RedisLimiter::new(url.expose(), config.operations.redis_timeout)?,
                store.clone(),
            ),
            None => RateLimiter::in_process(),
        };
        let mailer = Mailer::new(&config.mail.transport, config.mail.lease)?;
        let password_checks = Arc::new(PasswordChecks::start(config.admin_max_concurrent_signins)?);
        Ok(App(Arc::new(AppParts {
            config: Arc::new(config),
            store,
            stripe,
            stripe_log,
            limiter: Arc::new(limiter),
            metrics: telemetry::metrics_handle(),
            signature_alarm: Arc::new(SignatureAlarm::default()),
            mailer,
            outbox_wake: Arc::new(tokio::sync::Notify::new()),
            db_outage: Arc::default(),
            finished_events: Arc::default(),
            password_checks,
            write_probe: Arc::default(),
            webhook_bodies: Arc::new(tokio::sync::Semaphore::new(WEBHOOK_BODY_BUDGET_KIB)),
            internal_failures: Arc::default(),
        })))
    }
}
