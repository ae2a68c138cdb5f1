//! Refunds: creating one of a PaymentIntent's successful charge, whole or in part, with
//! Stripe's checks (a three-decimal currency's amount in tens; a disputed charge is not refunded:
//! `charge_disputed`), and the `refund.created` and `charge.refunded` events it causes; a SEPA
//! debit's refund is `pending` until it succeeds later on the sandbox clock, as Stripe's
//! asynchronous methods are; updating a refund's metadata. Every change of a refund is announced
//! by `refund.updated` and `charge.refund.updated`, with `previous_attributes`.

use serde_json::{json, Value};

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
        let why = if pi.status == "requires_capture" {
            "has not been captured: cancel it to release the authorization"
        } else {
            "does not have a successful charge to refund"
        };
        return Err(ApiError::invalid(
            format!("This PaymentIntent ({pi_id}) {why}."),
            Some("payment_intent"),
        )
        .with_code("charge_not_refundable"));
    }
    let charge = Account::succeeded_charge(pi)
        .map(|c| c.id.clone())
        .unwrap_or_default();
    if pi.disputed {
        return Err(ApiError::invalid(
            format!("Charge {charge} has been charged back; cannot issue a refund."),
            None,
        )
        .with_code("charge_disputed"));
    }
    let refundable = pi.amount_received - pi.refunded;
    if refundable <= 0 {
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
    crate::currencies::check_chargeable(amount, &pi.currency, "amount")?;
    if amount > refundable {
        return Err(ApiError::invalid(
            format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({refundable})."),
            Some("amount"),
        )
        .with_code("amount_too_large"));
    }
    pi.refunded += amount;
    let asynchronous = pi.method == "sepa_debit";
    let charge = Account::succeeded_charge(pi).map(|c| c.id.clone());
    let refund = crate::shapes::shape(
        "refund",
        serde_json::json!({
            "id": new_id("re_"), "object": "refund", "amount": amount, "charge": charge,
            "created": now, "currency": pi.currency,
            "metadata": metadata(params, "metadata")?, "payment_intent": pi_id,
            "payment_method": pi.payment_method, "reason": text(params, "reason"),
            "status": if asynchronous { "pending" } else { "succeeded" },
        }),
    );
    pi.refunds.push(refund.clone());
    let id = refund["id"].as_str().unwrap_or_default().to_string();
    if asynchronous {
        let at = now + account.settle_after;
        account.pending_refunds.insert(id.clone(), at);
    }
    account.refunds.insert(id, refund.clone());
    let charge = Account::succeeded_charge(pi).map(|c| Account::charge_json(pi, c));
    account.emit("refund.created", refund.clone(), cause);
    if let Some(charge) = charge {
        account.emit("charge.refunded", charge, cause);
    }
    Ok(refund)
}

/// Sets the metadata of refund `id` (Stripe's update takes nothing else): keys are merged, an
/// empty value removes its key, an empty `metadata` removes them all.
pub fn update_refund(
    account: &mut Account,
    id: &str,
    params: &Value,
    cause: &Cause,
) -> Result<Value, ApiError> {
    let before = account
        .refunds
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("refund", id, "refund"))?;
    let mut after = before.clone();
    match params.get("metadata") {
        None => {}
        Some(Value::String(s)) if s.is_empty() => after["metadata"] = json!({}),
        Some(_) => {
            for (key, value) in metadata(params, "metadata")? {
                let map = after["metadata"]
                    .as_object_mut()
                    .expect("metadata is a hash");
                if value.as_str() == Some("") {
                    map.remove(&key);
                } else {
                    map.insert(key, value);
                }
            }
        }
    }
    if after != before {
        account.change_refund(after.clone(), &before, cause);
    }
    Ok(after)
}

impl Account {
    /// Stores a refund's new state (the account's copy and its charge's) and announces it.
    pub(crate) fn change_refund(&mut self, refund: Value, before: &Value, cause: &Cause) {
        let pi_id = refund["payment_intent"].as_str().unwrap_or_default();
        if let Some(pi) = self.payment_intents.get_mut(pi_id) {
            for r in pi.refunds.iter_mut().filter(|r| r["id"] == refund["id"]) {
                *r = refund.clone();
            }
        }
        let id = refund["id"].as_str().unwrap_or_default().to_string();
        self.refunds.insert(id, refund.clone());
        self.emit_update("refund.updated", before, refund.clone(), cause);
        self.emit_update("charge.refund.updated", before, refund, cause);
    }

    /// The pending refunds whose time has come succeed (the ticker calls it through
    /// `expire_due`).
    pub(crate) fn settle_due_refunds(&mut self) {
        let now = self.now();
        let due: Vec<String> = self
            .pending_refunds
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            self.pending_refunds.remove(&id);
            let Some(before) = self.refunds.get(&id).cloned() else {
                continue;
            };
            let mut after = before.clone();
            after["status"] = json!("succeeded");
            self.change_refund(after, &before, &Cause::default());
        }
    }
}
