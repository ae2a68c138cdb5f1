//! Who is signed in on the dashboard: its two cookies (the session, and the sign-in form's own
//! token) and the extractors every handler starts with — [`Operator`], a live session,
//! [`CheckedForm`], a form from a live session carrying that session's CSRF token, and [`Owner`],
//! the one guard of everything only an owner may do (a staff member gets a 403 page).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::de::DeserializeOwned;

use crate::admin;
use crate::app::App;
use crate::domain::status::OperatorRole;
use crate::http::cookies::cookie_values;
use crate::operators;
use crate::store::{unix_now, AdminSession};

use super::{error_page, failure, Chrome};

pub(super) const SESSION_COOKIE: &str = "caisse_admin";
pub(super) const LOGIN_COOKIE: &str = "caisse_admin_login";

/// The first value of the dashboard cookie `name`, or "" when there is none.
pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &'a str) -> &'a str {
    cookie_values(headers, name).next().unwrap_or_default()
}

/// A dashboard cookie: `Path=/admin`, `HttpOnly`, `SameSite=Strict`, `Secure` over https;
/// `max_age` 0 removes it.
pub(super) fn set_cookie(app: &App, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if crate::http::over_https(app) {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or(HeaderValue::from_static(""))
}

/// The signed-in operator: the chrome of their pages (with the session's CSRF token), their
/// session cookie, their role and the name the audit trail records them under. Without a live
/// session a page answers with the sign-in page (a redirect).
pub(super) struct Operator {
    pub c: Chrome,
    /// The session cookie's value (the database keeps only its hash).
    pub session: String,
    pub role: OperatorRole,
    /// `admin:EMAIL`, or `admin` for the owner of `CAISSE_ADMIN_PASSWORD_HASH`.
    pub actor: String,
}

/// The role of a session that still counts: its operator is still there (or, for the configured
/// owner, `CAISSE_ADMIN_PASSWORD_HASH` is still set), with the password the session was signed in
/// with. A changed password or a removed operator ends their sessions.
fn live_role(app: &App, s: &AdminSession) -> Option<OperatorRole> {
    let (role, hash) = match &s.operator_email {
        None => (
            OperatorRole::Owner,
            app.config.admin_password_hash.as_ref()?.expose(),
        ),
        Some(_) => (s.role?, s.password_hash.as_deref()?),
    };
    admin::same_token(&admin::password_fingerprint(hash), &s.password_fp).then_some(role)
}

impl Operator {
    /// The operator of the session cookie in `headers`, or the answer a page gives instead: a
    /// redirect to the sign-in page, or an error page when the store fails.
    async fn from_headers(app: &App, headers: &HeaderMap) -> Result<Operator, Response> {
        let token = cookie(headers, SESSION_COOKIE);
        if token.is_empty() {
            return Err(Redirect::to("/admin/login").into_response());
        }
        let session = match app
            .store
            .admin_session(&admin::token_hash(token), unix_now())
            .await
        {
            Ok(s) => s,
            Err(e) => return Err(failure(&e.to_string())),
        };
        let Some((s, role)) = session.and_then(|s| live_role(app, &s).map(|r| (s, r))) else {
            return Err(Redirect::to("/admin/login").into_response());
        };
        Ok(Operator {
            c: Chrome {
                signed_in: true,
                csrf: s.csrf_token,
                notice: None,
                who: s.operator_email.clone().unwrap_or_else(|| "owner".into()),
                owner: role == OperatorRole::Owner,
            },
            session: token.to_string(),
            role,
            actor: operators::actor(s.operator_email.as_deref()),
        })
    }
}

impl FromRequestParts<App> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        Operator::from_headers(app, &parts.headers).await
    }
}

/// Proof that the signed-in operator is an owner: the guard of refunds, stock and prices, and the
/// operators page. Anyone else gets `403` with a page saying it needs an owner, before the handler
/// runs, so nothing changes and nothing is called. Without a session a page goes to sign-in and a
/// form gets "Sign in first", as [`Operator`] and [`CheckedForm`] answer.
pub(super) struct Owner;

impl FromRequestParts<App> for Owner {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        let operator = match Operator::from_headers(app, &parts.headers).await {
            Ok(o) => o,
            Err(redirect) if parts.method == axum::http::Method::GET => return Err(redirect),
            Err(_) => return Err(sign_in_first()),
        };
        if operator.role != OperatorRole::Owner {
            tracing::warn!(operator = %operator.actor, path = %parts.uri.path(), "staff refused an owner's action");
            return Err(error_page(
                StatusCode::FORBIDDEN,
                operator.c,
                "This needs an owner: staff members can see every page, acknowledge alerts and resend emails, but not move money, stock or prices, nor manage operators. Nothing was changed.",
                "/admin",
            ));
        }
        Ok(Owner)
    }
}

fn sign_in_first() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        Chrome::signed_out(),
        "Sign in first.",
        "/admin/login",
    )
}

/// A form from the signed-in operator whose `csrf` field is their session's token (double
/// submit), with its other `fields`. Anything else is refused with `403` and changes nothing: a
/// form from no session gets "Sign in first" (not a redirect: there is nothing to come back to),
/// one with a missing or another session's token says so. The body is read first: a body that is
/// not a form gets axum's `Form` rejection, as any form handler would answer.
pub(super) struct CheckedForm<T> {
    pub operator: Operator,
    pub fields: T,
}

#[derive(serde::Deserialize)]
struct WithCsrf<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    fields: T,
}

impl<T: DeserializeOwned + Send> FromRequest<App> for CheckedForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &App) -> Result<Self, Response> {
        let headers = req.headers().clone();
        let Form(form) = Form::<WithCsrf<T>>::from_request(req, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let Ok(operator) = Operator::from_headers(app, &headers).await else {
            return Err(sign_in_first());
        };
        if !admin::same_token(&operator.c.csrf, &form.csrf) {
            return Err(error_page(
                StatusCode::FORBIDDEN,
                operator.c,
                "This form is not from this session (CSRF token missing or wrong); nothing was done.",
                "/admin",
            ));
        }
        Ok(CheckedForm {
            operator,
            fields: form.fields,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Refund {
        #[serde(default)]
        amount: String,
    }

    /// The form as axum reads it, the way [`CheckedForm`] does.
    async fn parse<T: DeserializeOwned + Send>(body: &'static str) -> Option<WithCsrf<T>> {
        let req = Request::post("/admin/x")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(body))
            .unwrap();
        Form::<WithCsrf<T>>::from_request(req, &())
            .await
            .ok()
            .map(|Form(f)| f)
    }

    #[tokio::test]
    async fn the_token_and_the_fields_come_from_one_form() {
        let f = parse::<Refund>("amount=12.50&csrf=abc&other=1")
            .await
            .unwrap();
        assert_eq!(
            (f.csrf.as_str(), f.fields.amount.as_str()),
            ("abc", "12.50")
        );
        let f = parse::<Refund>("").await.unwrap();
        assert_eq!((f.csrf.as_str(), f.fields.amount.as_str()), ("", ""));
        let f = parse::<()>("csrf=abc&x=%C3%A9").await.unwrap();
        assert_eq!(f.csrf, "abc");
        assert!(
            parse::<()>("csrf=a&csrf=b").await.is_none(),
            "one token, not two"
        );
        assert!(parse::<Refund>("amount=1&amount=2").await.is_none());
    }
}
