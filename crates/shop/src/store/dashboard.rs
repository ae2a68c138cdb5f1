//! What the operators' dashboard reads: the overview's figures and one page of each list.
//!
//! Every list is a keyset page (`WHERE key < $cursor ORDER BY key DESC LIMIT n`) on an index of
//! migration 0007, so a page costs the same on the first and the thousandth screen, with 100,000
//! orders or ten. A page asks for one row more than it shows: that row says whether a next page
//! exists, and its key is not needed (the last shown row's key is the cursor).

use super::{on_conn, Alert, AuditRecord, Hold, OutboxRow, Store, StoreError, StripeRequestRow};
use crate::domain::status::{DisputeStatus, OutboxKind};

/// Rows on one page of a list.
pub const PAGE: i64 = 50;

/// One order in the list and at the top of its detail page.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OrderRow {
    pub number: i64,
    pub id: String,
    pub hold_id: String,
    pub status: String,
    pub attention_reason: Option<String>,
    pub email: Option<String>,
    pub amount_total: i64,
    pub currency: String,
    pub created_at: i64,
    pub payment_intent_id: Option<String>,
    pub checkout_session_id: Option<String>,
    pub amount_paid: Option<i64>,
    pub amount_refunded: Option<i64>,
    /// Where a chargeback of its payment stands, if there was one.
    pub dispute: Option<DisputeStatus>,
}

/// What the orders page searches by, read from one search box.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderSearch {
    All,
    Number(i64),
    Email(String),
    PaymentIntent(String),
    Session(String),
}

impl OrderSearch {
    /// `123` or `#123`, `pi_…`, `cs_…`, or else an email address.
    pub fn parse(q: &str) -> OrderSearch {
        let q = q.trim();
        if q.is_empty() {
            OrderSearch::All
        } else if let Ok(n) = q.trim_start_matches('#').parse::<i64>() {
            OrderSearch::Number(n)
        } else if q.starts_with("pi_") {
            OrderSearch::PaymentIntent(q.to_string())
        } else if q.starts_with("cs_") {
            OrderSearch::Session(q.to_string())
        } else {
            // As recorded (from the checkout or from Stripe): exact, so that the index serves it.
            OrderSearch::Email(q.to_string())
        }
    }
}

/// A webhook event in the list, without its payload.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct EventListRow {
    pub stripe_event_id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub status: String,
    pub attempts: i64,
    pub reason: Option<String>,
    pub last_error: Option<String>,
    pub source: String,
    pub stripe_created: i64,
    pub received_at: i64,
    pub processed_at: Option<i64>,
}

/// One event, payload included.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct EventDetail {
    #[sqlx(flatten)]
    pub row: EventListRow,
    pub livemode: bool,
    pub api_version: Option<String>,
    pub payload: String,
}

/// A count and a sum in one currency.
#[derive(Clone, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Revenue {
    pub currency: String,
    pub orders: i64,
    pub amount: i64,
}

/// One day of the 30-day chart (`day` is unix days, UTC).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct DayRevenue {
    pub day: i64,
    pub currency: String,
    pub orders: i64,
    pub amount: i64,
}

/// The overview page's figures.
#[derive(Clone, Debug, Default)]
pub struct Overview {
    pub today: Vec<Revenue>,
    pub month: Vec<Revenue>,
    pub days: Vec<DayRevenue>,
    pub open_holds: i64,
    pub open_alerts: i64,
    pub events_failed: i64,
    pub events_last_day: i64,
    /// The longest wait between Stripe creating an event and caisse receiving it, last 24 h.
    pub webhook_lag_max: Option<i64>,
    pub last_event_at: Option<i64>,
    pub emails_pending: i64,
    pub emails_failed: i64,
    pub oldest_pending_email: Option<i64>,
}

/// The audit page's filters; empty means any.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub entity_type: String,
    pub entity_id: String,
    pub actor: String,
    /// Unix seconds, inclusive from, exclusive to; 0 means unbounded.
    pub from: i64,
    pub to: i64,
}

