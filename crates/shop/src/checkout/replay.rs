//! A repeated checkout request with the same `Idempotency-Key`: the first request's checkout, once
//! it has its session, for the same customer, cart and email only.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{CheckoutCreated, CheckoutError, DOUBLE_CLICK_WINDOW, REPLAY_WAIT};
use crate::app::App;
use crate::domain::cart::RequestedLine;
use crate::identity::Customer;
use crate::store::Hold;

/// A repeated request with the same key: the same answer once the first request has its session.
pub(super) async fn replay(
    app: &App,
    customer: &Customer,
    hold: Hold,
    requested: &[RequestedLine],
    email: Option<&str>,
    now: i64,
) -> Result<CheckoutCreated, CheckoutError> {
    // A guest's key is scoped to its network so that a double click sent before any cookie is one
    // checkout; another guest of that network (one with its own cookie, or one coming later) is
    // not that click, and must not be handed the first guest's identity.
    let same_customer = hold.customer_id == customer.id;
    let double_click = customer.new_guest_cookie.is_some()
        && hold.customer_id.starts_with("guest:")
        && hold.created_at >= now - DOUBLE_CLICK_WINDOW;
    if !same_customer && !double_click {
        return Err(CheckoutError::KeyReused(
            "this Idempotency-Key belongs to another customer's checkout (a guest that comes back \
             without its cookie after the double-click window is another customer)",
        ));
    }
    let items = app.store.hold_items(&hold.id).await?;
    let mut asked: BTreeMap<&str, i64> = BTreeMap::new();
    for line in requested {
        *asked.entry(line.product_id.as_str()).or_default() += line.quantity;
    }
    let held: BTreeMap<&str, i64> = items
        .iter()
        .map(|i| (i.product_id.as_str(), i.quantity))
        .collect();
    // The same cart and the same email, or it is another request.
    if asked != held || email != hold.email.as_deref() {
        return Err(CheckoutError::KeyReused(
            "this Idempotency-Key was used for another cart or email",
        ));
    }
    let first_guest = (!same_customer).then(|| hold.customer_id.clone());
    let in_progress = || CheckoutError::InProgress {
        first_guest: first_guest.clone(),
    };
    let deadline = tokio::time::Instant::now() + REPLAY_WAIT;
    let mut hold = hold;
    loop {
        if !hold.status.is_open() && hold.idempotency_key.is_none() {
            // The first request failed at Stripe while this one waited, and freed the key: its
            // answer, and the client's retry starts afresh.
            return Err(match hold.release_reason.as_deref() {
                Some(super::session::RELEASED_REFUSED) => CheckoutError::ProviderRefused,
                _ => CheckoutError::ProviderUnavailable,
            });
        }
        if !hold.status.is_open() {
            // The first answer's URL is dead now: say what became of that checkout.
            let status = super::status::status_of(app, hold.clone()).await?;
            return Err(CheckoutError::Closed {
                status: status.status,
                checkout_session_id: hold.checkout_session_id,
                first_guest,
            });
        }
        if let (Some(session), Some(url)) = (&hold.checkout_session_id, &hold.checkout_url) {
            return Ok(CheckoutCreated {
                customer_id: hold.customer_id.clone(),
                hold_id: hold.id.clone(),
                checkout_session_id: session.clone(),
                url: url.clone(),
                expires_at: hold.expires_at,
                amount_total: hold.amount_total,
                currency: hold.currency.clone(),
            });
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(in_progress());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        hold = app.store.hold(&hold.id).await?.ok_or_else(in_progress)?;
    }
}
