//! Live state that never touches the disk: the event hub, presence, typing, the book-keeping
//! of open streams, and (as they arrive) calls and rate-limit windows.

pub mod hub;
pub mod presence;
pub mod rate_limit;
pub mod streams;
pub mod typing;

use std::sync::Arc;

pub use hub::Hub;

/// The in-memory state the chat routes and streams share.
#[derive(Default)]
pub struct Live {
    pub presence: Arc<presence::Presence>,
    pub typing: Arc<typing::Typing>,
    pub streams: Arc<streams::Streams>,
}
