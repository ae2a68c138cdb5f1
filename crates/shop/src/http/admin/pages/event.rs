//! A webhook event's page `/admin/events/{id}`: its payload, attempts and last error, and the
//! reprocess form.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::app::App;
use crate::http::admin::{error_page, failure, render, Chrome};

use super::events::EventView;
use super::{when, PageRequest};

#[derive(Template)]
#[template(path = "admin/event.html")]
struct EventPage {
    c: Chrome,
    e: EventView,
    source: String,
    processed: String,
    mode: &'static str,
    api_version: String,
    payload: String,
}

pub(in super::super) async fn page(
    State(app): State<App>,
    Path(id): Path<String>,
    PageRequest { c, .. }: PageRequest,
) -> Response {
    let d = match app.store.event_detail(&id).await {
        Ok(Some(d)) => d,
        Ok(None) => return error_page(StatusCode::NOT_FOUND, c, "No such event.", "/admin/events"),
        Err(e) => return failure(&e.to_string()),
    };
    // Pretty-printed when it parses; as received otherwise; gone after the retention.
    let payload = if d.payload.is_empty() {
        "(removed: older than CAISSE_RETENTION_DAYS; the event's id, type and status are kept)"
            .to_string()
    } else {
        serde_json::from_str::<serde_json::Value>(&d.payload)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| d.payload.clone())
    };
    render(&EventPage {
        c,
        e: EventView::new(&d.row, &app.config.time_zone),
        source: d.row.source.clone(),
        processed: when(&app.config.time_zone, d.row.processed_at),
        mode: if d.livemode { "live" } else { "test" },
        api_version: d.api_version.clone().unwrap_or_default(),
        payload,
    })
}
