//! The audit log `/admin/audit`, filtered by entity, actor and days, and how an entry reads in a
//! row ([`AuditView`], also the order page's).

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use jiff::tz::TimeZone;

use crate::app::App;
use crate::domain::local_time::day_bounds;
use crate::http::admin::{failure, render, Chrome};
use crate::store::{AuditFilter, AuditRecord};

use super::{enc, next_link, when, PageRequest};

pub(super) struct AuditView {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub message: String,
}

impl AuditView {
    /// The row as the page shows it, its times in the shop's zone.
    pub(super) fn new(a: &AuditRecord, zone: &TimeZone) -> AuditView {
        AuditView {
            at: when(zone, Some(a.at)),
            actor: a.actor.clone(),
            action: a.action.clone(),
            entity_type: a.entity_type.clone(),
            entity_id: a.entity_id.clone(),
            message: a.message.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    c: Chrome,
    f: AuditFilter,
    from: String,
    to: String,
    audit: Vec<AuditView>,
    next: Option<String>,
}

pub(in super::super) async fn page(
    State(app): State<App>,
    PageRequest { c, q }: PageRequest,
) -> Response {
    let text = |v: &Option<String>| v.clone().unwrap_or_default().trim().to_string();
    let (from, to) = (text(&q.from), text(&q.to));
    let zone = &app.config.time_zone;
    let f = AuditFilter {
        entity_type: text(&q.entity_type),
        entity_id: text(&q.entity_id),
        actor: text(&q.actor),
        // Days of the shop's time zone, as the rows' times read; 0: no bound.
        from: day_bounds(&from, zone).map_or(0, |(start, _)| start),
        // "To" names the last day shown, included.
        to: day_bounds(&to, zone).map_or(0, |(_, end)| end),
    };
    let before = q.before_id();
    let mut rows = match app.store.audit_page(&f, before).await {
        Ok(r) => r,
        Err(e) => return failure(&e.to_string()),
    };
    let next = next_link(&mut rows, |a| {
        format!(
            "/admin/audit?entity_type={}&entity_id={}&actor={}&from={}&to={}&before={}",
            enc(&f.entity_type),
            enc(&f.entity_id),
            enc(&f.actor),
            enc(&from),
            enc(&to),
            a.id
        )
    });
    render(&AuditPage {
        c,
        audit: rows.iter().map(|x| AuditView::new(x, zone)).collect(),
        f,
        from,
        to,
        next,
    })
}
