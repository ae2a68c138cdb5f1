//! Refunds as objects and manual captures, driven by Stripe's official Python SDK
//! (`sdk/check_refunds_capture.py`): what each call answers, the events in Stripe's order, and
//! the `*.updated` webhooks with their `previous_attributes`; and a released authorization as
//! Stripe showed it before 2025-03-31.basil, over plain HTTP.

use caisse_sandbox::{Method, RunningSandbox};
use reqwest::Method as Http;
use serde_json::{json, Value};

use crate::official_sdk::{run_sdk, venv};
use crate::support::{fast_options, raw, session_params, KEY};

#[tokio::test(flavor = "multi_thread")]
async fn refunds_and_manual_captures_work_through_the_python_sdk() {
    let python = tokio::task::spawn_blocking(venv).await.unwrap();
    let (sandbox, s) = run_sdk(&python, "check_refunds_capture.py", &[]).await;

    let r = &s["refunds"];
    let ids = &r["ids"];
    let (first, second, other) = (&ids[0], &ids[1], &ids[2]);
    assert_eq!(
        r["retrieved"],
        json!([true, 1000, "succeeded", true, {"k": "v"}])
    );
    assert_eq!(r["by_intent"], json!([second, first]), "newest first");
    assert_eq!(r["by_charge"], json!([second, first]));
    assert_eq!(r["page"], json!([[second], true]));
    assert_eq!(r["after"], json!([first]));
    assert_eq!(r["before"], json!([second]));
    assert_eq!(r["future"], json!([]));
    let all: Vec<_> = r["all"].as_array().unwrap().iter().collect();
    assert_eq!(all[all.len() - 3..], [other, second, first]);
    assert_eq!(r["missing"], json!(["resource_missing", "refund", 404]));
    assert_eq!(
        r["bad_filter"],
        json!(["parameter_unknown", "customer", 400])
    );

    let u = &s["update"];
    assert_eq!(u["metadata"], json!({"note": "boxed"}));
    assert_eq!(u["kept"], json!({"note": "boxed"}));
    assert_eq!(u["on_charge"], json!([{"note": "boxed"}]));
    assert_eq!(u["previous"], json!({"metadata": {"k": "v", "note": null}}));
    assert_eq!(u["object"], true);
    assert_eq!(u["amount"], json!(["parameter_unknown", "amount", 400]));
    assert_eq!(u["missing"], json!(["resource_missing", "refund", 404]));

    assert_eq!(
        s["sepa"],
        json!({
            "statuses": ["succeeded", "pending", "pending", "succeeded"],
            "charge": "succeeded",
            "events": ["refund.created", "charge.refunded", "refund.updated", "charge.refund.updated"],
        })
    );

    let a = &s["authorized"];
    assert_eq!(
        a["types"],
        json!(["card"]),
        "SEPA debits cannot be captured later"
    );
    assert_eq!(
        a["sepa"],
        json!([null, "payment_intent_data[capture_method]", 400])
    );
    assert_eq!(a["session"], json!(["complete", "paid"]));
    assert_eq!(a["intent"], json!(["requires_capture", "manual", 5000, 0]));
    assert_eq!(a["charge"], json!(["succeeded", true, false, 0]));
    assert_eq!(
        a["three_d_secure"], "requires_capture",
        "once the challenge is completed"
    );
    assert_eq!(
        a["refund"],
        json!(["charge_not_refundable", "payment_intent", 400])
    );
    assert_eq!(
        a["too_much"],
        json!(["amount_too_large", "amount_to_capture", 400])
    );
    assert_eq!(
        a["too_little"],
        json!(["amount_too_small", "amount_to_capture", 400]),
        "below the euro's minimum charge"
    );
    assert_eq!(
        a["final_capture"],
        json!(["parameter_not_emulated", "final_capture", 400])
    );

    let c = &s["captured"];
    assert_eq!(c["intent"], json!(["succeeded", 3000, 0]));
    assert_eq!(
        c["charge"],
        json!([true, 3000, 0, false]),
        "since basil, the rest is released, not refunded"
    );
    assert_eq!(c["again"][0], "payment_intent_unexpected_state");
    assert_eq!(c["cancel_after"][0], "payment_intent_unexpected_state");
    assert_eq!(c["refund"], 3000, "what was captured, and no more");
    assert_eq!(c["refunded"], json!([3000, true]), "all that was captured");
    assert_eq!(c["refund_more"][0], "charge_already_refunded");
    assert_eq!(
        c["events"],
        json!([
            "payment_intent.created",
            "charge.succeeded",
            "payment_intent.amount_capturable_updated",
            "checkout.session.completed",
            "charge.captured",
            "payment_intent.succeeded",
            "refund.created",
            "charge.refunded",
        ])
    );

    let k = &s["canceled"];
    assert_eq!(
        k["intent"],
        json!(["canceled", "requested_by_customer", 0, 0])
    );
    assert_eq!(k["charge"], json!([false, 0, false]));
    assert_eq!(k["again"][0], "payment_intent_unexpected_state");
    assert_eq!(
        k["bad_reason"],
        json!(["parameter_invalid_string", "cancellation_reason", 400])
    );
    assert_eq!(k["automatic"][0], "payment_intent_unexpected_state");
    assert_eq!(k["missing"], json!(["resource_missing", "intent", 404]));
    assert_eq!(
        k["events"],
        json!(["checkout.session.completed", "payment_intent.canceled"]),
        "no charge.refunded since basil"
    );

    assert_eq!(s["dispute"], json!([[], true]));

    assert_eq!(
        s["expired"],
        json!({
            "statuses": ["requires_capture", "canceled", "expired"],
            "charge": [false, false],
            "events": ["charge.expired", "payment_intent.canceled"],
        })
    );

    assert_eq!(s["received"], true, "every event delivered and verified");
    let updates: Vec<serde_json::Value> = s["updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| serde_json::from_str(u.as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(
        updates,
        vec![
            json!(["charge.refund.updated", {"metadata": {"k": "v", "note": null}}]),
            json!(["charge.refund.updated", {"status": "pending"}]),
            json!(["refund.updated", {"metadata": {"k": "v", "note": null}}]),
            json!(["refund.updated", {"status": "pending"}]),
        ]
    );
    assert_eq!(s["others_have_none"], true);
    sandbox.stop().await.unwrap();
}

