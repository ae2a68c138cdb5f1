//! The orders list `/admin/orders` and its one search box (`#123`, an email, `pi_…`, `cs_…`), and
//! how an order reads in a row ([`OrderView`], also the order page's).

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use crate::app::App;
use crate::domain::money::format_amount;
use crate::http::admin::{failure, render, Chrome};
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
}

impl From<&OrderRow> for OrderView {
    fn from(o: &OrderRow) -> OrderView {
        OrderView {
            number: o.number,
            id: o.id.clone(),
            hold_id: o.hold_id.clone(),
            status: o.status.clone(),
            attention: o.attention_reason.clone().unwrap_or_default(),
            email: o.email.clone().unwrap_or_else(|| "—".into()),
            total: format_amount(o.amount_total, &o.currency),
            created: when(Some(o.created_at)),
            payment_intent: o.payment_intent_id.clone().unwrap_or_else(|| "—".into()),
            session: o.checkout_session_id.clone().unwrap_or_else(|| "—".into()),
            paid: o
                .amount_paid
                .map(|a| format_amount(a, &o.currency))
                .unwrap_or_else(|| "—".into()),
            refunded: format_amount(o.amount_refunded.unwrap_or(0), &o.currency),
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
}

pub(in super::super) async fn page(
    State(app): State<App>,
    PageRequest { c, q }: PageRequest,
) -> Response {
    let text = q.q.clone().unwrap_or_default();
    let before = q.before_id();
    let mut rows = match app
        .store
        .orders_page(&OrderSearch::parse(&text), before)
        .await
    {
        Ok(r) => r,
        Err(e) => return failure(&e.to_string()),
    };
    let next = next_link(&mut rows, |o| {
        format!("/admin/orders?q={}&before={}", enc(&text), o.number)
    });
    render(&OrdersPage {
        c,
        rows: rows.iter().map(OrderView::from).collect(),
        q: text,
        next,
    })
}
