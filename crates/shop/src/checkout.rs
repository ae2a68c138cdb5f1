//! Checkout (DESIGN.md 1.4): a validated cart becomes a stock hold and a Stripe Checkout Session,
//! or nothing at all.
//!
//! The hold is committed before Stripe is called, so a crash in between leaves a hold without a
//! session, which expires and is swept like any other; a Stripe failure releases the hold in the
//! same request. The session's `expires_at` is the hold's expiry, and both carry the hold id
//! (`metadata[hold_id]` on the session and on its PaymentIntent), so every later event finds it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use crate::app::App;
use crate::domain::cart::{self, CartError, CatalogEntry, Limits, RequestedLine, ValidCart};
use crate::domain::money::format_amount;
use crate::identity::Customer;
use crate::release::Purpose;
use crate::store::{AuditEntry, Hold, HoldItem, NewAlert, NewHold, Owner, Severity, StoreError};

/// What the storefront sends: product ids and quantities, an optional email. Nothing else — a
/// price field is refused, not ignored.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    pub items: Vec<RequestedLine>,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CheckoutCreated {
    /// Whose checkout it is: a cookieless double click answered with the first click's hold
    /// hands its guest identity back, so that the success page finds the checkout.
    #[serde(skip)]
    pub customer_id: String,
    pub hold_id: String,
    pub checkout_session_id: String,
    pub url: String,
    pub expires_at: i64,
    pub amount_total: i64,
    pub currency: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error(transparent)]
    Cart(#[from] CartError),
    #[error("invalid email address")]
    InvalidEmail,
    #[error("{what}")]
    TooManyOpenHolds {
        /// Which cap, in a sentence.
        what: String,
        max: i64,
        /// Seconds until the oldest open hold expires and frees a place.
        retry_after: i64,
    },
    /// Why the key cannot be this request's: another customer's, or another cart or email.
    #[error("{0}")]
    KeyReused(&'static str),
    #[error("the checkout with this Idempotency-Key is still being created")]
    InProgress,
    #[error("the checkout with this Idempotency-Key is over ({status}); start a new one with another key")]
    Closed {
        status: &'static str,
        checkout_session_id: Option<String>,
    },
    #[error("the payment provider is unavailable")]
    ProviderUnavailable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Stripe refuses an `expires_at` less than 30 minutes or more than 24 hours after it creates the
/// session; keeping 30 s inside both bounds absorbs latency and clock skew.
fn session_lifetime(ttl: Duration) -> i64 {
    (ttl.as_secs() as i64).clamp(1800 + 30, 86_400 - 30)
}

/// How long an Idempotency-Key names its checkout (Stripe keeps its own keys 24 hours too).
const IDEMPOTENCY_KEY_LIFETIME: i64 = 86_400;

/// How soon after the first click a cookieless repeat counts as the same browser's double click.
const DOUBLE_CLICK_WINDOW: i64 = 60;

/// How long a repeated request waits for the first one to reach Stripe.
const REPLAY_WAIT: Duration = Duration::from_secs(10);

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
        if let Some(hold) = app
            .store
            .hold_by_idempotency_key(&scope, key, key_since)
            .await?
        {
            return replay(app, customer, hold, &request.items, email.as_deref(), now).await;
        }
    }

    let cart = validate(app, &request.items).await?;
    let hold_id = format!("hold_{}", uuid::Uuid::now_v7().simple());
    let expires_at = now + session_lifetime(app.config.checkout.hold_ttl);
    let items: Vec<HoldItem> = cart
        .lines
        .iter()
        .map(|l| HoldItem {
            product_id: l.product_id.clone(),
            quantity: l.quantity,
            unit_amount: l.unit_amount,
        })
        .collect();

    // The network first: a client that drops its cookie is a new guest every time, but not a
    // new network (DESIGN.md 1.7). Then the customer's own budget.
    let client_text = client_ip.to_string();
    let units: i64 = items.iter().map(|i| i.quantity).sum();
    let c = &app.config.checkout;
    let mut tx = app.store.begin().await?;
    if let Some(key) = idempotency_key {
        tx.retire_idempotency_key(&scope, key, key_since).await?;
    }
    let caps = [
        (
            Owner::Network(&net),
            c.max_open_holds_per_ip,
            Some(c.max_held_units_per_ip),
            "client network",
        ),
        (
            Owner::Customer(&customer.id),
            c.max_open_holds,
            None,
            "customer",
        ),
    ];
    for (owner, max_holds, max_units, name) in caps {
        tx.lock_owner(&owner).await?;
        let open = tx.open_holds(&owner, now).await?;
        let over_units = max_units.filter(|max| open.units + units > *max);
        if open.holds >= max_holds || over_units.is_some() {
            let (what, max) = match over_units {
                Some(max) if open.holds < max_holds => (
                    format!("this {name} already holds {} units; {units} more would pass the limit of {max}", open.units),
                    max,
                ),
                _ => (
                    format!("{} checkouts are already open for this {name} (at most {max_holds})", open.holds),
                    max_holds,
                ),
            };
            return Err(CheckoutError::TooManyOpenHolds {
                what,
                max,
                retry_after: open.first_expiry.map_or(1, |t| (t - now).max(1)),
            });
        }
    }
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
        items: &items,
    };
    match tx.create_hold(&new_hold, now).await {
        Ok(Ok(())) => {}
        Ok(Err(shortage)) => {
            return Err(CartError::InsufficientStock {
                product_id: shortage.product_id,
                requested: shortage.requested,
                available: shortage.available,
            }
            .into())
        }
        // Two clicks raced past the lookup above: the other one owns the key.
        Err(e) if e.is_unique_violation() && idempotency_key.is_some() => {
            tx.rollback().await?;
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
        Err(e) => return Err(e.into()),
    }
    tx.audit(
        AuditEntry {
            actor: &format!("customer:{}", customer.id),
            action: "hold.created",
            entity_type: "hold",
            entity_id: &hold_id,
            before: None,
            after: Some(json!({ "items": items, "amount_total": cart.amount_total, "currency": cart.currency, "expires_at": expires_at })),
            message: format!("Hold {hold_id} created: {}, expires at {expires_at}", describe(&cart)),
        },
        now,
    )
    .await?;
    tx.commit().await?;

    let form = session_params(app, &hold_id, &cart, email.as_deref(), expires_at);
    let session = app
        .stripe
        .create_checkout_session(&form, &format!("caisse-{hold_id}-create"))
        .await;
    let session = match session {
        Ok(s) if s.url.is_some() => s,
        outcome => {
            match &outcome {
                Err(e) => {
                    tracing::warn!(hold_id, error = %e, "Stripe refused or failed the Checkout Session")
                }
                Ok(s) => {
                    tracing::warn!(hold_id, session = %s.id, "Stripe returned a session without a URL")
                }
            }
            release_failed(app, &hold_id, now).await?;
            metrics::counter!("caisse_checkouts_total", "outcome" => "provider_unavailable")
                .increment(1);
            return Err(CheckoutError::ProviderUnavailable);
        }
    };
    let url = session.url.clone().unwrap_or_default();
    let stored = async {
        let mut tx = app.store.begin().await?;
        tx.set_hold_session(&hold_id, &session.id, &url, now)
            .await?;
        tx.commit().await
    }
    .await;
    if let Err(e) = stored {
        // Stripe has a session the hold does not know: end it at Stripe and free the hold and
        // its key, rather than leave the key answering `checkout_in_progress` until expiry.
        tracing::error!(hold_id, session = %session.id, error = %e, "could not record the Checkout Session");
        if let Ok(Some(mut hold)) = app.store.hold(&hold_id).await {
            hold.checkout_session_id = Some(session.id.clone());
            if crate::release::expire_at_stripe(app, &hold, Purpose::Expire).await
                == crate::release::Verdict::Expired
            {
                release_failed(app, &hold_id, now).await?;
            }
        }
        return Err(e.into());
    }
    if !prices_agree(&cart, &session) {
        refuse_mispriced(app, &hold_id, &cart, &session, now).await?;
        metrics::counter!("caisse_checkouts_total", "outcome" => "price_mismatch").increment(1);
        return Err(CheckoutError::ProviderUnavailable);
    }
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

/// The Checkout Session for a hold: prices from the database (a Stripe Price when the product has
/// one), the hold id on the session and its PaymentIntent, the hold's expiry.
fn session_params(
    app: &App,
    hold_id: &str,
    cart: &ValidCart,
    email: Option<&str>,
    expires_at: i64,
) -> caisse_stripe::Form {
    let c = &app.config.checkout;
    let mut form = caisse_stripe::Form::new();
    form.push("mode", "payment")
        .push("success_url", &c.success_url)
        .push("cancel_url", &c.cancel_url)
        .push("client_reference_id", hold_id)
        .push("metadata[hold_id]", hold_id)
        .push("payment_intent_data[metadata][hold_id]", hold_id)
        .push("expires_at", expires_at);
    if let Some(email) = email {
        form.push("customer_email", email);
    }
    for (i, line) in cart.lines.iter().enumerate() {
        match &line.stripe_price_id {
            Some(price) => {
                form.push(format!("line_items[{i}][price]"), price);
            }
            None => {
                form.push(
                    format!("line_items[{i}][price_data][currency]"),
                    &cart.currency,
                )
                .push(
                    format!("line_items[{i}][price_data][unit_amount]"),
                    line.unit_amount,
                )
                .push(
                    format!("line_items[{i}][price_data][product_data][name]"),
                    &line.name,
                )
                .push(
                    format!("line_items[{i}][price_data][product_data][metadata][product_id]"),
                    &line.product_id,
                );
            }
        }
        form.push(format!("line_items[{i}][quantity]"), line.quantity);
    }
    form
}

/// A checkout Stripe would not take: its stock goes back now, and its key is freed so the same
/// request can be retried.
async fn release_failed(app: &App, hold_id: &str, now: i64) -> Result<(), StoreError> {
    let mut tx = app.store.begin().await?;
    crate::release::release_in(
        &mut tx,
        hold_id,
        "payment_provider_unavailable",
        "system:checkout",
        "Stripe did not create its Checkout Session",
        now,
    )
    .await?;
    tx.clear_hold_idempotency_key(hold_id).await?;
    tx.commit().await
}

/// Stripe prices a line with a Stripe Price id itself: its total must be the database's, or the
/// customer would pay another amount than the hold (and the order) says.
fn prices_agree(cart: &ValidCart, session: &caisse_stripe::objects::CheckoutSession) -> bool {
    if cart.lines.iter().all(|l| l.stripe_price_id.is_none()) {
        return true;
    }
    let currency = session.currency.as_deref().unwrap_or_default();
    session.amount_total.is_some_and(|amount| {
        crate::domain::lifecycle::amount_matches(
            (cart.amount_total, &cart.currency),
            (amount, currency),
        )
    })
}

/// A session whose Stripe Prices disagree with the database: expire it at Stripe, release the
/// hold, alert the operators (the catalog and Stripe's Prices have drifted apart).
async fn refuse_mispriced(
    app: &App,
    hold_id: &str,
    cart: &ValidCart,
    session: &caisse_stripe::objects::CheckoutSession,
    now: i64,
) -> Result<(), StoreError> {
    let stripe_total = format_amount(
        session.amount_total.unwrap_or_default(),
        session.currency.as_deref().unwrap_or_default(),
    );
    let message = format!(
        "Checkout Session {} totals {stripe_total} at Stripe but {} in caisse's catalog: the products' Stripe Prices disagree with the database; the checkout was refused",
        session.id,
        format_amount(cart.amount_total, &cart.currency)
    );
    tracing::error!(hold_id, session = %session.id, "{message}");
    if let Some(hold) = app.store.hold(hold_id).await? {
        let verdict = crate::release::expire_at_stripe(app, &hold, Purpose::PriceMismatch).await;
        if matches!(
            verdict,
            crate::release::Verdict::Expired | crate::release::Verdict::Missing
        ) {
            crate::release::release(
                app,
                &hold,
                "price_mismatch",
                "system:checkout",
                &message,
                now,
            )
            .await?;
        }
        // Otherwise the session could not be expired now: the sweeper ends it at its expiry.
    }
    app.store
        .raise_alert(
            &NewAlert {
                kind: "price_mismatch",
                severity: Severity::Critical,
                message,
                entity: Some(("hold", hold_id)),
                dedup_key: format!("price_mismatch:{hold_id}"),
            },
            now,
        )
        .await?;
    Ok(())
}

/// A repeated request with the same key: the same answer once the first request has its session.
async fn replay(
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
    let deadline = tokio::time::Instant::now() + REPLAY_WAIT;
    let mut hold = hold;
    loop {
        if hold.status != "active" && hold.status != "awaiting_payment" {
            // The first answer's URL is dead now: say what became of that checkout.
            let status = status_of(app, hold.clone()).await?;
            return Err(CheckoutError::Closed {
                status: status.status,
                checkout_session_id: hold.checkout_session_id,
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
            return Err(CheckoutError::InProgress);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        hold = app
            .store
            .hold(&hold.id)
            .await?
            .ok_or(CheckoutError::InProgress)?;
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

/// What the success page shows while it polls.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CheckoutStatus {
    /// `pending`, `paid`, `failed`, `expired`, `needs_attention` or `refunded`.
    pub status: &'static str,
    pub hold_id: String,
    pub checkout_session_id: String,
    pub order_id: Option<String>,
    pub order_number: Option<i64>,
    /// Why the hold was released (`payment_failed`, `expired`, `canceled`, `cancelled`, …).
    pub release_reason: Option<String>,
}

/// The status of `session_id` for `customer`; `None` when it does not exist or is someone else's
/// (the two are indistinguishable on purpose).
pub async fn status(
    app: &App,
    customer: &Customer,
    session_id: &str,
) -> Result<Option<CheckoutStatus>, StoreError> {
    let Some(hold) = app.store.hold_by_session(session_id).await? else {
        return Ok(None);
    };
    if hold.customer_id != customer.id {
        return Ok(None);
    }
    Ok(Some(status_of(app, hold).await?))
}

async fn status_of(app: &App, hold: Hold) -> Result<CheckoutStatus, StoreError> {
    let order = app.store.order_for_hold(&hold.id).await?;
    let status = match (&order, hold.status.as_str(), hold.release_reason.as_deref()) {
        (Some(o), _, _) => match o.status.as_str() {
            "needs_attention" => "needs_attention",
            "refunded" => "refunded",
            _ => "paid",
        },
        (None, "released", Some("payment_failed")) => "failed",
        (None, "released", _) => "expired",
        _ => "pending",
    };
    Ok(CheckoutStatus {
        status,
        hold_id: hold.id,
        checkout_session_id: hold.checkout_session_id.unwrap_or_default(),
        order_id: order.as_ref().map(|o| o.id.clone()),
        order_number: order.as_ref().map(|o| o.number),
        // A release that a later payment overrode is history, not the checkout's state.
        release_reason: if order.is_some() {
            None
        } else {
            hold.release_reason
        },
    })
}

#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("no checkout with this session id for you")]
    NotFound,
    #[error("this checkout is paid; it cannot be cancelled")]
    AlreadyPaid,
    #[error("the payment provider is unavailable")]
    ProviderUnavailable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The shop's cancel page: the customer gave up. Stripe is asked to expire the session first, so
/// that nobody can pay on it afterwards; then the stock goes back. A session that completed
/// meanwhile is paid: the payment path owns it. Cancelling twice answers the same.
pub async fn cancel(
    app: &App,
    customer: &Customer,
    session_id: &str,
    now: i64,
) -> Result<CheckoutStatus, CancelError> {
    let hold = match app.store.hold_by_session(session_id).await? {
        Some(h) if h.customer_id == customer.id => h,
        _ => return Err(CancelError::NotFound),
    };
    if app.store.order_for_hold(&hold.id).await?.is_some() {
        return Err(CancelError::AlreadyPaid);
    }
    // A released hold's session may still be open (a declined card can be retried): expire it
    // too, so that nobody pays for a checkout the customer cancelled.
    if hold.status != "converted" {
        match crate::release::expire_at_stripe(app, &hold, Purpose::Cancel).await {
            crate::release::Verdict::Expired => {
                let actor = format!("customer:{}", customer.id);
                let (reason, why) = Purpose::Cancel.reason();
                crate::release::release(app, &hold, reason, &actor, why, now).await?;
            }
            crate::release::Verdict::Complete(_) => return Err(CancelError::AlreadyPaid),
            crate::release::Verdict::Unknown => return Err(CancelError::ProviderUnavailable),
            // Stripe forgot it: nobody can pay it, the stock can go back.
            crate::release::Verdict::Missing => {
                let actor = format!("customer:{}", customer.id);
                let (reason, why) = Purpose::Cancel.reason();
                crate::release::release(app, &hold, reason, &actor, why, now).await?;
            }
        }
    }
    let hold = app
        .store
        .hold(&hold.id)
        .await?
        .ok_or(CancelError::NotFound)?;
    Ok(status_of(app, hold).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_lifetimes_stay_inside_stripes_bounds() {
        assert_eq!(session_lifetime(Duration::from_secs(1800)), 1830);
        assert_eq!(session_lifetime(Duration::from_secs(3600)), 3600);
        assert_eq!(session_lifetime(Duration::from_secs(86_400)), 86_370);
    }
}