/// A session made with manual capture, paid with 4242: its PaymentIntent id.
async fn authorized(sandbox: &RunningSandbox) -> String {
    let body = format!(
        "{}&payment_intent_data[capture_method]=manual",
        session_params().encode()
    );
    let (status, session, _) = raw(
        sandbox,
        Http::POST,
        "/v1/checkout/sessions",
        Some(KEY),
        &body,
    )
    .await;
    assert_eq!(status, 200, "{session}");
    let id = session["id"].as_str().unwrap();
    match sandbox
        .pay(id, Method::Card("4242424242424242".into()))
        .unwrap()
    {
        caisse_sandbox::Outcome::Paid { payment_intent, .. } => payment_intent,
        other => panic!("{other:?}"),
    }
}

async fn post(sandbox: &RunningSandbox, path: &str, body: &str) -> Value {
    let (status, json, _) = raw(sandbox, Http::POST, path, Some(KEY), body).await;
    assert_eq!(status, 200, "{path}: {json}");
    json
}

async fn charge_of(sandbox: &RunningSandbox, pi: &str) -> Value {
    let path = format!("/v1/payment_intents/{pi}?expand[]=latest_charge");
    let (_, json, _) = raw(sandbox, Http::GET, &path, Some(KEY), "").await;
    let c = &json["latest_charge"];
    json!([c["amount_captured"], c["amount_refunded"], c["refunded"]])
}

