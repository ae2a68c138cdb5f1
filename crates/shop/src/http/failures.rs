//! Failures of ours reach the operators: every `500` that no alert covers yet (a database error
//! that is not an outage, a failed page, a checkout task that died) raises one critical
//! `internal_error` alert per route and clock hour, naming the route and a request id whose log
//! lines tell the cause. The alert carries no error text: what failed is in the log, where a
//! secret or a customer's data cannot reach the dashboard or an alert email.
//!
//! The inbox's own `webhook_failed` already covers a webhook's 500 ([`AlertRaised`]).
//!
//! A handler that panics is such a failure too: [`answer_panics`] turns the panic into the same
//! JSON 500 (`internal_error`), which the alert then covers, where hyper would drop the
//! connection and leave the client, the metrics and the operators with nothing.

use std::panic::AssertUnwindSafe;

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;

use crate::app::App;
use crate::domain::status::AlertKind;
use crate::error::{AlertRaised, ApiError};
use crate::store::{unix_now, NewAlert, Severity};

pub(super) async fn alert_internal_failures(
    State(app): State<App>,
    req: Request,
    next: Next,
) -> Response {
    // Reference-counted copies: every request passes here, and only a failure reads them.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = super::method_label(req.method());
    let request_id = req.headers().get(&super::REQUEST_ID).cloned();
    let response = next.run(req).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR
        || response.extensions().get::<AlertRaised>().is_some()
    {
        return response;
    }
    let route = route
        .as_ref()
        .map_or("an unknown route", |p| p.as_str())
        .to_string();
    let request_id = request_id
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let now = unix_now();
    let hour = now / 3600;
    let key = format!("internal_error:{method} {route}:{hour}");
    if app.internal_failures.first(hour, &key) {
        // Off the answer's path: the database the alert goes to may be what failed.
        tokio::spawn(async move {
            let alert = NewAlert {
                kind: AlertKind::InternalError,
                severity: Severity::Critical,
                message: format!(
                    "{method} {route} failed on caisse's side (500 internal_error): the log has the cause under request id {request_id}; later failures of this route in the same hour are in the log only"
                ),
                entity: None,
                dedup_key: key,
            };
            if let Err(e) = app.store.raise_alert(&alert, now).await {
                tracing::warn!(error = %e, "could not raise the internal_error alert");
            }
        });
    }
    response
}

/// A panic below this layer answers `500 internal_error`, logged with its message and the
/// request's id (the span the trace layer opened), instead of a connection dropped unanswered.
pub(super) async fn answer_panics(req: Request, next: Next) -> Response {
    // Unwind safety: what the handler shared (the store, the pools) is reference-counted state
    // whose own locks are poison-checked or async; a dropped transaction rolls back.
    match AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("a panic without a message");
            tracing::error!(panic = %what, "a request handler panicked");
            ApiError::internal().into_response()
        }
    }
}
