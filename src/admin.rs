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
        "cleanup" => {
            let dry_run = request
                .get("dry_run")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            match crate::ops::retention::run(&app, dry_run).await {
                Ok(report) => Reply::ok(serde_json::to_value(report).unwrap_or(Value::Null)),
                Err(e) => Reply::fail(1, format!("cleanup failed: {e}")),
            }
        }
        "metrics" => Reply::ok(json!({ "text": metrics(&app) })),
        "reset-password" => reset_password(&app, &request).await,
        "users-list" => match app.readers.read(store::accounts::list_users).await {
            Ok(users) => Reply::ok(json!({ "users": users })),
            Err(e) => Reply::fail(1, format!("cannot list users: {e}")),
        },
        "users-lock" | "users-unlock" | "users-delete" | "sessions-revoke" => {
            manage_user(&app, command, &request).await
        }
        "backup" => match backup(&app).await {
            Ok(reply) => reply,
            Err(e) => Reply::fail(1, format!("backup failed: {e}")),
        },
        "reload" => match reload.send(()) {
            Ok(()) => Reply::ok(json!({ "reload": "requested" })),
            Err(_) => Reply::fail(1, "the daemon is shutting down"),
        },
        other => Reply::fail(2, format!("unknown command {other:?}")),
    }
}

/// `minimostctl reset-password USER [--expires MINUTES] [--base-url URL]` (api.md §11).
async fn reset_password(app: &AppRef, request: &Value) -> Reply {
    let user = request
        .get("user")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let minutes = request.get("expires").and_then(Value::as_u64).unwrap_or(60);
    let base_url = request
        .get("base_url")
        .and_then(Value::as_str)
        .map(str::to_string);
    match crate::http::account::issue_reset(app, user, minutes, base_url).await {
        Ok(text) => Reply::ok(json!({ "text": text })),
        Err(e) => Reply::fail(1, e.to_string()),
    }
}

/// `minimostctl status`.
pub async fn status(app: &AppRef) -> Result<Value, StoreError> {
    let (users, messages, last_cleanup) = app
        .readers
        .read(|conn| {
            let users: i64 = conn.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?;
            let messages: i64 =
                conn.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))?;
            let last_cleanup: Option<String> = conn
                .query_row(
                    "SELECT value FROM meta WHERE key = 'last_cleanup_ts'",
                    [],
                    |r| r.get(0),
                )
                .ok();
            Ok((
                users,
                messages,
                last_cleanup.and_then(|v| v.parse::<f64>().ok()),
            ))
        })
        .await?;
    let uploads_bytes = dir_size(&app.state_dir.join("uploads"));
    Ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": app.uptime().as_secs(),
        "open_event_streams": app.hub.open_streams(),
        "open_connections": app.open_connections(),
        "users": users,
        "messages": messages,
        "database_bytes": store::disk_size(&app.db_path),
        "uploads_bytes": uploads_bytes,
        "last_cleanup_ts": last_cleanup,
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

/// `minimostctl backup FILE`: a consistent snapshot of the database (VACUUM INTO on a read
/// connection, so users keep chatting) plus the files, archived in the state directory (the only
/// place the sandboxed daemon may write) and streamed to minimostctl, which writes FILE.
pub async fn backup(app: &AppRef) -> Result<Reply, String> {
    let stamp = format!(
        "{}-{:08x}",
        crate::domain::time::now() as u64,
        rand::random::<u32>()
    );
    let snapshot = app.state_dir.join(format!(".backup-{stamp}.db"));
    let archive = app.state_dir.join(format!(".backup-{stamp}.tar.gz"));
    let target = snapshot.clone();
    app.readers
        .read(move |conn| {
            conn.execute("VACUUM INTO ?1", [target.to_string_lossy().as_ref()])?;
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?;
    let state_dir = app.state_dir.clone();
    let config = app.config_path.clone();
    let (snapshot_path, archive_path) = (snapshot.clone(), archive.clone());
    let built = tokio::task::spawn_blocking(move || {
        let summary = crate::ops::backup::write_archive(
            &archive_path,
            &snapshot_path,
            &state_dir,
            config.as_deref(),
        );
        let _ = std::fs::remove_file(&snapshot_path);
        let summary = summary.map_err(|e| e.to_string())?;
        let bytes = std::fs::read(&archive_path).map_err(|e| e.to_string())?;
        let digest = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(&bytes))
        };
        Ok::<_, String>((summary, bytes.len() as u64, digest))
    })
    .await
    .map_err(|e| e.to_string())?;
    let (summary, size, digest) = match built {
        Ok(built) => built,
        Err(e) => {
            let _ = std::fs::remove_file(&snapshot);
            let _ = std::fs::remove_file(&archive);
            return Err(e);
        }
    };
    tracing::info!(
        FILES = summary.files,
        MESSAGES = summary.messages,
        BYTES = size,
        "backup taken"
    );
    let mut reply = Reply::ok(json!({
        "files": summary.files,
        "messages": summary.messages,
        "users": summary.users,
        "attachment_bytes": size,
        "attachment_sha256": digest,
    }));
    reply.attachment = Some(archive);
    Ok(reply)
}

