//! `Idempotency-Key` replay for the API's POSTs, as Stripe does it: the first answer is saved
//! per key and API key and replayed (`Idempotent-Replayed`, `Original-Request`); the same key with
//! other parameters is refused; a request refused as invalid saves nothing; a key is forgotten 24
//! hours after its first use (`state/memory.rs`).

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::{api_key, decode, RequestId};
use crate::error::ApiError;
use crate::params::Params;
use crate::state::{Account, Cause, Saved};
use crate::Shared;

/// A POST to run once per `Idempotency-Key`: the first answer (even an error) is saved and
/// replayed; the same key with other parameters is an `idempotency_error`.
pub(super) struct IdempotentPost {
    pub(super) shared: Shared,
    headers: HeaderMap,
    request_id: String,
    /// Method and path: the same key on another endpoint is another request.
    route: String,
    body: String,
}

impl axum::extract::FromRequest<Shared> for IdempotentPost {
    type Rejection = ApiError;

    async fn from_request(req: Request, shared: &Shared) -> Result<Self, ApiError> {
        let request_id = req
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let route = format!("{} {}", req.method(), req.uri().path());
        let headers = req.headers().clone();
        let body = String::from_request(req, shared).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    ..ApiError::invalid("Request body too large.", None)
                }
            } else {
                ApiError::invalid("Invalid request body: not UTF-8.", None)
            }
        })?;
        Ok(IdempotentPost {
            shared: shared.clone(),
            headers,
            request_id,
            route,
            body,
        })
    }
}

impl IdempotentPost {
    pub(super) fn run(
        self,
        accepts: &Params,
        action: impl FnOnce(&mut Account, &Value, &Cause) -> Result<Value, ApiError>,
    ) -> Response {
        let key = self
            .headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if key.as_ref().is_some_and(|k| k.len() > 255) {
            return ApiError::invalid("Idempotency keys may be at most 255 characters long.", None)
                .into_response();
        }
        let auth = api_key(&self.headers).unwrap_or_default();
        let fingerprint = format!("{}\n{}", self.route, self.body);
        let cause = Cause {
            request_id: Some(self.request_id.clone()),
            idempotency_key: key.clone(),
        };
        let body = &self.body;
        let request_id = self.request_id.clone();
        let (status, value, replayed) = self.shared.with_account(|account| {
            let slot = key.as_ref().map(|k| format!("{auth}\n{k}"));
            let now = account.now();
            if let Some(saved) = slot.as_ref().and_then(|s| account.idempotency.get(s, now)) {
                if saved.fingerprint != fingerprint {
                    let e = ApiError {
                        kind: "idempotency_error",
                        ..ApiError::invalid(
                            format!(
                                "Keys for idempotent requests can only be used with the same parameters they were first \
                                 used with. Try using a key other than '{}' if you meant to execute a different request.",
                                key.as_deref().unwrap_or_default()
                            ),
                            None,
                        )
                    };
                    return (e.status.as_u16(), e.body(), None);
                }
                return (saved.status, saved.body.clone(), Some(saved.request_id.clone()));
            }
            let outcome = decode(body).and_then(|params| {
                accepts.check(&params)?;
                action(account, &params, &cause)
            });
            let (status, value) = match outcome {
                Ok(v) => (200, v),
                Err(e) => (e.status.as_u16(), e.body()),
            };
            // Stripe saves a result only once the request started executing: a request refused
            // as invalid (400) saves nothing, so a corrected retry with the same key goes through.
            if let (Some(slot), false) = (slot, status == 400) {
                account.idempotency.insert(
                    slot,
                    Saved {
                        fingerprint: fingerprint.clone(),
                        status,
                        body: value.clone(),
                        request_id: request_id.clone(),
                    },
                    now,
                );
            }
            (status, value, None)
        });
        let mut response = (
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            Json(value),
        )
            .into_response();
        if let Some(original) = replayed {
            let h = response.headers_mut();
            h.insert("idempotent-replayed", HeaderValue::from_static("true"));
            if let Ok(v) = HeaderValue::from_str(&original) {
                h.insert("original-request", v);
            }
        }
        response
    }
}
