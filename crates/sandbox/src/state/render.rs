//! Stripe-shaped renderers: each stored object as Stripe's API would return it, every key of
//! Stripe's example object present (`shapes`), so the official SDKs find what they expect. They
//! read the model and change nothing.

use serde_json::{json, Value};

use super::model::{
    Account, Charge, Metadata, PaymentIntent, Price, Product, Session, SessionStatus,
};
use crate::shapes::shape;

impl Account {
    pub fn session_json(&self, s: &Session, base_url: &str) -> Value {
        let complete = s.status == SessionStatus::Complete;
        let collected = s.collected.as_ref().filter(|_| complete);
        let address = collected.and_then(|c| c.address.as_ref());
        let shipping_details = address.map(|a| json!({ "address": a.json(), "name": a.name }));
        let chosen = s.chosen_rate().and_then(|i| s.shipping.options.get(i));
        let mut json = json!({
            "id": s.id,
            "object": "checkout.session",
            "amount_subtotal": s.amount_total,
            "amount_total": s.total(),
            "cancel_url": s.cancel_url,
            "client_reference_id": s.client_reference_id,
            "created": s.created,
            "currency": s.currency,
            "customer_email": s.customer_email,
            // What the customer entered on the page: nothing while the session is open; the
            // email (prefilled from `customer_email`), and the name, phone and address the
            // session asked for, once it completed.
            "customer_details": complete.then(|| json!({
                "address": address.map(|a| a.json()),
                "email": s.collected_email.as_ref().or(s.customer_email.as_ref()),
                "name": address.map(|a| a.name.clone()),
                "phone": collected.and_then(|c| c.phone.clone()),
                "tax_exempt": "none", "tax_ids": [],
                "business_name": null, "individual_name": null,
            })),
            "expires_at": s.expires_at,
            "livemode": false,
            "metadata": s.metadata,
            "mode": "payment",
            "locale": s.locale,
            "submit_type": s.submit_type,
            "payment_intent": s.payment_intent,
            "payment_method_types": s.payment_method_types,
            "payment_status": if s.paid { "paid" } else { "unpaid" },
            "phone_number_collection": { "enabled": s.shipping.collect_phone },
            "shipping_address_collection": (!s.shipping.allowed_countries.is_empty())
                .then(|| json!({ "allowed_countries": s.shipping.allowed_countries })),
            "shipping_cost": chosen.map(|r| json!({
                "amount_subtotal": r.amount, "amount_tax": 0, "amount_total": r.amount,
                "shipping_rate": r.id,
            })),
            "shipping_options": s.shipping.options.iter().map(|r| json!({
                "shipping_amount": r.amount, "shipping_rate": r.id,
            })).collect::<Vec<_>>(),
            "total_details": {
                "amount_discount": 0, "amount_shipping": s.shipping_amount(), "amount_tax": 0,
            },
            "status": s.status.as_str(),
            "success_url": s.success_url,
            "url": (s.status == SessionStatus::Open).then(|| format!("{base_url}/c/pay/{}", s.id)),
        });
        // Where the address is depends on the API version the account's events use.
        if crate::from_basil(&self.api_version) {
            json["collected_information"] = json!({ "shipping_details": shipping_details });
        } else {
            json["shipping_details"] = shipping_details.unwrap_or(Value::Null);
        }
        shape("checkout.session", json)
    }

    pub fn line_items_json(s: &Session) -> Value {
        let data: Vec<Value> = s
            .line_items
            .iter()
            .map(|li| {
                shape(
                    "item",
                    json!({
                        "id": li.id,
                        "object": "item",
                        "amount_subtotal": li.unit_amount * li.quantity,
                        "amount_total": li.unit_amount * li.quantity,
                        "currency": li.currency,
                        "description": li.description,
                        "quantity": li.quantity,
                        "price": Self::price_json(&Price {
                            id: li.price_id.clone(),
                            product: li.product_id.clone(),
                            unit_amount: li.unit_amount,
                            currency: li.currency.clone(),
                            created: s.created,
                            active: true,
                            nickname: None,
                            lookup_key: None,
                            metadata: Metadata::new(),
                        }),
                    }),
                )
            })
            .collect();
        json!({ "object": "list", "data": data, "has_more": false, "url": format!("/v1/checkout/sessions/{}/line_items", s.id) })
    }