/// Total size of the regular files directly in `dir`.
fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// `minimostctl metrics`: the Prometheus text exposition.
pub fn metrics(app: &AppRef) -> String {
    let stats = &app.writer.stats;
    crate::ops::metrics::render(&crate::ops::metrics::Gauges {
        open_streams: app.hub.open_streams(),
        open_connections: app.open_connections(),
        database_bytes: store::disk_size(&app.db_path),
        uploads_bytes: dir_size(&app.state_dir.join("uploads")),
        writer_batches: stats.batches.load(Ordering::Relaxed),
        writer_jobs: stats.jobs.load(Ordering::Relaxed),
        writer_largest_batch: stats.largest_batch.load(Ordering::Relaxed),
        stun_answered: app.counters.stun_answered.load(Ordering::Relaxed),
    })
}

/// `minimostctl users lock|unlock|delete USER` and `sessions revoke USER`. An unknown user is
/// exit status 1 with `Error: user 'NAME' does not exist`, as for reset-password.
async fn manage_user(app: &AppRef, command: &str, request: &Value) -> Reply {
    let name = request
        .get("user")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_string();
    let lookup = name.clone();
    let account = match app
        .readers
        .read(move |c| store::accounts::user_by_name(c, &lookup))
        .await
    {
        Ok(Some(account)) => account,
        Ok(None) => return Reply::fail(1, format!("user '{name}' does not exist")),
        Err(e) => return Reply::fail(1, e.to_string()),
    };
    let who = account.username.clone();
    let id = account.id;
    let outcome: Result<String, StoreError> = match command {
        "users-lock" => {
            async {
                app.writer
                    .write(move |ctx| store::accounts::set_admin_lock(ctx.conn, id, true))
                    .await?;
                let ended = crate::http::account::revoke_sessions(app, id).await?;
                Ok(format!("Locked '{who}'; {ended} session(s) ended."))
            }
            .await
        }
        "users-unlock" => app
            .writer
            .write(move |ctx| store::accounts::set_admin_lock(ctx.conn, id, false))
            .await
            .map(|()| format!("Unlocked '{who}'.")),
        "users-delete" => {
            let hard = request
                .get("hard")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            crate::http::account::remove_account_everywhere(app, account, hard)
                .await
                .map(|()| {
                    format!(
                        "Deleted '{who}' ({}).",
                        if hard {
                            "hard: messages removed"
                        } else {
                            "soft: messages kept as Deleted User"
                        }
                    )
                })
        }
        _ => crate::http::account::revoke_sessions(app, id)
            .await
            .map(|ended| format!("Ended {ended} session(s) of '{who}'.")),
    };
    match outcome {
        Ok(message) => {
            crate::system::audit::record(
                command,
                Some(&who),
                None,
                crate::system::audit::Outcome::Success,
                Some("minimostctl"),
            );
            Reply::ok(json!({ "message": message }))
        }
        Err(e) => Reply::fail(1, e.to_string()),
    }
}
