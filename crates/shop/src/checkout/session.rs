//! The Checkout Session of a committed hold: what caisse asks Stripe for (prices from the
//! database, the hold id on the session and its PaymentIntent, an `expires_at` taken from the
//! call's own time), and what it does when Stripe does not give one.
//!
//! Stripe's answers fall in three kinds. A session: the checkout goes on. A time-out, a network
//! error or a 5xx (after the client's retries with one key): a blip, `503
//! payment_provider_unavailable`, try again. A 4xx: Stripe **refused** the request (a
//! `stripe_price_id` it does not know, an amount it will not charge, a parameter it does not
//! take), and it will refuse it for every customer until someone changes the catalog or the
//! configuration: `502 payment_provider_refused`, and one critical `stripe_refused` alert per
//! product and Stripe error code, whoever tries next. Either way the hold is released at once and
//! its `Idempotency-Key` freed.

use std::time::Duration;

use caisse_stripe::objects::CheckoutSession;
use caisse_stripe::StripeError;

use super::CheckoutError;
use crate::app::App;
use crate::domain::cart::ValidCart;
use crate::domain::intent_tag;
use crate::domain::money::format_amount;
use crate::domain::shipping::OfferedRate;
use crate::domain::status::AlertKind;
use crate::holds::release::{self as holds, Purpose, Verdict};
use crate::store::{unix_now, NewAlert, Severity, StoreError};

/// Stripe refuses an `expires_at` less than 30 minutes or more than 24 hours after it creates the
/// session. The time is taken when the call starts (not when the request arrived, which a busy
/// database may have delayed by seconds), and a minute inside both bounds covers the client's
/// retries with the same parameters (three tries of at most `CAISSE_STRIPE_TIMEOUT_SECS`, 8 s by
/// default, and their back-off) and some clock skew.
const MARGIN_SECS: i64 = 60;

fn session_lifetime(ttl: Duration) -> i64 {
    (ttl.as_secs() as i64).clamp(1800 + MARGIN_SECS, 86_400 - MARGIN_SECS)
}

/// The session Stripe opened for a hold, and its `expires_at`.
pub(super) struct Opened {
    pub session: CheckoutSession,
    pub url: String,
    pub expires_at: i64,
}

/// Asks Stripe for the hold's Checkout Session. On any failure the hold is released (and its key
/// freed) before the refusal is returned.
pub(super) async fn open(
    app: &App,
    hold_id: &str,
    tag: &str,
    cart: &ValidCart,
    email: Option<&str>,
    shipping_offer: Option<&[OfferedRate]>,
) -> Result<Opened, CheckoutError> {
    let expires_at = unix_now() + session_lifetime(app.config.checkout.hold_ttl);
    let mut form = params(app, hold_id, tag, cart, email, expires_at);
    super::shipping::push_params(&mut form, app, &cart.currency, shipping_offer);
    let outcome = app
        .stripe
        .create_checkout_session(&form, &format!("caisse-{hold_id}-create"))
        .await;
    let now = unix_now();
    match outcome {
        Ok(session) => match session.url.clone() {
            Some(url) => Ok(Opened {
                session,
                url,
                expires_at,
            }),
            None => {
                tracing::warn!(hold_id, session = %session.id, "Stripe returned a session without a URL");
                release_failed(app, hold_id, now).await?;
                metrics::counter!("caisse_checkouts_total", "outcome" => "provider_unavailable")
                    .increment(1);
                Err(CheckoutError::ProviderUnavailable)
            }
        },
        Err(e) if is_refusal(&e) => {
            tracing::error!(hold_id, error = %e, "Stripe refused the Checkout Session");
            release_refused(app, hold_id, &e, now).await?;
            raise_refused(app, cart, &e, now).await?;
            metrics::counter!("caisse_checkouts_total", "outcome" => "provider_refused")
                .increment(1);
            Err(CheckoutError::ProviderRefused)
        }
        Err(e) => {
            tracing::warn!(hold_id, error = %e, "Stripe failed the Checkout Session");
            release_failed(app, hold_id, now).await?;
            metrics::counter!("caisse_checkouts_total", "outcome" => "provider_unavailable")
                .increment(1);
            Err(CheckoutError::ProviderUnavailable)
        }
    }
}

