//! Who is asking, and may they: the part of the request pipeline (api.md §2.5) that follows the
//! body limit — Origin (403) → session lookup, expiry and login requirement (302/401) → CSRF
//! (403) → rate limit (429) — plus the [`CurrentUser`] extractor the route areas use.
//!
//! It is installed as a route layer inside [`super::pipeline::after_match`], so it sees only
//! matched routes whose parameters and declared length already passed.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, MatchedPath, OptionalFromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::error::ApiError;
use super::pipeline::{is_page_navigation, LoggedUser};
use super::ConnInfo;
use crate::app::AppRef;
use crate::domain::change::Change;
use crate::domain::{password_hash, tokens};
use crate::live::rate_limit::RateLimiter;
use crate::store::accounts;
use crate::system::audit::{self, Outcome};

/// Name of the session cookie (api.md §2.1).
pub const COOKIE: &str = "session";

/// Activity is recorded at this granularity (api.md §2.2 allows up to 60 s), so a busy session
/// costs one write a minute rather than one per request.
const ACTIVITY_GRANULARITY_SECS: f64 = 60.0;

/// Account-security state shared by every request: the server key that signs pre-login CSRF
/// tokens, the rate-limit windows, and the gate that bounds concurrent password hashing.
pub struct Security {
    server_key: [u8; tokens::SECRET_BYTES],
    pub limiter: RateLimiter,
    hashing: Arc<Semaphore>,
}

impl Security {
    /// Loads `<state_dir>/session.key`, creating it (0600, atomically) at first start.
    pub fn load(state_dir: &Path) -> std::io::Result<Security> {
        let path = state_dir.join("session.key");
        let server_key = match std::fs::read(&path) {
            Ok(bytes) if bytes.len() == tokens::SECRET_BYTES => {
                let mut key = [0u8; tokens::SECRET_BYTES];
                key.copy_from_slice(&bytes);
                key
            }
            Ok(_) => {
                tracing::warn!(PATH = %path.display(), "session key has the wrong size; replacing it (open login forms must be reloaded)");
                create_key(&path)?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key(&path)?,
            Err(e) => return Err(e),
        };
        Ok(Security::with_key(server_key))
    }

    fn with_key(server_key: [u8; tokens::SECRET_BYTES]) -> Security {
        // One hash per core at most: a login flood then queues here instead of occupying every
        // worker, and other requests keep a fair share of the CPU.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Security {
            server_key,
            limiter: RateLimiter::new(),
            hashing: Arc::new(Semaphore::new(cores)),
        }
    }

    /// The CSRF token bound to a pre-login cookie id.
    pub fn prelogin_csrf(&self, cookie_id: &str) -> String {
        tokens::csrf_for_prelogin(&self.server_key, cookie_id)
    }
}

/// Writes a fresh key to a temporary file and renames it into place, so a crash never leaves a
/// half-written key behind.
fn create_key(path: &Path) -> std::io::Result<[u8; tokens::SECRET_BYTES]> {
    let key: [u8; tokens::SECRET_BYTES] = rand::random();
    let temp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)?;
    file.write_all(&key)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, path)?;
    Ok(key)
}

/// Periodic upkeep: warms the dummy hash (so the first unknown-user login costs no more than
/// any other) and prunes the rate-limit windows every minute until shutdown.
pub async fn maintenance(app: AppRef) {
    let _ = tokio::task::spawn_blocking(password_hash::dummy_hash).await;
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = app.shutdown.cancelled() => return,
            _ = ticker.tick() => app.security.limiter.prune(crate::domain::time::now()),
        }
    }
}

/// Hashes a password off the async workers, at most one per core at a time.
pub async fn hash_password(app: &AppRef, password: String) -> Result<String, ApiError> {
    let _permit = app
        .security
        .hashing
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    tokio::task::spawn_blocking(move || password_hash::hash(&password))
        .await
        .map_err(|e| ApiError::Internal(format!("hashing task failed: {e}")))
}

/// Verifies a password off the async workers, under the same bound as [`hash_password`].
pub async fn verify_password(
    app: &AppRef,
    password: String,
    stored: String,
) -> Result<bool, ApiError> {
    let _permit = app
        .security
        .hashing
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    tokio::task::spawn_blocking(move || password_hash::verify(&password, &stored))
        .await
        .map_err(|e| ApiError::Internal(format!("verification task failed: {e}")))
}

