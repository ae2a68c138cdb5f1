//! Sending one of an order's emails (confirmation, shipping, refund notices): the mailer, the
//! counters, and the audit line that says it went.

use lettre::Message;
use serde_json::json;

use super::{Attempt, Audit};
use crate::app::App;
use crate::email::SendError;
use crate::store::OutboxRow;

/// The order an email is about: its id and number.
pub(super) struct OrderRef<'a> {
    pub id: &'a str,
    pub number: i64,
}

/// Sends `message` (an `.eml` named `file` under `CAISSE_MAIL_DIR`); on success the audit says
/// "`what` of order #N sent".
pub(super) async fn send(
    app: &App,
    row: &OutboxRow,
    message: Result<Message, SendError>,
    file: &str,
    order: OrderRef<'_>,
    what: &str,
) -> Attempt {
    let sent = match message {
        Ok(m) => app.mailer.send(m, file).await,
        Err(e) => Err(e),
    };
    match sent {
        Ok(()) => {
            metrics::counter!("caisse_emails_sent_total").increment(1);
            Attempt::Done(Some(Audit {
                action: "email.sent",
                entity_type: "order",
                entity_id: order.id.to_string(),
                message: format!("{what} of order #{} sent", order.number),
                after: json!({ "outbox": row.id }),
            }))
        }
        Err(e) => {
            let kind = if matches!(e, SendError::Permanent(_)) {
                "permanent"
            } else {
                "temporary"
            };
            metrics::counter!("caisse_email_failures_total", "kind" => kind).increment(1);
            Attempt::Failed(e)
        }
    }
}
