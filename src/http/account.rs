//! Accounts over HTTP (api.md §6.1, §6.2 `GET /`): the login, signup, reset, about and
//! forgot-password pages, logout, `GET /session`, change-password and account deletion.
//!
//! The middleware in [`super::auth`] has already checked Origin, session, CSRF and the rate
//! limit; the handlers here run the route's own checks in the order of §6.1.

use std::path::Path;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use minijinja::context;
use serde_json::{json, Value};

use super::auth::{
    self, cookie_header, expired_cookie, field, form_fields, redirect, CurrentUser, FormPage,
    Visitor,
};
use super::error::ApiError;
use super::pages;
use crate::app::AppRef;
use crate::domain::change::Change;
use crate::domain::password_policy::{self as policy, FailureOutcome};
use crate::domain::{password_hash, tokens, username};
use crate::store::accounts::{self, CreateError};
use crate::store::StoreError;
use crate::system::audit::{self, Outcome};

/// The notice on `/login?logged_out=1` (api.md §6.1).
const LOGGED_OUT: &str = "You have been logged out. Your session was securely terminated.";

pub fn routes() -> Router<AppRef> {
    Router::new()
        .route("/", get(app_page))
        .route("/login", get(login_page).post(login_submit))
        .route("/signup", get(signup_page).post(signup_submit))
        .route("/logout", get(logout).post(logout))
        .route("/session", get(session_info))
        .route("/about", get(about))
        .route("/forgot-password", get(forgot_password))
        .route(
            "/reset-password/{token}",
            get(reset_page).post(reset_submit),
        )
        .route("/change-password", axum::routing::post(change_password))
        .route("/delete_account", axum::routing::post(delete_account))
}

/// Renders a page template, or the generic 500 if the template fails.
fn page(status: StatusCode, name: &str, context: minijinja::Value) -> Response {
    match pages::render(name, context) {
        Ok(body) => pages::html(status, body),
        Err(e) => ApiError::Internal(format!("template {name}: {e}")).into_response(),
    }
}

/// The CSRF token a form page carries, and a new pre-login cookie id when the visitor has
/// none (api.md §2.1).
fn form_token(
    app: &AppRef,
    visitor: &Visitor,
    user: Option<&CurrentUser>,
) -> (String, Option<String>) {
    if let Some(user) = user {
        return (user.csrf_token.clone(), None);
    }
    match &visitor.cookie_id {
        Some(id) => (app.security.prelogin_csrf(id), None),
        None => {
            let id = tokens::new_secret();
            (app.security.prelogin_csrf(&id), Some(id))
        }
    }
}

fn with_cookie(mut response: Response, id: Option<String>, tls: bool) -> Response {
    if let Some(id) = id {
        response
            .headers_mut()
            .append(header::SET_COOKIE, cookie_header(&id, tls, None));
    }
    response
}

/// The token of a form page whose submission passed CSRF: the cookie is known to exist.
fn posted_token(app: &AppRef, visitor: &Visitor, user: Option<&CurrentUser>) -> String {
    form_token(app, visitor, user).0
}

/// The fields of a form body; the body extractor already enforced the size limit.
fn fields_of(headers: &HeaderMap, body: &Bytes) -> Vec<auth::FormField> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    form_fields(content_type, body)
}

