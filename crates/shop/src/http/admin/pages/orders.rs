//! The orders list `/admin/orders`: its one search box (`#123`, an email, `pi_…`, `cs_…`), its
//! filters (status, fulfilment, created from / to, which the CSV link carries too), and
//! how an order reads in a row ([`OrderView`], also the order page's).

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use jiff::tz::TimeZone;

use crate::app::App;
use crate::domain::money::format_amount;
use crate::domain::status::{FulfilmentStatus, OrderStatus};
use crate::http::admin::{failure, render, Chrome};
use crate::orders::export::{self, Asked};
use crate::store::{OrderRow, OrderSearch};

use super::{enc, next_link, when, PageRequest};

pub(super) struct OrderView {
    pub number: i64,
    pub id: String,
    pub hold_id: String,
    pub status: String,
    pub attention: String,
    pub email: String,
    pub total: String,
    pub created: String,
    pub payment_intent: String,
    pub session: String,
    pub paid: String,
    pub refunded: String,
    /// `open`, `won` or `lost`; empty when the payment was never disputed.
    pub dispute: String,
}

impl OrderView {
    /// The row as the page shows it, its times in the shop's zone.
    pub(super) fn new(o: &OrderRow, zone: &TimeZone) -> OrderView {
        OrderView {
            number: o.number,
            id: o.id.clone(),
            hold_id: o.hold_id.clone(),
            status: o.status.clone(),
            attention: o.attention_reason.clone().unwrap_or_default(),
            email: o.email.clone().unwrap_or_else(|| "—".into()),
            total: format_amount(o.amount_total, &o.currency),
            created: when(zone, Some(o.created_at)),
            payment_intent: o.payment_intent_id.clone().unwrap_or_else(|| "—".into()),
            session: o.checkout_session_id.clone().unwrap_or_else(|| "—".into()),
            paid: o
                .amount_paid
                .map(|a| format_amount(a, &o.currency))
                .unwrap_or_else(|| "—".into()),
            refunded: format_amount(o.amount_refunded.unwrap_or(0), &o.currency),
            dispute: o.dispute.map(|d| d.to_string()).unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/orders.html")]
struct OrdersPage {
    c: Chrome,
    q: String,
    rows: Vec<OrderView>,
    next: Option<String>,
    /// The export of the same filters.
    csv: String,
    status: String,
    fulfilment: String,
    from: String,
    to: String,
    statuses: Vec<&'static str>,
    fulfilments: Vec<&'static str>,
}

pub(in super::super) async fn page(
    State(app): State<App>,
    PageRequest { c, q }: PageRequest,
) -> Response {
    let text = q.q.clone().unwrap_or_default();
    let given = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or_default().to_string();
    let (status, fulfilment, from, to) = (
        given(&q.status),
        given(&q.fulfilment),
        given(&q.from),
        given(&q.to),
    );
    // Refused in words, as the export refuses it: a list that ignored a mistyped date would
    // show every order as if they were the ones asked for.
    let asked = Asked {
        from: Some(&from),
        to: Some(&to),
        status: Some(&status),
        fulfilment: Some(&fulfilment),
    };
    let filter = match export::filter(asked, &app.config.time_zone) {
        Ok(f) => f,
        Err((_, why)) => return super::super::export::refused(c, &why),
    };
    let before = q.before_id();
    let mut rows = match app
        .store
        .orders_page(&OrderSearch::parse(&text), &filter, before)
        .await
    {
        Ok(r) => r,
        Err(e) => return failure(&e.to_string()),
    };
    let filters = format!(
        "status={}&fulfilment={}&from={}&to={}",
        enc(&status),
        enc(&fulfilment),
        enc(&from),
        enc(&to)
    );
    let next = next_link(&mut rows, |o| {
        format!(
            "/admin/orders?q={}&{filters}&before={}",
            enc(&text),
            o.number
        )
    });
    render(&OrdersPage {
        c,
        rows: rows
            .iter()
            .map(|x| OrderView::new(x, &app.config.time_zone))
            .collect(),
        q: text,
        next,
        csv: format!("/admin/orders.csv?{filters}"),
        status,
        fulfilment,
        from,
        to,
        statuses: OrderStatus::ALL.iter().map(|s| s.as_str()).collect(),
        fulfilments: FulfilmentStatus::ALL.iter().map(|s| s.as_str()).collect(),
    })
}
