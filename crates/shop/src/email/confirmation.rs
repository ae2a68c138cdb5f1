//! The order confirmation: subject "Commande #123 confirmée" / "Order #123 confirmed", text and
//! HTML parts from askama templates (the HTML escapes every merchant string), each line with its
//! quantity, unit price and total, amounts written as the customer's language writes them, and a
//! `Message-ID` derived from the order id, so that a receiver can drop a duplicate. An order
//! that ships adds its subtotal, its shipping (the rate's name and price) and the address.

use askama::Template;
use lettre::Message;

use crate::config::MailConfig;
use crate::domain::money::{Currency, Locale, Money};
use crate::store::{OrderDelivery, OrderLine, OrderSummary};

use super::SendError;

/// The words of the email in one language.
struct Words {
    lang: &'static str,
    greeting: &'static str,
    intro: String,
    item: &'static str,
    quantity: &'static str,
    unit_price: &'static str,
    line_total: &'static str,
    total: &'static str,
    subtotal: &'static str,
    shipping: &'static str,
    ship_to: &'static str,
    thanks: &'static str,
}

fn words(locale: Locale, number: i64) -> (String, Words) {
    match locale {
        Locale::Fr => (
            format!("Commande #{number} confirmée"),
            Words {
                lang: "fr",
                greeting: "Bonjour,",
                intro: format!(
                    "Nous avons bien reçu votre paiement : votre commande #{number} est confirmée."
                ),
                item: "Article",
                quantity: "Quantité",
                unit_price: "Prix unitaire",
                line_total: "Total ligne",
                total: "Total :",
                subtotal: "Sous-total :",
                shipping: "Livraison :",
                ship_to: "Adresse de livraison :",
                thanks: "Merci pour votre achat !",
            },
        ),
        Locale::En => (
            format!("Order #{number} confirmed"),
            Words {
                lang: "en",
                greeting: "Hello,",
                intro: format!("We have received your payment: your order #{number} is confirmed."),
                item: "Item",
                quantity: "Quantity",
                unit_price: "Unit price",
                line_total: "Line total",
                total: "Total:",
                subtotal: "Subtotal:",
                shipping: "Shipping:",
                ship_to: "Shipping address:",
                thanks: "Thank you for your purchase!",
            },
        ),
    }
}

struct Line {
    name: String,
    quantity: i64,
    unit: String,
    total: String,
}

#[derive(Template)]
#[template(path = "email/confirmation.txt")]
struct Text<'a> {
    w: &'a Words,
    lines: &'a [Line],
    total: &'a str,
    ship: &'a Option<Shipping>,
    shop: &'a str,
}

/// The shipping part of a confirmation: subtotal, the rate and its price, the address lines.
struct Shipping {
    subtotal: String,
    rate: String,
    address: Vec<String>,
}

#[derive(Template)]
#[template(path = "email/confirmation.html")]
struct Html<'a> {
    w: &'a Words,
    subject: &'a str,
    lines: &'a [Line],
    total: &'a str,
    ship: &'a Option<Shipping>,
    shop: &'a str,
}

/// The confirmation's three parts.
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The confirmation of `order` in the configured language.
pub fn render(
    config: &MailConfig,
    order: &OrderSummary,
    lines: &[OrderLine],
    delivery: Option<&OrderDelivery>,
) -> Result<Rendered, SendError> {
    let currency = Currency::parse(&order.currency)
        .map_err(|e| SendError::Permanent(format!("order #{}: {e}", order.number)))?;
    let amount = |amount: i64| {
        Money {
            amount,
            currency: currency.clone(),
        }
        .localized(config.lang)
    };
    let lines: Vec<Line> = lines
        .iter()
        .map(|l| Line {
            name: l.name.clone(),
            quantity: l.quantity,
            unit: amount(l.unit_amount),
            total: amount(l.unit_amount.saturating_mul(l.quantity)),
        })
        .collect();
    let (subject, w) = words(config.lang, order.number);
    let total = amount(order.amount_total);
    let ship = delivery
        .filter(|d| d.amount_shipping > 0 || d.shipping_line1.is_some())
        .map(|d| Shipping {
            subtotal: amount(d.subtotal()),
            rate: match &d.shipping_rate_name {
                Some(name) => format!("{name} — {}", amount(d.amount_shipping)),
                None => amount(d.amount_shipping),
            },
            address: d.address_lines(),
        });
    let render = |r: askama::Result<String>| {
        r.map_err(|e| SendError::Permanent(format!("the email template failed: {e}")))
    };
    let text = render(
        Text {
            w: &w,
            lines: &lines,
            total: &total,
            ship: &ship,
            shop: &config.shop_name,
        }
        .render(),
    )?;
    let html = render(
        Html {
            w: &w,
            subject: &subject,
            lines: &lines,
            total: &total,
            ship: &ship,
            shop: &config.shop_name,
        }
        .render(),
    )?;
    Ok(Rendered {
        subject,
        text,
        html,
    })
}

