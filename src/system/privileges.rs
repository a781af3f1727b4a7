//! The daemon never needs root. Under systemd it runs as a dynamic user; started by hand as
//! root it refuses unless told which user to become, and then drops everything.

use std::path::Path;

use caps::CapSet;
use nix::unistd::{Gid, Uid, User};

#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error(
        "minimost does not run as root. Start it through systemd (systemctl start minimost), \
         as an ordinary user, or as root with --user NAME to drop to that user after binding"
    )]
    RunningAsRoot,
    #[error("--user {0}: no such user")]
    NoSuchUser(String),
    #[error("--user is only meaningful when started as root")]
    UserWithoutRoot,
    #[error("cannot hand {path} to {user}: {source}")]
    Chown {
        path: String,
        user: String,
        source: nix::Error,
    },
    #[error("cannot switch to user {user}: {source}")]
    Switch { user: String, source: nix::Error },
    #[error("cannot clear capabilities: {0}")]
    Caps(String),
}

/// Decides what to do about our identity before anything is opened. Returns the user to
/// switch to (after the sockets are bound and the state dir exists), if any.
pub fn check(requested_user: Option<&str>) -> Result<Option<User>, PrivilegeError> {
    let root = Uid::effective().is_root();
    match (root, requested_user) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(PrivilegeError::UserWithoutRoot),
        (true, None) => Err(PrivilegeError::RunningAsRoot),
        (true, Some(name)) => User::from_name(name)
            .ok()
            .flatten()
            .ok_or_else(|| PrivilegeError::NoSuchUser(name.to_string()))
            .map(Some),
    }
}

/// Hands the state directory to `user`, switches to it and clears every capability set,
/// including the bounding and ambient sets, so nothing can be regained by exec.
pub fn drop_to(user: &User, state_dir: &Path) -> Result<(), PrivilegeError> {
    chown_tree(state_dir, user.uid, user.gid).map_err(|source| PrivilegeError::Chown {
        path: state_dir.display().to_string(),
        user: user.name.clone(),
        source,
    })?;
    let switch = |source| PrivilegeError::Switch {
        user: user.name.clone(),
        source,
    };
    // The bounding set can only be shrunk while we still hold CAP_SETPCAP, i.e. as root.
    for cap in caps::all() {
        let _ = caps::drop(None, CapSet::Bounding, cap);
    }
    nix::unistd::setgroups(&[user.gid]).map_err(switch)?;
    nix::unistd::setgid(user.gid).map_err(switch)?;
    nix::unistd::setuid(user.uid).map_err(switch)?;
    for set in [
        CapSet::Ambient,
        CapSet::Effective,
        CapSet::Permitted,
        CapSet::Inheritable,
    ] {
        caps::clear(None, set).map_err(|e| PrivilegeError::Caps(e.to_string()))?;
    }
    Ok(())
}

fn chown_tree(path: &Path, uid: Uid, gid: Gid) -> Result<(), nix::Error> {
    nix::unistd::chown(path, Some(uid), Some(gid))?;
    if path.is_dir() && !path.is_symlink() {
        let entries = std::fs::read_dir(path)
            .map_err(|e| nix::Error::from_raw(e.raw_os_error().unwrap_or(0)))?;
        for entry in entries.flatten() {
            chown_tree(&entry.path(), uid, gid)?;
        }
    }
    Ok(())
}
