//! What a payment means for its hold: a new order (and whether its stock could be taken), or an
//! outcome already settled — the order exists, or the PaymentIntent paid another hold's order.

use super::{Fulfilment, Paid};
use crate::domain::lifecycle::{self, Decision, HoldState, Signal};
use crate::domain::status::HoldStatus;
use crate::store::{Hold, HoldLink, StoreError, Tx};

pub(super) enum Plan {
    /// Create the order; `stock_taken` is false when a released hold's stock is gone.
    Create { stock_taken: bool },
    /// Nothing to create.
    Settled(Fulfilment),
}

/// Decides, and for a new order converts the hold (taking its stock, or taking it again after
/// a release) and links it to the payment, in one statement.
pub(super) async fn decide(
    tx: &mut Tx,
    hold: &Hold,
    paid: &Paid<'_>,
    now: i64,
) -> Result<Plan, StoreError> {
    // Only a converted hold has an order: the transaction that creates an order converts its
    // hold. Any other hold needs no query to know it has none.
    let existing = if hold.status == HoldStatus::Converted {
        tx.order_for_hold_tx(&hold.id).await?
    } else {
        None
    };
    if existing.is_none() {
        if let Some(taken) = tx
            .payment_by_intent_for_update(paid.payment_intent_id)
            .await?
        {
            return Ok(Plan::Settled(Fulfilment::PaymentTaken {
                order_id: taken.order_id,
            }));
        }
    }
    let decision = lifecycle::decide(
        HoldState::from(hold.status),
        existing.is_some(),
        Signal::Paid,
    );
    let link = HoldLink {
        session_id: paid.checkout_session_id,
        payment_intent_id: Some(paid.payment_intent_id),
        email: paid.email,
    }
    .missing_from(hold);
    let stock_taken = match decision {
        Decision::FulfilFromHold => tx.convert_active_hold(&hold.id, &link, now).await?,
        Decision::FulfilAfterRelease => tx.convert_released_hold(&hold.id, &link, now).await?,
        _ => {
            let Some(mut order) = existing else {
                return Err(StoreError::Database {
                    message: format!("hold {} is converted but has no order", hold.id),
                });
            };
            if let Some(email) = paid.email {
                if tx.set_order_email_if_missing(&order.id, email, now).await? {
                    order.email = Some(email.to_string());
                }
            }
            // The second signal of one payment may be the first to name the session (the
            // PaymentIntent came first, for a hold whose session caisse never heard of): the
            // success page finds the order by it.
            tx.link_hold(&hold.id, paid.checkout_session_id, None, None, now)
                .await?;
            // A PaymentIntent's event made the order: the session's brings the customer's name,
            // phone and address (only a hold that asked for none is fulfilled without it).
            if let Some(session) = paid.session {
                tx.set_order_shipping(&order.id, &super::shipping::recorded(hold, session), now)
                    .await?;
            }
            return Ok(Plan::Settled(Fulfilment::AlreadyDone(order)));
        }
    };
    Ok(Plan::Create { stock_taken })
}
