//! The call routes (api.md §6.9) and the standalone screen-share routes (§6.10).
//!
//! Each handler reads from the store the facts its checks need (the channel's members, an
//! invite target's account), then runs the rule in [`crate::domain::calls`] or
//! [`crate::domain::screenshare`] under the registries' lock; [`crate::live::calls`] publishes
//! what changed. The rules own the order of the checks, so the handlers only parse input.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value};

use super::auth::CurrentUser;
use super::chat::{json_object, json_string, query_first, viewer};
use super::error::ApiError;
use crate::app::AppRef;
use crate::domain::calls::{format_uuid_v4, CallError, SignalInput};
use crate::domain::channel::ChannelId;
use crate::domain::screenshare::ShareError;
use crate::domain::time::now;
use crate::live::calls::{Facts, Session};
use crate::store::channels;

pub fn routes() -> Router<AppRef> {
    Router::new()
        .route("/calls/initiate", post(initiate))
        .route("/calls/incoming", get(incoming))
        .route("/calls/active", get(active))
        .route("/calls/{call_id}/accept", post(accept))
        .route("/calls/{call_id}/reject", post(reject))
        .route("/calls/{call_id}/end", post(end))
        .route("/calls/{call_id}/invite", post(invite))
        .route("/calls/{call_id}/signal", post(signal))
        .route("/calls/{call_id}/signals", get(signals))
        .route("/calls/{call_id}/screenshare", post(screenshare))
        .route("/calls/{call_id}/state", get(state))
        .route("/calls/{call_id}/gone", post(gone))
        .route("/screenshare/start", post(share_start))
        .route("/screenshare/active", get(share_active))
        .route("/screenshare/{share_id}/stop", post(share_stop))
        .route("/screenshare/{share_id}/signal", post(share_signal))
        .route("/screenshare/{share_id}/signals", get(share_signals))
}

type Answer = Result<Json<Value>, ApiError>;

fn call_error(e: CallError) -> ApiError {
    ApiError::json(status(e.status()), e.to_string())
}

fn share_error(e: ShareError) -> ApiError {
    ApiError::json(status(e.status()), e.to_string())
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
}

// ---------------------------------------------------------------------------------------------
// Facts read before the rules run

/// The members with an account of the channel stored as `key`, in registered spelling.
fn members_of(
    conn: &rusqlite::Connection,
    key: &str,
) -> Result<Vec<String>, crate::store::StoreError> {
    let Some(channel) = channels::canonical_stored(key) else {
        return Ok(Vec::new());
    };
    match channel {
        // Calls and shares exist only in DMs and private channels.
        ChannelId::Public(_) => Ok(Vec::new()),
        ChannelId::Dm(names) => {
            let mut found = Vec::new();
            for name in names {
                if let Some(registered) = channels::registered_name(conn, &name)? {
                    found.push(registered);
                }
            }
            Ok(found)
        }
        ChannelId::Private(_) => channels::members(conn, &channel),
    }
}

/// Facts about the channel a call or share already lives in (`None`: the id is unknown, and
/// the rule answers as for an unknown id), plus the account `extra` names, if any.
async fn stored_channel_facts(
    app: &AppRef,
    channel: Option<String>,
    extra: Option<String>,
) -> Result<Facts, ApiError> {
    if channel.is_none() && extra.is_none() {
        return Ok(Facts::default());
    }
    let facts = app
        .readers
        .read(move |conn| {
            let members = match &channel {
                Some(key) => members_of(conn, key)?,
                None => Vec::new(),
            };
            let accounts = match &extra {
                Some(name) => channels::registered_name(conn, name.trim())?
                    .into_iter()
                    .collect(),
                None => Vec::new(),
            };
            Ok(Facts {
                channel,
                members,
                accounts,
            })
        })
        .await?;
    Ok(facts)
}

/// Facts about the channel a caller names in a request body or query. Returns the channel to
/// hand to the rule: the canonical key when the caller may use it for calls, else the trimmed
/// input (which the rule then refuses with its own 400 or 403).
async fn named_channel_facts(
    app: &AppRef,
    user: &CurrentUser,
    raw: &str,
) -> Result<(String, Facts), ApiError> {
    let raw = raw.trim().to_string();
    if raw.is_empty() {
        return Ok((raw, Facts::default()));
    }
    let public = app.settings().channels.clone();
    let viewer = viewer(user);
    let lookup = raw.clone();
    let resolved = app
        .readers
        .read(move |conn| {
            let Some(access) = channels::access(conn, &public, &viewer, &lookup)? else {
                return Ok(None);
            };
            if matches!(access.channel, ChannelId::Public(_)) {
                return Ok(None);
            }
            let members = members_of(conn, &access.key)?;
            Ok(Some(Facts {
                channel: Some(access.key),
                members,
                accounts: Vec::new(),
            }))
        })
        .await?;
    Ok(match resolved {
        Some(facts) => (facts.channel.clone().unwrap_or_default(), facts),
        None => (raw, Facts::default()),
    })
}

