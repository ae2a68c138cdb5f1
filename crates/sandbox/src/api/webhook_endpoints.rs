//! Webhook endpoints: create (the answer carries the signing secret, as Stripe's does, and no
//! later one), retrieve, list, update (URL, events, description, metadata, disabled) and delete.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};

use super::idempotency::IdempotentPost;
use super::reads::{found, page, query};
use crate::endpoints::{new_secret, Endpoint};
use crate::error::ApiError;
use crate::fields;
use crate::params;
use crate::state::{new_id, Account};
use crate::Shared;

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("webhook_endpoint", id, "id")
}

/// An http(s) URL, as Stripe asks of an endpoint's.
fn url(params: &Value) -> Result<Option<String>, ApiError> {
    let Some(url) = fields::text(params, "url") else {
        return Ok(None);
    };
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            Ok(Some(url.to_string()))
        }
        _ => Err(
            ApiError::invalid(format!("Invalid URL: {url}"), Some("url")).with_code("url_invalid"),
        ),
    }
}

/// `enabled_events[]`: `*`, or event types (`checkout.session.completed`). The sandbox has no list
/// of every type Stripe sends, so it refuses only what cannot be one.
fn enabled_events(params: &Value) -> Result<Option<Vec<String>>, ApiError> {
    if params.get("enabled_events").is_none() {
        return Ok(None);
    }
    let events = fields::strings(params, "enabled_events");
    if events.is_empty() {
        return Err(ApiError::invalid(
            "enabled_events must list at least one event type, or *.",
            Some("enabled_events"),
        ));
    }
    for (i, e) in events.iter().enumerate() {
        let part =
            |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        let parts: Vec<&str> = e.split('.').collect();
        if e != "*" && !(parts.len() >= 2 && parts.iter().all(|p| part(p))) {
            return Err(ApiError::invalid(
                format!("Invalid enabled_events[{i}]: must be * or an event type such as charge.succeeded, not {e}"),
                Some(&format!("enabled_events[{i}]")),
            ));
        }
    }
    Ok(Some(events))
}

pub(super) async fn create(post: IdempotentPost) -> Response {
    post.run(&params::CREATE_WEBHOOK_ENDPOINT, |a, p, _| {
        let url = url(p)?.ok_or_else(|| ApiError::missing("url"))?;
        let enabled_events =
            enabled_events(p)?.ok_or_else(|| ApiError::missing("enabled_events"))?;
        let api_version = fields::text(p, "api_version").map(str::to_string);
        if let Some(v) = &api_version {
            if !crate::is_released_api_version(v, a.now()) {
                return Err(ApiError::invalid(
                    format!("Invalid Stripe API version: {v}"),
                    Some("api_version"),
                ));
            }
        }
        let endpoint = Endpoint {
            id: new_id("we_"),
            url,
            secrets: vec![new_secret()],
            enabled_events,
            api_version,
            disabled: false,
            description: fields::text(p, "description").map(str::to_string),
            metadata: fields::metadata(p, "metadata")?,
            created: a.now(),
        };
        let answer = endpoint.json(true);
        a.endpoints.lock().list.push(endpoint);
        Ok(answer)
    })
}

pub(super) async fn update(Path(id): Path<String>, post: IdempotentPost) -> Response {
    post.run(&params::UPDATE_WEBHOOK_ENDPOINT, |a: &mut Account, p, _| {
        let url = url(p)?;
        let events = enabled_events(p)?;
        let disabled = fields::boolean(p, "disabled")?;
        let metadata = p
            .get("metadata")
            .map(|_| fields::metadata(p, "metadata"))
            .transpose()?;
        let mut registry = a.endpoints.lock();
        let e = registry.get_mut(&id).ok_or_else(|| not_found(&id))?;
        if let Some(url) = url {
            e.url = url;
        }
        if let Some(events) = events {
            e.enabled_events = events;
        }
        if let Some(d) = disabled {
            e.disabled = d;
        }
        if let Some(d) = p.get("description").and_then(Value::as_str) {
            e.description = (!d.is_empty()).then(|| d.to_string());
        }
        if let Some(m) = metadata {
            fields::merge_metadata(&mut e.metadata, m);
        }
        Ok(e.json(false))
    })
}

pub(super) async fn retrieve(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    query(raw, &params::RETRIEVE)?;
    let endpoint = shared.with_account(|a| a.endpoints.lock().get(&id).map(|e| e.json(false)));
    found(endpoint, "webhook_endpoint", &id, "id")
}

/// Newest first, as Stripe lists them.
pub(super) async fn list(
    State(shared): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(raw, &params::LIST_WEBHOOK_ENDPOINTS)?;
    let items = shared.with_account(|a| {
        let registry = a.endpoints.lock();
        registry.list.iter().rev().map(|e| e.json(false)).collect()
    });
    page(items, &q, "/v1/webhook_endpoints")
}

pub(super) async fn delete(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    query(raw, &params::RETRIEVE)?;
    shared.with_account(|a| {
        let mut registry = a.endpoints.lock();
        registry.get(&id).ok_or_else(|| not_found(&id))?;
        registry.list.retain(|e| e.id != id);
        if registry.forward.as_deref() == Some(id.as_str()) {
            registry.forward = None;
        }
        Ok(Json(
            json!({ "id": id, "object": "webhook_endpoint", "deleted": true }),
        ))
    })
}