const ORDER_ROW: &str = "SELECT o.number, o.id, o.hold_id, o.status, o.attention_reason, o.email, \
     o.amount_total, o.currency, o.created_at, p.payment_intent_id, p.checkout_session_id, \
     p.amount AS amount_paid, p.amount_refunded, o.dispute \
     FROM orders o LEFT JOIN payments p ON p.order_id = o.id";

const EVENT_ROW: &str = "SELECT stripe_event_id, type, status, attempts, reason, last_error, \
     source, stripe_created, received_at, processed_at FROM webhook_events";

/// The hold rows of the list: the same columns as every other read of a hold.
fn hold_rows() -> String {
    format!("SELECT {} FROM holds", super::holds::COLUMNS)
}

const ALERT_ROW: &str = "SELECT id, kind, severity, message, entity_type, entity_id, dedup_key, \
     created_at, acknowledged_at, acknowledged_by FROM alerts";

const REQUEST_ROW: &str = "SELECT id, method, path, idempotency_key, status, request_id, \
     duration_ms, error, at FROM stripe_requests";

const AUDIT_ROW: &str = "SELECT id, at, actor, action, entity_type, entity_id, before, after, \
     message FROM audit_log";

impl Store {
    pub async fn overview(&self, now: i64) -> Result<Overview, StoreError> {
        let today = now.div_euclid(86_400);
        // One pass over the month, from the covering index; today and the month are its sums.
        let days: Vec<DayRevenue> = on_conn!(pool self, |c| sqlx::query_as(
            "SELECT created_at / 86400 AS day, currency, COUNT(*) AS orders, \
                    CAST(SUM(amount_total) AS BIGINT) AS amount \
             FROM orders WHERE created_at >= $1 GROUP BY created_at / 86400, currency ORDER BY day",
        )
        .bind((today - 29) * 86_400)
        .fetch_all(c)
        .await)?;
        let total = |from_day: i64| {
            let mut sums: Vec<Revenue> = Vec::new();
            for d in days.iter().filter(|d| d.day >= from_day) {
                match sums.iter_mut().find(|r| r.currency == d.currency) {
                    Some(r) => {
                        r.orders += d.orders;
                        r.amount += d.amount;
                    }
                    None => sums.push(Revenue {
                        currency: d.currency.clone(),
                        orders: d.orders,
                        amount: d.amount,
                    }),
                }
            }
            sums.sort_by(|a, b| a.currency.cmp(&b.currency));
            sums
        };
        let (today, month) = (total(today), total(today - 29));
        let count = |sql: &'static str, arg: i64| async move {
            let n: i64 =
                on_conn!(pool self, |c| sqlx::query_scalar(sql).bind(arg).fetch_one(c).await)?;
            Ok::<i64, StoreError>(n)
        };
        let open_holds = count(
            "SELECT COUNT(*) FROM holds WHERE status IN ('active', 'awaiting_payment') AND $1 = $1",
            0,
        )
        .await?;
        let open_alerts = count(
            "SELECT COUNT(*) FROM alerts WHERE acknowledged_at IS NULL AND $1 = $1",
            0,
        )
        .await?;
        let events_failed = count(
            "SELECT COUNT(*) FROM webhook_events WHERE status = 'failed' AND $1 = $1",
            0,
        )
        .await?;
        let events_last_day = count(
            "SELECT COUNT(*) FROM webhook_events WHERE received_at >= $1",
            now - 86_400,
        )
        .await?;
        let (webhook_lag_max, last_event_at): (Option<i64>, Option<i64>) = on_conn!(pool self, |c| sqlx::query_as(
                "SELECT MAX(received_at - stripe_created), MAX(received_at) FROM webhook_events \
                 WHERE received_at >= $1",
            )
            .bind(now - 86_400)
            .fetch_one(c)
            .await)?;
        let emails_pending = count(
            "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND kind = 'order_confirmation' AND $1 = $1",
            0,
        )
        .await?;
        let emails_failed = count(
            "SELECT COUNT(*) FROM outbox WHERE status = 'failed' AND kind = 'order_confirmation' AND $1 = $1",
            0,
        )
        .await?;
        let oldest_pending_email: Option<i64> = on_conn!(pool self, |c| sqlx::query_scalar(
            "SELECT MIN(created_at) FROM outbox WHERE status = 'pending' AND kind = 'order_confirmation'",
        )
        .fetch_one(c)
        .await)?;
        Ok(Overview {
            today,
            month,
            days,
            open_holds,
            open_alerts,
            events_failed,
            events_last_day,
            webhook_lag_max,
            last_event_at,
            emails_pending,
            emails_failed,
            oldest_pending_email,
        })
    }

    /// Orders matching `search`, newest first, numbered below `before`.
    /// A page of orders matching `search` and `filter` (created from / to, status, fulfilment).
    pub async fn orders_page(
        &self,
        search: &OrderSearch,
        filter: &super::ExportFilter,
        before: Option<i64>,
    ) -> Result<Vec<OrderRow>, StoreError> {
        let before = before.unwrap_or(i64::MAX);
        let (search, text, number) = match search {
            OrderSearch::All => ("TRUE", String::new(), 0),
            OrderSearch::Number(n) => ("o.number = $4", String::new(), *n),
            OrderSearch::Email(e) => ("o.email = $3", e.clone(), 0),
            OrderSearch::PaymentIntent(pi) => ("p.payment_intent_id = $3", pi.clone(), 0),
            OrderSearch::Session(cs) => ("p.checkout_session_id = $3", cs.clone(), 0),
        };
        // Every parameter is always bound, so that one statement shape serves every search.
        let sql = format!(
            "{ORDER_ROW} WHERE o.number < $1 AND {search} AND ($3 = $3 AND $4 = $4) \
             AND ($5 IS NULL OR o.created_at >= $5) AND ($6 IS NULL OR o.created_at < $6) \
             AND ($7 IS NULL OR o.status = $7) AND ($8 IS NULL OR o.fulfilment = $8) \
             ORDER BY o.number DESC LIMIT $2"
        );
        Ok(on_conn!(pool self, |c| sqlx::query_as(&sql)
            .bind(before)
            .bind(PAGE + 1)
            .bind(&text)
            .bind(number)
            .bind(filter.from)
            .bind(filter.to)
            .bind(filter.status.map(|s| s.as_str()))
            .bind(filter.fulfilment.map(|f| f.as_str()))
            .fetch_all(c)
            .await)?)
    }

    pub async fn order_by_number(&self, number: i64) -> Result<Option<OrderRow>, StoreError> {
        Ok(
            on_conn!(pool self, |c| sqlx::query_as(&format!("{ORDER_ROW} WHERE o.number = $1"))
            .bind(number)
            .fetch_optional(c)
            .await)?,
        )
    }

    /// The events whose effect is in the audit trail of this order or its hold: the ones that
    /// made it.
    pub async fn events_for(
        &self,
        order_id: &str,
        hold_id: &str,
    ) -> Result<Vec<EventListRow>, StoreError> {
        Ok(on_conn!(pool self, |c| sqlx::query_as(&format!(
            "{EVENT_ROW} WHERE stripe_event_id IN (SELECT substr(actor, 9) FROM audit_log \
             WHERE ((entity_type = 'order' AND entity_id = $1) OR (entity_type = 'hold' AND entity_id = $2)) \
             AND actor LIKE 'webhook:%') ORDER BY received_at, stripe_event_id"
        ))
        .bind(order_id)
        .bind(hold_id)
        .fetch_all(c)
        .await)?)
    }

    /// Calls to Stripe made for these holds or orders.
    pub async fn stripe_requests_for(
        &self,
        hold_id: &str,
        order_id: &str,
    ) -> Result<Vec<StripeRequestRow>, StoreError> {
        Ok(on_conn!(pool self, |c| sqlx::query_as(&format!(
            "{REQUEST_ROW} WHERE subject IN ($1, $2) ORDER BY id"
        ))
        .bind(hold_id)
        .bind(order_id)
        .fetch_all(c)
        .await)?)
    }

    /// The audit trail of an order and of the hold it came from, oldest first.
    pub async fn audit_for(
        &self,
        order_id: &str,
        hold_id: &str,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(on_conn!(pool self, |c| sqlx::query_as(&format!(
            "{AUDIT_ROW} WHERE (entity_type = 'order' AND entity_id = $1) \
             OR (entity_type = 'hold' AND entity_id = $2) ORDER BY id"
        ))
        .bind(order_id)
        .bind(hold_id)
        .fetch_all(c)
        .await)?)
    }

    /// The outbox messages of an order: its confirmation email and any refund caisse asked for.
    pub async fn outbox_for(&self, order_id: &str) -> Result<Vec<OutboxRow>, StoreError> {
        Ok(on_conn!(pool self, |c| sqlx::query_as(
            "SELECT id, kind, dedup_key, payload, status, attempts, next_attempt_at, last_error \
             FROM outbox WHERE dedup_key IN ($1, $2) ORDER BY id",
        )
        .bind(OutboxKind::OrderConfirmation.key(order_id))
        .bind(OutboxKind::StripeRefund.key(order_id))
        .fetch_all(c)
        .await)?)
    }

    /// Holds, newest first (their ids are time-ordered), of one status or all.
    pub async fn holds_page(
        &self,
        status: Option<&str>,
        before: Option<&str>,
    ) -> Result<Vec<Hold>, StoreError> {
        let before = before.unwrap_or("~");
        let sql = match status {
            Some(_) => {
                format!(
                    "{} WHERE status = $3 AND id < $1 ORDER BY id DESC LIMIT $2",
                    hold_rows()
                )
            }
            None => format!(
                "{} WHERE id < $1 AND $3 = $3 ORDER BY id DESC LIMIT $2",
                hold_rows()
            ),
        };
        Ok(on_conn!(pool self, |c| sqlx::query_as(&sql)
            .bind(before)
            .bind(PAGE + 1)
            .bind(status.unwrap_or(""))
            .fetch_all(c)
            .await)?)
    }

    /// Events, newest received first, optionally of one status and one type; the cursor is the
    /// last shown row's `(received_at, id)`.
    pub async fn events_page(
        &self,
        status: Option<&str>,
        kind: Option<&str>,
        before: Option<(i64, &str)>,
    ) -> Result<Vec<EventListRow>, StoreError> {
        let (at, id) = before.unwrap_or((i64::MAX, ""));
        let mut filter = String::from("TRUE");
        if status.is_some() {
            filter.push_str(" AND status = $4");
        }
        if kind.is_some() {
            filter.push_str(" AND type = $5");
        }
        // A row-value comparison, which both databases turn into one index range.
        let sql = format!(
            "{EVENT_ROW} WHERE {filter} AND (received_at, stripe_event_id) < ($1, $2) \
             AND ($4 = $4 AND $5 = $5) ORDER BY received_at DESC, stripe_event_id DESC LIMIT $3"
        );
        // An id cursor of "" with a time of MAX starts at the top; "~" sorts after every event id.
        let id = if before.is_none() { "~" } else { id };
        Ok(on_conn!(pool self, |c| sqlx::query_as(&sql)
            .bind(at)
            .bind(id)
            .bind(PAGE + 1)
            .bind(status.unwrap_or(""))
            .bind(kind.unwrap_or(""))
            .fetch_all(c)
            .await)?)
    }

    pub async fn event_detail(&self, id: &str) -> Result<Option<EventDetail>, StoreError> {
        Ok(on_conn!(pool self, |c| sqlx::query_as(
            "SELECT stripe_event_id, type, status, attempts, reason, last_error, source, \
                    stripe_created, received_at, processed_at, livemode, api_version, payload \
             FROM webhook_events WHERE stripe_event_id = $1",
        )
        .bind(id)
        .fetch_optional(c)
        .await)?)
    }

    pub async fn stripe_requests_page(
        &self,
        before: Option<i64>,
    ) -> Result<Vec<StripeRequestRow>, StoreError> {
        Ok(on_conn!(pool self, |c| sqlx::query_as(&format!(
            "{REQUEST_ROW} WHERE id < $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(before.unwrap_or(i64::MAX))
        .bind(PAGE + 1)
        .fetch_all(c)
        .await)?)
    }

    pub async fn audit_page(
        &self,
        f: &AuditFilter,
        before: Option<i64>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let mut filter = String::from("id < $1");
        if !f.entity_type.is_empty() {
            filter.push_str(" AND entity_type = $3");
        }
        if !f.entity_id.is_empty() {
            filter.push_str(" AND entity_id = $4");
        }
        if !f.actor.is_empty() {
            filter.push_str(" AND actor = $5");
        }
        if f.from > 0 {
            filter.push_str(" AND at >= $6");
        }
        if f.to > 0 {
            filter.push_str(" AND at < $7");
        }
        let sql = format!(
            "{AUDIT_ROW} WHERE {filter} AND ($3 = $3 AND $4 = $4 AND $5 = $5 AND $6 = $6 AND $7 = $7) \
             ORDER BY id DESC LIMIT $2"
        );
        Ok(on_conn!(pool self, |c| sqlx::query_as(&sql)
            .bind(before.unwrap_or(i64::MAX))
            .bind(PAGE + 1)
            .bind(&f.entity_type)
            .bind(&f.entity_id)
            .bind(&f.actor)
            .bind(f.from)
            .bind(f.to)
            .fetch_all(c)
            .await)?)
    }

    /// Alerts, newest first; unacknowledged only when `open_only`.
    pub async fn alerts_page(
        &self,
        open_only: bool,
        before: Option<i64>,
    ) -> Result<Vec<Alert>, StoreError> {
        let filter = if open_only {
            "acknowledged_at IS NULL AND id < $1"
        } else {
            "id < $1"
        };
        Ok(on_conn!(pool self, |c| sqlx::query_as(&format!(
            "{ALERT_ROW} WHERE {filter} ORDER BY id DESC LIMIT $2"
        ))
        .bind(before.unwrap_or(i64::MAX))
        .bind(PAGE + 1)
        .fetch_all(c)
        .await)?)
    }

    pub async fn alert(&self, id: i64) -> Result<Option<Alert>, StoreError> {
        Ok(
            on_conn!(pool self, |c| sqlx::query_as(&format!("{ALERT_ROW} WHERE id = $1"))
            .bind(id)
            .fetch_optional(c)
            .await)?,
        )
    }

    pub async fn outbox_row(&self, id: i64) -> Result<Option<OutboxRow>, StoreError> {
        Ok(on_conn!(pool self, |c| sqlx::query_as(
            "SELECT id, kind, dedup_key, payload, status, attempts, next_attempt_at, last_error \
             FROM outbox WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(c)
        .await)?)
    }
}

#[cfg(test)]
mod tests {
    use super::OrderSearch;

    #[test]
    fn one_search_box_reads_numbers_emails_and_stripe_ids() {
        assert_eq!(OrderSearch::parse("  "), OrderSearch::All);
        assert_eq!(OrderSearch::parse("#12"), OrderSearch::Number(12));
        assert_eq!(OrderSearch::parse("12"), OrderSearch::Number(12));
        assert_eq!(
            OrderSearch::parse("pi_3Abc"),
            OrderSearch::PaymentIntent("pi_3Abc".into())
        );
        assert_eq!(
            OrderSearch::parse("cs_test_1"),
            OrderSearch::Session("cs_test_1".into())
        );
        assert_eq!(
            OrderSearch::parse(" ada@example.com "),
            OrderSearch::Email("ada@example.com".into())
        );
    }
}
