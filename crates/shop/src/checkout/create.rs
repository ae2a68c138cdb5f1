//! Creating a checkout: the cart checked against the database, the stock held under the caps,
//! the Checkout Session asked of Stripe (after the hold is committed), and what to do when Stripe
//! fails or prices differently.

use crate::domain::status::AlertKind;
use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::{CheckoutCreated, CheckoutError, CheckoutRequest, IDEMPOTENCY_KEY_LIFETIME};
use crate::app::App;
use crate::domain::cart::{self, CartError, CatalogEntry, Limits, RequestedLine, ValidCart};
use crate::domain::intent_tag;
use crate::domain::money::format_amount;
use crate::holds::release::{self as holds, Purpose, Verdict};
use crate::identity::Customer;
use crate::store::{
    AuditEntry, HoldItem, NewAlert, NewHold, OpenHolds, Owner, Severity, StoreError,
};

use super::replay::replay;

/// Why the hold was not written: a refusal to answer with, or a lost race for the key (answered
/// by replaying the winner's checkout once this transaction is rolled back).
enum HoldError {
    Checkout(CheckoutError),
    KeyTaken,
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

/// Stripe refuses an `expires_at` less than 30 minutes or more than 24 hours after it creates the
/// session; keeping 30 s inside both bounds absorbs latency and clock skew.
fn session_lifetime(ttl: Duration) -> i64 {
    (ttl.as_secs() as i64).clamp(1800 + 30, 86_400 - 30)
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
            "Hold {hold_id} created: {}, expires at {expires_at}",
            describe(&cart)
        ),
    };
    let held = app
        .store
        .write(async |tx| {
            if let Some(key) = idempotency_key {
                tx.retire_idempotency_key(&scope, key, key_since).await?;
            }
            // The network first: a client that drops its cookie is a new guest every time, but
            // not a new network (DESIGN.md 1.7). Then the customer's own budget.
            for (owner, max_holds, max_units, name) in &caps {
                tx.lock_owner(owner).await?;
                let open = tx.open_holds(owner, now).await?;
                if let Some(refusal) = over_cap(&open, units, *max_holds, *max_units, name, now) {
                    return Err(HoldError::Checkout(refusal));
                }
            }
            match tx.create_hold(&new_hold, now).await {
                Ok(Ok(())) => {}
                Ok(Err(shortage)) => {
                    return Err(HoldError::Checkout(
                        CartError::InsufficientStock {
                            product_id: shortage.product_id,
                            requested: shortage.requested,
                            available: shortage.available,
                        }
                        .into(),
                    ))
                }
                // Two clicks raced past the lookup above: the other one owns the key.
                Err(e) if e.is_unique_violation() && idempotency_key.is_some() => {
                    return Err(HoldError::KeyTaken)
                }
                Err(e) => return Err(e.into()),
            }
            tx.audit(audit, now).await?;
            Ok(())
        })
        .await;
    match held {
        Ok(()) => {}
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
    }

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
    let stored = app
        .store
        .write(async |tx| tx.set_hold_session(&hold_id, &session.id, &url, now).await)
        .await;
    if let Err(e) = stored {
        // Stripe has a session the hold does not know: end it at Stripe and free the hold and
        // its key, rather than leave the key answering `checkout_in_progress` until expiry.
        tracing::error!(hold_id, session = %session.id, error = %e, "could not record the Checkout Session");
        if let Ok(Some(mut hold)) = app.store.hold(&hold_id).await {
            hold.checkout_session_id = Some(session.id.clone());
            if holds::expire_at_stripe(&app.stripe, &hold, Purpose::Expire).await
                == Verdict::Expired
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

/// The key of the PaymentIntent tags this instance makes: the first webhook secret (serve, dev
/// and the Stripe tools all have one; during a rotation dispatch accepts a tag of any of them).
fn intent_key(app: &App) -> &[u8] {
    app.config
        .stripe
        .webhook_secrets
        .first()
        .map_or(&[], |s| s.expose().as_bytes())
}

/// The Checkout Session for a hold: prices from the database (a Stripe Price when the product has
/// one), the hold id on the session and its PaymentIntent (with the tag that proves the
/// PaymentIntent is this session's, [`intent_tag`]), the hold's expiry.
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
        .push(
            format!(
                "payment_intent_data[metadata][{}]",
                intent_tag::METADATA_KEY
            ),
            intent_tag::intent_tag(intent_key(app), hold_id),
        )
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
    app.store
        .write(async |tx| {
            holds::release_in(
                tx,
                hold_id,
                "payment_provider_unavailable",
                "system:checkout",
                "Stripe did not create its Checkout Session",
                now,
            )
            .await?;
            tx.clear_hold_idempotency_key(hold_id).await
        })
        .await
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
        let verdict = holds::expire_at_stripe(&app.stripe, &hold, Purpose::PriceMismatch).await;
        if matches!(verdict, Verdict::Expired | Verdict::Missing) {
            holds::release(
                &app.store,
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
                kind: AlertKind::PriceMismatch,
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
