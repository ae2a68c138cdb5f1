//! The amount check of an order and what it records of Stripe's session: the subtotal must be the
//! hold's, the shipping the offered rate's the customer chose, the total their sum
//! ([`crate::domain::shipping::settle`]); the customer's name, phone and shipping address come
//! from the session, wherever its API version puts them.

use caisse_stripe::objects::CheckoutSession;

use super::Paid;
use crate::domain::lifecycle;
use crate::domain::shipping::{self, Figures, OfferedRate};
use crate::store::{Hold, OrderShipping};

/// The rates the hold offered (none when it asked for no address).
pub(super) fn offered(hold: &Hold) -> Vec<OfferedRate> {
    hold.shipping_offer
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default()
}

/// Whether the payment's figures add up, and the shipping amount the order is charged. Without
/// the session (a PaymentIntent's event), the amount must be the hold's: only a hold that asked
/// for no address gets here (see `webhooks::dispatch`).
pub(super) fn check(hold: &Hold, paid: &Paid<'_>) -> (bool, i64) {
    let Some(session) = paid.session else {
        let ok = lifecycle::amount_matches(
            (hold.amount_total, &hold.currency),
            (paid.amount, paid.currency),
        );
        return (ok, 0);
    };
    let shipping_amount = session.amount_shipping();
    let figures = Figures {
        subtotal: session.amount_subtotal,
        shipping: shipping_amount,
        total: paid.amount,
        chosen: chosen_index(session),
        currency: paid.currency,
    };
    match shipping::settle(hold.amount_total, &hold.currency, &offered(hold), &figures) {
        Ok(settled) => (true, settled.shipping),
        Err(why) => {
            tracing::warn!(hold_id = %hold.id, "the paid session's figures do not add up: {why}");
            (false, shipping_amount.max(0))
        }
    }
}

/// Where the chosen `shr_` rate stands in the session's `shipping_options` (the order caisse sent
/// them in); a rate that is not among them is an index past the end, which the check refuses.
fn chosen_index(session: &CheckoutSession) -> Option<usize> {
    let chosen = session.shipping_cost.as_ref()?.shipping_rate.as_deref()?;
    Some(
        session
            .shipping_options
            .iter()
            .position(|o| o.shipping_rate.as_deref() == Some(chosen))
            .unwrap_or(usize::MAX),
    )
}

/// What the order records of the session.
pub(super) fn recorded(hold: &Hold, session: &CheckoutSession) -> OrderShipping {
    let rate = chosen_index(session).and_then(|i| offered(hold).get(i).cloned());
    let details = session.customer_details.as_ref();
    let to = session.shipping();
    let address = to.and_then(|s| s.address.as_ref());
    let field = |f: fn(&caisse_stripe::objects::Address) -> &Option<String>| {
        address.and_then(|a| f(a).clone()).filter(|v| !v.is_empty())
    };
    OrderShipping {
        customer_name: details.and_then(|d| d.name.clone()),
        phone: details.and_then(|d| d.phone.clone()),
        name: to.and_then(|s| s.name.clone()),
        line1: field(|a| &a.line1),
        line2: field(|a| &a.line2),
        postal_code: field(|a| &a.postal_code),
        city: field(|a| &a.city),
        state: field(|a| &a.state),
        country: field(|a| &a.country),
        rate_id: rate.as_ref().map(|r| r.id.clone()),
        rate_name: rate.map(|r| r.name),
        amount_subtotal: hold.amount_total,
        amount_shipping: session.amount_shipping().max(0),
    }
}
