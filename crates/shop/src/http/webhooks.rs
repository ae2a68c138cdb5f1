//! `POST /api/webhooks/stripe`: the signature is verified on the raw bytes before anything is
//! parsed; then the event goes to the inbox. Status contract (DESIGN.md 1.3): `200` for processed,
//! duplicate, ignored and foreign events; `400` only for a bad signature or a body that is not an
//! event; `413` over the body limit; `5xx` only for a transient failure, so that Stripe retries.
//! None of the refusals writes a row (but for the alert a burst of bad signatures raises).

use crate::domain::status::AlertKind;
use crate::domain::status::EventStatus;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use caisse_stripe::{Event, SignatureError};
use serde_json::json;

use crate::app::App;
use crate::error::ApiError;
use crate::store::{unix_now, NewAlert, Severity};
use crate::webhooks::{self, Outcome, Received, Source};

use super::json::read_body;
use super::PublicRoutes;

pub fn routes(r: PublicRoutes) -> PublicRoutes {
    r.post("/api/webhooks/stripe", receive)
}

async fn receive(State(app): State<App>, req: Request) -> Response {
    let header = req
        .headers()
        .get("stripe-signature")
        .map(|v| v.to_str().map(str::to_string));
    let body = match read_body(req, app.config.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let now = unix_now();
    let verified = match header {
        None => Err(SignatureError::MissingHeader),
        Some(Err(_)) => Err(SignatureError::Malformed("not visible ASCII")),
        Some(Ok(h)) => {
            let secrets: Vec<&str> = app
                .config
                .stripe
                .webhook_secrets
                .iter()
                .map(|s| s.expose())
                .collect();
            caisse_stripe::verify(&h, &body, &secrets, app.config.webhook_tolerance, now)
        }
    };
    if let Err(e) = verified {
        signature_failed(&app, &e, now).await;
        return ApiError::new(StatusCode::BAD_REQUEST, "invalid_signature", e.to_string())
            .into_response();
    }
    let (event, payload) = match parse(&body) {
        Ok(parsed) => parsed,
        Err(why) => {
            return ApiError::new(StatusCode::BAD_REQUEST, "invalid_payload", why).into_response()
        }
    };
    if let Err(why) = webhooks::typed_object(&event) {
        // Signed, so from Stripe: either Stripe changed a shape caisse reads (a bug of ours,
        // fixed by a deploy, after which Stripe's retry goes through) or something is very wrong.
        unparseable(&app, &event, &why, now).await;
        return ApiError::new(StatusCode::BAD_REQUEST, "invalid_payload", why).into_response();
    }
    match webhooks::receive(&app, &event, payload, Source::Webhook).await {
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

/// The verified body as an event: a JSON object with an `evt_` id, a type, `created` and
/// `data.object`.
fn parse(body: &[u8]) -> Result<(Event, &str), String> {
    let payload = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
    // No Stripe object carries a NUL, and PostgreSQL cannot store one in text: refused here
    // rather than failing the same way at every redelivery.
    if payload.contains("\\u0000") {
        return Err("the body contains a NUL character, which no Stripe event has".into());
    }
    let event: Event = serde_json::from_str(payload).map_err(|e| {
        format!(
            "the body is not a Stripe event (id, type, created, data.object): {}",
            e.to_string().split(" at line").next().unwrap_or_default()
        )
    })?;
    let id_ok = event.id.len() <= 255
        && event.id.starts_with("evt_")
        && event
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !id_ok {
        return Err("the event id is not a Stripe event id (evt_ and letters, digits, _)".into());
    }
    let kind_ok = !event.kind.is_empty()
        && event.kind.len() <= 255
        && event
            .kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_');
    if !kind_ok || !event.data.object.is_object() {
        return Err("the event has no valid type or no data.object".into());
    }
    Ok((event, payload))
}

async fn unparseable(app: &App, event: &Event, why: &str, now: i64) {
    tracing::error!(event = %event.id, kind = %event.kind, why, "signed event refused");
    let alert = NewAlert {
        kind: AlertKind::EventUnparseable,
        severity: Severity::Critical,
        message: format!(
            "Stripe event {} ({}) was refused: {why}. Stripe retries it; check caisse's version against the endpoint's API version",
            event.id, event.kind
        ),
        entity: Some(("webhook_event", &event.id)),
        dedup_key: format!("event_unparseable:{}", event.id),
    };
    if let Err(e) = app.store.raise_alert(&alert, now).await {
        tracing::warn!(error = %e, "could not raise the alert");
    }
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
