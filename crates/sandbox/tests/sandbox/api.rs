//! The /v1 API as a Stripe client meets it: shapes, validation, errors, idempotency, lists.

use caisse_stripe::client::EventsQuery;
use caisse_stripe::{Form, StripeError};
use reqwest::Method;

use crate::support::{client, raw, session_params, with_receiver, KEY};

#[tokio::test]
async fn a_session_has_stripes_shape() {
    let (sandbox, _) = with_receiver().await;
    let stripe = client(&sandbox);
    let session = stripe
        .create_checkout_session(&session_params(), "k1")
        .await
        .unwrap();
    assert!(session.id.starts_with("cs_test_"));
    assert_eq!(
        (session.status.as_deref(), session.payment_status.as_deref()),
        (Some("open"), Some("unpaid"))
    );
    assert_eq!(
        session.payment_intent, None,
        "created on confirmation since 2022-08-01"
    );
    assert_eq!(
        (session.amount_total, session.currency.as_deref()),
        (Some(3000), Some("eur"))
    );
    assert_eq!(session.metadata["hold_id"], "hold_1");
    assert_eq!(session.client_reference_id.as_deref(), Some("hold_1"));
    assert_eq!(
        session.url.as_deref(),
        Some(format!("{}/c/pay/{}", sandbox.url(), session.id).as_str())
    );
    let expires = session.expires_at.unwrap();
    assert!(
        (expires - sandbox.now() - 86_400).abs() <= 2,
        "default expiry is 24 h"
    );
    assert_eq!(
        stripe.retrieve_checkout_session(&session.id).await.unwrap(),
        session
    );
}

#[tokio::test]
async fn the_api_key_is_required_and_must_be_a_test_key() {
    let (sandbox, _) = with_receiver().await;
    let (status, body, headers) = raw(&sandbox, Method::GET, "/v1/events", None, "").await;
    assert_eq!(status, 401);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("did not provide an API key"));
    assert!(headers.get("request-id").is_some());
    let (status, body, _) = raw(
        &sandbox,
        Method::GET,
        "/v1/events",
        Some("sk_live_abc_defghijklmnop_qrstuvwxyz"),
        "",
    )
    .await;
    assert_eq!(status, 401);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Invalid API Key provided: sk_live_")
            && !message.contains("defghijklmnop"),
        "{message}"
    );
}

#[tokio::test]
async fn validation_errors_are_stripes() {
    let (sandbox, _) = with_receiver().await;
    let stripe = client(&sandbox);
    let cases: Vec<(Form, u16, Option<&str>, Option<&str>)> = vec![
        (
            session_params_without("success_url"),
            400,
            Some("parameter_missing"),
            Some("success_url"),
        ),
        (
            session_params_without("line_items"),
            400,
            Some("parameter_missing"),
            Some("line_items"),
        ),
        (
            Form::new()
                .with("mode", "payment")
                .with("success_url", "https://x.test/")
                .with("line_items[0][price]", "price_nope")
                .with("line_items[0][quantity]", 1),
            400,
            Some("resource_missing"),
            Some("line_items[0][price]"),
        ),
        (
            session_params().with("expires_at", sandbox.now() + 60),
            400,
            None,
            Some("expires_at"),
        ),
        (
            session_params().with("expires_at", sandbox.now() + 90_000),
            400,
            None,
            Some("expires_at"),
        ),
        (
            session_params().with("line_items[0][quantity]", "zero"),
            400,
            Some("parameter_invalid_integer"),
            Some("line_items[0][quantity]"),
        ),
    ];
    for (i, (form, status, code, param)) in cases.into_iter().enumerate() {
        match stripe
            .create_checkout_session(&form, &format!("validation-{i}"))
            .await
        {
            Err(StripeError::Api {
                status: s,
                kind,
                code: c,
                param: p,
                ..
            }) => {
                assert_eq!(
                    (s, kind.as_str(), c.as_deref(), p.as_deref()),
                    (status, "invalid_request_error", code, param),
                    "case {i}"
                );
            }
            other => panic!("case {i}: {other:?}"),
        }
    }
    let err = stripe
        .retrieve_checkout_session("cs_test_nope")
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(404), Some("resource_missing"))
    );
}

fn session_params_without(key: &str) -> Form {
    let mut form = Form::new();
    for (k, v) in session_params().pairs() {
        if !k.starts_with(key) {
            form.push(k.clone(), v);
        }
    }
    form
}

