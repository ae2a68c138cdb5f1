//! Webhook endpoints as Stripe keeps them: made, read, listed, changed and deleted through
//! `/v1/webhook_endpoints`; each delivery goes to every enabled endpoint whose filter takes the
//! event, signed with that endpoint's own secret and rendered in its API version. And the API
//! versions the sandbox takes: every well-formed one up to its clock's today.

use reqwest::Method;

use crate::support::{client, fast_options, raw, session_params, Receiver, KEY};

/// An expired session: one `checkout.session.expired` event.
async fn expire_a_session(sandbox: &caisse_sandbox::RunningSandbox, key: &str) {
    let c = client(sandbox);
    let s = c
        .create_checkout_session(&session_params(), &format!("{key}-create"))
        .await
        .unwrap();
    c.expire_checkout_session(&s.id, &format!("{key}-expire"))
        .await
        .unwrap();
}

#[tokio::test]
async fn endpoints_are_made_read_listed_changed_and_deleted() {
    let sandbox = caisse_sandbox::start(fast_options(None, vec![]))
        .await
        .unwrap();
    let c = client(&sandbox);
    let made = c
        .create_webhook_endpoint(
            "https://shop.test/api/webhooks/stripe",
            &["checkout.session.completed", "charge.refunded"],
            "2024-06-20",
            "caisse",
        )
        .await
        .unwrap();
    assert!(made.id.starts_with("we_"), "{made:?}");
    let secret = made.secret.clone().unwrap();
    assert!(secret.starts_with("whsec_") && secret.len() > 20);
    assert!(!format!("{made:?}").contains(&secret), "Debug hides it");
    assert_eq!(made.api_version.as_deref(), Some("2024-06-20"));
    assert!(made.is_enabled());

    // The secret is shown once: never in a retrieve or a list.
    let path = format!("/v1/webhook_endpoints/{}", made.id);
    let (status, got, _) = raw(&sandbox, Method::GET, &path, Some(KEY), "").await;
    assert_eq!(status, 200);
    assert_eq!(got["object"], "webhook_endpoint");
    assert_eq!(got["url"], "https://shop.test/api/webhooks/stripe");
    assert!(got.get("secret").is_none(), "{got}");
    let listed = c.list_webhook_endpoints().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].secret, None);

    let changed = c
        .update_webhook_endpoint(&made.id, &["*"], "caisse again")
        .await
        .unwrap();
    assert_eq!(changed.enabled_events, vec!["*"]);
    assert!(changed.missing_events(&["charge.refunded"]).is_empty());
    let (status, off, _) = raw(&sandbox, Method::POST, &path, Some(KEY), "disabled=true").await;
    assert_eq!((status, off["status"].as_str()), (200, Some("disabled")));

    // What Stripe refuses: a bad URL, no events, a malformed event type, a version change.
    for (body, param) in [
        ("url=ftp%3A%2F%2Fx&enabled_events[]=*", "url"),
        ("url=https%3A%2F%2Fx.test", "enabled_events"),
        (
            "url=https%3A%2F%2Fx.test&enabled_events[]=Charge%20Succeeded",
            "enabled_events[0]",
        ),
        (
            "url=https%3A%2F%2Fx.test&enabled_events[]=*&api_version=2999-01-01",
            "api_version",
        ),
    ] {
        let (status, e, _) = raw(
            &sandbox,
            Method::POST,
            "/v1/webhook_endpoints",
            Some(KEY),
            body,
        )
        .await;
        assert_eq!(
            (status, e["error"]["param"].as_str()),
            (400, Some(param)),
            "{body}: {e}"
        );
    }
    let (status, e, _) = raw(
        &sandbox,
        Method::POST,
        &path,
        Some(KEY),
        "api_version=2024-06-20",
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (400, Some("parameter_unknown"))
    );

    let (status, gone, _) = raw(&sandbox, Method::DELETE, &path, Some(KEY), "").await;
    assert_eq!((status, gone["deleted"].as_bool()), (200, Some(true)));
    let (status, _, _) = raw(&sandbox, Method::GET, &path, Some(KEY), "").await;
    assert_eq!(status, 404);
    assert!(c.list_webhook_endpoints().await.unwrap().is_empty());
    sandbox.stop().await.unwrap();
}

