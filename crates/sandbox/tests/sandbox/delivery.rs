//! Delivery: signatures with rotation, retries on failure, and each chaos switch.

use std::time::Duration;

use caisse_sandbox::{Chaos, Method};

use crate::support::{client, fast_options, session_params, with_receiver, Receiver, SECRET};

#[tokio::test]
async fn a_rotation_signs_with_every_secret() {
    let old = "whsec_oldsecret0123456789".to_string();
    let receiver_old = Receiver::start(vec![old.clone()]).await;
    let sandbox = caisse_sandbox::start(fast_options(
        Some(receiver_old.url.clone()),
        vec![old.clone(), SECRET.into()],
    ))
    .await
    .unwrap();
    client(&sandbox)
        .expire_checkout_session(
            &client(&sandbox)
                .create_checkout_session(&session_params(), "r1")
                .await
                .unwrap()
                .id,
            "r2",
        )
        .await
        .unwrap();
    receiver_old.wait_for(1).await;
    let header = receiver_old.got.lock().unwrap()[0].signature.clone();
    assert_eq!(header.matches("v1=").count(), 2, "{header}");

    let receiver_new = Receiver::start(vec![SECRET.into()]).await;
    sandbox.set_forward_to(Some(receiver_new.url.clone()));
    let s = client(&sandbox)
        .create_checkout_session(&session_params(), "r3")
        .await
        .unwrap();
    client(&sandbox)
        .expire_checkout_session(&s.id, "r4")
        .await
        .unwrap();
    receiver_new.wait_for(1).await;
    assert_eq!(*receiver_new.forged.lock().unwrap(), 0);
}

#[tokio::test]
async fn a_failed_delivery_is_retried_with_a_fresh_signature() {
    let (sandbox, receiver) = with_receiver().await;
    *receiver.fail_first.lock().unwrap() = 2;
    let s = client(&sandbox)
        .create_checkout_session(&session_params(), "f1")
        .await
        .unwrap();
    client(&sandbox)
        .expire_checkout_session(&s.id, "f2")
        .await
        .unwrap();
    assert_eq!(receiver.wait_for(1).await, vec!["checkout.session.expired"]);
    let attempts: Vec<_> = sandbox
        .deliveries()
        .iter()
        .map(|a| (a.attempt, a.status))
        .collect();
    assert_eq!(
        attempts,
        vec![(1, Some(500)), (2, Some(500)), (3, Some(200))]
    );
}

#[tokio::test]
async fn a_delivery_that_always_fails_stops_after_the_schedule() {
    let (sandbox, receiver) = with_receiver().await;
    *receiver.fail_first.lock().unwrap() = 100;
    let s = client(&sandbox)
        .create_checkout_session(&session_params(), "g1")
        .await
        .unwrap();
    client(&sandbox)
        .expire_checkout_session(&s.id, "g2")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        sandbox.deliveries().len(),
        3,
        "one try and the two retries of the schedule"
    );
    assert!(receiver.types().is_empty());
}

#[tokio::test]
async fn chaos_duplicates_every_delivery() {
    let (sandbox, receiver) = with_receiver().await;
    sandbox.set_chaos(Chaos {
        duplicate: true,
        ..Chaos::strict()
    });
    let s = client(&sandbox)
        .create_checkout_session(&session_params(), "k1")
        .await
        .unwrap();
    sandbox
        .pay(&s.id, Method::Card("4242424242424242".into()))
        .unwrap();
    let types = receiver.wait_for(8).await;
    assert_eq!(types.len(), 8);
    let ids: std::collections::HashSet<String> = receiver
        .events()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 4, "four events, each twice");
}

#[tokio::test]
async fn chaos_drops_first_attempts_and_retries_recover_them() {
    let (sandbox, receiver) = with_receiver().await;
    sandbox.set_chaos(Chaos {
        drop_first: 1.0,
        ..Chaos::strict()
    });
    let s = client(&sandbox)
        .create_checkout_session(&session_params(), "d1")
        .await
        .unwrap();
    sandbox
        .pay(&s.id, Method::Card("4242424242424242".into()))
        .unwrap();
    assert_eq!(receiver.wait_for(4).await.len(), 4);
    let log = sandbox.deliveries();
    assert_eq!(log.iter().filter(|a| a.dropped).count(), 4);
    assert!(log
        .iter()
        .filter(|a| !a.dropped)
        .all(|a| a.attempt == 2 && a.status == Some(200)));
}

