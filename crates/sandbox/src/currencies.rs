//! The currencies Stripe accepts for a payment, the smallest amount it charges in each, and the
//! amounts it cannot charge in its three-decimal currencies (Stripe's "supported currencies" page;
//! the rules are caisse_stripe's, shared with the shop).

pub use caisse_stripe::currency::SUPPORTED;

pub use caisse_stripe::currency::minimum_charge;

use crate::error::ApiError;

/// Refuses an amount of a three-decimal currency (BHD, JOD, KWD, OMR, TND) whose last digit is
/// not 0, in the words Stripe uses for the currencies it charges only in rounded amounts.
pub fn check_chargeable(amount: i64, currency: &str, param: &str) -> Result<(), ApiError> {
    if caisse_stripe::currency::chargeable_unit(amount, currency) {
        return Ok(());
    }
    Err(ApiError::invalid(
        format!(
            "Invalid amount. Currency {} is a three-decimal currency and charged amounts must be evenly divisible by 10 \
             ({amount} is not). See https://stripe.com/docs/currencies#three-decimal for more information.",
            currency.to_uppercase()
        ),
        Some(param),
    )
    .with_code("invalid_charge_amount"))
}

/// Stripe's largest amount: eight digits of minor units.
pub const MAXIMUM_AMOUNT: i64 = 99_999_999;
