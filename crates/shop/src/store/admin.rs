//! The dashboard's writes: its sessions, acknowledging an alert and retrying a failed message,
//! each in one transaction with its audit entry naming the operator.

use serde_json::json;

use crate::domain::status::OperatorRole;

use super::statement::args;
use super::{on_conn, AuditEntry, Store, StoreError, Tx};

/// Who the owner of `CAISSE_ADMIN_PASSWORD_HASH` (no email) is recorded as; a named operator is
/// `admin:EMAIL`.
pub const ADMIN: &str = "admin";

/// A live session as the database has it; whether it still counts (its password unchanged, its
/// operator still there) is for the caller to decide against the configuration.
#[derive(Clone, sqlx::FromRow)]
pub struct AdminSession {
    pub csrf_token: String,
    /// `None`: the owner of `CAISSE_ADMIN_PASSWORD_HASH`.
    pub operator_email: Option<String>,
    pub password_fp: String,
    /// The operator's role and hash today (`None` when the operator was removed).
    pub role: Option<OperatorRole>,
    pub password_hash: Option<String>,
}

/// A new session: who signed in, and with which password.
pub struct NewAdminSession<'a> {
    pub token_hash: &'a str,
    pub password_fp: &'a str,
    pub csrf_token: &'a str,
    pub operator_email: Option<&'a str>,
    pub actor: &'a str,
}

impl Store {
    /// Records a signed-in session by its token's hash, with the fingerprint of the password it
    /// was signed in with, and forgets expired ones.
    pub async fn create_admin_session(
        &self,
        new: NewAdminSession<'_>,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let NewAdminSession {
            token_hash,
            password_fp,
            csrf_token,
            operator_email,
            actor,
        } = new;
        self.write(async |tx| {
            tx.run(
                "DELETE FROM admin_sessions WHERE expires_at <= $1",
                args![now],
            )
            .await?;
            tx.run(
                "INSERT INTO admin_sessions \
                 (token_hash, csrf_token, created_at, expires_at, password_fp, operator_email) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                args![
                    token_hash,
                    csrf_token,
                    now,
                    expires_at,
                    password_fp,
                    operator_email
                ],
            )
            .await?;
            tx.audit(
                AuditEntry {
                    actor,
                    action: "admin.signed_in",
                    entity_type: "admin_session",
                    entity_id: &token_hash[..12.min(token_hash.len())],
                    before: None,
                    after: Some(json!({ "expires_at": expires_at })),
                    message: format!("{actor} signed in to the dashboard"),
                },
                now,
            )
            .await?;
            Ok(())
        })
        .await
    }

    /// The unexpired session of this token's hash, with its operator's role and hash today.
    pub async fn admin_session(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<AdminSession>, StoreError> {
        Ok(on_conn!(pool self, |c| sqlx::query_as(
            "SELECT s.csrf_token, s.operator_email, s.password_fp, o.role, o.password_hash \
             FROM admin_sessions s LEFT JOIN admin_operators o ON o.email = s.operator_email \
             WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(c)
        .await)?)
    }

    pub async fn end_admin_session(
        &self,
        token_hash: &str,
        actor: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.write(async |tx| {
            let rows = tx
                .run(
                    "DELETE FROM admin_sessions WHERE token_hash = $1",
                    args![token_hash],
                )
                .await?;
            if rows > 0 {
                tx.audit(
                    AuditEntry {
                        actor,
                        action: "admin.signed_out",
                        entity_type: "admin_session",
                        entity_id: &token_hash[..12.min(token_hash.len())],
                        before: None,
                        after: None,
                        message: format!("{actor} signed out of the dashboard"),
                    },
                    now,
                )
                .await?;
            }
            Ok(())
        })
        .await
    }

    /// Acknowledges an open alert; false when it is unknown or already acknowledged.
    pub async fn acknowledge_alert(
        &self,
        id: i64,
        actor: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.write(async |tx| {
            let kind: Option<String> = tx
                .opt_value(
                    "UPDATE alerts SET acknowledged_at = $2, acknowledged_by = $3 \
                 WHERE id = $1 AND acknowledged_at IS NULL RETURNING kind",
                    args![id, now, actor],
                )
                .await?;
            let Some(kind) = kind else {
                return Ok(false);
            };
            tx.audit(
                AuditEntry {
                    actor,
                    action: "alert.acknowledged",
                    entity_type: "alert",
                    entity_id: &id.to_string(),
                    before: Some(json!({ "acknowledged": false })),
                    after: Some(json!({ "acknowledged": true })),
                    message: format!("Alert {id} ({kind}) acknowledged on the dashboard"),
                },
                now,
            )
            .await?;
            Ok(true)
        })
        .await
    }

    /// Makes a failed outbox message due again with a fresh set of attempts; false when it is
    /// unknown or not failed.
    pub async fn retry_outbox(&self, id: i64, actor: &str, now: i64) -> Result<bool, StoreError> {
        self.write(async |tx| {
            let row: Option<(String, i64)> = tx
                .row(
                    "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $2 \
                 WHERE id = $1 AND status = 'failed' RETURNING dedup_key, attempts",
                    args![id, now],
                )
                .await?;
            let Some((key, _)) = row else {
                return Ok(false);
            };
            tx.audit(
                AuditEntry {
                    actor,
                    action: "outbox.retried",
                    entity_type: "outbox",
                    entity_id: &id.to_string(),
                    before: Some(json!({ "status": "failed" })),
                    after: Some(json!({ "status": "pending" })),
                    message: format!("Message {key} queued again from the dashboard"),
                },
                now,
            )
            .await?;
            Ok(true)
        })
        .await
    }
}

impl Tx {
    /// Locks the order and tells whether `refund_id` is not yet in its audit trail, so that a
    /// refund Stripe hands back twice (one form sent twice, even at once) is audited once.
    pub async fn refund_not_yet_audited(
        &mut self,
        order_id: &str,
        refund_id: &str,
    ) -> Result<bool, StoreError> {
        let lock = format!("SELECT id FROM orders WHERE id = $1{}", self.for_update());
        self.run(&lock, args![order_id]).await?;
        let seen: i64 = self
            .value(
                "SELECT COUNT(*) FROM audit_log WHERE entity_type = 'order' AND entity_id = $1 \
             AND action = 'refund.requested' AND after LIKE $2",
                args![order_id, &format!("%\"{refund_id}\"%")],
            )
            .await?;
        Ok(seen == 0)
    }
}
