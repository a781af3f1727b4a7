//! The request pipeline of api.md §2.5, as middleware:
//!
//! - [`outer`] wraps every request (matched or not): request id, the security headers of §2.6,
//!   `Cache-Control: no-store` on dynamic responses, the HTML form of generic errors for page
//!   navigations (§1.6), `OPTIONS` → 204, and one log line per request.
//! - [`after_match`] runs only on matched routes, in contract order: overlong path or query
//!   (400), then the body limit (413) — before anything is buffered.
//!
//! Origin, session, CSRF and rate limits follow in the accounts layer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, GenericError};
use super::ConnInfo;
use crate::app::AppRef;

/// The request id, available to handlers and logged with every line about the request.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Set by the authentication layer so the request log can name the user.
#[derive(Clone, Debug)]
pub struct LoggedUser(pub String);

/// The matched route pattern, put on the response for the request log and metrics.
#[derive(Clone, Debug)]
pub struct MatchedRoute(pub String);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn new_request_id() -> String {
    // Unique within a process run; the boot-time prefix keeps ids distinct across restarts.
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let prefix = PREFIX.get_or_init(rand::random::<u32>);
    format!("{prefix:08x}-{:x}", NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; worker-src 'self'; \
base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

const PERMISSIONS: &str =
    "camera=(self), microphone=(self), display-capture=(self), geolocation=(), \
payment=(), usb=(), interest-cohort=()";

/// api.md §1.6: is this request a page navigation (gets HTML errors and login redirects)?
pub fn is_page_navigation(headers: &HeaderMap) -> bool {
    if let Some(mode) = headers.get("sec-fetch-mode") {
        return mode.as_bytes().eq_ignore_ascii_case(b"navigate");
    }
    if headers.contains_key("x-requested-with") {
        return false;
    }
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut html: Option<f32> = None;
    let mut json: f32 = 0.0;
    for part in accept.split(',') {
        let mut pieces = part.split(';');
        let media = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let quality = pieces
            .filter_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
            })
            .next()
            .unwrap_or(1.0);
        match media.as_str() {
            "text/html" => html = Some(html.map_or(quality, |h: f32| h.max(quality))),
            "application/json" => json = json.max(quality),
            _ => {}
        }
    }
    html.is_some_and(|h| h > 0.0 && h >= json)
}

fn set_security_headers(headers: &mut HeaderMap, over_tls: bool) {
    let fixed: [(&str, &str); 8] = [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("content-security-policy", CSP),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-embedder-policy", "require-corp"),
        ("cross-origin-resource-policy", "same-origin"),
        ("permissions-policy", PERMISSIONS),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if over_tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// Wraps every request; see the module documentation.
pub async fn outer(State(app): State<AppRef>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = new_request_id();
    request.extensions_mut().insert(RequestId(id.clone()));
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let navigation = is_page_navigation(request.headers());
    let conn = request.extensions().get::<ConnInfo>().cloned();
    let over_tls = conn.as_ref().is_some_and(|c| c.tls);
    app.counters.requests.fetch_add(1, Ordering::Relaxed);

    let mut response = next.run(request).await;

    // OPTIONS on a known path: the router answered 405 with the allowed methods.
    if method == Method::OPTIONS && response.status() == StatusCode::METHOD_NOT_ALLOWED {
        let allow = response.headers().get(header::ALLOW).cloned();
        response = StatusCode::NO_CONTENT.into_response();
        if let Some(allow) = allow {
            response.headers_mut().insert(header::ALLOW, allow);
        }
    }
    if let Some(generic) = response.extensions().get::<GenericError>().cloned() {
        if navigation {
            let allow = response.headers().get(header::ALLOW).cloned();
            let retry = response.headers().get(header::RETRY_AFTER).cloned();
            response = super::pages::error_page(generic.status, &generic.message);
            for (name, value) in [(header::ALLOW, allow), (header::RETRY_AFTER, retry)] {
                if let Some(value) = value {
                    response.headers_mut().insert(name, value);
                }
            }
        }
    }
    let user = response
        .extensions()
        .get::<LoggedUser>()
        .map(|u| u.0.clone());
    set_security_headers(response.headers_mut(), over_tls);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    let micros = elapsed.as_micros() as u64;
    let route = response
        .extensions()
        .get::<MatchedRoute>()
        .map_or("unmatched", |r| r.0.as_str());
    crate::ops::metrics::record_request(method.as_str(), route, status, elapsed.as_secs_f64());
    tracing::info!(
        REQUEST_ID = %id,
        METHOD = %method,
        PATH = %path,
        STATUS = status,
        DURATION_US = micros,
        USER = user.as_deref().unwrap_or("-"),
        REMOTE_ADDR = %conn.map(|c| c.peer.to_string()).unwrap_or_default(),
        "{method} {path} {status}"
    );
    response
}

/// Longest percent-decoded path segment or query value (api.md §1.4).
const MAX_PARAM_BYTES: usize = 2048;

fn overlong(request: &Request) -> bool {
    let uri = request.uri();
    let decoded_len = |raw: &str| percent_decoded_len(raw);
    if uri
        .path()
        .split('/')
        .any(|segment| decoded_len(segment) > MAX_PARAM_BYTES)
    {
        return true;
    }
    uri.query().is_some_and(|query| {
        query.split('&').any(|pair| {
            decoded_len(pair.split_once('=').map_or(pair, |(_, v)| v)) > MAX_PARAM_BYTES
        })
    })
}

/// Length after percent-decoding (`%xx` counts as one byte; `+` stays one byte).
fn percent_decoded_len(raw: &str) -> usize {
    let bytes = raw.as_bytes();
    let mut length = 0;
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes[i] == b'%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        if escape {
            i += 3;
        } else {
            i += 1;
        }
        length += 1;
    }
    length
}

