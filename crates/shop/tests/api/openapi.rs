//! The OpenAPI description (`static/openapi.json`, served at `/api/openapi.json`): it describes
//! every public route and nothing else, its examples fit its schemas, and so do real answers.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::support::{cart, guest_cookie, TestApp};

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The document as the crate ships it.
fn document() -> Value {
    serde_json::from_str(include_str!("../../static/openapi.json"))
        .expect("static/openapi.json is JSON")
}

/// A `$ref` target: a JSON pointer into the document (`#/components/schemas/X`).
fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    reference
        .strip_prefix('#')
        .and_then(|pointer| doc.pointer(pointer))
        .unwrap_or_else(|| panic!("$ref `{reference}` does not resolve"))
}

/// `value`, or what it refers to when it is a Reference Object (a response, an example).
fn deref<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => deref(doc, resolve(doc, reference)),
        None => value,
    }
}

/// Every `$ref` anywhere in `value` resolves.
fn check_refs(doc: &Value, value: &Value) {
    match value {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                resolve(doc, reference);
            }
            map.values().for_each(|v| check_refs(doc, v));
        }
        Value::Array(items) => items.iter().for_each(|v| check_refs(doc, v)),
        _ => {}
    }
}

/// Every operation as (uppercase method, path, operation object).
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let paths = doc["paths"].as_object().expect("the document has paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS.iter().filter_map(move |method| {
                let op = item.get(*method)?;
                Some((method.to_uppercase(), path.clone(), op))
            })
        })
        .collect()
}

/// The schema the document gives for `method path` answering `status`.
fn response_schema<'a>(doc: &'a Value, method: &str, path: &str, status: u16) -> &'a Value {
    let responses = &doc["paths"][path][method.to_lowercase()]["responses"];
    let response = responses
        .get(status.to_string())
        .unwrap_or_else(|| panic!("{method} {path} does not describe a {status} answer"));
    &deref(doc, response)["content"]["application/json"]["schema"]
}

/// Validates each example of `body`'s JSON content against its schema, pushing what fails to
/// `failures`; returns how many examples there were. A body without content must be a 204/304.
fn check_examples(doc: &Value, at: &str, body: &Value, failures: &mut Vec<String>) -> usize {
    let Some(content) = body.get("content") else {
        assert!(
            at.ends_with("204") || at.ends_with("304"),
            "{at} has no content"
        );
        return 0;
    };
    let media = content
        .get("application/json")
        .unwrap_or_else(|| panic!("{at} has no application/json content"));
    let schema = media
        .get("schema")
        .unwrap_or_else(|| panic!("{at} has no schema"));
    let mut examples: Vec<(String, &Value)> = media
        .get("example")
        .map(|v| ("example".to_string(), v))
        .into_iter()
        .collect();
    for (name, example) in media
        .get("examples")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let value = deref(doc, example)
            .get("value")
            .unwrap_or_else(|| panic!("{at}: example `{name}` has no value"));
        examples.push((name.clone(), value));
    }
    assert!(!examples.is_empty(), "{at} has no example");
    for (name, value) in &examples {
        if let Err(why) = validate(doc, schema, value, "") {
            failures.push(format!("{at}, example `{name}`: {why}"));
        }
    }
    examples.len()
}

fn has_type(value: &Value, kind: &str) -> bool {
    match kind {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        other => panic!("unknown type `{other}` in the document"),
    }
}

