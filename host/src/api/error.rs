//! The one place errors become HTTP responses: `{"error": {"code", "message"}}`
//! with a status that says whose fault it was. Internal details are logged, not returned.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::app::AppError;
use crate::runtime::CallError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// Any status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::NotFound(m) => Self::new(StatusCode::NOT_FOUND, "not_found", m),
            AppError::BadRequest { code, message } => Self::bad_request(code, message),
            AppError::TooLarge(m) => Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", m),
            AppError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            AppError::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, "forbidden", m),
            AppError::MissingConnection(m) => {
                Self::new(StatusCode::CONFLICT, "missing_connection", m)
            }
            AppError::Call(call) => {
                let message = call.to_string();
                let (status, code) = match call {
                    CallError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
                    CallError::Function(_) => (StatusCode::UNPROCESSABLE_ENTITY, "function_error"),
                    CallError::MemoryLimit(_) => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "memory_limit_exceeded")
                    }
                    CallError::Trap(_) => (StatusCode::UNPROCESSABLE_ENTITY, "function_trapped"),
                    CallError::BadOutput(_) => (StatusCode::UNPROCESSABLE_ENTITY, "bad_output"),
                };
                Self::new(status, code, message)
            }
            AppError::Internal(e) => {
                tracing::error!(error = %format!("{e:#}"), "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; the host's log has the details",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}
