//! Holds after checkout: ending one whose checkout will not be paid through it ([`release`]:
//! Stripe expires the session first, then the stock goes back) and the periodic pass over holds
//! past their expiry whose webhooks never came ([`reconciler`]).

pub mod reconciler;
pub mod release;
