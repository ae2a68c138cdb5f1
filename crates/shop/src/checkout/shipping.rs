//! What a checkout asks Stripe about shipping: an address in `CAISSE_SHIPPING_COUNTRIES` when the
//! cart has a product that ships, the catalog's rates in the cart's currency as
//! `shipping_options[][shipping_rate_data]` (kept on the hold, so that the order names and checks
//! the rate chosen), and a phone number when `CAISSE_COLLECT_PHONE` says so.

use crate::app::App;
use crate::domain::cart::ValidCart;
use crate::domain::shipping::{self, OfferedRate};
use crate::store::{StoreError, Tx};

/// The rates to offer, or `None` when the checkout asks for no address (nothing ships here, or
/// nothing in the cart needs a parcel: `ships`). `Some(empty)` asks for an address at no cost.
pub(super) async fn offer(
    app: &App,
    tx: &mut Tx,
    cart: &ValidCart,
    ships: bool,
) -> Result<Option<Vec<OfferedRate>>, StoreError> {
    if app.config.checkout.shipping_countries.is_empty() || !ships {
        return Ok(None);
    }
    let rates = tx.shipping_rates_tx().await?;
    Ok(Some(shipping::offer(
        &rates,
        &cart.currency,
        cart.amount_total,
    )))
}

/// Adds the shipping and phone parameters to a Checkout Session's form.
pub(super) fn push_params(
    form: &mut caisse_stripe::Form,
    app: &App,
    currency: &str,
    offer: Option<&[OfferedRate]>,
) {
    let c = &app.config.checkout;
    if c.collect_phone {
        form.push("phone_number_collection[enabled]", "true");
    }
    let Some(offer) = offer else {
        return;
    };
    for (i, country) in c.shipping_countries.iter().enumerate() {
        form.push(
            format!("shipping_address_collection[allowed_countries][{i}]"),
            country,
        );
    }
    for (i, rate) in offer.iter().enumerate() {
        let key = |k: &str| format!("shipping_options[{i}][shipping_rate_data]{k}");
        form.push(key("[type]"), "fixed_amount")
            .push(key("[display_name]"), &rate.name)
            .push(key("[fixed_amount][amount]"), rate.amount)
            .push(key("[fixed_amount][currency]"), currency)
            .push(key("[metadata][rate_id]"), &rate.id);
        for (bound, days) in [("minimum", rate.min_days), ("maximum", rate.max_days)] {
            if let Some(days) = days {
                form.push(
                    key(&format!("[delivery_estimate][{bound}][unit]")),
                    "business_day",
                )
                .push(key(&format!("[delivery_estimate][{bound}][value]")), days);
            }
        }
    }
}
