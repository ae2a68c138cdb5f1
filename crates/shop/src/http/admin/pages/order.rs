//! An order's page `/admin/orders/{number}`: items, payment, the webhook events that made it, its
//! calls to Stripe, its audit trail, its emails, its delivery (address, rate, fulfilment, with the
//! "Mark shipped" and "Mark delivered" forms) and the refund form.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::app::App;
use crate::domain::money::format_amount;
use crate::domain::status::{DisputeStatus, FulfilmentStatus, OrderStatus};
use crate::http::admin::{error_page, failure, render, Chrome};
use crate::store::OrderDelivery;

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

/// The delivery part of the page.
struct DeliveryView {
    pub customer: String,
    pub phone: String,
    pub address: Vec<String>,
    pub rate: String,
    pub subtotal: String,
    pub shipping: String,
    pub fulfilment: String,
    pub tracking: String,
    pub tracking_url: String,
    pub can_ship: bool,
    pub can_deliver: bool,
}

impl From<&OrderDelivery> for DeliveryView {
    fn from(d: &OrderDelivery) -> DeliveryView {
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
        DeliveryView {
            customer: dash(&d.customer_name),
            phone: dash(&d.phone),
            address: d.address_lines(),
            rate: dash(&d.shipping_rate_name),
            subtotal: format_amount(d.subtotal(), &d.currency),
            shipping: format_amount(d.amount_shipping, &d.currency),
            fulfilment: d.fulfilment.to_string(),
            tracking: match (&d.carrier, &d.tracking_code) {
                (Some(c), Some(t)) => format!("{c} {t}"),
                _ => "—".into(),
            },
            tracking_url: d.tracking_url.clone().unwrap_or_default(),
            can_ship: d.fulfilment == FulfilmentStatus::Unfulfilled
                && d.status != OrderStatus::Refunded
                && d.dispute != Some(DisputeStatus::Lost),
            can_deliver: d.fulfilment == FulfilmentStatus::Shipped,
        }
    }
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
    delivery: Option<DeliveryView>,
    /// The refund form, for an owner.
    can_refund: bool,
    /// What a staff member reads instead.
    refund_needs_owner: bool,
    /// Why a refund is not offered: the payment's dispute (empty when there is none to tell).
    refund_disputed: String,
    refundable: String,
    currency: String,
    refund_token: String,
    resend_token: String,
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
    let (lines, events, requests, audit, emails, delivery) = match tokio::try_join!(
        store.order_lines(&row.id),
        store.events_for(&row.id, &row.hold_id),
        store.stripe_requests_for(&row.hold_id, &row.id),
        store.audit_for(&row.id, &row.hold_id),
        store.outbox_for(&row.id),
        store.order_delivery(&row.id),
    ) {
        Ok(all) => all,
        Err(e) => return failure(&e.to_string()),
    };
    let left = row.amount_paid.unwrap_or(0) - row.amount_refunded.unwrap_or(0);
    let refund_disputed = crate::admin::dispute_forbids_refund(row.dispute).unwrap_or_default();
    let refundable = row.payment_intent_id.is_some() && left > 0 && refund_disputed.is_empty();
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
        events: events
            .iter()
            .map(|x| EventView::new(x, &app.config.time_zone))
            .collect(),
        requests: requests
            .iter()
            .map(|x| RequestView::new(x, &app.config.time_zone))
            .collect(),
        audit: audit
            .iter()
            .map(|x| AuditView::new(x, &app.config.time_zone))
            .collect(),
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
        delivery: delivery.as_ref().map(DeliveryView::from),
        can_refund: refundable && owner,
        refund_needs_owner: refundable && !owner,
        refund_disputed: refund_disputed.to_string(),
        refundable: format_amount(left, &row.currency),
        currency: row.currency.to_ascii_uppercase(),
        refund_token,
        resend_token: crate::admin::random_token(),
        o: OrderView::new(&row, &app.config.time_zone),
    })
}
