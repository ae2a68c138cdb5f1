//! Webhook endpoints as Stripe keeps them: each with its URL, its own `whsec_` signing secret,
//! its `enabled_events` filter (`*` for every type), its API version (stamped on the events it
//! receives) and an enabled or disabled status. Deliveries go to every enabled endpoint whose
//! filter matches the event's type.
//!
//! The registry is shared by the account (the API creates, updates and deletes endpoints under
//! the account's lock) and the deliverer (each attempt reads the endpoint as it is then: a new
//! URL or secret applies to the next retry, a deleted or disabled endpoint gets no more). Its
//! lock is only ever taken alone or inside the account's, never the other way round.

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Map, Value};

use crate::random;
use crate::state::new_id;

/// One webhook endpoint.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    /// Signing secrets: the endpoint's own, and more when `caisse sandbox` is given several
    /// `--webhook-secret` (a rotation): every delivery carries one `v1` per secret.
    pub secrets: Vec<String>,
    pub enabled_events: Vec<String>,
    /// The version its events are rendered in; `None` is the account's default.
    pub api_version: Option<String>,
    pub disabled: bool,
    pub description: Option<String>,
    pub metadata: Map<String, Value>,
    pub created: i64,
}

impl Endpoint {
    /// Whether an event of type `kind` goes to this endpoint.
    pub fn receives(&self, kind: &str) -> bool {
        !self.disabled && self.enabled_events.iter().any(|e| e == "*" || e == kind)
    }

    /// Stripe's `webhook_endpoint` object; the secret only in the answer that created it.
    pub fn json(&self, with_secret: bool) -> Value {
        let mut v = json!({
            "id": self.id,
            "object": "webhook_endpoint",
            "api_version": self.api_version,
            "application": null,
            "created": self.created,
            "description": self.description,
            "enabled_events": self.enabled_events,
            "livemode": false,
            "metadata": self.metadata,
            "status": if self.disabled { "disabled" } else { "enabled" },
            "url": self.url,
        });
        if with_secret {
            v["secret"] = self.secrets.first().cloned().into();
        }
        v
    }
}

/// A fresh signing secret, as Stripe makes them.
pub fn new_secret() -> String {
    format!("whsec_{}", random::alphanumeric(32))
}

/// Every endpoint, oldest first, and which one `--forward-to` made.
#[derive(Debug, Default)]
pub struct Registry {
    pub list: Vec<Endpoint>,
    /// The endpoint made for `--forward-to` (and moved by `POST /_sandbox/webhook`).
    pub forward: Option<String>,
}

impl Registry {
    pub fn get(&self, id: &str) -> Option<&Endpoint> {
        self.list.iter().find(|e| e.id == id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Endpoint> {
        self.list.iter_mut().find(|e| e.id == id)
    }

    /// The endpoints an event of type `kind` goes to now.
    pub fn targets(&self, kind: &str) -> Vec<String> {
        self.list
            .iter()
            .filter(|e| e.receives(kind))
            .map(|e| e.id.clone())
            .collect()
    }

    /// Points the `--forward-to` endpoint at `url` (made with `secrets`, every event type and
    /// `api_version`, the account's, when there is none), or deletes it (`None`). Its version is
    /// written out, as for an endpoint made with one: what it sends is pinned, which is what
    /// `caisse doctor` checks.
    pub fn set_forward(
        &mut self,
        url: Option<String>,
        secrets: &[String],
        api_version: &str,
        now: i64,
    ) {
        let current = self.forward.clone();
        match (url, current) {
            (Some(url), Some(id)) if self.get(&id).is_some() => {
                self.get_mut(&id).expect("checked").url = url;
            }
            (Some(url), _) => {
                let id = new_id("we_");
                self.list.push(Endpoint {
                    id: id.clone(),
                    url,
                    secrets: if secrets.is_empty() {
                        vec![new_secret()]
                    } else {
                        secrets.to_vec()
                    },
                    enabled_events: vec!["*".into()],
                    api_version: Some(api_version.to_string()),
                    disabled: false,
                    description: Some("--forward-to".into()),
                    metadata: Map::new(),
                    created: now,
                });
                self.forward = Some(id);
            }
            (None, Some(id)) => {
                self.list.retain(|e| e.id != id);
                self.forward = None;
            }
            (None, None) => {}
        }
    }
}

/// The registry as the account and the deliverer share it.
#[derive(Clone, Debug, Default)]
pub struct Endpoints(Arc<Mutex<Registry>>);

impl Endpoints {
    pub fn lock(&self) -> MutexGuard<'_, Registry> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
