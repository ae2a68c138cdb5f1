//! Stripe's error shape: `{"error":{"type","code","message","param"}}` with Stripe's statuses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub message: String,
    pub param: Option<String>,
}

impl ApiError {
    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: None,
            message: message.into(),
            param: param.map(str::to_string),
        }
    }

    pub fn with_code(mut self, code: &'static str) -> ApiError {
        self.code = Some(code);
        self
    }

    pub fn missing(param: &str) -> ApiError {
        ApiError::invalid(format!("Missing required param: {param}."), Some(param))
            .with_code("parameter_missing")
    }

    pub fn no_such(object: &str, id: &str, param: &str) -> ApiError {
        ApiError::invalid(format!("No such {object}: '{id}'"), Some(param))
            .with_code("resource_missing")
    }

    pub fn not_found(object: &str, id: &str, param: &str) -> ApiError {
        let mut e = ApiError::no_such(object, id, param);
        e.status = StatusCode::NOT_FOUND;
        e
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            kind: "invalid_request_error",
            code: None,
            message: message.into(),
            param: None,
        }
    }

    pub fn body(&self) -> serde_json::Value {
        let mut error = json!({ "type": self.kind, "message": self.message });
        if let Some(code) = self.code {
            error["code"] = code.into();
            error["doc_url"] = doc_url(code).into();
        }
        if let Some(param) = &self.param {
            error["param"] = param.clone().into();
        }
        json!({ "error": error })
    }
}

/// Stripe's page about an error code: `https://stripe.com/docs/error-codes/card-declined`.
pub fn doc_url(code: &str) -> String {
    format!(
        "https://stripe.com/docs/error-codes/{}",
        code.replace('_', "-")
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}