/// The logged-in user of a request. Extracting it on a route without a live session is a
/// `401 login required` (the middleware normally answers first).
#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub id: i64,
    /// Registered spelling.
    pub name: String,
    /// When the account was created (DM visibility, api.md §4.3).
    pub created_ts: f64,
    /// SHA-256 of the session cookie's id: what `Change::SessionRevoked` names.
    pub session_hash: String,
    pub csrf_token: String,
    /// When the session started (for the cookie's `Max-Age`).
    pub session_created_ts: f64,
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CurrentUser>()
            .cloned()
            .ok_or(ApiError::LoginRequired)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for CurrentUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<CurrentUser>().cloned())
    }
}

/// The session cookie of a request as the middleware found it.
#[derive(Clone, Debug, Default)]
pub struct Visitor {
    /// The well-formed `session` cookie id, live or not (a pre-login cookie is never live).
    pub cookie_id: Option<String>,
    /// Whether the connection is TLS (the cookie gets `Secure`).
    pub tls: bool,
    pub peer: Option<SocketAddr>,
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Visitor>()
            .cloned()
            .unwrap_or_default())
    }
}

/// The three HTML forms whose CSRF and rate-limit refusals re-render the page (api.md §2.4, §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormPage {
    Login,
    Signup,
    Reset,
}

fn form_page(method: &Method, matched: &str) -> Option<FormPage> {
    if method != Method::POST {
        return None;
    }
    match matched {
        "/login" => Some(FormPage::Login),
        "/signup" => Some(FormPage::Signup),
        "/reset-password/{token}" => Some(FormPage::Reset),
        _ => None,
    }
}

/// Routes that need no session (api.md §2.3), plus the probes and manifest the browser or
/// systemd fetch without credentials.
fn is_public(matched: &str) -> bool {
    matches!(
        matched,
        "/login"
            | "/signup"
            | "/about"
            | "/forgot-password"
            | "/reset-password/{token}"
            | "/sw.js"
            | "/ca.pem"
            | "/healthz"
            | "/manifest.webmanifest"
    ) || matched.starts_with("/static/")
}

/// Routes whose use is not activity (api.md §2.2).
fn is_passive(method: &Method, matched: &str) -> bool {
    if method == Method::POST {
        return matched == "/presence";
    }
    if method != Method::GET && method != Method::HEAD {
        return false;
    }
    matches!(
        matched,
        "/events"
            | "/session"
            | "/presence/override"
            | "/online_users"
            | "/unread_count"
            | "/channel_unreads"
            | "/mentions"
            | "/dms"
            | "/calls/incoming"
            | "/calls/active"
            | "/screenshare/active"
    ) || matched.starts_with("/typing/")
        || (matched.starts_with("/calls/")
            && (matched.ends_with("/state") || matched.ends_with("/signals")))
        || (matched.starts_with("/screenshare/") && matched.ends_with("/signals"))
        || is_public(matched)
}

