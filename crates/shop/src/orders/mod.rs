//! Orders: the one fulfilment function every "paid" path calls (`payment_intent.succeeded`, a
//! paid `checkout.session.completed`, `checkout.session.async_payment_succeeded`, and the
//! reconciler), and the refunds it may ask for.
//!
//! [`fulfil`] runs inside the caller's unit of work, on a hold the caller has locked, and is
//! idempotent: whichever event comes first creates the order, the others find it done. It is
//! three steps:
//! - [`decide`]: what the payment means for this hold (a new order, one that exists, a payment
//!   that already paid another hold's order), and whether the stock can be taken;
//! - [`record`]: the order (sequential number) with the hold's items at the hold's prices, its
//!   payment, the hold `converted` (its units sold: settled into the products' figures by the
//!   settle worker, [`crate::store::Tx::settle_sales`]), the audit sentence, and from
//!   Stripe's session the customer's name, phone, address and shipping ([`shipping`]: the amount
//!   check is subtotal = the hold's, total = subtotal + the chosen rate's shipping);
//! - [`notify`]: the confirmation email in the outbox, or the operators' alert (and a refund
//!   in the outbox) for an order that needs attention.
//!
//! After the payment, [`ship`] and [`deliver`] move the order's fulfilment forward (operators'
//! actions, audited; the shipping email through the outbox).
//!
//! Nothing here calls Stripe or sends mail: what must leave caisse is an outbox row, sent by a
//! worker after the commit.

mod decide;
pub mod export;
mod notify;
mod record;
mod resend;
mod ship;
mod shipping;

pub use resend::resend_confirmation;
pub use ship::{deliver, ship, FulfilmentError, Shipment};

use caisse_stripe::objects::CheckoutSession;

use crate::domain::lifecycle;
use crate::store::{Hold, OrderSummary, StoreError, Tx};

/// What a new order may set going beyond the database, as the shop is configured.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Refund a payment that came after its hold's stock was gone
    /// (`CAISSE_REFUND_UNFULFILLABLE`).
    pub refund_unfulfillable: bool,
    /// The shop sends its customers' emails (`MailConfig::enabled`, by the server's worker when
    /// this process has no transport of its own): the confirmation is queued. With
    /// `CAISSE_MAIL=off` none is (the shop sends its own), so that turning mail on later does not
    /// send every past order's.
    pub mail_on: bool,
}

impl Policy {
    pub fn of(app: &crate::app::App) -> Policy {
        Policy {
            refund_unfulfillable: app.config.webhooks.refund_unfulfillable,
            mail_on: app.config.mail.enabled,
        }
    }
}

/// What Stripe says was paid, from a verified event.
#[derive(Clone, Debug)]
pub struct Paid<'a> {
    pub payment_intent_id: &'a str,
    pub checkout_session_id: Option<&'a str>,
    pub amount: i64,
    pub currency: &'a str,
    /// The best address the caller has: the session's `customer_details.email`, else the hold's,
    /// else the PaymentIntent's `receipt_email`.
    pub email: Option<&'a str>,
    /// The Checkout Session, when the caller has it (a session's event, the reconciler): its
    /// subtotal, shipping and the customer's address. A PaymentIntent's event has none.
    pub session: Option<&'a CheckoutSession>,
}

/// What fulfilment did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fulfilment {
    Created(OrderSummary),
    AlreadyDone(OrderSummary),
    /// The PaymentIntent already paid another hold's order: nothing is done.
    PaymentTaken {
        order_id: String,
    },
}

pub async fn fulfil(
    tx: &mut Tx,
    policy: Policy,
    hold: &Hold,
    paid: &Paid<'_>,
    actor: &str,
    now: i64,
) -> Result<Fulfilment, StoreError> {
    let stock_taken = match decide::decide(tx, hold, paid, now).await? {
        decide::Plan::Settled(outcome) => return Ok(outcome),
        decide::Plan::Create { stock_taken } => stock_taken,
    };
    let (amount_ok, amount_shipping) = shipping::check(hold, paid);
    let attention = lifecycle::order_status(amount_ok, stock_taken);
    let order = record::record(tx, hold, paid, attention, amount_shipping, now).await?;
    let said = notify::notify(tx, policy, hold, paid, &order, attention, now).await?;
    record::audit(tx, hold, paid, &order, &said, actor, now).await?;
    metrics::counter!("caisse_orders_total", "status" => order.summary.status.as_str())
        .increment(1);
    Ok(Fulfilment::Created(order.summary))
}
