//! The refund notice: subject "Commande #123 remboursée" / "Order #123 refunded", the amount
//! Stripe gave back (and the total when it is partial); sent once Stripe confirms the refund
//! (`charge.refunded`), one per refunded total reached.

use lettre::Message;

use crate::config::MailConfig;
use crate::domain::money::{Currency, Locale, Money};
use crate::store::OrderDelivery;

use super::SendError;

/// The notice of `amount` refunded on order `d`; `message_key` tells two refunds' emails apart.
pub fn message(
    config: &MailConfig,
    d: &OrderDelivery,
    amount: i64,
    message_key: i64,
) -> Result<Message, SendError> {
    let currency = Currency::parse(&d.currency)
        .map_err(|e| SendError::Permanent(format!("order #{}: {e}", d.number)))?;
    let money = |amount: i64| {
        Money {
            amount,
            currency: currency.clone(),
        }
        .localized(config.lang)
    };
    let (amount, total, n) = (money(amount), money(d.amount_total), d.number);
    let (subject, body) = match config.lang {
        Locale::Fr => (
            format!("Commande #{n} remboursée"),
            format!("Bonjour,\n\nNous vous avons remboursé {amount} sur votre commande #{n} (total {total}). Selon votre banque, le montant apparaît sous 5 à 10 jours.\n\n{}\n", config.shop_name),
        ),
        Locale::En => (
            format!("Order #{n} refunded"),
            format!("Hello,\n\nWe have refunded {amount} of your order #{n} (total {total}). Depending on your bank, it shows within 5 to 10 days.\n\n{}\n", config.shop_name),
        ),
    };
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title></head><body><p>{}</p></body></html>",
        html_escape(&subject),
        html_escape(&body).replace("\n\n", "</p><p>")
    );
    super::compose(
        config,
        d.email.as_deref(),
        n,
        &format!("refunded-{}-{message_key}", d.id),
        subject,
        body,
        html,
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
