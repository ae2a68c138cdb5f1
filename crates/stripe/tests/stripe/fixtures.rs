//! Stripe's example objects (openapi fixtures3.json) parse into caisse's types.

use caisse_stripe::objects::{CheckoutSession, PaymentIntent, Price, Product, Refund};
use caisse_stripe::{Event, EventObject};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let all: Value = serde_json::from_slice(&crate::data("fixtures.json")).unwrap();
    all[name].clone()
}

#[test]
fn the_objects_caisse_reads_parse() {
    let session: CheckoutSession = serde_json::from_value(fixture("checkout.session")).unwrap();
    assert!(session.id.starts_with("cs_test_"));
    let pi: PaymentIntent = serde_json::from_value(fixture("payment_intent")).unwrap();
    assert!(pi.id.starts_with("pi_"));
    let refund: Refund = serde_json::from_value(fixture("refund")).unwrap();
    assert!(refund.id.starts_with("re_"));
    let _: Price = serde_json::from_value(fixture("price")).unwrap();
    let _: Product = serde_json::from_value(fixture("product")).unwrap();
    let event: Event = serde_json::from_value(fixture("event")).unwrap();
    assert_eq!(event.object().unwrap(), EventObject::Other);
}

#[test]
fn an_event_carrying_a_session_or_payment_intent_is_typed() {
    let mut event = fixture("event");
    event["type"] = "checkout.session.completed".into();
    event["data"]["object"] = fixture("checkout.session");
    event["data"]["object"]["payment_intent"] =
        serde_json::json!({"id": "pi_expanded", "object": "payment_intent"});
    event["brand_new_field"] = "from a newer API version".into();
    let event: Event = serde_json::from_value(event).unwrap();
    match event.object().unwrap() {
        EventObject::CheckoutSession(s) => {
            assert_eq!(s.payment_intent.as_deref(), Some("pi_expanded"))
        }
        other => panic!("{other:?}"),
    }
    let mut event = fixture("event");
    event["data"]["object"] = fixture("payment_intent");
    let event: Event = serde_json::from_value(event).unwrap();
    assert!(matches!(
        event.object().unwrap(),
        EventObject::PaymentIntent(_)
    ));
}
