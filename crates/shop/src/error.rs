//! The API's error: a stable code, an HTTP status and a sentence, always as
//! `{"error":{"code":"…","message":"…"}}`. Codes are a contract with the shop's front end; messages
//! are for people and never carry a secret or an internal error's text.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// Seconds a client waits before retrying after a transient failure.
pub const RETRY_AFTER_UNAVAILABLE: u64 = 2;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra fields beside code and message (which product, how many are left).
    pub details: Option<Value>,
    pub retry_after_secs: Option<u64>,
    /// A failure of ours that an alert already covers (the inbox's `webhook_failed`): its 500
    /// is not reported again as an `internal_error` (`http/failures.rs`).
    pub reported: bool,
}

/// Carried by a 500 response whose failure an alert already covers: `http/failures.rs` raises an
/// `internal_error` alert for every other one.
#[derive(Clone, Copy, Debug)]
pub struct AlertRaised;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after_secs: None,
            reported: false,
        }
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    pub fn invalid_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn payload_too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
    }

    /// A failure of ours: logged in full by the caller, shown as a bare sentence.
    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong on our side; it has been logged",
        )
    }

    /// A transient failure: the database or a dependency did not answer. Worth a retry, which
    /// `Retry-After` paces.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            message,
        );
        e.retry_after_secs = Some(RETRY_AFTER_UNAVAILABLE);
        e
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        if e.is_transient() {
            tracing::warn!(error = %e, "database unavailable");
            ApiError::unavailable("the database is unavailable; try again")
        } else {
            tracing::error!(error = %e, "database error");
            ApiError::internal()
        }
    }
}

impl From<crate::webhooks::InboxError> for ApiError {
    fn from(e: crate::webhooks::InboxError) -> ApiError {
        use crate::webhooks::InboxError;
        // The inbox raised `webhook_failed` for a failure that will not pass by itself.
        let reported = |mut e: ApiError| {
            e.reported = true;
            e
        };
        match e {
            InboxError::Store(e) => reported(e.into()),
            // Told apart from an outage in the log: nothing is wrong, the event came early.
            InboxError::NotYet(why) => {
                tracing::info!(%why, "webhook event cannot apply yet; Stripe will retry");
                ApiError::unavailable(format!("{why}; retry later"))
            }
            InboxError::Malformed(why) => {
                tracing::error!(%why, "webhook event cannot be applied");
                reported(ApiError::internal())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let (Some(Value::Object(extra)), Some(obj)) = (self.details, error.as_object_mut()) {
            obj.extend(extra);
        }
        let mut response = (self.status, axum::Json(json!({ "error": error }))).into_response();
        if self.reported {
            response.extensions_mut().insert(AlertRaised);
        }
        if let Some(secs) = self.retry_after_secs {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}
