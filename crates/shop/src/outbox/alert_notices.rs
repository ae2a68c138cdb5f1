//! Critical alerts reach people: each pass of the outbox worker turns the critical alerts raised
//! since into outbox messages — one post per alert to `CAISSE_ALERT_WEBHOOK_URL`, and per alert
//! kind at most one email every 15 minutes to `CAISSE_ALERT_EMAIL` or the owners, carrying every
//! alert of that kind that came meanwhile (a digest) — then sends them like any message, with its
//! retries ([`send_email`], [`post`]).

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::tz::TimeZone;
use lettre::message::Mailbox;
use lettre::Message;
use serde_json::json;

use super::{Attempt, Audit};
use crate::app::App;
use crate::domain::local_time::local_time;
use crate::domain::status::{AlertKind, OutboxKind};
use crate::email::SendError;
use crate::store::{OutboxRow, PendingAlert, StoreError};

/// At most one email per alert kind this often; what comes meanwhile waits for the next one.
pub const MAIL_EVERY_SECS: i64 = 15 * 60;

/// How many alerts one pass looks at, of each sort.
const BATCH: i64 = 500;

/// How long the alert webhook may take to answer.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// Queues the messages of the critical alerts raised since the last pass; answers how many.
pub async fn queue(app: &App, now: i64) -> Result<usize, StoreError> {
    let delivery = &app.config.operations.alerts;
    let recipients = if delivery.emails.is_empty() {
        app.store.owner_emails().await?
    } else {
        delivery.emails.clone()
    };
    // With mail off or nobody to write to, alert emails are not kept for later: they would all
    // arrive at once, long after the fact.
    let mail = !app.mailer.is_off() && !recipients.is_empty();
    let hook = delivery.webhook_url.is_some();
    let link = format!(
        "{}/admin/alerts",
        app.config.public_url.trim_end_matches('/')
    );
    app.store
        .write(async |tx| {
            let mut queued = 0;
            for a in tx.pending_alerts(true, BATCH).await? {
                if hook {
                    let text = format!("caisse: critical alert {} — {} ({link})", a.kind, a.message);
                    let payload = json!({ "text": text, "alert": { "id": a.id, "kind": a.kind, "severity": "critical", "message": a.message, "created_at": a.created_at } });
                    queued += usize::from(
                        tx.enqueue(OutboxKind::AlertWebhook, &a.id.to_string(), &payload, now)
                            .await?,
                    );
                }
                tx.alert_notice_queued(a.id, true).await?;
            }
            let mut by_kind: BTreeMap<&str, Vec<PendingAlert>> = BTreeMap::new();
            for a in tx.pending_alerts(false, BATCH).await? {
                by_kind.entry(a.kind.as_str()).or_default().push(a);
            }
            for alerts in by_kind.into_values() {
                let kind = alerts[0].kind;
                if mail {
                    let last = tx.last_alert_mail(kind).await?;
                    if last.is_some_and(|t| now < t + MAIL_EVERY_SECS) {
                        continue; // they go in the next email, a digest
                    }
                    let payload = email_payload(
                        kind,
                        &alerts,
                        &recipients,
                        &link,
                        &app.config.time_zone,
                    );
                    // Keyed by the first alert it carries: two workers make one email.
                    let subject = format!("{kind}:{}", alerts[0].id);
                    queued += usize::from(
                        tx.enqueue(OutboxKind::AlertEmail, &subject, &payload, now)
                            .await?,
                    );
                    tx.alert_mail_sent(kind, now).await?;
                }
                for a in &alerts {
                    tx.alert_notice_queued(a.id, false).await?;
                }
            }
            Ok(queued)
        })
        .await
}

fn email_payload(
    kind: AlertKind,
    alerts: &[PendingAlert],
    to: &[String],
    link: &str,
    zone: &TimeZone,
) -> serde_json::Value {
    let subject = match alerts.len() {
        1 => format!("[caisse] Critical alert: {kind}"),
        n => format!("[caisse] {n} critical alerts: {kind} (digest of the last 15 minutes)"),
    };
    let lines: Vec<String> = alerts
        .iter()
        .map(|a| {
            format!(
                "- {} (alert {}, raised {})",
                a.message,
                a.id,
                local_time(a.created_at, zone)
            )
        })
        .collect();
    let text = format!(
        "{}\n\nLook at them and acknowledge them on the dashboard: {link}\n\nAt most one email per alert kind every 15 minutes; what comes meanwhile arrives together.\n",
        lines.join("\n")
    );
    json!({ "to": to, "subject": subject, "text": text })
}