/// The largest body a route accepts (api.md §1.5), by its matched path.
pub fn body_limit(app: &AppRef, method: &Method, matched: &str) -> u64 {
    const KIB: u64 = 1024;
    let settings = app.settings();
    match (method, matched) {
        (&Method::POST, "/send/{channel}") => settings.max_upload_bytes() + 128 * KIB,
        (&Method::POST, "/avatar") => settings.max_avatar_bytes() + 16 * KIB,
        (&Method::POST, "/edit/{id}") => 128 * KIB,
        _ => 64 * KIB,
    }
}

/// Whether the 413 for this route uses the upload wording of §1.5.
fn upload_route(matched: &str) -> bool {
    matches!(matched, "/send/{channel}" | "/avatar")
}

/// Runs after route matching: the overlong-parameter check, then the body limit, enforced on
/// `Content-Length` before reading and on the stream while reading.
pub async fn after_match(State(app): State<AppRef>, request: Request, next: Next) -> Response {
    if overlong(&request) {
        return ApiError::BadRequest("path or query parameter too long".into()).into_response();
    }
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let limit = body_limit(&app, request.method(), &matched);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return too_large(&app, &matched);
    }
    let (parts, body) = request.into_parts();
    let limited = Body::new(http_body_util::Limited::new(body, limit as usize));
    let mut response = next.run(Request::from_parts(parts, limited)).await;
    response
        .extensions_mut()
        .insert(MatchedRoute(matched.clone()));
    // An extractor that hit the limit while streaming answers 413 through axum's rejection;
    // give it the contract's body.
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE
        && response.extensions().get::<GenericError>().is_none()
        && !upload_route(&matched)
    {
        response = ApiError::TooLarge.into_response();
    }
    response
}

fn too_large(app: &AppRef, matched: &str) -> Response {
    if upload_route(matched) {
        let settings = app.settings();
        let mib = if matched == "/avatar" {
            settings.max_avatar_size_mb
        } else {
            settings.max_upload_size_mb
        };
        return ApiError::text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("file too large (max {} MB)", mib.floor() as u64),
        )
        .into_response();
    }
    ApiError::TooLarge.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn navigate_mode_is_a_page_navigation() {
        assert!(is_page_navigation(&headers(&[(
            "sec-fetch-mode",
            "navigate"
        )])));
        assert!(!is_page_navigation(&headers(&[
            ("sec-fetch-mode", "cors"),
            ("accept", "text/html")
        ])));
    }

    #[test]
    fn html_must_be_named_explicitly() {
        assert!(!is_page_navigation(&headers(&[("accept", "*/*")])));
        assert!(!is_page_navigation(&HeaderMap::new()));
        assert!(is_page_navigation(&headers(&[(
            "accept",
            "text/html,application/xhtml+xml,*/*;q=0.8"
        )])));
    }

    #[test]
    fn json_preferred_over_html_is_not_a_navigation() {
        assert!(!is_page_navigation(&headers(&[(
            "accept",
            "application/json, text/html;q=0.5"
        )])));
        assert!(is_page_navigation(&headers(&[(
            "accept",
            "application/json;q=0.5, text/html"
        )])));
        assert!(!is_page_navigation(&headers(&[
            ("accept", "text/html"),
            ("x-requested-with", "XMLHttpRequest")
        ])));
    }

    #[test]
    fn percent_escapes_count_as_one_byte() {
        assert_eq!(percent_decoded_len("%41%42c"), 3);
        assert_eq!(percent_decoded_len("100%"), 4);
        assert_eq!(percent_decoded_len("%zz"), 3);
    }
}
