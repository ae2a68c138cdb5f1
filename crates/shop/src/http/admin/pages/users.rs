//! The operators page `/admin/users`, for owners only ([`Owner`]): the named operators with their
//! role and second factor, a form to add one and a button to remove one (their sessions end).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use crate::app::App;
use crate::domain::status::OperatorRole;
use crate::http::admin::session::{CheckedForm, Operator, Owner};
use crate::http::admin::{error_page, failure, render, Chrome};
use crate::operators::{self, OperatorError};
use crate::store::unix_now;

use super::{when, PageRequest};

struct UserView {
    email: String,
    role: OperatorRole,
    totp: bool,
    added: String,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    c: Chrome,
    rows: Vec<UserView>,
}

pub(in super::super) async fn page(
    State(app): State<App>,
    _owner: Owner,
    PageRequest { c, .. }: PageRequest,
) -> Response {
    match app.store.operators().await {
        Ok(rows) => render(&UsersPage {
            c,
            rows: rows
                .into_iter()
                .map(|u| UserView {
                    added: when(&app.config.time_zone, Some(u.created_at)),
                    email: u.email,
                    role: u.role,
                    totp: u.totp,
                })
                .collect(),
        }),
        Err(e) => failure(&e.to_string()),
    }
}

#[derive(serde::Deserialize)]
pub(in super::super) struct NewUser {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

/// What a refused change says, with its status.
fn refused(c: Chrome, e: OperatorError) -> Response {
    let status = match &e {
        OperatorError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        OperatorError::Exists(_) | OperatorError::LastOwner(_) => StatusCode::CONFLICT,
        OperatorError::NotFound(_) => StatusCode::NOT_FOUND,
        OperatorError::Store(e) => return failure(&e.to_string()),
    };
    error_page(
        status,
        c,
        &format!("{e}; nothing was changed."),
        "/admin/users",
    )
}

pub(in super::super) async fn add(
    State(app): State<App>,
    _owner: Owner,
    CheckedForm {
        operator: Operator { c, actor, .. },
        fields: f,
    }: CheckedForm<NewUser>,
) -> Response {
    let Ok(role) = f.role.parse::<OperatorRole>() else {
        return refused(
            c,
            OperatorError::Invalid("the role must be owner or staff".into()),
        );
    };
    match operators::add(&app.store, &f.email, role, f.password, &actor, unix_now()).await {
        Ok(_) => Redirect::to("/admin/users?notice=operator_added").into_response(),
        Err(e) => refused(c, e),
    }
}

#[derive(serde::Deserialize)]
pub(in super::super) struct Removal {
    #[serde(default)]
    email: String,
}

pub(in super::super) async fn remove(
    State(app): State<App>,
    _owner: Owner,
    CheckedForm {
        operator: Operator { c, actor, .. },
        fields: f,
    }: CheckedForm<Removal>,
) -> Response {
    let hash_owner = app.config.admin_password_hash.is_some();
    match operators::remove(&app.store, &f.email, hash_owner, &actor, unix_now()).await {
        Ok(_) => Redirect::to("/admin/users?notice=operator_removed").into_response(),
        Err(e) => refused(c, e),
    }
}
