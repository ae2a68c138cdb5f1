//! Stripe's test cards and SEPA test IBANs, and what each one does: pay, decline with which
//! error, ask for 3-D Secure, or settle later to success or failure, and what kind of card each
//! is (brand, funding, country: its PaymentMethod). The payment machine asks `Method::behaviour`
//! and acts on the answer; any other number is refused as Stripe refuses it.

use super::payment_method::Details;
use crate::error::ApiError;

/// What the customer pays with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    Card(String),
    Iban(String),
}

pub(super) enum Behaviour {
    Succeed,
    /// Pays, then the cardholder disputes the charge (`charge.dispute.created`).
    Dispute,
    /// code, decline_code (Stripe's test-card table gives one for every declined card), message
    Decline(&'static str, &'static str, &'static str),
    /// A delayed method: settles later, to success (true) or failure.
    Delayed(bool),
    /// 3-D Secure: the customer must complete (or fail) a challenge first.
    Authenticate,
}

/// IBANs of Stripe's SEPA debit test mode.
pub const IBAN_SUCCEEDS: &str = "DE89370400440532013000";
pub const IBAN_FAILS: &str = "DE62370400440532013001";

impl Method {
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Method::Card(_) => "card",
            Method::Iban(_) => "sepa_debit",
        }
    }

    /// What the PaymentMethod says of the card or account (once `behaviour` took it).
    pub(super) fn details(&self) -> Details {
        match self {
            Method::Card(number) => {
                let number = digits(number);
                let brand = match number.as_bytes().first() {
                    Some(b'5') => "mastercard",
                    Some(b'3') => "amex",
                    Some(b'6') => "discover",
                    _ => "visa",
                };
                let funding = match number.as_str() {
                    "4000056655665556" | "5200828282828210" => "debit",
                    _ => "credit",
                };
                // Stripe's 3-D Secure card is German (its BIN 400000276: 276 is Germany).
                let country = if number == "4000002760003184" {
                    "DE"
                } else {
                    "US"
                };
                Details::Card {
                    brand,
                    funding,
                    country,
                    number,
                }
            }
            Method::Iban(iban) => Details::SepaDebit {
                iban: digits(iban).to_ascii_uppercase(),
            },
        }
    }

    pub(super) fn behaviour(&self) -> Result<Behaviour, ApiError> {
        Ok(match self {
            Method::Card(number) => match digits(number).as_str() {
                // Visa, Visa debit, Mastercard (two), American Express, Discover.
                "4242424242424242" | "4000056655665556" | "5555555555554444"
                | "5200828282828210" | "378282246310005" | "6011111111111117" => Behaviour::Succeed,
                "4000000000000002" => Behaviour::Decline(
                    "card_declined",
                    "generic_decline",
                    "Your card was declined.",
                ),
                "4000000000009995" => Behaviour::Decline(
                    "card_declined",
                    "insufficient_funds",
                    "Your card has insufficient funds.",
                ),
                "4000000000000069" => {
                    Behaviour::Decline("expired_card", "expired_card", "Your card has expired.")
                }
                "4000000000000119" => Behaviour::Decline(
                    "processing_error",
                    "processing_error",
                    "An error occurred while processing your card. Try again in a little bit.",
                ),
                "4000002760003184" => Behaviour::Authenticate,
                "4000000000000259" => Behaviour::Dispute,
                _ => {
                    return Err(ApiError::invalid(
                        "Your card number is incorrect.",
                        Some("card[number]"),
                    )
                    .with_code("incorrect_number"))
                }
            },
            Method::Iban(iban) => match digits(iban).to_ascii_uppercase().as_str() {
                IBAN_SUCCEEDS => Behaviour::Delayed(true),
                IBAN_FAILS => Behaviour::Delayed(false),
                _ => {
                    return Err(
                        ApiError::invalid("The IBAN you entered is invalid.", Some("iban"))
                            .with_code("invalid_bank_account_iban"),
                    )
                }
            },
        })
    }
}

/// A card number or IBAN without its spaces.
fn digits(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}
