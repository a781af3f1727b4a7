//! What an administrator needs after day one: backups and restores (and, as they arrive,
//! retention and metrics).

pub mod backup;
pub mod metrics;
pub mod retention;
