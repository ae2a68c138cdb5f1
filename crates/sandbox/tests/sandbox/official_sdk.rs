//! Stripe's official Python SDK, installed from PyPI into a throwaway virtual environment, and its
//! Node SDK, installed from npm, pointed at a running sandbox: if the sandbox's shapes, encoding,
//! errors or signatures drift from Stripe's, this is where it shows.

use std::path::{Path, PathBuf};
use std::process::Command;

use caisse_sandbox::RunningSandbox;
use serde_json::Value;

use crate::support::{fast_options, KEY, SECRET};

/// The SDK version the sandbox is checked against.
const STRIPE_PYTHON: &str = "stripe==16.1.0";

pub(crate) fn venv() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("stripe-python-16.1.0");
    let python = dir.join("bin/python");
    // Written only after a complete install, so a half-made environment is made again.
    let done = dir.join("installed.ok");
    // One maker at a time: on a fresh machine the SDK tests start together, and each would
    // remove the environment the other is making (seen on a new CI machine: ensurepip failed).
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _making = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    if !done.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&dir)
            .status()
            .expect("python3 is needed for the SDK test");
        assert!(ok.success(), "python3 -m venv failed");
        let ok = Command::new(dir.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                STRIPE_PYTHON,
            ])
            .status()
            .expect("pip");
        assert!(ok.success(), "pip install {STRIPE_PYTHON} failed");
        std::fs::write(&done, STRIPE_PYTHON).expect("mark the environment complete");
    }
    python
}