#[tokio::test]
async fn chaos_delays_reorder_deliveries() {
    let (sandbox, receiver) = with_receiver().await;
    sandbox.set_chaos(Chaos {
        max_delay_ms: 300,
        ..Chaos::strict()
    });
    let stripe = client(&sandbox);
    let mut created = Vec::new();
    for i in 0..12 {
        let s = stripe
            .create_checkout_session(&session_params(), &format!("o{i}"))
            .await
            .unwrap();
        stripe
            .expire_checkout_session(&s.id, &format!("oe{i}"))
            .await
            .unwrap();
        created.push(s.id);
    }
    receiver.wait_for(12).await;
    let arrived: Vec<String> = receiver
        .events()
        .iter()
        .map(|e| e["data"]["object"]["id"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = arrived.clone();
    sorted.sort_by_key(|id| created.iter().position(|c| c == id));
    assert_eq!(sorted, created, "every event arrives");
    assert_ne!(
        arrived, created,
        "random delays of up to 300 ms reorder 12 deliveries (chance of keeping order ≈ 1/12!)"
    );
}

#[tokio::test]
async fn a_redirect_is_a_failed_delivery_not_a_delivered_one() {
    let receiver = crate::support::Receiver::start(vec![SECRET.into()]).await;
    // An endpoint that answers every delivery with a redirect to the real receiver.
    let target = receiver.url.clone();
    let redirecting = axum::Router::new().fallback(move || {
        let target = target.clone();
        async move {
            (
                axum::http::StatusCode::FOUND,
                [(axum::http::header::LOCATION, target)],
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, redirecting).await });
    let sandbox = caisse_sandbox::start(fast_options(Some(url), vec![SECRET.into()]))
        .await
        .unwrap();
    let s = client(&sandbox)
        .create_checkout_session(&session_params(), "rd1")
        .await
        .unwrap();
    client(&sandbox)
        .expire_checkout_session(&s.id, "rd2")
        .await
        .unwrap();
    // The first attempt and both retries of the schedule.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sandbox.deliveries().len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            sandbox.deliveries()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let attempts = sandbox.deliveries();
    assert!(
        attempts.iter().all(|a| a.status == Some(302)),
        "{attempts:?}"
    );
    assert_eq!(
        attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        [1, 2, 3],
        "retried like any non-2xx"
    );
    assert!(
        receiver.got.lock().unwrap().is_empty(),
        "the redirect was not followed"
    );
}

#[tokio::test]
async fn by_default_events_come_out_of_order_and_a_few_twice() {
    // Stripe guarantees no order: neither does a sandbox started with its defaults (`caisse dev`,
    // `caisse sandbox`); `--strict-order` is the exception.
    let sandbox = caisse_sandbox::start(caisse_sandbox::SandboxOptions::default())
        .await
        .unwrap();
    let chaos: serde_json::Value = reqwest::get(format!("{}/_sandbox/chaos", sandbox.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(chaos["max_delay_ms"], 300, "{chaos}");
    assert_eq!(chaos["duplicate_share"], 0.05, "{chaos}");
    assert_eq!(Chaos::strict().max_delay_ms, 0);
}

#[tokio::test]
async fn a_retry_goes_to_the_endpoint_s_new_url() {
    // The endpoint first answers nothing (a closed port); its URL then changes.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let sandbox = caisse_sandbox::start(fast_options(Some(dead), vec![SECRET.into()]))
        .await
        .unwrap();
    let s = client(&sandbox)
        .create_checkout_session(&session_params(), "u1")
        .await
        .unwrap();
    client(&sandbox)
        .expire_checkout_session(&s.id, "u2")
        .await
        .unwrap();
    let receiver = Receiver::start(vec![SECRET.into()]).await;
    sandbox.set_forward_to(Some(receiver.url.clone()));
    assert_eq!(receiver.wait_for(1).await, vec!["checkout.session.expired"]);
    let log = sandbox.deliveries();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log[0].status.is_none() && log[1].status == Some(200),
        "{log:?}"
    );
}

#[tokio::test]
async fn strict_order_delivers_each_event_after_the_one_before() {
    // A slow endpoint: the first event takes 150 ms. Sent at once, the later events would be
    // recorded before it; in strict order they wait for it.
    let (sandbox, receiver) = with_receiver().await;
    *receiver.slow_first.lock().unwrap() = 1;
    let s = client(&sandbox)
        .create_checkout_session(&session_params(), "o1")
        .await
        .unwrap();
    sandbox
        .pay(&s.id, Method::Card("4242424242424242".into()))
        .unwrap();
    assert_eq!(
        receiver.wait_for(4).await,
        vec![
            "payment_intent.created",
            "charge.succeeded",
            "payment_intent.succeeded",
            "checkout.session.completed"
        ]
    );
}
