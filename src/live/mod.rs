//! Live state that never touches the disk: the event hub, presence, typing, calls and screen
//! shares, the book-keeping of open streams, and rate-limit windows.

pub mod calls;
pub mod deadline;
pub mod hub;
pub mod presence;
pub mod rate_limit;
pub mod streams;
pub mod typing;

use std::sync::Arc;

pub use hub::Hub;

use crate::store::Writer;

/// The in-memory state the chat routes and streams share.
pub struct Live {
    pub presence: Arc<presence::Presence>,
    pub typing: Arc<typing::Typing>,
    pub streams: Arc<streams::Streams>,
    pub calls: Arc<calls::Calls>,
}

impl Live {
    /// `writer` posts the notices of finished calls; `hub` carries what calls change.
    pub fn new(writer: Writer, hub: Hub) -> Live {
        let presence = Arc::new(presence::Presence::default());
        let calls = Arc::new(calls::Calls::new(
            calls::timeouts_from_env(),
            presence.clone(),
            writer,
            hub,
        ));
        Live {
            presence,
            typing: Arc::default(),
            streams: Arc::default(),
            calls,
        }
    }
}
