//! Errors as responses. Route outcomes of api.md §6 are text or JSON bodies with their status;
//! the generic errors of §1.6 are JSON, except that a page navigation gets an HTML page — the
//! response carries a [`GenericError`] marker and the pipeline swaps the body for the page.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

/// Marks a generic error response so the pipeline can render it as HTML for navigations.
#[derive(Clone, Debug)]
pub struct GenericError {
    pub status: StatusCode,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed input (§1.4): a short description of the problem.
    #[error("{0}")]
    BadRequest(String),
    #[error("login required")]
    LoginRequired,
    #[error("invalid csrf token")]
    CsrfInvalid,
    #[error("cross-origin request refused")]
    CrossOrigin,
    #[error("The requested resource was not found.")]
    NotFound,
    #[error("The request is too large.")]
    TooLarge,
    /// A route's own outcome as a text body (`403 forbidden`, `400 empty`, …).
    #[error("{1}")]
    Text(StatusCode, String),
    /// A route's own outcome as `{"error": "..."}`.
    #[error("{1}")]
    Json(StatusCode, String),
    /// 429 from a rate-limit bucket or the stream cap.
    #[error("{message}")]
    RateLimited { retry_after: u64, message: String },
    /// A bug or an I/O failure; the detail goes to the journal only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn text(status: StatusCode, body: impl Into<String>) -> ApiError {
        ApiError::Text(status, body.into())
    }

    pub fn json(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError::Json(status, message.into())
    }

    pub fn forbidden() -> ApiError {
        ApiError::text(StatusCode::FORBIDDEN, "forbidden")
    }

    pub fn not_found_text() -> ApiError {
        ApiError::text(StatusCode::NOT_FOUND, "not found")
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rejected(message) => ApiError::BadRequest(message),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// A generic error of §1.6 as JSON, marked for the HTML swap.
pub fn generic(status: StatusCode, message: &str) -> Response {
    let mut response = (status, axum::Json(json!({ "error": message }))).into_response();
    response.extensions_mut().insert(GenericError {
        status,
        message: message.to_string(),
    });
    response
}

pub const INTERNAL_MESSAGE: &str = "An internal error occurred. Please try again later.";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest(message) => generic(StatusCode::BAD_REQUEST, &message),
            ApiError::LoginRequired => generic(StatusCode::UNAUTHORIZED, "login required"),
            ApiError::CsrfInvalid => generic(StatusCode::FORBIDDEN, "invalid csrf token"),
            ApiError::CrossOrigin => generic(StatusCode::FORBIDDEN, "cross-origin request refused"),
            ApiError::NotFound => generic(
                StatusCode::NOT_FOUND,
                "The requested resource was not found.",
            ),
            ApiError::TooLarge => {
                generic(StatusCode::PAYLOAD_TOO_LARGE, "The request is too large.")
            }
            ApiError::Text(status, body) => {
                let mut response = (status, body).into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                response
            }
            ApiError::Json(status, message) => {
                (status, axum::Json(json!({ "error": message }))).into_response()
            }
            ApiError::RateLimited {
                retry_after,
                message,
            } => {
                let mut response = (
                    StatusCode::TOO_MANY_REQUESTS,
                    axum::Json(json!({ "error": message, "retry_after": retry_after })),
                )
                    .into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                response
            }
            ApiError::Internal(detail) => {
                // The request id is attached by the pipeline, which also logs this detail.
                tracing::error!(ERROR = %detail, "internal error");
                generic(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_MESSAGE)
            }
        }
    }
}