#[tokio::test]
async fn before_basil_a_released_authorization_counts_as_refunded() {
    let mut options = fast_options(None, Vec::new());
    options.api_version = caisse_stripe::API_VERSION.into();
    let sandbox = caisse_sandbox::start(options).await.unwrap();

    let partial = authorized(&sandbox).await;
    let path = format!("/v1/payment_intents/{partial}/capture");
    let captured = post(&sandbox, &path, "amount_to_capture=1000").await;
    assert_eq!(captured["amount_received"], 1000);
    assert_eq!(
        charge_of(&sandbox, &partial).await,
        json!([1000, 2000, false])
    );

    let canceled = authorized(&sandbox).await;
    let path = format!("/v1/payment_intents/{canceled}/cancel");
    post(&sandbox, &path, "cancellation_reason=duplicate").await;
    assert_eq!(charge_of(&sandbox, &canceled).await, json!([0, 3000, true]));

    let expiring = authorized(&sandbox).await;
    sandbox.advance_clock(7 * 86_400);
    let path = format!("/v1/payment_intents/{expiring}");
    let (_, pi, _) = raw(&sandbox, Http::GET, &path, Some(KEY), "").await;
    assert_eq!(pi["cancellation_reason"], "automatic");
    assert_eq!(charge_of(&sandbox, &expiring).await, json!([0, 3000, true]));

    let about = |pi: &str| {
        sandbox
            .events()
            .iter()
            .filter(|e| {
                let o = &e["data"]["object"];
                o["id"] == pi || o["payment_intent"] == pi
            })
            .map(|e| e["type"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        about(&canceled)[4..],
        ["charge.refunded", "payment_intent.canceled"]
    );
    assert_eq!(
        about(&expiring)[4..],
        ["charge.expired", "payment_intent.canceled"]
    );
    sandbox.stop().await.unwrap();
}

/// A session paid with `method` (automatic capture): its PaymentIntent id once it succeeded.
async fn paid(sandbox: &RunningSandbox, method: Method) -> String {
    let body = session_params().encode();
    let session = post(sandbox, "/v1/checkout/sessions", &body).await;
    let id = session["id"].as_str().unwrap();
    let pi = match sandbox.pay(id, method).unwrap() {
        caisse_sandbox::Outcome::Paid { payment_intent, .. }
        | caisse_sandbox::Outcome::Processing { payment_intent, .. } => payment_intent,
        other => panic!("{other:?}"),
    };
    // A SEPA debit settles on the sandbox clock.
    sandbox.advance_clock(10);
    pi
}

#[tokio::test]
async fn a_pending_refund_can_fail_and_a_failed_one_cannot_fail_again() {
    let sandbox = caisse_sandbox::start(fast_options(None, Vec::new()))
        .await
        .unwrap();
    let pi = paid(&sandbox, Method::Iban("DE89370400440532013000".into())).await;
    let refund = post(&sandbox, "/v1/refunds", &format!("payment_intent={pi}")).await;
    assert_eq!(refund["status"], "pending");
    let id = refund["id"].as_str().unwrap();

    let fail = format!("/_sandbox/refunds/{id}/fail");
    let (status, failed, _) = raw(&sandbox, Http::POST, &fail, None, "").await;
    assert_eq!(status, 200, "{failed}");
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["failure_reason"], "expired_or_canceled_card");
    assert_eq!(charge_of(&sandbox, &pi).await, json!([3000, 0, false]));
    let types: Vec<_> = sandbox
        .events()
        .iter()
        .filter(|e| e["data"]["object"]["id"] == id)
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "refund.created",
            "refund.failed",
            "refund.updated",
            "charge.refund.updated"
        ]
    );

    // It no longer settles, and failing it again is a state error, not a missing refund.
    sandbox.advance_clock(10);
    let (_, got, _) = raw(
        &sandbox,
        Http::GET,
        &format!("/v1/refunds/{id}"),
        Some(KEY),
        "",
    )
    .await;
    assert_eq!(got["status"], "failed");
    let (status, again, _) = raw(&sandbox, Http::POST, &fail, None, "").await;
    assert_eq!(status, 400, "{again}");
    assert_eq!(again["error"]["type"], "invalid_request_error");
    let (status, _, _) = raw(
        &sandbox,
        Http::POST,
        "/_sandbox/refunds/re_missing/fail",
        None,
        "",
    )
    .await;
    assert_eq!(status, 404);
    sandbox.stop().await.unwrap();
}

#[tokio::test]
async fn three_decimal_captures_and_refunds_are_taken_in_tens() {
    let sandbox = caisse_sandbox::start(fast_options(None, Vec::new()))
        .await
        .unwrap();
    let body = session_params()
        .encode()
        .replace("currency%5D=eur", "currency%5D=kwd")
        .replace("currency]=eur", "currency]=kwd")
        + "&payment_intent_data[capture_method]=manual";
    let session = post(&sandbox, "/v1/checkout/sessions", &body).await;
    assert_eq!(session["currency"], "kwd");
    let pi = match sandbox
        .pay(
            session["id"].as_str().unwrap(),
            Method::Card("4242424242424242".into()),
        )
        .unwrap()
    {
        caisse_sandbox::Outcome::Paid { payment_intent, .. } => payment_intent,
        other => panic!("{other:?}"),
    };
    let refused = |path: String, body: String, param: &'static str| {
        let sandbox = &sandbox;
        async move {
            let (status, e, _) = raw(sandbox, Http::POST, &path, Some(KEY), &body).await;
            assert_eq!(status, 400, "{e}");
            assert_eq!(e["error"]["code"], "invalid_charge_amount");
            assert_eq!(e["error"]["param"], param);
        }
    };
    let capture = format!("/v1/payment_intents/{pi}/capture");
    refused(
        capture.clone(),
        "amount_to_capture=1005".into(),
        "amount_to_capture",
    )
    .await;
    let captured = post(&sandbox, &capture, "amount_to_capture=1000").await;
    assert_eq!(captured["amount_received"], 1000);
    let refund = format!("payment_intent={pi}&amount=55");
    refused("/v1/refunds".into(), refund, "amount").await;
    let refunded = post(
        &sandbox,
        "/v1/refunds",
        &format!("payment_intent={pi}&amount=50"),
    )
    .await;
    assert_eq!(refunded["amount"], 50);
    sandbox.stop().await.unwrap();
}

