//! The dashboard's actions: refund an order, reprocess a webhook event, acknowledge an alert,
//! retry a message. Each takes a [`CheckedForm`] (signed in, CSRF token checked), calls the admin
//! service as the signed-in operator, and answers 303 to the page that shows the result, or an
//! error page saying why not. A refund moves money: it takes the [`Owner`] guard first.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use crate::admin::{self, ActionError};
use crate::app::App;
use crate::store::unix_now;

use super::session::{CheckedForm, Operator, Owner};
use super::{error_page, failure, Chrome};

/// The refund form's fields besides its CSRF token.
#[derive(serde::Deserialize)]
pub(super) struct Refund {
    /// In major units (`12.50`); empty for all that is left.
    #[serde(default)]
    amount: String,
    /// The form's own token: one refund per form, whatever the clicks.
    #[serde(default)]
    token: String,
    /// Stripe's reason, chosen on the confirmation step.
    #[serde(default)]
    reason: String,
}

/// The confirmation step of a refund: what will be refunded, and Stripe's reason to choose.
#[derive(askama::Template)]
#[template(path = "admin/refund_confirm.html")]
struct Confirm {
    c: Chrome,
    number: i64,
    amount_text: String,
    amount_field: String,
    token: String,
    reasons: [&'static str; 3],
}

/// A number in a path; anything else names nothing (a 404 page, not a plain-text 400).
fn id(text: &str) -> Option<i64> {
    text.parse().ok().filter(|n| *n > 0)
}

/// The answer to an action that failed: the service's sentence, with its status.
fn refused(c: Chrome, e: ActionError, back: &str) -> Response {
    match e {
        ActionError::NotFound => error_page(StatusCode::NOT_FOUND, c, "Not found.", back),
        ActionError::Refused(why) => error_page(StatusCode::UNPROCESSABLE_ENTITY, c, &why, back),
        ActionError::Stripe(e) => {
            error_page(StatusCode::BAD_GATEWAY, c, &format!("Stripe: {e}"), back)
        }
        ActionError::Store(e) => failure(&e.to_string()),
    }
}

/// The amount typed (in the order's currency's major units), or `None` for all that is left.
async fn typed_amount(app: &App, number: i64, text: &str) -> Result<Option<i64>, ActionError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let order = app
        .store
        .order_by_number(number)
        .await?
        .ok_or(ActionError::NotFound)?;
    crate::domain::money::Currency::parse(&order.currency)
        .ok()
        .and_then(|cur| crate::domain::money::parse_major(text, &cur))
        .map(Some)
        .ok_or_else(|| {
            ActionError::Refused(format!(
                "“{}” is not an amount in {}",
                text.trim(),
                order.currency.to_ascii_uppercase()
            ))
        })
}

/// The order page's refund form leads here first: the amount as it will be refunded, and
/// Stripe's reason to choose, before anything is sent.
pub(super) async fn refund_confirm(
    State(app): State<App>,
    Path(number): Path<String>,
    _owner: Owner,
    CheckedForm {
        operator: Operator { c, .. },
        fields: f,
    }: CheckedForm<Refund>,
) -> Response {
    let Some(number) = id(&number) else {
        return refused(c, ActionError::NotFound, "/admin/orders");
    };
    let back = format!("/admin/orders/{number}");
    let amount = match typed_amount(&app, number, &f.amount).await {
        Ok(a) => a,
        Err(e) => return refused(c, e, &back),
    };
    let order = match app.store.order_by_number(number).await {
        Ok(Some(o)) => o,
        Ok(None) => return refused(c, ActionError::NotFound, &back),
        Err(e) => return failure(&e.to_string()),
    };
    let refunded = match admin::refund_amount(&order, amount) {
        Ok((_, a)) => a,
        Err(why) => return refused(c, ActionError::Refused(why), &back),
    };
    let shown = crate::domain::money::format_amount(refunded, &order.currency);
    super::render(&Confirm {
        c,
        number,
        amount_text: match amount {
            Some(_) => shown,
            None => format!("{shown} (all that is left)"),
        },
        amount_field: f.amount.trim().to_string(),
        token: f.token,
        reasons: admin::REFUND_REASONS,
    })
}

