//! `POST /api/webhooks/stripe`: the signature is verified on the raw bytes before anything is
//! parsed; then the event goes to the inbox. Status contract (DESIGN.md 1.3): `200` for processed,
//! duplicate, ignored and foreign events; `400` only for a bad signature or a body that is not an
//! event; `413` over the body limit; `5xx` only for a transient failure, so that Stripe retries.
//! None of the refusals writes a row but an alert: a burst of bad signatures raises one, and so
//! does every signed body caisse cannot read (`event_unparseable`, whatever step refused it).

use crate::domain::status::AlertKind;
use crate::domain::status::EventStatus;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use caisse_stripe::{Event, SignatureError};
use serde_json::json;
use sha2::Digest;
use std::time::Duration;

use crate::app::App;
use crate::error::ApiError;
use crate::store::{unix_now, NewAlert, Severity};
use crate::webhooks::{self, Outcome, Received, Source};

use super::json::read_body;
use super::PublicRoutes;

pub fn routes(r: PublicRoutes) -> PublicRoutes {
    r.post("/api/webhooks/stripe", receive)
}

/// How long a delivery waits for one of the instance's body reads before it is answered 503
/// (Stripe retries): only a flood of unverified bodies keeps them all busy.
const BODY_READ_WAIT: Duration = Duration::from_secs(2);

async fn receive(State(app): State<App>, req: Request) -> Response {
    let now = unix_now();
    let limit = app.config.max_body_bytes;
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    // What can be refused without the body is refused before it is read: a body declared over
    // the limit (413 first, as the contract says), a delivery with no header, or one that is
    // not a signature header, costs no buffer.
    if declared.is_some_and(|n| n > limit as u64) {
        return ApiError::payload_too_large(limit).into_response();
    }
    let header = match req.headers().get("stripe-signature").map(|v| v.to_str()) {
        None => Err(SignatureError::MissingHeader),
        Some(Err(_)) => Err(SignatureError::Malformed("not visible ASCII")),
        Some(Ok(h)) => caisse_stripe::signature::parse_header(h).map(|_| h.to_string()),
    };
    let header = match header {
        Ok(h) => h,
        Err(e) => return refuse_signature(&app, &e, now).await,
    };
    // The body is read within the instance's budget of unverified bytes, its share held until
    // the signature is checked: forged bodies cannot take more memory than the budget, however
    // many connections send them, while Stripe's few-KB deliveries always find room.
    let kib = declared
        .map_or(limit, |n| n as usize)
        .min(limit)
        .div_ceil(1024)
        .clamp(1, crate::app::WEBHOOK_BODY_BUDGET_KIB);
    let share = app.webhook_bodies.clone().acquire_many_owned(kib as u32);
    let Ok(Ok(permit)) = tokio::time::timeout(BODY_READ_WAIT, share).await else {
        return ApiError::unavailable("too many webhook deliveries at once; retry later")
            .into_response();
    };
    let body = match read_body(req, limit).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let secrets: Vec<&str> = app
        .config
        .stripe
        .webhook_secrets
        .iter()
        .map(|s| s.expose())
        .collect();
    let verified =
        caisse_stripe::verify(&header, &body, &secrets, app.config.webhook_tolerance, now);
    drop(permit);
    if let Err(e) = verified {
        return refuse_signature(&app, &e, now).await;
    }
    if let Some(named) = named_event(&body) {
        if webhooks::known_duplicate(&app, named.id, named.kind) {
            return Json(json!({"status": "duplicate"})).into_response();
        }
    }
    // Whatever step refuses a signed body, it is from Stripe: either Stripe sends a shape caisse
    // does not read (a bug of ours, fixed by a deploy, after which Stripe's retry goes through)
    // or something is very wrong. Either way Stripe retries it for days: an operator must know.
    let parsed = parse(&body).and_then(|(event, payload)| {
        webhooks::typed_object(&event).map(|object| (event, object, payload))
    });
    let (event, object, payload) = match parsed {
        Ok(parsed) => parsed,
        Err(why) => {
            unparseable(&app, &body, &why, now).await;
            return ApiError::new(StatusCode::BAD_REQUEST, "invalid_payload", why).into_response();
        }
    };
    match webhooks::receive(&app, &event, Ok(object), payload, Source::Webhook).await {
        Ok(Received::Duplicate) => Json(json!({"status": "duplicate"})).into_response(),
        Ok(Received::Applied(Outcome::Processed(what))) => {
            Json(json!({"status": EventStatus::Processed, "detail": what})).into_response()
        }
        Ok(Received::Applied(Outcome::Ignored(why))) => {
            Json(json!({"status": EventStatus::Ignored, "reason": why})).into_response()
        }
        // Nothing was applied: a 5xx, so that Stripe retries (503 for what passes by itself,
        // 500 for what needs someone; the inbox logged the event's failure).
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The id and type of a verified body, read without the rest of the event: enough to answer a
/// redelivery of a finished event (whose body was a valid event when it was first received).
#[derive(serde::Deserialize)]
struct NamedEvent<'a> {
    #[serde(borrow)]
    id: &'a str,
    #[serde(rename = "type", borrow)]
    kind: &'a str,
}

fn named_event(body: &[u8]) -> Option<NamedEvent<'_>> {
    serde_json::from_slice(body).ok()
}

