//! The Stripe objects caisse reads, with only the fields it uses. Unknown fields are ignored and
//! most fields are optional, so that newer API versions and expanded objects still parse.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// A field that is an id, or the object itself when expanded: either way, the id.
fn id_or_object<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(id)) => Some(id),
        Some(Value::Object(obj)) => obj.get("id").and_then(Value::as_str).map(str::to_string),
        _ => None,
    })
}

fn metadata<'de, D: Deserializer<'de>>(d: D) -> Result<HashMap<String, String>, D::Error> {
    Ok(Option::<HashMap<String, String>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct CheckoutSession {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub payment_status: Option<String>,
    #[serde(default, deserialize_with = "id_or_object")]
    pub payment_intent: Option<String>,
    #[serde(default)]
    pub amount_total: Option<i64>,
    /// The line items' sum, before shipping.
    #[serde(default)]
    pub amount_subtotal: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "metadata")]
    pub metadata: HashMap<String, String>,
    /// The shipping rate the customer chose and what it costs.
    #[serde(default)]
    pub shipping_cost: Option<ShippingCost>,
    /// The rates offered, in the order they were sent.
    #[serde(default)]
    pub shipping_options: Vec<ShippingOption>,
    #[serde(default)]
    pub total_details: Option<TotalDetails>,
    /// Where to ship, up to API version 2025-02-24.acacia.
    #[serde(default)]
    pub shipping_details: Option<Box<ShippingDetails>>,
    /// Where to ship, from API version 2025-03-31.basil (`shipping_details` moved here).
    #[serde(default)]
    pub collected_information: Option<Box<CollectedInformation>>,
    #[serde(default)]
    pub client_reference_id: Option<String>,
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub livemode: bool,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub created: Option<i64>,
    #[serde(default)]
    pub customer_email: Option<String>,
    #[serde(default)]
    pub customer_details: Option<Box<CustomerDetails>>,
}

/// What the customer entered on the hosted page.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct CustomerDetails {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub address: Option<Address>,
}