/// Checks `value` against `schema`, for the part of JSON Schema the document uses (`pattern` and
/// `format` are not checked). The error names the JSON pointer of the value that fails.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let fail = |why: String| Err(format!("at `{at}`: {why}"));
    let schema = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => {
            return fail("no value is allowed here (an unknown property?)".into())
        }
        Value::Object(schema) => schema,
        other => panic!("not a schema: {other}"),
    };
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        validate(doc, resolve(doc, reference), value, at)?;
    }
    if let Some(kind) = schema.get("type") {
        let kinds: Vec<&str> = match kind {
            Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
            kind => kind.as_str().into_iter().collect(),
        };
        if !kinds.iter().any(|k| has_type(value, k)) {
            return fail(format!("{value} is not of type {kind}"));
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            return fail(format!("{value} is not one of {}", schema["enum"]));
        }
    }
    if schema.get("const").is_some_and(|c| c != value) {
        return fail(format!("{value} is not {}", schema["const"]));
    }
    let number = |key: &str| schema.get(key).and_then(Value::as_f64);
    let count = |key: &str| schema.get(key).and_then(Value::as_u64);
    let outside = |len: u64, min: &str, max: &str| {
        count(min).is_some_and(|m| len < m) || count(max).is_some_and(|m| len > m)
    };
    if let Some(n) = value.as_f64() {
        if number("minimum").is_some_and(|m| n < m) || number("maximum").is_some_and(|m| n > m) {
            return fail(format!("{value} is outside minimum/maximum"));
        }
    }
    if let Some(s) = value.as_str() {
        if outside(s.chars().count() as u64, "minLength", "maxLength") {
            return fail(format!("{value} is outside minLength/maxLength"));
        }
    }
    if let Some(items) = value.as_array() {
        if outside(items.len() as u64, "minItems", "maxItems") {
            return fail(format!(
                "{} items is outside minItems/maxItems",
                items.len()
            ));
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(doc, item_schema, item, &format!("{at}/{i}"))?;
            }
        }
    }
    if let Some(object) = value.as_object() {
        let required = schema.get("required").and_then(Value::as_array);
        for name in required.into_iter().flatten().filter_map(Value::as_str) {
            if !object.contains_key(name) {
                return fail(format!("the required property `{name}` is missing"));
            }
        }
        let properties = schema.get("properties");
        for (name, property) in object {
            let child = format!("{at}/{}", name.replace('~', "~0").replace('/', "~1"));
            let property_schema = properties
                .and_then(|p| p.get(name))
                .or_else(|| schema.get("additionalProperties"));
            if let Some(property_schema) = property_schema {
                validate(doc, property_schema, property, &child)?;
            }
        }
    }
    for sub in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        validate(doc, sub, value, at)?;
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        let errors: Vec<String> = any
            .iter()
            .filter_map(|s| validate(doc, s, value, at).err())
            .collect();
        if errors.len() == any.len() {
            return fail(format!("no schema of anyOf matches: {}", errors.join("; ")));
        }
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
        let errors: Vec<String> = one
            .iter()
            .filter_map(|s| validate(doc, s, value, at).err())
            .collect();
        if errors.len() + 1 != one.len() {
            return fail(format!(
                "{} schemas of oneOf match, not exactly one ({})",
                one.len() - errors.len(),
                errors.join("; ")
            ));
        }
    }
    Ok(())
}

#[tokio::test]
async fn openapi_describes_every_public_route() {
    let app = TestApp::spawn().await;
    let r = app
        .http
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let served: Value = r.json().await.unwrap();
    assert_eq!(served, document(), "the server serves static/openapi.json");
    assert_eq!(served["openapi"], "3.1.0");

    let routes: BTreeSet<(String, String)> = caisse_shop::http::public_routes()
        .into_iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    assert!(routes.contains(&("POST".to_string(), "/api/checkout".to_string())));
    let described: BTreeSet<(String, String)> = operations(&served)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    let missing: Vec<_> = routes.difference(&described).collect();
    assert!(
        missing.is_empty(),
        "routes the document does not describe: {missing:?}"
    );
    let invented: Vec<_> = described.difference(&routes).collect();
    assert!(
        invented.is_empty(),
        "described but not served: {invented:?}"
    );
    app.stop().await;
}

