//! What the sandbox forgets, as Stripe does: an `Idempotency-Key` 24 hours after its first use,
//! events after 30 days; so that a long `caisse dev` does not grow without bound.

use caisse_stripe::client::EventsQuery;

use crate::support::{client, session_params, with_receiver};

#[tokio::test]
async fn a_key_is_forgotten_after_24_hours_and_events_after_30_days() {
    let (sandbox, _) = with_receiver().await;
    let stripe = client(&sandbox);
    let first = stripe
        .create_checkout_session(&session_params(), "key-of-monday")
        .await
        .unwrap();
    let card = || caisse_sandbox::Method::Card("4242424242424242".into());
    sandbox.pay(&first.id, card()).unwrap();
    let old_events = sandbox.events();
    assert!(!old_events.is_empty());

    // Within 24 hours, other parameters under the same key are refused…
    sandbox.advance_clock(86_399);
    let other = session_params().with("client_reference_id", "tuesday");
    let refused = stripe
        .create_checkout_session(&other, "key-of-monday")
        .await
        .unwrap_err();
    assert_eq!(refused.code(), None, "{refused:?}");
    assert!(
        format!("{refused:?}").contains("idempotency"),
        "{refused:?}"
    );
    // …and after them, the key is a new request.
    sandbox.advance_clock(1);
    let second = stripe
        .create_checkout_session(&other, "key-of-monday")
        .await
        .unwrap();
    assert_ne!(second.id, first.id);

    // Thirty days on, the first payment's events are gone from the log and the API.
    sandbox.advance_clock(30 * 86_400);
    let third = stripe
        .create_checkout_session(&session_params(), "key-of-next-month")
        .await
        .unwrap();
    sandbox.pay(&third.id, card()).unwrap();
    let kept: Vec<String> = sandbox
        .events()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!kept.is_empty());
    for old in &old_events {
        let id = old["id"].as_str().unwrap();
        assert!(!kept.iter().any(|k| k == id), "{id} is kept");
        let listed = stripe.list_events(&EventsQuery::default()).await.unwrap();
        assert!(listed.data.iter().all(|e| e.id != id));
    }
}
