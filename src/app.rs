//! The running application: settings, store handles, TLS material, live hub and counters,
//! shared by every request, stream, timer and admin command.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use crate::live::Hub;
use crate::store::{Readers, StoreError, Writer};
use crate::system::config::Settings;
use crate::system::notify::Notifier;
use crate::system::tls::{self, TlsBundle};

/// Process-wide counters for `minimostctl status` and metrics.
#[derive(Default)]
pub struct Counters {
    pub open_connections: AtomicUsize,
    pub stun_answered: Arc<AtomicU64>,
    pub requests: AtomicU64,
}

/// Why a reload was refused; the previous settings stay in force.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] crate::system::config::ConfigError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("reload task failed: {0}")]
    Panicked(String),
}

pub struct App {
    settings: ArcSwap<Settings>,
    tls: ArcSwap<Option<TlsBundle>>,
    pub config_path: Option<PathBuf>,
    pub state_dir: PathBuf,
    pub writer: Writer,
    pub readers: Readers,
    pub db_path: PathBuf,
    pub hub: Hub,
    /// Presence, typing, calls and open-stream book-keeping (never on disk).
    pub live: crate::live::Live,
    pub counters: Counters,
    pub notifier: Notifier,
    pub started: Instant,
    pub shutdown: CancellationToken,
    /// The first HTTPS listener's port, for default reset-link URLs.
    pub https_port: u16,
    /// Session key, rate-limit windows and the password-hashing gate (`http::auth`).
    pub security: crate::http::auth::Security,
}

/// Shared handle passed to routes as axum state.
pub type AppRef = Arc<App>;

pub struct AppParts {
    pub settings: Settings,
    pub tls: Option<TlsBundle>,
    pub config_path: Option<PathBuf>,
    pub state_dir: PathBuf,
    pub writer: Writer,
    pub readers: Readers,
    pub db_path: PathBuf,
    pub hub: Hub,
    pub notifier: Notifier,
    pub shutdown: CancellationToken,
    pub https_port: u16,
    pub security: crate::http::auth::Security,
}

impl App {
    pub fn new(parts: AppParts) -> App {
        let live = crate::live::Live::new(parts.writer.clone(), parts.hub.clone());
        App {
            settings: ArcSwap::from_pointee(parts.settings),
            tls: ArcSwap::from_pointee(parts.tls),
            config_path: parts.config_path,
            state_dir: parts.state_dir,
            writer: parts.writer,
            readers: parts.readers,
            db_path: parts.db_path,
            hub: parts.hub,
            live,
            counters: Counters::default(),
            notifier: parts.notifier,
            started: Instant::now(),
            shutdown: parts.shutdown,
            https_port: parts.https_port,
            security: parts.security,
        }
    }

    /// The settings in force. Cheap: an atomic load of an `Arc`.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.load_full()
    }

    /// The TLS material in force (`None` with `[tls] enabled = false`).
    pub fn tls(&self) -> Arc<Option<TlsBundle>> {
        self.tls.load_full()
    }

    /// Re-reads the settings file and the TLS files, validates both, and swaps them in together.
    /// On any error nothing changes.
    pub fn reload(&self) -> Result<(), ReloadError> {
        let (settings, warnings) = match &self.config_path {
            Some(path) => Settings::load(path)?,
            None => (Settings::default(), Vec::new()),
        };
        for warning in warnings {
            tracing::warn!(CONFIG = ?self.config_path, "{warning}");
        }
        let tls = load_tls(&settings, &self.state_dir)?;
        let old_channels = self.settings().channels.clone();
        self.tls.store(Arc::new(tls));
        let channels_changed = old_channels != settings.channels;
        self.settings.store(Arc::new(settings));
        if channels_changed {
            self.hub
                .publish(vec![crate::domain::change::Change::Accounts]);
        }
        Ok(())
    }

    /// The liveness probe behind `/healthz` and the watchdog: the writer answers in time.
    pub async fn store_alive(&self) -> Result<(), StoreError> {
        match tokio::time::timeout(Duration::from_secs(2), self.writer.ping()).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Closed),
        }
    }

    /// Login or signup succeeded: the user counts as `active` from now (api.md §7.4 pushes
    /// `online_users`). The accounts routes call this.
    pub fn user_signed_in(&self, name: &str) {
        self.live
            .presence
            .report(name, "active", crate::domain::time::now());
        self.live.presence.ensure_sweeper(&self.hub);
        self.hub
            .publish(vec![crate::domain::change::Change::Presence]);
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn open_connections(&self) -> usize {
        self.counters.open_connections.load(Ordering::Relaxed)
    }
}

/// TLS material for `settings`, or `None` when TLS is disabled.
pub fn load_tls(
    settings: &Settings,
    state_dir: &std::path::Path,
) -> Result<Option<TlsBundle>, tls::TlsError> {
    if !settings.tls.enabled {
        return Ok(None);
    }
    tls::load(
        state_dir,
        settings.tls.cert.as_deref(),
        settings.tls.key.as_deref(),
    )
    .map(Some)
}
