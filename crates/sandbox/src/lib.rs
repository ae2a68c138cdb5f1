//! A stateful emulator of the Stripe API subset caisse uses (DESIGN.md 1.10), for development and
//! tests on machines that cannot reach Stripe: Checkout Sessions, PaymentIntents (with manual
//! capture), Events, Refunds, Products, Prices and Webhook Endpoints with Stripe's form encoding,
//! error shape, API keys and idempotency; a hosted payment page where test cards decide the
//! outcome; sessions that expire on a clock tests can move; and signed webhooks delivered to every endpoint that takes them with
//! Stripe's retries, plus chaos to duplicate, reorder or drop them.
//!
//! It depends on `caisse-stripe` for signing and encoding, never on the shop.
//!
//! State: one mutex over the whole account ([`Shared::with_account`]). Every API call, page
//! submission, control call and clock tick makes its whole change under it, with no await inside,
//! so a payment and an expiry of the same session happen one before the other, never
//! interleaved (a session paid at its last second is paid, or expired, not both), and the events
//! a change emits are queued for delivery in the same critical section, in causal order (chaos
//! then reorders deliveries on purpose). A sandbox serves tests, not traffic: one lock is fast
//! enough (caisse-bench measures 17,000 to 22,000 session creations a second through it).

mod api;
mod catalog;
mod control;
mod countries;
mod currencies;
pub mod delivery;
pub mod disputes;
pub mod endpoints;
mod error;
mod fields;
mod page;
mod params;
mod random;
mod rate_limit;
mod refunds;
mod sessions;
pub mod shapes;
pub mod shipping;
pub mod smtp;
pub mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use serde_json::Value;
use tokio::sync::mpsc;

pub use delivery::{Attempt, Chaos, DeliveryConfig};
pub use error::ApiError;
pub use state::{Method, Outcome, IBAN_FAILS, IBAN_SUCCEEDS};

use delivery::Deliverer;
use state::{Account, Cause};

/// How to run a sandbox.
#[derive(Clone, Debug)]
pub struct SandboxOptions {
    pub listen: SocketAddr,
    /// Base of the URLs the sandbox hands out (hosted pages); default `http://{bound address}`.
    pub public_url: Option<String>,
    /// Where webhooks go: an endpoint for every event type, made at start with the delivery's
    /// secrets; without it, events go to the endpoints made through `/v1/webhook_endpoints`.
    pub forward_to: Option<String>,
    pub delivery: DeliveryConfig,
    pub chaos: Chaos,
    /// How often time acts on its own (expiries, SEPA settlements).
    pub tick: Duration,
    /// Sandbox seconds a SEPA debit takes to settle.
    pub settle_after_secs: i64,
    /// The account's default API version: every event is stamped with it, unless it goes to an
    /// endpoint made with a version of its own.
    pub api_version: String,
    /// Stripe's test-mode rate limit (`rate_limit`): off by default, so tests may be fast.
    pub rate_limit: bool,
}

/// The API version Stripe's official SDKs pin today (stripe-python 16.1.0), the default version of
/// the sandbox's webhook endpoint. `caisse dev` sets caisse's own (`caisse_stripe::API_VERSION`).
pub const SDK_API_VERSION: &str = "2026-10-28.endive";

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            forward_to: None,
            delivery: DeliveryConfig::default(),
            chaos: Chaos::default(),
            tick: Duration::from_millis(500),
            settle_after_secs: 3,
            api_version: SDK_API_VERSION.into(),
            rate_limit: false,
        }
    }
}

/// Does `v` look like a Stripe API version (`2024-06-20`, `2026-10-28.endive`): a real calendar
/// date, then optionally a dot and a lowercase release name?
pub fn is_api_version(v: &str) -> bool {
    let (date, name) = v.split_once('.').unwrap_or((v, "x"));
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = date.split('-').collect();
    let well_formed = matches!(parts.as_slice(), [y, m, d] if digits(y, 4) && digits(m, 2) && digits(d, 2))
        && !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_lowercase());
    // A real date: the day it names, written back, is the same text (no 2026-02-30).
    well_formed && {
        let n = |i: usize| parts[i].parse::<i64>().unwrap_or(0);
        let (y, m, d) = (n(0), n(1), n(2));
        (1..=12).contains(&m)
            && (1..=31).contains(&d)
            && civil_date(days_from_civil(y, m, d)) == date
    }
}

