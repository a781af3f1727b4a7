//! Logging: native journald records with structured fields when stderr is connected to the
//! journal (`$JOURNAL_STREAM` names it), readable lines on stderr otherwise.

use std::os::fd::AsFd;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// True when `$JOURNAL_STREAM` ("device:inode") matches our stderr, as sd_journal docs advise.
fn stderr_is_journal() -> bool {
    let Ok(value) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((device, inode)) = value.split_once(':') else {
        return false;
    };
    let Ok(stat) = nix::sys::stat::fstat(std::io::stderr().as_fd()) else {
        return false;
    };
    device.parse::<u64>().ok() == Some(stat.st_dev)
        && inode.parse::<u64>().ok() == Some(stat.st_ino)
}

/// Installs the global subscriber. `MINIMOST_LOG` (an EnvFilter) overrides the default level.
pub fn init() {
    let filter = EnvFilter::try_from_env("MINIMOST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    if stderr_is_journal() {
        match tracing_journald::layer() {
            Ok(journal) => {
                // No field prefix: `journalctl AUDIT_EVENT=login_failed` must match the field as written.
                let journal = journal
                    .with_field_prefix(None)
                    .with_syslog_identifier("minimost".to_string());
                let _ = tracing_subscriber::registry()
                    .with(filter)
                    .with(journal)
                    .try_init();
                return;
            }
            Err(e) => eprintln!("minimost: journald unavailable ({e}); logging to stderr"),
        }
    }
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false),
        )
        .try_init();
}
