//! `GET /search_messages` (api.md §6.4).

use axum::extract::State;
use axum::http::Uri;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::auth::CurrentUser;
use super::chat::{query_first, viewer};
use super::error::ApiError;
use crate::app::AppRef;
use crate::store::search::{self, Query};

/// Longest `q` in characters.
const MAX_QUERY_CHARS: usize = 1000;

pub fn routes() -> Router<AppRef> {
    Router::new().route("/search_messages", get(search_messages))
}

async fn search_messages(
    State(app): State<AppRef>,
    user: CurrentUser,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let text = |name: &str| {
        query_first(&uri, name)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    // Unparseable bounds are ignored, as is NaN (it would compare false with every row).
    let number = |name: &str| text(name).parse::<f64>().ok().filter(|v| !v.is_nan());
    let query = Query {
        q: text("q"),
        from: text("from"),
        channel: text("channel"),
        start: number("start"),
        end: number("end"),
    };
    if query.q.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::BadRequest("q is too long".into()));
    }
    let public = app.settings().channels.clone();
    let viewer = viewer(&user);
    let order = app.readers.id_order.clone();
    Ok(Json(
        app.readers
            .read(move |conn| search::search(conn, &order, &public, &viewer, &query))
            .await?,
    ))
}
