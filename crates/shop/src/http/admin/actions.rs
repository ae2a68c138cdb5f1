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
    let amount = if f.amount.trim().is_empty() {
        None
    } else {
        let currency = match app.store.order_by_number(number).await {
            Ok(Some(o)) => o.currency,
            Ok(None) => return refused(c, ActionError::NotFound, &back),
            Err(e) => return failure(&e.to_string()),
        };
        let parsed = crate::domain::money::Currency::parse(&currency)
            .ok()
            .and_then(|cur| crate::domain::money::parse_major(&f.amount, &cur));
        match parsed {
            Some(a) => Some(a),
            None => {
                return refused(
                    c,
                    ActionError::Refused(format!(
                        "“{}” is not an amount in {}",
                        f.amount.trim(),
                        currency.to_ascii_uppercase()
                    )),
                    &back,
                )
            }
        }
    };
    match admin::refund(&app, number, amount, &f.token, &c.csrf, &actor, unix_now()).await {
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
