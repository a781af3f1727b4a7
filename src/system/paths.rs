//! Where the configuration file and the state directory are, by the rules of issue #2:
//! the command line first, then what systemd exported, then the packaged default.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The packaged configuration file.
pub const ETC_CONFIG: &str = "/etc/minimost/minimost.toml";

/// The config file to read, or `None` for built-in defaults. An explicit `--config` must exist;
/// the implicit locations are used only when present.
pub fn config_file(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_path_buf());
    }
    if let Some(dir) = std::env::var_os("CONFIGURATION_DIRECTORY") {
        // systemd may list several directories separated by ':'; ours is the first.
        let first = dir
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string();
        let candidate = Path::new(&first).join("minimost.toml");
        if candidate.exists() {
            return Some(candidate);
        }
    }
    let etc = PathBuf::from(ETC_CONFIG);
    etc.exists().then_some(etc)
}

/// The state directory: `--state-dir`, else `$STATE_DIRECTORY`, else `./minimost-data`.
pub fn state_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_path_buf();
    }
    if let Some(dir) = std::env::var_os("STATE_DIRECTORY") {
        let first = dir
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string();
        if !first.is_empty() {
            return PathBuf::from(first);
        }
    }
    PathBuf::from("minimost-data")
}

/// Creates the state directory (mode 0700) and its sub-folders if missing.
pub fn prepare_state_dir(dir: &Path) -> std::io::Result<()> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    for sub in ["uploads", "avatars", "tls"] {
        let path = dir.join(sub);
        if !path.exists() {
            std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        }
    }
    Ok(())
}
