//! A guest whose phone moves from Wi-Fi to 4G: the same Idempotency-Key and cookie from another
//! network replays that checkout while it is open, and makes a new one once it ended; never a
//! permanent 409.

use caisse_shop::config;

use crate::support::{cart, guest_cookie, scalar, TestApp, LOOSE};

#[tokio::test]
async fn a_guest_retrying_its_key_from_another_network_replays_then_starts_afresh() {
    let app =
        TestApp::spawn_with(&[LOOSE, &[(config::TRUSTED_PROXIES, "127.0.0.1")]].concat()).await;
    let key = ("idempotency-key", "pay-click-42");
    let (status, first, headers) = app
        .checkout(
            cart(&[("mug-enamel", 1)]),
            &[key, ("x-forwarded-for", "203.0.113.5")],
        )
        .await;
    assert_eq!(status, 201, "{first}");
    let cookie = guest_cookie(&headers);
    let session = first["checkout_session_id"].as_str().unwrap();

    // The same guest, the same key, from 4G: that checkout.
    let from_4g = [
        key,
        ("cookie", cookie.as_str()),
        ("x-forwarded-for", "198.51.100.7"),
    ];
    let (status, again, _) = app.checkout(cart(&[("mug-enamel", 1)]), &from_4g).await;
    assert!(status == 200 || status == 201, "{status} {again}");
    assert_eq!(again["checkout_session_id"], session);
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM holds").await, 1);
    assert_eq!(app.reserved("mug-enamel").await, 1);

    // The customer cancels; a retry of the key from yet another network makes a new checkout.
    let r = app
        .http
        .post(app.url(&format!("/api/checkout/{session}/cancel")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let from_cafe = [
        key,
        ("cookie", cookie.as_str()),
        ("x-forwarded-for", "192.0.2.9"),
    ];
    let (status, fresh, _) = app.checkout(cart(&[("mug-enamel", 1)]), &from_cafe).await;
    assert_eq!(status, 201, "{fresh}");
    assert_ne!(fresh["checkout_session_id"], session);
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM holds").await, 2);
    // And the retry of that one from the same network is that new checkout, not a 409.
    let (status, replayed, _) = app.checkout(cart(&[("mug-enamel", 1)]), &from_cafe).await;
    assert!(status == 200 || status == 201, "{status} {replayed}");
    assert_eq!(
        replayed["checkout_session_id"],
        fresh["checkout_session_id"]
    );
    app.stop().await;
}
