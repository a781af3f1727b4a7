//! Messages (api.md §6.4, §6.5): history, send, edit, delete, reactions, pins and read state.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::auth::{form_fields, CurrentUser, FormField};
use super::error::ApiError;
use crate::app::AppRef;
use crate::domain::change::Change;
use crate::domain::channel::{self, canonical_dm, ChannelId, ParsedChannel};
use crate::domain::{reactions, uploads};
use crate::store::channels::{self, Access, Viewer};
use crate::store::messages::{self, NewRows, Refused};

/// Longest message text in characters (api.md §6.4).
pub const MAX_MESSAGE_CHARS: usize = 10_000;
/// Most files in one send.
pub const MAX_FILES: usize = 100;

pub fn routes() -> Router<AppRef> {
    Router::new()
        .route("/messages/{channel}", get(messages_route))
        .route("/messages_before/{channel}", get(messages_before))
        .route("/send/{channel}", post(send))
        .route("/message/{id}", get(message))
        .route("/edit/{id}", post(edit))
        .route("/delete/{id}", post(delete))
        .route("/react/{id}", post(react))
        .route("/pins/{channel}", get(pins))
        .route("/pin/{id}", post(pin))
        .route("/last_read/{channel}", get(last_read))
        .route("/mark_read/{channel}", post(mark_read))
        .route("/read_receipts/{channel}", get(read_receipts))
}

// ---------------------------------------------------------------------------------------------
// Helpers the other chat areas share.

pub fn viewer(user: &CurrentUser) -> Viewer {
    Viewer {
        id: user.id,
        name: user.name.clone(),
        created_ts: user.created_ts,
    }
}

/// A text body with status 200.
pub fn text_ok(body: &'static str) -> Response {
    ApiError::text(StatusCode::OK, body).into_response()
}

/// The first value of a query parameter (api.md §1.4: a repeated one counts once).
pub fn query_first(uri: &Uri, name: &str) -> Option<String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A cursor or `after` value: a float, with NaN or anything unparseable reading as 0.
pub fn parse_cursor(raw: Option<&str>) -> f64 {
    raw.and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|v| !v.is_nan())
        .unwrap_or(0.0)
}

/// `<id>` path parameters: ASCII digits up to 2^63−1, anything else does not match (404).
pub fn parse_id(raw: &str) -> Result<i64, ApiError> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::NotFound);
    }
    raw.parse::<i64>().map_err(|_| ApiError::NotFound)
}

/// The viewer's access to a channel named by the client, or `403 forbidden`.
pub async fn require_access(
    app: &AppRef,
    user: &CurrentUser,
    raw: &str,
) -> Result<Access, ApiError> {
    // A public channel needs no lookup: answer it without a trip to the read pool, which is
    // the hot path of every send and page load.
    if let Some(ParsedChannel::Public(name)) = channel::parse(raw) {
        return match app.settings().channels.contains(&name) {
            true => Ok(Access {
                channel: ChannelId::Public(name.clone()),
                key: name,
                visible_from: 0.0,
            }),
            false => Err(ApiError::forbidden()),
        };
    }
    let public = app.settings().channels.clone();
    let viewer = viewer(user);
    let raw = raw.to_string();
    app.readers
        .read(move |conn| channels::access(conn, &public, &viewer, &raw))
        .await?
        .ok_or_else(ApiError::forbidden)
}

/// The JSON object of a JSON route (api.md §1.4): a body declared `application/json` must
/// parse to an object (else 400); any other body reads as `{}`.
pub fn json_object(headers: &HeaderMap, body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !declared {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::BadRequest("JSON body must be an object".into())),
        Err(_) => Err(ApiError::BadRequest("invalid JSON body".into())),
    }
}

/// A string field of a JSON object: absent → `None`, wrong type (null included) → 400.
pub fn json_string(map: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::BadRequest(format!("{key} must be a string"))),
    }
}

fn refused(r: Refused) -> ApiError {
    match r {
        Refused::Forbidden => ApiError::forbidden(),
        Refused::NotFound => ApiError::not_found_text(),
        Refused::NotEditable => ApiError::text(StatusCode::CONFLICT, "not editable"),
        Refused::TooManyPins => ApiError::text(StatusCode::CONFLICT, "too many pins (max 50)"),
    }
}

fn rows_json(rows: &[messages::Row]) -> Response {
    Json(rows).into_response()
}

