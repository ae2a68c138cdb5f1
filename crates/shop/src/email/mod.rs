//! Email: the order confirmation ([`confirmation`]), the shipping and refund notices
//! ([`shipped`], [`refunded`]) and the
//! transport that carries them — SMTP over `SMTP_URL` (lettre, rustls with ring), `.eml` files in
//! a folder (`caisse dev`), or nothing (`CAISSE_MAIL=off`). Emails are sent by the outbox worker,
//! never on a request's path.

pub mod confirmation;
pub mod refunded;
pub mod shipped;

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{MailConfig, MailTransport};

/// An email about order `number` to its customer, from `CAISSE_MAIL_FROM`, with text and HTML
/// parts and a `Message-ID` of `<{id}@{the From domain}>`, so that a receiver can drop a
/// duplicate.
pub fn compose(
    config: &MailConfig,
    to: Option<&str>,
    number: i64,
    id: &str,
    subject: String,
    text: String,
    html: String,
) -> Result<Message, SendError> {
    // The address may come with a later event (the session's customer_details): try again.
    let to = to
        .ok_or_else(|| SendError::Temporary(format!("order #{number} has no email address yet")))?;
    let to: Mailbox = to
        .parse()
        .map_err(|e| SendError::Permanent(format!("the customer's address is not valid: {e}")))?;
    let from: Mailbox = config
        .from
        .parse()
        .map_err(|e| SendError::Permanent(format!("CAISSE_MAIL_FROM is not an address: {e}")))?;
    let domain = from.email.domain().to_string();
    Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .message_id(Some(format!("<{id}@{domain}>")))
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| SendError::Permanent(format!("the email could not be built: {e}")))
}

/// How long one SMTP exchange may take at most.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a message did not leave.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth another try: a 4xx reply, a refused connection, a time-out.
    #[error("{0}")]
    Temporary(String),
    /// Will never work as is: a 5xx reply, a malformed address.
    #[error("{0}")]
    Permanent(String),
}

/// Where messages go.
#[derive(Clone)]
pub enum Mailer {
    /// The transport, and how long one message may take: well inside the outbox lease, so that
    /// no other worker takes a message this one is still sending.
    Smtp(AsyncSmtpTransport<Tokio1Executor>, Duration),
    Files(PathBuf),
    Off,
}

impl Mailer {
    /// The transport the configuration names. The SMTP URL's password stays inside lettre.
    pub fn new(transport: &MailTransport, lease: Duration) -> anyhow::Result<Mailer> {
        let limit = SMTP_TIMEOUT.min(lease.mul_f64(0.75));
        Ok(match transport {
            MailTransport::Smtp(url) => Mailer::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(|_| anyhow::anyhow!("SMTP_URL is not a valid SMTP URL"))?
                    .timeout(Some(limit))
                    .build(),
                limit,
            ),
            MailTransport::Files(dir) => Mailer::Files(dir.clone()),
            MailTransport::Off => Mailer::Off,
        })
    }

    pub fn is_off(&self) -> bool {
        matches!(self, Mailer::Off)
    }

    /// Sends `message`; `file_name` names it in the folder transport.
    pub async fn send(&self, message: Message, file_name: &str) -> Result<(), SendError> {
        crate::store::forbid_network_in_transaction("sending an email")
            .map_err(SendError::Permanent)?;
        match self {
            Mailer::Smtp(smtp, limit) => {
                match tokio::time::timeout(*limit, smtp.send(message)).await {
                    Err(_) => Err(SendError::Temporary(format!(
                        "the SMTP server did not answer within {} s",
                        limit.as_secs_f64()
                    ))),
                    Ok(sent) => sent.map(|_| ()).map_err(|e| {
                        // Only the server's reply (never the URL and its password) goes into the error.
                        let text = e.to_string();
                        if e.is_permanent() {
                            SendError::Permanent(text)
                        } else {
                            SendError::Temporary(text)
                        }
                    }),
                }
            }
            Mailer::Files(dir) => {
                let temporary = |e: std::io::Error| SendError::Temporary(e.to_string());
                tokio::fs::create_dir_all(dir).await.map_err(temporary)?;
                // Written whole then renamed: a reader never sees half a message.
                let path = dir.join(format!("{file_name}.eml"));
                let partial = dir.join(format!(".{file_name}.eml.partial"));
                tokio::fs::write(&partial, message.formatted())
                    .await
                    .map_err(temporary)?;
                tokio::fs::rename(&partial, &path).await.map_err(temporary)
            }
            Mailer::Off => Err(SendError::Temporary("mail is off".into())),
        }
    }
}
