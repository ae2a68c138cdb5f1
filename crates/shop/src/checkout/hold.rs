//! The hold's transaction: the checkout its `Idempotency-Key` already made, the cart against the
//! catalog, the caps, and the hold. Every read a checkout makes is in it: through the pool each
//! was a hand-off to another thread and back (on SQLite sqlx's worker thread, on PostgreSQL a
//! connection of its own and its test on release), and in the transaction it is one statement
//! more, in process on SQLite.

use std::collections::BTreeMap;

use serde_json::json;

use super::CheckoutError;
use crate::app::App;
use crate::domain::cart::{self, CartError, CatalogEntry, Limits, RequestedLine, ValidCart};
use crate::domain::local_time::local_time;
use crate::domain::money::format_amount;
use crate::domain::shipping::OfferedRate;
use crate::identity::Customer;
use crate::store::{AuditEntry, Hold, HoldItem, NewHold, OpenHolds, Owner, StoreError, Tx};

/// What a checkout asks to hold, computed before its transaction.
pub(super) struct Ask<'a> {
    pub app: &'a App,
    pub customer: &'a Customer,
    pub requested: &'a [RequestedLine],
    /// The cart's product ids, its size already checked ([`cart_size`]).
    pub ids: &'a [&'a str],
    pub email: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    /// Whose key it is: the signed-in customer, or for guests their network.
    pub scope: &'a str,
    /// Keys older than this are free again.
    pub key_since: i64,
    pub client_ip: &'a str,
    pub net: &'a str,
    pub hold_id: &'a str,
    pub tag: &'a str,
    pub expires_at: i64,
    pub now: i64,
}

/// The hold written.
pub(super) struct Held {
    pub cart: ValidCart,
    pub shipping_offer: Option<Vec<OfferedRate>>,
    /// The products whose reservation fell to their low-stock threshold, watched once the
    /// checkout stands.
    pub low_stock_watch: Vec<String>,
}

/// Why no hold was written. Every one rolls the transaction back, which on SQLite waits for what
/// it read to be durable: an earlier checkout is replayed only from durable rows.
pub(super) enum HoldError {
    Checkout(CheckoutError),
    /// The key's checkout, to answer again.
    Existing(Box<Hold>),
    /// The key's unique index refused the hold: a request with the key committed its own
    /// between the lookup and the insert (which the key's lock, taken first, rules out).
    KeyTaken,
}

impl std::fmt::Display for HoldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HoldError::Checkout(e) => e.fmt(f),
            HoldError::Existing(hold) => write!(f, "the key's checkout is {}", hold.id),
            HoldError::KeyTaken => f.write_str("another checkout took the Idempotency-Key first"),
        }
    }
}

impl From<StoreError> for HoldError {
    fn from(e: StoreError) -> HoldError {
        HoldError::Checkout(e.into())
    }
}

/// A cart refused, counted by why.
fn refused(e: CartError) -> CheckoutError {
    metrics::counter!("caisse_checkouts_total", "outcome" => cart_outcome(&e)).increment(1);
    e.into()
}

fn limits(app: &App) -> Limits {
    Limits {
        max_line_quantity: app.config.checkout.max_line_quantity,
        max_cart_quantity: app.config.checkout.max_cart_quantity,
    }
}

/// The cart's product ids, if its size is within bounds: checked before anything is read, so that
/// a request must be valid on its own before it may replay anything.
pub(super) fn cart_size<'a>(
    app: &App,
    requested: &'a [RequestedLine],
) -> Result<Vec<&'a str>, CheckoutError> {
    cart::check_size(requested, limits(app)).map_err(refused)
}

