//! The event envelope Stripe sends to webhooks and lists at `/v1/events`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::objects::{Charge, CheckoutSession, Dispute, PaymentIntent, Refund};

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created: i64,
    #[serde(default)]
    pub livemode: bool,
    #[serde(default)]
    pub api_version: Option<String>,
    pub data: EventData,
    #[serde(default)]
    pub pending_webhooks: Option<i64>,
    #[serde(default)]
    pub request: Option<EventRequest>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct EventData {
    pub object: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_attributes: Option<Value>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct EventRequest {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// The object an event carries, typed for the events caisse acts on.
#[derive(Clone, Debug, PartialEq)]
pub enum EventObject {
    CheckoutSession(CheckoutSession),
    PaymentIntent(PaymentIntent),
    Charge(Charge),
    Dispute(Dispute),
    Refund(Refund),
    Other,
}

impl Event {
    /// Types the data object by its `object` field; a known type that does not parse is an error.
    pub fn object(&self) -> Result<EventObject, serde_json::Error> {
        match self.data.object.get("object").and_then(Value::as_str) {
            Some("checkout.session") => {
                serde_json::from_value(self.data.object.clone()).map(EventObject::CheckoutSession)
            }
            Some("payment_intent") => {
                serde_json::from_value(self.data.object.clone()).map(EventObject::PaymentIntent)
            }
            Some("charge") => {
                serde_json::from_value(self.data.object.clone()).map(EventObject::Charge)
            }
            Some("dispute") => {
                serde_json::from_value(self.data.object.clone()).map(EventObject::Dispute)
            }
            Some("refund") => {
                serde_json::from_value(self.data.object.clone()).map(EventObject::Refund)
            }
            _ => Ok(EventObject::Other),
        }
    }
}
