//! minimostctl: administer the running daemon over its control socket.

use std::process::ExitCode;

use clap::Parser;
use minimost::cli::{CtlArgs, CtlCommand};
use minimost::system::control::{self, Reply};
use serde_json::{json, Value};

fn main() -> ExitCode {
    let args = CtlArgs::parse();
    let (request, json_output) = match &args.command {
        CtlCommand::Status(flag) => (json!({ "cmd": "status" }), flag.json),
        CtlCommand::Reload => (json!({ "cmd": "reload" }), false),
        CtlCommand::Channels(flag) => (json!({ "cmd": "channels" }), flag.json),
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
