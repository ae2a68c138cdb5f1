//! The operators' dashboard as a service: its one password (an argon2id hash), its sessions and
//! CSRF tokens, and the actions it can take — refund an order through Stripe, reprocess a webhook
//! event through the inbox, acknowledge an alert, retry a failed email — each audited under the
//! operator's name (`admin:EMAIL`, or `admin` for the owner of `CAISSE_ADMIN_PASSWORD_HASH`).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::app::App;
/// The hash-cost check lives with the configuration, which refuses a bad hash at start-up.
pub use crate::config::check_hash;
use crate::domain::money::format_amount;
use crate::domain::status::DisputeStatus;
use crate::store::{AuditEntry, OrderRow, StoreError};
use crate::webhooks::{self, Source};

/// How long a dashboard session lasts after sign-in.
pub const SESSION_SECS: i64 = 12 * 3600;

/// The PHC string of `password` (argon2id, the crate's default cost: 19 MiB, 2 passes).
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// True when `password` matches the hash. Slow on purpose (tens of milliseconds): call it off the
/// async threads, behind the sign-in rate limit.
pub fn verify_password(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// 32 random bytes, URL-safe: a session cookie, a CSRF token, a form's refund token.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a session cookie: its SHA-256, so that a copy of the database does
/// not sign anyone in.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The refund form's token: a random nonce, a dot, and an HMAC of the order and the nonce under
/// the session's CSRF token. Only a form this dashboard made, for this session and this order,
/// carries one; the nonce makes each form one refund (it names the idempotency key).
pub fn refund_form_token(session_key: &str, order_id: &str) -> String {
    let nonce = random_token();
    let mac = refund_mac(session_key, order_id, &nonce);
    format!("{nonce}.{mac}")
}

/// The nonce of a refund form token the dashboard issued for this session and order.
fn refund_form_nonce<'a>(session_key: &str, order_id: &str, token: &'a str) -> Option<&'a str> {
    let (nonce, mac) = token.split_once('.')?;
    let well_formed = nonce.len() == 43
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (well_formed && same_token(&refund_mac(session_key, order_id, nonce), mac)).then_some(nonce)
}