fn state_changing(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// The bucket of a route (api.md §3) and whether its identity is the user (else the peer IP).
fn bucket(method: &Method, matched: &str) -> Option<(&'static str, &'static str, bool)> {
    if method != Method::POST {
        return None;
    }
    // (window key, settings bucket, identity is the user)
    Some(match matched {
        "/login" => ("login", "login", false),
        "/signup" => ("signup", "signup", false),
        "/change-password" | "/delete_account" => ("password_reset", "password_reset", true),
        // A window apart from the per-user one, as §3 requires.
        "/reset-password/{token}" => ("password_reset_ip", "password_reset", false),
        "/send/{channel}" => ("send", "send", true),
        "/avatar" => ("avatar", "avatar", true),
        "/private_channels/create" => ("create_channel", "create_channel", true),
        _ => return None,
    })
}

/// The well-formed `session` cookie of a request, if any. HTTP/2 may split cookies over
/// several headers, so all are read.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|value| {
            value.len() == tokens::SECRET_CHARS
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// `Set-Cookie` for a session id. `max_age` is `None` for a pre-login cookie.
pub fn cookie_header(id: &str, tls: bool, max_age: Option<i64>) -> HeaderValue {
    let mut value = format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax");
    if tls {
        value.push_str("; Secure");
    }
    if let Some(age) = max_age {
        value.push_str(&format!("; Max-Age={}", age.max(0)));
    }
    HeaderValue::from_str(&value)
        .unwrap_or_else(|_| HeaderValue::from_static("session=; Max-Age=0"))
}

/// `Set-Cookie` that removes the session cookie.
pub fn expired_cookie(tls: bool) -> HeaderValue {
    cookie_header("", tls, Some(0))
}

/// Whether `Origin` (when present) is one of the server's own (api.md §2.4).
fn origin_allowed(app: &AppRef, headers: &HeaderMap, uri: &axum::http::Uri, tls: bool) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim();
    if let Some(base) = app.settings().server.public_base_url.as_deref() {
        if let Ok(url) = url::Url::parse(base) {
            if url
                .origin()
                .ascii_serialization()
                .eq_ignore_ascii_case(origin)
            {
                return true;
            }
        }
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.to_string()));
    let scheme = if tls { "https" } else { "http" };
    host.is_some_and(|host| origin.eq_ignore_ascii_case(&format!("{scheme}://{host}")))
}

/// The submitted CSRF token: the `X-CSRF-Token` header, else the `csrf_token` field of a form
/// body (URL-encoded or multipart). A JSON body never counts. Returns the request with its body
/// restored, the token, and the form's `username` (for re-rendered forms).
async fn submitted_token(
    request: Request,
) -> Result<(Request, Option<String>, Option<String>), Response> {
    if let Some(value) = request.headers().get("x-csrf-token") {
        let token = value.to_str().ok().map(str::to_string);
        return Ok((request, token, None));
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !is_form(&content_type) {
        return Ok((request, None, None));
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            return Err(if too_large {
                ApiError::TooLarge.into_response()
            } else {
                ApiError::BadRequest("unreadable body".into()).into_response()
            });
        }
    };
    let fields = form_fields(&content_type, &bytes);
    let token = field(&fields, "csrf_token");
    let username = field(&fields, "username");
    Ok((
        Request::from_parts(parts, Body::from(bytes)),
        token,
        username,
    ))
}

fn is_form(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media == "application/x-www-form-urlencoded" || media == "multipart/form-data"
}

/// One field of a form body.
#[derive(Debug, Clone, PartialEq)]
pub struct FormField {
    pub name: String,
    /// The file name of a multipart file part.
    pub filename: Option<String>,
    pub data: Bytes,
}

/// The first value of a text field.
pub fn field(fields: &[FormField], name: &str) -> Option<String> {
    fields
        .iter()
        .find(|f| f.name == name)
        .map(|f| String::from_utf8_lossy(&f.data).into_owned())
}

/// Parses a URL-encoded or multipart body into its fields, in order. Anything unreadable
/// yields no fields (the route then sees its fields as absent).
pub fn form_fields(content_type: &str, body: &Bytes) -> Vec<FormField> {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media == "application/x-www-form-urlencoded" {
        return url::form_urlencoded::parse(body)
            .map(|(k, v)| FormField {
                name: k.into_owned(),
                filename: None,
                data: Bytes::from(v.into_owned()),
            })
            .collect();
    }
    if media == "multipart/form-data" {
        if let Some(boundary) = boundary(content_type) {
            return multipart(body, &boundary);
        }
    }
    Vec::new()
}

fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty() && b.len() <= 200)
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// A small multipart/form-data reader (RFC 7578) over a buffered body. Malformed input ends the
/// parse; the fields read so far are kept.
fn multipart(body: &Bytes, boundary: &str) -> Vec<FormField> {
    let mut fields = Vec::new();
    let opening = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    let Some(start) = find(body, opening.as_bytes(), 0) else {
        return fields;
    };
    let mut pos = start + opening.len();
    loop {
        if body.get(pos..pos + 2) == Some(b"--") {
            break;
        }
        if body.get(pos..pos + 2) != Some(b"\r\n") {
            break;
        }
        pos += 2;
        let Some(head_end) = find(body, b"\r\n\r\n", pos) else {
            break;
        };
        let head = String::from_utf8_lossy(&body[pos..head_end]).into_owned();
        let data_start = head_end + 4;
        let Some(data_end) = find(body, delimiter.as_bytes(), data_start) else {
            break;
        };
        if let Some((name, filename)) = disposition(&head) {
            fields.push(FormField {
                name,
                filename,
                data: body.slice(data_start..data_end),
            });
        }
        pos = data_end + delimiter.len();
    }
    fields
}

