//! The audit trail: append-only, written in the same transaction as the action it records.

use serde_json::Value;

use super::statement::args;
use super::{on_conn, Store, StoreError, Tx};

/// One sensitive action: who, what, on which entity, before and after, as a sentence.
#[derive(Clone, Debug)]
pub struct AuditEntry<'a> {
    /// `webhook:evt_…`, `customer:…`, `admin:…`, `system:sweeper`, `cli:catalog-import`.
    pub actor: &'a str,
    pub action: &'a str,
    pub entity_type: &'a str,
    pub entity_id: &'a str,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub message: String,
}

#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub message: String,
}

impl Tx {
    pub async fn audit(&mut self, e: AuditEntry<'_>, now: i64) -> Result<(), StoreError> {
        let before = e.before.map(|v| v.to_string());
        let after = e.after.map(|v| v.to_string());
        self.run("INSERT INTO audit_log (at, actor, action, entity_type, entity_id, before, after, message) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", args![now, e.actor, e.action, e.entity_type, e.entity_id, &before, &after, &e.message]).await?;
        Ok(())
    }
}

impl Store {
    /// The newest entries first, optionally for one entity.
    pub async fn audit_log(
        &self,
        entity: Option<(&str, &str)>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let (kind, id) = entity.unwrap_or(("", ""));
        Ok(on_conn!(pool self, |c| sqlx::query_as(
            "SELECT id, at, actor, action, entity_type, entity_id, before, after, message \
             FROM audit_log WHERE ($1 = '' OR (entity_type = $1 AND entity_id = $2)) \
             ORDER BY id DESC LIMIT $3",
        )
        .bind(kind)
        .bind(id)
        .bind(limit)
        .fetch_all(c)
        .await)?)
    }
}
