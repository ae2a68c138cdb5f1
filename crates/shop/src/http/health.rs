//! Probes and metrics: `/healthz` (the process answers, nothing more), `/readyz` (the database is
//! migrated and a write completes now: [`crate::store::WriteProbe`]), `/metrics` (Prometheus
//! text, on its own listener in `serve`).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::app::App;
use crate::error::ApiError;

use super::PublicRoutes;

pub fn routes(r: PublicRoutes) -> PublicRoutes {
    r.get("/healthz", || async { Json(json!({ "status": "ok" })) })
        .get("/readyz", readyz)
}

/// `/metrics` alone: the router of `CAISSE_METRICS_LISTEN` (and merged into the public one by
/// `caisse dev`).
pub fn metrics_routes() -> Router<App> {
    Router::new().route("/metrics", get(metrics))
}

async fn readyz(State(app): State<App>) -> Result<impl IntoResponse, ApiError> {
    // Bounded like the write probe: a database that is down is a 503 within the probe's time,
    // which a load balancer's health check waits for.
    let ready = tokio::time::timeout(crate::store::PROBE_TIMEOUT, app.store.is_ready())
        .await
        .unwrap_or_else(|_| {
            Err(crate::store::StoreError::Unavailable(
                "no answer within the probe's time".into(),
            ))
        });
    match ready {
        Ok(true) => match app.write_probe.check(&app.store).await {
            Ok(()) => Ok(Json(json!({ "status": "ready" }))),
            Err(why) => {
                tracing::warn!(why, "not ready: the write probe failed");
                Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not_ready",
                    "the database cannot complete a write now",
                ))
            }
        },
        Ok(false) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the database is not migrated; run caisse migrate",
        )),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "the database does not answer",
            ))
        }
    }
}

async fn metrics(State(app): State<App>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
}
