//! The dashboard's pages, one module each, and what they share: the [`PageRequest`] extractor
//! (the signed-in operator's chrome with the notice a redirect asked for, and the query), the
//! "older" link of a keyset page, query-string encoding and how a time reads (in the shop's time zone). Every list pages by
//! keyset; its "older" link carries the last row's key.

pub(super) mod alerts;
pub(super) mod audit;
pub(super) mod event;
pub(super) mod events;
pub(super) mod holds;
pub(super) mod order;
pub(super) mod orders;
pub(super) mod overview;
pub(super) mod products;
pub(super) mod stripe_requests;
pub(super) mod users;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use jiff::tz::TimeZone;

use crate::app::App;
use crate::domain::local_time::local_time;
use crate::store::PAGE;

use super::session::Operator;
use super::Chrome;

/// What a page's query string may say; each page reads the fields it knows.
#[derive(serde::Deserialize, Default)]
pub(super) struct Params {
    notice: Option<String>,
    q: Option<String>,
    before: Option<String>,
    status: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    entity_type: Option<String>,
    entity_id: Option<String>,
    actor: Option<String>,
    from: Option<String>,
    to: Option<String>,
    all: Option<String>,
    fulfilment: Option<String>,
}

impl Params {
    /// The keyset cursor of a list keyed by a number (`?before=` the last row's id).
    fn before_id(&self) -> Option<i64> {
        self.before.as_deref().and_then(|b| b.parse().ok())
    }
}

/// A page request from the signed-in operator: the query (read first, as a `Query` would be),
/// then the [`Operator`] (the sign-in page for anyone else), whose chrome shows the notice the
/// query asks for.
pub(super) struct PageRequest {
    pub c: Chrome,
    pub q: Params,
}

impl FromRequestParts<App> for PageRequest {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        let Query(q) = Query::<Params>::from_request_parts(parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let Operator { mut c, .. } = Operator::from_request_parts(parts, app).await?;
        c.notice = notice(&q);
        Ok(PageRequest { c, q })
    }
}

/// The notice a redirect after an action asks for, from a fixed list: nothing a link can make
/// the page say.
fn notice(q: &Params) -> Option<&'static str> {
    Some(match q.notice.as_deref()? {
        "refund_requested" => "Refund requested from Stripe. The order shows it once Stripe's charge.refunded event arrives.",
        "alert_acknowledged" => "Alert acknowledged.",
        "order_shipped" => "Order marked shipped; the customer's shipping email is on its way.",
        "order_delivered" => "Order marked delivered.",
        "email_queued" => "The message is queued again; the outbox worker sends it now.",
        "event_reprocessed" => "The event went through the inbox again; its status is below.",
        "stock_adjusted" => "Stock adjusted; the audit log keeps the reason.",
        "product_saved" => "Product saved. Open checkouts keep the price they were given.",
        "operator_added" => "Operator added; they sign in with their email and the password you gave.",
        "operator_removed" => "Operator removed; their sessions ended.",
        _ => return None,
    })
}

/// The link to the next page when this one had a row more than it shows.
fn next_link<T>(rows: &mut Vec<T>, link: impl Fn(&T) -> String) -> Option<String> {
    if rows.len() as i64 > PAGE {
        rows.truncate(PAGE as usize);
        rows.last().map(link)
    } else {
        None
    }
}

/// A query string value, percent-encoded.
fn enc(s: &str) -> String {
    caisse_stripe::form::percent_encode(s, caisse_stripe::form::unreserved)
}

/// `2026-11-27 10:14 CET` in the shop's time zone, or `—` for nothing.
fn when(zone: &TimeZone, t: Option<i64>) -> String {
    t.map_or_else(|| "—".into(), |t| local_time(t, zone))
}
