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
    // A released hold's session may still be open (a declined card can be retried): expire it
    // too, so that nobody pays for a checkout the customer cancelled.
    if hold.status != HoldStatus::Converted {
        match holds::expire_at_stripe(&app.stripe, &hold, Purpose::Cancel).await {
            // Expired, or Stripe forgot it: nobody can pay it, the stock can go back.
            Verdict::Expired | Verdict::Missing => {
                let actor = format!("customer:{}", customer.id);
                let (reason, why) = Purpose::Cancel.reason();
                holds::release(&app.store, &hold, reason, &actor, why, now).await?;
            }
            Verdict::Complete(_) => return Err(CancelError::AlreadyPaid),
            Verdict::Unknown => return Err(CancelError::ProviderUnavailable),
        }
    }
    let hold = app
        .store
        .hold(&hold.id)
        .await?
        .ok_or(CancelError::NotFound)?;
    Ok(status_of(app, hold).await?)
}
