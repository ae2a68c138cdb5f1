//! An order's page `/admin/orders/{number}`: items, payment, the webhook events that made it, its
//! calls to Stripe, its audit trail, its emails, and the refund form.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::app::App;
use crate::domain::money::format_amount;
use crate::http::admin::{error_page, failure, render, Chrome};

use super::audit::AuditView;
use super::events::EventView;
use super::orders::OrderView;
use super::stripe_requests::RequestView;
use super::PageRequest;

struct ItemView {
    pub name: String,
    pub product_id: String,
    pub quantity: i64,
    pub unit: String,
    pub total: String,
}

struct MessageView {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: String,
}

#[derive(Template)]
#[template(path = "admin/order.html")]
struct OrderPage {
    c: Chrome,
    o: OrderView,
    items: Vec<ItemView>,
    events: Vec<EventView>,
    requests: Vec<RequestView>,
    audit: Vec<AuditView>,
    emails: Vec<MessageView>,
    /// The refund form, for an owner.
    can_refund: bool,
    /// What a staff member reads instead.
    refund_needs_owner: bool,
    refundable: String,
    currency: String,
    refund_token: String,
}

pub(in super::super) async fn page(
    State(app): State<App>,
    Path(number): Path<String>,
    PageRequest { c, .. }: PageRequest,
) -> Response {
    let found = match number.trim_start_matches('#').parse::<i64>() {
        Ok(n) => app.store.order_by_number(n).await,
        Err(_) => Ok(None),
    };
    let row = match found {
        Ok(Some(o)) => o,
        Ok(None) => return error_page(StatusCode::NOT_FOUND, c, "No such order.", "/admin/orders"),
        Err(e) => return failure(&e.to_string()),
    };
    let store = &app.store;
    let (lines, events, requests, audit, emails) = match tokio::try_join!(
        store.order_lines(&row.id),
        store.events_for(&row.id, &row.hold_id),
        store.stripe_requests_for(&row.hold_id, &row.id),
        store.audit_for(&row.id, &row.hold_id),
        store.outbox_for(&row.id),
    ) {
        Ok(all) => all,
        Err(e) => return failure(&e.to_string()),
    };
    let left = row.amount_paid.unwrap_or(0) - row.amount_refunded.unwrap_or(0);
    let refundable = row.payment_intent_id.is_some() && left > 0;
    let owner = c.owner;
    let refund_token = crate::admin::refund_form_token(&c.csrf, &row.id);
    render(&OrderPage {
        c,
        items: lines
            .iter()
            .map(|l| ItemView {
                name: l.name.clone(),
                product_id: l.product_id.clone(),
                quantity: l.quantity,
                unit: format_amount(l.unit_amount, &row.currency),
                total: format_amount(l.unit_amount * l.quantity, &row.currency),
            })
            .collect(),
        events: events.iter().map(EventView::from).collect(),
        requests: requests.iter().map(RequestView::from).collect(),
        audit: audit.iter().map(AuditView::from).collect(),
        emails: emails
            .iter()
            .map(|m| MessageView {
                id: m.id,
                kind: m.kind.to_string(),
                status: m.status.to_string(),
                attempts: m.attempts,
                last_error: m.last_error.clone().unwrap_or_default(),
            })
            .collect(),
        can_refund: refundable && owner,
        refund_needs_owner: refundable && !owner,
        refundable: format_amount(left, &row.currency),
        currency: row.currency.to_ascii_uppercase(),
        refund_token,
        o: OrderView::from(&row),
    })
}