    pub fn payment_intent_json(pi: &PaymentIntent) -> Value {
        let mut json = json!({
            "id": pi.id,
            "object": "payment_intent",
            "amount": pi.amount,
            "amount_capturable": pi.amount_capturable,
            "amount_received": pi.amount_received,
            "canceled_at": pi.canceled_at,
            "cancellation_reason": pi.cancellation_reason,
            "capture_method": pi.capture_method,
            "client_secret": format!("{}_secret_sandbox", pi.id),
            "confirmation_method": "automatic",
            "currency": pi.currency,
            "created": pi.created,
            "last_payment_error": pi.last_payment_error,
            "latest_charge": pi.charges.last().map(|c| c.id.clone()),
            "next_action": pi.next_action,
            "payment_method": pi.payment_method,
            "livemode": false,
            "metadata": pi.metadata,
            "payment_method_types": [pi.method],
            "status": pi.status,
        });
        for (key, value) in &pi.text {
            json[key] = value.clone();
        }
        shape("payment_intent", json)
    }

    pub fn charge_json(pi: &PaymentIntent, c: &Charge) -> Value {
        let succeeded = c.status == "succeeded";
        let released = if pi.release_is_refund { pi.released } else { 0 };
        let amount_refunded = if succeeded { pi.refunded + released } else { 0 };
        let amount_captured = if c.captured {
            pi.amount - pi.released
        } else {
            0
        };
        // Fully refunded: all that was authorized while a release counts as refunded (before
        // basil), else all that was captured.
        let whole = if pi.release_is_refund || !c.captured {
            pi.amount
        } else {
            amount_captured
        };
        shape(
            "charge",
            json!({
                "id": c.id,
                "object": "charge",
                "amount": pi.amount,
                "amount_captured": amount_captured,
                "amount_refunded": amount_refunded,
                "captured": c.captured,
                "created": c.created,
                "currency": pi.currency,
                "disputed": succeeded && pi.disputed,
                "failure_code": c.failure_code,
                "failure_message": c.failure_message,
                "livemode": false,
                "metadata": pi.metadata,
                "paid": succeeded,
                "payment_intent": pi.id,
                "payment_method": c.payment_method,
                "refunded": amount_refunded > 0 && amount_refunded >= whole,
                "refunds": {
                    "object": "list",
                    "data": if succeeded { pi.refunds.iter().rev().cloned().collect() } else { Vec::new() },
                    "has_more": false,
                    "total_count": if succeeded { pi.refunds.len() } else { 0 },
                    "url": format!("/v1/charges/{}/refunds", c.id),
                },
                "description": pi.text.get("description"),
                "receipt_email": pi.text.get("receipt_email"),
                "statement_descriptor": pi.text.get("statement_descriptor"),
                "statement_descriptor_suffix": pi.text.get("statement_descriptor_suffix"),
                "billing_details": {
                    "address": null, "email": null, "name": null, "phone": null, "tax_id": null,
                },
                "status": c.status,
            }),
        )
    }

    /// The latest charge of `pi`, as its `latest_charge` expands.
    pub fn latest_charge_json(pi: &PaymentIntent) -> Option<Value> {
        pi.charges.last().map(|c| Self::charge_json(pi, c))
    }

    pub fn price_json(p: &Price) -> Value {
        shape(
            "price",
            json!({
                "id": p.id, "object": "price", "active": p.active, "billing_scheme": "per_unit",
                "created": p.created, "currency": p.currency, "livemode": false,
                "lookup_key": p.lookup_key, "metadata": p.metadata, "nickname": p.nickname,
                "product": p.product, "tax_behavior": "unspecified", "type": "one_time",
                "unit_amount": p.unit_amount, "unit_amount_decimal": p.unit_amount.to_string(),
            }),
        )
    }

    pub fn product_json(p: &Product) -> Value {
        shape(
            "product",
            json!({
                "id": p.id, "object": "product", "active": p.active, "created": p.created,
                "description": p.description, "images": p.images, "livemode": false,
                "metadata": p.metadata, "name": p.name, "type": "service", "updated": p.created,
            }),
        )
    }
}
