//! Webhook delivery as Stripe does it: each event POSTed to every enabled endpoint whose filter
//! takes its type (`endpoints`), in that endpoint's API version, signed afresh at every attempt
//! with the endpoint's secret (one `v1` per secret during a rotation), retried with back-off on a
//! non-2xx answer or a time-out. Chaos switches make the sandbox a worse network on purpose: duplicate every delivery,
//! delay each by a random time (which reorders them), or drop a share of first attempts.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::endpoints::Endpoints;
use crate::random;

/// How events are delivered.
#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    /// The signing secrets of the endpoint `--forward-to` makes (a fresh one when empty).
    pub secrets: Vec<String>,
    /// Wait before each retry; its length is the number of retries.
    pub retry_schedule: Vec<Duration>,
    pub timeout: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            secrets: Vec::new(),
            // Test mode retries for a few hours; this is that, compressed.
            retry_schedule: [5, 30, 120, 600, 3600].map(Duration::from_secs).to_vec(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// How much worse than a perfect network delivery is. Stripe guarantees no order and may send an
/// event twice, so by default ([`Chaos::default`]) the sandbox delays each attempt by up to
/// 300 ms (which reorders them) and sends 5 % of events twice; [`Chaos::strict`] (`caisse
/// sandbox --strict-order`) delivers one copy of each, in order.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, Serialize)]
pub struct Chaos {
    /// Send every event twice, concurrently.
    #[serde(default)]
    pub duplicate: bool,
    /// Probability (0 to 1) that an event is sent twice, concurrently.
    #[serde(default)]
    pub duplicate_share: f64,
    /// Delay each attempt by a random time up to this many milliseconds (reorders deliveries).
    #[serde(default)]
    pub max_delay_ms: u64,
    /// Probability (0 to 1) that a first attempt is dropped, as if the network lost it.
    #[serde(default)]
    pub drop_first: f64,
}

impl Default for Chaos {
    fn default() -> Self {
        Chaos {
            duplicate: false,
            duplicate_share: 0.05,
            max_delay_ms: 300,
            drop_first: 0.0,
        }
    }
}

impl Chaos {
    /// One copy of each event, delivered in the order it happened.
    pub fn strict() -> Chaos {
        Chaos {
            duplicate: false,
            duplicate_share: 0.0,
            max_delay_ms: 0,
            drop_first: 0.0,
        }
    }
}

/// One attempt, as `/_sandbox/deliveries` lists it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Attempt {
    pub event_id: String,
    pub event_type: String,
    /// The webhook endpoint (`we_…`) it went to.
    pub endpoint: String,
    /// 0 for the original, 1 for the chaos duplicate.
    pub copy: u32,
    pub attempt: u32,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub dropped: bool,
    /// When the attempt ended, in ms since the sandbox started.
    pub elapsed_ms: u64,
    /// How long the endpoint took to answer.
    pub duration_ms: u64,
}

#[derive(Clone)]
pub struct Deliverer {
    pub config: Arc<DeliveryConfig>,
    pub endpoints: Endpoints,
    pub chaos: Arc<Mutex<Chaos>>,
    pub log: Arc<Mutex<Vec<Attempt>>>,
    http: reqwest::Client,
    started: Instant,
}

