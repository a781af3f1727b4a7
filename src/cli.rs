//! Command lines of the two programs, shared with the man-page and completion generator.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// MiniMost: self-hosted team chat for private and air-gapped networks.
///
/// Under systemd it takes its sockets from socket activation and its state directory from
/// StateDirectory=. Started by hand without configuration it serves https://127.0.0.1:5000 from
/// ./minimost-data.
#[derive(Debug, Parser)]
#[command(name = "minimost", version, about, long_about)]
pub struct DaemonArgs {
    /// Settings file (default: $CONFIGURATION_DIRECTORY/minimost.toml, else
    /// /etc/minimost/minimost.toml, else built-in defaults).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// State directory for the database, uploads, avatars and TLS material (default:
    /// $STATE_DIRECTORY, else ./minimost-data).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Validate a settings file (FILE, or the one --config or the defaults would use), print
    /// the verdict and exit 0 if valid, 1 if not.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    pub check_config: Option<Option<PathBuf>>,

    /// When started as root outside systemd: bind the sockets, hand the state directory to
    /// NAME, then switch to that user and drop every capability.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
}

/// Administer a running MiniMost daemon over its control socket (root only).
#[derive(Debug, Parser)]
#[command(name = "minimostctl", version, about)]
pub struct CtlArgs {
    /// Control socket of the daemon.
    #[arg(
        long,
        env = "MINIMOST_SOCKET",
        value_name = "PATH",
        default_value = "/run/minimost/control.sock"
    )]
    pub socket: PathBuf,

    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Show version, uptime, open streams and connections, counts and sizes.
    Status(JsonFlag),
    /// Re-read the settings and TLS files (the same as systemctl reload minimost).
    Reload,
    /// List the public channels (from the settings) and the private channels.
    Channels(JsonFlag),
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}
