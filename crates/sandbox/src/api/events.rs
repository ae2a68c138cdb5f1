//! Events: retrieve and list, with `pending_webhooks` as the delivery log has it now.

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde_json::Value;

use super::reads::{created_filter, found, page, query};
use crate::error::ApiError;
use crate::params;
use crate::Shared;

pub(super) async fn retrieve_event(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    query(raw, &params::RETRIEVE)?;
    let event = shared.with_account(|a| a.events.iter().find(|e| e["id"] == id.as_str()).cloned());
    let pending = pending_webhooks(&shared);
    found(event.map(pending), "event", &id, "id")
}

/// `type` (with `*` wildcards), `types[]`, `created` or `created[gt|gte|lt|lte]`,
/// `delivery_success` (every endpoint answered a 2xx), cursors, limit.
pub(super) async fn list_events(
    State(shared): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(raw, &params::LIST_EVENTS)?;
    let mut types: Vec<String> = match q.get("types") {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::Object(map)) => map
            .values()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    if let Some(t) = q.get("type").and_then(Value::as_str) {
        if !types.is_empty() {
            return Err(ApiError::invalid(
                "You may only specify one of these parameters: type, types.",
                None,
            ));
        }
        types.push(t.to_string());
    }
    let created = created_filter(&q)?;
    let delivery_success = match q.get("delivery_success").and_then(Value::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(ApiError::invalid(
                format!("Invalid boolean: {other}"),
                Some("delivery_success"),
            ))
        }
    };
    let delivered = shared.deliverer.delivered_events();
    let pending = pending_webhooks(&shared);
    let matches_type = |t: &str| {
        types.is_empty()
            || types.iter().any(|want| match want.strip_suffix('*') {
                Some(prefix) => t.starts_with(prefix),
                None => t == want,
            })
    };
    let items = shared.with_account(|a| {
        a.events
            .iter()
            .rev()
            .filter(|e| {
                let id = e["id"].as_str().unwrap_or_default();
                matches_type(e["type"].as_str().unwrap_or(""))
                    && created(e["created"].as_i64().unwrap_or(0))
                    && delivery_success.is_none_or(|want| delivered.contains(id) == want)
            })
            .cloned()
            .map(&pending)
            .collect::<Vec<_>>()
    });
    page(items, &q, "/v1/events")
}

/// An event's `pending_webhooks` as it stands: 1 while the endpoint has not answered it a 2xx,
/// 0 once it has (or when no endpoint is set).
fn pending_webhooks(shared: &Shared) -> impl Fn(Value) -> Value {
    let delivered = shared.deliverer.delivered_events();
    let endpoint = shared
        .deliverer
        .forward_to
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .is_some();
    move |mut event: Value| {
        let waiting = endpoint && !delivered.contains(event["id"].as_str().unwrap_or_default());
        event["pending_webhooks"] = Value::from(u8::from(waiting));
        event
    }
}