/// Is `v` a version Stripe could have released by `now` (unix seconds, the sandbox's clock): well
/// formed and dated no later than that day (UTC)? Real Stripe knows every version it released;
/// the sandbox has no list of them, so every well-formed past date passes and SDKs released after
/// the sandbox keep working.
pub fn is_released_api_version(v: &str, now: i64) -> bool {
    is_api_version(v) && v[..10] <= *civil_date(now.div_euclid(86_400))
}

/// Is `api_version` 2025-03-31.basil or later? That release moved a session's shipping details to
/// `collected_information.shipping_details`, and stopped counting an authorization released
/// uncaptured (a partial capture's rest, a cancel, an expiry) as refunded.
pub fn from_basil(api_version: &str) -> bool {
    api_version.get(..10).is_some_and(|d| d >= "2025-03-31")
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of a day counted from 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// What every handler shares.
#[derive(Clone)]
pub struct Shared {
    account: Arc<Mutex<Account>>,
    pub(crate) base_url: Arc<str>,
    events: mpsc::UnboundedSender<Value>,
    pub(crate) deliverer: Deliverer,
    /// Stripe's test-mode rate limit, when the sandbox was asked for it.
    pub(crate) rate_limit: Option<Arc<rate_limit::RateLimiter>>,
}

impl Shared {
    /// Runs `f` on the account under its lock, then hands the events it emitted to delivery, in
    /// order, before the lock is released.
    pub(crate) fn with_account<R>(&self, f: impl FnOnce(&mut Account) -> R) -> R {
        let mut account = self.account.lock().unwrap_or_else(|p| p.into_inner());
        let result = f(&mut account);
        for event in account.outgoing.drain(..) {
            let _ = self.events.send(event);
        }
        result
    }

    /// Points the `--forward-to` endpoint at `url` (made with the delivery's secrets and the
    /// account's API version when there is none), or deletes it (`None`).
    pub(crate) fn set_forward_to(&self, url: Option<String>) {
        let secrets = &self.deliverer.config.secrets;
        self.with_account(|a| {
            let now = a.now();
            let version = a.api_version.clone();
            a.endpoints.lock().set_forward(url, secrets, &version, now)
        });
    }

    /// Consumes one injected failure, if any is armed.
    pub(crate) fn take_fault(&self) -> Option<u16> {
        self.with_account(|a| match a.faults {
            Some((n, status)) => {
                a.faults = (n > 1).then_some((n - 1, status));
                Some(status)
            }
            None => None,
        })
    }
}

/// A sandbox serving in the background.
pub struct RunningSandbox {
    pub addr: SocketAddr,
    shared: Shared,
    stop: tokio::sync::oneshot::Sender<()>,
    join: tokio::task::JoinHandle<std::io::Result<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningSandbox {
    /// The API base to give a Stripe client (`STRIPE_API_BASE`).
    pub fn url(&self) -> &str {
        &self.shared.base_url
    }

    pub fn pay(&self, session_id: &str, method: Method) -> Result<Outcome, ApiError> {
        self.pay_with(session_id, method, &shipping::Entered::default())
    }

    /// Pays after entering the page's shipping and phone fields.
    pub fn pay_with(
        &self,
        session_id: &str,
        method: Method,
        entered: &shipping::Entered,
    ) -> Result<Outcome, ApiError> {
        self.shared.with_account(|a| {
            a.enter_shipping(session_id, entered)?;
            a.pay(
                session_id,
                &method,
                None,
                &self.shared.base_url,
                &Cause::default(),
            )
        })
    }

    /// Ends the 3-D Secure challenge of a session's payment, completed or failed.
    pub fn authenticate(&self, session_id: &str, complete: bool) -> Result<Outcome, ApiError> {
        self.shared.with_account(|a| {
            a.authenticate(
                session_id,
                complete,
                &self.shared.base_url,
                &Cause::default(),
            )
        })
    }

    /// Moves the sandbox clock forward and lets expiries and settlements happen.
    pub fn advance_clock(&self, seconds: i64) {
        self.shared
            .with_account(|a| a.advance(seconds, &self.shared.base_url));
    }

    pub fn now(&self) -> i64 {
        self.shared.with_account(|a| a.now())
    }

    pub fn set_chaos(&self, chaos: Chaos) {
        *self.shared.deliverer.chaos.lock().expect("lock") = chaos;
    }

    /// Points the `--forward-to` endpoint at `url`, or deletes it (`None`).
    pub fn set_forward_to(&self, url: Option<String>) {
        self.shared.set_forward_to(url);
    }

    /// The next `n` API calls answer `status`.
    pub fn fail_next(&self, n: u32, status: u16) {
        self.shared
            .with_account(|a| a.faults = (n > 0).then_some((n, status)));
    }

    /// Every API call answers `ms` milliseconds later than it would, before it runs.
    pub fn set_latency(&self, ms: u64) {
        self.shared.with_account(|a| a.latency_ms = ms);
    }

    /// Every API call runs at once, then waits `ms` milliseconds before answering.
    pub fn set_answer_delay(&self, ms: u64) {
        self.shared.with_account(|a| a.answer_delay_ms = ms);
    }

    /// Every event kept (the last 30 days), oldest first.
    pub fn events(&self) -> Vec<Value> {
        self.shared
            .with_account(|a| a.events.iter().cloned().collect())
    }

    pub fn deliveries(&self) -> Vec<Attempt> {
        self.shared.deliverer.log.lock().expect("lock").clone()
    }

    pub fn session(&self, id: &str) -> Option<Value> {
        self.shared.with_account(|a| {
            a.sessions
                .get(id)
                .map(|s| a.session_json(s, &self.shared.base_url))
        })
    }

    pub async fn stop(self) -> std::io::Result<()> {
        for t in &self.tasks {
            t.abort();
        }
        let _ = self.stop.send(());
        self.join
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

/// Binds and serves a sandbox in the background.
pub async fn start(options: SandboxOptions) -> std::io::Result<RunningSandbox> {
    let listener = tokio::net::TcpListener::bind(options.listen).await?;
    let addr = listener.local_addr()?;
    let base_url: Arc<str> = options
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .into();
    let (events, receiver) = mpsc::unbounded_channel();
    let account = Account {
        settle_after: options.settle_after_secs,
        api_version: options.api_version.clone(),
        ..Account::default()
    };
    let deliverer = Deliverer::new(
        options.delivery.clone(),
        account.endpoints.clone(),
        options.chaos.clone(),
    );
    let shared = Shared {
        account: Arc::new(Mutex::new(account)),
        base_url,
        events,
        deliverer: deliverer.clone(),
        rate_limit: options.rate_limit.then(Default::default),
    };

    if options.forward_to.is_some() {
        shared.set_forward_to(options.forward_to.clone());
    }

    let ticker = {
        let shared = shared.clone();
        let tick = options.tick;
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick);
            loop {
                interval.tick().await;
                shared.with_account(|a| a.expire_due(&shared.base_url));
            }
        })
    };
    let delivery = tokio::spawn(deliverer.run(receiver));

    let app = router(shared.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let join = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    Ok(RunningSandbox {
        addr,
        shared,
        stop,
        join,
        tasks: vec![ticker, delivery],
    })
}

fn router(shared: Shared) -> Router {
    Router::new()
        .merge(api::routes(shared.clone()))
        .merge(page::routes())
        .merge(control::routes())
        .fallback(unrecognized)
        .method_not_allowed_fallback(unrecognized)
        .with_state(shared)
}

/// Stripe's answer to a URL or a method it does not serve: a JSON 404, never an empty 405.
async fn unrecognized(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError {
        status: axum::http::StatusCode::NOT_FOUND,
        ..ApiError::invalid(
            format!(
                "Unrecognized request URL ({method}: {}). The sandbox emulates only the API caisse uses.",
                uri.path()
            ),
            None,
        )
    }
}
