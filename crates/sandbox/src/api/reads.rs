//! What the API's GETs share: the query string checked against what the endpoint takes,
//! `expand[]`, Stripe's 404 for an unknown id, and Stripe's list pages (`limit`, cursors, the
//! `created` filter).

use axum::Json;
use serde_json::{json, Value};

use super::decode;
use crate::error::ApiError;
use crate::fields;
use crate::params::Params;

/// A GET's query string, checked against what the endpoint takes.
pub(super) fn query(raw: Option<String>, accepts: &Params) -> Result<Value, ApiError> {
    let q = decode(raw.as_deref().unwrap_or(""))?;
    accepts.check(&q)?;
    Ok(q)
}

fn limit(q: &Value) -> Result<usize, ApiError> {
    match q.get("limit").and_then(Value::as_str) {
        None => Ok(10),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(
                "This value must be between 1 and 100.",
                Some("limit"),
            )),
        },
    }
}

/// One page of `items` (newest first) after the cursors of `q`.
pub(super) fn page(items: Vec<Value>, q: &Value, url: &str) -> Result<Json<Value>, ApiError> {
    let limit = limit(q)?;
    if q.get("starting_after").is_some() && q.get("ending_before").is_some() {
        return Err(ApiError::invalid(
            "You may only specify one of these parameters: ending_before, starting_after.",
            None,
        ));
    }
    let id_of = |v: &Value| v["id"].as_str().unwrap_or_default().to_string();
    let mut items = items;
    if let Some(after) = q.get("starting_after").and_then(Value::as_str) {
        let pos = items
            .iter()
            .position(|v| id_of(v) == after)
            .ok_or_else(|| ApiError::no_such("object", after, "starting_after"))?;
        items.drain(..=pos);
    }
    if let Some(before) = q.get("ending_before").and_then(Value::as_str) {
        let pos = items
            .iter()
            .position(|v| id_of(v) == before)
            .ok_or_else(|| ApiError::no_such("object", before, "ending_before"))?;
        items.truncate(pos);
        // The page just before the cursor: its last `limit` items; more lie beyond its start.
        let skip = items.len().saturating_sub(limit);
        items.drain(..skip);
        return Ok(Json(
            json!({ "object": "list", "url": url, "has_more": skip > 0, "data": items }),
        ));
    }
    let has_more = items.len() > limit;
    items.truncate(limit);
    Ok(Json(
        json!({ "object": "list", "url": url, "has_more": has_more, "data": items }),
    ))
}

/// `created=T` or `created[gt|gte|lt|lte]=T`, as a test of a `created` time.
pub(super) fn created_filter(q: &Value) -> Result<impl Fn(i64) -> bool, ApiError> {
    let bound = |k: &str| -> Result<Option<i64>, ApiError> {
        match q
            .get("created")
            .and_then(|c| c.get(k))
            .and_then(Value::as_str)
        {
            None => Ok(None),
            Some(s) => s.parse().map(Some).map_err(|_| {
                ApiError::invalid(
                    format!("Invalid integer: {s}"),
                    Some(&format!("created[{k}]")),
                )
            }),
        }
    };
    let exact = match q.get("created").and_then(Value::as_str) {
        None => None,
        Some(s) => Some(
            s.parse::<i64>()
                .map_err(|_| ApiError::invalid(format!("Invalid integer: {s}"), Some("created")))?,
        ),
    };
    let (gt, gte, lt, lte) = (bound("gt")?, bound("gte")?, bound("lt")?, bound("lte")?);
    Ok(move |created: i64| {
        exact.is_none_or(|x| created == x)
            && gt.is_none_or(|x| created > x)
            && gte.is_none_or(|x| created >= x)
            && lt.is_none_or(|x| created < x)
            && lte.is_none_or(|x| created <= x)
    })
}

/// The `expand[]` values of a request (already checked against what the endpoint expands).
pub(super) fn expansions(params: &Value) -> Vec<String> {
    fields::strings(params, "expand")
}

/// One object by id, or Stripe's 404 for it.
pub(super) fn found(
    object: Option<Value>,
    kind: &str,
    id: &str,
    param: &str,
) -> Result<Json<Value>, ApiError> {
    object
        .map(Json)
        .ok_or_else(|| ApiError::not_found(kind, id, param))
}