/// A JSON body already serialized, with the header `Json` would set.
fn json_body(body: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// The page form's `limit` (api.md §6.4): clamped to 1–200, unparseable means 100.
fn page_limit(raw: &str) -> i64 {
    raw.trim().parse::<i64>().unwrap_or(100).clamp(1, 200)
}

// ---------------------------------------------------------------------------------------------
// History

async fn messages_route(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(channel): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let access = require_access(&app, &user, &channel).await?;
    let after = parse_cursor(query_first(&uri, "after").as_deref());
    let limit = query_first(&uri, "limit").filter(|l| !l.is_empty());
    // The latest page of a public channel is the same for every viewer: serve it from the
    // writer-invalidated cache (store::messages::PageCache) without touching the database.
    if let (ChannelId::Public(_), Some(raw), true) = (&access.channel, &limit, after == 0.0) {
        let limit = page_limit(raw);
        let ticket = match app.writer.pages.lookup(&access.key, limit) {
            Ok(body) => return Ok(json_body(body)),
            Err(ticket) => ticket,
        };
        let key = access.key.clone();
        let rows = app
            .readers
            .read(move |conn| messages::latest(conn, &key, 0.0, limit))
            .await?;
        let body =
            Bytes::from(serde_json::to_vec(&rows).map_err(|e| ApiError::Internal(e.to_string()))?);
        app.writer
            .pages
            .fill(&access.key, limit, ticket, body.clone());
        return Ok(json_body(body));
    }
    let rows = app
        .readers
        .read(move |conn| match limit {
            Some(limit) if after == 0.0 => {
                let limit = page_limit(&limit);
                messages::latest(conn, &access.key, access.visible_from, limit)
            }
            _ => messages::changed_after(conn, &access.key, access.visible_from, after),
        })
        .await?;
    Ok(rows_json(&rows))
}

async fn messages_before(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(channel): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let access = require_access(&app, &user, &channel).await?;
    let before = query_first(&uri, "before")
        .and_then(|b| b.trim().parse::<f64>().ok())
        .filter(|b| !b.is_nan())
        .ok_or_else(|| ApiError::text(StatusCode::BAD_REQUEST, "invalid before"))?;
    let before_id = match query_first(&uri, "before_id").filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => Some(
            raw.trim()
                .parse::<i64>()
                .map_err(|_| ApiError::text(StatusCode::BAD_REQUEST, "invalid before_id"))?,
        ),
    };
    let limit = query_first(&uri, "limit")
        .and_then(|l| l.trim().parse::<i64>().ok())
        .unwrap_or(100)
        .clamp(1, 200);
    let rows = app
        .readers
        .read(move |conn| {
            messages::before(
                conn,
                &access.key,
                access.visible_from,
                before,
                before_id,
                limit,
            )
        })
        .await?;
    Ok(rows_json(&rows))
}

async fn message(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let public = app.settings().channels.clone();
    let viewer = viewer(&user);
    let row = app
        .readers
        .read(move |conn| messages::visible(conn, &public, &viewer, id))
        .await?
        .ok_or_else(ApiError::not_found_text)?;
    Ok(Json(json!({
        "content": row.content, "deleted": row.deleted, "filename": row.filename,
        "id": row.id, "sender": row.sender,
    }))
    .into_response())
}

// ---------------------------------------------------------------------------------------------
// Send

/// The channel a send goes to, after the checks of §6.4 steps 1–3.
async fn send_target(app: &AppRef, user: &CurrentUser, raw: &str) -> Result<ChannelId, ApiError> {
    match channel::parse(raw) {
        Some(ParsedChannel::Dm(names)) => {
            let raw_names = names.clone();
            let dm = app
                .readers
                .read(move |conn| {
                    let failure = std::cell::RefCell::new(None);
                    let dm =
                        canonical_dm(&raw_names, |n| match channels::registered_name(conn, n) {
                            Ok(found) => found,
                            Err(e) => {
                                failure.borrow_mut().get_or_insert(e);
                                None
                            }
                        });
                    match failure.into_inner() {
                        Some(e) => Err(e),
                        None => Ok(dm),
                    }
                })
                .await?;
            if !channel::is_dm_participant(&dm.names, &user.name) {
                return Err(ApiError::forbidden());
            }
            if !dm.has_two_participants() {
                return Err(ApiError::text(StatusCode::BAD_REQUEST, "invalid channel"));
            }
            if let Some(message) = dm.unknown_error() {
                return Err(ApiError::text(StatusCode::BAD_REQUEST, message));
            }
            Ok(dm.channel())
        }
        _ => Ok(require_access(app, user, raw).await?.channel),
    }
}

fn too_large(app: &AppRef) -> ApiError {
    ApiError::text(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "file too large (max {} MB)",
            app.settings().max_upload_size_mb.floor() as u64
        ),
    )
}

