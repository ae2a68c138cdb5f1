//! The unit of work (`Store::write`): no network call — Stripe, SMTP, Redis — can run inside it.

use std::future::Future;

use caisse_shop::config::MailTransport;
use caisse_shop::email::Mailer;
use caisse_shop::ratelimit::{Rate, RedisLimiter};
use caisse_shop::store::{forbid_network_in_transaction, StoreError};
use caisse_shop::Store;
use caisse_stripe::{Client, ClientOptions, StripeError};

async fn sqlite() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("uow.db").display());
    (dir, Store::connect(&url).await.unwrap())
}

/// Runs `call` inside a unit of work and returns what it answered, or `None` when it panicked
/// (what a debug build does, so that the test taking the path fails).
async fn inside<T: Send + 'static>(
    store: Store,
    call: impl Future<Output = T> + Send + 'static,
) -> Option<T> {
    let task = tokio::spawn(async move {
        store
            .write(async |_tx| Ok::<_, StoreError>(call.await))
            .await
            .unwrap()
    });
    match task.await {
        Ok(answer) => Some(answer),
        Err(join) => {
            assert!(join.is_panic());
            None
        }
    }
}

#[tokio::test]
async fn a_stripe_call_inside_a_unit_of_work_is_refused_and_never_sent() {
    let (_dir, store) = sqlite().await;
    // The shop's guard, and a port where nothing listens (refused at once).
    let mut options = ClientOptions::new("http://127.0.0.1:9", "sk_test_unit_of_work");
    options.max_retries = 0;
    options.guard = Some(forbid_network_in_transaction);
    let stripe = Client::new(options).unwrap();
    // Outside: sent (and refused by the closed port, a network error).
    let outside = stripe.retrieve_checkout_session("cs_test_1").await;
    assert!(
        matches!(outside, Err(StripeError::Network(_))),
        "{outside:?}"
    );
    let answer = inside(store, async move {
        stripe.retrieve_checkout_session("cs_test_1").await
    })
    .await;
    assert!(
        answer
            .as_ref()
            .is_none_or(|a| matches!(a, Err(StripeError::Refused(_)))),
        "{answer:?}"
    );
}

#[tokio::test]
async fn mail_and_redis_inside_a_unit_of_work_are_refused() {
    let (dir, store) = sqlite().await;
    let outbox = dir.path().join("mail");
    std::fs::create_dir_all(&outbox).unwrap();
    let mailer = Mailer::new(
        &MailTransport::Files(outbox.clone()),
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    let message = || {
        lettre::Message::builder()
            .from("shop@example.com".parse().unwrap())
            .to("customer@example.com".parse().unwrap())
            .subject("test")
            .body(String::from("test"))
            .unwrap()
    };
    // Outside: written.
    mailer.send(message(), "outside").await.unwrap();
    let sent = inside(store.clone(), async move {
        mailer.send(message(), "inside").await
    })
    .await;
    assert!(sent.as_ref().is_none_or(|s| s.is_err()), "{sent:?}");
    assert_eq!(
        std::fs::read_dir(&outbox).unwrap().count(),
        1,
        "only the one outside"
    );

    let redis =
        RedisLimiter::new("redis://127.0.0.1:9", std::time::Duration::from_millis(100)).unwrap();
    let rate: Rate = "5/min".parse().unwrap();
    let checked = inside(
        store,
        async move { redis.check("k", rate, 0).await.map(|_| ()) },
    )
    .await;
    assert!(
        checked.as_ref().is_none_or(|c| c
            .as_ref()
            .is_err_and(|e| e.to_string().contains("transaction"))),
        "{checked:?}"
    );
}