/// Runs an SDK script (`program script API_BASE KEY SECRET RECEIVER_PORT`) against a fresh
/// sandbox delivering to the script's own receiver; the JSON summary it prints last.
pub(crate) async fn run_sdk(
    program: &Path,
    script: &str,
    env: &[(&str, &Path)],
) -> (RunningSandbox, Value) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = fast_options(
        Some(format!("http://127.0.0.1:{port}/hook")),
        vec![SECRET.into()],
    );
    let sandbox = caisse_sandbox::start(options).await.unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sandbox/sdk")
        .join(script);
    let out = tokio::process::Command::new(program)
        .arg(&script)
        .args([sandbox.url(), KEY, SECRET, &port.to_string()])
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed:\n{stdout}\n{stderr}",
        script.display()
    );
    let summary = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));
    (sandbox, summary)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_python_sdk_works_unchanged() {
    let python = tokio::task::spawn_blocking(venv).await.unwrap();
    let (sandbox, s) = run_sdk(&python, "check_sdk.py", &[]).await;

    assert_eq!(s["price_data_session"]["amount_total"], 5000);
    assert_eq!(s["price_data_session"]["status"], "open");
    assert_eq!(s["price_data_session"]["hold_id"], "hold_sdk");
    assert!(s["price_data_session"]["url"]
        .as_str()
        .unwrap()
        .starts_with(sandbox.url()));
    assert_eq!(
        s["price_session"],
        serde_json::json!({"amount_total": 4800, "currency": "eur"})
    );
    assert_eq!(s["expired_status"], "expired");
    assert_eq!(s["error"]["code"], "resource_missing");
    assert_eq!(s["error"]["param"], "line_items[0][price]");
    assert_eq!(s["error"]["http_status"], 400);
    assert_eq!(
        s["paid"],
        serde_json::json!({"status": "complete", "payment_status": "paid"})
    );
    assert_eq!(
        s["payment_intent"],
        serde_json::json!({"status": "succeeded", "amount": 5000, "hold_id": "hold_sdk"})
    );
    assert_eq!(
        s["sessions_for_intent"],
        serde_json::json!([s["price_data_session"]["id"]])
    );
    assert_eq!(
        s["refund"],
        serde_json::json!({"amount": 1000, "status": "succeeded"})
    );
    let listed: Vec<&str> = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        vec![
            "charge.refunded",
            "refund.created",
            "checkout.session.completed",
            "payment_intent.succeeded",
            "charge.succeeded",
            "payment_intent.created",
            "checkout.session.expired"
        ]
    );
    let mut expected: Vec<&str> = listed.clone();
    expected.sort();
    assert_eq!(
        s["received"],
        serde_json::json!(expected),
        "every webhook verified by construct_event"
    );
    assert_eq!(s["rejected"], serde_json::json!([]));
    assert_eq!(s["undelivered_events"], serde_json::json!([]));
    assert_eq!(s["delivered_events"], 7);

    // Parameters Stripe does not know are refused by name; those the sandbox does not emulate too.
    let refused = &s["refused"];
    for (check, code, param) in [
        ("unknown", "parameter_unknown", "sucess_url"),
        (
            "unknown_nested",
            "parameter_unknown",
            "line_items[0][quantiy]",
        ),
        (
            "future_usage",
            "parameter_not_emulated",
            "payment_intent_data[setup_future_usage]",
        ),
        ("ideal", "parameter_not_emulated", "payment_method_types[0]"),
        ("customer", "parameter_not_emulated", "customer"),
        ("unknown_filter", "parameter_unknown", "colour"),
        ("typo_with_key", "parameter_unknown", "sucess_url"),
    ] {
        assert_eq!(refused[check]["code"], code, "{check}: {refused}");
        assert_eq!(refused[check]["param"], param, "{check}: {refused}");
        assert_eq!(refused[check]["http_status"], 400, "{check}");
    }
    assert!(refused["bad_expand"]["message"]
        .as_str()
        .unwrap()
        .contains("cannot be expanded (customer)"));
    assert_eq!(refused["corrected_with_key"], "open");

    assert_eq!(
        s["expanded"],
        serde_json::json!({
            "payment_intent_status": "succeeded",
            "nested_charge": "charge",
            "line_item_quantity": 2,
            "latest_charge": ["charge", 1000],
            "listed_payment_intent": s["payment_intent_id"],
        })
    );
    let f = &s["filters"];
    let paid_session = &s["price_data_session"]["id"];
    assert_eq!(f["complete"], serde_json::json!([paid_session]));
    assert_eq!(f["expired"], serde_json::json!([s["expired_id"]]));
    assert_eq!(f["customer"], serde_json::json!([]));
    assert_eq!(f["future"], serde_json::json!([]));
    let every = f["before"][2].as_array().unwrap();
    assert!(every.len() >= 3, "{f}");
    assert_eq!(f["before"][0], serde_json::json!([every[every.len() - 2]]));
    assert_eq!(f["before"][1], serde_json::json!(every.len() > 2));

    // Charges: the one that took the money, retrievable and listed by PaymentIntent.
    let c = &s["charges"];
    assert_eq!(c["for_intent"], serde_json::json!([c["latest"]]));
    assert_eq!(c["status"], "succeeded");
    assert_eq!(c["amount_refunded"], 1000);
    assert_eq!(c["refund_charge"], c["latest"]);
    assert_eq!(c["payment_method"], true);
    assert_eq!(
        s["events_meta"]["api_version"],
        caisse_sandbox::SDK_API_VERSION
    );
    assert_eq!(s["events_meta"]["pending_webhooks"], 0, "delivered");
    assert_eq!(s["events_meta"]["customer_details_open"], Value::Null);

    // Every object has every key of Stripe's own example object.
    for kind in caisse_sandbox::shapes::KINDS {
        let mut want = caisse_sandbox::shapes::keys(kind);
        want.sort();
        assert_eq!(s["shapes"][kind], serde_json::json!(want), "{kind}");
    }
    assert_eq!(
        s["three_d_secure"],
        serde_json::json!({
            "first": "requires_action", "status": "requires_action", "next_action": "redirect_to_url",
            "failed": "payment_intent_authentication_failure", "after_fail": "requires_payment_method",
            "after_fail_error": "payment_intent_authentication_failure", "done": "paid",
            "session": ["complete", "paid", "ann@example.com"],
            "events": ["payment_intent.succeeded", "payment_intent.requires_action",
                       "payment_intent.payment_failed", "payment_intent.requires_action", "payment_intent.created"],
        })
    );
    assert_eq!(s["customer_details_open"], Value::Null);
    assert_eq!(
        s["shipping"],
        serde_json::json!({
            "countries": ["FR", "BE"], "rate": [true, "Colissimo", 490, 2],
            "germany": "shipping_country_not_allowed", "amounts": [4800, 490, 5290],
            "city": "Paris", "name": "Ada",
        })
    );
    let a = &s["amounts"];
    let code_param = |k: &str| (a[k]["code"].clone(), a[k]["param"].clone());
    assert_eq!(
        code_param("unknown_currency"),
        (Value::Null, "line_items[0][price_data][currency]".into())
    );
    assert_eq!(
        code_param("below_minimum"),
        ("amount_too_small".into(), "line_items".into())
    );
    assert_eq!(
        code_param("above_maximum"),
        (Value::Null, "line_items[0][price_data][unit_amount]".into())
    );
    assert_eq!(
        code_param("sepa_in_usd"),
        (Value::Null, "payment_method_types".into())
    );
    for ok in ["free", "minimum", "yen"] {
        assert_eq!(a[ok], Value::Null, "{ok} is accepted");
    }

    assert_eq!(s["unknown_route"], serde_json::json!([404, true]));
    let w = &s["webhook_endpoints"];
    assert_eq!(w["secret"], true);
    assert_eq!(
        w["listed"],
        serde_json::json!([[
            "https://shop.test/api/webhooks/stripe",
            ["checkout.session.completed", "charge.refunded"],
            "2024-06-20"
        ]])
    );
    assert_eq!(
        w["retrieved_has_secret"], false,
        "the secret is shown at creation only"
    );
    assert_eq!(
        w["keys"],
        serde_json::json!([
            "api_version",
            "application",
            "created",
            "description",
            "enabled_events",
            "id",
            "livemode",
            "metadata",
            "object",
            "status",
            "url"
        ]),
        "the keys of Stripe's example webhook_endpoint"
    );
    assert_eq!(w["changed"], serde_json::json!([["*"], "disabled"]));
    assert_eq!(w["deleted"], true);
    assert_eq!(w["future_version"], "api_version");
    assert_eq!(s["lost_answer"], serde_json::json!([500, true]));

    // What is accepted is kept, and what Stripe refuses is refused.
    let k = &s["kept"];
    assert_eq!(
        k["product"],
        serde_json::json!(["prod_custom_1", "A bag", false, {"sku": "t1"}, ["https://shop.test/t.png"]])
    );
    assert_eq!(k["again_id"], "resource_already_exists");
    assert_eq!(
        k["price"],
        serde_json::json!(["std", "tote_std", {"k": "v"}])
    );
    assert_eq!(k["lookup_again"], "lookup_key");
    assert_eq!(
        k["session"],
        serde_json::json!(["fr", "pay", "eve@example.com"]),
        "customer_email is fixed on the page"
    );
    assert_eq!(
        k["intent"],
        serde_json::json!(["Order 7", "r@example.com", "ORDER7"])
    );
    assert_eq!(k["charge"], serde_json::json!(["Order 7", "r@example.com"]));
    assert_eq!(k["charge_refunds"], 2);
    assert_eq!(k["refunded_again"], "charge_already_refunded");
    assert_eq!(
        k["failure_code"],
        serde_json::json!(["card_declined", "failed"])
    );
    let mut price_keys = caisse_sandbox::shapes::keys("price");
    price_keys.sort();
    assert_eq!(k["item_price_keys"], serde_json::json!(price_keys));
    assert_eq!(k["item_product"], "product");
    let i = &s["invalid"];
    assert_eq!(i["locale"]["code"], "parameter_invalid_string");
    assert_eq!(i["mode"]["code"], "parameter_invalid_string");
    assert_eq!(i["subscription"]["code"], "parameter_not_emulated");
    assert_eq!(i["reason"]["param"], "reason");
    assert_eq!(i["zero"]["code"], "parameter_invalid_integer");
    assert_eq!(
        i["descriptor"]["param"],
        "payment_intent_data[statement_descriptor]"
    );
    let params: Vec<_> = i["descriptor_chars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["param"].as_str().unwrap(), e["http_status"].as_u64()))
        .collect();
    let descriptor = ("payment_intent_data[statement_descriptor]", Some(400));
    let suffix = (
        "payment_intent_data[statement_descriptor_suffix]",
        Some(400),
    );
    assert_eq!(params, [[descriptor; 6], [suffix; 6]].concat());
    let countries: Vec<_> = i["countries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["code"].as_str(), e["param"].as_str()))
        .collect();
    let refused = (
        Some("parameter_invalid_string"),
        Some("shipping_address_collection[allowed_countries][1]"),
    );
    assert_eq!(
        countries,
        [refused, refused, refused, (None, None)],
        "XX, IR (Stripe does not ship there) and fr refused; Kosovo's XK taken"
    );
    let emails: Vec<_> = i["emails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str())
        .collect();
    assert_eq!(
        emails,
        [[Some("email_invalid"); 7].as_slice(), &[None]].concat(),
        "an apostrophe and a + are an address's"
    );
    sandbox.stop().await.unwrap();
}

/// The Node SDK the sandbox is checked against, where Node differs from Python: the version
/// `npm install stripe` installs on 2026-12-04. It pins an API version released after the
/// sandbox's default, which the sandbox must take (Stripe knows every version it released).
const STRIPE_NODE: &str = "stripe@23.2.0";
const STRIPE_NODE_API_VERSION: &str = "2026-11-18.endive";

fn node_modules() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("stripe-node-23.2.0");
    let done = dir.join("installed.ok");
    if !done.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a directory for the Node SDK");
        let ok = Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg(STRIPE_NODE)
            .status()
            .expect("npm is needed for the Node SDK test");
        assert!(ok.success(), "npm install {STRIPE_NODE} failed");
        std::fs::write(&done, STRIPE_NODE).expect("mark the install complete");
    }
    dir.join("node_modules")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_node_sdk_works_unchanged() {
    let modules = tokio::task::spawn_blocking(node_modules).await.unwrap();
    let (sandbox, s) = run_sdk(
        Path::new("node"),
        "check_node.js",
        &[("NODE_PATH", &modules)],
    )
    .await;
    assert_eq!(
        s["created"],
        serde_json::json!({"amount_total": 3000, "lines": [2, 1], "version": STRIPE_NODE_API_VERSION})
    );
    assert_eq!(
        s["unknown"],
        serde_json::json!({"type": "StripeInvalidRequestError", "code": "parameter_unknown", "param": "line_items[0][qty]", "status": 400})
    );
    assert_eq!(s["not_emulated"]["code"], "parameter_not_emulated");
    assert_eq!(s["pay"], "paid");
    assert_eq!(
        s["paid"],
        serde_json::json!({"status": "complete", "charge": "charge", "charge_status": "succeeded"})
    );
    assert_eq!(s["listed_lines"], 2);
    assert_eq!(s["charges"], 1);
    let mut events: Vec<&str> = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        vec![
            "checkout.session.completed",
            "payment_intent.succeeded",
            "charge.succeeded",
            "payment_intent.created"
        ]
    );
    events.sort();
    assert_eq!(
        s["received"],
        serde_json::json!(events),
        "every webhook verified by constructEvent"
    );
    assert_eq!(s["rejected"], serde_json::json!([]));
    sandbox.stop().await.unwrap();
}

/// The sandbox's key lists are Stripe's: those of `shared/stripe/fixtures3.json`, where this
/// checkout has it beside the repository.
#[test]
fn the_key_lists_are_those_of_stripe_s_example_objects() {
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/stripe/fixtures3.json");
    let Ok(text) = std::fs::read_to_string(&fixtures) else {
        println!(
            "skipped: {} is not beside this checkout",
            fixtures.display()
        );
        return;
    };
    let fixtures: Value = serde_json::from_str(&text).unwrap();
    for kind in caisse_sandbox::shapes::KINDS {
        let mut want: Vec<&str> = fixtures["resources"][kind]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        want.sort();
        let mut have = caisse_sandbox::shapes::keys(kind);
        have.sort();
        assert_eq!(have, want, "{kind}");
    }
}
