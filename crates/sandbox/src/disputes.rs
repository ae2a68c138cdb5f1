//! What happens to a payment after it, as Stripe's test mode does it: the dispute test card
//! (`4000 0000 0000 0259`) pays and is then disputed — the dispute opens a moment later
//! (`charge.dispute.created`, reason `fraudulent`, evidence due in a week) — and the control API
//! closes a dispute won or lost (`charge.dispute.closed`) or fails a refund Stripe had accepted,
//! pending or succeeded (`refund.failed`, `refund.updated` and `charge.refund.updated`, the
//! charge's refunded amount lowered back). A disputed charge says so (`disputed`) from the
//! dispute's opening on.

use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::{new_id, Account, Cause};

/// Seconds between the payment and its dispute (Stripe takes minutes; a test waits less).
const DISPUTE_AFTER: i64 = 2;
/// Seconds the merchant has to answer with evidence.
const EVIDENCE_WINDOW: i64 = 7 * 86_400;

#[derive(Clone, Debug)]
pub struct Dispute {
    pub id: String,
    pub payment_intent: String,
    pub charge: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub created: i64,
    /// Not yet visible before this time.
    pub opens_at: i64,
    /// `warning_needs_response` until it opens, then `needs_response`, `won` or `lost`.
    pub status: &'static str,
}

impl Dispute {
    pub fn json(&self) -> Value {
        // Stripe's dispute object, with the keys caisse and the SDKs read.
        json!({
                "id": self.id, "object": "dispute", "amount": self.amount,
                "balance_transactions": [], "charge": self.charge, "created": self.opens_at,
                "currency": self.currency,
                "evidence_details": {
                    "due_by": self.opens_at + EVIDENCE_WINDOW, "has_evidence": false,
                    "past_due": false, "submission_count": 0,
                },
                "is_charge_refundable": false, "livemode": false, "metadata": {},
                "payment_intent": self.payment_intent, "reason": "fraudulent",
                "status": self.status,
        })
    }
}

impl Account {
    /// The payment `pi_id` will be disputed shortly.
    pub(crate) fn schedule_dispute(&mut self, pi_id: &str) {
        let now = self.now();
        let Some(pi) = self.payment_intents.get(pi_id) else {
            return;
        };
        let dispute = Dispute {
            id: new_id("dp_"),
            payment_intent: pi.id.clone(),
            charge: Account::succeeded_charge(pi).map(|c| c.id.clone()),
            amount: pi.amount_received,
            currency: pi.currency.clone(),
            created: now,
            opens_at: now + DISPUTE_AFTER,
            status: "warning_needs_response",
        };
        self.disputes.insert(dispute.id.clone(), dispute);
    }

    /// Opens the disputes whose time has come (the ticker calls it through `expire_due`).
    pub(crate) fn open_due_disputes(&mut self) {
        let now = self.now();
        let due: Vec<String> = self
            .disputes
            .values()
            .filter(|d| d.status == "warning_needs_response" && d.opens_at <= now)
            .map(|d| d.id.clone())
            .collect();
        for id in due {
            if let Some(d) = self.disputes.get_mut(&id) {
                d.status = "needs_response";
                let snapshot = d.json();
                if let Some(pi) = self.payment_intents.get_mut(&d.payment_intent) {
                    pi.disputed = true;
                }
                self.emit("charge.dispute.created", snapshot, &Cause::default());
            }
        }
    }

    /// Closes an open dispute, won or lost.
    pub fn close_dispute(&mut self, id: &str, won: bool) -> Result<Value, ApiError> {
        let d = self
            .disputes
            .get_mut(id)
            .filter(|d| d.status == "needs_response")
            .ok_or_else(|| ApiError::not_found("dispute", id, "dispute"))?;
        d.status = if won { "won" } else { "lost" };
        let snapshot = d.json();
        self.emit("charge.dispute.closed", snapshot.clone(), &Cause::default());
        Ok(snapshot)
    }

    /// Fails a refund that is pending (a SEPA debit's, before it settles) or had succeeded: its
    /// amount is no longer refunded. A refund already failed or canceled cannot fail again.
    pub fn fail_refund(&mut self, id: &str) -> Result<Value, ApiError> {
        let before = self
            .refunds
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("refund", id, "refund"))?;
        let status = before["status"].as_str().unwrap_or_default();
        if !matches!(status, "pending" | "succeeded") {
            return Err(ApiError::invalid(
                format!("Refund {id} is {status}: only a pending or succeeded refund can fail."),
                None,
            ));
        }
        self.pending_refunds.remove(id);
        let mut refund = before.clone();
        refund["status"] = json!("failed");
        refund["failure_reason"] = json!("expired_or_canceled_card");
        let amount = refund["amount"].as_i64().unwrap_or(0);
        let pi_id = refund["payment_intent"].as_str().unwrap_or_default();
        if let Some(pi) = self.payment_intents.get_mut(pi_id) {
            pi.refunded = (pi.refunded - amount).max(0);
        }
        let cause = Cause::default();
        self.emit("refund.failed", refund.clone(), &cause);
        self.change_refund(refund.clone(), &before, &cause);
        Ok(refund)
    }
}
