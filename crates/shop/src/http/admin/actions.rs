//! The dashboard's forms: sign-in and sign-out, and the actions (refund, reprocess an event,
//! acknowledge an alert, retry a message). Each checks the session and its CSRF token, calls
//! the admin service, and answers 303 to the page that shows the result.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;

use crate::admin::{self, ActionError};
use crate::app::App;
use crate::http::caller::ClientIp;
use crate::identity;
use crate::ratelimit::{self, Scope};
use crate::store::unix_now;

use super::{
    cookie, error_page, failure, render, set_cookie, signed_in, Chrome, LOGIN_COOKIE,
    SESSION_COOKIE, SIGN_IN_RATE,
};

#[derive(serde::Deserialize)]
pub(super) struct Fields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    token: String,
}

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage<'a> {
    c: Chrome,
    login_csrf: String,
    error: Option<&'a str>,
}

/// The sign-in form, with a fresh token in the form and in a short-lived cookie.
fn login_page(app: &App, status: StatusCode, error: Option<&str>) -> Response {
    let token = admin::random_token();
    let mut response = render(&LoginPage {
        c: Chrome::signed_out(),
        login_csrf: token.clone(),
        error,
    });
    *response.status_mut() = status;
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(app, LOGIN_COOKIE, &token, 900),
    );
    response
}

pub(super) async fn login_form(State(app): State<App>) -> Response {
    login_page(&app, StatusCode::OK, None)
}

pub(super) async fn sign_in(
    State(app): State<App>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !admin::same_token(&expected, &f.csrf) {
        return login_page(
            &app,
            StatusCode::FORBIDDEN,
            Some("This form expired; sign in again."),
        );
    }
    let network = identity::network_key(client);
    let decision = app
        .limiter
        .check(
            Scope::AdminSignIn,
            &network,
            SIGN_IN_RATE,
            ratelimit::now_ms(),
        )
        .await;
    if !decision.allowed {
        metrics::counter!("caisse_rate_limited_total", "scope" => Scope::AdminSignIn.as_str())
            .increment(1);
        let mut response = login_page(
            &app,
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many sign-in attempts; wait a minute."),
        );
        let secs = ((decision.retry_after_ms + 999) / 1000).max(1);
        if let Ok(v) = secs.to_string().parse() {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    let Some(hash) = app.config.admin_password_hash.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let password = f.password;
    let good =
        tokio::task::spawn_blocking(move || admin::verify_password(hash.expose(), &password))
            .await
            .unwrap_or(false);
    if !good {
        metrics::counter!("caisse_admin_sign_in_failures_total").increment(1);
        tracing::warn!(network = %network, "wrong dashboard password");
        return login_page(&app, StatusCode::UNAUTHORIZED, Some("Wrong password."));
    }
    let (token, csrf, now) = (admin::random_token(), admin::random_token(), unix_now());
    if let Err(e) = app
        .store
        .create_admin_session(
            &admin::token_hash(&token),
            &csrf,
            now,
            now + admin::SESSION_SECS,
        )
        .await
    {
        return failure(&e.to_string());
    }
    let mut response = Redirect::to("/admin").into_response();
    let h = response.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(&app, SESSION_COOKIE, &token, admin::SESSION_SECS),
    );
    h.append(header::SET_COOKIE, set_cookie(&app, LOGIN_COOKIE, "", 0));
    response
}

/// The session's chrome when the form carries its CSRF token; the answer to give otherwise.
async fn checked(app: &App, headers: &HeaderMap, f: &Fields) -> Result<Chrome, Response> {
    let c = match signed_in(app, headers).await {
        Ok(c) => c,
        // A form from no session: refuse, do not redirect (nothing to come back to).
        Err(_) => {
            return Err(error_page(
                StatusCode::FORBIDDEN,
                Chrome::signed_out(),
                "Sign in first.",
                "/admin/login",
            ))
        }
    };
    if !admin::same_token(&c.csrf, &f.csrf) {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            c,
            "This form is not from this session (CSRF token missing or wrong); nothing was done.",
            "/admin",
        ));
    }
    Ok(c)
}

pub(super) async fn sign_out(
    State(app): State<App>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(answer) = checked(&app, &headers, &f).await {
        return answer;
    }
    let token = cookie(&headers, SESSION_COOKIE).unwrap_or_default();
    if let Err(e) = app
        .store
        .end_admin_session(&admin::token_hash(&token), unix_now())
        .await
    {
        return failure(&e.to_string());
    }
    let mut response = Redirect::to("/admin/login").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(&app, SESSION_COOKIE, "", 0));
    response
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
    headers: HeaderMap,
    Path(number): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let c = match checked(&app, &headers, &f).await {
        Ok(c) => c,
        Err(answer) => return answer,
    };
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
    match admin::refund(&app, number, amount, &f.token, unix_now()).await {
        Ok(_) => Redirect::to(&format!("{back}?notice=refund_requested")).into_response(),
        Err(e) => refused(c, e, &back),
    }
}

pub(super) async fn reprocess(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let c = match checked(&app, &headers, &f).await {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    let back = "/admin/events";
    match admin::reprocess_event(&app, &id, unix_now()).await {
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
    headers: HeaderMap,
    Path(id_text): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let c = match checked(&app, &headers, &f).await {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    let Some(id) = id(&id_text) else {
        return refused(c, ActionError::NotFound, "/admin");
    };
    match app.store.acknowledge_alert(id, unix_now()).await {
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
    headers: HeaderMap,
    Path(id_text): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let c = match checked(&app, &headers, &f).await {
        Ok(c) => c,
        Err(answer) => return answer,
    };
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
    match app.store.retry_outbox(id, unix_now()).await {
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
