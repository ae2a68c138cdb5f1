//! Events: retrieve and list, with `pending_webhooks` as the delivery log has it now.

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use std::collections::HashSet;

use serde_json::Value;

use super::reads::{created_filter, found, page, query};
use crate::endpoints::Endpoint;
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
    let deliveries = Deliveries::now(&shared);
    found(
        event.map(|e| deliveries.with_pending(e)),
        "event",
        &id,
        "id",
    )
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
    let deliveries = Deliveries::now(&shared);
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
                matches_type(e["type"].as_str().unwrap_or(""))
                    && created(e["created"].as_i64().unwrap_or(0))
                    && delivery_success.is_none_or(|want| deliveries.succeeded(e) == want)
            })
            .cloned()
            .map(|e| deliveries.with_pending(e))
            .collect::<Vec<_>>()
    });
    page(items, &q, "/v1/events")
}

/// What delivery has done so far: the (event, endpoint) pairs answered with a 2xx, and the
/// endpoints as they are now.
struct Deliveries {
    delivered: HashSet<(String, String)>,
    endpoints: Vec<Endpoint>,
}

impl Deliveries {
    fn now(shared: &Shared) -> Deliveries {
        Deliveries {
            delivered: shared.deliverer.delivered(),
            endpoints: shared.deliverer.endpoints.lock().list.clone(),
        }
    }

    /// The enabled endpoints that take the event's type and have not answered it a 2xx yet.
    fn pending(&self, event: &Value) -> usize {
        let id = event["id"].as_str().unwrap_or_default().to_string();
        let kind = event["type"].as_str().unwrap_or_default();
        self.endpoints
            .iter()
            .filter(|e| e.receives(kind) && !self.delivered.contains(&(id.clone(), e.id.clone())))
            .count()
    }

    /// Delivered: some endpoint answered a 2xx, and none is still waiting.
    fn succeeded(&self, event: &Value) -> bool {
        let id = event["id"].as_str().unwrap_or_default();
        self.pending(event) == 0 && self.delivered.iter().any(|(e, _)| e == id)
    }

    /// The event with its `pending_webhooks` as it stands.
    fn with_pending(&self, mut event: Value) -> Value {
        event["pending_webhooks"] = Value::from(self.pending(&event));
        event
    }
}
