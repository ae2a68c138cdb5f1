//! `alerts`: what operators must look at, shown on the dashboard until acknowledged. One row per
//! cause: the dedup key is unique, so a cause raised twice (a redelivered event, two instances) is
//! one alert.

use super::statement::args;
use super::{on_conn, Store, StoreError, Tx};
use crate::domain::status::AlertKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Clone, Debug)]
pub struct NewAlert<'a> {
    pub kind: AlertKind,
    pub severity: Severity,
    pub message: String,
    pub entity: Option<(&'a str, &'a str)>,
    /// One alert per distinct key.
    pub dedup_key: String,
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct Alert {
    pub id: i64,
    pub kind: AlertKind,
    pub severity: String,
    pub message: String,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub dedup_key: Option<String>,
    pub created_at: i64,
    pub acknowledged_at: Option<i64>,
    pub acknowledged_by: Option<String>,
}

/// A critical alert is also to be emailed and posted (`mail_pending`, `hook_pending`): the
/// outbox's alert notices pick it up (`outbox/alert_notices.rs`).
const INSERT: &str =
    "INSERT INTO alerts (kind, severity, message, entity_type, entity_id, dedup_key, created_at, \
                         mail_pending, hook_pending) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (dedup_key) DO NOTHING";

fn counted(kind: AlertKind, rows: u64) -> bool {
    if rows > 0 {
        metrics::counter!("caisse_alerts_total", "kind" => kind.as_str()).increment(1);
    }
    rows > 0
}

impl Tx {
    /// Raises `a` with the effect it belongs to; true when it is new.
    pub async fn raise_alert(&mut self, a: &NewAlert<'_>, now: i64) -> Result<bool, StoreError> {
        let (entity_type, entity_id) = a.entity.unzip();
        let rows = self
            .run(
                INSERT,
                args![
                    a.kind,
                    a.severity.as_str(),
                    &a.message,
                    entity_type,
                    entity_id,
                    &a.dedup_key,
                    now,
                    a.severity == Severity::Critical
                ],
            )
            .await?;
        Ok(counted(a.kind, rows))
    }
}

impl Tx {
    /// Resolves the open `payment_failed` alerts of a hold that was paid after all (the customer
    /// tried another card on the same page): acknowledged by `system:fulfilment`, they leave the
    /// alerts to look at and stay in the history. Answers how many.
    pub async fn resolve_payment_failed(
        &mut self,
        hold_id: &str,
        now: i64,
    ) -> Result<u64, StoreError> {
        self.run("UPDATE alerts SET acknowledged_at = $3, acknowledged_by = 'system:fulfilment' \
             WHERE kind = $1 AND entity_type = 'hold' AND entity_id = $2 AND acknowledged_at IS NULL", args![AlertKind::PaymentFailed, hold_id, now]).await
    }

    /// Raises `a` as a member of `group`, which [`Tx::alerts_in_group`] counts; true when new.
    pub async fn raise_grouped_alert(
        &mut self,
        a: &NewAlert<'_>,
        group: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (entity_type, entity_id) = a.entity.unzip();
        let rows = self.run("INSERT INTO alerts (kind, severity, message, entity_type, entity_id, dedup_key, created_at, \
                                 group_key, mail_pending, hook_pending) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (dedup_key) DO NOTHING", args![a.kind, a.severity.as_str(), &a.message, entity_type, entity_id, &a.dedup_key, now, group, a.severity == Severity::Critical]).await?;
        Ok(counted(a.kind, rows))
    }

    /// How many alerts `group` has.
    pub async fn alerts_in_group(&mut self, group: &str) -> Result<i64, StoreError> {
        self.value(
            "SELECT COUNT(*) FROM alerts WHERE group_key = $1",
            args![group],
        )
        .await
    }
}

impl Store {
    /// Raises `a` on its own, outside any effect; true when it is new.
    pub async fn raise_alert(&self, a: &NewAlert<'_>, now: i64) -> Result<bool, StoreError> {
        self.write(async |tx| {
            let new = tx.raise_alert(a, now).await?;
            Ok(new)
        })
        .await
    }

    /// Raises the alert of an outage that began at `since`, unless an alert of its kind was raised
    /// at or after `since`: another instance told the same outage when the database came back (a
    /// lock on the kind makes them take turns). An earlier outage's alert, raised before this one
    /// began, does not stand for it.
    pub async fn raise_outage_alert(
        &self,
        a: &NewAlert<'_>,
        since: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.write(async |tx| {
            tx.lock_name(&format!("alert:{}", a.kind.as_str())).await?;
            let told: i64 = tx
                .value(
                    "SELECT COUNT(*) FROM alerts WHERE kind = $1 AND created_at >= $2",
                    args![a.kind, since],
                )
                .await?;
            if told > 0 {
                return Ok(false);
            }
            tx.raise_alert(a, now).await
        })
        .await
    }

    /// The newest alerts first, unacknowledged only when `open_only`.
    pub async fn alerts(&self, open_only: bool, limit: i64) -> Result<Vec<Alert>, StoreError> {
        Ok(on_conn!(pool self, |c| sqlx::query_as(
            "SELECT id, kind, severity, message, entity_type, entity_id, dedup_key, created_at, \
                    acknowledged_at, acknowledged_by \
             FROM alerts WHERE ($1 = FALSE OR acknowledged_at IS NULL) ORDER BY id DESC LIMIT $2",
        )
        .bind(open_only)
        .bind(limit)
        .fetch_all(c)
        .await)?)
    }
}