pub(super) async fn refund(
    State(app): State<App>,
    Path(number): Path<String>,
    _owner: Owner,
    CheckedForm {
        operator: Operator { c, actor, .. },
        fields: f,
    }: CheckedForm<Refund>,
) -> Response {
    let Some(number) = id(&number) else {
        return refused(c, ActionError::NotFound, "/admin/orders");
    };
    let back = format!("/admin/orders/{number}");
    let amount = match typed_amount(&app, number, &f.amount).await {
        Ok(a) => a,
        Err(e) => return refused(c, e, &back),
    };
    let reason = Some(f.reason.trim()).filter(|r| !r.is_empty());
    let form = admin::RefundForm {
        amount,
        reason,
        token: &f.token,
        session_key: &c.csrf,
    };
    match admin::refund(&app, number, &form, &actor, unix_now()).await {
        Ok(_) => Redirect::to(&format!("{back}?notice=refund_requested")).into_response(),
        Err(e) => refused(c, e, &back),
    }
}

pub(super) async fn reprocess(
    State(app): State<App>,
    Path(id): Path<String>,
    CheckedForm {
        operator: Operator { c, actor, .. },
        ..
    }: CheckedForm<()>,
) -> Response {
    let back = "/admin/events";
    match admin::reprocess_event(&app, &id, &actor, unix_now()).await {
        Ok(_) => match app.store.event_detail(&id).await {
            Ok(Some(d)) => Redirect::to(&format!(
                "/admin/events/{}?notice=event_reprocessed",
                d.row.stripe_event_id
            ))
            .into_response(),
            _ => Redirect::to(back).into_response(),
        },
        Err(e) => refused(c, e, back),
    }
}

pub(super) async fn acknowledge(
    State(app): State<App>,
    Path(id_text): Path<String>,
    CheckedForm {
        operator: Operator { c, actor, .. },
        ..
    }: CheckedForm<()>,
) -> Response {
    let Some(id) = id(&id_text) else {
        return refused(c, ActionError::NotFound, "/admin");
    };
    match app.store.acknowledge_alert(id, &actor, unix_now()).await {
        Ok(true) => Redirect::to("/admin/alerts?notice=alert_acknowledged").into_response(),
        Ok(false) => refused(
            c,
            ActionError::Refused("This alert does not exist or is already acknowledged.".into()),
            "/admin/alerts",
        ),
        Err(e) => failure(&e.to_string()),
    }
}

pub(super) async fn retry_email(
    State(app): State<App>,
    Path(id_text): Path<String>,
    CheckedForm {
        operator: Operator { c, actor, .. },
        ..
    }: CheckedForm<()>,
) -> Response {
    let Some(id) = id(&id_text) else {
        return refused(c, ActionError::NotFound, "/admin");
    };
    let order = match app.store.outbox_row(id).await {
        Ok(Some(row)) => serde_json::from_str::<serde_json::Value>(&row.payload)
            .ok()
            .and_then(|p| p["order_id"].as_str().map(str::to_string)),
        Ok(None) => return refused(c, ActionError::NotFound, "/admin"),
        Err(e) => return failure(&e.to_string()),
    };
    match app.store.retry_outbox(id, &actor, unix_now()).await {
        Ok(true) => {
            app.outbox_wake.notify_one();
            let back = match order {
                Some(order_id) => match app.store.order(&order_id).await {
                    Ok(Some(o)) => format!("/admin/orders/{}?notice=email_queued", o.number),
                    _ => "/admin?notice=email_queued".into(),
                },
                None => "/admin?notice=email_queued".into(),
            };
            Redirect::to(&back).into_response()
        }
        Ok(false) => refused(
            c,
            ActionError::Refused("Only a failed message can be retried.".into()),
            "/admin",
        ),
        Err(e) => failure(&e.to_string()),
    }
}
