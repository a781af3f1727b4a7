//! The commands minimostctl sends over the control socket, answered with the daemon's own
//! state and rules.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::app::AppRef;
use crate::store::{self, StoreError};
use crate::system::control::{Handler, Reply};

/// Builds the control-socket handler for this app.
pub fn handler(app: AppRef, reload: mpsc::UnboundedSender<()>) -> Handler {
    Arc::new(move |request: Value| {
        let app = app.clone();
        let reload = reload.clone();
        Box::pin(async move { dispatch(app, reload, request).await })
    })
}

async fn dispatch(app: AppRef, reload: mpsc::UnboundedSender<()>, request: Value) -> Reply {
    let command = request
        .get("cmd")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match command {
        "status" => match status(&app).await {
            Ok(data) => Reply::ok(data),
            Err(e) => Reply::fail(1, format!("status unavailable: {e}")),
        },
        "channels" => match channels(&app).await {
            Ok(data) => Reply::ok(data),
            Err(e) => Reply::fail(1, format!("channels unavailable: {e}")),
        },
        "reload" => match reload.send(()) {
            Ok(()) => Reply::ok(json!({ "reload": "requested" })),
            Err(_) => Reply::fail(1, "the daemon is shutting down"),
        },
        other => Reply::fail(2, format!("unknown command {other:?}")),
    }
}

/// `minimostctl status`.
pub async fn status(app: &AppRef) -> Result<Value, StoreError> {
    let (users, messages) = app
        .readers
        .read(|conn| {
            let users: i64 = conn.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?;
            let messages: i64 =
                conn.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))?;
            Ok((users, messages))
        })
        .await?;
    Ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": app.uptime().as_secs(),
        "open_event_streams": app.hub.open_streams(),
        "open_connections": app.open_connections(),
        "users": users,
        "messages": messages,
        "database_bytes": store::disk_size(&app.db_path),
        "stun_binding_requests_answered": app.counters.stun_answered.load(Ordering::Relaxed),
        "requests_served": app.counters.requests.load(Ordering::Relaxed),
    }))
}

/// `minimostctl channels`: the configured public channels and every private channel.
pub async fn channels(app: &AppRef) -> Result<Value, StoreError> {
    let public = app.settings().channels.clone();
    let private = app
        .readers
        .read(|conn| {
            let mut statement = conn.prepare(
                "SELECT c.id, c.name, c.created_by, count(m.user_id) FROM private_channels c \
                 LEFT JOIN private_members m ON m.channel_id = c.id GROUP BY c.id ORDER BY c.id",
            )?;
            let rows = statement.query_map([], |r| {
                Ok(json!({
                    "channel": format!("private:{}", r.get::<_, i64>(0)?),
                    "name": r.get::<_, String>(1)?,
                    "created_by": r.get::<_, String>(2)?,
                    "members": r.get::<_, i64>(3)?,
                }))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await?;
    Ok(json!({ "public": public, "private": private }))
}
