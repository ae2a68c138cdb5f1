//! Refunds as objects and manual captures, driven by Stripe's official Python SDK
//! (`sdk/check_refunds_capture.py`): what each call answers, the events in Stripe's order, and
//! the `*.updated` webhooks with their `previous_attributes`.

use serde_json::json;

use crate::official_sdk::{run_sdk, venv};

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
        a["refund"],
        json!(["charge_not_refundable", "payment_intent", 400])
    );
    assert_eq!(
        a["too_much"],
        json!(["amount_too_large", "amount_to_capture", 400])
    );
    assert_eq!(
        a["final_capture"],
        json!(["parameter_not_emulated", "final_capture", 400])
    );

    let c = &s["captured"];
    assert_eq!(c["intent"], json!(["succeeded", 3000, 0]));
    assert_eq!(c["charge"], json!([true, 3000, 2000, false]));
    assert_eq!(c["again"][0], "payment_intent_unexpected_state");
    assert_eq!(c["cancel_after"][0], "payment_intent_unexpected_state");
    assert_eq!(c["refund"], 3000, "what was captured, and no more");
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
    assert_eq!(k["charge"], json!([false, 5000, true]));
    assert_eq!(k["again"][0], "payment_intent_unexpected_state");
    assert_eq!(
        k["bad_reason"],
        json!(["parameter_invalid_string", "cancellation_reason", 400])
    );
    assert_eq!(k["automatic"][0], "payment_intent_unexpected_state");
    assert_eq!(k["missing"], json!(["resource_missing", "intent", 404]));
    assert_eq!(
        k["events"],
        json!(["charge.refunded", "payment_intent.canceled"])
    );

    assert_eq!(s["dispute"], json!([[], true]));

    assert_eq!(
        s["expired"],
        json!({
            "statuses": ["requires_capture", "canceled", "automatic"],
            "charge": [false, true],
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
