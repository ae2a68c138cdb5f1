//! Creating a checkout: the cart checked against the database, the stock held under the caps,
//! the Checkout Session asked of Stripe (after the hold is committed; `session` has what to do
//! when Stripe fails, refuses or prices differently).

use std::collections::BTreeMap;

use serde_json::json;

use super::{CheckoutCreated, CheckoutError, CheckoutRequest, IDEMPOTENCY_KEY_LIFETIME};
use crate::app::App;
use crate::domain::cart::{self, CartError, CatalogEntry, Limits, RequestedLine, ValidCart};
use crate::domain::intent_tag;
use crate::domain::local_time::local_time;
use crate::domain::money::format_amount;
use crate::holds::release::{self as holds, Purpose, Verdict};
use crate::identity::Customer;
use crate::store::{AuditEntry, HoldItem, NewHold, OpenHolds, Owner, StoreError};

use super::replay::replay;
use super::session;

/// Why the hold was not written: a refusal to answer with, or a lost race for the key (answered
/// by replaying the winner's checkout once this transaction is rolled back).
enum HoldError {
    Checkout(CheckoutError),
    KeyTaken,
}

impl std::fmt::Display for HoldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HoldError::Checkout(e) => e.fmt(f),
            HoldError::KeyTaken => f.write_str("another checkout took the Idempotency-Key first"),
        }
    }
}

impl From<StoreError> for HoldError {
    fn from(e: StoreError) -> HoldError {
        HoldError::Checkout(e.into())
    }
}

