//! The webhook events list `/admin/events`, by status and type, and how an event reads in a row
//! ([`EventView`], also the event page's and the order page's).

use crate::domain::status::EventStatus;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use jiff::tz::TimeZone;

use crate::app::App;
use crate::http::admin::{failure, render, Chrome};
use crate::store::EventListRow;

use super::{enc, next_link, when, PageRequest};

pub(super) struct EventView {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub attempts: i64,
    pub created: String,
    pub received: String,
    pub note: String,
}

impl EventView {
    /// The row as the page shows it, its times in the shop's zone.
    pub(super) fn new(e: &EventListRow, zone: &TimeZone) -> EventView {
        EventView {
            id: e.stripe_event_id.clone(),
            kind: e.kind.clone(),
            status: e.status.clone(),
            attempts: e.attempts,
            created: when(zone, Some(e.stripe_created)),
            received: when(zone, Some(e.received_at)),
            note: e
                .last_error
                .clone()
                .filter(|_| e.status == "failed")
                .or_else(|| e.reason.clone())
                .unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/events.html")]
struct EventsPage {
    c: Chrome,
    status: String,
    statuses: Vec<&'static str>,
    kind: String,
    rows: Vec<EventView>,
    next: Option<String>,
}

pub(in super::super) async fn page(
    State(app): State<App>,
    PageRequest { c, q }: PageRequest,
) -> Response {
    let statuses: Vec<&str> = std::iter::once("")
        .chain(EventStatus::ALL.iter().map(|s| s.as_str()))
        .collect();
    let status = q
        .status
        .clone()
        .filter(|s| statuses.contains(&s.as_str()))
        .unwrap_or_default();
    let kind = q.kind.clone().unwrap_or_default().trim().to_string();
    // The cursor is `received_at.evt_id`.
    let before = q
        .before
        .as_deref()
        .and_then(|b| b.split_once('.'))
        .and_then(|(t, id)| Some((t.parse::<i64>().ok()?, id)));
    let mut rows = match app
        .store
        .events_page(
            (!status.is_empty()).then_some(status.as_str()),
            (!kind.is_empty()).then_some(kind.as_str()),
            before,
        )
        .await
    {
        Ok(r) => r,
        Err(e) => return failure(&e.to_string()),
    };
    let next = next_link(&mut rows, |e| {
        format!(
            "/admin/events?status={}&type={}&before={}.{}",
            enc(&status),
            enc(&kind),
            e.received_at,
            enc(&e.stripe_event_id)
        )
    });
    render(&EventsPage {
        c,
        rows: rows
            .iter()
            .map(|x| EventView::new(x, &app.config.time_zone))
            .collect(),
        status,
        statuses,
        kind,
        next,
    })
}
