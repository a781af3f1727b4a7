//! Operational endpoints: `/healthz` for probes and `/ca.pem` for trusting the self-managed CA.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::error::ApiError;
use crate::app::AppRef;

pub fn routes() -> Router<AppRef> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/ca.pem", get(ca_pem))
}

/// 200 once the store's writer answers; 503 otherwise (a wedged writer fails this probe).
async fn healthz(State(app): State<AppRef>) -> Response {
    match app.store_alive().await {
        Ok(()) => Json(json!({ "status": "ok" })).into_response(),
        Err(e) => {
            tracing::warn!(ERROR = %e, "health probe failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable" })),
            )
                .into_response()
        }
    }
}

/// The public certificate of the self-managed CA; 404 under an operator certificate or
/// without TLS. The CA key is never served.
async fn ca_pem(State(app): State<AppRef>) -> Result<Response, ApiError> {
    let tls = app.tls();
    let pem = tls
        .as_ref()
        .as_ref()
        .and_then(|bundle| bundle.ca_pem.clone())
        .ok_or(ApiError::NotFound)?;
    let mut response = pem.to_string().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-pem-file"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=minimost-ca.pem"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    Ok(response)
}
