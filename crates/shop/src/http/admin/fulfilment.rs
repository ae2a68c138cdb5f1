//! The dashboard's fulfilment forms on an order's page: "Mark shipped" (carrier, tracking code,
//! optional tracking link), "Mark delivered" and "Resend confirmation email". Each takes a
//! [`CheckedForm`] (signed in, CSRF token checked), calls [`crate::orders::ship`] /
//! [`crate::orders::deliver`] / [`crate::orders::resend_confirmation`] as the operator signed in
//! (audited as `admin:EMAIL`), and answers 303 to the order's page, or an error page saying why
//! not (shipped twice, not shipped yet, a bad link).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use crate::app::App;
use crate::orders::{self, FulfilmentError, Shipment};
use crate::store::unix_now;

use super::session::{CheckedForm, Operator};
use super::{error_page, failure, Chrome};

#[derive(serde::Deserialize)]
pub(super) struct Ship {
    #[serde(default)]
    carrier: String,
    #[serde(default)]
    tracking: String,
    #[serde(default)]
    tracking_url: String,
}

fn answer(c: Chrome, number: &str, result: Result<i64, FulfilmentError>, notice: &str) -> Response {
    let back = format!("/admin/orders/{number}");
    match result {
        Ok(n) => Redirect::to(&format!("/admin/orders/{n}?notice={notice}")).into_response(),
        Err(FulfilmentError::NoOrder(_)) => {
            error_page(StatusCode::NOT_FOUND, c, "No such order.", "/admin/orders")
        }
        Err(FulfilmentError::Store(e)) => failure(&e.to_string()),
        Err(e) => error_page(StatusCode::UNPROCESSABLE_ENTITY, c, &e.to_string(), &back),
    }
}

fn number(text: &str) -> Result<i64, FulfilmentError> {
    text.parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(FulfilmentError::NoOrder(0))
}

pub(super) async fn ship(
    State(app): State<App>,
    Path(text): Path<String>,
    CheckedForm {
        operator: Operator { c, actor, .. },
        fields: f,
    }: CheckedForm<Ship>,
) -> Response {
    let url = f.tracking_url.trim();
    let shipment = Shipment {
        carrier: &f.carrier,
        tracking_code: &f.tracking,
        tracking_url: (!url.is_empty()).then_some(url),
    };
    let notify = !app.mailer.is_off();
    let result = match number(&text) {
        Ok(n) => orders::ship(&app.store, n, &shipment, notify, &actor, unix_now())
            .await
            .map(|o| o.number),
        Err(e) => Err(e),
    };
    if result.is_ok() {
        app.outbox_wake.notify_one();
    }
    answer(c, &text, result, "order_shipped")
}

pub(super) async fn deliver(
    State(app): State<App>,
    Path(text): Path<String>,
    CheckedForm {
        operator: Operator { c, actor, .. },
        ..
    }: CheckedForm<()>,
) -> Response {
    let result = match number(&text) {
        Ok(n) => orders::deliver(&app.store, n, &actor, unix_now())
            .await
            .map(|o| o.number),
        Err(e) => Err(e),
    };
    answer(c, &text, result, "order_delivered")
}

#[derive(serde::Deserialize)]
pub(super) struct Resend {
    /// The form's own token: one email per form, whatever the clicks.
    #[serde(default)]
    token: String,
}

pub(super) async fn resend(
    State(app): State<App>,
    Path(text): Path<String>,
    CheckedForm {
        operator: Operator { c, actor, .. },
        fields: f,
    }: CheckedForm<Resend>,
) -> Response {
    let result = match number(&text) {
        Ok(n) => orders::resend_confirmation(&app.store, n, &f.token, &actor, unix_now())
            .await
            .map(|_| n),
        Err(e) => Err(e),
    };
    if result.is_ok() {
        app.outbox_wake.notify_one();
    }
    answer(c, &text, result, "email_queued")
}
