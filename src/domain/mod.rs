//! The rules of the product as plain functions over plain types: no HTTP, no SQL, no I/O.

pub mod calls;
pub mod change;
pub mod channel;
pub mod clock;
pub mod link_preview;
pub mod mentions;
pub mod notices;
pub mod password_hash;
pub mod password_policy;
pub mod reactions;
pub mod screenshare;
pub mod time;
pub mod tokens;
pub mod uploads;
pub mod username;
