//! The shipping notice: subject "Commande #123 expédiée" / "Order #123 shipped", with the
//! carrier, the tracking code and link, and the address the parcel goes to; sent once per order
//! (its outbox key is the order's, its `Message-ID` too).

use askama::Template;
use lettre::Message;

use crate::config::MailConfig;
use crate::domain::money::Locale;
use crate::store::OrderDelivery;

use super::SendError;

struct Words {
    lang: &'static str,
    greeting: &'static str,
    intro: String,
    carrier: &'static str,
    tracking: &'static str,
    follow: &'static str,
    ship_to: &'static str,
    thanks: &'static str,
}

fn words(locale: Locale, number: i64) -> (String, Words) {
    match locale {
        Locale::Fr => (
            format!("Commande #{number} expédiée"),
            Words {
                lang: "fr",
                greeting: "Bonjour,",
                intro: format!("Votre commande #{number} est partie."),
                carrier: "Transporteur :",
                tracking: "Numéro de suivi :",
                follow: "Suivre le colis :",
                ship_to: "Adresse de livraison :",
                thanks: "Merci pour votre achat !",
            },
        ),
        Locale::En => (
            format!("Order #{number} shipped"),
            Words {
                lang: "en",
                greeting: "Hello,",
                intro: format!("Your order #{number} is on its way."),
                carrier: "Carrier:",
                tracking: "Tracking code:",
                follow: "Track the parcel:",
                ship_to: "Shipping address:",
                thanks: "Thank you for your purchase!",
            },
        ),
    }
}

#[derive(Template)]
#[template(path = "email/shipped.txt")]
struct Text<'a> {
    w: &'a Words,
    d: &'a OrderDelivery,
    address: &'a [String],
    shop: &'a str,
}

#[derive(Template)]
#[template(path = "email/shipped.html")]
struct Html<'a> {
    w: &'a Words,
    subject: &'a str,
    d: &'a OrderDelivery,
    address: &'a [String],
    shop: &'a str,
}

/// The notice for a shipped order, ready to send to its email address.
pub fn message(config: &MailConfig, d: &OrderDelivery) -> Result<Message, SendError> {
    let (subject, w) = words(config.lang, d.number);
    let address = d.address_lines();
    let render = |r: askama::Result<String>| {
        r.map_err(|e| SendError::Permanent(format!("the email template failed: {e}")))
    };
    let text = render(
        Text {
            w: &w,
            d,
            address: &address,
            shop: &config.shop_name,
        }
        .render(),
    )?;
    let html = render(
        Html {
            w: &w,
            subject: &subject,
            d,
            address: &address,
            shop: &config.shop_name,
        }
        .render(),
    )?;
    super::compose(
        config,
        d.email.as_deref(),
        d.number,
        &format!("shipped-{}", d.id),
        subject,
        text,
        html,
    )
}
