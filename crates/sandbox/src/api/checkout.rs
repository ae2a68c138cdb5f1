//! Checkout Sessions: create, retrieve, update (metadata), list, line items and expire, each with
//! the `expand[]` Stripe offers there.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::Json;
use serde_json::Value;

use super::idempotency::IdempotentPost;
use super::reads::{created_filter, expansions, found, page, query};
use crate::error::ApiError;
use crate::fields;
use crate::params;
use crate::sessions;
use crate::state::{Account, Product};
use crate::Shared;

pub(super) async fn create_session(post: IdempotentPost) -> Response {
    let base = post.shared.base_url.clone();
    post.run(&params::CREATE_SESSION, |account, params, _| {
        let session = sessions::create_session(account, params, &base)?;
        Ok(expand_session(account, session, &expansions(params), ""))
    })
}

/// Metadata, set or removed key by key, on a session in any status.
pub(super) async fn update_session(Path(id): Path<String>, post: IdempotentPost) -> Response {
    let base = post.shared.base_url.clone();
    post.run(&params::UPDATE_SESSION, |account, params, _| {
        let update = fields::metadata(params, "metadata")?;
        let session = account.checkout_session_mut(&id)?;
        fields::merge_metadata(&mut session.metadata, update);
        let json = account.session_json(&account.sessions[&id], &base);
        Ok(expand_session(account, json, &expansions(params), ""))
    })
}

pub(super) async fn expire_session(Path(id): Path<String>, post: IdempotentPost) -> Response {
    let base = post.shared.base_url.clone();
    post.run(&params::EXPIRE_SESSION, |account, params, cause| {
        let session = account.expire(&id, &base, cause)?;
        Ok(expand_session(account, session, &expansions(params), ""))
    })
}

/// A session with the expansions asked for under `prefix` (`""`, or `data.` in a list): its
/// PaymentIntent as an object (and that one's `latest_charge`), its `line_items` as a list.
fn expand_session(account: &Account, mut session: Value, expand: &[String], prefix: &str) -> Value {
    let wants = |what: &str| expand.iter().any(|e| e.strip_prefix(prefix) == Some(what));
    let with_charge = wants("payment_intent.latest_charge");
    if wants("payment_intent") || with_charge {
        let pi = session["payment_intent"]
            .as_str()
            .and_then(|id| account.payment_intents.get(id));
        if let Some(pi) = pi {
            session["payment_intent"] = Account::payment_intent_json(pi);
            if let (true, Some(charge)) = (with_charge, Account::latest_charge_json(pi)) {
                session["payment_intent"]["latest_charge"] = charge;
            }
        }
    }
    if wants("line_items") {
        let id = session["id"].as_str().unwrap_or_default();
        if let Some(s) = account.sessions.get(id) {
            session["line_items"] = Account::line_items_json(s);
        }
    }
    session
}

pub(super) async fn retrieve_session(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(raw, &params::RETRIEVE_SESSION)?;
    let session = shared.with_account(|a| {
        a.sessions.get(&id).map(|s| {
            let json = a.session_json(s, &shared.base_url);
            expand_session(a, json, &expansions(&q), "")
        })
    });
    found(session, "checkout.session", &id, "session")
}

pub(super) async fn session_line_items(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(raw, &params::LIST_LINE_ITEMS)?;
    let with_product = expansions(&q).iter().any(|e| e == "data.price.product");
    let items = shared.with_account(|a| {
        a.sessions.get(&id).map(|s| {
            let mut items = Account::line_items_json(s);
            if let (true, Some(data)) = (with_product, items["data"].as_array_mut()) {
                for item in data {
                    let id = item["price"]["product"].as_str().unwrap_or_default();
                    // A `product_data` line's product is the line's own, as Stripe makes one.
                    let inline = Product {
                        id: id.to_string(),
                        name: item["description"].as_str().unwrap_or_default().to_string(),
                        created: s.created,
                        active: true,
                        description: None,
                        images: Vec::new(),
                        metadata: Default::default(),
                    };
                    let product = a.products.get(id).unwrap_or(&inline);
                    item["price"]["product"] = Account::product_json(product);
                }
            }
            items
        })
    });
    let items = found(items, "checkout.session", &id, "session")?.0;
    let items = items["data"].as_array().cloned().unwrap_or_default();
    page(items, &q, &format!("/v1/checkout/sessions/{id}/line_items"))
}

/// `payment_intent`, `status`, `customer` (the sandbox makes no customers: none match),
/// `created`, cursors, limit, `expand[]=data.…`.
pub(super) async fn list_sessions(
    State(shared): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(raw, &params::LIST_SESSIONS)?;
    let filter = |k: &str| q.get(k).and_then(Value::as_str).map(str::to_string);
    let (pi, status, customer) = (
        filter("payment_intent"),
        filter("status"),
        filter("customer"),
    );
    if let Some(s) = &status {
        if !["open", "complete", "expired"].contains(&s.as_str()) {
            return Err(ApiError::invalid(
                format!("Invalid status: must be one of complete, expired, or open (not {s})."),
                Some("status"),
            ));
        }
    }
    let created = created_filter(&q)?;
    let expand = expansions(&q);
    let items = shared.with_account(|a| {
        a.sessions
            .values()
            .rev()
            .filter(|s| pi.is_none() || s.payment_intent == pi)
            .filter(|_| customer.is_none())
            .map(|s| a.session_json(s, &shared.base_url))
            .filter(|s| status.as_deref().is_none_or(|want| s["status"] == want))
            .filter(|s| created(s["created"].as_i64().unwrap_or(0)))
            .map(|s| expand_session(a, s, &expand, "data."))
            .collect::<Vec<_>>()
    });
    page(items, &q, "/v1/checkout/sessions")
}