/// Writes an upload atomically: a temporary file in the same folder, fsynced, then renamed,
/// so a crash never leaves a half-written file under a name a row points at.
fn write_upload(dir: &std::path::Path, name: &str, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let temp = dir.join(format!(".tmp-{}", uploads::random_hex()));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(data)?;
        file.sync_all()?;
        std::fs::rename(&temp, dir.join(name))?;
        // The rename is durable only once the folder itself is synced.
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

pub fn uploads_dir(app: &AppRef) -> std::path::PathBuf {
    app.state_dir.join("uploads")
}

async fn send(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // The pipeline caps the body while it streams; hitting the cap is the upload 413.
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|_| too_large(&app))?;
    let target = send_target(&app, &user, &channel).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let fields = form_fields(content_type, &body);
    let text_field = fields
        .iter()
        .find(|f| f.name == "text" && f.filename.is_none());
    let text = match text_field {
        Some(f) => std::str::from_utf8(&f.data)
            .map_err(|_| ApiError::BadRequest("text is not valid UTF-8".into()))?
            .trim_end()
            .to_string(),
        None => String::new(),
    };
    if text.contains('\0') {
        return Err(ApiError::BadRequest("text contains a NUL character".into()));
    }
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::text(
            StatusCode::PAYLOAD_TOO_LARGE,
            "message too long (max 10000 characters)",
        ));
    }
    let reply_to_id = match super::auth::field(&fields, "reply_to_id").filter(|r| !r.is_empty()) {
        None => None,
        Some(raw) => Some(
            raw.trim()
                .parse::<i64>()
                .map_err(|_| ApiError::text(StatusCode::BAD_REQUEST, "invalid reply_to_id"))?,
        ),
    };
    let files: Vec<&FormField> = fields
        .iter()
        .filter(|f| f.name == "files" && f.filename.as_deref().is_some_and(|n| !n.is_empty()))
        .collect();
    if files.len() > MAX_FILES {
        return Err(ApiError::text(
            StatusCode::BAD_REQUEST,
            "too many files (max 100)",
        ));
    }
    let max = app.settings().max_upload_bytes();
    if files.iter().any(|f| f.data.len() as u64 > max) {
        return Err(too_large(&app));
    }
    if text.is_empty() && files.is_empty() {
        return Err(ApiError::text(StatusCode::BAD_REQUEST, "empty"));
    }

    // Files first, each under a fresh random name: a row never points at a missing file.
    let mut stored: Vec<String> = Vec::with_capacity(files.len());
    if !files.is_empty() {
        let dir = uploads_dir(&app);
        let pending: Vec<(String, Bytes)> = files
            .iter()
            .map(|f| {
                let original = f.filename.clone().unwrap_or_default();
                (
                    uploads::stored_name(&original, &uploads::random_hex()),
                    f.data.clone(),
                )
            })
            .collect();
        stored = pending.iter().map(|(n, _)| n.clone()).collect();
        let written_dir = dir.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            for (name, data) in &pending {
                write_upload(&written_dir, name, data)?;
            }
            Ok::<(), std::io::Error>(())
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
        if let Err(e) = outcome {
            remove_uploads(&dir, &stored).await;
            return Err(ApiError::Internal(format!("writing an upload: {e}")));
        }
    }

    let user_id = user.id;
    let sender = user.name.clone();
    let files_for_job = stored.clone();
    let result = app
        .writer
        .write(move |ctx| {
            let rows = messages::insert_rows(
                ctx,
                NewRows {
                    channel: &target,
                    sender: &sender,
                    text: Some(&text),
                    files: &files_for_job,
                    reply_to_id,
                    system: false,
                },
            )?;
            if let Some(first) = rows.first() {
                let key = target.to_string();
                channels::advance_watermark(ctx.conn, user_id, &key, first.ts)?;
                ctx.publish(Change::Watermark {
                    user_id,
                    channel: key,
                });
            }
            Ok(())
        })
        .await;
    if let Err(e) = result {
        remove_uploads(&uploads_dir(&app), &stored).await;
        return Err(e.into());
    }
    Ok(text_ok("ok"))
}