impl Deliverer {
    /// The (event, endpoint) pairs an attempt delivered (the endpoint answered a 2xx).
    pub fn delivered(&self) -> std::collections::HashSet<(String, String)> {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|a| a.status.is_some_and(|s| (200..300).contains(&s)))
            .map(|a| (a.event_id.clone(), a.endpoint.clone()))
            .collect()
    }

    pub fn new(config: DeliveryConfig, endpoints: Endpoints, chaos: Chaos) -> Deliverer {
        // Stripe follows no redirect: a 3xx is a failed delivery, retried like any non-2xx.
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client with a timeout");
        Deliverer {
            config: Arc::new(config),
            endpoints,
            chaos: Arc::new(Mutex::new(chaos)),
            log: Arc::new(Mutex::new(Vec::new())),
            http,
            started: Instant::now(),
        }
    }

    /// Takes events in creation order and delivers each to each of its endpoints on its own task.
    pub async fn run(self, mut events: mpsc::UnboundedReceiver<Value>) {
        while let Some(event) = events.recv().await {
            let targets: Vec<(String, Value)> = {
                let registry = self.endpoints.lock();
                let kind = event["type"].as_str().unwrap_or_default();
                registry
                    .list
                    .iter()
                    .filter(|e| e.receives(kind))
                    .map(|e| {
                        // Stripe renders an event in the version of the endpoint it goes to.
                        let mut event = event.clone();
                        if let Some(v) = &e.api_version {
                            event["api_version"] = v.as_str().into();
                        }
                        (e.id.clone(), event)
                    })
                    .collect()
            };
            for (endpoint, event) in targets {
                self.dispatch(event, endpoint).await;
            }
        }
    }

    /// One event to one endpoint: in order under strict chaos, else on tasks of its own.
    async fn dispatch(&self, event: Value, endpoint: String) {
        let copies = {
            let chaos = self.chaos.lock().expect("lock");
            let twice = chaos.duplicate || random::chance(chaos.duplicate_share);
            if twice {
                2
            } else {
                1
            }
        };
        let payload = serde_json::to_vec(&event).expect("events serialise");
        let target = Target {
            event,
            payload,
            endpoint,
        };
        if *self.chaos.lock().expect("lock") == Chaos::strict() {
            // In order: each event's first attempt ends before the next event's starts; a
            // failed one is retried on the side, as Stripe would.
            if self.attempt(&target, 0, 1).await == Some(false) {
                let me = self.clone();
                tokio::spawn(async move {
                    if let Some(wait) = me.config.retry_schedule.first() {
                        tokio::time::sleep(*wait).await;
                        me.retry_from(&target, 0, 2).await;
                    }
                });
            }
            return;
        }
        let target = Arc::new(target);
        for copy in 0..copies {
            let (me, target) = (self.clone(), target.clone());
            tokio::spawn(async move { me.retry_from(&target, copy, 1).await });
        }
    }

    /// Every attempt at one copy of an event, from attempt `first`, until one succeeds or the
    /// retries run out.
    async fn retry_from(&self, target: &Target, copy: u32, first: u32) {
        let mut attempt = first;
        loop {
            match self.attempt(target, copy, attempt).await {
                Some(false) => {}
                Some(true) | None => return,
            }
            let Some(wait) = self.config.retry_schedule.get(attempt as usize - 1) else {
                return;
            };
            tokio::time::sleep(*wait).await;
            attempt += 1;
        }
    }

    /// One attempt: whether the endpoint answered a 2xx, or `None` when the endpoint is gone
    /// (deleted or disabled).
    async fn attempt(&self, target: &Target, copy: u32, attempt: u32) -> Option<bool> {
        let text = |k: &str| target.event[k].as_str().unwrap_or_default().to_string();
        // Each attempt goes to the endpoint as it is now: a retry after its URL or secret changed
        // uses the new one; a deleted or disabled endpoint is no longer delivered to.
        let (url, secrets) = {
            let registry = self.endpoints.lock();
            let e = registry.get(&target.endpoint).filter(|e| !e.disabled)?;
            (e.url.clone(), e.secrets.clone())
        };
        let (delay, drop) = {
            let chaos = self.chaos.lock().expect("lock");
            (
                random::up_to(chaos.max_delay_ms),
                attempt == 1 && random::chance(chaos.drop_first),
            )
        };
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let started = Instant::now();
        let (status, error) = if drop {
            (None, Some("dropped by chaos".to_string()))
        } else {
            self.post(&url, &secrets, &target.payload).await
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        self.log.lock().expect("lock").push(Attempt {
            event_id: text("id"),
            event_type: text("type"),
            endpoint: target.endpoint.clone(),
            copy,
            attempt,
            status,
            error,
            dropped: drop,
            elapsed_ms: self.started.elapsed().as_millis() as u64,
            duration_ms,
        });
        Some(ok)
    }

    async fn post(
        &self,
        url: &str,
        secrets: &[String],
        payload: &[u8],
    ) -> (Option<u16>, Option<String>) {
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let header = caisse_stripe::signature_header(&secrets, crate::state::system_now(), payload);
        let result = self
            .http
            .post(url)
            .header("content-type", "application/json; charset=utf-8")
            .header("stripe-signature", header)
            .header(
                "user-agent",
                "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            )
            .body(payload.to_vec())
            .send()
            .await;
        match result {
            Ok(r) => (Some(r.status().as_u16()), None),
            Err(e) if e.is_timeout() => (None, Some("timed out".into())),
            Err(e) => (None, Some(e.without_url().to_string())),
        }
    }
}

/// One event on its way to one endpoint, rendered in that endpoint's version.
struct Target {
    event: Value,
    payload: Vec<u8>,
    endpoint: String,
}
