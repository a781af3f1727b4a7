//! Channels, DMs, unread counts and people (api.md §6.3) and private channels (§6.7).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::CurrentUser;
use super::chat::{json_object, json_string, parse_id, require_access, text_ok, viewer};
use super::error::ApiError;
use crate::app::AppRef;
use crate::domain::change::Change;
use crate::domain::channel::{same_name, ChannelId};
use crate::domain::{notices, username};
use crate::store::channels;
use crate::store::messages;
use crate::store::StoreError;

/// Longest private channel name in characters.
const MAX_NAME_CHARS: usize = 80;

pub fn routes() -> Router<AppRef> {
    Router::new()
        .route("/channels", get(list_channels))
        .route("/channel_unreads", get(channel_unreads))
        .route("/mentions", get(mentions))
        .route("/unread_count", get(unread_count))
        .route("/dms", get(dms))
        .route("/dms/close", post(close_dm))
        .route("/users", get(users))
        .route("/channel_members/{channel}", get(channel_members))
        .route("/private_channels", get(private_channels))
        .route("/private_channels/create", post(create))
        .route("/private_channels/{id}/rename", post(rename))
        .route("/private_channels/{id}/add_member", post(add_member))
        .route("/private_channels/{id}/leave", post(leave))
        .route("/private_channels/{id}/members", get(members))
}

async fn list_channels(State(app): State<AppRef>, _user: CurrentUser) -> Json<Vec<String>> {
    Json(app.settings().channels.clone())
}

async fn channel_unreads(
    State(app): State<AppRef>,
    user: CurrentUser,
) -> Result<Json<Value>, ApiError> {
    let public = app.settings().channels.clone();
    let viewer = viewer(&user);
    Ok(Json(
        app.readers
            .read(move |conn| channels::channel_unreads(conn, &public, &viewer))
            .await?,
    ))
}

async fn mentions(State(app): State<AppRef>, user: CurrentUser) -> Result<Json<Value>, ApiError> {
    let public = app.settings().channels.clone();
    let viewer = viewer(&user);
    Ok(Json(
        app.readers
            .read(move |conn| channels::mentions(conn, &public, &viewer))
            .await?,
    ))
}

async fn unread_count(
    State(app): State<AppRef>,
    user: CurrentUser,
) -> Result<Json<Value>, ApiError> {
    let viewer = viewer(&user);
    let count = app
        .readers
        .read(move |conn| channels::dm_unread_count(conn, &viewer))
        .await?;
    Ok(Json(json!({ "count": count })))
}

async fn dms(State(app): State<AppRef>, user: CurrentUser) -> Result<Json<Value>, ApiError> {
    let viewer = viewer(&user);
    Ok(Json(
        app.readers
            .read(move |conn| channels::dms(conn, &viewer))
            .await?,
    ))
}

async fn close_dm(
    State(app): State<AppRef>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let map = json_object(&headers, &body)?;
    let raw = json_string(&map, "channel")?.unwrap_or_default();
    let raw = raw.trim().to_string();
    if !raw.starts_with("dm:") {
        return Err(ApiError::text(StatusCode::BAD_REQUEST, "invalid channel"));
    }
    let access = require_access(&app, &user, &raw).await?;
    let user_id = user.id;
    app.writer
        .write(move |ctx| {
            channels::hide_dm(ctx.conn, user_id, &access.key, crate::domain::time::now())?;
            ctx.publish(Change::DmsHidden { user_id });
            Ok(())
        })
        .await?;
    Ok(text_ok("ok"))
}

async fn users(State(app): State<AppRef>, user: CurrentUser) -> Result<Json<Value>, ApiError> {
    let names = app.readers.read(channels::all_usernames).await?;
    let others: Vec<String> = names
        .into_iter()
        .filter(|n| !same_name(n, &user.name))
        .collect();
    Ok(Json(json!(others)))
}

async fn channel_members(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(channel): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let access = require_access(&app, &user, &channel).await?;
    let mut names = app
        .readers
        .read(move |conn| channels::members(conn, &access.channel))
        .await?;
    names.retain(|n| !same_name(n, &user.name));
    if let Some(ChannelId::Private(_)) = channels::canonical_stored(&channel) {
        username::sort_names(&mut names);
    }
    Ok(Json(json!(names)))
}

// ---------------------------------------------------------------------------------------------
// Private channels

async fn private_channels(
    State(app): State<AppRef>,
    user: CurrentUser,
) -> Result<Json<Value>, ApiError> {
    let viewer = viewer(&user);
    Ok(Json(
        app.readers
            .read(move |conn| channels::private_channels(conn, &viewer))
            .await?,
    ))
}

