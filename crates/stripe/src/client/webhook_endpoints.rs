//! Webhook endpoints (`/v1/webhook_endpoints`): what `caisse stripe setup` registers and `caisse
//! doctor` checks, and Stripe's clock as its `Date` header gives it.

use std::fmt;

use reqwest::header::AUTHORIZATION;
use reqwest::Method;
use serde::Deserialize;

use super::{network_error, path_segment, Client};
use crate::form::Form;
use crate::objects::List;
use crate::StripeError;

/// A webhook endpoint as Stripe answers it. `Debug` never shows the signing secret.
#[derive(Clone, Deserialize, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    #[serde(default)]
    pub enabled_events: Vec<String>,
    /// The version its events are rendered in; `None`: the account's default.
    #[serde(default)]
    pub api_version: Option<String>,
    /// `enabled` or `disabled`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub livemode: bool,
    /// The signing secret (`whsec_…`): only in the answer that created the endpoint.
    #[serde(default)]
    pub secret: Option<String>,
}

impl fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("enabled_events", &self.enabled_events)
            .field("api_version", &self.api_version)
            .field("status", &self.status)
            .field("livemode", &self.livemode)
            .field("secret", &self.secret.as_ref().map(|_| "whsec_****"))
            .finish()
    }
}

impl WebhookEndpoint {
    pub fn is_enabled(&self) -> bool {
        self.status == "enabled"
    }

    /// The types of `wanted` this endpoint does not receive (`*` receives every type).
    pub fn missing_events<'a>(&self, wanted: &[&'a str]) -> Vec<&'a str> {
        if self.enabled_events.iter().any(|e| e == "*") {
            return Vec::new();
        }
        wanted
            .iter()
            .copied()
            .filter(|w| !self.enabled_events.iter().any(|e| e == w))
            .collect()
    }
}

fn events_form(form: &mut Form, events: &[&str]) {
    for (i, e) in events.iter().enumerate() {
        form.push(format!("enabled_events[{i}]"), e);
    }
}

impl Client {
    /// Registers an endpoint for `url` receiving `events`, rendered in `api_version`; the answer
    /// carries its signing secret (the only one that does).
    pub async fn create_webhook_endpoint(
        &self,
        url: &str,
        events: &[&str],
        api_version: &str,
        description: &str,
    ) -> Result<WebhookEndpoint, StripeError> {
        let mut form = Form::new()
            .with("url", url)
            .with("api_version", api_version)
            .with("description", description);
        events_form(&mut form, events);
        self.post("/v1/webhook_endpoints", &form, None).await
    }

    /// Sets an endpoint's events and description, and enables it. (Stripe changes no endpoint's
    /// API version: that takes a new endpoint.)
    pub async fn update_webhook_endpoint(
        &self,
        id: &str,
        events: &[&str],
        description: &str,
    ) -> Result<WebhookEndpoint, StripeError> {
        let mut form = Form::new()
            .with("description", description)
            .with("disabled", "false");
        events_form(&mut form, events);
        let path = format!("/v1/webhook_endpoints/{}", path_segment(id));
        self.post(&path, &form, None).await
    }

    /// Every webhook endpoint of the account, page by page.
    pub async fn list_webhook_endpoints(&self) -> Result<Vec<WebhookEndpoint>, StripeError> {
        let mut all: Vec<WebhookEndpoint> = Vec::new();
        loop {
            let mut query = Form::new().with("limit", 100);
            if let Some(last) = all.last() {
                query.push("starting_after", &last.id);
            }
            let page: List<WebhookEndpoint> = self.get("/v1/webhook_endpoints", &query).await?;
            all.extend(page.data);
            if !page.has_more {
                return Ok(all);
            }
        }
    }

    /// Stripe's clock: the `Date` header (unix seconds) of one authenticated call, whatever it
    /// answered. Not retried and not traced: a check, not a request that changes anything.
    pub async fn server_time(&self) -> Result<i64, StripeError> {
        if let Some(guard) = self.options.guard {
            guard("a Stripe request").map_err(StripeError::Refused)?;
        }
        let response = self
            .http
            .request(
                Method::GET,
                format!("{}/v1/webhook_endpoints?limit=1", self.options.api_base),
            )
            .header(AUTHORIZATION, self.auth.clone())
            .send()
            .await
            .map_err(network_error)?;
        let date = response
            .headers()
            .get("date")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| StripeError::Decode("no Date header".into()))?;
        let time = httpdate::parse_http_date(date).map_err(|_| {
            StripeError::Decode(format!("a Date header that is not a date: {date}"))
        })?;
        Ok(time
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64))
    }
}