#[tokio::test]
async fn idempotency_keys_replay_and_refuse_other_parameters() {
    let (sandbox, _) = with_receiver().await;
    let body = session_params().encode();
    let post = |key: &'static str, body: String| {
        let url = format!("{}/v1/checkout/sessions", sandbox.url());
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(KEY)
                .header("idempotency-key", key)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let first = post("same", body.clone()).await;
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: serde_json::Value = first.json().await.unwrap();
    let again = post("same", body.clone()).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<serde_json::Value>().await.unwrap(), first);

    let other = post(
        "same",
        session_params().with("client_reference_id", "x").encode(),
    )
    .await;
    assert_eq!(other.status(), 400);
    let other: serde_json::Value = other.json().await.unwrap();
    assert_eq!(other["error"]["type"], "idempotency_error");

    // The first answer is replayed even when it was an error.
    let bad = post("bad", "mode=payment".into())
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let bad_again = post("bad", "mode=payment".into())
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(bad, bad_again);
    assert_eq!(
        client(&sandbox)
            .list_events(&EventsQuery::default())
            .await
            .unwrap()
            .data
            .len(),
        0
    );
}

#[tokio::test]
async fn expire_works_only_on_open_sessions() {
    let (sandbox, receiver) = with_receiver().await;
    let stripe = client(&sandbox);
    let session = stripe
        .create_checkout_session(&session_params(), "e1")
        .await
        .unwrap();
    let expired = stripe
        .expire_checkout_session(&session.id, "e2")
        .await
        .unwrap();
    assert!(expired.is_expired());
    assert_eq!(expired.url, None);
    let err = stripe
        .expire_checkout_session(&session.id, "e3")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(receiver.wait_for(1).await, vec!["checkout.session.expired"]);
}

