//! Live state that never touches the disk: the event hub, and (as they arrive) presence,
//! typing, calls and rate-limit windows.

pub mod hub;
pub mod rate_limit;

pub use hub::Hub;