/// `name` and `filename` of a part's `Content-Disposition: form-data` header.
fn disposition(head: &str) -> Option<(String, Option<String>)> {
    let line = head.split("\r\n").find(|l| {
        l.split(':')
            .next()
            .is_some_and(|n| n.trim().eq_ignore_ascii_case("content-disposition"))
    })?;
    let value = line.split_once(':')?.1;
    let mut name = None;
    let mut filename = None;
    for param in value.split(';').skip(1) {
        let Some((k, v)) = param.trim().split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').to_string();
        match k.trim().to_ascii_lowercase().as_str() {
            "name" => name = Some(v),
            "filename" => filename = Some(v),
            _ => {}
        }
    }
    Some((name?, filename))
}

/// The JSON object of a JSON route (api.md §1.4): a body declared `application/json` must be
/// an object (else `400`); no body, or another Content-Type, reads as `{}`.
pub fn json_body(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if media != "application/json" || body.is_empty() {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        )),
        Err(_) => Err(ApiError::BadRequest("the body is not valid JSON".into())),
    }
}

/// A string field of a JSON object: absent is `None`; any other type (`null` included) is a
/// `400`.
pub fn json_string(
    object: &serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Result<Option<String>, ApiError> {
    match object.get(key) {
        None => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::BadRequest(format!("{key} must be a string"))),
    }
}

