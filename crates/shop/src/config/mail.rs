//! Emails: where they go (SMTP, `.eml` files, or nowhere), who sends them, in which language, and
//! how the outbox retries them.

use std::path::PathBuf;
use std::time::Duration;

use super::reader::Reader;
use super::settings::{
    MAIL, MAIL_DIR, MAIL_FROM, MAIL_LANG, OUTBOX_LEASE, OUTBOX_MAX_ATTEMPTS, SHOP_NAME, SMTP_URL,
};
use super::Mode;
use crate::domain::money::Locale;
use crate::secret::Secret;

/// Where emails go.
#[derive(Clone, Debug, PartialEq)]
pub enum MailTransport {
    Smtp(Secret),
    Files(PathBuf),
    Off,
}

#[derive(Clone, Debug)]
pub struct MailConfig {
    /// `CAISSE_MAIL` is not `off`: the shop sends its customers' emails, so an order queues its
    /// confirmation whoever makes it (a tool without a transport of its own, `caisse events
    /// replay`, leaves it to the server's worker).
    pub enabled: bool,
    pub transport: MailTransport,
    pub from: String,
    pub shop_name: String,
    pub lang: Locale,
    pub max_attempts: i64,
    pub lease: Duration,
}

pub(super) fn mail_settings(r: &mut Reader<'_>, mode: Mode) -> MailConfig {
    let smtp = r.text(SMTP_URL);
    let from = r.text(MAIL_FROM);
    let shop_name = r.text(SHOP_NAME);
    let on = r.choice_any_case(
        MAIL,
        &[
            ("on", true),
            ("true", true),
            ("off", false),
            ("false", false),
        ],
        "must be on or off",
    );
    let dir = r.text(MAIL_DIR);
    let lang = r.choice(
        MAIL_LANG,
        &[("fr", Locale::Fr), ("en", Locale::En)],
        "must be fr or en",
    );
    let max_attempts = r.number::<i64>(OUTBOX_MAX_ATTEMPTS);
    if !(1..=100).contains(&max_attempts) {
        r.fail(OUTBOX_MAX_ATTEMPTS, "must be 1 to 100");
    }
    let lease = r.number::<u64>(OUTBOX_LEASE);
    if !(1..=3600).contains(&lease) {
        r.fail(OUTBOX_LEASE, "must be 1 to 3600 seconds");
    }
    if !smtp.is_empty() && !["smtp://", "smtps://"].iter().any(|s| smtp.starts_with(s)) {
        r.fail(SMTP_URL, "must start with smtp:// or smtps://");
    }
    if !smtp.is_empty()
        && lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(&smtp).is_err()
    {
        r.fail(
            SMTP_URL,
            "is not a valid SMTP URL (smtp://host:port, smtps://user:pass@host, smtp://host:587?tls=required; encode / @ : in a password)",
        );
    }
    if !smtp.is_empty() && from.is_empty() {
        r.fail(
            MAIL_FROM,
            "is required with SMTP_URL (the From address of emails)",
        );
    }
    if !from.is_empty() && from.parse::<lettre::message::Mailbox>().is_err() {
        r.fail(
            MAIL_FROM,
            "must be an address such as Shop <orders@shop.example>",
        );
    }
    let transport = if !on {
        MailTransport::Off
    } else if !smtp.is_empty() {
        MailTransport::Smtp(Secret::new(smtp))
    } else if !dir.is_empty() {
        MailTransport::Files(PathBuf::from(dir))
    } else {
        if mode == Mode::Serve {
            r.fail(
                SMTP_URL,
                format!("is missing: caisse serve needs a mail transport for order confirmations (or {MAIL}=off to send none)"),
            );
        }
        MailTransport::Off
    };
    MailConfig {
        enabled: on,
        transport,
        from: if from.is_empty() {
            format!("{shop_name} <orders@localhost>")
        } else {
            from
        },
        shop_name,
        lang,
        max_attempts,
        lease: Duration::from_secs(lease),
    }
}
