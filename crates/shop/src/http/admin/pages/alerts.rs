//! The alerts `/admin/alerts`: the ones to look at, or all, with the acknowledge form.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use crate::app::App;
use crate::http::admin::{failure, render, Chrome};

use super::{next_link, when, PageRequest};

struct AlertView {
    pub id: i64,
    pub created: String,
    pub severity: String,
    pub kind: String,
    pub message: String,
    pub entity: String,
    pub acknowledged: String,
}

#[derive(Template)]
#[template(path = "admin/alerts.html")]
struct AlertsPage {
    c: Chrome,
    all: bool,
    rows: Vec<AlertView>,
    next: Option<String>,
}

pub(in super::super) async fn page(
    State(app): State<App>,
    PageRequest { c, q }: PageRequest,
) -> Response {
    let all = q.all.as_deref() == Some("1");
    let before = q.before_id();
    let mut rows = match app.store.alerts_page(!all, before).await {
        Ok(r) => r,
        Err(e) => return failure(&e.to_string()),
    };
    let next = next_link(&mut rows, |a| {
        format!("/admin/alerts?all={}&before={}", u8::from(all), a.id)
    });
    render(&AlertsPage {
        c,
        all,
        rows: rows
            .iter()
            .map(|a| AlertView {
                id: a.id,
                created: when(&app.config.time_zone, Some(a.created_at)),
                severity: a.severity.clone(),
                kind: a.kind.to_string(),
                message: a.message.clone(),
                entity: match (&a.entity_type, &a.entity_id) {
                    (Some(t), Some(id)) => format!("{t} {id}"),
                    _ => String::new(),
                },
                acknowledged: match a.acknowledged_at {
                    Some(t) => format!(
                        "acknowledged by {} at {}",
                        a.acknowledged_by.as_deref().unwrap_or("?"),
                        when(&app.config.time_zone, Some(t))
                    ),
                    None => String::new(),
                },
            })
            .collect(),
        next,
    })
}
