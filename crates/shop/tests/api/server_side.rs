//! A storefront that calls caisse from its own server (a Next.js route handler): every customer
//! arrives from that server's address. Signed-in customers are capped as customers, guests on the
//! address a trusted proxy forwards; the network caps still hold per forwarded address. Every
//! test runs with caisse's default caps (10 open holds and 30 checkouts a minute per network).

use serde_json::json;

use crate::support::{cart, TestApp};
use caisse_shop::config;

const JWT_SECRET: &str = "jwt-secret-for-server-side-tests-0123456789";

/// `n` checkouts of one sticker pack sent at once, the `i`th with the headers `headers(i)`.
async fn at_once(
    app: &TestApp,
    n: usize,
    headers: impl Fn(usize) -> Vec<(String, String)>,
) -> Vec<u16> {
    let barrier = tokio::sync::Barrier::new(n);
    futures_util::future::join_all((0..n).map(|i| {
        let (barrier, headers) = (&barrier, headers(i));
        async move {
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            barrier.wait().await;
            let (status, body, _) = app.checkout(cart(&[("sticker-pack", 1)]), &headers).await;
            assert!(status == 201 || status == 429, "{status} {body}");
            status
        }
    }))
    .await
}

#[tokio::test]
async fn forty_signed_in_customers_relayed_by_one_server_all_check_out() {
    // No trusted proxy, no X-Forwarded-For: all forty come from the server's one address.
    let app = TestApp::spawn_with(&[(config::JWT_SECRET, JWT_SECRET)]).await;
    let exp = caisse_shop::store::unix_now() + 600;
    let statuses = at_once(&app, 40, |i| {
        let token = caisse_shop::identity::sign_jwt(
            &json!({"sub": format!("customer-{i}"), "exp": exp}),
            JWT_SECRET.as_bytes(),
        );
        vec![("authorization".into(), format!("Bearer {token}"))]
    })
    .await;
    assert_eq!(statuses, vec![201; 40]);
    assert_eq!(app.reserved("sticker-pack").await, 40);

    // Each is still capped as a customer: CAISSE_MAX_OPEN_HOLDS_PER_CUSTOMER is 3.
    let token = caisse_shop::identity::sign_jwt(
        &json!({"sub": "customer-0", "exp": exp}),
        JWT_SECRET.as_bytes(),
    );
    let auth = format!("Bearer {token}");
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (status, body, _) = app
            .checkout(
                cart(&[("sticker-pack", 1)]),
                &[("authorization", auth.as_str())],
            )
            .await;
        statuses.push((status, body["error"]["code"].as_str().map(str::to_string)));
    }
    assert_eq!(
        statuses,
        [
            (201, None),
            (201, None),
            (429, Some("too_many_open_holds".to_string()))
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn guests_relayed_by_a_proxy_in_a_trusted_range_are_capped_on_their_own_address() {
    let app = TestApp::spawn_with(&[(config::TRUSTED_PROXIES, "127.0.0.0/8, fd00::/8")]).await;
    let statuses = at_once(&app, 40, |i| {
        vec![("x-forwarded-for".into(), format!("198.51.100.{}", i + 1))]
    })
    .await;
    assert_eq!(statuses, vec![201; 40]);
    let networks =
        crate::support::scalar(&app.store, "SELECT COUNT(DISTINCT client_net) FROM holds").await;
    assert_eq!(networks, 40, "each on the address the proxy forwarded");

    // Eleven guests behind one forwarded address meet the network's cap of 10 open holds.
    let statuses = at_once(&app, 11, |_| {
        vec![("x-forwarded-for".into(), "203.0.113.50".into())]
    })
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        10,
        "{statuses:?}"
    );
    let (status, body, _) = app
        .checkout(
            cart(&[("sticker-pack", 1)]),
            &[("x-forwarded-for", "203.0.113.50")],
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("too_many_open_holds"))
    );
    assert_eq!(app.reserved("sticker-pack").await, 50);
    app.stop().await;
}
