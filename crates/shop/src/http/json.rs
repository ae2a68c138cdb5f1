//! `ApiJson<T>`: a JSON body extractor whose every rejection is one of our JSON errors, so that a
//! client gets `invalid_request` with serde's reason (an unknown field, a wrong type) instead of
//! axum's plain-text rejection.

use axum::extract::{FromRequest, Request};
use axum::http::header;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::app::App;
use crate::error::ApiError;

pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<App> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &App) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_utf8_json);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json, in UTF-8",
            ));
        }
        let bytes = read_body(req, small_body_limit(app.config.max_body_bytes)).await?;
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::invalid_request(format!("invalid JSON body: {e}")))
    }
}

/// `application/json`, with no `charset` or `charset=utf-8`: JSON is UTF-8 (RFC 8259), and a
/// body declared in another charset would be read as what it is not.
fn is_utf8_json(content_type: &str) -> bool {
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("application/json")
        && parts.all(|param| {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            !name.trim().eq_ignore_ascii_case("charset")
                || value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        })
}

/// The largest body of any request but a webhook's: a cart, a sign-in or dashboard form fits in
/// a few kilobytes, and these bodies are read before (or without) any authentication, so that a
/// few hundred slow clients each sending the webhook limit (1 MiB) would hold hundreds of MB.
pub const SMALL_BODY_BYTES: usize = 64 * 1024;

/// The body limit of requests other than webhooks: [`SMALL_BODY_BYTES`], or the configured limit
/// when it is smaller.
pub fn small_body_limit(configured: usize) -> usize {
    configured.min(SMALL_BODY_BYTES)
}

/// The raw body, refusing more than `limit` bytes with a JSON 413 — at once when the declared
/// `Content-Length` is already over, without waiting for a body that may never come.
pub async fn read_body(req: Request, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::payload_too_large(limit));
    }
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|e| {
            let too_large =
                std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .any(|e| e.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::payload_too_large(limit)
            } else {
                // A body cut short or malformed on the wire is the client's error, not a size.
                ApiError::invalid_request("the request body could not be read")
            }
        })
}

#[cfg(test)]
mod tests {
    use super::is_utf8_json;

    #[test]
    fn json_is_utf8_whatever_the_case_and_quotes() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
            "application/json; foo=bar",
        ] {
            assert!(is_utf8_json(ok), "{ok}");
        }
        for refused in [
            "application/json; charset=utf-16",
            "application/json; charset=latin1",
            "text/json",
            "application/jsonx",
            "",
        ] {
            assert!(!is_utf8_json(refused), "{refused}");
        }
    }
}