fn refund_mac(session_key: &str, order_id: &str, nonce: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac =
        Hmac::<Sha256>::new_from_slice(session_key.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("caisse refund form {order_id} {nonce}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// What a dashboard session keeps of the password it was signed in with: a SHA-256 of the
/// configured hash, so that changing the password (its hash) ends every earlier session.
pub fn password_fingerprint(phc: &str) -> String {
    hex::encode(Sha256::digest(
        format!("caisse admin password {phc}").as_bytes(),
    ))
}

/// Equal strings, compared in time that does not depend on where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("{0}")]
    Refused(String),
    #[error("not found")]
    NotFound,
    #[error("Stripe refused: {0}")]
    Stripe(#[from] caisse_stripe::StripeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Stripe's reasons for a refund, as the confirmation step offers them.
pub const REFUND_REASONS: [&str; 3] = ["requested_by_customer", "duplicate", "fraudulent"];

/// A refund as the order page's form asks for it.
pub struct RefundForm<'a> {
    /// Minor units; all that is left when `None`.
    pub amount: Option<i64>,
    /// One of [`REFUND_REASONS`], or none.
    pub reason: Option<&'a str>,
    /// The form's token, issued for this session and order.
    pub token: &'a str,
    /// The session's key the token was issued under.
    pub session_key: &'a str,
}

/// Why a payment with this dispute is not refunded, if it is not: Stripe refuses to refund a
/// charge under an open dispute (`charge_disputed`), and a lost one already gave the money back.
/// A won dispute leaves the payment refundable.
pub fn dispute_forbids_refund(dispute: Option<DisputeStatus>) -> Option<&'static str> {
    match dispute? {
        DisputeStatus::Open => Some(
            "the payment is disputed: Stripe refunds no disputed charge; answer the dispute in Stripe's dashboard (or accept it, which gives the money back)",
        ),
        DisputeStatus::Lost => {
            Some("the payment's dispute was lost: the money already went back to the customer")
        }
        DisputeStatus::Won => None,
    }
}

/// The PaymentIntent and the minor units a refund of `amount` (all that is left when `None`) of
/// `order` comes to, or why there can be none, in words: the confirmation step and the refund
/// itself say the same.
pub fn refund_amount(order: &OrderRow, amount: Option<i64>) -> Result<(&str, i64), String> {
    let (Some(pi), Some(paid)) = (&order.payment_intent_id, order.amount_paid) else {
        return Err("this order has no payment".into());
    };
    if let Some(why) = dispute_forbids_refund(order.dispute) {
        return Err(why.into());
    }
    let left = paid - order.amount_refunded.unwrap_or(0);
    if left <= 0 {
        return Err("nothing is left to refund on this order".into());
    }
    let amount = amount.unwrap_or(left);
    if amount <= 0 || amount > left {
        return Err(format!(
            "the amount must be more than zero and at most {} (what is left to refund)",
            format_amount(left, &order.currency)
        ));
    }
    Ok((pi, amount))
}

/// Asks Stripe to refund the form's amount of order `number`. The key is the order's plus the
/// form's token, so a form sent twice refunds once and a second form can refund more. The
/// payment's refunded amount changes when `charge.refunded` arrives.
pub async fn refund(
    app: &App,
    number: i64,
    form: &RefundForm<'_>,
    actor: &str,
    now: i64,
) -> Result<String, ActionError> {
    let RefundForm {
        amount,
        reason,
        token: form_token,
        session_key,
    } = *form;
    if reason.is_some_and(|r| !REFUND_REASONS.contains(&r)) {
        return Err(ActionError::Refused(format!(
            "the reason must be one of {}",
            REFUND_REASONS.join(", ")
        )));
    }
    let order = app
        .store
        .order_by_number(number)
        .await?
        .ok_or(ActionError::NotFound)?;
    let (pi, amount) = refund_amount(&order, amount).map_err(ActionError::Refused)?;
    // The form's token is what makes a resent form one refund: only a token this dashboard
    // issued for this session and order names one.
    let Some(nonce) = refund_form_nonce(session_key, &order.id, form_token) else {
        return Err(ActionError::Refused(
            "this form is out of date; reload the order page".into(),
        ));
    };
    let key = format!("caisse-{}-refund-admin{nonce}", order.id);
    let refund = match app.stripe.create_refund(pi, Some(amount), reason, &key).await {
        Ok(r) => r,
        Err(caisse_stripe::StripeError::Api { kind, .. }) if kind == "idempotency_error" => {
            return Err(ActionError::Refused(
                "this form was already sent with another amount; reload the order page to refund again"
                    .into(),
            ))
        }
        Err(e) => {
            // Who asked for what, and why Stripe said no, beside the trace of the call: a
            // refusal will not pass by itself (a passing failure is only retried).
            if !e.is_transient() {
                let entry = AuditEntry {
                    actor,
                    action: "refund.refused",
                    entity_type: "order",
                    entity_id: &order.id,
                    before: Some(json!({ "amount_refunded": order.amount_refunded })),
                    after: Some(json!({ "amount": amount, "reason": reason, "error": e.to_string() })),
                    message: format!(
                        "Refund of {} for order #{number} refused by Stripe: {e}",
                        format_amount(amount, &order.currency)
                    ),
                };
                let audited = app.store.write(async |tx| tx.audit(entry, now).await).await;
                if let Err(again) = audited {
                    tracing::warn!(error = %again, "could not audit a refused refund");
                }
            }
            return Err(e.into());
        }
    };
    app.store.write(async |tx| {
        // A form sent again gets Stripe's same refund back: audited once.
        if !tx.refund_not_yet_audited(&order.id, &refund.id).await? {
            return Ok(refund.id);
        }
        tx.audit(
            AuditEntry {
                actor,
                action: "refund.requested",
                entity_type: "order",
                entity_id: &order.id,
                before: Some(json!({ "amount_refunded": order.amount_refunded })),
                after: Some(json!({ "refund": refund.id, "amount": refund.amount, "reason": reason })),
                message: format!(
                    "Refund {} of {} requested for order #{number} from the dashboard (payment {pi})",
                    refund.id,
                    format_amount(refund.amount, &refund.currency)
                ),
            },
            now,
        )
        .await?;
        Ok(refund.id)
    })
    .await
}

/// Runs a recorded event through the inbox again, as a redelivery would: a failed event gets its
/// effect, a processed one is a duplicate.
pub async fn reprocess_event(
    app: &App,
    id: &str,
    actor: &str,
    now: i64,
) -> Result<String, ActionError> {
    let row = app
        .store
        .event_detail(id)
        .await?
        .ok_or(ActionError::NotFound)?;
    // Only processed and ignored events lose their payload (retention): nothing is left to redo.
    let said = if row.payload.is_empty() {
        "already done; its payload was pruned after CAISSE_RETENTION_DAYS".to_string()
    } else {
        let event: caisse_stripe::Event = serde_json::from_str(&row.payload).map_err(|e| {
            ActionError::Refused(format!("the stored payload is not an event: {e}"))
        })?;
        match webhooks::receive(
            app,
            &event,
            webhooks::typed_object(&event),
            &row.payload,
            Source::Replay,
        )
        .await
        {
            Ok(webhooks::Received::Duplicate) => "already done; nothing changed".to_string(),
            Ok(webhooks::Received::Applied(webhooks::Outcome::Processed(what))) => {
                format!("processed: {what}")
            }
            Ok(webhooks::Received::Applied(webhooks::Outcome::Ignored(why))) => {
                format!("ignored: {why}")
            }
            Err(e) => format!("failed again: {e}"),
        }
    };
    app.store
        .write(async |tx| {
            tx.audit(
                AuditEntry {
                    actor,
                    action: "webhook_event.reprocessed",
                    entity_type: "webhook_event",
                    entity_id: id,
                    before: Some(json!({ "status": row.row.status })),
                    after: Some(json!({ "result": said })),
                    message: format!(
                        "Event {id} ({}) reprocessed from the dashboard: {said}",
                        row.row.kind
                    ),
                },
                now,
            )
            .await?;
            Ok(said)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert_eq!(check_hash(&h), Ok(()));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "correct horse "));
        assert!(!verify_password("garbage", "correct horse"));
    }

    #[test]
    fn only_argon2id_hashes_are_accepted() {
        assert!(check_hash("hunter2").is_err());
        assert!(check_hash("$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$ZGF0YWRhdGFkYXRh").is_err());
        // Valid argon2id strings whose costs would take the server's memory, or crack in no
        // time, or cannot work at all.
        let h = hash_password("correct horse").unwrap();
        for (from, to) in [
            ("m=19456", "m=4000000000"),
            ("m=19456", "m=1"),
            ("t=2", "t=1000"),
            ("p=1", "p=64"),
        ] {
            let bad = h.replace(from, to);
            assert_ne!(bad, h);
            assert!(check_hash(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "ab"));
        assert_ne!(random_token(), random_token());
        assert_eq!(token_hash("x").len(), 64);
    }
}
