//! The dashboard's named operators as a service, for `caisse admin add-user|remove-user|
//! list-users|totp` and the owners' users page: what an email and a password must be, hashing
//! the password (argon2id, as `CAISSE_ADMIN_PASSWORD_HASH`), turning TOTP on (a fresh secret,
//! shown once as an `otpauth://` URI) and off, and the name each operator is audited under.

use rand::RngCore;

use crate::admin::hash_password;
use crate::domain::status::OperatorRole;
use crate::domain::totp;
use crate::store::{Removal, Store, StoreError, ADMIN};

/// The shortest password an operator may have.
pub const MIN_PASSWORD_CHARS: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} is already an operator")]
    Exists(String),
    #[error("{0} is not an operator")]
    NotFound(String),
    #[error("{0} is the last owner: add another owner first (caisse admin add-user EMAIL --role owner), or set CAISSE_ADMIN_PASSWORD_HASH")]
    LastOwner(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who an operator is in the audit trail: `admin:EMAIL`, or `admin` for the owner of
/// `CAISSE_ADMIN_PASSWORD_HASH`.
pub fn actor(email: Option<&str>) -> String {
    match email {
        Some(e) => format!("{ADMIN}:{e}"),
        None => ADMIN.to_string(),
    }
}

/// An operator's email as stored: trimmed and lower-cased, one `@` with something either side,
/// no spaces or control characters (it is shown on pages and in the audit trail).
pub fn normalize_email(text: &str) -> Result<String, OperatorError> {
    let email = text.trim().to_ascii_lowercase();
    let valid = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && email.matches('@').count() == 1
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(OperatorError::Invalid(format!(
            "“{}” is not an email address",
            text.trim()
        )))
    }
}

/// Refuses a password shorter than [`MIN_PASSWORD_CHARS`].
pub fn check_password(password: &str) -> Result<(), OperatorError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(OperatorError::Invalid(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

/// Adds an operator with `role` and `password` (hashed here, off the async threads).
pub async fn add(
    store: &Store,
    email: &str,
    role: OperatorRole,
    password: String,
    actor: &str,
    now: i64,
) -> Result<String, OperatorError> {
    let email = normalize_email(email)?;
    check_password(&password)?;
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| OperatorError::Invalid(e.to_string()))?
        .map_err(OperatorError::Invalid)?;
    if store.add_operator(&email, role, &hash, actor, now).await? {
        Ok(email)
    } else {
        Err(OperatorError::Exists(email))
    }
}

/// Removes an operator; their sessions end with them. The last owner is not removed unless
/// `hash_owner` (`CAISSE_ADMIN_PASSWORD_HASH` is set: its holder is an owner too): a shop with
/// no owner has nobody to refund, adjust stock, manage operators or receive critical alerts.
pub async fn remove(
    store: &Store,
    email: &str,
    hash_owner: bool,
    actor: &str,
    now: i64,
) -> Result<String, OperatorError> {
    let email = normalize_email(email)?;
    match store
        .remove_operator(&email, !hash_owner, actor, now)
        .await?
    {
        Removal::Removed => Ok(email),
        Removal::NotFound => Err(OperatorError::NotFound(email)),
        Removal::LastOwner => Err(OperatorError::LastOwner(email)),
    }
}

/// Turns TOTP on for an operator with a fresh 160-bit secret (RFC 4226's recommended length) and
/// answers the `otpauth://` URI to show once; any earlier secret stops working.
pub async fn totp_on(
    store: &Store,
    email: &str,
    actor: &str,
    now: i64,
) -> Result<String, OperatorError> {
    let email = normalize_email(email)?;
    let mut secret = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut secret);
    let secret = totp::base32(&secret);
    if store
        .set_operator_totp(&email, Some(&secret), actor, now)
        .await?
    {
        Ok(totp::otpauth_uri(&secret, &email))
    } else {
        Err(OperatorError::NotFound(email))
    }
}

/// Turns TOTP off: the operator signs in with their password alone.
pub async fn totp_off(
    store: &Store,
    email: &str,
    actor: &str,
    now: i64,
) -> Result<String, OperatorError> {
    let email = normalize_email(email)?;
    if store.set_operator_totp(&email, None, actor, now).await? {
        Ok(email)
    } else {
        Err(OperatorError::NotFound(email))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_kept_in_one_spelling_and_nonsense_is_refused() {
        assert_eq!(
            normalize_email("  Alice@Shop.Example ").unwrap(),
            "alice@shop.example"
        );
        for bad in [
            "",
            "alice",
            "@shop.example",
            "a@b",
            "a b@shop.example",
            "a@@shop.example",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_need_twelve_characters() {
        assert!(check_password("elevenchars").is_err());
        assert!(check_password("twelve chars").is_ok());
        assert!(
            check_password("ééééééééééé").is_err(),
            "characters, not bytes"
        );
    }

    #[test]
    fn operators_are_audited_by_name() {
        assert_eq!(
            actor(Some("alice@shop.example")),
            "admin:alice@shop.example"
        );
        assert_eq!(actor(None), "admin");
    }
}