/// A postal address as Stripe renders it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Address {
    #[serde(default)]
    pub line1: Option<String>,
    #[serde(default)]
    pub line2: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct ShippingDetails {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub address: Option<Address>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct CollectedInformation {
    #[serde(default)]
    pub shipping_details: Option<Box<ShippingDetails>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct ShippingCost {
    #[serde(default)]
    pub amount_total: i64,
    #[serde(default, deserialize_with = "id_or_object")]
    pub shipping_rate: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct ShippingOption {
    #[serde(default)]
    pub shipping_amount: i64,
    #[serde(default, deserialize_with = "id_or_object")]
    pub shipping_rate: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct TotalDetails {
    #[serde(default)]
    pub amount_shipping: Option<i64>,
}

impl CheckoutSession {
    /// The shipping address, wherever the event's API version puts it: `shipping_details` until
    /// 2025-02-24.acacia, `collected_information.shipping_details` from 2025-03-31.basil.
    pub fn shipping(&self) -> Option<&ShippingDetails> {
        self.collected_information
            .as_deref()
            .and_then(|c| c.shipping_details.as_deref())
            .or(self.shipping_details.as_deref())
    }

    /// What shipping costs: `total_details.amount_shipping`, else `shipping_cost.amount_total`.
    pub fn amount_shipping(&self) -> i64 {
        self.total_details
            .as_ref()
            .and_then(|t| t.amount_shipping)
            .or(self.shipping_cost.as_ref().map(|c| c.amount_total))
            .unwrap_or(0)
    }

    pub fn is_complete(&self) -> bool {
        self.status.as_deref() == Some("complete")
    }
    pub fn is_expired(&self) -> bool {
        self.status.as_deref() == Some("expired")
    }
    /// Paid, or nothing to pay (a fully discounted session).
    pub fn is_paid(&self) -> bool {
        matches!(
            self.payment_status.as_deref(),
            Some("paid") | Some("no_payment_required")
        )
    }

    /// The address the customer gave on Stripe's page, else the one the session was created with.
    pub fn email(&self) -> Option<&str> {
        self.customer_details
            .as_ref()
            .and_then(|d| d.email.as_deref())
            .or(self.customer_email.as_deref())
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct PaymentIntent {
    pub id: String,
    pub amount: i64,
    #[serde(default)]
    pub amount_received: Option<i64>,
    pub currency: String,
    pub status: String,
    #[serde(default, deserialize_with = "metadata")]
    pub metadata: HashMap<String, String>,
    #[serde(default)]
    pub last_payment_error: Option<PaymentError>,
    #[serde(default)]
    pub livemode: bool,
    #[serde(default)]
    pub receipt_email: Option<String>,
}

/// A charge, as `charge.refunded` carries it: how much of it has been refunded so far.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Charge {
    pub id: String,
    pub amount: i64,
    #[serde(default)]
    pub amount_refunded: i64,
    pub currency: String,
    #[serde(default, deserialize_with = "id_or_object")]
    pub payment_intent: Option<String>,
    #[serde(default)]
    pub refunded: bool,
    #[serde(default)]
    pub livemode: bool,
    #[serde(default, deserialize_with = "metadata")]
    pub metadata: HashMap<String, String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct PaymentError {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub decline_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Refund {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    #[serde(default, deserialize_with = "id_or_object")]
    pub payment_intent: Option<String>,
    /// `pending`, `succeeded`, `failed`, `canceled`, `requires_action`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub failure_reason: Option<String>,
}

/// A dispute (chargeback) of a charge, as `charge.dispute.*` events carry it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Dispute {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    #[serde(default, deserialize_with = "id_or_object")]
    pub charge: Option<String>,
    #[serde(default, deserialize_with = "id_or_object")]
    pub payment_intent: Option<String>,
    /// Stripe's reason: `fraudulent`, `product_not_received`, …
    #[serde(default)]
    pub reason: Option<String>,
    /// `needs_response`, `under_review`, `won`, `lost`, …
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub evidence_details: Option<EvidenceDetails>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct EvidenceDetails {
    /// Unix time by which evidence must be submitted.
    #[serde(default)]
    pub due_by: Option<i64>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Product {
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Price {
    pub id: String,
    #[serde(default, deserialize_with = "id_or_object")]
    pub product: Option<String>,
    #[serde(default)]
    pub unit_amount: Option<i64>,
    pub currency: String,
}

/// A page of a list endpoint.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct List<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The address as API version 2024-06-20 (caisse's) renders it, and as 2025-03-31.basil and
    /// later do: caisse reads both.
    #[test]
    fn the_shipping_address_is_read_where_either_api_version_puts_it() {
        let address = serde_json::json!({"name": "Camille", "address": {"line1": "1 rue", "city": "Paris", "country": "FR"}});
        let old: CheckoutSession = serde_json::from_value(serde_json::json!({
            "id": "cs_1", "shipping_details": address,
            "shipping_cost": {"amount_total": 490, "shipping_rate": "shr_1"},
        }))
        .unwrap();
        let new: CheckoutSession = serde_json::from_value(serde_json::json!({
            "id": "cs_2", "collected_information": {"shipping_details": address},
            "total_details": {"amount_shipping": 490},
        }))
        .unwrap();
        for s in [&old, &new] {
            let to = s.shipping().unwrap();
            assert_eq!(to.name.as_deref(), Some("Camille"));
            assert_eq!(to.address.as_ref().unwrap().city.as_deref(), Some("Paris"));
            assert_eq!(s.amount_shipping(), 490);
        }
        let none: CheckoutSession =
            serde_json::from_value(serde_json::json!({"id": "cs_3"})).unwrap();
        assert!(none.shipping().is_none());
        assert_eq!(none.amount_shipping(), 0);
    }
}
