//! People (api.md §6.6): profiles, name colours, settings
//! and avatars. Avatars are stored as `<state_dir>/avatars/<32 hex>.jpg`, written atomically
//! and served only by the name the database holds, never by a path the client gives.

use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::{self, CurrentUser};
use super::error::ApiError;
use crate::app::AppRef;
use crate::store::accounts;

/// Longest bio, in characters (api.md §6.6).
const MAX_BIO_CHARS: usize = 160;

pub fn routes() -> Router<AppRef> {
    Router::new()
        .route("/user_colors", get(user_colors))
        .route("/user_avatars", get(user_avatars))
        .route("/settings", get(get_settings).post(post_settings))
        .route("/profile/{username}", get(profile))
        .route("/avatar/{username}", get(avatar))
        .route(
            "/avatar",
            axum::routing::post(upload_avatar).delete(delete_avatar),
        )
}

fn avatars_dir(app: &AppRef) -> PathBuf {
    app.state_dir.join("avatars")
}

fn text(status: StatusCode, body: &str) -> Response {
    ApiError::text(status, body).into_response()
}

async fn user_colors(State(app): State<AppRef>, _: CurrentUser) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.readers.read(accounts::user_colors).await?))
}

async fn user_avatars(State(app): State<AppRef>, _: CurrentUser) -> Result<Json<Value>, ApiError> {
    let names = app.readers.read(accounts::users_with_avatars).await?;
    Ok(Json(json!(names)))
}

async fn get_settings(
    State(app): State<AppRef>,
    user: CurrentUser,
) -> Result<Json<Value>, ApiError> {
    let id = user.id;
    let (bio, color) = app.readers.read(move |c| accounts::profile(c, id)).await?;
    Ok(Json(json!({ "bio": bio, "name_color": color })))
}

/// Whether a trimmed colour is `#rrggbb`.
fn valid_color(color: &str) -> bool {
    color.len() == 7 && color.starts_with('#') && color[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// A bio as stored: trimmed and cut to 160 characters.
fn clean_bio(bio: &str) -> String {
    bio.trim().chars().take(MAX_BIO_CHARS).collect()
}

/// `POST /settings`: an omitted key leaves its field alone, `null` clears it.
async fn post_settings(
    State(app): State<AppRef>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let object = auth::json_body(&headers, &body)?;
    let color = auth::json_nullable_string(&object, "name_color")?;
    let bio = auth::json_nullable_string(&object, "bio")?;
    let color = match color {
        Some(Some(c)) => {
            let trimmed = c.trim().to_string();
            if !valid_color(&trimmed) {
                return Ok(text(StatusCode::BAD_REQUEST, "invalid color"));
            }
            Some(Some(trimmed))
        }
        other => other,
    };
    let bio = bio.map(|b| b.map(|b| clean_bio(&b)));
    let id = user.id;
    app.writer
        .write(move |ctx| {
            accounts::update_profile(
                ctx.conn,
                id,
                bio.as_ref().map(|b| b.as_deref()),
                color.as_ref().map(|c| c.as_deref()),
            )
        })
        .await?;
    Ok(text(StatusCode::OK, "ok"))
}

/// `GET /profile/<username>`: unknown users get `null` fields and the name as given.
async fn profile(
    State(app): State<AppRef>,
    _: CurrentUser,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let lookup = name.clone();
    let found = app
        .readers
        .read(move |c| {
            let Some(user) = accounts::user_by_name(c, &lookup)? else {
                return Ok(None);
            };
            let (bio, color) = accounts::profile(c, user.id)?;
            Ok(Some((user.username, bio, color)))
        })
        .await?;
    Ok(Json(match found {
        Some((username, bio, color)) => {
            json!({ "username": username, "bio": bio, "name_color": color })
        }
        None => json!({ "username": name, "bio": null, "name_color": null }),
    }))
}

/// `GET /avatar/<username>`.
async fn avatar(
    State(app): State<AppRef>,
    _: CurrentUser,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, ApiError> {
    let file = app
        .readers
        .read(move |c| accounts::avatar_of(c, &name))
        .await?;
    let Some(file) = file.filter(|f| crate::domain::uploads::is_plain_file_name(f)) else {
        return Ok(text(StatusCode::NOT_FOUND, "not found"));
    };
    let path = avatars_dir(&app).join(file);
    let bytes = match tokio::fs::read(&path).await {
        Ok(bytes) => bytes,
        Err(_) => return Ok(text(StatusCode::NOT_FOUND, "not found")),
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("inline"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400"),
    );
    Ok(response)
}

/// Writes `bytes` as a new avatar file (temp file + rename) and returns its name.
async fn store_avatar(app: &AppRef, bytes: Bytes) -> Result<String, ApiError> {
    let dir = avatars_dir(app);
    let name = format!("{}.jpg", crate::domain::uploads::random_hex());
    let final_path = dir.join(&name);
    let temp_path = dir.join(format!(".{name}.tmp"));
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        std::fs::write(&temp_path, &bytes)?;
        std::fs::File::open(&temp_path)?.sync_all()?;
        std::fs::rename(&temp_path, &final_path)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(format!("avatar write: {e}")))?;
    Ok(name)
}

/// `POST /avatar` (multipart `avatar`).
async fn upload_avatar(
    State(app): State<AppRef>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let fields = auth::form_fields(content_type, &body);
    let Some(file) = fields
        .into_iter()
        .find(|f| f.name == "avatar" && f.filename.as_deref().is_some_and(|n| !n.is_empty()))
    else {
        return Ok(text(StatusCode::BAD_REQUEST, "no file"));
    };
    let settings = app.settings();
    if file.data.len() as u64 > settings.max_avatar_bytes() {
        return Ok(text(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "file too large (max {} MB)",
                settings.max_avatar_size_mb.floor() as u64
            ),
        ));
    }
    let name = store_avatar(&app, file.data).await?;
    let id = user.id;
    let stored = name.clone();
    let old = app
        .writer
        .write(move |ctx| accounts::replace_avatar(ctx.conn, id, Some(&stored)))
        .await;
    match old {
        Ok(old) => {
            super::account::remove_files(&avatars_dir(&app), old.as_slice());
            Ok(text(StatusCode::OK, "ok"))
        }
        Err(e) => {
            // The row was not updated: the new file is an orphan.
            super::account::remove_files(&avatars_dir(&app), &[name]);
            Err(e.into())
        }
    }
}

/// `DELETE /avatar`: `ok` even when there was none.
async fn delete_avatar(State(app): State<AppRef>, user: CurrentUser) -> Result<Response, ApiError> {
    let id = user.id;
    let old = app
        .writer
        .write(move |ctx| accounts::replace_avatar(ctx.conn, id, None))
        .await?;
    super::account::remove_files(&avatars_dir(&app), old.as_slice());
    Ok(text(StatusCode::OK, "ok"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colors_must_be_six_hex_digits_after_a_hash() {
        assert!(valid_color("#A0b1C2"));
        assert!(!valid_color("#abc"));
        assert!(!valid_color("a0b1c2f"));
        assert!(!valid_color("#ggg000"));
        assert!(!valid_color("#ａ0b1c2"));
    }

    #[test]
    fn bio_is_trimmed_and_cut_to_160_characters() {
        assert_eq!(clean_bio("  hi  "), "hi");
        let long = "é".repeat(200);
        assert_eq!(clean_bio(&long).chars().count(), 160);
    }
}