/// The refusal page of a form after a CSRF or rate-limit failure (api.md §2.4, §3), rendered
/// by the middleware with the form's own look.
#[allow(clippy::too_many_arguments)]
pub async fn form_refusal(
    app: &AppRef,
    form: FormPage,
    path: &str,
    user: Option<&CurrentUser>,
    visitor: &Visitor,
    status: StatusCode,
    message: String,
    username: Option<String>,
) -> Response {
    let token = posted_token(app, visitor, user);
    match form {
        FormPage::Login => page(
            status,
            "login.html",
            context! {
                csrf_token => token,
                username => username.map(|u| u.trim().to_string()),
                error => message,
                signed_in_user => user.map(|u| u.name.clone()),
            },
        ),
        FormPage::Signup => page(
            status,
            "signup.html",
            context! {
                csrf_token => token,
                username => username.map(|u| u.trim().to_string()),
                error => message,
            },
        ),
        FormPage::Reset => {
            let raw = path.strip_prefix("/reset-password/").unwrap_or("");
            let reset = percent_decode(raw);
            match reset_user(app, &reset).await {
                Ok(Some(owner)) => page(
                    status,
                    "reset_password.html",
                    context! {
                        state => "form",
                        username => owner.username,
                        csrf_token => token,
                        error => message,
                    },
                ),
                Ok(None) => page(
                    StatusCode::OK,
                    "reset_password.html",
                    context! { state => "invalid" },
                ),
                Err(e) => e.into_response(),
            }
        }
    }
}