#[test]
fn openapi_examples_validate_against_their_schemas() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    check_refs(&doc, &doc);
    let unknown_code = json!({"error": {"code": "no_such_code", "message": "m"}});
    let mut failures = Vec::new();
    let mut checked = 0;
    for (method, path, op) in operations(&doc) {
        let name = format!("{method} {path}");
        if let Some(body) = op.get("requestBody") {
            checked += check_examples(
                &doc,
                &format!("{name} request"),
                deref(&doc, body),
                &mut failures,
            );
        }
        let responses = op["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{name} has no responses"));
        let mut answered = 0;
        for (status, response) in responses {
            let at = format!("{name} response {status}");
            let response = deref(&doc, response);
            answered += check_examples(&doc, &at, response, &mut failures);
            let schema = &response["content"]["application/json"]["schema"];
            if status.starts_with(['4', '5']) && validate(&doc, schema, &unknown_code, "").is_ok() {
                failures.push(format!("{at}: the schema does not list its error codes"));
            }
        }
        assert!(answered > 0, "{name} has no response with an example");
        checked += answered;
    }
    let shared = doc["components"]["responses"]
        .as_object()
        .into_iter()
        .flatten();
    for (name, response) in shared {
        let at = format!("components/responses/{name}");
        checked += check_examples(&doc, &at, deref(&doc, response), &mut failures);
    }
    assert!(
        failures.is_empty(),
        "examples that fail their schema:\n{}",
        failures.join("\n")
    );
    assert!(checked >= 20, "only {checked} examples were validated");
}

/// Sends `request` and returns the status and the JSON body.
async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn openapi_examples_match_real_answers() {
    let app = TestApp::spawn().await;
    let doc = document();
    // (method, documented path, expected status, the real answer)
    let mut answers: Vec<(&str, &str, u16, (u16, Value))> = Vec::new();
    for path in [
        "/api/products",
        "/api/config",
        "/api/openapi.json",
        "/healthz",
        "/readyz",
    ] {
        answers.push(("GET", path, 200, app.get_json(path).await));
    }
    for (body, code) in [
        (json!({"items": []}), "empty_cart"),
        (cart(&[("nope", 1)]), "unknown_product"),
    ] {
        let (status, body, _) = app.checkout(body, &[]).await;
        assert_eq!(body["error"]["code"], code, "{body}");
        answers.push(("POST", "/api/checkout", 422, (status, body)));
    }
    let (status, created, headers) = app.checkout(cart(&[("tee-classic", 1)]), &[]).await;
    assert_eq!(status, 201, "{created}");
    let session = created["checkout_session_id"].as_str().unwrap().to_string();
    let cookie = guest_cookie(&headers);
    answers.push(("POST", "/api/checkout", 201, (status, created)));
    let mine = format!("/api/checkout/{session}");
    let status_path = "/api/checkout/{session_id}";
    let cancel_path = "/api/checkout/{session_id}/cancel";
    let get = app
        .http
        .get(app.url(&mine))
        .header("cookie", cookie.as_str());
    answers.push(("GET", status_path, 200, answer(get).await));
    let nope = app.get_json("/api/checkout/cs_test_nope").await;
    answers.push(("GET", status_path, 404, nope));
    let cancel_nope = app.http.post(app.url("/api/checkout/cs_test_nope/cancel"));
    answers.push(("POST", cancel_path, 404, answer(cancel_nope).await));
    let cancel = app
        .http
        .post(app.url(&format!("{mine}/cancel")))
        .header("cookie", cookie.as_str());
    answers.push(("POST", cancel_path, 200, answer(cancel).await));
    let unsigned = app.post_webhook("{}", None).await;
    answers.push(("POST", "/api/webhooks/stripe", 400, unsigned));

    for (method, path, expected, (status, body)) in &answers {
        assert_eq!(status, expected, "{method} {path}: {body}");
        let schema = response_schema(&doc, method, path, *status);
        if let Err(why) = validate(&doc, schema, body, "") {
            panic!("{method} {path} answered {status} {body}, which the document refuses: {why}");
        }
    }

    // The answers every path can give, described once under components/responses.
    let shared = |name: &str| {
        &resolve(&doc, &format!("#/components/responses/{name}"))["content"]["application/json"]
            ["schema"]
    };
    let (status, body) = app.get_json("/api/nope").await;
    assert_eq!(status, 404);
    validate(&doc, shared("NotFound"), &body, "").unwrap();
    let (status, body) = answer(app.http.delete(app.url("/api/products"))).await;
    assert_eq!(status, 405);
    validate(&doc, shared("MethodNotAllowed"), &body, "").unwrap();
    app.stop().await;
}
