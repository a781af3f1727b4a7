//! What a committed write announces to the live hub (design.md "push, never poll").
//!
//! The store's writer hands these to the hub after COMMIT, in commit order; the hub turns them
//! into the SSE events of api.md §7.4 for the streams allowed to see them.

/// One committed change.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Rows of `channel` were created, edited, deleted or had a reaction toggled; `change_ts`
    /// is the change-clock value they now carry (api.md §5.4).
    Messages { channel: String, change_ts: f64 },
    /// A session ended or was revoked; its open streams get `session_revoked` and close.
    SessionRevoked {
        session_hash: String,
        reason: &'static str,
    },
    /// Accounts were created or removed (user lists and counts changed).
    Accounts,
    /// Rows removed for good (an account's hard delete): open streams of `channel` receive
    /// these tombstone rows (api.md §6.1.7), later reads simply lack them.
    Removed {
        channel: String,
        tombstones: Vec<serde_json::Value>,
    },
}
