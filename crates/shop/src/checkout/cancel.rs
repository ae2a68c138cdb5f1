//! The shop's cancel page: the customer gave up, and the stock goes back once Stripe has expired
//! the session.

use super::status::status_of;
use super::CheckoutStatus;
use crate::app::App;
use crate::domain::status::HoldStatus;
use crate::holds::release::{self as holds, Purpose, Verdict};
use crate::identity::Customer;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("no checkout with this session id for you")]
    NotFound,
    #[error("this checkout is paid; it cannot be cancelled")]
    AlreadyPaid,
    #[error("the payment provider is unavailable")]
    ProviderUnavailable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The shop's cancel page: the customer gave up. Stripe is asked to expire the session first, so
/// that nobody can pay on it afterwards; then the stock goes back. A session that completed
/// meanwhile is paid: the payment path owns it. Cancelling twice answers the same.
///
/// Stripe is called at most once per hold (its cancel claim, [`crate::store::Tx::claim_hold_cancel`]):
/// a converted hold, a hold whose session is known to be over, and every cancel after the first
/// answer from the database, so that repeated cancels cannot spend the shop's Stripe rate limit.
/// Only a call Stripe did not answer gives the claim back, for the customer's retry.
pub async fn cancel(
    app: &App,
    customer: &Customer,
    session_id: &str,
    now: i64,
) -> Result<CheckoutStatus, CancelError> {
    let hold = match app.store.hold_by_session(session_id).await? {
        Some(h) if h.customer_id == customer.id => h,
        _ => return Err(CancelError::NotFound),
    };
    if app.store.order_for_hold(&hold.id).await?.is_some() {
        return Err(CancelError::AlreadyPaid);
    }
    // A hold released for a failed payment keeps its session open (a declined card can be
    // retried): that session is expired too, so that nobody pays for a checkout the customer
    // cancelled. A hold released because its session ended needs no call.
    let session_over = matches!(
        hold.release_reason.as_deref(),
        Some("expired" | "cancelled" | "price_mismatch")
    );
    if hold.status != HoldStatus::Converted
        && !session_over
        && app
            .store
            .write(async |tx| tx.claim_hold_cancel(&hold.id, now).await)
            .await?
    {
        match holds::expire_at_stripe(&app.stripe, &hold, Purpose::Cancel).await {
            // Expired, or Stripe forgot it: nobody can pay it, the stock can go back.
            Verdict::Expired | Verdict::Missing => {
                let actor = format!("customer:{}", customer.id);
                let (reason, why) = Purpose::Cancel.reason();
                holds::release(&app.store, &hold, reason, &actor, why, now).await?;
            }
            Verdict::Complete(_) => return Err(CancelError::AlreadyPaid),
            Verdict::Unknown => {
                app.store
                    .write(async |tx| tx.drop_hold_cancel(&hold.id).await)
                    .await?;
                return Err(CancelError::ProviderUnavailable);
            }
        }
    }
    let hold = app
        .store
        .hold(&hold.id)
        .await?
        .ok_or(CancelError::NotFound)?;
    Ok(status_of(app, hold).await?)
}
