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
    /// Print metrics in the Prometheus text format.
    Metrics,
    /// Run the retention and eviction job now and print what it removed.
    Cleanup {
        /// Report what would be removed without removing anything.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Take an online, consistent backup (database, uploads, avatars, TLS material, settings)
    /// into one compressed archive with checksums.
    Backup {
        /// Archive to write (e.g. minimost-2026-01-31.tar.gz).
        file: PathBuf,
    },
    /// Restore a backup into a state directory. Stop the daemon first; the archive is verified
    /// before anything is touched, and the previous state is moved aside, not deleted.
    Restore {
        /// Archive written by `minimostctl backup`.
        file: PathBuf,
        /// State directory to restore into (under systemd: /var/lib/private/minimost).
        #[arg(long, value_name = "DIR")]
        state_dir: PathBuf,
    },
    /// Issue a one-time password reset link for USER and post the in-app notice.
    ResetPassword {
        /// The account (looked up case-insensitively).
        user: String,
        /// Minutes until the link expires (1–10080).
        #[arg(long, value_name = "MINUTES", default_value_t = 60,
              value_parser = clap::value_parser!(u64).range(1..=10080))]
        expires: u64,
        /// Base of the link (default: [server] public_base_url, else https://<FQDN>:<port>).
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
    },
    /// List, lock, unlock or delete accounts.
    #[command(subcommand)]
    Users(UsersCommand),
    /// End sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Import a data directory of the Python MiniMost 0.0.4 into a state directory. Stop the
    /// daemon first: this works on the files directly, not over the control socket.
    ImportPython(ImportPythonArgs),
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Every account, with its lock state and open sessions.
    List(JsonFlag),
    /// Refuse USER's logins until unlocked, and end their sessions.
    Lock { user: String },
    /// Allow USER to log in again (also clears a lockout after failed logins).
    Unlock { user: String },
    /// Delete USER's account: their messages stay as "Deleted User", or with --hard are removed.
    Delete {
        user: String,
        /// Remove the user's messages, reactions and files too.
        #[arg(long)]
        hard: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// End every session of USER; their open tabs go to the login page.
    Revoke { user: String },
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `minimostctl import-python`.
#[derive(Debug, Args)]
pub struct ImportPythonArgs {
    /// The original's data directory (auth.db, presence.db, users/, uploads/, avatars/, and a
    /// copy of its settings.json).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// State directory to import into (under systemd: /var/lib/private/minimost).
    #[arg(long, value_name = "DIR")]
    pub state_dir: PathBuf,
    /// Import even though the state directory already holds accounts or messages.
    #[arg(long)]
    pub merge: bool,
    /// Write the minimost.toml equivalent of settings.json here instead of to stdout.
    #[arg(long, value_name = "FILE")]
    pub config_out: Option<PathBuf>,
}
