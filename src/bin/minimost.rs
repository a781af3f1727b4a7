//! The MiniMost daemon: parse arguments, load settings, take or bind sockets, drop privileges,
//! install signal handlers, and hand over to `minimost::run`.

use std::process::ExitCode;

use clap::Parser;
use minimost::cli::DaemonArgs;
use minimost::store::Durability;
use minimost::system::config::Settings;
use minimost::system::listeners::Listeners;
use minimost::system::{logging, paths, privileges};
use minimost::{Control, Options};

fn main() -> ExitCode {
    let args = DaemonArgs::parse();
    logging::init();

    if let Some(file) = &args.check_config {
        return check_config(file.as_deref().or(args.config.as_deref()));
    }

    let config_path = paths::config_file(args.config.as_deref());
    let settings = match &config_path {
        Some(path) => match Settings::load(path) {
            Ok((settings, warnings)) => {
                for warning in warnings {
                    tracing::warn!(CONFIG = %path.display(), "{warning}");
                }
                settings
            }
            Err(e) => return fail(&format!("refusing to start: {e}")),
        },
        None => Settings::default(),
    };

    let switch_to = match privileges::check(args.user.as_deref()) {
        Ok(user) => user,
        Err(e) => return fail(&e.to_string()),
    };

    let state_dir = paths::state_dir(args.state_dir.as_deref());
    if let Err(e) = paths::prepare_state_dir(&state_dir) {
        return fail(&format!(
            "cannot prepare the state directory {}: {e}",
            state_dir.display()
        ));
    }

    let listeners = match Listeners::from_systemd() {
        Ok(Some(listeners)) => listeners,
        Ok(None) => {
            match Listeners::bind(&settings.server.listen, settings.stun_port, &state_dir) {
                Ok(listeners) => listeners,
                Err(e) => return fail(&e.to_string()),
            }
        }
        Err(e) => return fail(&e.to_string()),
    };

    if let Some(user) = switch_to {
        if let Err(e) = privileges::drop_to(&user, &state_dir) {
            return fail(&e.to_string());
        }
        tracing::info!(USER = %user.name, "dropped root privileges");
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("minimost")
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let options = Options {
        settings,
        config_path,
        state_dir,
        durability: Durability::Full,
    };
    let result = runtime.block_on(async {
        let control = Control::new();
        if let Err(e) = install_signal_handlers(&control) {
            return Err(format!("cannot install signal handlers: {e}"));
        }
        minimost::run(options, listeners, control)
            .await
            .map_err(|e| e.to_string())
    });
    // Don't wait for blocking tasks (e.g. a password hash in flight) longer than needed.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn install_signal_handlers(control: &Control) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let reload = control.reload_tx.clone();
    let shutdown = control.shutdown.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = hangup.recv() => {
                    tracing::info!("SIGHUP: reloading settings");
                    let _ = reload.send(());
                }
                _ = terminate.recv() => break,
                _ = interrupt.recv() => break,
            }
        }
        shutdown.cancel();
    });
    Ok(())
}

fn check_config(file: Option<&std::path::Path>) -> ExitCode {
    let Some(path) = file
        .map(|f| f.to_path_buf())
        .or_else(|| paths::config_file(None))
    else {
        println!("no settings file found; the built-in defaults apply");
        return ExitCode::SUCCESS;
    };
    match Settings::load(&path) {
        Ok((_, warnings)) => {
            for warning in &warnings {
                println!("warning: {}: {warning}", path.display());
            }
            println!("{}: OK", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn fail(message: &str) -> ExitCode {
    tracing::error!("{message}");
    // Also to stderr verbatim when logging goes to the journal, so `systemctl status` and a
    // terminal both show why.
    eprintln!("minimost: {message}");
    ExitCode::FAILURE
}