/// The refusal of a hold that would pass one of an owner's caps (open holds, held units).
fn over_cap(
    open: &OpenHolds,
    units: i64,
    max_holds: i64,
    max_units: Option<i64>,
    name: &str,
    now: i64,
) -> Option<CheckoutError> {
    let over_units = max_units.filter(|max| open.units + units > *max);
    if open.holds < max_holds && over_units.is_none() {
        return None;
    }
    let (what, max) = match over_units {
        Some(max) if open.holds < max_holds => (
            format!(
                "this {name} already holds {} units; {units} more would pass the limit of {max}",
                open.units
            ),
            max,
        ),
        _ => (
            format!(
                "{} checkouts are already open for this {name} (at most {max_holds})",
                open.holds
            ),
            max_holds,
        ),
    };
    Some(CheckoutError::TooManyOpenHolds {
        what,
        max,
        retry_after: open.first_expiry.map_or(1, |t| (t - now).max(1)),
    })
}

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
    let key_since = now - IDEMPOTENCY_KEY_LIFETIME;
    if let Some(key) = idempotency_key {
        // The request must be valid on its own before it may replay anything.
        cart::check_size(
            &request.items,
            Limits {
                max_line_quantity: app.config.checkout.max_line_quantity,
                max_cart_quantity: app.config.checkout.max_cart_quantity,
            },
        )?;
        let mut found = app
            .store
            .hold_by_idempotency_key(&scope, key, key_since)
            .await?;
        if found.is_none()
            && customer.id.starts_with("guest:")
            && customer.new_guest_cookie.is_none()
        {
            // A guest that kept its cookie and changed networks (Wi-Fi to 4G) retries its own
            // key: that checkout while it is open; a new one once it ended (a new scope, so the
            // first network's closed checkout keeps its answer there).
            found = app
                .store
                .customer_hold_by_key(&customer.id, key, key_since)
                .await?
                .filter(|h| h.status.is_open());
        }
        if let Some(hold) = found {
            return replay(app, customer, hold, &request.items, email.as_deref(), now).await;
        }
    }

    let cart = validate(app, &request.items).await?;
    let shipping_offer = super::shipping::offer(app, &cart).await?;
    let offer_json = shipping_offer
        .as_ref()
        .map(|o| serde_json::to_string(o).unwrap_or_default());
    let hold_id = format!("hold_{}", uuid::Uuid::now_v7().simple());
    let tag = intent_tag::new_tag();
    // The hold's expiry until Stripe's session gives the final one (see `session::open`): no
    // later than this request can still be running, so that a hold its process died with (a
    // crash between the hold and its session) goes back to the reconciler within minutes, its
    // key freed for the client's retry, instead of holding stock to the end of the session's
    // lifetime.
    let expires_at = now + provisional_lifetime(app);
    let items: Vec<HoldItem> = cart
        .lines
        .iter()
        .map(|l| HoldItem {
            product_id: l.product_id.clone(),
            quantity: l.quantity,
            unit_amount: l.unit_amount,
        })
        .collect();

    // For guests the network first: a client that drops its cookie is a new guest every time,
    // but not a new network (DESIGN.md 1.7). Then the customer's own budget, which alone caps a
    // signed-in customer: the shop's sign-in vouches for them, and a storefront's server relays
    // every customer from its one address.
    let client_text = client_ip.to_string();
    let units: i64 = items.iter().map(|i| i.quantity).sum();
    let c = &app.config.checkout;
    let network_cap = (
        Owner::Network(&net),
        c.max_open_holds_per_ip,
        Some(c.max_held_units_per_ip),
        "client network",
    );
    let customer_cap = (
        Owner::Customer(&customer.id),
        c.max_open_holds,
        None,
        "customer",
    );
    let caps = if customer.is_signed_in() {
        vec![customer_cap]
    } else {
        vec![network_cap, customer_cap]
    };
    let new_hold = NewHold {
        id: &hold_id,
        customer_id: &customer.id,
        client_ip: Some(&client_text),
        client_net: Some(&net),
        email: email.as_deref(),
        amount_total: cart.amount_total,
        currency: &cart.currency,
        expires_at,
        idempotency_key,
        idempotency_scope: idempotency_key.map(|_| scope.as_str()),
        intent_tag: &tag,
        items: &items,
        shipping_offer: offer_json.as_deref(),
    };
    let audit = AuditEntry {
        actor: &format!("customer:{}", customer.id),
        action: "hold.created",
        entity_type: "hold",
        entity_id: &hold_id,
        before: None,
        after: Some(
            json!({ "items": items, "amount_total": cart.amount_total, "currency": cart.currency, "expires_at": expires_at }),
        ),
        message: format!(
            "Hold {hold_id} created: {}, expires at {}",
            describe(&cart),
            local_time(expires_at, &app.config.time_zone)
        ),
    };
    // Provisional: nobody outside learns of the hold before the session is recorded on it,
    // durably, which makes the hold durable too (see `Store::write_provisional`).
    let held = app
        .store
        .write_provisional(async |tx| {
            if let Some(key) = idempotency_key {
                tx.retire_idempotency_key(&scope, key, key_since).await?;
            }
            for (owner, max_holds, max_units, name) in &caps {
                tx.lock_owner(owner).await?;
                let open = tx.open_holds(owner, now).await?;
                if let Some(refusal) = over_cap(&open, units, *max_holds, *max_units, name, now) {
                    return Err(HoldError::Checkout(refusal));
                }
            }
            // Before the hold: its reservations lock the products to the commit.
            tx.audit(audit, now).await?;
            match tx.create_hold(&new_hold, now).await {
                Ok(Ok(watch)) => Ok(watch),
                Ok(Err(shortage)) => Err(HoldError::Checkout(
                    CartError::InsufficientStock {
                        name: cart
                            .lines
                            .iter()
                            .find(|l| l.product_id == shortage.product_id)
                            .map_or_else(|| shortage.product_id.clone(), |l| l.name.clone()),
                        product_id: shortage.product_id,
                        requested: shortage.requested,
                        available: shortage.available,
                    }
                    .into(),
                )),
                // Two clicks raced past the lookup above: the other one owns the key.
                Err(e) if e.is_unique_violation() && idempotency_key.is_some() => {
                    Err(HoldError::KeyTaken)
                }
                Err(e) => Err(e.into()),
            }
        })
        .await;
    let low_stock_watch = match held {
        Ok(watch) => watch,
        Err(HoldError::Checkout(e)) => return Err(e),
        Err(HoldError::KeyTaken) => {
            let key = idempotency_key.unwrap_or_default();
            let hold = app
                .store
                .hold_by_idempotency_key(&scope, key, key_since)
                .await?;
            return match hold {
                Some(hold) => {
                    replay(app, customer, hold, &request.items, email.as_deref(), now).await
                }
                None => Err(CheckoutError::InProgress),
            };
        }
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
            // No hold any more (its provisional commit was lost): nobody has the session's
            // URL, and it is ended at Stripe all the same.
            Ok(None) => {
                let key = Purpose::Expire.key(&hold_id);
                if let Err(e) = app.stripe.expire_checkout_session(&session.id, &key).await {
                    tracing::warn!(hold_id, session = %session.id, error = %e, "could not expire the session of a lost hold");
                }
            }
            Err(_) => {}
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

async fn validate(app: &App, requested: &[RequestedLine]) -> Result<ValidCart, CheckoutError> {
    let limits = Limits {
        max_line_quantity: app.config.checkout.max_line_quantity,
        max_cart_quantity: app.config.checkout.max_cart_quantity,
    };
    let result = match cart::check_size(requested, limits) {
        Err(e) => Err(e),
        Ok(ids) => {
            // One query for the whole cart, bounded by the size rules above.
            let catalog: BTreeMap<String, CatalogEntry> = app
                .store
                .products_by_ids(&ids)
                .await?
                .into_iter()
                .map(|p| {
                    let entry = CatalogEntry {
                        available: p.available(),
                        id: p.id.clone(),
                        name: p.name,
                        unit_amount: p.unit_amount,
                        currency: p.currency,
                        active: p.active,
                        stripe_price_id: p.stripe_price_id,
                    };
                    (p.id, entry)
                })
                .collect();
            cart::validate(requested, &catalog, limits)
        }
    };
    if let Err(e) = &result {
        metrics::counter!("caisse_checkouts_total", "outcome" => cart_outcome(e)).increment(1);
    }
    Ok(result?)
}

fn cart_outcome(e: &CartError) -> &'static str {
    match e {
        CartError::InsufficientStock { .. } => "insufficient_stock",
        _ => "invalid_cart",
    }
}

fn describe(cart: &ValidCart) -> String {
    let lines: Vec<String> = cart
        .lines
        .iter()
        .map(|l| {
            format!(
                "{} × {} at {}",
                l.quantity,
                l.product_id,
                format_amount(l.unit_amount, &cart.currency)
            )
        })
        .collect();
    format!(
        "{} (total {})",
        lines.join(", "),
        format_amount(cart.amount_total, &cart.currency)
    )
}
