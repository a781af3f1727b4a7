//! What a committed write announces to the live hub (design.md "push, never poll").
//!
//! The store's writer hands these to the hub after COMMIT, in commit order; the hub turns them
//! into the SSE events of api.md §7.4 for the streams allowed to see them.

use std::sync::Arc;

/// One message row as a change carries it: the facts a stream needs to decide who may see it
/// and which events it touches, plus the row's JSON (api.md §5.1), serialized once by the
/// writer and shared by every stream that forwards it.
#[derive(Debug, Clone, PartialEq)]
pub struct RowEvent {
    pub id: i64,
    pub ts: f64,
    /// The row's change time (api.md §5.4) after this change.
    pub change_ts: f64,
    pub sender: String,
    /// Whether the row is a tombstone now.
    pub deleted: bool,
    /// Whether the change touched mentions: the row mentions someone now or did before.
    pub mentions: bool,
    /// Whether the row is (or, for a delete, was) pinned, so pin lists change with it.
    pub pinned: bool,
    /// The row exactly as `GET /messages` writes it.
    pub json: Arc<str>,
}

/// One committed change.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Rows of `channel` were created, edited, deleted or had a reaction toggled; `change_ts`
    /// is the change-clock value they now carry (api.md §5.4). Streams read the rows from
    /// their cursor; writers that have the rows at hand publish [`Change::Rows`] instead.
    Messages { channel: String, change_ts: f64 },
    /// Rows of `channel` changed, carried whole so an up-to-date stream needs no query.
    Rows {
        channel: String,
        rows: Arc<Vec<RowEvent>>,
    },
    /// A session ended or was revoked; its open streams get `session_revoked` and close.
    SessionRevoked {
        session_hash: String,
        reason: &'static str,
    },
    /// Accounts were created or removed (user lists and counts changed), or the configured
    /// channels changed: every user's channel-dependent counts are recomputed.
    Accounts,
    /// Rows removed for good (an account's hard delete): open streams of `channel` receive
    /// these tombstone rows (api.md §6.1.7), later reads simply lack them.
    Removed {
        channel: String,
        tombstones: Vec<serde_json::Value>,
    },
    /// A read watermark of `user_id` on `channel` moved (send, `mark_read`, signup).
    Watermark { user_id: i64, channel: String },
    /// A pin of `channel` was toggled.
    Pins { channel: String },
    /// A private channel was created, renamed, gained or lost a member: `user_ids` are every
    /// member affected, the leaving one included.
    PrivateChannel { id: i64, user_ids: Vec<i64> },
    /// `user_id` closed a DM.
    DmsHidden { user_id: i64 },
    /// Someone's presence or override changed (or lapsed).
    Presence,
    /// The set of people typing in `channel` changed.
    Typing { channel: String },
    /// A call in `channel` started, changed or finished: its `active_call` is recomputed.
    ActiveCall { channel: String },
    /// The calls ringing for these users (registered spelling) may have changed.
    IncomingCalls { users: Vec<String> },
    /// A standalone screen share in `channel` started or ended.
    Screenshares { channel: String },
    /// A call or share signal for `to`, pushed as the `signal` event; `event` is its JSON,
    /// serialized once.
    Signal { to: String, event: Arc<str> },
}
