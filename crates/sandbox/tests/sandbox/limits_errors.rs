//! Issue 24's methods, payment errors, 3-D Secure and limits through Stripe's official Python SDK
//! (`sdk/check_limits_errors.py`): prices and products listed and retrieved, a session's metadata
//! updated, `last_payment_error` as Stripe gives it, 3-D Secure on the hosted page, 100 line
//! items, three-decimal currencies and the opt-in test-mode rate limit.

use std::path::Path;

use serde_json::{json, Value};

use crate::official_sdk::{run_sdk, venv};
use crate::support::fast_options;

#[tokio::test(flavor = "multi_thread")]
async fn methods_errors_3ds_and_limits_as_the_python_sdk_sees_them() {
    let python = tokio::task::spawn_blocking(venv).await.unwrap();
    let limited = caisse_sandbox::start(caisse_sandbox::SandboxOptions {
        rate_limit: true,
        ..fast_options(None, Vec::new())
    })
    .await
    .unwrap();
    let (sandbox, s) = run_sdk(
        &python,
        "check_limits_errors.py",
        &[("RATE_LIMITED_API_BASE", Path::new(limited.url()))],
    )
    .await;

    // 3. Products and prices: newest first, filtered, paged, retrieved, expanded.
    let p = &s["products"];
    let [cap, old, mug] = [0, 1, 2].map(|i| p["ids"][i].clone());
    assert_eq!(p["retrieved"], json!(["Mug", "m1"]));
    assert_eq!(p["inactive"], json!([old]));
    assert_eq!(p["active"], json!([cap, mug]));
    assert_eq!(p["by_ids"], json!([cap, mug]));
    assert_eq!(p["first_page"], json!([[cap, old], true]));
    assert_eq!(p["after"], json!([mug]));
    assert_eq!(p["before"], json!([cap, old]));
    assert_eq!(p["every"], p["ids"], "auto-pagination, one a page");
    assert_eq!(p["future"], json!([]));
    assert_eq!(
        refusal(&p["missing"]),
        ("resource_missing", 404, "id".into())
    );
    assert_eq!(
        refusal(&p["shippable"]),
        ("parameter_not_emulated", 400, "shippable".into())
    );
    let pr = &s["prices"];
    let [kwd, usd, std] = [0, 1, 2].map(|i| pr["ids"][i].clone());
    assert_eq!(pr["of_mug"], json!([usd, std]));
    assert_eq!(pr["active_of_mug"], json!([std]));
    assert_eq!(pr["kwd"], json!([kwd]));
    assert_eq!(pr["lookup"], json!([std]));
    assert_eq!(pr["one_time"], pr["ids"]);
    assert_eq!(
        pr["recurring"],
        json!([]),
        "the sandbox makes no recurring prices"
    );
    assert_eq!(pr["expanded"], json!(["Mug", "Mug"]));
    assert_eq!(pr["retrieved"], "Mug");
    assert_eq!(pr["page"], json!([[usd], true]));
    assert_eq!(
        refusal(&pr["by_interval"]),
        ("parameter_not_emulated", 400, "recurring[interval]".into())
    );
    assert_eq!(
        refusal(&pr["bad_type"]),
        ("parameter_invalid_string", 400, "type".into())
    );
    assert!(pr["bad_expand"]["message"]
        .as_str()
        .unwrap()
        .contains("cannot be expanded (data.tiers)"));

    // 3. A session's metadata, set and removed key by key, also once expired; nothing else.
    let u = &s["session_update"];
    assert_eq!(u["answer"], json!({"hold_id": "h1", "order": "7"}));
    assert_eq!(u["retrieved"], u["answer"]);
    assert_eq!(u["expired"], json!({"k": "v"}));
    assert_eq!(
        refusal(&u["shipping_options"]),
        (
            "parameter_not_emulated",
            400,
            "shipping_options[0][shipping_rate]".into()
        )
    );
    assert_eq!(
        refusal(&u["unknown"]),
        ("parameter_unknown", 400, "success_url".into())
    );
    assert_eq!(
        refusal(&u["missing"]),
        ("resource_missing", 404, "session".into())
    );

    // 4. last_payment_error as Stripe gives it.
    let d = &s["declined"];
    assert_eq!(
        [
            &d["type"],
            &d["code"],
            &d["decline_code"],
            &d["doc_url"],
            &d["message"]
        ],
        [
            "card_error",
            "card_declined",
            "generic_decline",
            "https://stripe.com/docs/error-codes/card-declined",
            "Your card was declined."
        ]
    );
    assert_eq!(d["charge_is_latest"], true);
    assert_eq!(d["charge_status"], "failed");
    assert_eq!(
        d["pm"],
        json!([
            null,
            true,
            "payment_method",
            "card",
            "visa",
            "0002",
            "credit",
            "ann@example.com"
        ])
    );
    let mut pm_keys = caisse_sandbox::shapes::keys("payment_method");
    pm_keys.sort();
    assert_eq!(d["pm_keys"], json!(pm_keys));
    assert_eq!(
        d["keys"],
        json!([
            "charge",
            "code",
            "decline_code",
            "doc_url",
            "message",
            "payment_method",
            "type"
        ])
    );
    assert_eq!(s["same_card_same_fingerprint"], true);
    assert_eq!(
        s["insufficient_funds"],
        json!(["card_declined", "insufficient_funds"])
    );
    for code in ["expired_card", "processing_error"] {
        assert_eq!(
            s[code],
            json!([
                code,
                format!(
                    "https://stripe.com/docs/error-codes/{}",
                    code.replace('_', "-")
                ),
                code,
                code,
                code
            ]),
            "error code, doc_url, decline_code, the control call's, the charge's failure_code"
        );
    }
    assert_eq!(
        s["authentication_failed"],
        json!([
            "invalid_request_error",
            "payment_intent_authentication_failure",
            false,
            "DE",
            "https://stripe.com/docs/error-codes/payment-intent-authentication-failure"
        ]),
        "no charge was made"
    );
    assert_eq!(
        s["sepa_failed"],
        json!(["requires_payment_method", "sepa_debit", "3001", true])
    );

    // 6. 3-D Secure on the hosted page and through the control API.
    let h = &s["hosted_3ds"];
    assert_eq!(h["submitted"], json!([303, true]));
    assert_eq!(
        h["waiting"],
        json!(["open", "requires_action", "redirect_to_url", true])
    );
    assert_eq!(h["challenge"], json!([true, true]));
    assert_eq!(
        h["failed"],
        json!([
            200,
            true,
            "requires_payment_method",
            "payment_intent_authentication_failure"
        ])
    );
    assert_eq!(h["again"], "requires_action");
    assert_eq!(
        h["done"],
        json!([
            303,
            "https://shop.test/ok",
            "complete",
            "paid",
            "succeeded",
            true,
            true
        ])
    );
    assert_eq!(
        s["control_3ds"],
        json!({"outcome": "requires_action", "on_session": true, "status": "requires_action",
               "completed": "paid", "after": "succeeded"})
    );

    // 7. Limits.
    assert_eq!(s["line_items"]["hundred"], 120_000);
    assert_eq!(
        refusal(&s["line_items"]["too_many"]),
        ("", 400, "line_items".into())
    );
    assert_eq!(
        refusal(&s["line_items"]["inactive_price"]),
        ("", 400, "line_items[1][price]".into())
    );
    assert_eq!(
        s["line_items"]["inactive_price"]["type"],
        "invalid_request_error"
    );
    assert_eq!(
        refusal(&s["line_items"]["inactive_product"]),
        ("", 400, "line_items[0][price]".into())
    );
    for currency in ["bhd", "jod", "kwd", "omr", "tnd"] {
        let [accepted, refused] = [0, 1].map(|i| s["three_decimal"][currency][i].clone());
        assert_eq!(accepted, 10_240, "{currency}");
        assert_eq!(
            refusal(&refused),
            (
                "invalid_charge_amount",
                400,
                "line_items[0][price_data][unit_amount]".into()
            ),
            "{currency}"
        );
    }
    assert_eq!(
        refusal(&s["three_decimal_price"]),
        ("invalid_charge_amount", 400, "unit_amount".into())
    );
    assert_eq!(
        refusal(&s["kwd_shipping"]),
        (
            "invalid_charge_amount",
            400,
            "shipping_options[0][shipping_rate_data][fixed_amount][amount]".into()
        )
    );
    assert_eq!(s["two_decimal_odd"], 10_250);

    // 7. The rate limit: off by default; when on, 25 reads a second, writes counted apart.
    assert_eq!(s["unlimited"], json!([40, []]));
    let r = &s["rate_limit"];
    assert_eq!(
        r["first"],
        json!({"class": "RateLimitError", "code": null, "error_code": "rate_limit", "http_status": 429,
               "type": "invalid_request_error", "param": null,
               "message": "Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits."})
    );
    if r["within_a_second"] == true {
        assert_eq!([&r["ok"], &r["limited"]], [25, 15]);
    } else {
        assert!(r["limited"].as_u64().unwrap() > 0, "{r}");
    }
    assert_eq!(r["write_meanwhile"], Value::Null);
    assert_eq!(r["read_after_a_second"], Value::Null);
    assert!(r["writes"][1].as_u64().unwrap() > 0, "{r}");
    sandbox.stop().await.unwrap();
    limited.stop().await.unwrap();
}

/// A refusal's code (`""` for none), status and param.
fn refusal(e: &Value) -> (&str, u64, String) {
    (
        e["error_code"].as_str().unwrap_or_default(),
        e["http_status"].as_u64().unwrap_or_default(),
        e["param"].as_str().unwrap_or_default().to_string(),
    )
}
