//! Stripe's protocol as caisse speaks it: webhook signatures ([`signature`]), the event envelope
//! and the objects caisse reads ([`event`], [`objects`]), Stripe's bracket form encoding
//! ([`form`]), how Stripe counts each currency ([`currency`]) and a small API client ([`client`]). Both the shop and the sandbox build on this crate,
//! so there is one signing function and one encoding.

pub mod client;
pub mod currency;
pub mod event;
pub mod form;
pub mod objects;
pub mod signature;

pub use client::{Client, ClientOptions, RequestHook, RequestRecord, StripeError, WebhookEndpoint};
pub use event::{Event, EventObject};
pub use form::Form;
pub use signature::{sign, signature_header, verify, SignatureError};

/// The API version caisse is written against (sent as `Stripe-Version`): Checkout Sessions create
/// their PaymentIntent on confirmation (since 2022-08-01).
pub const API_VERSION: &str = "2024-06-20";

pub use currency::exponent as currency_exponent;
