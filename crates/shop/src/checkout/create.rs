//! Creating a checkout: the hold ([`super::hold`]: the key's earlier checkout, the cart checked
//! against the database, the stock held under the caps), then the Checkout Session asked of
//! Stripe (after the hold is committed; `session` has what to do when Stripe fails, refuses or
//! prices differently).

use super::hold::{self, Held, HoldError};
use super::{CheckoutCreated, CheckoutError, CheckoutRequest, IDEMPOTENCY_KEY_LIFETIME};
use crate::app::App;
use crate::domain::intent_tag;
use crate::holds::release::{self as holds, Purpose, Verdict};
use crate::identity::Customer;
use crate::store::StoreError;

use super::replay::replay;
use super::session;

pub async fn create(
    app: &App,
    customer: &Customer,
    client_ip: std::net::IpAddr,
    request: CheckoutRequest,
    idempotency_key: Option<&str>,
    now: i64,
) -> Result<CheckoutCreated, CheckoutError> {
    let email = match request.email.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(e) if crate::domain::email::is_plausible(e) => Some(e.to_string()),
        Some(_) => return Err(CheckoutError::InvalidEmail),
    };
    // Keys are the client's: a signed-in customer's, or for guests their network's, so that a
    // double click before the first answer set a cookie is still one checkout.
    let net = crate::identity::network_key(client_ip);
    let scope = if customer.id.starts_with("guest:") {
        format!("net:{net}")
    } else {
        customer.id.clone()
    };
    let ids = hold::cart_size(app, &request.items)?;
    let hold_id = format!("hold_{}", uuid::Uuid::now_v7().simple());
    let tag = intent_tag::new_tag();
    let client_text = client_ip.to_string();
    let ask = hold::Ask {
        app,
        customer,
        requested: &request.items,
        ids: &ids,
        email: email.as_deref(),
        idempotency_key,
        scope: &scope,
        key_since: now - IDEMPOTENCY_KEY_LIFETIME,
        client_ip: &client_text,
        net: &net,
        hold_id: &hold_id,
        tag: &tag,
        // The hold's expiry until Stripe's session gives the final one (see `session::open`):
        // no later than this request can still be running, so that a hold its process died with
        // (a crash between the hold and its session) goes back to the reconciler within minutes,
        // its key freed for the client's retry, instead of holding stock to the end of the
        // session's lifetime.
        expires_at: now + provisional_lifetime(app),
        now,
    };
    // Provisional: nobody outside learns of the hold before the session is recorded on it,
    // durably, which makes the hold durable too (see `Store::write_provisional`).
    let held = app
        .store
        .write_provisional(async |tx| hold::hold(tx, &ask).await)
        .await;
    let Held {
        cart,
        shipping_offer,
        low_stock_watch,
    } = match held {
        Ok(held) => held,
        Err(HoldError::Checkout(e)) => return Err(e),
        Err(HoldError::Existing(hold)) => {
            return replay(app, customer, *hold, &request.items, email.as_deref(), now).await
        }
        // The client's retry finds the checkout that holds the key.
        Err(HoldError::KeyTaken) => return Err(CheckoutError::InProgress { first_guest: None }),
    };
    let session::Opened {
        session,
        url,
        expires_at,
    } = session::open(
        app,
        &hold_id,
        &tag,
        &cart,
        email.as_deref(),
        shipping_offer.as_deref(),
    )
    .await?;
    let stored = app
        .store
        .write(async |tx| {
            if tx
                .set_hold_session(&hold_id, &session.id, &url, expires_at, now)
                .await?
            {
                let actor = format!("customer:{}", customer.id);
                let entry =
                    hold::created_entry(app, &actor, &hold_id, &cart, &session.id, expires_at);
                tx.audit(entry, now).await?;
                Ok(())
            } else {
                // Its provisional commit was undone (a failed group commit, a crash), or the
                // reconciler released it past its provisional expiry: no URL leaves.
                Err(StoreError::Unavailable(format!(
                    "hold {hold_id} was lost or released before its Checkout Session could be recorded"
                )))
            }
        })
        .await;
    if let Err(e) = stored {
        // Stripe has a session the hold does not know: end it at Stripe and free the hold and
        // its key, rather than leave the key answering `checkout_in_progress` until expiry.
        tracing::error!(hold_id, session = %session.id, error = %e, "could not record the Checkout Session");
        match app.store.hold(&hold_id).await {
            Ok(Some(mut hold)) => {
                hold.checkout_session_id = Some(session.id.clone());
                if holds::expire_at_stripe(&app.stripe, &hold, Purpose::Expire).await
                    == Verdict::Expired
                {
                    session::release_failed(app, &hold_id, now).await?;
                }
            }
            // No hold any more (its provisional commit was lost), or no database to read it
            // from: nobody has the session's URL, and it is ended at Stripe all the same (the
            // hold, if any, is released by the reconciler at its provisional expiry, or by the
            // session's `checkout.session.expired` event, whichever comes first).
            Ok(None) | Err(_) => {
                let key = Purpose::Expire.key(&hold_id);
                if let Err(e) = app.stripe.expire_checkout_session(&session.id, &key).await {
                    tracing::warn!(hold_id, session = %session.id, error = %e, "could not expire the session of a lost hold");
                }
            }
        }
        return Err(e.into());
    }
    if !session::prices_agree(&cart, &session) {
        session::refuse_mispriced(app, &hold_id, &cart, &session, now).await?;
        metrics::counter!("caisse_checkouts_total", "outcome" => "price_mismatch").increment(1);
        return Err(CheckoutError::ProviderUnavailable);
    }
    watch_low_stock(app, &low_stock_watch, now).await;
    metrics::counter!("caisse_checkouts_total", "outcome" => "created").increment(1);
    Ok(CheckoutCreated {
        customer_id: customer.id.clone(),
        hold_id,
        checkout_session_id: session.id,
        url,
        expires_at,
        amount_total: cart.amount_total,
        currency: cart.currency,
    })
}

/// The low-stock watch of the products whose reservation fell to their threshold, once the
/// checkout stands: a checkout that Stripe failed or priced differently gave its stock back in the
/// same request, and raised no alert. Not answering the checkout for it: if this write fails, the
/// next reservation below the threshold finds the watch still to run, and runs it.
async fn watch_low_stock(app: &App, products: &[String], now: i64) {
    if products.is_empty() {
        return;
    }
    let watched = app
        .store
        .write(async |tx| {
            for product in products {
                tx.watch_low_stock(product, now).await?;
            }
            Ok::<_, StoreError>(())
        })
        .await;
    if let Err(e) = watched {
        tracing::warn!(error = %e, "could not run the low-stock watch after a checkout");
    }
}

/// Seconds a hold keeps its provisional expiry: longer than a checkout can take to record its
/// session (three tries at Stripe, each within its time limit, and its two writes' longest
/// wait for the database, SQLite's being the longer), at most
/// the hold's own lifetime. The session's write checks that its hold is still open, so a hold
/// released meanwhile never gets a URL.
fn provisional_lifetime(app: &App) -> i64 {
    let stripe = app.config.stripe.timeout.as_secs() as i64;
    let writer_wait = crate::store::SQLITE_BUSY_TIMEOUT.as_secs() as i64;
    let longest_checkout = 3 * stripe + 2 * writer_wait + 60;
    longest_checkout.min(app.config.checkout.hold_ttl.as_secs() as i64)
}
