//! `/admin`, the operators' dashboard: its routes, and how every answer is rendered (the
//! page chrome, the headers every page carries, error pages). Who is signed in (the session, the
//! [`session::Operator`] and [`session::CheckedForm`] extractors) is in [`session`], signing in and
//! out in [`sign_in`], the pages in [`pages`] (one module each), the forms that change something
//! in [`actions`].
//!
//! Without `CAISSE_ADMIN_PASSWORD_HASH` and without a named operator (`caisse admin add-user`)
//! these routes answer 404, as any unknown path. A session is a random
//! cookie (`HttpOnly`, `SameSite=Strict`, `Path=/admin`, `Secure` over https) whose SHA-256 is
//! kept in `admin_sessions` for 12 hours; every form carries the session's CSRF token, and the
//! sign-in form a short-lived one of its own (double submit). Sign-in is rate limited per client
//! network before the password is even hashed.

mod actions;
mod export;
mod fulfilment;
mod pages;
mod session;
mod sign_in;

use askama::Template;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::app::App;
use crate::error::ApiError;

pub fn routes(app: &App) -> Router<App> {
    Router::new()
        .route("/admin", get(pages::overview::page))
        .route("/admin/", get(|| async { Redirect::to("/admin") }))
        .route("/admin/assets/admin.css", get(stylesheet))
        .route(
            "/admin/login",
            get(sign_in::login_form).post(sign_in::sign_in),
        )
        .route("/admin/logout", post(sign_in::sign_out))
        .route("/admin/orders", get(pages::orders::page))
        .route("/admin/orders.csv", get(export::orders_csv))
        .route("/admin/orders/{number}", get(pages::order::page))
        .route("/admin/orders/{number}/refund", post(actions::refund))
        .route(
            "/admin/orders/{number}/refund/confirm",
            post(actions::refund_confirm),
        )
        .route("/admin/orders/{number}/ship", post(fulfilment::ship))
        .route("/admin/orders/{number}/deliver", post(fulfilment::deliver))
        .route(
            "/admin/orders/{number}/resend-confirmation",
            post(fulfilment::resend),
        )
        .route("/admin/holds", get(pages::holds::page))
        .route("/admin/events", get(pages::events::page))
        .route("/admin/events/{id}", get(pages::event::page))
        .route("/admin/events/{id}/reprocess", post(actions::reprocess))
        .route("/admin/stripe-requests", get(pages::stripe_requests::page))
        .route("/admin/audit", get(pages::audit::page))
        .route("/admin/alerts", get(pages::alerts::page))
        .route("/admin/alerts/{id}/ack", post(actions::acknowledge))
        .route("/admin/emails/{id}/retry", post(actions::retry_email))
        .route("/admin/products", get(pages::products::page))
        .route("/admin/products/{id}", post(pages::products::edit))
        .route("/admin/products/{id}/adjust", post(pages::products::adjust))
        .route(
            "/admin/users",
            get(pages::users::page).post(pages::users::add),
        )
        .route("/admin/users/remove", post(pages::users::remove))
        .route_layer(middleware::from_fn_with_state(
            app.clone(),
            dashboard_exists,
        ))
}

/// The dashboard exists when someone can sign in: `CAISSE_ADMIN_PASSWORD_HASH` is set or a named
/// operator was added (asked on each request, so that `caisse admin add-user` needs no restart).
async fn dashboard_exists(State(app): State<App>, req: Request, next: Next) -> Response {
    if app.config.admin_password_hash.is_some() {
        return next.run(req).await;
    }
    match app.store.any_operator().await {
        Ok(true) => next.run(req).await,
        Ok(false) => ApiError::not_found("no such endpoint").into_response(),
        Err(e) => failure(&e.to_string()),
    }
}

/// What the layout needs on every page.
pub(super) struct Chrome {
    pub signed_in: bool,
    pub csrf: String,
    pub notice: Option<&'static str>,
    /// Who is signed in, as the header shows it: their email, or "owner".
    pub who: String,
    /// An owner sees the owners' links (operators).
    pub owner: bool,
}

impl Chrome {
    fn signed_out() -> Chrome {
        Chrome {
            signed_in: false,
            csrf: String::new(),
            notice: None,
            who: String::new(),
            owner: false,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/error.html")]
struct ErrorPage<'a> {
    c: Chrome,
    title: &'a str,
    message: &'a str,
    back: &'a str,
}

/// An error page with its status.
fn error_page(status: StatusCode, c: Chrome, message: &str, back: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let mut response = render(&ErrorPage {
        c,
        title,
        message,
        back,
    });
    *response.status_mut() = status;
    response
}

fn failure(e: &str) -> Response {
    tracing::error!(error = %e, "dashboard page failed");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        Chrome::signed_out(),
        "Something failed on our side; it is in the logs.",
        "/admin",
    )
}

/// Renders a page with the headers every dashboard page carries: no caching, no framing, no
/// script or style from anywhere but here.
fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => {
            let mut response = (StatusCode::OK, body).into_response();
            let h = response.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(super::PAGE_CSP),
            );
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            );
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "dashboard template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template failed").into_response()
        }
    }
}

async fn stylesheet() -> Response {
    super::asset(
        "text/css; charset=utf-8",
        include_str!("../../../static/admin.css"),
    )
}