#[tokio::test]
async fn prices_products_refunds_and_lists() {
    let (sandbox, _) = with_receiver().await;
    let stripe = client(&sandbox);
    let product = stripe.create_product("Poster", "p1").await.unwrap();
    let price = stripe
        .create_price(&product.id, 4800, "eur", "p2")
        .await
        .unwrap();
    let form = Form::new()
        .with("mode", "payment")
        .with("success_url", "https://x.test/ok")
        .with("line_items[0][price]", &price.id)
        .with("line_items[0][quantity]", 1)
        .with("payment_intent_data[metadata][hold_id]", "hold_9");
    let session = stripe.create_checkout_session(&form, "p3").await.unwrap();
    assert_eq!(session.amount_total, Some(4800));
    sandbox
        .pay(
            &session.id,
            caisse_sandbox::Method::Card("4242424242424242".into()),
        )
        .unwrap();
    let session = stripe.retrieve_checkout_session(&session.id).await.unwrap();
    let pi_id = session.payment_intent.clone().unwrap();
    let pi = stripe.retrieve_payment_intent(&pi_id).await.unwrap();
    assert_eq!(
        (
            pi.status.as_str(),
            pi.amount,
            pi.metadata["hold_id"].as_str()
        ),
        ("succeeded", 4800, "hold_9")
    );

    let listed: caisse_stripe::objects::List<caisse_stripe::objects::CheckoutSession> = stripe
        .get(
            "/v1/checkout/sessions",
            &caisse_stripe::Form::new().with("payment_intent", &pi_id),
        )
        .await
        .unwrap();
    assert_eq!(
        listed.data.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        vec![session.id.clone()]
    );

    let refund = stripe
        .create_refund(&pi_id, Some(800), None, "r1")
        .await
        .unwrap();
    assert_eq!(
        (refund.amount, refund.payment_intent.as_deref()),
        (800, Some(pi_id.as_str()))
    );
    let too_much = stripe
        .create_refund(&pi_id, Some(4001), None, "r2")
        .await
        .unwrap_err();
    assert_eq!(too_much.code(), Some("amount_too_large"));

    // Events: newest first, filtered by type and time, paged with cursors.
    let all = stripe
        .list_all_events(&EventsQuery {
            limit: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    let types: Vec<&str> = all.iter().map(|e| e.event.kind.as_str()).collect();
    assert_eq!(
        types,
        vec![
            "charge.refunded",
            "refund.created",
            "checkout.session.completed",
            "payment_intent.succeeded",
            "charge.succeeded",
            "payment_intent.created"
        ]
    );
    let only = stripe
        .list_events(&EventsQuery {
            types: vec!["payment_intent.succeeded".into()],
            created_gte: Some(sandbox.now() - 60),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(only.data.len(), 1);
    let none = stripe
        .list_events(&EventsQuery {
            created_gte: Some(sandbox.now() + 60),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.data.is_empty());
}

#[tokio::test]
async fn injected_faults_answer_stripes_api_error() {
    let (sandbox, _) = with_receiver().await;
    sandbox.fail_next(1, 500);
    let (status, body, _) = raw(&sandbox, Method::GET, "/v1/events", Some(KEY), "").await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (500, Some("api_error"))
    );
    let (status, _, _) = raw(&sandbox, Method::GET, "/v1/events", Some(KEY), "").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn unknown_methods_get_stripes_404_not_an_empty_405() {
    let (sandbox, _receiver) = with_receiver().await;
    let (status, body, _) = raw(
        &sandbox,
        Method::DELETE,
        "/v1/checkout/sessions",
        Some(KEY),
        "",
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Unrecognized request URL (DELETE: /v1/checkout/sessions)"),
        "{body}"
    );
}

#[tokio::test]
async fn a_refused_request_saves_nothing_under_its_key_and_replays_name_the_original() {
    let (sandbox, _receiver) = with_receiver().await;
    let idempotent = |body: &'static str| {
        let url = format!("{}/v1/products", sandbox.url());
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .bearer_auth(KEY)
                .header("idempotency-key", "k-400")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            let headers = r.headers().clone();
            (
                r.status().as_u16(),
                headers,
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    // Missing its name: refused before executing, so nothing is saved under the key.
    let (status, _, _) = idempotent("").await;
    assert_eq!(status, 400);
    let (status, first, body) = idempotent("name=Mug").await;
    assert_eq!(status, 200, "the corrected retry goes through: {body}");
    let (status, replay, again) = idempotent("name=Mug").await;
    assert_eq!((status, again["id"].clone()), (200, body["id"].clone()));
    assert_eq!(replay["idempotent-replayed"], "true");
    assert_eq!(replay["original-request"], first["request-id"]);
}

#[tokio::test]
async fn a_fault_after_execution_loses_the_answer_not_the_request() {
    let (sandbox, _receiver) = with_receiver().await;
    let http = reqwest::Client::new();
    let faults = |body: serde_json::Value| {
        http.post(format!("{}/_sandbox/faults", sandbox.url()))
            .json(&body)
            .send()
    };
    assert_eq!(
        faults(serde_json::json!({"fail_next": 1, "status": 502, "after_execution": true}))
            .await
            .unwrap()
            .status(),
        204
    );
    let create = || async {
        http.post(format!("{}/v1/checkout/sessions", sandbox.url()))
            .bearer_auth(KEY)
            .header("idempotency-key", "lost-answer")
            .form(&session_params().pairs())
            .send()
            .await
            .unwrap()
    };
    let lost = create().await;
    assert_eq!(lost.status(), 502);
    // The session was made all the same; the retry with the same key is its saved answer.
    let (_, listed, _) = raw(
        &sandbox,
        Method::GET,
        "/v1/checkout/sessions",
        Some(KEY),
        "",
    )
    .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
    let retried = create().await;
    assert_eq!(retried.status(), 200);
    assert_eq!(retried.headers()["idempotent-replayed"], "true");
    let retried: serde_json::Value = retried.json().await.unwrap();
    assert_eq!(retried["id"], listed["data"][0]["id"]);
}

#[tokio::test]
async fn hostile_input_gets_stripe_s_error_shape() {
    let (sandbox, _receiver) = with_receiver().await;
    // A key is echoed without repeating a character, and an empty test key is no key.
    for (key, shown) in [("sk_live_abc", "sk_li******"), ("garbage", "gar****")] {
        let (status, body, _) = raw(&sandbox, Method::GET, "/v1/events", Some(key), "").await;
        assert_eq!(status, 401);
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!(": {shown}.")), "{message}");
    }
    let (status, _, _) = raw(&sandbox, Method::GET, "/v1/events", Some("sk_test_"), "").await;
    assert_eq!(status, 401);
    // A body over the limit is too large, not "not UTF-8".
    let huge = format!("name={}", "x".repeat(3 * 1024 * 1024));
    let (status, _, _) = raw(&sandbox, Method::POST, "/v1/products", Some(KEY), &huge).await;
    assert_eq!(status, 413);
    // The control API answers bad JSON in Stripe's shape, and bounds its inputs.
    let http = reqwest::Client::new();
    for (path, body) in [
        ("/_sandbox/clock/advance", "{not json"),
        (
            "/_sandbox/clock/advance",
            r#"{"seconds": 4611686018427387904}"#,
        ),
        ("/_sandbox/webhook", r#"{"url": "notaurl"}"#),
    ] {
        let r = http
            .post(format!("{}{path}", sandbox.url()))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path} {body}");
        let json: serde_json::Value = r.json().await.unwrap();
        assert_eq!(json["error"]["type"], "invalid_request_error", "{json}");
    }
}