/// A nullable string field: absent is `None`, `null` is `Some(None)`; another type is a `400`.
pub fn json_nullable_string(
    object: &serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Result<Option<Option<String>>, ApiError> {
    match object.get(key) {
        None => Ok(None),
        Some(serde_json::Value::Null) => Ok(Some(None)),
        Some(serde_json::Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(ApiError::BadRequest(format!(
            "{key} must be a string or null"
        ))),
    }
}

/// The middleware; see the module documentation.
pub async fn layer(State(app): State<AppRef>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let conn = request.extensions().get::<ConnInfo>().cloned();
    let tls = conn.as_ref().is_some_and(|c| c.tls);
    let peer = conn.as_ref().map(|c| c.peer);
    let changing = state_changing(&method);
    let path = request.uri().path().to_string();

    // Origin.
    if changing && !origin_allowed(&app, request.headers(), request.uri(), tls) {
        audit::record(
            "origin_rejected",
            None,
            peer,
            Outcome::Failure,
            Some(&matched),
        );
        return ApiError::CrossOrigin.into_response();
    }

    // Session lookup, expiry and the login requirement.
    let cookie_id = session_cookie(request.headers());
    let now = crate::domain::time::now();
    let mut user: Option<CurrentUser> = None;
    let mut last_active = 0.0;
    if let Some(id) = &cookie_id {
        let hash = tokens::sha256_hex(id);
        let lookup = app.readers.read(move |c| accounts::session(c, &hash)).await;
        match lookup {
            Ok(Some(session)) => {
                if session.expired(now, app.settings().session_idle_minutes) {
                    expire(&app, &session, peer).await;
                } else {
                    last_active = session.last_active_ts;
                    user = Some(CurrentUser {
                        id: session.user_id,
                        name: session.username,
                        created_ts: session.user_created_ts,
                        session_hash: session.id_hash,
                        csrf_token: session.csrf_token,
                        session_created_ts: session.created_ts,
                    });
                }
            }
            Ok(None) => {}
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    if user.is_none() && !is_public(&matched) {
        let navigation = (method == Method::GET || method == Method::HEAD)
            && is_page_navigation(request.headers());
        let mut response = if navigation {
            redirect("/login")
        } else {
            audit::record(
                "access_denied",
                None,
                peer,
                Outcome::Failure,
                Some("login required"),
            );
            ApiError::LoginRequired.into_response()
        };
        if cookie_id.is_some() {
            response
                .headers_mut()
                .append(header::SET_COOKIE, expired_cookie(tls));
        }
        return response;
    }

    let visitor = Visitor {
        cookie_id: cookie_id.clone(),
        tls,
        peer,
    };
    let form = form_page(&method, &matched);
    let mut request = request;

    // CSRF.
    if changing {
        let expected = match (&user, &cookie_id) {
            (Some(u), _) => Some(u.csrf_token.clone()),
            (None, Some(id)) => Some(app.security.prelogin_csrf(id)),
            (None, None) => None,
        };
        let (restored, submitted, username) = match submitted_token(request).await {
            Ok(parts) => parts,
            Err(response) => return response,
        };
        request = restored;
        let valid = match (&expected, &submitted) {
            (Some(e), Some(s)) => tokens::tokens_equal(e, s),
            _ => false,
        };
        if !valid {
            let who = user.as_ref().map(|u| u.name.clone()).or(username.clone());
            let reason = if submitted.is_none() {
                "missing token"
            } else {
                "wrong token"
            };
            audit::record(
                "csrf_rejected",
                who.as_deref(),
                peer,
                Outcome::Failure,
                Some(reason),
            );
            return match form {
                Some(page) => {
                    // The refusal offers a fresh form bound to a new pre-login cookie unless
                    // the visitor is logged in (their token is stable).
                    let mut visitor = visitor;
                    let mut fresh = None;
                    if user.is_none() {
                        let id = tokens::new_secret();
                        visitor.cookie_id = Some(id.clone());
                        fresh = Some(id);
                    }
                    let mut response = super::account::form_refusal(
                        &app,
                        page,
                        &path,
                        user.as_ref(),
                        &visitor,
                        StatusCode::FORBIDDEN,
                        crate::domain::password_policy::FORM_SESSION_EXPIRED.to_string(),
                        username,
                    )
                    .await;
                    if let Some(id) = fresh {
                        response
                            .headers_mut()
                            .append(header::SET_COOKIE, cookie_header(&id, tls, None));
                    }
                    response
                }
                None => ApiError::CsrfInvalid.into_response(),
            };
        }
    }

    // Rate limit.
    let settings = app.settings();
    if settings.rate_limit_enabled {
        if let Some((window, bucket_name, per_user)) = bucket(&method, &matched) {
            let identity = if per_user {
                user.as_ref().map(|u| u.name.clone())
            } else {
                peer.map(|p| p.ip().to_string())
            };
            if let Some(identity) = identity {
                let limit = settings.limit(bucket_name);
                if let Err(wait) =
                    app.security
                        .limiter
                        .check(window, &identity, limit.max, limit.window_s, now)
                {
                    audit::record(
                        "rate_limited",
                        user.as_ref().map(|u| u.name.as_str()),
                        peer,
                        Outcome::Failure,
                        Some(bucket_name),
                    );
                    let mut response = match form {
                        Some(page) => {
                            super::account::form_refusal(
                                &app,
                                page,
                                &path,
                                user.as_ref(),
                                &visitor,
                                StatusCode::TOO_MANY_REQUESTS,
                                wait.message(),
                                None,
                            )
                            .await
                        }
                        None => ApiError::RateLimited {
                            retry_after: wait.seconds,
                            message: wait.message(),
                        }
                        .into_response(),
                    };
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(wait.seconds));
                    return response;
                }
            }
        }
    }
    drop(settings);

    // Activity, recorded off the request's path: the response does not wait for it.
    if let Some(u) = &user {
        if !is_passive(&method, &matched) && now - last_active >= ACTIVITY_GRANULARITY_SECS {
            let hash = u.session_hash.clone();
            let writer = app.writer.clone();
            tokio::spawn(async move {
                if let Err(e) = writer
                    .write(move |ctx| accounts::touch_session(ctx.conn, &hash, now))
                    .await
                {
                    tracing::warn!(ERROR = %e, "could not record session activity");
                }
            });
        }
    }

    request.extensions_mut().insert(visitor);
    if let Some(u) = &user {
        request.extensions_mut().insert(u.clone());
    }
    let mut response = next.run(request).await;
    if let Some(u) = user {
        if response.extensions().get::<LoggedUser>().is_none() {
            response.extensions_mut().insert(LoggedUser(u.name));
        }
    }
    response
}

/// Ends a session that outlived its idle or absolute limit, telling its open streams.
async fn expire(app: &AppRef, session: &accounts::Session, peer: Option<SocketAddr>) {
    let hash = session.id_hash.clone();
    let result = app
        .writer
        .write(move |ctx| {
            if accounts::delete_session(ctx.conn, &hash)? {
                ctx.publish(Change::SessionRevoked {
                    session_hash: hash,
                    reason: "expired",
                });
            }
            Ok(())
        })
        .await;
    if let Err(e) = result {
        tracing::warn!(ERROR = %e, "could not delete an expired session");
    }
    audit::record(
        "session_expired",
        Some(&session.username),
        peer,
        Outcome::Success,
        None,
    );
}

/// `302` with a relative `Location`.
pub fn redirect(location: &'static str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(location));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_routes_are_public() {
        for path in [
            "/login",
            "/signup",
            "/reset-password/{token}",
            "/static/{*path}",
            "/about",
        ] {
            assert!(is_public(path), "{path}");
        }
        for path in ["/", "/logout", "/session", "/send/{channel}", "/users"] {
            assert!(!is_public(path), "{path}");
        }
    }

    #[test]
    fn passive_routes_do_not_count_as_activity() {
        assert!(is_passive(&Method::GET, "/session"));
        assert!(is_passive(&Method::POST, "/presence"));
        assert!(is_passive(&Method::GET, "/calls/{call_id}/signals"));
        assert!(!is_passive(&Method::GET, "/channels"));
        assert!(!is_passive(&Method::POST, "/session"));
        assert!(!is_passive(&Method::POST, "/send/{channel}"));
    }

    #[test]
    fn cookie_must_be_a_well_formed_id() {
        let id = tokens::new_secret();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("theme=dark; session={id}")).unwrap(),
        );
        assert_eq!(session_cookie(&headers), Some(id));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("session=../../etc"),
        );
        assert_eq!(session_cookie(&headers), None);
    }

    #[test]
    fn reset_form_has_its_own_ip_window() {
        let (window, bucket_name, per_user) =
            bucket(&Method::POST, "/reset-password/{token}").unwrap();
        assert_eq!(
            (window, bucket_name, per_user),
            ("password_reset_ip", "password_reset", false)
        );
        assert_eq!(
            bucket(&Method::POST, "/change-password").unwrap().0,
            "password_reset"
        );
        assert!(bucket(&Method::GET, "/login").is_none());
    }

    #[test]
    fn multipart_fields_are_read_with_file_names() {
        let body = Bytes::from_static(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\nabc\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"a.jpg\"\r\n\
Content-Type: image/jpeg\r\n\r\n\xff\xd8\r\n--\r\n--XyZ--\r\n",
        );
        let fields = form_fields("multipart/form-data; boundary=XyZ", &body);
        assert_eq!(field(&fields, "csrf_token").as_deref(), Some("abc"));
        let file = fields.iter().find(|f| f.name == "avatar").unwrap();
        assert_eq!(file.filename.as_deref(), Some("a.jpg"));
        assert_eq!(&file.data[..], b"\xff\xd8\r\n--");
    }

    #[test]
    fn urlencoded_fields_are_decoded() {
        let body = Bytes::from_static(b"username=a%20b&csrf_token=t+1&username=second");
        let fields = form_fields("application/x-www-form-urlencoded; charset=utf-8", &body);
        assert_eq!(field(&fields, "username").as_deref(), Some("a b"));
        assert_eq!(field(&fields, "csrf_token").as_deref(), Some("t 1"));
    }

    #[test]
    fn server_key_is_created_once_and_private() {
        let dir = tempfile_dir();
        let first = Security::load(&dir).unwrap();
        let second = Security::load(&dir).unwrap();
        assert_eq!(first.server_key, second.server_key);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.join("session.key"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("minimost-auth-{}", tokens::new_secret()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
