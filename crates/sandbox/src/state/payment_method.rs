//! The PaymentMethod of each payment attempt: what the customer paid with, as Stripe renders it
//! (in full inside a PaymentIntent's `last_payment_error`, as an id elsewhere): a card's brand,
//! funding, country and last four digits, from the test card (`test_cards`), or a SEPA debit's
//! bank code and last four digits. The same card or IBAN has the same `fingerprint`.

use std::hash::{Hash, Hasher};

use serde_json::{json, Value};

use super::model::new_id;
use crate::shapes::shape;

#[derive(Clone, Debug)]
pub struct PaymentMethod {
    pub id: String,
    pub created: i64,
    /// The email the customer gave, Stripe's `billing_details.email`.
    pub email: Option<String>,
    pub details: Details,
}

#[derive(Clone, Debug)]
pub enum Details {
    Card {
        brand: &'static str,
        funding: &'static str,
        country: &'static str,
        number: String,
    },
    SepaDebit {
        iban: String,
    },
}

impl PaymentMethod {
    pub fn new(details: Details, email: Option<String>, created: i64) -> PaymentMethod {
        PaymentMethod {
            id: new_id("pm_"),
            created,
            email,
            details,
        }
    }

    pub fn json(&self) -> Value {
        let mut json = json!({
            "id": self.id,
            "object": "payment_method",
            "allow_redisplay": "unspecified",
            "billing_details": {
                "address": {
                    "city": null, "country": null, "line1": null, "line2": null,
                    "postal_code": null, "state": null,
                },
                "email": self.email, "name": null, "phone": null, "tax_id": null,
            },
            "created": self.created,
            "livemode": false,
            "metadata": {},
        });
        match &self.details {
            Details::Card {
                brand,
                funding,
                country,
                number,
            } => {
                json["type"] = "card".into();
                json["card"] = json!({
                    "brand": brand,
                    "checks": {
                        "address_line1_check": null, "address_postal_code_check": null,
                        "cvc_check": "pass",
                    },
                    "country": country,
                    "display_brand": brand,
                    // The page asks for no expiry: a date in the future, as any test card takes.
                    "exp_month": 12,
                    "exp_year": 2034,
                    "fingerprint": fingerprint(number),
                    "funding": funding,
                    "generated_from": null,
                    "last4": last4(number),
                    "networks": { "available": [brand], "preferred": null },
                    "regulated_status": "unregulated",
                    "three_d_secure_usage": { "supported": true },
                    "wallet": null,
                });
            }
            Details::SepaDebit { iban } => {
                json["type"] = "sepa_debit".into();
                json["sepa_debit"] = json!({
                    "bank_code": iban.get(4..12),
                    "branch_code": "",
                    "country": iban.get(..2),
                    "fingerprint": fingerprint(iban),
                    "generated_from": { "charge": null, "setup_attempt": null },
                    "last4": last4(iban),
                });
            }
        }
        shape("payment_method", json)
    }
}

fn last4(s: &str) -> &str {
    &s[s.len().saturating_sub(4)..]
}

/// The same number, the same fingerprint.
fn fingerprint(number: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    number.hash(&mut h);
    format!("{:016x}", h.finish())
}
