//! MiniMost: a self-hosted team chat server.
//!
//! One entry point, [`run`], serves everything on the listeners it is given. The daemon's
//! `main` (src/bin/minimost.rs) parses arguments, takes sockets from systemd or binds them,
//! installs signal handlers and calls it; the integration tests start the real binary, which
//! takes the same path.

pub mod admin;
pub mod app;
pub mod cli;
pub mod domain;
pub mod http;
pub mod live;
pub mod ops;
pub mod server;
pub mod store;
pub mod system;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use app::{App, AppParts, AppRef};
use store::{Durability, Store};
use system::config::Settings;
use system::listeners::Listeners;
use system::notify::Notifier;

/// What the daemon was told at start.
pub struct Options {
    pub settings: Settings,
    pub config_path: Option<PathBuf>,
    pub state_dir: PathBuf,
    pub durability: Durability,
}

/// How the outside world steers a running server: reload requests (SIGHUP, `minimostctl
/// reload`) and the shutdown token (SIGTERM, SIGINT).
pub struct Control {
    pub reload_tx: mpsc::UnboundedSender<()>,
    reload_rx: mpsc::UnboundedReceiver<()>,
    pub shutdown: CancellationToken,
}

impl Default for Control {
    fn default() -> Self {
        Control::new()
    }
}

impl Control {
    pub fn new() -> Control {
        let (reload_tx, reload_rx) = mpsc::unbounded_channel();
        Control {
            reload_tx,
            reload_rx,
            shutdown: CancellationToken::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("TLS: {0}")]
    Tls(#[from] system::tls::TlsError),
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("socket: {0}")]
    Socket(#[from] std::io::Error),
    #[error("session key: {0}")]
    SessionKey(std::io::Error),
}

/// Time allowed for in-flight requests after SIGTERM; systemd's TimeoutStopSec is larger.
const DRAIN: Duration = Duration::from_secs(8);

/// Serves until `control.shutdown` fires, then drains and flushes the store.
pub async fn run(
    options: Options,
    listeners: Listeners,
    mut control: Control,
) -> Result<(), RunError> {
    system::tls::install_crypto_provider();
    let notifier = Notifier::from_env();
    let tls = app::load_tls(&options.settings, &options.state_dir)?;
    let hub = live::Hub::new();
    let sink_hub = hub.clone();
    let store = Store::open(
        &options.state_dir,
        options.durability,
        Arc::new(move |changes| sink_hub.publish(changes)),
    )?;

    let https: Vec<tokio::net::TcpListener> = listeners
        .https
        .into_iter()
        .map(|l| {
            l.set_nonblocking(true)?;
            tokio::net::TcpListener::from_std(l)
        })
        .collect::<Result<_, _>>()?;
    let https_port = https
        .first()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.port())
        .unwrap_or(6767);
    let addresses: Vec<String> = https
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| a.to_string())
        .collect();

    let security = http::auth::Security::load(&options.state_dir).map_err(RunError::SessionKey)?;
    let app: AppRef = Arc::new(App::new(AppParts {
        settings: options.settings,
        tls,
        config_path: options.config_path,
        state_dir: options.state_dir,
        writer: store.writer.clone(),
        readers: store.readers.clone(),
        db_path: store.path.clone(),
        hub,
        notifier: notifier.clone(),
        shutdown: control.shutdown.clone(),
        https_port,
        security,
    }));

    let router = http::router(app.clone());
    let mut servers = Vec::new();
    let mut probes = Vec::new();
    for listener in https {
        let (probe_tx, probe_rx) = mpsc::channel(1);
        probes.push(probe_tx);
        servers.push(tokio::spawn(server::serve(
            app.clone(),
            listener,
            router.clone(),
            probe_rx,
            DRAIN,
        )));
    }

    let mut side_tasks = Vec::new();
    side_tasks.push(tokio::spawn(http::auth::maintenance(app.clone())));
    for socket in listeners.stun {
        socket.set_nonblocking(true)?;
        let socket = tokio::net::UdpSocket::from_std(socket)?;
        tracing::info!(ADDRESS = ?socket.local_addr().ok(), "STUN responder listening");
        side_tasks.push(tokio::spawn(system::stun::serve(
            socket,
            app.counters.stun_answered.clone(),
        )));
    }
    if let Some(control_socket) = listeners.control {
        control_socket.set_nonblocking(true)?;
        let control_socket = tokio::net::UnixListener::from_std(control_socket)?;
        let handler = admin::handler(app.clone(), control.reload_tx.clone());
        side_tasks.push(tokio::spawn(system::control::serve(
            control_socket,
            handler,
            control.shutdown.clone(),
        )));
    }

    let scheme = if app.tls().is_some() { "https" } else { "http" };
    let status = format!("serving {scheme} on {}", addresses.join(", "));
    tracing::info!(ADDRESSES = %addresses.join(","), "ready: {status}");
    notifier.ready(&status);

    side_tasks.push(tokio::spawn(ops::retention::schedule(app.clone())));

    if let Some(interval) = notifier.watchdog_interval() {
        side_tasks.push(tokio::spawn(watchdog(app.clone(), probes, interval)));
    }

    loop {
        tokio::select! {
            _ = control.shutdown.cancelled() => break,
            Some(()) = control.reload_rx.recv() => {
                notifier.reloading();
                // Reading certificates and host names may wait on disk or DNS: keep it off the
                // async workers.
                let reloading = app.clone();
                let outcome = tokio::task::spawn_blocking(move || reloading.reload()).await;
                match outcome.unwrap_or_else(|e| Err(app::ReloadError::Panicked(e.to_string()))) {
                    Ok(()) => tracing::info!(CONFIG = ?app.config_path, "settings reloaded"),
                    Err(e) => tracing::error!(ERROR = %e, "reload refused; the previous settings stay in force: {e}"),
                }
                notifier.ready(&status);
            }
        }
    }

    tracing::info!("shutting down: no new connections; draining requests");
    notifier.stopping();
    for server in servers {
        let _ = server.await;
    }
    for task in side_tasks {
        task.abort();
    }
    drop(router);
    drop(app);
    store.close();
    tracing::info!("stopped");
    Ok(())
}

/// Pings systemd's watchdog only after a liveness probe passes: the store's writer answers and
/// every accept loop answers. A wedged server therefore stops pinging and gets restarted.
async fn watchdog(app: AppRef, probes: Vec<mpsc::Sender<server::Probe>>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        let store_ok = app.store_alive().await.is_ok();
        let mut loops_ok = true;
        for probe in &probes {
            let (tx, rx) = oneshot::channel();
            let answered = probe.try_send(tx).is_ok()
                && tokio::time::timeout(Duration::from_secs(2), rx)
                    .await
                    .is_ok_and(|r| r.is_ok());
            loops_ok &= answered;
        }
        if store_ok && loops_ok {
            app.notifier.watchdog();
            app.notifier.status(&format!(
                "{} open event streams, {} connections",
                app.hub.open_streams(),
                app.open_connections()
            ));
        } else {
            tracing::error!(
                STORE_OK = store_ok,
                ACCEPT_OK = loops_ok,
                "liveness probe failed; withholding the watchdog ping"
            );
        }
    }
}