async fn remove_uploads(dir: &std::path::Path, names: &[String]) {
    let dir = dir.to_path_buf();
    let names = names.to_vec();
    let _ = tokio::task::spawn_blocking(move || {
        for name in names {
            if uploads::is_plain_file_name(&name) {
                let _ = std::fs::remove_file(dir.join(name));
            }
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Edit, delete, react, pin

async fn form_of(headers: &HeaderMap, body: &Bytes) -> Vec<FormField> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    form_fields(content_type, body)
}

async fn edit(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let fields = form_of(&headers, &body).await;
    let text = super::auth::field(&fields, "text")
        .unwrap_or_default()
        .trim()
        .to_string();
    if text.is_empty() {
        return Err(ApiError::text(StatusCode::BAD_REQUEST, "empty"));
    }
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::text(
            StatusCode::PAYLOAD_TOO_LARGE,
            "message too long (max 10000 characters)",
        ));
    }
    let public = app.settings().channels.clone();
    let viewer = viewer(&user);
    app.writer
        .write(move |ctx| messages::edit(ctx, &public, &viewer, id, &text))
        .await?
        .map_err(refused)?;
    Ok(text_ok("ok"))
}

async fn delete(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let viewer = viewer(&user);
    let file = app
        .writer
        .write(move |ctx| messages::delete(ctx, &viewer, id))
        .await?
        .map_err(refused)?;
    if let Some(file) = file {
        remove_uploads(&uploads_dir(&app), &[file]).await;
    }
    Ok(text_ok("ok"))
}

async fn react(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let fields = form_of(&headers, &body).await;
    let reaction = super::auth::field(&fields, "reaction")
        .unwrap_or_default()
        .trim()
        .to_string();
    if !reactions::is_valid(&reaction) {
        return Err(ApiError::text(StatusCode::BAD_REQUEST, "invalid reaction"));
    }
    let public = app.settings().channels.clone();
    let viewer = viewer(&user);
    let value = app
        .writer
        .write(move |ctx| messages::toggle_reaction(ctx, &public, &viewer, id, &reaction))
        .await?
        .map_err(refused)?;
    Ok(Json(value).into_response())
}

async fn pins(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(channel): Path<String>,
) -> Result<Response, ApiError> {
    let access = require_access(&app, &user, &channel).await?;
    let list = app
        .readers
        .read(move |conn| messages::pins(conn, &access.key, access.visible_from))
        .await?;
    Ok(Json(list).into_response())
}

async fn pin(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let public = app.settings().channels.clone();
    let viewer = viewer(&user);
    let list = app
        .writer
        .write(move |ctx| messages::toggle_pin(ctx, &public, &viewer, id))
        .await?
        .map_err(refused)?;
    Ok(Json(list).into_response())
}

// ---------------------------------------------------------------------------------------------
// Read state

async fn last_read(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(channel): Path<String>,
) -> Result<Response, ApiError> {
    let access = require_access(&app, &user, &channel).await?;
    let user_id = user.id;
    let ts = app
        .readers
        .read(move |conn| channels::last_read(conn, user_id, &access.key))
        .await?;
    Ok(Json(json!({ "last_read_ts": ts })).into_response())
}

async fn mark_read(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(channel): Path<String>,
) -> Result<Response, ApiError> {
    let access = require_access(&app, &user, &channel).await?;
    let user_id = user.id;
    app.writer
        .write(move |ctx| messages::mark_read(ctx, user_id, &access.key))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn read_receipts(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(channel): Path<String>,
) -> Result<Response, ApiError> {
    let access = require_access(&app, &user, &channel).await?;
    let map = app
        .readers
        .read(move |conn| channels::read_receipts(conn, &access.key))
        .await?;
    Ok(Json(map).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn ids_accept_only_ascii_digits_within_i64() {
        assert_eq!(parse_id("42").unwrap(), 42);
        assert!(parse_id("-1").is_err());
        assert!(parse_id("+1").is_err());
        assert!(parse_id("9223372036854775808").is_err());
        assert_eq!(parse_id("9223372036854775807").unwrap(), i64::MAX);
    }

    #[test]
    fn cursor_reads_nan_and_garbage_as_zero() {
        assert_eq!(parse_cursor(Some("nan")), 0.0);
        assert_eq!(parse_cursor(Some("x")), 0.0);
        assert_eq!(parse_cursor(None), 0.0);
        assert_eq!(parse_cursor(Some("12.5")), 12.5);
    }

    #[test]
    fn the_first_repeated_query_value_wins() {
        let uri: Uri = "/m?after=1&after=2&limit=".parse().unwrap();
        assert_eq!(query_first(&uri, "after").as_deref(), Some("1"));
        assert_eq!(query_first(&uri, "limit").as_deref(), Some(""));
        assert_eq!(query_first(&uri, "x"), None);
    }

    #[test]
    fn json_bodies_must_be_objects_when_declared() {
        let mut headers = HeaderMap::new();
        assert!(json_object(&headers, &Bytes::from_static(b"[1]"))
            .unwrap()
            .is_empty());
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert!(json_object(&headers, &Bytes::from_static(b"[1]")).is_err());
        assert!(json_object(&headers, &Bytes::from_static(b"{")).is_err());
        let map = json_object(&headers, &Bytes::from_static(b"{\"channel\":5}")).unwrap();
        assert!(json_string(&map, "channel").is_err());
        assert_eq!(json_string(&map, "other").unwrap(), None);
    }
}
