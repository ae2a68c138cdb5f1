//! The emulated Stripe account: its objects, its clock, its event log, and every state change a
//! payment goes through. All of it sits behind one mutex (`Shared::with_account`), and
//! each API call or payment runs entirely under it, so the sandbox's own behaviour is serial and
//! easy to reason about.
//!
//! The account is one type, [`Account`], whose methods live where they belong: the stored objects
//! in `model`, what it forgets after a while in `memory`, their Stripe JSON in `render`, what a
//! payment does to them in `payment`, what the customer paid with in `payment_method`, a manual
//! capture's capture, cancel and expiry in `capture`, `*.updated` events in `updates`, and which
//! card or IBAN leads to what in `test_cards`.

mod capture;
mod memory;
mod model;
mod payment;
mod payment_method;
mod render;
mod test_cards;
mod updates;

pub use memory::{EventLog, IdempotencyKeys};
pub use model::{
    new_id, system_now, Account, Cause, Charge, LineItem, Metadata, PaymentIntent, Price, Product,
    Saved, Session, SessionStatus,
};
pub use payment::Outcome;
pub use payment_method::PaymentMethod;
pub use test_cards::{Method, IBAN_FAILS, IBAN_SUCCEEDS};