/// The trimmed name, or the route's 400.
fn checked_name(raw: Option<String>) -> Result<String, ApiError> {
    let name = raw.unwrap_or_default().trim().to_string();
    if name.is_empty() {
        return Err(ApiError::text(StatusCode::BAD_REQUEST, "name required"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::text(
            StatusCode::BAD_REQUEST,
            "channel name must be 80 characters or fewer",
        ));
    }
    Ok(name)
}

async fn create(
    State(app): State<AppRef>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let map = json_object(&headers, &body)?;
    let name = json_string(&map, "name")?;
    let requested: Vec<String> = match map.get("members") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.trim().to_string()),
                _ => Err(ApiError::BadRequest("members must be strings".into())),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ApiError::BadRequest("members must be an array".into())),
    };
    let name = checked_name(name)?;
    let creator_id = user.id;
    let creator = user.name.clone();
    let stored_name = name.clone();
    let id = app
        .writer
        .write(move |ctx| {
            let mut ids: Vec<i64> = Vec::new();
            for wanted in requested.iter().filter(|n| !n.is_empty()) {
                if let Some((id, _)) = channels::user_by_name(ctx.conn, wanted)? {
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
            }
            if !ids.contains(&creator_id) {
                ids.push(creator_id);
            }
            let now = ctx.now();
            let id = channels::create_private(ctx.conn, &stored_name, &creator, &ids, now)?;
            ctx.publish(Change::PrivateChannel { id, user_ids: ids });
            Ok(id)
        })
        .await?;
    Ok(Json(
        json!({ "channel": format!("private:{id}"), "id": id, "name": name }),
    ))
}

/// Runs a private-channel job for a member; `Ok(None)` when the caller is not a member.
async fn as_member<R, F>(app: &AppRef, user: &CurrentUser, id: i64, job: F) -> Result<R, ApiError>
where
    R: Send + 'static,
    F: FnOnce(
            &mut crate::store::WriteCtx<'_>,
            Vec<(i64, String)>,
        ) -> Result<Result<R, ApiError>, StoreError>
        + Send
        + 'static,
{
    let user_id = user.id;
    let outcome = app
        .writer
        .write(move |ctx| {
            let members = channels::private_members(ctx.conn, id)?;
            if !members.iter().any(|(m, _)| *m == user_id) {
                return Ok(Err(ApiError::forbidden()));
            }
            job(ctx, members)
        })
        .await?;
    outcome
}

async fn rename(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let map = json_object(&headers, &body)?;
    let raw = json_string(&map, "name")?;
    let actor = user.name.clone();
    as_member(&app, &user, id, move |ctx, members| {
        let name = match checked_name(raw) {
            Ok(name) => name,
            Err(e) => return Ok(Err(e)),
        };
        channels::rename_private(ctx.conn, id, &name)?;
        messages::post_system(
            ctx,
            &ChannelId::Private(id),
            &notices::renamed(&actor, &name),
        )?;
        ctx.publish(Change::PrivateChannel {
            id,
            user_ids: members.iter().map(|(m, _)| *m).collect(),
        });
        Ok(Ok(()))
    })
    .await?;
    Ok(text_ok("ok"))
}

async fn add_member(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let map = json_object(&headers, &body)?;
    let wanted = json_string(&map, "username")?
        .unwrap_or_default()
        .trim()
        .to_string();
    let actor = user.name.clone();
    as_member(&app, &user, id, move |ctx, members| {
        if wanted.is_empty() {
            return Ok(Err(ApiError::text(
                StatusCode::BAD_REQUEST,
                "username required",
            )));
        }
        let Some((new_id, new_name)) = channels::user_by_name(ctx.conn, &wanted)? else {
            return Ok(Err(ApiError::text(StatusCode::NOT_FOUND, "user not found")));
        };
        if members.iter().any(|(m, _)| *m == new_id) {
            return Ok(Err(ApiError::text(
                StatusCode::CONFLICT,
                "already a member",
            )));
        }
        // The notice shares the job's clock value, so it is exactly at history_start and
        // the new member sees it.
        let now = ctx.now();
        channels::add_private_member(ctx.conn, id, new_id, Some(now))?;
        messages::post_system(
            ctx,
            &ChannelId::Private(id),
            &notices::added(&actor, &new_name),
        )?;
        let mut user_ids: Vec<i64> = members.iter().map(|(m, _)| *m).collect();
        user_ids.push(new_id);
        ctx.publish(Change::PrivateChannel { id, user_ids });
        Ok(Ok(()))
    })
    .await?;
    Ok(text_ok("ok"))
}

async fn leave(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let user_id = user.id;
    let actor = user.name.clone();
    as_member(&app, &user, id, move |ctx, members| {
        channels::remove_private_member(ctx.conn, id, user_id)?;
        if members.len() > 1 {
            messages::post_system(ctx, &ChannelId::Private(id), &notices::left(&actor))?;
        }
        ctx.publish(Change::PrivateChannel {
            id,
            user_ids: members.iter().map(|(m, _)| *m).collect(),
        });
        Ok(Ok(()))
    })
    .await?;
    // Leaving ends the caller's call leg and shares there (api.md §6.7).
    app.live.calls.member_left(
        &user.name,
        &format!("private:{id}"),
        crate::domain::time::now(),
    );
    Ok(text_ok("ok"))
}

async fn members(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let list = app
        .readers
        .read(move |conn| channels::private_members(conn, id))
        .await?;
    if !list.iter().any(|(m, _)| *m == user.id) {
        return Err(ApiError::forbidden());
    }
    let mut names: Vec<String> = list.into_iter().map(|(_, n)| n).collect();
    username::sort_names(&mut names);
    let body: Vec<Value> = names.iter().map(|n| json!({ "username": n })).collect();
    Ok(Json(body).into_response())
}