fn percent_decode(raw: &str) -> String {
    url::form_urlencoded::parse(format!("t={}", raw.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `GET /`: the app shell (api.md §6.2).
async fn app_page(State(app): State<AppRef>, user: CurrentUser) -> Response {
    let settings = app.settings();
    let config = json!({
        "user": user.name,
        "max_upload_mb": settings.max_upload_size_mb,
        "max_avatar_mb": settings.max_avatar_size_mb,
        "max_message_chars": 10000,
        "stun_port": settings.stun_port,
    });
    page(
        StatusCode::OK,
        "app.html",
        context! {
            csrf_token => user.csrf_token,
            config_json => config.to_string(),
            user => user.name,
        },
    )
}

/// `GET /login`.
async fn login_page(
    State(app): State<AppRef>,
    visitor: Visitor,
    user: Option<CurrentUser>,
    RawQuery(query): RawQuery,
) -> Response {
    let (token, fresh) = form_token(&app, &visitor, user.as_ref());
    // The first `logged_out` counts (api.md §1.4); it must be non-empty.
    let logged_out = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "logged_out")
        .is_some_and(|(_, v)| !v.is_empty());
    let response = page(
        StatusCode::OK,
        "login.html",
        context! {
            csrf_token => token,
            username => "",
            notice => logged_out.then_some(LOGGED_OUT),
            signed_in_user => user.map(|u| u.name),
        },
    );
    with_cookie(response, fresh, visitor.tls)
}

/// `GET /signup`.
async fn signup_page(
    State(app): State<AppRef>,
    visitor: Visitor,
    user: Option<CurrentUser>,
) -> Response {
    let (token, fresh) = form_token(&app, &visitor, user.as_ref());
    let response = page(
        StatusCode::OK,
        "signup.html",
        context! { csrf_token => token, username => "" },
    );
    with_cookie(response, fresh, visitor.tls)
}

async fn about() -> Response {
    page(StatusCode::OK, "about.html", context! {})
}

async fn forgot_password() -> Response {
    page(StatusCode::OK, "forgot_password.html", context! {})
}

/// `POST /login` (api.md §6.1.1).
async fn login_submit(
    State(app): State<AppRef>,
    visitor: Visitor,
    user: Option<CurrentUser>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let fields = fields_of(&headers, &body);
    let (Some(raw_name), Some(password)) = (field(&fields, "username"), field(&fields, "password"))
    else {
        return Err(ApiError::BadRequest(
            "username and password are required".into(),
        ));
    };
    let name = raw_name.trim().to_string();
    let token = posted_token(&app, &visitor, user.as_ref());
    let refuse = |message: String| {
        page(
            StatusCode::OK,
            "login.html",
            context! {
                csrf_token => token.clone(),
                username => name.clone(),
                error => message,
                signed_in_user => user.as_ref().map(|u| u.name.clone()),
            },
        )
    };
    let audit_fail = |event: &str, who: &str, reason: &str| {
        audit::record(
            event,
            Some(who),
            visitor.peer,
            Outcome::Failure,
            Some(reason),
        )
    };

    if password.chars().count() > policy::MAX_PASSWORD_CHARS {
        audit_fail("login_failed", &name, "password too long");
        return Ok(refuse(policy::INVALID_CREDENTIALS.into()));
    }
    let lookup = name.clone();
    let account = app
        .readers
        .read(move |c| accounts::user_by_name(c, &lookup))
        .await?;
    let now = crate::domain::time::now();
    let Some(account) = account else {
        // Same cost as a real check, so response time does not reveal which names exist.
        let _ =
            auth::verify_password(&app, password, password_hash::dummy_hash().to_string()).await?;
        audit_fail("login_failed", &name, "unknown user");
        return Ok(refuse(policy::INVALID_CREDENTIALS.into()));
    };
    let name = account.username.clone();
    if account.admin_locked {
        audit_fail("login_locked", &name, "locked by an administrator");
        return Ok(refuse(ADMIN_LOCKED.into()));
    }
    if let Some(until) = account.lockout_until.filter(|u| *u > now) {
        audit_fail("login_locked", &name, "account locked");
        return Ok(refuse(policy::lock_message(policy::minutes_left(
            until, now,
        ))));
    }
    let matches =
        auth::verify_password(&app, password.clone(), account.password_hash.clone()).await?;
    if !matches {
        let message = record_failure(&app, account.id).await?;
        let locked = message.is_some();
        audit_fail(
            if locked {
                "login_locked"
            } else {
                "login_failed"
            },
            &name,
            if locked {
                "lockout started"
            } else {
                "wrong password"
            },
        );
        return Ok(refuse(
            message.unwrap_or_else(|| policy::INVALID_CREDENTIALS.to_string()),
        ));
    }
    let settings = app.settings();
    // `password_max_age_days` is a number (§8), so compare in seconds rather than whole days.
    let max_age_days = settings.password_max_age_days;
    if max_age_days > 0.0 && now - account.password_set_ts > max_age_days * 86_400.0 {
        let id = account.id;
        app.writer
            .write(move |ctx| accounts::clear_failures(ctx.conn, id))
            .await?;
        audit_fail("login_failed", &name, "password expired");
        return Ok(refuse(policy::PASSWORD_EXPIRED.into()));
    }
    let upgraded = if password_hash::needs_rehash(&account.password_hash) {
        Some(auth::hash_password(&app, password).await?)
    } else {
        None
    };
    let old_session = user.as_ref().map(|u| u.session_hash.clone());
    let id = account.id;
    let old_hash = account.password_hash.clone();
    let session_id = tokens::new_secret();
    let session_hash = tokens::sha256_hex(&session_id);
    let csrf = tokens::new_secret();
    app.writer
        .write(move |ctx| {
            accounts::clear_failures(ctx.conn, id)?;
            if let Some(new) = &upgraded {
                accounts::upgrade_hash(ctx.conn, id, &old_hash, new)?;
            }
            revoke_one(ctx, old_session, "logout")?;
            accounts::insert_session(ctx.conn, &session_hash, id, &csrf, now)?;
            Ok(())
        })
        .await?;
    audit::record(
        "login_ok",
        Some(&name),
        visitor.peer,
        Outcome::Success,
        None,
    );
    app.user_signed_in(&name);
    Ok(start_session(&session_id, visitor.tls))
}

/// Counts one failed login for a known account; the lock message when this failure locked it.
async fn record_failure(app: &AppRef, user_id: i64) -> Result<Option<String>, ApiError> {
    let settings = app.settings();
    let max_attempts = settings.max_login_attempts;
    // The duration is a number of minutes that may be fractional (§8); the domain rule decides
    // whether this failure locks, the exact length is applied here.
    let lock_seconds = settings.lockout_duration_minutes.max(0.0) * 60.0;
    let now = crate::domain::time::now();
    let message = app
        .writer
        .write(move |ctx| {
            let Some(account) = accounts::user_by_id(ctx.conn, user_id)? else {
                return Ok(None);
            };
            match policy::record_failure(account.failed_attempts, max_attempts, 0, now) {
                FailureOutcome::NotTracked => Ok(None),
                FailureOutcome::Counted { failed_attempts } => {
                    accounts::store_failures(
                        ctx.conn,
                        user_id,
                        failed_attempts,
                        account.lockout_until,
                    )?;
                    Ok(None)
                }
                FailureOutcome::Locked { .. } => {
                    accounts::store_failures(ctx.conn, user_id, 0, Some(now + lock_seconds))?;
                    Ok(Some(policy::lock_message(policy::fresh_lock_minutes(
                        lock_seconds,
                    ))))
                }
            }
        })
        .await?;
    Ok(message)
}

/// Shown at login for an account `minimostctl users lock` locked.
pub const ADMIN_LOCKED: &str =
    "This account has been locked by an administrator. Please contact your administrators.";

/// Deletes the session named by `hash` (if any) and tells its streams why.
fn revoke_one(
    ctx: &mut crate::store::WriteCtx<'_>,
    hash: Option<String>,
    reason: &'static str,
) -> Result<(), StoreError> {
    if let Some(hash) = hash {
        if accounts::delete_session(ctx.conn, &hash)? {
            ctx.publish(Change::SessionRevoked {
                session_hash: hash,
                reason,
            });
        }
    }
    Ok(())
}

fn revoke_all(ctx: &mut crate::store::WriteCtx<'_>, hashes: Vec<String>, reason: &'static str) {
    for hash in hashes {
        ctx.publish(Change::SessionRevoked {
            session_hash: hash,
            reason,
        });
    }
}

/// `302 Location: /` with the new session's cookie (Max-Age: the whole 30 days).
fn start_session(id: &str, tls: bool) -> Response {
    let mut response = redirect("/");
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(id, tls, Some(accounts::SESSION_LIFETIME_SECS as i64)),
    );
    response
}

/// The largest double below `x` (for positive finite `x`): a signup's watermarks sit just
/// below the welcome's `ts`, so the welcome is the one unread row (api.md §4.4).
fn just_before(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 {
        f64::from_bits(x.to_bits() - 1)
    } else {
        x
    }
}

/// `POST /signup` (api.md §6.1.2).
async fn signup_submit(
    State(app): State<AppRef>,
    visitor: Visitor,
    user: Option<CurrentUser>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let fields = fields_of(&headers, &body);
    let (Some(raw_name), Some(password), Some(confirm)) = (
        field(&fields, "username"),
        field(&fields, "password"),
        field(&fields, "confirm_password"),
    ) else {
        return Err(ApiError::BadRequest(
            "username, password and confirm_password are required".into(),
        ));
    };
    let typed = raw_name.trim().to_string();
    let token = posted_token(&app, &visitor, user.as_ref());
    let refuse = |message: String| {
        page(
            StatusCode::OK,
            "signup.html",
            context! { csrf_token => token.clone(), username => typed.clone(), error => message },
        )
    };
    if typed.is_empty() || password.is_empty() {
        return Ok(refuse(policy::MISSING_FIELDS.into()));
    }
    let name = match username::validate_new(&typed) {
        Ok(name) => name,
        Err(e) => return Ok(refuse(e.to_string())),
    };
    let settings = app.settings();
    if let Err(e) = policy::check(&password, &confirm, settings.password_min_length) {
        return Ok(refuse(e.to_string()));
    }
    let lookup = name.clone();
    if app
        .readers
        .read(move |c| accounts::user_by_name(c, &lookup))
        .await?
        .is_some()
    {
        return Ok(refuse(policy::USER_EXISTS.into()));
    }
    let hash = auth::hash_password(&app, password).await?;
    let channels = settings.channels.clone();
    let old_session = user.as_ref().map(|u| u.session_hash.clone());
    let session_id = tokens::new_secret();
    let session_hash = tokens::sha256_hex(&session_id);
    let csrf = tokens::new_secret();
    let new_name = name.clone();
    let created = app
        .writer
        .write(move |ctx| {
            let now = ctx.now();
            let id = match accounts::create_user(ctx.conn, &new_name, &hash, now) {
                Ok(id) => id,
                Err(CreateError::Exists) => return Ok(false),
                Err(CreateError::Store(e)) => return Err(e),
            };
            accounts::seed_watermarks(ctx.conn, id, &channels, just_before(now))?;
            if let Some(first) = channels.first() {
                let welcome = crate::domain::notices::welcome(&new_name);
                accounts::insert_system_message(ctx.conn, first, &welcome, now)?;
                ctx.publish(Change::Messages {
                    channel: first.clone(),
                    change_ts: now,
                });
            }
            revoke_one(ctx, old_session, "logout")?;
            accounts::insert_session(ctx.conn, &session_hash, id, &csrf, now)?;
            ctx.publish(Change::Accounts);
            Ok(true)
        })
        .await?;
    if !created {
        return Ok(refuse(policy::USER_EXISTS.into()));
    }
    audit::record("signup", Some(&name), visitor.peer, Outcome::Success, None);
    app.user_signed_in(&name);
    Ok(start_session(&session_id, visitor.tls))
}

/// `GET` and `POST /logout`.
async fn logout(
    State(app): State<AppRef>,
    visitor: Visitor,
    user: CurrentUser,
) -> Result<Response, ApiError> {
    let hash = user.session_hash.clone();
    let user_id = user.id;
    let remaining = app
        .writer
        .write(move |ctx| {
            revoke_one(ctx, Some(hash), "logout")?;
            accounts::session_count(ctx.conn, user_id)
        })
        .await?;
    if remaining == 0 {
        // A share must not outlive its sharer's last session (api.md §6.10).
        app.live
            .calls
            .sharer_gone(&user.name, None, crate::domain::time::now());
    }
    audit::record(
        "logout",
        Some(&user.name),
        visitor.peer,
        Outcome::Success,
        None,
    );
    let mut response = redirect("/login?logged_out=1");
    response
        .headers_mut()
        .append(header::SET_COOKIE, expired_cookie(visitor.tls));
    Ok(response)
}

/// `GET /session`.
async fn session_info(user: CurrentUser) -> Json<Value> {
    Json(json!({ "user": user.name, "csrf_token": user.csrf_token }))
}

/// The account a reset token is valid for now, if any.
async fn reset_user(app: &AppRef, token: &str) -> Result<Option<accounts::User>, ApiError> {
    let hash = tokens::sha256_hex(token);
    let now = crate::domain::time::now();
    Ok(app
        .readers
        .read(move |c| accounts::reset_token_user(c, &hash, now))
        .await?)
}

fn invalid_reset() -> Response {
    page(
        StatusCode::OK,
        "reset_password.html",
        context! { state => "invalid" },
    )
}

/// `GET /reset-password/<token>`.
async fn reset_page(
    State(app): State<AppRef>,
    visitor: Visitor,
    user: Option<CurrentUser>,
    UrlPath(token): UrlPath<String>,
) -> Result<Response, ApiError> {
    let Some(owner) = reset_user(&app, &token).await? else {
        return Ok(invalid_reset());
    };
    let (csrf, fresh) = form_token(&app, &visitor, user.as_ref());
    let response = page(
        StatusCode::OK,
        "reset_password.html",
        context! { state => "form", username => owner.username, csrf_token => csrf },
    );
    Ok(with_cookie(response, fresh, visitor.tls))
}

/// Whether `password` matches one of the user's newest history entries (the reuse rule of
/// §6.1.5); `None` when the check is off.
async fn reused(app: &AppRef, user_id: i64, password: &str) -> Result<Option<String>, ApiError> {
    let count = app.settings().password_history_count;
    let depth = policy::reuse_check_depth(count);
    if depth == 0 {
        return Ok(None);
    }
    let hashes = app
        .readers
        .read(move |c| accounts::recent_hashes(c, user_id, depth))
        .await?;
    for stored in hashes {
        if auth::verify_password(app, password.to_string(), stored).await? {
            return Ok(Some(policy::reuse_message(count)));
        }
    }
    Ok(None)
}

/// `POST /reset-password/<token>` (api.md §6.1.3, §11).
async fn reset_submit(
    State(app): State<AppRef>,
    visitor: Visitor,
    user: Option<CurrentUser>,
    UrlPath(token): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(owner) = reset_user(&app, &token).await? else {
        audit::record(
            "reset_rejected",
            None,
            visitor.peer,
            Outcome::Failure,
            Some("invalid token"),
        );
        return Ok(invalid_reset());
    };
    let fields = fields_of(&headers, &body);
    let password = field(&fields, "password").unwrap_or_default();
    let confirm = field(&fields, "confirm_password").unwrap_or_default();
    let csrf = posted_token(&app, &visitor, user.as_ref());
    let refuse = |message: String| {
        page(
            StatusCode::OK,
            "reset_password.html",
            context! { state => "form", username => owner.username.clone(), csrf_token => csrf.clone(), error => message },
        )
    };
    let settings = app.settings();
    if let Err(e) = policy::check(&password, &confirm, settings.password_min_length) {
        return Ok(refuse(e.to_string()));
    }
    if let Some(message) = reused(&app, owner.id, &password).await? {
        return Ok(refuse(message));
    }
    let hash = auth::hash_password(&app, password).await?;
    let keep = policy::history_keep(settings.password_history_count);
    let token_hash = tokens::sha256_hex(&token);
    let user_id = owner.id;
    let done = app
        .writer
        .write(move |ctx| {
            let now = ctx.now();
            // The token may have been used by a concurrent request since it was checked.
            if accounts::reset_token_user(ctx.conn, &token_hash, crate::domain::time::now())?
                .is_none_or(|u| u.id != user_id)
            {
                return Ok(false);
            }
            accounts::set_password(ctx.conn, user_id, &hash, now, keep)?;
            accounts::use_all_tokens(ctx.conn, user_id)?;
            let gone = accounts::delete_user_sessions(ctx.conn, user_id, None)?;
            revoke_all(ctx, gone, "password_reset");
            Ok(true)
        })
        .await?;
    if !done {
        audit::record(
            "reset_rejected",
            Some(&owner.username),
            visitor.peer,
            Outcome::Failure,
            Some("token used concurrently"),
        );
        return Ok(invalid_reset());
    }
    audit::record(
        "reset_used",
        Some(&owner.username),
        visitor.peer,
        Outcome::Success,
        None,
    );
    Ok(page(
        StatusCode::OK,
        "reset_password.html",
        context! { state => "done", username => owner.username },
    ))
}

/// `POST /change-password` (api.md §6.1.3).
async fn change_password(
    State(app): State<AppRef>,
    visitor: Visitor,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let fields = fields_of(&headers, &body);
    let current = field(&fields, "current_password").unwrap_or_default();
    let new = field(&fields, "new_password").unwrap_or_default();
    let confirm = field(&fields, "confirm_password").unwrap_or_default();
    let id = user.id;
    let account = app
        .readers
        .read(move |c| accounts::user_by_id(c, id))
        .await?
        .ok_or(ApiError::LoginRequired)?;
    let refuse = |message: String| {
        audit::record(
            "password_changed",
            Some(&user.name),
            visitor.peer,
            Outcome::Failure,
            Some(&message),
        );
        Ok(ApiError::json(StatusCode::BAD_REQUEST, message).into_response())
    };
    if current.chars().count() > policy::MAX_PASSWORD_CHARS
        || !auth::verify_password(&app, current, account.password_hash.clone()).await?
    {
        return refuse(policy::CURRENT_PASSWORD_INCORRECT.into());
    }
    let settings = app.settings();
    let now = crate::domain::time::now();
    // A number of hours that may be fractional (§8).
    let min_age = settings.password_min_age_hours;
    if min_age > 0.0 {
        let remaining = account.password_set_ts + min_age * 3600.0 - now;
        if remaining > 0.0 {
            return refuse(policy::too_recent_message(remaining));
        }
    }
    if let Err(e) = policy::check(&new, &confirm, settings.password_min_length) {
        return refuse(e.to_string());
    }
    if let Some(message) = reused(&app, account.id, &new).await? {
        return refuse(message);
    }
    let hash = auth::hash_password(&app, new).await?;
    let keep = policy::history_keep(settings.password_history_count);
    let current_session = user.session_hash.clone();
    app.writer
        .write(move |ctx| {
            let now = ctx.now();
            accounts::set_password(ctx.conn, id, &hash, now, keep)?;
            let gone = accounts::delete_user_sessions(ctx.conn, id, Some(&current_session))?;
            revoke_all(ctx, gone, "password_change");
            Ok(())
        })
        .await?;
    audit::record(
        "password_changed",
        Some(&user.name),
        visitor.peer,
        Outcome::Success,
        None,
    );
    Ok(Json(json!({ "ok": true })).into_response())
}

/// `POST /delete_account` (api.md §6.1.3, §6.1.7).
async fn delete_account(
    State(app): State<AppRef>,
    visitor: Visitor,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let object = auth::json_body(&headers, &body)?;
    let kind = auth::json_string(&object, "type")?;
    let password = auth::json_string(&object, "password")?.unwrap_or_default();
    let hard = match kind.as_deref() {
        Some("hard") => true,
        Some("soft") => false,
        _ => {
            return Err(ApiError::json(
                StatusCode::BAD_REQUEST,
                "Invalid delete type.",
            ))
        }
    };
    let id = user.id;
    let account = app
        .readers
        .read(move |c| accounts::user_by_id(c, id))
        .await?
        .ok_or(ApiError::LoginRequired)?;
    if password.chars().count() > policy::MAX_PASSWORD_CHARS
        || !auth::verify_password(&app, password, account.password_hash.clone()).await?
    {
        audit::record(
            "account_deleted",
            Some(&user.name),
            visitor.peer,
            Outcome::Failure,
            Some("incorrect password"),
        );
        return Err(ApiError::json(StatusCode::FORBIDDEN, "Incorrect password."));
    }
    remove_account_everywhere(&app, account, hard).await?;
    audit::record(
        "account_deleted",
        Some(&user.name),
        visitor.peer,
        Outcome::Success,
        Some(if hard { "hard" } else { "soft" }),
    );
    let mut response = Json(json!({ "status": "ok" })).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, expired_cookie(visitor.tls));
    Ok(response)
}

