//! Requests that share an `Idempotency-Key` and arrive while the first one is still running:
//! each gets the first one's answer, whatever else it meets on the way (found by an outside
//! probe, on PostgreSQL).

use std::time::Duration;

use caisse_shop::config;

use crate::support::{cart, guest_cookie, TestApp, LOOSE};

/// On PostgreSQL the second click used to miss the first one's uncommitted hold, wait on the
/// customer's lock, then count that hold against the cap: `429 too_many_open_holds` instead of
/// the checkout.
#[tokio::test]
async fn a_double_click_at_the_customers_cap_is_one_checkout() {
    let mut limits = LOOSE.to_vec();
    limits.push((config::MAX_OPEN_HOLDS, "2"));
    let app = TestApp::spawn_with(&limits).await;
    // A race each time: a new guest with one checkout open, then three clicks of a second.
    for round in 0..5 {
        let (status, _, headers) = app.checkout(cart(&[("tee-classic", 1)]), &[]).await;
        assert_eq!(status, 201);
        let cookie = guest_cookie(&headers);
        // Guests' keys belong to their network, which every test client shares.
        let key = format!("at-the-cap-{round}");
        let headers = [
            ("cookie", cookie.as_str()),
            ("idempotency-key", key.as_str()),
        ];
        let send = || app.checkout(cart(&[("mug-enamel", 1)]), &headers);
        let (a, b, c) = tokio::join!(send(), send(), send());
        assert_eq!(
            (a.0, b.0, c.0),
            (201, 201, 201),
            "round {round}: {} {} {}",
            a.1,
            b.1,
            c.1
        );
        assert!(
            a.1 == b.1 && b.1 == c.1,
            "every click gets the same checkout"
        );
    }
    app.stop().await;
}

/// A repeat waiting for the first request's session while Stripe fails it gets the first one's
/// error, not `checkout_closed`: the key was freed, and the client's retry starts afresh.
#[tokio::test]
async fn a_repeat_of_a_checkout_stripe_fails_gets_its_error_and_a_retry_starts_afresh() {
    let app = TestApp::spawn().await;
    app.sandbox.set_latency(300);
    app.sandbox.fail_next(3, 500);
    let headers = [("idempotency-key", "fails-while-repeated")];
    let send = || app.checkout(cart(&[("mug-enamel", 1)]), &headers);
    let repeat = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        send().await
    };
    let (first, again) = tokio::join!(send(), repeat);
    for (status, body, _) in [&first, &again] {
        assert_eq!(
            (*status, body["error"]["code"].as_str()),
            (503, Some("payment_provider_unavailable")),
            "{body}"
        );
    }
    app.sandbox.set_latency(0);
    let (status, body, _) = send().await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(app.reserved("mug-enamel").await, 1);
    app.stop().await;
}

/// A cookieless repeat that waits past the replay's ten seconds (the first click still at Stripe,
/// or its process killed) is told `checkout_in_progress` as the first click's guest, as a
/// replayed success is: its retry with that cookie is the same customer's and gets the checkout.
/// It used to carry a new guest's cookie, with which every retry was `idempotency_key_reused`
/// (found by an outside probe, after a SIGKILL).
#[tokio::test]
async fn a_cookieless_repeat_told_in_progress_becomes_the_first_click_s_guest() {
    // Stripe answers after the repeat's ten seconds, within the call's time limit.
    let app = TestApp::spawn_setting(config::STRIPE_TIMEOUT, "20").await;
    app.sandbox.set_latency(11_000);
    let headers = [("idempotency-key", "slow-first-click")];
    let send = || app.checkout(cart(&[("mug-enamel", 1)]), &headers);
    let repeat = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        send().await
    };
    let (first, repeat) = tokio::join!(send(), repeat);
    assert_eq!(first.0, 201, "{}", first.1);
    assert_eq!(
        (repeat.0, repeat.1["error"]["code"].as_str()),
        (409, Some("checkout_in_progress")),
        "{}",
        repeat.1
    );
    let cookie = guest_cookie(&repeat.2);
    assert_eq!(cookie, guest_cookie(&first.2), "the first click's guest");
    app.sandbox.set_latency(0);
    let with_cookie = [
        ("cookie", cookie.as_str()),
        ("idempotency-key", "slow-first-click"),
    ];
    let (status, retried, _) = app.checkout(cart(&[("mug-enamel", 1)]), &with_cookie).await;
    assert_eq!(status, 201, "{retried}");
    assert_eq!(
        retried["checkout_session_id"],
        first.1["checkout_session_id"]
    );
    app.stop().await;
}