#[tokio::test]
async fn a_disputed_charge_says_so_and_is_not_refunded() {
    let sandbox = caisse_sandbox::start(fast_options(None, Vec::new()))
        .await
        .unwrap();
    let pi = paid(&sandbox, Method::Card("4000000000000259".into())).await;
    let (_, intent, _) = raw(
        &sandbox,
        Http::GET,
        &format!("/v1/payment_intents/{pi}"),
        Some(KEY),
        "",
    )
    .await;
    let charge = intent["latest_charge"].as_str().unwrap();
    let path = format!("/v1/charges/{charge}");
    let (status, got, _) = raw(&sandbox, Http::GET, &path, Some(KEY), "").await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["disputed"], true);

    let body = format!("payment_intent={pi}&amount=100");
    let (status, e, _) = raw(&sandbox, Http::POST, "/v1/refunds", Some(KEY), &body).await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["error"]["type"], "invalid_request_error");
    assert_eq!(e["error"]["code"], "charge_disputed");
    assert_eq!(charge_of(&sandbox, &pi).await, json!([3000, 0, false]));

    let undisputed = paid(&sandbox, Method::Card("4242424242424242".into())).await;
    let path = format!("/v1/payment_intents/{undisputed}?expand[]=latest_charge");
    let (_, intent, _) = raw(&sandbox, Http::GET, &path, Some(KEY), "").await;
    assert_eq!(intent["latest_charge"]["disputed"], false);
    sandbox.stop().await.unwrap();
}

#[tokio::test]
async fn a_charge_expands_and_pages_its_refunds() {
    let sandbox = caisse_sandbox::start(fast_options(None, Vec::new()))
        .await
        .unwrap();
    let pi = paid(&sandbox, Method::Card("4242424242424242".into())).await;
    let other = paid(&sandbox, Method::Card("4242424242424242".into())).await;
    let mut refunds = Vec::new();
    for amount in [100, 200, 300] {
        let body = format!("payment_intent={pi}&amount={amount}");
        refunds.push(post(&sandbox, "/v1/refunds", &body).await["id"].clone());
    }
    post(&sandbox, "/v1/refunds", &format!("payment_intent={other}")).await;
    let get = |path: String| {
        let sandbox = &sandbox;
        async move { raw(sandbox, Http::GET, &path, Some(KEY), "").await }
    };
    let (_, intent, _) = get(format!("/v1/payment_intents/{pi}")).await;
    let charge = intent["latest_charge"].as_str().unwrap();

    let (status, expanded, _) = get(format!("/v1/charges/{charge}?expand[]=refunds")).await;
    assert_eq!(status, 200, "{expanded}");
    assert_eq!(expanded["refunds"]["total_count"], 3);
    let url = format!("/v1/charges/{charge}/refunds");
    assert_eq!(expanded["refunds"]["url"], url.as_str());
    let (status, listed, _) = get(format!(
        "/v1/charges?payment_intent={pi}&expand[]=data.refunds"
    ))
    .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["data"][0]["refunds"]["data"][0]["id"], refunds[2]);

    let (status, first, _) = get(format!("{url}?limit=2")).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["data"][0]["id"], refunds[2], "newest first");
    assert_eq!(first["data"][1]["id"], refunds[1]);
    assert_eq!(first["has_more"], true);
    assert_eq!(first["url"], url.as_str());
    let after = refunds[1].as_str().unwrap();
    let (_, rest, _) = get(format!("{url}?starting_after={after}")).await;
    let ids: Vec<_> = rest["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert_eq!(ids, [&refunds[0]], "only this charge's refunds");
    assert_eq!(rest["has_more"], false);

    let (status, e, _) = get("/v1/charges/ch_missing/refunds".into()).await;
    assert_eq!(status, 404, "{e}");
    assert_eq!(e["error"]["code"], "resource_missing");
    let (status, e, _) = get(format!("{url}?charge=x")).await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["error"]["code"], "parameter_unknown");
    sandbox.stop().await.unwrap();
}