/// Runs a rule with the facts of the channel a call or share lives in (`None`: an unknown id)
/// and of `extra`'s account, and answers with its JSON or its error.
async fn on_stored<E>(
    app: &AppRef,
    channel: Option<String>,
    extra: Option<String>,
    rule: impl FnOnce(Session<'_>) -> Result<Value, E>,
    refusal: fn(E) -> ApiError,
) -> Answer {
    let facts = stored_channel_facts(app, channel, extra).await?;
    app.live.calls.run(&facts, rule).map(Json).map_err(refusal)
}

/// Runs a rule on the call `call_id`.
async fn on_call(
    app: &AppRef,
    call_id: &str,
    extra: Option<String>,
    rule: impl FnOnce(Session<'_>) -> Result<Value, CallError>,
) -> Answer {
    let channel = app.live.calls.call_channel(call_id);
    on_stored(app, channel, extra, rule, call_error).await
}

/// Runs a rule on the share `share_id`.
async fn on_share(
    app: &AppRef,
    share_id: &str,
    rule: impl FnOnce(Session<'_>) -> Result<Value, ShareError>,
) -> Answer {
    let channel = app.live.calls.share_channel(share_id);
    on_stored(app, channel, None, rule, share_error).await
}

/// Runs a rule on the channel the caller named (`raw`), which it receives resolved.
async fn on_named<E>(
    app: &AppRef,
    user: &CurrentUser,
    raw: &str,
    rule: impl FnOnce(Session<'_>, &str) -> Result<Value, E>,
    refusal: fn(E) -> ApiError,
) -> Answer {
    let (channel, facts) = named_channel_facts(app, user, raw).await?;
    app.live
        .calls
        .run(&facts, |s| rule(s, &channel))
        .map(Json)
        .map_err(refusal)
}

// ---------------------------------------------------------------------------------------------
// Input

fn body(headers: &HeaderMap, bytes: &Bytes) -> Result<Map<String, Value>, ApiError> {
    json_object(headers, bytes)
}

/// A string field, absent reading as empty.
fn field(map: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    Ok(json_string(map, key)?.unwrap_or_default())
}

/// The `{"to", "type", "payload"}` of a signal; anything missing or of the wrong kind is the
/// contract's one 400.
fn signal_input(map: &Map<String, Value>) -> Option<SignalInput> {
    let to = map.get("to").and_then(Value::as_str)?;
    let kind = map.get("type").and_then(Value::as_str)?;
    SignalInput::parse(to, kind, map.get("payload").cloned())
}

/// `after` as an integer; anything unparseable reads as 0.
fn after(uri: &Uri) -> i64 {
    query_first(uri, "after")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(0)
}

fn fresh_id() -> String {
    format_uuid_v4(rand::random::<[u8; 16]>())
}

// ---------------------------------------------------------------------------------------------
// Calls

async fn initiate(
    State(app): State<AppRef>,
    user: CurrentUser,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer {
    let raw = field(&body(&headers, &bytes)?, "channel")?;
    let (call_id, now) = (fresh_id(), now());
    let rule = |s: Session<'_>, channel: &str| {
        s.reg
            .calls
            .initiate(call_id, &user.name, channel, now, s.dir, s.fx)
    };
    on_named(&app, &user, &raw, rule, call_error).await
}

async fn incoming(State(app): State<AppRef>, user: CurrentUser) -> Answer {
    Ok(Json(app.live.calls.incoming(&user.name, now())))
}

async fn active(State(app): State<AppRef>, user: CurrentUser, uri: Uri) -> Answer {
    let raw = query_first(&uri, "channel").unwrap_or_default();
    let now = now();
    let rule =
        |s: Session<'_>, channel: &str| s.reg.calls.active(&user.name, channel, now, s.dir, s.fx);
    on_named(&app, &user, &raw, rule, call_error).await
}

async fn accept(State(app): State<AppRef>, user: CurrentUser, Path(id): Path<String>) -> Answer {
    let now = now();
    on_call(&app, &id, None, |s| {
        s.reg.calls.accept(&id, &user.name, now, s.dir, s.fx)
    })
    .await
}

async fn reject(State(app): State<AppRef>, user: CurrentUser, Path(id): Path<String>) -> Answer {
    let now = now();
    on_call(&app, &id, None, |s| {
        s.reg.calls.reject(&id, &user.name, now, s.dir, s.fx)
    })
    .await
}

async fn end(State(app): State<AppRef>, user: CurrentUser, Path(id): Path<String>) -> Answer {
    let now = now();
    on_call(&app, &id, None, |s| {
        s.reg.calls.end(&id, &user.name, now, s.dir, s.fx)
    })
    .await
}

async fn invite(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer {
    let map = body(&headers, &bytes)?;
    let username = field(&map, "username")?;
    let target = Some(username.clone()).filter(|u| !u.trim().is_empty());
    let now = now();
    on_call(&app, &id, target, |s| {
        s.reg
            .calls
            .invite(&id, &user.name, &username, now, s.dir, s.fx)
    })
    .await
}

async fn signal(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer {
    let map = body(&headers, &bytes)?;
    let input = signal_input(&map).ok_or_else(|| call_error(CallError::SignalFields))?;
    let now = now();
    on_call(&app, &id, None, |s| {
        s.reg.calls.signal(&id, &user.name, input, now, s.dir, s.fx)
    })
    .await
}

async fn signals(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(id): Path<String>,
    uri: Uri,
) -> Answer {
    let (after, now) = (after(&uri), now());
    on_call(&app, &id, None, |s| {
        s.reg
            .calls
            .signals(&id, &user.name, after, now, s.dir, s.fx)
    })
    .await
}

async fn screenshare(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer {
    let map = body(&headers, &bytes)?;
    let on = map.get("on").and_then(Value::as_bool).unwrap_or(false);
    let now = now();
    on_call(&app, &id, None, |s| {
        s.reg
            .calls
            .screenshare(&id, &user.name, on, now, s.dir, s.fx)
    })
    .await
}

async fn state(State(app): State<AppRef>, user: CurrentUser, Path(id): Path<String>) -> Answer {
    let now = now();
    on_call(&app, &id, None, |s| {
        s.reg.calls.state(&id, &user.name, now, s.dir, s.fx)
    })
    .await
}

async fn gone(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer {
    let map = body(&headers, &bytes)?;
    let username = field(&map, "username")?;
    let now = now();
    on_call(&app, &id, None, |s| {
        s.reg
            .calls
            .gone(&id, &user.name, &username, now, s.dir, s.fx)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Standalone screen shares

async fn share_start(
    State(app): State<AppRef>,
    user: CurrentUser,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer {
    let raw = field(&body(&headers, &bytes)?, "channel")?;
    let (share_id, now) = (fresh_id(), now());
    let rule = |s: Session<'_>, channel: &str| {
        s.reg
            .shares
            .start(share_id, &user.name, channel, now, s.dir, s.fx)
    };
    on_named(&app, &user, &raw, rule, share_error).await
}

async fn share_active(State(app): State<AppRef>, user: CurrentUser, uri: Uri) -> Answer {
    let raw = query_first(&uri, "channel").unwrap_or_default();
    let now = now();
    let rule =
        |s: Session<'_>, channel: &str| s.reg.shares.active(&user.name, channel, now, s.dir, s.fx);
    on_named(&app, &user, &raw, rule, share_error).await
}

async fn share_stop(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Answer {
    let now = now();
    on_share(&app, &id, |s| {
        s.reg.shares.stop(&id, &user.name, now, s.dir, s.fx)
    })
    .await
}

async fn share_signal(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer {
    let map = body(&headers, &bytes)?;
    let input = signal_input(&map).ok_or_else(|| share_error(ShareError::SignalFields))?;
    let now = now();
    on_share(&app, &id, |s| {
        s.reg
            .shares
            .signal(&id, &user.name, input, now, s.dir, s.fx)
    })
    .await
}

async fn share_signals(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(id): Path<String>,
    uri: Uri,
) -> Answer {
    let (after, now) = (after(&uri), now());
    on_share(&app, &id, |s| {
        s.reg
            .shares
            .signals(&id, &user.name, after, now, s.dir, s.fx)
    })
    .await
}
