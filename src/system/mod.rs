//! Everything between the daemon and its host: systemd (sockets, notify, watchdog), logging,
//! settings, TLS, STUN, privileges and the admin control socket.

pub mod audit;
pub mod config;
pub mod control;
pub mod host;
pub mod listeners;
pub mod logging;
pub mod notify;
pub mod paths;
pub mod privileges;
pub mod stun;
pub mod tls;
