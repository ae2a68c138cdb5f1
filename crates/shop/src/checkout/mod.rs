//! Checkout (DESIGN.md 1.4): a validated cart becomes a stock hold and a Stripe Checkout Session,
//! or nothing at all.
//!
//! The hold is committed before Stripe is called, so a crash in between leaves a hold without a
//! session, which expires and is swept like any other; a Stripe failure releases the hold in the
//! same request (see `session` for a refusal). The session's `expires_at` is the hold's expiry, and both carry the hold id
//! (`metadata[hold_id]` on the session and on its PaymentIntent), so every later event finds it.
//!
//! - [`create`]: the cart, the hold, the session;
//! - [`replay`]: a repeated request with the same `Idempotency-Key` answers the first one's
//!   checkout;
//! - [`status`]: what the success page shows while it polls;
//! - [`cancel`]: the cancel page gives the stock back;
//! - `shipping`: the address, rates and phone number the session asks for.

mod cancel;
mod create;
mod hold;
mod replay;
mod session;
mod shipping;
mod status;

use std::time::Duration;

use crate::domain::cart::{CartError, RequestedLine};
use crate::store::StoreError;

pub use cancel::{cancel, CancelError};
pub use create::create;
pub use status::{status, CheckoutStatus};

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
    /// `first_guest`: the guest whose double click this request repeats, when it is not the
    /// caller (a browser whose first click got no cookie): the answer makes the browser that
    /// guest, as a replayed success does, so that its next retry is the same customer's.
    #[error("the checkout with this Idempotency-Key is still being created")]
    InProgress { first_guest: Option<String> },
    #[error("the checkout with this Idempotency-Key is over ({status}); start a new one with another key")]
    Closed {
        status: status::Outcome,
        checkout_session_id: Option<String>,
        first_guest: Option<String>,
    },
    #[error("the payment provider is unavailable")]
    ProviderUnavailable,
    /// Stripe refused the Checkout Session (a 4xx): retrying will not help.
    #[error("the payment provider refused this checkout")]
    ProviderRefused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CheckoutError {
    /// The guest the caller turns out to be (see [`CheckoutError::InProgress`]), if another.
    pub fn first_guest(&self) -> Option<&str> {
        match self {
            CheckoutError::InProgress { first_guest }
            | CheckoutError::Closed { first_guest, .. } => first_guest.as_deref(),
            _ => None,
        }
    }
}

/// How long an Idempotency-Key names its checkout (Stripe keeps its own keys 24 hours too).
const IDEMPOTENCY_KEY_LIFETIME: i64 = 86_400;

/// How soon after the first click a cookieless repeat counts as the same browser's double click.
const DOUBLE_CLICK_WINDOW: i64 = 60;

/// How long a repeated request waits for the first one to reach Stripe.
const REPLAY_WAIT: Duration = Duration::from_secs(10);