/// The hold's transaction.
pub(super) async fn hold(tx: &mut Tx, ask: &Ask<'_>) -> Result<Held, HoldError> {
    let (app, now) = (ask.app, ask.now);
    if let Some(key) = ask.idempotency_key {
        tx.lock_idempotency_key(ask.scope, key).await?;
        if let Some(hold) = existing(tx, ask, key).await? {
            return Err(HoldError::Existing(Box::new(hold)));
        }
        tx.retire_idempotency_key(ask.scope, key, ask.key_since)
            .await?;
    }
    let (cart, ships) = validate(tx, ask).await?;
    let shipping_offer = super::shipping::offer(app, tx, &cart, ships).await?;
    let offer_json = shipping_offer
        .as_ref()
        .map(|o| serde_json::to_string(o).unwrap_or_default());
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
    let units: i64 = items.iter().map(|i| i.quantity).sum();
    let c = &app.config.checkout;
    let network_cap = (
        Owner::Network(ask.net),
        c.max_open_holds_per_ip,
        Some(c.max_held_units_per_ip),
        "client network",
    );
    let customer_cap = (
        Owner::Customer(&ask.customer.id),
        c.max_open_holds,
        None,
        "customer",
    );
    let caps = if ask.customer.is_signed_in() {
        vec![customer_cap]
    } else {
        vec![network_cap, customer_cap]
    };
    for (owner, max_holds, max_units, name) in &caps {
        tx.lock_owner(owner).await?;
        let open = tx.open_holds(owner, now).await?;
        if let Some(refusal) = over_cap(&open, units, *max_holds, *max_units, name, now) {
            return Err(HoldError::Checkout(refusal));
        }
    }

    let (hold_id, expires_at) = (ask.hold_id, ask.expires_at);
    let new_hold = NewHold {
        id: hold_id,
        customer_id: &ask.customer.id,
        client_ip: Some(ask.client_ip),
        client_net: Some(ask.net),
        email: ask.email,
        amount_total: cart.amount_total,
        currency: &cart.currency,
        expires_at,
        idempotency_key: ask.idempotency_key,
        idempotency_scope: ask.idempotency_key.map(|_| ask.scope),
        intent_tag: ask.tag,
        items: &items,
        shipping_offer: offer_json.as_deref(),
    };
    let low_stock_watch = match tx.create_hold(&new_hold, now).await {
        Ok(Ok(watch)) => watch,
        Ok(Err(shortage)) => {
            let name = cart
                .lines
                .iter()
                .find(|l| l.product_id == shortage.product_id)
                .map_or_else(|| shortage.product_id.clone(), |l| l.name.clone());
            return Err(HoldError::Checkout(refused(CartError::InsufficientStock {
                name,
                product_id: shortage.product_id,
                requested: shortage.requested,
                available: shortage.available,
            })));
        }
        Err(e) if e.is_unique_violation() && ask.idempotency_key.is_some() => {
            return Err(HoldError::KeyTaken)
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Held {
        cart,
        shipping_offer,
        low_stock_watch,
    })
}

/// The checkout the client made with this key, to answer again.
async fn existing(tx: &mut Tx, ask: &Ask<'_>, key: &str) -> Result<Option<Hold>, StoreError> {
    let found = tx
        .hold_by_idempotency_key(ask.scope, key, ask.key_since)
        .await?;
    if found.is_some()
        || !ask.customer.id.starts_with("guest:")
        || ask.customer.new_guest_cookie.is_some()
    {
        return Ok(found);
    }
    // A guest that kept its cookie and changed networks (Wi-Fi to 4G) retries its own key: that
    // checkout while it is open; a new one once it ended (a new scope, so the first network's
    // closed checkout keeps its answer there).
    Ok(tx
        .customer_hold_by_key(&ask.customer.id, key, ask.key_since)
        .await?
        .filter(|h| h.status.is_open()))
}

/// The cart priced from the catalog, and whether any of its products ships.
async fn validate(tx: &mut Tx, ask: &Ask<'_>) -> Result<(ValidCart, bool), HoldError> {
    // One query for the whole cart, bounded by the size rules.
    let products = tx.products_by_ids(ask.ids).await?;
    let ships = products.iter().any(|p| p.shipping);
    let catalog: BTreeMap<String, CatalogEntry> = products
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
    let cart = cart::validate(ask.requested, &catalog, limits(ask.app))
        .map_err(|e| HoldError::Checkout(refused(e)))?;
    Ok((cart, ships))
}

fn cart_outcome(e: &CartError) -> &'static str {
    match e {
        CartError::InsufficientStock { .. } => "insufficient_stock",
        _ => "invalid_cart",
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

/// The audit entry of a checkout that stands, written with its Checkout Session: the hold's final
/// expiry is the session's, which Stripe's call fixed after the hold was written (the hold itself
/// first carried a provisional one of minutes).
pub(super) fn created_entry<'a>(
    app: &App,
    actor: &'a str,
    hold_id: &'a str,
    cart: &ValidCart,
    session_id: &str,
    expires_at: i64,
) -> AuditEntry<'a> {
    let items: Vec<_> = cart
        .lines
        .iter()
        .map(|l| json!({ "product_id": l.product_id, "quantity": l.quantity, "unit_amount": l.unit_amount }))
        .collect();
    AuditEntry {
        actor,
        action: "hold.created",
        entity_type: "hold",
        entity_id: hold_id,
        before: None,
        after: Some(json!({
            "items": items, "amount_total": cart.amount_total, "currency": cart.currency,
            "checkout_session_id": session_id, "expires_at": expires_at,
        })),
        message: format!(
            "Hold {hold_id} created: {}, Checkout Session {session_id}, expires at {}",
            describe(cart),
            local_time(expires_at, &app.config.time_zone)
        ),
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