/// Removes an account with every consequence of api.md §6.1.7: the rows (soft or hard), its
/// sessions (revoked on open streams), the tombstones pushed to open streams, and its files.
/// Shared by `POST /delete_account` and `minimostctl users delete`.
pub async fn remove_account_everywhere(
    app: &AppRef,
    account: accounts::User,
    hard: bool,
) -> Result<(), StoreError> {
    let name = account.username.clone();
    let removal = app
        .writer
        .write(move |ctx| {
            let now = ctx.now();
            let removal = accounts::remove_account(ctx.conn, &account, hard, now)?;
            revoke_all(ctx, removal.sessions.clone(), "account_deleted");
            for (channel, tombstones) in &removal.tombstones {
                ctx.publish(Change::Removed {
                    channel: channel.clone(),
                    tombstones: tombstones.clone(),
                });
            }
            for channel in &removal.renamed_in {
                ctx.publish(Change::Messages {
                    channel: channel.clone(),
                    change_ts: now,
                });
            }
            ctx.publish(Change::Accounts);
            Ok(removal)
        })
        .await?;
    app.live
        .calls
        .sharer_gone(&name, None, crate::domain::time::now());
    remove_files(&app.state_dir.join("uploads"), &removal.uploads);
    remove_files(&app.state_dir.join("avatars"), removal.avatar.as_slice());
    Ok(())
}

