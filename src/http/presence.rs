//! Presence and typing (api.md §6.8): in memory, pushed through the hub on change.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::CurrentUser;
use super::chat::{json_object, require_access};
use super::error::ApiError;
use crate::app::AppRef;
use crate::domain::change::Change;
use crate::domain::time::now;
use crate::live::presence::{parse_override, parse_state};

pub fn routes() -> Router<AppRef> {
    Router::new()
        .route("/presence", post(report))
        .route("/presence/override", post(set_override).get(get_override))
        .route("/typing/{channel}", post(start_typing).get(typing))
        .route("/online_users", get(online_users))
}

fn pushed(app: &AppRef, change: Change) {
    app.live.presence.ensure_sweeper(&app.hub);
    app.live.typing.ensure_sweeper(&app.hub);
    app.hub.publish(vec![change]);
}

async fn report(
    State(app): State<AppRef>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let map = json_object(&headers, &body)?;
    let state = map
        .get("state")
        .and_then(Value::as_str)
        .and_then(parse_state)
        .ok_or_else(|| ApiError::json(StatusCode::BAD_REQUEST, "invalid state"))?;
    app.live.presence.report(&user.name, state, now());
    pushed(&app, Change::Presence);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn set_override(
    State(app): State<AppRef>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let map = json_object(&headers, &body)?;
    let value = match map.get("override") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() || s == "auto" => None,
        Some(Value::String(s)) => Some(
            parse_override(s)
                .ok_or_else(|| ApiError::json(StatusCode::BAD_REQUEST, "invalid override"))?,
        ),
        Some(_) => return Err(ApiError::json(StatusCode::BAD_REQUEST, "invalid override")),
    };
    app.live.presence.set_override(&user.name, value, now());
    pushed(&app, Change::Presence);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn get_override(State(app): State<AppRef>, user: CurrentUser) -> Json<Value> {
    Json(json!({ "override": app.live.presence.override_of(&user.name) }))
}

async fn online_users(State(app): State<AppRef>, _user: CurrentUser) -> Json<Value> {
    Json(app.live.presence.online(now()))
}

async fn start_typing(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(channel): Path<String>,
) -> Result<Response, ApiError> {
    // Without access nothing is recorded, and the answer is the same 204.
    if let Ok(access) = require_access(&app, &user, &channel).await {
        if app.live.typing.start(&access.key, &user.name, now()) {
            pushed(
                &app,
                Change::Typing {
                    channel: access.key,
                },
            );
        } else {
            app.live.typing.ensure_sweeper(&app.hub);
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn typing(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(channel): Path<String>,
) -> Json<Value> {
    match require_access(&app, &user, &channel).await {
        Ok(access) => Json(json!(app.live.typing.list(&access.key, &user.name, now()))),
        Err(_) => Json(json!([])),
    }
}