#[tokio::test]
async fn each_endpoint_gets_the_events_it_asked_for_signed_with_its_secret_in_its_version() {
    let sandbox = caisse_sandbox::start(fast_options(None, vec![]))
        .await
        .unwrap();
    let c = client(&sandbox);
    // Made first, pointed at their receivers once their secrets are known.
    let expired_only = c
        .create_webhook_endpoint(
            "http://127.0.0.1:9/none",
            &["checkout.session.expired"],
            "2024-06-20",
            "a",
        )
        .await
        .unwrap();
    let everything = c
        .create_webhook_endpoint("http://127.0.0.1:9/none", &["*"], "2026-11-18.endive", "b")
        .await
        .unwrap();
    let not_this = c
        .create_webhook_endpoint(
            "http://127.0.0.1:9/none",
            &["charge.refunded"],
            "2024-06-20",
            "c",
        )
        .await
        .unwrap();
    let a = Receiver::start(vec![expired_only.secret.clone().unwrap()]).await;
    let b = Receiver::start(vec![everything.secret.clone().unwrap()]).await;
    let other = Receiver::start(vec![not_this.secret.clone().unwrap()]).await;
    for (endpoint, receiver) in [(&expired_only, &a), (&everything, &b), (&not_this, &other)] {
        let body = format!(
            "url={}",
            caisse_stripe::form::percent_encode(&receiver.url, |b| b.is_ascii_alphanumeric())
        );
        let path = format!("/v1/webhook_endpoints/{}", endpoint.id);
        let (status, _, _) = raw(&sandbox, Method::POST, &path, Some(KEY), &body).await;
        assert_eq!(status, 200);
    }

    expire_a_session(&sandbox, "one").await;
    assert_eq!(a.wait_for(1).await, vec!["checkout.session.expired"]);
    assert_eq!(b.wait_for(1).await, vec!["checkout.session.expired"]);
    assert!(
        other.types().is_empty(),
        "a filter that does not match gets nothing"
    );
    // Each signed with its own endpoint's secret (the receivers refuse any other).
    assert_eq!(
        (*a.forged.lock().unwrap(), *b.forged.lock().unwrap()),
        (0, 0)
    );
    assert_eq!(a.events()[0]["api_version"], "2024-06-20");
    assert_eq!(b.events()[0]["api_version"], "2026-11-18.endive");
    assert_eq!(
        a.events()[0]["id"],
        b.events()[0]["id"],
        "one event, two deliveries"
    );

    // A disabled endpoint and a deleted one get nothing more.
    let path = format!("/v1/webhook_endpoints/{}", expired_only.id);
    raw(&sandbox, Method::POST, &path, Some(KEY), "disabled=true").await;
    let path = format!("/v1/webhook_endpoints/{}", everything.id);
    raw(&sandbox, Method::DELETE, &path, Some(KEY), "").await;
    expire_a_session(&sandbox, "two").await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!((a.types().len(), b.types().len()), (1, 1));
    let listed = sandbox.events();
    assert_eq!(listed.len(), 2);
    sandbox.stop().await.unwrap();
}

#[tokio::test]
async fn every_well_formed_version_up_to_today_is_taken_and_later_ones_are_not() {
    let sandbox = caisse_sandbox::start(fast_options(None, vec![]))
        .await
        .unwrap();
    let version = |v: &'static str| {
        let url = format!("{}/v1/events", sandbox.url());
        async move {
            let r = reqwest::Client::new()
                .get(url)
                .bearer_auth(KEY)
                .header("stripe-version", v)
                .send()
                .await
                .unwrap();
            let echoed = r
                .headers()
                .get("stripe-version")
                .map(|h| h.to_str().unwrap().to_string());
            (r.status().as_u16(), echoed)
        }
    };
    // The version stripe-node 23.2.0 pins, released after the sandbox was written.
    assert_eq!(
        version("2026-11-18.endive").await,
        (200, Some("2026-11-18.endive".to_string()))
    );
    assert_eq!(version("2017-08-15").await.0, 200);
    for bad in [
        "2026-02-30",
        "2026-13-01",
        "26-11-18",
        "2026-11-18.Endive",
        "latest",
    ] {
        assert_eq!(version(bad).await.0, 400, "{bad}");
    }
    // A version dated two days ahead is refused until the sandbox's clock reaches that day.
    let future: &'static str =
        Box::leak(dated_version(sandbox.now() + 2 * 86_400).into_boxed_str());
    assert_eq!(version(future).await.0, 400, "{future}");
    sandbox.advance_clock(3 * 86_400);
    assert_eq!(version(future).await.0, 200, "{future}");
    sandbox.stop().await.unwrap();
}

/// The `YYYY-MM-DD.future` version of the day `t` (unix seconds) falls on, in UTC.
fn dated_version(t: i64) -> String {
    let d = time::OffsetDateTime::from_unix_timestamp(t).unwrap().date();
    format!(
        "{:04}-{:02}-{:02}.future",
        d.year(),
        u8::from(d.month()),
        d.day()
    )
}
