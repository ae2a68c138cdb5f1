//! Email: the order confirmation ([`confirmation`]) and the transport that carries it — SMTP over
//! `SMTP_URL` (lettre, rustls with ring), `.eml` files in a folder (`caisse dev`), or nothing
//! (`CAISSE_MAIL=off`). Emails are sent by the outbox worker, never on a request's path.

pub mod confirmation;

use std::path::PathBuf;
use std::time::Duration;

use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::MailTransport;

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
