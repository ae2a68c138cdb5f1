//! Creating a Refund of a PaymentIntent's successful charge, whole or in part, with Stripe's
//! checks, and the `refund.created` and `charge.refunded` events it causes.

use serde_json::Value;

use crate::error::ApiError;
use crate::fields::{integer, metadata, text};
use crate::state::{new_id, Account, Cause};

pub fn create_refund(
    account: &mut Account,
    params: &Value,
    cause: &Cause,
) -> Result<Value, ApiError> {
    let pi_id =
        text(params, "payment_intent").ok_or_else(|| ApiError::missing("payment_intent"))?;
    let now = account.now();
    let pi = account
        .payment_intents
        .get_mut(pi_id)
        .ok_or_else(|| ApiError::no_such("payment_intent", pi_id, "payment_intent"))?;
    if pi.status != "succeeded" {
        return Err(ApiError::invalid(
            format!("This PaymentIntent ({pi_id}) does not have a successful charge to refund."),
            Some("payment_intent"),
        )
        .with_code("charge_not_refundable"));
    }
    let refundable = pi.amount_received - pi.refunded;
    if refundable <= 0 {
        let charge = Account::succeeded_charge(pi)
            .map(|c| c.id.clone())
            .unwrap_or_default();
        return Err(
            ApiError::invalid(format!("Charge {charge} has already been refunded."), None)
                .with_code("charge_already_refunded"),
        );
    }
    let amount = integer(params, "amount", "amount")?.unwrap_or(refundable);
    if amount < 1 {
        return Err(ApiError::invalid(
            "This value must be greater than or equal to 1.",
            Some("amount"),
        )
        .with_code("parameter_invalid_integer"));
    }
    if amount > refundable {
        return Err(ApiError::invalid(
            format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({refundable})."),
            Some("amount"),
        )
        .with_code("amount_too_large"));
    }
    pi.refunded += amount;
    let charge = Account::succeeded_charge(pi).map(|c| c.id.clone());
    let refund = crate::shapes::shape(
        "refund",
        serde_json::json!({
            "id": new_id("re_"), "object": "refund", "amount": amount, "charge": charge,
            "created": now, "currency": pi.currency,
            "metadata": metadata(params, "metadata")?, "payment_intent": pi_id,
            "payment_method": pi.payment_method, "reason": text(params, "reason"),
            "status": "succeeded",
        }),
    );
    pi.refunds.push(refund.clone());
    account.refunds.insert(
        refund["id"].as_str().unwrap_or_default().to_string(),
        refund.clone(),
    );
    let charge = Account::succeeded_charge(pi).map(|c| Account::charge_json(pi, c));
    account.emit("refund.created", refund.clone(), cause);
    if let Some(charge) = charge {
        account.emit("charge.refunded", charge, cause);
    }
    Ok(refund)
}
