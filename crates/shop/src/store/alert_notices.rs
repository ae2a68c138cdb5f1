//! What the alert notices read and mark: the critical alerts still to be posted to the alert
//! webhook or emailed, when each alert kind was last emailed, and the owners to email.

use crate::domain::status::{AlertKind, OperatorRole};

use super::statement::{args, tx_row};
use super::{on_conn, Store, StoreError, Tx};

tx_row! {
/// A critical alert not yet sent everywhere it goes.
#[derive(Clone, Debug)]
pub struct PendingAlert {
    pub id: i64,
    pub kind: AlertKind,
    pub message: String,
    pub created_at: i64,
}
}

impl Store {
    /// The owners among the named operators: where critical alerts go by default.
    pub async fn owner_emails(&self) -> Result<Vec<String>, StoreError> {
        Ok(on_conn!(pool self, |c| sqlx::query_scalar(
            "SELECT email FROM admin_operators WHERE role = $1 ORDER BY email",
        )
        .bind(OperatorRole::Owner)
        .fetch_all(c)
        .await)?)
    }
}

impl Tx {
    /// Up to `limit` alerts, oldest first, still to post (`hooks`) or to email (else).
    pub async fn pending_alerts(
        &mut self,
        hooks: bool,
        limit: i64,
    ) -> Result<Vec<PendingAlert>, StoreError> {
        let column = if hooks {
            "hook_pending"
        } else {
            "mail_pending"
        };
        let sql = format!(
            "SELECT id, kind, message, created_at FROM alerts WHERE {column} = TRUE \
             ORDER BY id LIMIT $1"
        );
        self.rows(&sql, args![limit]).await
    }

    /// Marks an alert posted (`hook`) or emailed (else): queued in the outbox, or not to be sent.
    pub async fn alert_notice_queued(&mut self, id: i64, hook: bool) -> Result<(), StoreError> {
        let column = if hook { "hook_pending" } else { "mail_pending" };
        let sql = format!("UPDATE alerts SET {column} = FALSE WHERE id = $1");
        self.run(&sql, args![id]).await?;
        Ok(())
    }

    /// When an email about `kind` was last queued.
    pub async fn last_alert_mail(&mut self, kind: AlertKind) -> Result<Option<i64>, StoreError> {
        self.opt_value(
            "SELECT last_sent_at FROM alert_mail_state WHERE kind = $1",
            args![kind],
        )
        .await
    }

    pub async fn alert_mail_sent(&mut self, kind: AlertKind, at: i64) -> Result<(), StoreError> {
        self.run(
            "INSERT INTO alert_mail_state (kind, last_sent_at) VALUES ($1, $2) \
             ON CONFLICT (kind) DO UPDATE SET last_sent_at = excluded.last_sent_at",
            args![kind, at],
        )
        .await?;
        Ok(())
    }
}
