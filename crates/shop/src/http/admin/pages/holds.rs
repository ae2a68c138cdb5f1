//! The holds list `/admin/holds`, by status.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use crate::app::App;
use crate::domain::money::format_amount;
use crate::http::admin::{failure, render, Chrome};

use super::{enc, next_link, when, PageRequest};

struct HoldView {
    pub id: String,
    pub created: String,
    pub status: String,
    pub customer: String,
    pub total: String,
    pub expires: String,
    pub session: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "admin/holds.html")]
struct HoldsPage {
    c: Chrome,
    statuses: Vec<(&'static str, &'static str, bool)>,
    rows: Vec<HoldView>,
    next: Option<String>,
}

pub(in super::super) async fn page(
    State(app): State<App>,
    PageRequest { c, q }: PageRequest,
) -> Response {
    let statuses = [
        ("", "All"),
        ("active", "Active"),
        ("awaiting_payment", "Awaiting payment"),
        ("converted", "Converted"),
        ("released", "Released"),
    ];
    let status = q
        .status
        .clone()
        .filter(|s| statuses.iter().any(|(v, _)| v == s))
        .unwrap_or_default();
    let filter = (!status.is_empty()).then_some(status.as_str());
    let mut rows = match app.store.holds_page(filter, q.before.as_deref()).await {
        Ok(r) => r,
        Err(e) => return failure(&e.to_string()),
    };
    let next = next_link(&mut rows, |h| {
        format!("/admin/holds?status={}&before={}", enc(&status), enc(&h.id))
    });
    render(&HoldsPage {
        c,
        rows: rows
            .iter()
            .map(|h| HoldView {
                id: h.id.clone(),
                created: when(&app.config.time_zone, Some(h.created_at)),
                status: h.status.to_string(),
                customer: h.customer_id.clone(),
                total: format_amount(h.amount_total, &h.currency),
                expires: when(&app.config.time_zone, Some(h.expires_at)),
                session: h.checkout_session_id.clone().unwrap_or_default(),
                reason: h.release_reason.clone().unwrap_or_default(),
            })
            .collect(),
        statuses: statuses
            .iter()
            .map(|(v, l)| (*v, *l, *v == status))
            .collect(),
        next,
    })
}
