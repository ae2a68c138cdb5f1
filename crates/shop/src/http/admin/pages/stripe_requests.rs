//! The Stripe requests list `/admin/stripe-requests`, and how a call to Stripe reads in a row
//! ([`RequestView`], also the order page's).

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use jiff::tz::TimeZone;

use crate::app::App;
use crate::http::admin::{failure, render, Chrome};
use crate::store::StripeRequestRow;

use super::{next_link, when, PageRequest};

pub(super) struct RequestView {
    pub at: String,
    pub method: String,
    pub path: String,
    pub status: String,
    pub duration_ms: i64,
    pub key: String,
    pub request_id: String,
    pub error: String,
}

impl RequestView {
    /// The row as the page shows it, its times in the shop's zone.
    pub(super) fn new(r: &StripeRequestRow, zone: &TimeZone) -> RequestView {
        RequestView {
            at: when(zone, Some(r.at)),
            method: r.method.clone(),
            path: r.path.clone(),
            status: r
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "—".into()),
            duration_ms: r.duration_ms,
            key: r.idempotency_key.clone().unwrap_or_default(),
            request_id: r.request_id.clone().unwrap_or_default(),
            error: r.error.clone().unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/stripe_requests.html")]
struct RequestsPage {
    c: Chrome,
    requests: Vec<RequestView>,
    next: Option<String>,
}

pub(in super::super) async fn page(
    State(app): State<App>,
    PageRequest { c, q }: PageRequest,
) -> Response {
    let before = q.before_id();
    let mut rows = match app.store.stripe_requests_page(before).await {
        Ok(r) => r,
        Err(e) => return failure(&e.to_string()),
    };
    let next = next_link(&mut rows, |r| {
        format!("/admin/stripe-requests?before={}", r.id)
    });
    render(&RequestsPage {
        c,
        requests: rows
            .iter()
            .map(|x| RequestView::new(x, &app.config.time_zone))
            .collect(),
        next,
    })
}