/// A 4xx that no retry changes (a 409 or 429 is Stripe asking to try again, and the client did).
fn is_refusal(e: &StripeError) -> bool {
    e.status().is_some_and(|s| (400..500).contains(&s)) && !e.is_transient()
}

/// The Checkout Session for a hold: prices from the database (a Stripe Price when the product has
/// one), the hold id on the session and its PaymentIntent (with the tag that proves the
/// PaymentIntent is this session's, [`intent_tag`]), the given expiry.
fn params(
    app: &App,
    hold_id: &str,
    tag: &str,
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
            tag,
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

/// Why a checkout that failed at Stripe released its hold (and freed its key): the reasons its
/// repeats, waiting for its session ([`super::replay`]), answer with the first request's error.
pub(super) const RELEASED_UNAVAILABLE: &str = "payment_provider_unavailable";
pub(super) const RELEASED_REFUSED: &str = "payment_provider_refused";

/// A checkout Stripe did not answer: its stock goes back now, and its key is freed so the same
/// request can be retried.
pub(super) async fn release_failed(app: &App, hold_id: &str, now: i64) -> Result<(), StoreError> {
    release(
        app,
        hold_id,
        RELEASED_UNAVAILABLE,
        "Stripe did not create its Checkout Session".into(),
        now,
    )
    .await
}

async fn release_refused(
    app: &App,
    hold_id: &str,
    e: &StripeError,
    now: i64,
) -> Result<(), StoreError> {
    let why = format!("Stripe refused its Checkout Session ({})", code_of(e));
    release(app, hold_id, RELEASED_REFUSED, why, now).await
}

async fn release(
    app: &App,
    hold_id: &str,
    reason: &str,
    why: String,
    now: i64,
) -> Result<(), StoreError> {
    app.store
        .write(async |tx| {
            holds::release_freeing_key(tx, hold_id, reason, "system:checkout", &why, now).await
        })
        .await?;
    Ok(())
}

/// Stripe's error code (`resource_missing`), else its type, else its HTTP status.
fn code_of(e: &StripeError) -> String {
    match e {
        StripeError::Api {
            code: Some(code), ..
        } => code.clone(),
        StripeError::Api { kind, .. } => kind.clone(),
        other => other.to_string(),
    }
}

/// The products a refusal concerns: the line Stripe's `param` names
/// (`line_items[2][price]`), else every product of the cart.
fn refused_products(cart: &ValidCart, e: &StripeError) -> Vec<String> {
    let line = match e {
        StripeError::Api {
            param: Some(param), ..
        } => param
            .strip_prefix("line_items[")
            .and_then(|rest| rest.split_once(']'))
            .and_then(|(index, _)| index.parse::<usize>().ok())
            .and_then(|i| cart.lines.get(i)),
        _ => None,
    };
    match line {
        Some(line) => vec![line.product_id.clone()],
        None => cart.lines.iter().map(|l| l.product_id.clone()).collect(),
    }
}

/// One critical `stripe_refused` alert per product and Stripe error code: however many customers
/// meet the same refusal, the operators see it once, with Stripe's words and request id.
async fn raise_refused(
    app: &App,
    cart: &ValidCart,
    e: &StripeError,
    now: i64,
) -> Result<(), StoreError> {
    let code = code_of(e);
    let (message, request_id) = match e {
        StripeError::Api {
            message,
            request_id,
            ..
        } => (message.as_str(), request_id.as_deref()),
        _ => ("", None),
    };
    let param = match e {
        StripeError::Api { param: Some(p), .. } => format!(" on `{p}`"),
        _ => String::new(),
    };
    for product in refused_products(cart, e) {
        let text = format!(
            "Stripe refuses to open a Checkout Session for product `{product}` ({} {code}{param}): \"{message}\" (Stripe request {}). Customers cannot buy it until the catalog or the configuration is fixed; each attempt is answered 502 payment_provider_refused.",
            e.status().unwrap_or_default(),
            request_id.unwrap_or("unknown"),
        );
        app.store
            .raise_alert(
                &NewAlert {
                    kind: AlertKind::StripeRefused,
                    severity: Severity::Critical,
                    message: text,
                    entity: Some(("product", &product)),
                    dedup_key: format!("stripe_refused:{product}:{code}"),
                },
                now,
            )
            .await?;
    }
    Ok(())
}

/// Stripe prices a line with a Stripe Price id itself: its subtotal (the total before shipping)
/// must be the database's, or the customer would pay another amount than the hold (and the order)
/// says.
pub(super) fn prices_agree(cart: &ValidCart, session: &CheckoutSession) -> bool {
    if cart.lines.iter().all(|l| l.stripe_price_id.is_none()) {
        return true;
    }
    let currency = session.currency.as_deref().unwrap_or_default();
    let subtotal = session.amount_subtotal.or(session.amount_total);
    subtotal.is_some_and(|amount| {
        crate::domain::lifecycle::amount_matches(
            (cart.amount_total, &cart.currency),
            (amount, currency),
        )
    })
}

/// A session whose Stripe Prices disagree with the database: expire it at Stripe, release the
/// hold, alert the operators (the catalog and Stripe's Prices have drifted apart).
pub(super) async fn refuse_mispriced(
    app: &App,
    hold_id: &str,
    cart: &ValidCart,
    session: &CheckoutSession,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::cart::PricedLine;

    #[test]
    fn session_lifetimes_stay_a_minute_inside_stripes_bounds() {
        assert_eq!(session_lifetime(Duration::from_secs(1800)), 1860);
        assert_eq!(session_lifetime(Duration::from_secs(3600)), 3600);
        assert_eq!(session_lifetime(Duration::from_secs(86_400)), 86_340);
    }

    fn api_error(status: u16, code: &str, param: Option<&str>) -> StripeError {
        StripeError::Api {
            status,
            kind: "invalid_request_error".into(),
            code: Some(code.into()),
            message: "No such price: 'price_gone'".into(),
            param: param.map(str::to_string),
            request_id: Some("req_1".into()),
        }
    }

    #[test]
    fn refusals_are_four_hundreds_that_no_retry_changes() {
        assert!(is_refusal(&api_error(400, "resource_missing", None)));
        assert!(is_refusal(&api_error(402, "card_declined", None)));
        assert!(is_refusal(&api_error(401, "api_key_invalid", None)));
        assert!(!is_refusal(&api_error(409, "idempotency_key_in_use", None)));
        assert!(!is_refusal(&api_error(429, "rate_limit", None)));
        assert!(!is_refusal(&api_error(500, "api_error", None)));
        assert!(!is_refusal(&StripeError::Timeout));
    }

    #[test]
    fn a_refusal_names_the_line_stripe_names_else_the_whole_cart() {
        let line = |id: &str| PricedLine {
            product_id: id.into(),
            name: id.into(),
            quantity: 1,
            unit_amount: 100,
            stripe_price_id: None,
        };
        let cart = ValidCart {
            lines: vec![line("mug"), line("tee")],
            currency: "eur".into(),
            amount_total: 200,
        };
        let on = |param| refused_products(&cart, &api_error(400, "resource_missing", param));
        assert_eq!(on(Some("line_items[1][price]")), ["tee"]);
        assert_eq!(on(Some("line_items[7][price]")), ["mug", "tee"]);
        assert_eq!(on(Some("success_url")), ["mug", "tee"]);
        assert_eq!(on(None), ["mug", "tee"]);
    }
}
