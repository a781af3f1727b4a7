//! minimostctl: administer the running daemon over its control socket.

use std::process::ExitCode;

use clap::Parser;
use minimost::cli::{CtlArgs, CtlCommand, SessionsCommand, UsersCommand};
use minimost::system::control::{self, Reply};
use serde_json::{json, Value};

fn main() -> ExitCode {
    let args = CtlArgs::parse();
    if let CtlCommand::ImportPython(import) = &args.command {
        return import_python(&args.socket, import);
    }
    // Commands that work on files directly, or stream a file, rather than one request/reply.
    match &args.command {
        CtlCommand::Backup { file } => return backup(&args.socket, file),
        CtlCommand::Restore { file, state_dir } => return restore(&args.socket, file, state_dir),
        _ => {}
    }
    let (request, json_output) = match &args.command {
        CtlCommand::Status(flag) => (json!({ "cmd": "status" }), flag.json),
        CtlCommand::Reload => (json!({ "cmd": "reload" }), false),
        CtlCommand::Channels(flag) => (json!({ "cmd": "channels" }), flag.json),
        CtlCommand::ImportPython(_) => unreachable!("handled above"),
        CtlCommand::Cleanup { dry_run, json } => {
            (json!({ "cmd": "cleanup", "dry_run": dry_run }), *json)
        }
        CtlCommand::Metrics => (json!({ "cmd": "metrics" }), false),
        CtlCommand::Users(UsersCommand::List(flag)) => (json!({ "cmd": "users-list" }), flag.json),
        CtlCommand::Users(UsersCommand::Lock { user }) => {
            (json!({ "cmd": "users-lock", "user": user }), false)
        }
        CtlCommand::Users(UsersCommand::Unlock { user }) => {
            (json!({ "cmd": "users-unlock", "user": user }), false)
        }
        CtlCommand::Users(UsersCommand::Delete { user, hard }) => (
            json!({ "cmd": "users-delete", "user": user, "hard": hard }),
            false,
        ),
        CtlCommand::Sessions(SessionsCommand::Revoke { user }) => {
            (json!({ "cmd": "sessions-revoke", "user": user }), false)
        }
        CtlCommand::ResetPassword {
            user,
            expires,
            base_url,
        } => (
            json!({ "cmd": "reset-password", "user": user, "expires": expires, "base_url": base_url }),
            false,
        ),
        CtlCommand::Backup { .. } | CtlCommand::Restore { .. } => unreachable!("handled above"),
    };
    let reply = match control::request(&args.socket, &request) {
        Ok(reply) => reply,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !reply.ok {
        eprintln!(
            "Error: {}",
            reply
                .error
                .as_deref()
                .unwrap_or("the daemon refused the request")
        );
        return ExitCode::from(u8::try_from(reply.exit.clamp(1, 255)).unwrap_or(1));
    }
    if json_output {
        println!(
            "{}",
            serde_json::to_string_pretty(&reply.data).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    match &args.command {
        CtlCommand::Status(_) => print_status(&reply),
        CtlCommand::Channels(_) => print_channels(&reply.data),
        CtlCommand::ImportPython(_) => {}
        CtlCommand::Cleanup { .. } => print_cleanup(&reply.data),
        CtlCommand::Metrics => print!("{}", reply.data["text"].as_str().unwrap_or_default()),
        CtlCommand::Users(UsersCommand::List(_)) => print_users(&reply.data),
        CtlCommand::Users(_) | CtlCommand::Sessions(_) => {
            println!("{}", reply.data["message"].as_str().unwrap_or("done"))
        }
        CtlCommand::ResetPassword { .. } => {
            print!("{}", reply.data["text"].as_str().unwrap_or_default())
        }
        CtlCommand::Backup { .. } | CtlCommand::Restore { .. } => {}
        CtlCommand::Reload => {
            println!("Reload requested; the journal says whether the new settings were accepted.")
        }
    }
    ExitCode::SUCCESS
}

fn print_status(reply: &Reply) {
    let data = &reply.data;
    let field = |name: &str| data.get(name).cloned().unwrap_or(Value::Null);
    let uptime = field("uptime_seconds").as_u64().unwrap_or(0);
    println!("MiniMost {}", field("version").as_str().unwrap_or("?"));
    println!(
        "uptime:              {}h {}m {}s",
        uptime / 3600,
        uptime / 60 % 60,
        uptime % 60
    );
    println!("open event streams:  {}", field("open_event_streams"));
    println!("open connections:    {}", field("open_connections"));
    println!("users:               {}", field("users"));
    println!("messages:            {}", field("messages"));
    println!("database size:       {} bytes", field("database_bytes"));
    println!("uploads size:        {} bytes", field("uploads_bytes"));
    match field("last_cleanup_ts").as_f64() {
        Some(ts) => println!("last cleanup:        {:.0} s ago", (now() - ts).max(0.0)),
        None => println!("last cleanup:        never"),
    }
    println!(
        "STUN answers:        {}",
        field("stun_binding_requests_answered")
    );
}

fn print_channels(data: &Value) {
    for name in data["public"].as_array().into_iter().flatten() {
        println!("public   #{}", name.as_str().unwrap_or("?"));
    }
    for channel in data["private"].as_array().into_iter().flatten() {
        println!(
            "private  {}  {}  ({} members, created by {})",
            channel["channel"].as_str().unwrap_or("?"),
            channel["name"].as_str().unwrap_or("?"),
            channel["members"],
            channel["created_by"].as_str().unwrap_or("?")
        );
    }
}

fn backup(socket: &std::path::Path, file: &std::path::Path) -> ExitCode {
    if file.exists() {
        eprintln!("Error: {} already exists", file.display());
        return ExitCode::FAILURE;
    }
    match control::request_download(socket, &json!({ "cmd": "backup" }), file) {
        Ok(reply) if reply.ok => {
            let data = &reply.data;
            println!(
                "Backup written to {} ({} bytes, {} files, {} messages, {} users)",
                file.display(),
                data["attachment_bytes"],
                data["files"],
                data["messages"],
                data["users"]
            );
            ExitCode::SUCCESS
        }
        Ok(reply) => {
            eprintln!(
                "Error: {}",
                reply.error.as_deref().unwrap_or("backup refused")
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn restore(
    socket: &std::path::Path,
    file: &std::path::Path,
    state_dir: &std::path::Path,
) -> ExitCode {
    // A running daemon would keep writing to the files being replaced.
    if control::request(socket, &json!({ "cmd": "status" })).is_ok_and(|r| r.ok) {
        eprintln!("Error: the daemon is running; stop it first (systemctl stop minimost)");
        return ExitCode::FAILURE;
    }
    match minimost::ops::backup::restore(file, state_dir) {
        Ok(restored) => {
            println!(
                "Restored {} files ({} messages, {} users) into {}",
                restored.summary.files,
                restored.summary.messages,
                restored.summary.users,
                state_dir.display()
            );
            if let Some(previous) = restored.previous {
                println!("The previous state was moved to {}", previous.display());
            }
            if let Some(config) = restored.config {
                println!("The backup's settings are in {}; copy them to /etc/minimost/minimost.toml if wanted", config.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn print_cleanup(data: &Value) {
    let verb = if data["dry_run"].as_bool() == Some(true) {
        "would remove"
    } else {
        "removed"
    };
    println!("Cleanup {verb}:");
    println!("  expired uploads:       {}", data["files_expired"]);
    println!("  evicted uploads:       {}", data["files_evicted"]);
    println!("  upload bytes freed:    {}", data["file_bytes_freed"]);
    println!("  expired messages:      {}", data["messages_expired"]);
    println!("  evicted messages:      {}", data["messages_evicted"]);
    println!("  spent reset tokens:    {}", data["reset_tokens_purged"]);
}

/// Runs the import on the files directly; the daemon must not be running.
fn import_python(socket: &std::path::Path, args: &minimost::cli::ImportPythonArgs) -> ExitCode {
    use minimost::store::import_python::{import, settings_toml, ImportOptions};
    if control::request(socket, &json!({ "cmd": "status" })).is_ok_and(|r| r.ok) {
        eprintln!("Error: the daemon is running; stop it first (systemctl stop minimost)");
        return ExitCode::FAILURE;
    }
    // Convert the settings first: a broken settings.json should stop the run before any data
    // is written, not after.
    let settings_path = args.dir.join("settings.json");
    let settings = match std::fs::read_to_string(&settings_path) {
        Ok(text) => match settings_toml(&text, &settings_path.display().to_string()) {
            Ok(converted) => Some(converted),
            Err(e) => {
                eprintln!("Error: {e}");
                return ExitCode::FAILURE;
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            eprintln!("Error: {}: {e}", settings_path.display());
            return ExitCode::FAILURE;
        }
    };
    let options = ImportOptions { merge: args.merge };
    let report = match import(&args.dir, &args.state_dir, &options) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::FAILURE;
        }
    };
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    for (kind, count) in report.counts.rows() {
        println!("{kind:<17} {count}");
    }
    let Some((toml, warnings)) = settings else {
        eprintln!(
            "note: no settings.json in {}; the defaults apply",
            args.dir.display()
        );
        return ExitCode::SUCCESS;
    };
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    match &args.config_out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &toml) {
                eprintln!("Error: {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            println!("settings written to {}", path.display());
        }
        None => {
            println!();
            print!("{toml}");
        }
    }
    ExitCode::SUCCESS
}

fn print_users(data: &Value) {
    let users = data["users"].as_array().cloned().unwrap_or_default();
    println!(
        "{:<34} {:<8} {:>8}  LAST ACTIVE",
        "USER", "STATE", "SESSIONS"
    );
    for user in users {
        let state = if user["admin_locked"].as_bool() == Some(true) {
            "locked"
        } else if user["lockout_until"].as_f64().is_some_and(|t| t > now()) {
            "lockout"
        } else {
            "active"
        };
        let last = match user["last_active_ts"].as_f64() {
            Some(ts) => format!("{:.0} s ago", (now() - ts).max(0.0)),
            None => "-".to_string(),
        };
        println!(
            "{:<34} {:<8} {:>8}  {last}",
            user["username"].as_str().unwrap_or("?"),
            state,
            user["sessions"]
        );
    }
}
