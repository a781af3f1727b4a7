//! Where the sockets come from: systemd's socket activation, or binding them ourselves.
//!
//! systemd names passed sockets with `FileDescriptorName=`, but that option names every socket
//! of a .socket unit alike, so a single `minimost.socket` cannot label its three sockets
//! differently. We therefore accept the names `https`, `stun` and `control` when present and
//! otherwise classify each socket by what it is: TCP stream → HTTPS, UDP → STUN, Unix stream →
//! control.

use std::net::{TcpListener, ToSocketAddrs, UdpSocket};
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;

use nix::sys::socket::{
    getsockname, getsockopt, sockopt, AddressFamily, SockType, SockaddrLike, SockaddrStorage,
};

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot bind {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("cannot resolve {address}: {source}")]
    Resolve {
        address: String,
        source: std::io::Error,
    },
    #[error("cannot take sockets from systemd: {0}")]
    Systemd(String),
    #[error("systemd passed socket {index} ({name}) of an unusable kind")]
    Unusable { index: usize, name: String },
    #[error("control socket {path}: {source}")]
    Control {
        path: String,
        source: std::io::Error,
    },
}

/// The daemon's sockets, before the runtime takes them over.
#[derive(Debug, Default)]
pub struct Listeners {
    pub https: Vec<TcpListener>,
    pub stun: Vec<UdpSocket>,
    pub control: Option<UnixListener>,
    /// True when the sockets came from systemd.
    pub activated: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum Role {
    Https,
    Stun,
    Control,
}

fn classify(fd: &OwnedFd, name: &str, index: usize) -> Result<Role, ListenError> {
    match name {
        "https" => return Ok(Role::Https),
        "stun" => return Ok(Role::Stun),
        "control" => return Ok(Role::Control),
        _ => {}
    }
    let unusable = || ListenError::Unusable {
        index,
        name: name.to_string(),
    };
    let kind = getsockopt(fd, sockopt::SockType).map_err(|_| unusable())?;
    let address: SockaddrStorage =
        getsockname(std::os::fd::AsRawFd::as_raw_fd(fd)).map_err(|_| unusable())?;
    match (address.family(), kind) {
        (Some(AddressFamily::Inet | AddressFamily::Inet6), SockType::Stream) => Ok(Role::Https),
        (Some(AddressFamily::Inet | AddressFamily::Inet6), SockType::Datagram) => Ok(Role::Stun),
        (Some(AddressFamily::Unix), SockType::Stream) => Ok(Role::Control),
        _ => Err(unusable()),
    }
}

impl Listeners {
    /// Takes the sockets systemd passed (`LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`), or
    /// `None` when there are none. The variables are removed so children do not inherit them.
    pub fn from_systemd() -> Result<Option<Listeners>, ListenError> {
        if std::env::var_os("LISTEN_FDS").is_none() {
            return Ok(None);
        }
        let passed = libsystemd::activation::receive_descriptors_with_names(true)
            .map_err(|e| ListenError::Systemd(e.to_string()))?;
        if passed.is_empty() {
            return Ok(None);
        }
        let mut listeners = Listeners {
            activated: true,
            ..Listeners::default()
        };
        for (index, (descriptor, name)) in passed.into_iter().enumerate() {
            // SAFETY: systemd handed us this descriptor; we are its only owner from here on.
            let fd = unsafe { OwnedFd::from_raw_fd(descriptor.into_raw_fd()) };
            match classify(&fd, &name, index)? {
                Role::Https => listeners.https.push(TcpListener::from(fd)),
                Role::Stun => listeners.stun.push(UdpSocket::from(fd)),
                Role::Control => listeners.control = Some(UnixListener::from(fd)),
            }
        }
        Ok(Some(listeners))
    }

    /// Binds the configured addresses: HTTPS on each `listen` entry, STUN on every address
    /// (a failure leaves STUN off and says why), and the control socket in the state directory.
    pub fn bind(
        listen: &[String],
        stun_port: u16,
        state_dir: &Path,
    ) -> Result<Listeners, ListenError> {
        let mut listeners = Listeners::default();
        for address in listen {
            let resolved: Vec<_> = address
                .to_socket_addrs()
                .map_err(|source| ListenError::Resolve {
                    address: address.clone(),
                    source,
                })?
                .collect();
            for socket_address in resolved {
                let listener =
                    TcpListener::bind(socket_address).map_err(|source| ListenError::Bind {
                        address: socket_address.to_string(),
                        source,
                    })?;
                listeners.https.push(listener);
            }
        }
        listeners.stun = bind_stun(stun_port);
        listeners.control = Some(bind_control(&state_dir.join("control.sock"))?);
        Ok(listeners)
    }
}

/// STUN on all IPv6 and IPv4 addresses. Linux's dual-stack `[::]` socket also takes IPv4
/// (answered as IPv4-mapped), so the separate IPv4 bind only matters where v6 is off.
fn bind_stun(port: u16) -> Vec<UdpSocket> {
    let mut sockets = Vec::new();
    match UdpSocket::bind(("::", port)) {
        Ok(socket) => sockets.push(socket),
        Err(e) => tracing::info!(error = %e, port, "STUN: no IPv6 socket"),
    }
    if sockets.is_empty() {
        match UdpSocket::bind(("0.0.0.0", port)) {
            Ok(socket) => sockets.push(socket),
            Err(e) => tracing::warn!(error = %e, port, "STUN is off: cannot bind the UDP port"),
        }
    }
    sockets
}

/// Creates the control socket with mode 0600 (only root and the daemon's own user may connect;
/// the peer check in `control` enforces the same).
pub fn bind_control(path: &Path) -> Result<UnixListener, ListenError> {
    let control = |source| ListenError::Control {
        path: path.display().to_string(),
        source,
    };
    // A socket file left by an earlier run (after kill -9) would make bind fail.
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(control(e)),
    }
    let listener = UnixListener::bind(path).map_err(control)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(control)?;
    Ok(listener)
}