/// Ends every session of `user_id` (an administrator's `sessions revoke` or `users lock`);
/// open streams get `session_revoked` with reason `logout`. Returns how many ended.
pub async fn revoke_sessions(app: &AppRef, user_id: i64) -> Result<usize, StoreError> {
    app.writer
        .write(move |ctx| {
            let hashes = accounts::delete_user_sessions(ctx.conn, user_id, None)?;
            let count = hashes.len();
            revoke_all(ctx, hashes, "logout");
            Ok(count)
        })
        .await
}

/// Why `minimostctl reset-password` failed.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("user '{0}' does not exist")]
    UnknownUser(String),
    #[error("--expires must be an integer from 1 to 10080")]
    BadExpiry,
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Longest reset-link lifetime, in minutes (a week; api.md §11).
pub const MAX_RESET_MINUTES: u64 = 10_080;

/// Issues a reset token for `name` valid for `minutes`, posts the notice into the user's DM
/// with `system`, and returns the two lines `minimostctl reset-password` prints (api.md §11).
pub async fn issue_reset(
    app: &AppRef,
    name: &str,
    minutes: u64,
    base_url: Option<String>,
) -> Result<String, IssueError> {
    if !(1..=MAX_RESET_MINUTES).contains(&minutes) {
        return Err(IssueError::BadExpiry);
    }
    let lookup = name.to_string();
    let Some(user) = app
        .readers
        .read(move |c| accounts::user_by_name(c, &lookup))
        .await?
    else {
        return Err(IssueError::UnknownUser(name.to_string()));
    };
    let base = match base_url.or_else(|| app.settings().server.public_base_url.clone()) {
        Some(base) => base,
        None => {
            // Resolving the FQDN may wait on DNS.
            let fqdn = tokio::task::spawn_blocking(crate::system::host::fqdn)
                .await
                .unwrap_or_else(|_| "localhost".to_string());
            format!("https://{fqdn}:{}", app.https_port)
        }
    };
    let base = base.trim_end_matches('/').to_string();
    let token = tokens::new_secret();
    let token_hash = tokens::sha256_hex(&token);
    let registered = user.username.clone();
    let channel = crate::domain::channel::canonical_dm(
        &[registered.as_str(), crate::domain::channel::SYSTEM_USER],
        |n| {
            username::fold(n)
                .eq(&username::fold(&registered))
                .then(|| registered.clone())
        },
    )
    .channel()
    .to_string();
    let user_id = user.id;
    app.writer
        .write(move |ctx| {
            let now = ctx.now();
            accounts::insert_reset_token(
                ctx.conn,
                &token_hash,
                user_id,
                now,
                now + minutes as f64 * 60.0,
            )?;
            let notice = crate::domain::notices::reset_notice(minutes);
            accounts::insert_system_message(ctx.conn, &channel, &notice, now)?;
            ctx.publish(Change::Messages {
                channel,
                change_ts: now,
            });
            Ok(())
        })
        .await?;
    audit::record(
        "reset_issued",
        Some(&user.username),
        None,
        Outcome::Success,
        None,
    );
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    Ok(format!(
        "Password reset URL for '{}' (expires in {minutes} {unit}):\n{base}/reset-password/{token}\n",
        user.username
    ))
}

/// Deletes files by their stored names inside `dir`; names that could leave it are skipped.
pub fn remove_files(dir: &Path, names: &[String]) {
    for name in names {
        if !crate::domain::uploads::is_plain_file_name(name) {
            tracing::warn!(FILE = %name, "refusing to delete a file outside its folder");
            continue;
        }
        match std::fs::remove_file(dir.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(FILE = %name, ERROR = %e, "could not delete a file"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_seed_sits_just_below_the_welcome() {
        let now = 1_795_315_271.203_042_3;
        assert!(just_before(now) < now);
        assert_eq!(crate::domain::clock::next_up(just_before(now)), now);
    }

    #[test]
    fn reset_token_in_path_is_percent_decoded() {
        assert_eq!(percent_decode("a%2Fb+c"), "a/b+c");
    }

    #[test]
    fn header_value_of_a_pre_login_cookie_has_no_max_age() {
        let value = cookie_header("abc", true, None);
        let text = value.to_str().unwrap();
        assert!(
            text.contains("Secure") && !text.contains("Max-Age"),
            "{text}"
        );
    }
}
