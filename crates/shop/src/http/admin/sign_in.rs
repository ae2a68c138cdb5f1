//! Signing in and out of the dashboard: the sign-in form (its own token in the form and in a
//! short-lived cookie, double submit, so that another site cannot sign a browser in), the password
//! check rate limited per client network before the password is hashed and capped process-wide
//! (each check holds 19 MiB: the cap, not the number of client networks, bounds their memory), the
//! session cookie it sets, and signing out, which ends the session.
//!
//! The form asks for `email`, `password` and, for an operator with TOTP on, `code`. An empty email
//! is the owner of `CAISSE_ADMIN_PASSWORD_HASH` (how the dashboard signed in before named
//! operators). An unknown email costs the same password check as a known one (against a hash
//! made once per process), and reads as a wrong password, so the form tells nobody who exists.
//! The rate limit is taken before anything is checked, so it covers codes as well as passwords.

use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;

use crate::admin;
use crate::app::App;
use crate::domain::totp;
use crate::http::caller::ClientIp;
use crate::identity;
use crate::operators;
use crate::ratelimit::{self, Scope};
use crate::secret::Secret;
use crate::store::{unix_now, NewAdminSession};

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
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
}

/// What a sign-in is checked against: the password's hash, and for a named operator their
/// email and TOTP secret (with the last step used).
struct Credentials {
    hash: Secret,
    email: Option<String>,
    totp: Option<(String, Option<i64>)>,
    /// False for an unknown email: the check runs (against a stand-in hash) and fails.
    known: bool,
}

/// A hash of no one's password, made once, so that an unknown email costs what a known one does.
fn stand_in_hash() -> Secret {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    Secret::new(
        HASH.get_or_init(|| admin::hash_password(&admin::random_token()).unwrap_or_default())
            .clone(),
    )
}

/// Whose credentials the form names; `Ok(None)`: no one can sign in with an empty email.
async fn credentials(app: &App, email: &str) -> Result<Option<Credentials>, Response> {
    if email.trim().is_empty() {
        return Ok(app
            .config
            .admin_password_hash
            .clone()
            .map(|hash| Credentials {
                hash,
                email: None,
                totp: None,
                known: true,
            }));
    }
    let unknown = || Credentials {
        hash: stand_in_hash(),
        email: None,
        totp: None,
        known: false,
    };
    let Ok(email) = operators::normalize_email(email) else {
        return Ok(Some(unknown()));
    };
    match app.store.operator_credentials(&email).await {
        Ok(Some(c)) => Ok(Some(Credentials {
            hash: Secret::new(c.password_hash),
            totp: c.totp_secret.map(|s| (s, c.totp_last_step)),
            email: Some(email),
            known: true,
        })),
        Ok(None) => Ok(Some(unknown())),
        Err(e) => Err(failure(&e.to_string())),
    }
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
    let who = match credentials(&app, &f.email).await {
        Ok(Some(who)) => who,
        Ok(None) => {
            return login_page(
                &app,
                StatusCode::UNAUTHORIZED,
                Some("Enter your email address."),
            )
        }
        Err(failure) => return failure,
    };
    let password_fp = admin::password_fingerprint(who.hash.expose());
    let Ok(good) = app
        .password_checks
        .verify(who.hash.clone(), f.password, PERMIT_WAIT)
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
    if !(good && who.known) {
        metrics::counter!("caisse_admin_sign_in_failures_total").increment(1);
        tracing::warn!(network = %network, "wrong dashboard password");
        return login_page(
            &app,
            StatusCode::UNAUTHORIZED,
            Some("Wrong password, or no operator with that email."),
        );
    }
    let now = unix_now();
    if let (Some(email), Some((secret, last_used))) = (&who.email, &who.totp) {
        if let Err(refusal) = check_code(&app, email, secret, *last_used, &f.code, now).await {
            metrics::counter!("caisse_admin_sign_in_failures_total").increment(1);
            tracing::warn!(network = %network, "missing or wrong dashboard code");
            return refusal;
        }
    }
    let (token, csrf) = (admin::random_token(), admin::random_token());
    let actor = operators::actor(who.email.as_deref());
    if let Err(e) = app
        .store
        .create_admin_session(
            NewAdminSession {
                token_hash: &admin::token_hash(&token),
                password_fp: &password_fp,
                csrf_token: &csrf,
                operator_email: who.email.as_deref(),
                actor: &actor,
            },
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

/// The second factor: a code of the operator's secret near `now`, later than the last one used,
/// claimed in the database so that it signs in once (two sign-ins with one code: one wins).
async fn check_code(
    app: &App,
    email: &str,
    secret: &str,
    last_used: Option<i64>,
    code: &str,
    now: i64,
) -> Result<(), Response> {
    let refuse = |why| login_page(app, StatusCode::UNAUTHORIZED, Some(why));
    if code.trim().is_empty() {
        return Err(refuse(
            "Enter the 6-digit code from your authenticator app.",
        ));
    }
    let wrong = "Wrong code, or a code already used; wait for the next one.";
    let Some(step) = totp::from_base32(secret)
        .and_then(|secret| totp::matching_step(&secret, code, now, last_used))
    else {
        return Err(refuse(wrong));
    };
    match app.store.claim_totp_step(email, step).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(refuse(wrong)),
        Err(e) => Err(failure(&e.to_string())),
    }
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
        operator: Operator { session, actor, .. },
        ..
    }: CheckedForm<()>,
) -> Response {
    if let Err(e) = app
        .store
        .end_admin_session(&admin::token_hash(&session), &actor, unix_now())
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
