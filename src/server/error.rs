//! The API's one error type and its status table.
//!
//! Every failure a handler can meet becomes an [`ApiError`]; its
//! `IntoResponse` is the only place that chooses a status code, and the body
//! is always `{"error": CODE, "message": TEXT}`, with `"check": CHECK` added
//! when a token was refused ([`crate::jwt::Check`]). Internal failures are logged
//! with their detail and answered with a generic message, so nothing about
//! the appliance's files leaks to a client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed: 400.
    #[error("{0}")]
    BadRequest(String),
    /// No token, or credentials that are not accepted: 401.
    #[error("{0}")]
    Unauthorized(String),
    /// A token that does not verify: 401, naming the check that refused it.
    #[error("token refused: {0}")]
    TokenRefused(crate::jwt::VerifyError),
    /// Authenticated, but not allowed: 403.
    #[error("{0}")]
    Forbidden(String),
    /// No such route: 404.
    #[error("no such resource: {0}")]
    NotFound(String),
    /// The route exists, the method does not: 405.
    #[error("method not allowed for this resource")]
    MethodNotAllowed,
    /// The body is larger than the route allows: 413.
    #[error("request body too large: this resource accepts at most {0} bytes")]
    TooLarge(u64),
    /// The body's type is not one the route reads: 415.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Too many failed logins: 429 with `Retry-After`.
    #[error("too many failed logins; try again in {0} s")]
    TooManyRequests(u64),
    /// A dependency (the directory, the lock, the hashing pool) is not
    /// available now: 503.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected I/O failure: 500, detail only in the log.
    #[error("internal error")]
    Internal(String),
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: String,
    /// For a refused token, which check refused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    check: Option<&'static str>,
}

impl ApiError {
    /// The status and the stable machine-readable code.
    pub fn status(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized(_) | ApiError::TokenRefused(_) => {
                (StatusCode::UNAUTHORIZED, "unauthorized")
            }
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status();
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(detail = %detail, "internal error");
                "internal error; the appliance's server log has the detail".to_owned()
            }
            other => other.to_string(),
        };
        let check = match &self {
            ApiError::TokenRefused(e) => Some(e.check().code()),
            _ => None,
        };
        let mut response = (
            status,
            axum::Json(Body {
                error: code,
                message,
                check,
            }),
        )
            .into_response();
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthorized(_) | ApiError::TokenRefused(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"tacctl\""),
                );
            }
            ApiError::TooManyRequests(seconds) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            }
            ApiError::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}
