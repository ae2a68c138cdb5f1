//! Bad input, class by class, to the two endpoints the world can reach: each gets a clear 4xx
//! with a stable code, writes nothing (no hold, order, payment, event, message or audit entry; the
//! stock untouched), and the process keeps answering.

use caisse_shop::Store;
use serde_json::json;

use crate::support::{scalar, TestApp, WEBHOOK_SECRET};

/// Everything an accepted request could have written.
async fn footprint(store: &Store) -> Vec<i64> {
    let mut rows = Vec::new();
    for table in [
        "holds",
        "hold_items",
        "orders",
        "order_items",
        "payments",
        "webhook_events",
        "outbox",
        "audit_log",
    ] {
        rows.push(scalar(store, &format!("SELECT COUNT(*) FROM {table}")).await);
    }
    rows.push(
        scalar(
            store,
            "SELECT CAST(COALESCE(SUM(stock_on_hand * 1000 + stock_reserved), 0) AS BIGINT) FROM products",
        )
        .await,
    );
    rows
}

struct Case {
    class: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
}

fn checkout(
    class: &'static str,
    body: impl Into<Vec<u8>>,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        class,
        path: "/api/checkout",
        headers: vec![("content-type", "application/json".into())],
        body: body.into(),
        status,
        code,
    }
}

fn signed(body: &[u8], at: i64) -> String {
    caisse_stripe::signature_header(&[WEBHOOK_SECRET], at, body)
}

fn webhook(
    class: &'static str,
    body: impl Into<Vec<u8>>,
    signature: Option<String>,
    status: u16,
    code: &'static str,
) -> Case {
    let mut headers = vec![("content-type", "application/json".to_string())];
    if let Some(s) = signature {
        headers.push(("stripe-signature", s));
    }
    Case {
        class,
        path: "/api/webhooks/stripe",
        headers,
        body: body.into(),
        status,
        code,
    }
}

fn cases() -> Vec<Case> {
    let now = caisse_shop::store::unix_now();
    let line = |product: &str, quantity: serde_json::Value| {
        json!({"items": [{"product_id": product, "quantity": quantity}]}).to_string()
    };
    // 30,000 deep: far past serde's recursion limit, within the 64 KiB body limit.
    let nested = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
    let event = json!({
        "id": "evt_bad_input", "object": "event", "type": "payment_intent.succeeded",
        "created": now, "livemode": false,
        "data": {"object": {"id": "pi_x", "object": "payment_intent", "amount": 100, "currency": "eur", "status": "succeeded"}}
    })
    .to_string();
    let mut wrong_type = checkout(
        "not JSON at all: form encoding",
        "items=tee-classic",
        415,
        "unsupported_media_type",
    );
    wrong_type.headers = vec![("content-type", "application/x-www-form-urlencoded".into())];
    let mut wrong_charset = checkout(
        "JSON declared in another charset than UTF-8",
        line("tee-classic", json!(1)),
        415,
        "unsupported_media_type",
    );
    wrong_charset.headers = vec![("content-type", "application/json; charset=utf-16".into())];
    let mut bad_key = checkout(
        "an Idempotency-Key that is not visible ASCII",
        line("tee-classic", json!(1)),
        400,
        "invalid_request",
    );
    bad_key
        .headers
        .push(("idempotency-key", "two words".into()));
    let mut forged_token = checkout(
        "a bearer token nobody signed",
        line("tee-classic", json!(1)),
        401,
        "unauthorized",
    );
    forged_token.headers.push((
        "authorization",
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.".into(),
    ));
    vec![
        checkout("truncated JSON", "{\"items\": [", 400, "invalid_request"),
        wrong_type,
        wrong_charset,
        checkout("JSON of the wrong shape", json!({"items": "tee-classic"}).to_string(), 400, "invalid_request"),
        checkout("a field caisse does not take: a price", json!({"items": [{"product_id": "tee-classic", "quantity": 1, "unit_amount": 1}]}).to_string(), 400, "invalid_request"),
        checkout("a negative quantity", line("tee-classic", json!(-3)), 422, "quantity_out_of_range"),
        checkout("a quantity past 64 bits", line("tee-classic", json!(1e30)), 400, "invalid_request"),
        checkout("a product that does not exist", line("no-such-thing", json!(1)), 422, "unknown_product"),
        checkout("SQL in a product id", line("tee-classic' OR '1'='1", json!(1)), 422, "unknown_product"),
        checkout("invalid UTF-8", b"{\"items\": [{\"product_id\": \"\xff\xfe\", \"quantity\": 1}]}".to_vec(), 400, "invalid_request"),
        checkout("JSON nested 30,000 deep", nested, 400, "invalid_request"),
        checkout("a body over the limit", vec![b' '; 2 * 1024 * 1024], 413, "payload_too_large"),
        // Not a webhook: held to 64 KiB, whatever CAISSE_MAX_BODY_BYTES (1 MiB) lets webhooks send.
        checkout("a cart of 100 KiB", vec![b' '; 100 * 1024], 413, "payload_too_large"),
        checkout("a header injected through the email", json!({"items": [{"product_id": "tee-classic", "quantity": 1}], "email": "a@b.co\r\nBcc: all@example.com"}).to_string(), 400, "invalid_request"),
        bad_key,
        forged_token,
        webhook("a webhook without a signature", event.clone(), None, 400, "invalid_signature"),
        webhook("a webhook signed with another secret", event.clone(), Some(caisse_stripe::signature_header(&["whsec_someone_else_entirely_0123"], now, event.as_bytes())), 400, "invalid_signature"),
        webhook("a signature replayed after the tolerance", event.clone(), Some(signed(event.as_bytes(), now - 3600)), 400, "invalid_signature"),
        webhook("a signed body that is not JSON", "not json", Some(signed(b"not json", now)), 400, "invalid_payload"),
        webhook("a signed JSON that is not an event", "[1,2,3]", Some(signed(b"[1,2,3]", now)), 400, "invalid_payload"),
        webhook("an event id that is not evt_", event.replace("evt_bad_input", "../etc/passwd"), Some(signed(event.replace("evt_bad_input", "../etc/passwd").as_bytes(), now)), 400, "invalid_payload"),
        webhook("a webhook over the limit", vec![b' '; 2 * 1024 * 1024], Some("t=1,v1=00".into()), 413, "payload_too_large"),
        webhook("a webhook of 100 KiB keeps its limit", vec![b' '; 100 * 1024], Some("t=1,v1=00".into()), 400, "invalid_signature"),
    ]
}

#[tokio::test]
async fn each_class_of_bad_input_gets_a_clear_error_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let before = footprint(&app.store).await;
    let cases = cases();
    assert!(cases.len() >= 12);
    for case in cases {
        let mut req = app.http.post(app.url(case.path)).body(case.body);
        for (name, value) in &case.headers {
            req = req.header(*name, value.as_str());
        }
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.class));
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (case.status, Some(case.code)),
            "{}: {body}",
            case.class
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}: a message says what is wrong",
            case.class
        );
        assert_eq!(
            footprint(&app.store).await,
            before,
            "{} wrote something",
            case.class
        );
    }
    let (status, _) = app.get_json("/healthz").await;
    assert_eq!(status, 200, "still alive");
    app.stop().await;
}
