//! The unit of work (`Store::write`): no network call can run inside it, and what it answers is
//! durable.

use caisse_shop::store::{forbid_network_in_transaction, StoreError};
use caisse_shop::Store;
use caisse_stripe::{Client, ClientOptions, StripeError};

/// A Stripe client that refuses to run inside a unit of work, as the shop's is, pointed at a port
/// where nothing listens (the discard port: refused at once).
fn guarded_stripe() -> Client {
    let mut options = ClientOptions::new("http://127.0.0.1:9", "sk_test_unit_of_work");
    options.max_retries = 0;
    options.guard = Some(forbid_network_in_transaction);
    Client::new(options).unwrap()
}

#[tokio::test]
async fn a_stripe_call_inside_a_unit_of_work_is_refused_and_never_sent() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("uow.db").display()))
        .await
        .unwrap();
    let stripe = guarded_stripe();
    // Outside: sent (and refused by the closed port, a network error).
    let outside = stripe.retrieve_checkout_session("cs_test_1").await;
    assert!(
        matches!(outside, Err(StripeError::Network(_))),
        "{outside:?}"
    );
    // Inside: refused before it is sent; a debug build panics so that tests catch the mistake.
    let inside = tokio::spawn(async move {
        store
            .write(async |_tx| {
                let answer = stripe.retrieve_checkout_session("cs_test_1").await;
                Ok::<_, StoreError>(answer)
            })
            .await
    })
    .await;
    match inside {
        Err(join) => assert!(join.is_panic(), "the call panicked"),
        Ok(answer) => assert!(
            matches!(answer, Ok(Err(StripeError::Refused(_)))),
            "{answer:?}"
        ),
    }
}