/// The confirmation of `order`, ready to send to its email address.
pub fn message(
    config: &MailConfig,
    order: &OrderSummary,
    lines: &[OrderLine],
    delivery: Option<&OrderDelivery>,
) -> Result<Message, SendError> {
    let Rendered {
        subject,
        text,
        html,
    } = render(config, order, lines, delivery)?;
    super::compose(
        config,
        order.email.as_deref(),
        order.number,
        &format!("order-{}", order.id),
        subject,
        text,
        html,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MailTransport;
    use std::time::Duration;

    fn config(lang: Locale) -> MailConfig {
        MailConfig {
            enabled: true,
            transport: MailTransport::Off,
            from: "Shop <orders@shop.example>".into(),
            shop_name: "Ateliers <Lumière> & Fils".into(),
            lang,
            max_attempts: 10,
            lease: Duration::from_secs(120),
        }
    }

    fn order() -> (OrderSummary, Vec<OrderLine>) {
        let order = OrderSummary {
            id: "ord_1".into(),
            number: 123,
            status: crate::domain::status::OrderStatus::Paid,
            attention_reason: None,
            email: Some("ada@example.com".into()),
            amount_total: 123_450 + 2 * 1200,
            currency: "eur".into(),
        };
        let lines = vec![
            OrderLine {
                product_id: "bag".into(),
                name: "Sac <b>cuir</b>".into(),
                quantity: 1,
                unit_amount: 123_450,
            },
            OrderLine {
                product_id: "mug".into(),
                name: "Mug".into(),
                quantity: 2,
                unit_amount: 1200,
            },
        ];
        (order, lines)
    }

    #[test]
    fn french_by_default_with_french_amounts() {
        let (order, lines) = order();
        let r = render(&config(Locale::Fr), &order, &lines, None).unwrap();
        assert_eq!(r.subject, "Commande #123 confirmée");
        assert!(
            r.text.contains("votre commande #123 est confirmée"),
            "{}",
            r.text
        );
        assert!(
            r.text.contains("2 × Mug — 12,00\u{a0}€ → 24,00\u{a0}€"),
            "{}",
            r.text
        );
        assert!(
            r.text.contains("Total : 1\u{202f}258,50\u{a0}€"),
            "{}",
            r.text
        );
        assert!(r.html.contains("<html lang=\"fr\">"));
    }

    #[test]
    fn english_and_escaped_merchant_strings() {
        let (order, lines) = order();
        let r = render(&config(Locale::En), &order, &lines, None).unwrap();
        assert_eq!(r.subject, "Order #123 confirmed");
        assert!(r.text.contains("Total: €1,258.50"), "{}", r.text);
        assert!(
            r.text
                .contains("1 × Sac <b>cuir</b> — €1,234.50 → €1,234.50"),
            "{}",
            r.text
        );
        assert!(
            r.html.contains("Sac &#60;b&#62;cuir&#60;/b&#62;")
                || r.html.contains("Sac &lt;b&gt;cuir&lt;/b&gt;"),
            "{}",
            r.html
        );
        assert!(!r.html.contains("<b>cuir"), "{}", r.html);
        assert!(!r.html.contains("<Lumière>"), "{}", r.html);
    }

    #[test]
    fn an_order_that_ships_shows_subtotal_shipping_and_address() {
        let (mut order, lines) = order();
        order.amount_total += 490;
        let delivery = OrderDelivery {
            id: order.id.clone(),
            number: order.number,
            status: order.status,
            email: order.email.clone(),
            currency: "eur".into(),
            amount_subtotal: Some(order.amount_total - 490),
            amount_shipping: 490,
            amount_total: order.amount_total,
            customer_name: Some("Ada".into()),
            phone: None,
            shipping_name: Some("Ada Lovelace".into()),
            shipping_line1: Some("12 rue de la Paix".into()),
            shipping_line2: None,
            shipping_postal_code: Some("75002".into()),
            shipping_city: Some("Paris".into()),
            shipping_country: Some("FR".into()),
            shipping_rate_name: Some("Colissimo".into()),
            fulfilment: crate::domain::status::FulfilmentStatus::Unfulfilled,
            carrier: None,
            tracking_code: None,
            tracking_url: None,
            dispute: None,
        };
        let r = render(&config(Locale::En), &order, &lines, Some(&delivery)).unwrap();
        assert!(r.text.contains("Subtotal: €1,258.50"), "{}", r.text);
        assert!(r.text.contains("Shipping: Colissimo — €4.90"), "{}", r.text);
        assert!(r.text.contains("Total: €1,263.40"), "{}", r.text);
        assert!(
            r.text
                .contains("Shipping address:\nAda Lovelace\n12 rue de la Paix\n75002 Paris\nFR"),
            "{}",
            r.text
        );
        assert!(r.html.contains("Colissimo"), "{}", r.html);
        // Without shipping, none of it.
        let plain = render(&config(Locale::En), &order, &lines, None).unwrap();
        assert!(!plain.text.contains("Subtotal"), "{}", plain.text);
    }

    #[test]
    fn the_message_id_is_the_orders() {
        let (order, lines) = order();
        let m = message(&config(Locale::En), &order, &lines, None).unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(
            raw.contains("Message-ID: <order-ord_1@shop.example>"),
            "{raw}"
        );
        assert!(raw.contains("To: ada@example.com"), "{raw}");
        let mut no_email = order.clone();
        no_email.email = None;
        assert!(matches!(
            message(&config(Locale::En), &no_email, &lines, None),
            Err(SendError::Temporary(_))
        ));
    }
}
