//! The one place errors become HTTP responses: `{"error": {"code", "message"}}`
//! with a status that says whose fault it was. Internal details are logged, not returned.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use switchboard_model::Error;
use switchboard_runtime::CallError;

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

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound(m) => Self::new(StatusCode::NOT_FOUND, "not_found", m),
            Error::BadRequest { code, message } => Self::bad_request(code, message),
            Error::TooLarge(m) => Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", m),
            Error::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            Error::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, "forbidden", m),
            Error::MissingConnection(m) => Self::new(StatusCode::CONFLICT, "missing_connection", m),
            Error::Call(call) => {
                let message = call.to_string();
                let (status, code) = match call {
                    CallError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
                    CallError::Function(_) => (StatusCode::UNPROCESSABLE_ENTITY, "function_error"),
                    CallError::MemoryLimit(_) => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "memory_limit_exceeded")
                    }
                    CallError::Trap(_) => (StatusCode::UNPROCESSABLE_ENTITY, "function_trapped"),
                    CallError::BadOutput(_) => (StatusCode::UNPROCESSABLE_ENTITY, "bad_output"),
                    CallError::OutputTooLarge { .. } => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "output_too_large")
                    }
                    CallError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "host_busy"),
                };
                Self::new(status, code, message)
            }
            Error::Internal(e) => {
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

/// Turns every error answer that is not already ours into our JSON shape:
/// axum's extractor rejections (text/plain), the empty 405 of a method router,
/// the 413 of a body limit. HTML pages (the OAuth sign-in pages) and JSON pass as
/// they are.
pub(super) async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("application/json") || content_type.starts_with("text/html") {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    // axum's rejection texts are short; anything longer is cut, never buffered whole.
    let text = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let detail: String = text.chars().take(300).collect();
    let mut error = match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            status,
            "method_not_allowed",
            match allow.as_ref().and_then(|v| v.to_str().ok()) {
                Some(a) if !a.is_empty() => {
                    format!("this method is not allowed on this path; it accepts {a}")
                }
                _ => "this method is not allowed on this path; see docs/api.md".to_owned(),
            },
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            status,
            "too_large",
            "the request body is larger than this endpoint accepts; send a smaller body",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            status,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        ),
        StatusCode::NOT_FOUND => ApiError::new(
            status,
            "not_found",
            "no such endpoint; the API is documented in docs/api.md",
        ),
        s if s.is_client_error() => ApiError::new(
            s,
            "invalid_request",
            if detail.is_empty() {
                format!("the request is not valid ({s}); see docs/api.md")
            } else {
                format!("the request is not valid: {detail}")
            },
        ),
        s => ApiError::new(
            s,
            "internal",
            "internal error; the host's log has the details",
        ),
    }
    .into_response();
    if let Some(allow) = allow {
        error.headers_mut().insert(header::ALLOW, allow);
    }
    error
}
