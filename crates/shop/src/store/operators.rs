//! The dashboard's named operators (`admin_operators`): adding and removing one, their list, what
//! a sign-in checks (role, password hash, TOTP secret) and the claim of a TOTP step, which makes a
//! code good once. Each change is audited in its own transaction.

use serde_json::json;

use crate::domain::status::OperatorRole;

use super::statement::args;
use super::{on_conn, AuditEntry, Store, StoreError};

/// One operator as the users page and `caisse admin list-users` show them.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OperatorRow {
    pub email: String,
    pub role: OperatorRole,
    pub totp: bool,
    pub created_at: i64,
}

/// What a sign-in checks for one operator. The hash and secret never leave the sign-in path.
#[derive(Clone, sqlx::FromRow)]
pub struct OperatorCredentials {
    pub role: OperatorRole,
    pub password_hash: String,
    pub totp_secret: Option<String>,
    pub totp_last_step: Option<i64>,
}

/// What [`Store::remove_operator`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    Removed,
    NotFound,
    /// Refused: nobody would be left to refund, adjust stock or manage the operators.
    LastOwner,
}

impl Store {
    /// Adds an operator; false (nothing written) when the email is already one.
    pub async fn add_operator(
        &self,
        email: &str,
        role: OperatorRole,
        password_hash: &str,
        actor: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.write(async |tx| {
            let added = tx
                .run(
                    "INSERT INTO admin_operators (email, role, password_hash, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (email) DO NOTHING",
                    args![email, role, password_hash, now],
                )
                .await?;
            if added == 0 {
                return Ok(false);
            }
            tx.audit(
                AuditEntry {
                    actor,
                    action: "operator.added",
                    entity_type: "operator",
                    entity_id: email,
                    before: None,
                    after: Some(json!({ "role": role })),
                    message: format!("Operator {email} added as {role}"),
                },
                now,
            )
            .await?;
            Ok(true)
        })
        .await
    }

    /// Removes an operator and ends their sessions, unless `keep_an_owner` and they are the last
    /// owner.
    pub async fn remove_operator(
        &self,
        email: &str,
        keep_an_owner: bool,
        actor: &str,
        now: i64,
    ) -> Result<Removal, StoreError> {
        self.write(async |tx| {
            if keep_an_owner {
                // Every owner's row locked: two owners removing each other at once are taken
                // one after the other, and the second finds itself the last.
                let sql = format!(
                    "SELECT email FROM admin_operators WHERE role = $1 ORDER BY email{}",
                    tx.for_update()
                );
                let owners: Vec<String> = tx.values(&sql, args![OperatorRole::Owner]).await?;
                if owners == [email] {
                    return Ok(Removal::LastOwner);
                }
            }
            let role: Option<OperatorRole> = tx
                .opt_value(
                    "DELETE FROM admin_operators WHERE email = $1 RETURNING role",
                    args![email],
                )
                .await?;
            let Some(role) = role else {
                return Ok(Removal::NotFound);
            };
            tx.run(
                "DELETE FROM admin_sessions WHERE operator_email = $1",
                args![email],
            )
            .await?;
            tx.audit(
                AuditEntry {
                    actor,
                    action: "operator.removed",
                    entity_type: "operator",
                    entity_id: email,
                    before: Some(json!({ "role": role })),
                    after: None,
                    message: format!("Operator {email} ({role}) removed; their sessions ended"),
                },
                now,
            )
            .await?;
            Ok(Removal::Removed)
        })
        .await
    }

    /// Every operator, by email.
    pub async fn operators(&self) -> Result<Vec<OperatorRow>, StoreError> {
        Ok(on_conn!(pool self, |c| sqlx::query_as(
            "SELECT email, role, totp_secret IS NOT NULL AS totp, created_at \
             FROM admin_operators ORDER BY email",
        )
        .fetch_all(c)
        .await)?)
    }

    /// True when at least one operator exists: the dashboard is then served even without
    /// `CAISSE_ADMIN_PASSWORD_HASH`.
    pub async fn any_operator(&self) -> Result<bool, StoreError> {
        let n: i64 = on_conn!(pool self, |c| sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM admin_operators LIMIT 1) AS one",
        )
        .fetch_one(c)
        .await)?;
        Ok(n > 0)
    }

    pub async fn operator_credentials(
        &self,
        email: &str,
    ) -> Result<Option<OperatorCredentials>, StoreError> {
        Ok(on_conn!(pool self, |c| sqlx::query_as(
            "SELECT role, password_hash, totp_secret, totp_last_step \
             FROM admin_operators WHERE email = $1",
        )
        .bind(email)
        .fetch_optional(c)
        .await)?)
    }

    /// Turns TOTP on with `secret` (base32), or off with `None`; false when there is no such
    /// operator. Either way no earlier code counts any more.
    pub async fn set_operator_totp(
        &self,
        email: &str,
        secret: Option<&str>,
        actor: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.write(async |tx| {
            let changed = tx.run("UPDATE admin_operators SET totp_secret = $2, totp_last_step = NULL WHERE email = $1", args![email, secret]).await?;
            if changed == 0 {
                return Ok(false);
            }
            let on = secret.is_some();
            tx.audit(
                AuditEntry {
                    actor,
                    action: if on { "operator.totp_on" } else { "operator.totp_off" },
                    entity_type: "operator",
                    entity_id: email,
                    before: None,
                    after: Some(json!({ "totp": on })),
                    message: format!(
                        "Second factor (TOTP) turned {} for operator {email}",
                        if on { "on" } else { "off" }
                    ),
                },
                now,
            )
            .await?;
            Ok(true)
        })
        .await
    }

    /// Records `step` as the operator's last used TOTP step, only if it is later than the one
    /// recorded: false when another sign-in used it (or a later one) first, so that a code signs
    /// in once even when sent twice at once.
    pub async fn claim_totp_step(&self, email: &str, step: i64) -> Result<bool, StoreError> {
        self.write(async |tx| {
            let claimed = tx
                .run(
                    "UPDATE admin_operators SET totp_last_step = $2 WHERE email = $1 \
                 AND totp_secret IS NOT NULL AND (totp_last_step IS NULL OR totp_last_step < $2)",
                    args![email, step],
                )
                .await?;
            Ok(claimed == 1)
        })
        .await
    }
}