/// Sends an alert email as queued.
pub async fn send_email(app: &App, row: &OutboxRow) -> Attempt {
    let payload: serde_json::Value = serde_json::from_str(&row.payload).unwrap_or_default();
    let built = (|| {
        let from: Mailbox = app.config.mail.from.parse().map_err(|e| {
            SendError::Permanent(format!("CAISSE_MAIL_FROM is not an address: {e}"))
        })?;
        let mut message = Message::builder().from(from);
        for to in payload["to"].as_array().into_iter().flatten() {
            let to: Mailbox = to.as_str().unwrap_or_default().parse().map_err(|e| {
                SendError::Permanent(format!("an alert recipient is not an address: {e}"))
            })?;
            message = message.to(to);
        }
        message
            .subject(
                payload["subject"]
                    .as_str()
                    .unwrap_or("[caisse] Critical alert"),
            )
            .body(payload["text"].as_str().unwrap_or_default().to_string())
            .map_err(|e| SendError::Permanent(format!("the email could not be built: {e}")))
    })();
    let message = match built {
        Ok(m) => m,
        Err(e) => return Attempt::Failed(e),
    };
    match app.mailer.send(message, &format!("alert-{}", row.id)).await {
        Ok(()) => Attempt::Done(Some(Audit {
            action: "alert.emailed",
            entity_type: "outbox",
            entity_id: row.dedup_key.clone(),
            message: format!(
                "Alert email sent: {}",
                payload["subject"].as_str().unwrap_or_default()
            ),
            after: json!({ "outbox": row.id, "to": payload["to"] }),
        })),
        Err(e) => Attempt::Failed(e),
    }
}

/// Posts one alert to `CAISSE_ALERT_WEBHOOK_URL`, signed when `CAISSE_ALERT_WEBHOOK_SECRET` is
/// set. A 2xx is done; a 4xx other than 408 and 429 will not change by itself (permanent).
pub async fn post(app: &App, row: &OutboxRow) -> Attempt {
    let delivery = &app.config.operations.alerts;
    let Some(url) = &delivery.webhook_url else {
        return Attempt::Failed(SendError::Permanent(
            "CAISSE_ALERT_WEBHOOK_URL is no longer set".into(),
        ));
    };
    if let Err(e) = crate::store::forbid_network_in_transaction("posting an alert webhook") {
        return Attempt::Failed(SendError::Permanent(e));
    }
    let payload: serde_json::Value = serde_json::from_str(&row.payload).unwrap_or_default();
    let body = json!({ "text": payload["text"], "alert": payload["alert"] }).to_string();
    let client = reqwest::Client::builder()
        .timeout(POST_TIMEOUT)
        .build()
        .map_err(|e| SendError::Temporary(e.to_string()));
    let client = match client {
        Ok(c) => c,
        Err(e) => return Attempt::Failed(e),
    };
    let mut request = client
        .post(url.expose())
        .header("content-type", "application/json");
    if let Some(secret) = &delivery.webhook_secret {
        let t = crate::store::unix_now();
        request = request.header(
            "caisse-signature",
            caisse_stripe::signature_header(&[secret.expose()], t, body.as_bytes()),
        );
    }
    // The URL is a credential: errors name the status or the failure, never the URL.
    match request.body(body).send().await {
        Ok(r) if r.status().is_success() => Attempt::Done(None),
        Ok(r) => {
            let status = r.status();
            let why = format!("the alert webhook answered {status}");
            if status.is_client_error() && status.as_u16() != 408 && status.as_u16() != 429 {
                Attempt::Failed(SendError::Permanent(why))
            } else {
                Attempt::Failed(SendError::Temporary(why))
            }
        }
        Err(e) => Attempt::Failed(SendError::Temporary(format!(
            "the alert webhook could not be reached: {}",
            e.without_url()
        ))),
    }
}
