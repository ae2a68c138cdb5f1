//! Signing in and out of the dashboard: the sign-in form (its own token in the form and in a
//! short-lived cookie, double submit, so that another site cannot sign a browser in), the password
//! check rate limited per client network before the password is hashed and capped process-wide
//! (each check holds 19 MiB: the cap, not the number of client networks, bounds their memory), the
//! session cookie it sets, and signing out, which ends the session.

use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;

use crate::admin;
use crate::app::App;
use crate::http::caller::ClientIp;
use crate::identity;
use crate::ratelimit::{self, Scope};
use crate::store::unix_now;

use super::session::{cookie, set_cookie, CheckedForm, Operator, LOGIN_COOKIE, SESSION_COOKIE};
use super::{failure, render, Chrome};

/// Sign-in attempts per client network: a burst of 5, then one every 12 s.
const SIGN_IN_RATE: ratelimit::Rate = ratelimit::Rate {
    count: 5,
    period: std::time::Duration::from_secs(60),
};

/// How long a sign-in waits for one of the password-check permits before it gets `429`: a few
/// checks' time (one takes well under a second), so that an operator signing in during a burst
/// still gets through while the burst's queue stays short.
const PERMIT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(serde::Deserialize)]
pub(super) struct SignIn {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
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
    Form(f): Form<SignIn>,
) -> Response {
    let expected = cookie(&headers, LOGIN_COOKIE);
    if expected.is_empty() || !admin::same_token(expected, &f.csrf) {
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
        let response = login_page(
            &app,
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many sign-in attempts; wait a minute."),
        );
        let secs = ((decision.retry_after_ms + 999) / 1000).max(1);
        return with_retry_after(response, secs);
    }
    let Some(hash) = app.config.admin_password_hash.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let password_fp = admin::password_fingerprint(hash.expose());
    let Ok(good) = app
        .password_checks
        .verify(hash, f.password, PERMIT_WAIT)
        .await
    else {
        metrics::counter!("caisse_admin_sign_in_busy_total").increment(1);
        let response = login_page(
            &app,
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many sign-ins at once; try again in a moment."),
        );
        return with_retry_after(response, 1);
    };
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
            &password_fp,
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

fn with_retry_after(mut response: Response, secs: i64) -> Response {
    if let Ok(v) = secs.to_string().parse() {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

pub(super) async fn sign_out(
    State(app): State<App>,
    CheckedForm {
        operator: Operator { session, .. },
        ..
    }: CheckedForm<()>,
) -> Response {
    if let Err(e) = app
        .store
        .end_admin_session(&admin::token_hash(&session), unix_now())
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