/// The verified body as an event: a JSON object with an `evt_` id, a type, `created` and
/// `data.object`.
fn parse(body: &[u8]) -> Result<(Event, &str), String> {
    // The body is stored as it came: an escaped NUL (`\u0000`) is six characters of text there,
    // and the strings caisse keeps from the object lose their NULs (domain/text.rs).
    let payload = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
    let event: Event = serde_json::from_str(payload).map_err(|e| {
        format!(
            "the body is not a Stripe event (id, type, created, data.object): {}",
            e.to_string().split(" at line").next().unwrap_or_default()
        )
    })?;
    if !is_event_id(&event.id) {
        return Err("the event id is not a Stripe event id (evt_ and letters, digits, _)".into());
    }
    let kind_ok = is_event_type(&event.kind);
    if !kind_ok || !event.data.object.is_object() {
        return Err("the event has no valid type or no data.object".into());
    }
    Ok((event, payload))
}

/// The `event_unparseable` alert of a signed body caisse refused: one per event id when the body
/// names a Stripe event id, else one per body (by its SHA-256), so that Stripe's retries of it
/// raise no more.
async fn unparseable(app: &App, body: &[u8], why: &str, now: i64) {
    #[derive(serde::Deserialize)]
    struct Named {
        id: String,
        #[serde(rename = "type", default)]
        kind: String,
    }
    let named = serde_json::from_slice::<Named>(body)
        .ok()
        .filter(|n| is_event_id(&n.id) && is_event_type(&n.kind));
    let (subject, kind) = match &named {
        Some(n) => (n.id.clone(), n.kind.as_str()),
        None => {
            let digest = sha2::Sha256::digest(body);
            (
                format!("body-{}", hex::encode(&digest[..8])),
                "unknown type",
            )
        }
    };
    tracing::error!(event = %subject, kind, why, "signed event refused");
    let alert = NewAlert {
        kind: AlertKind::EventUnparseable,
        severity: Severity::Critical,
        message: format!(
            "Stripe event {subject} ({kind}) was refused: {why}. Stripe retries it; check caisse's version against the endpoint's API version"
        ),
        entity: named.as_ref().map(|n| ("webhook_event", n.id.as_str())),
        dedup_key: format!("event_unparseable:{subject}"),
    };
    if let Err(e) = app.store.raise_alert(&alert, now).await {
        tracing::warn!(error = %e, "could not raise the alert");
    }
}

/// `evt_` and letters, digits, `_`: an id that is safe in a path, a log line and a dedup key.
fn is_event_id(id: &str) -> bool {
    id.len() <= 255
        && id.starts_with("evt_")
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_event_type(kind: &str) -> bool {
    !kind.is_empty()
        && kind.len() <= 255
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_')
}

async fn refuse_signature(app: &App, e: &SignatureError, now: i64) -> Response {
    signature_failed(app, e, now).await;
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_signature", e.to_string()).into_response()
}

async fn signature_failed(app: &App, e: &SignatureError, now: i64) {
    let reason = match e {
        SignatureError::MissingHeader => "missing",
        SignatureError::Malformed(_) | SignatureError::NoV1 => "malformed",
        SignatureError::NoMatch => "no_match",
        SignatureError::OutsideTolerance { .. } => "tolerance",
    };
    metrics::counter!("caisse_webhook_signature_failures_total", "reason" => reason).increment(1);
    if let Some(failures) = app.signature_alarm.log_due(now) {
        tracing::warn!(
            reason,
            error = %e,
            failures,
            "webhook refused: bad signature (failures since the last such line, this one included; one line a second at most)"
        );
    }
    let policy = &app.config.webhooks;
    let window = policy.signature_alert_window.as_secs() as i64;
    if !app
        .signature_alarm
        .record(now, window, policy.signature_alert_threshold)
    {
        return;
    }
    let alert = NewAlert {
        kind: AlertKind::SignatureFailures,
        severity: Severity::Critical,
        message: format!(
            "{} or more webhook deliveries with a bad signature within {window} s: check STRIPE_WEBHOOK_SECRET and the endpoint registered at Stripe",
            policy.signature_alert_threshold
        ),
        entity: None,
        dedup_key: format!("signature_failures:{}", now / window),
    };
    if let Err(e) = app.store.raise_alert(&alert, now).await {
        tracing::warn!(error = %e, "could not raise the signature-failure alert");
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::parse;

    /// Any JSON value, a few levels deep.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            ".{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                proptest::collection::btree_map(
                    "(id|object|amount|currency|status|metadata|payment_intent|amount_received|customer_details|x)",
                    inner,
                    0..8
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// The envelope parser on arbitrary bytes: an answer, never a panic.
        #[test]
        fn the_envelope_parser_never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&body);
        }

        /// Events of every type caisse acts on, with objects of any shape: parsed and typed
        /// (the step before the inbox) without a panic; what is accepted has a Stripe event id.
        #[test]
        fn events_with_any_object_are_typed_without_panicking(
            kind in "(checkout\\.session\\.(completed|expired|async_payment_succeeded|async_payment_failed)|payment_intent\\.(succeeded|payment_failed|canceled)|charge\\.refunded|other)",
            object_kind in "(checkout\\.session|payment_intent|charge|refund)",
            id in "evt_[A-Za-z0-9_]{0,20}|[a-z_]{0,8}",
            created in any::<i64>(),
            object in any_json(),
        ) {
            let mut object = object;
            if let Value::Object(m) = &mut object {
                m.insert("object".into(), Value::from(object_kind));
            }
            let body = json!({"id": id, "object": "event", "type": kind, "created": created, "data": {"object": object}}).to_string();
            if let Ok((event, _)) = parse(body.as_bytes()) {
                prop_assert!(event.id.starts_with("evt_"));
                let _ = crate::webhooks::typed_object(&event);
            }
        }
    }
}
