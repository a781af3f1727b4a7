//! `GET /events` (api.md §7): one server-sent event stream per tab.
//!
//! A stream subscribes to the hub once, before it takes its snapshot, and then only reacts to
//! published batches and its own timers (keep-alive, coalescing, session expiry): it never
//! polls the database on a timer. It is the response body itself, driven by the connection
//! that carries it, so it costs a few KiB of state, not a task or a thread; when the client
//! goes away the body is dropped and its slot freed.
//!
//! `messages` frames are built from the rows the writer serialized once and published; only a
//! stream that lagged behind the hub's buffer re-reads from its cursor. Values computed per
//! user (unread counts, DMs, mentions…) are recomputed shortly after a change, once per burst,
//! and shared between the streams of one user (see [`crate::live::streams`]).

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Uri, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;
use tokio::time::Instant;

use super::auth::CurrentUser;
use super::chat::{parse_cursor, query_first, viewer};
use super::error::ApiError;
use crate::app::AppRef;
use crate::domain::change::Change;
use crate::domain::channel::{is_dm_participant, same_name, ChannelId};
use crate::domain::clock::format_ts;
use crate::live::hub::{Batch, StreamGuard};
use crate::live::streams::{Key, Slot};
use crate::store::channels::{self, Access, Viewer};
use crate::store::{accounts, messages, StoreError};

const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long a stream gathers changes before recomputing derived values: a burst of sends
/// costs one recomputation, well inside the 100 ms delivery bound.
const COALESCE: Duration = Duration::from_millis(20);
/// Rows in the first `messages` frame of a stream that starts from cursor 0.
const FIRST_PAGE: i64 = 100;
/// Longest wait between session checks, so a changed idle setting is noticed too.
const SESSION_RECHECK_S: f64 = 3600.0;

pub fn routes() -> Router<AppRef> {
    Router::new().route("/events", get(events))
}

async fn events(
    State(app): State<AppRef>,
    user: CurrentUser,
    headers: HeaderMap,
    uri: Uri,
    version: Version,
) -> Result<Response, ApiError> {
    let settings = app.settings();
    let cap = settings
        .rate_limit_enabled
        .then(|| settings.max_event_streams_per_user.max(1) as usize);
    let slot = app
        .live
        .streams
        .open(user.id, cap)
        .ok_or_else(|| ApiError::RateLimited {
            retry_after: 5,
            message: "too many open event streams; close other tabs and retry".into(),
        })?;
    let mut cursor = parse_cursor(query_first(&uri, "after").as_deref());
    let resumed = parse_cursor(headers.get("last-event-id").and_then(|v| v.to_str().ok()));
    if resumed > cursor {
        cursor = resumed;
    }
    let channel_raw = query_first(&uri, "channel")
        .unwrap_or_default()
        .trim()
        .to_string();

    // Subscribe before the snapshot, so nothing falls between the two (§7.2).
    let rx = app.hub.subscribe();
    let seq = app.hub.seq();
    app.live.presence.ensure_sweeper(&app.hub);
    app.live.typing.ensure_sweeper(&app.hub);
    let stream = EventStream {
        guard: app.hub.stream_opened(),
        viewer: viewer(&user),
        session_hash: user.session_hash.clone(),
        channel_raw,
        channel: None,
        cursor,
        rx,
        private_ids: HashSet::new(),
        last: HashMap::new(),
        dirty: HashSet::new(),
        dirty_since: None,
        dirty_seq: seq,
        started: false,
        closing: false,
        last_write: Instant::now(),
        session_deadline: Instant::now(),
        out: String::new(),
        _slot: slot,
        app,
    };
    let body = Body::from_stream(futures_util::stream::unfold(stream, |mut s| async move {
        let chunk = s.next_chunk().await?;
        Some((Ok::<Bytes, Infallible>(Bytes::from(chunk)), s))
    }));
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    if version == Version::HTTP_11 {
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    }
    Ok(response)
}

struct EventStream {
    app: AppRef,
    viewer: Viewer,
    session_hash: String,
    channel_raw: String,
    /// The stream's channel while the viewer may read it.
    channel: Option<Access>,
    cursor: f64,
    rx: Receiver<Arc<Batch>>,
    /// The private channels the viewer belongs to, as of the last `private_channels` value.
    private_ids: HashSet<i64>,
    /// The last payload sent per event name (non-`messages` events go out only on change).
    last: HashMap<&'static str, Arc<str>>,
    dirty: HashSet<&'static str>,
    dirty_since: Option<Instant>,
    /// The newest batch a pending recomputation must reflect.
    dirty_seq: u64,
    started: bool,
    closing: bool,
    last_write: Instant,
    session_deadline: Instant,
    out: String,
    guard: StreamGuard,
    _slot: Slot,
}

/// The channel-scoped events read from the store or presence, in start-of-stream order (§7.2).
const CHANNEL_EVENTS: [&str; 3] = ["typing", "read_receipts", "pins"];

/// The channel-scoped call events that follow them: `screenshares` always (`[]` for a public
/// channel), `active_call` only in a DM or private channel (§7.2).
fn call_events(access: &Access) -> &'static [&'static str] {
    match access.channel {
        ChannelId::Public(_) => &["screenshares"],
        _ => &["screenshares", "active_call"],
    }
}

/// The user-scoped events, in start-of-stream order (§7.2).
const USER_EVENTS: [&str; 7] = [
    "online_users",
    "dms",
    "channel_unreads",
    "private_channels",
    "mentions",
    "unread_count",
    "incoming_calls",
];

impl EventStream {
    /// The next bytes to send, or `None` to end the stream.
    async fn next_chunk(&mut self) -> Option<String> {
        let _ = &self.guard;
        if self.closing {
            return None;
        }
        if !self.started {
            self.started = true;
            self.out.push_str("retry: 3000\n\n");
            if let Err(e) = self.snapshot().await {
                tracing::warn!(ERROR = %e, "event stream snapshot failed");
            }
            self.last_write = Instant::now();
            return Some(std::mem::take(&mut self.out));
        }
        loop {
            let keep_alive = self.last_write + KEEP_ALIVE;
            let flush_at = self.dirty_since.map(|t| t + COALESCE);
            let shutdown = self.app.shutdown.clone();
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return None,
                received = self.rx.recv() => match received {
                    Ok(batch) => {
                        if let Err(e) = self.apply(&batch).await {
                            tracing::warn!(ERROR = %e, "event stream update failed");
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        if let Err(e) = self.resync().await {
                            tracing::warn!(ERROR = %e, "event stream resync failed");
                        }
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = sleep_until_opt(flush_at) => {
                    if let Err(e) = self.flush().await {
                        tracing::warn!(ERROR = %e, "event stream recomputation failed");
                    }
                }
                _ = tokio::time::sleep_until(self.session_deadline) => {
                    if let Err(e) = self.check_session().await {
                        tracing::warn!(ERROR = %e, "session check failed");
                        self.session_deadline = Instant::now() + Duration::from_secs(5);
                    }
                }
                _ = tokio::time::sleep_until(keep_alive) => {
                    self.out.push_str(": keep-alive\n\n");
                }
            }
            if !self.out.is_empty() {
                self.last_write = Instant::now();
                return Some(std::mem::take(&mut self.out));
            }
        }
    }

    fn frame(&mut self, event: &str, data: &str) {
        self.out.push_str("event: ");
        self.out.push_str(event);
        self.out.push_str("\ndata: ");
        self.out.push_str(data);
        self.out.push_str("\n\n");
    }

    /// Sends a non-`messages` event if its payload changed.
    fn offer(&mut self, event: &'static str, payload: Arc<str>) {
        if self.last.get(event).is_some_and(|p| *p == payload) {
            return;
        }
        self.frame(event, &payload);
        self.last.insert(event, payload);
    }

    fn messages_frame(&mut self, rows: &[&str]) {
        self.out.push_str("id: ");
        self.out.push_str(&format_ts(self.cursor));
        self.out.push_str("\nevent: messages\ndata: [");
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push_str(row);
        }
        self.out.push_str("]\n\n");
    }

    fn send_rows(&mut self, rows: &[messages::Row]) {
        if rows.is_empty() {
            return;
        }
        for row in rows {
            self.cursor = self.cursor.max(row.change_ts);
        }
        let json: Vec<String> = rows
            .iter()
            .map(|r| serde_json::to_string(r).unwrap_or_else(|_| "{}".into()))
            .collect();
        let refs: Vec<&str> = json.iter().map(String::as_str).collect();
        self.messages_frame(&refs);
    }

    fn public(&self) -> Arc<Vec<String>> {
        Arc::new(self.app.settings().channels.clone())
    }

    async fn snapshot(&mut self) -> Result<(), StoreError> {
        let public = self.public();
        let viewer = self.viewer.clone();
        let raw = self.channel_raw.clone();
        let cursor = self.cursor;
        let session_hash = self.session_hash.clone();
        let idle = self.app.settings().session_idle_minutes;
        let (access, rows, clock, session) = self
            .app
            .readers
            .read(move |conn| {
                // One read transaction: the page and the clock describe the same moment.
                conn.execute_batch("BEGIN")?;
                let result = (|| {
                    let access = if raw.is_empty() {
                        None
                    } else {
                        channels::access(conn, &public, &viewer, &raw)?
                    };
                    let rows = match &access {
                        Some(a) if cursor > 0.0 => {
                            messages::changed_after(conn, &a.key, a.visible_from, cursor)?
                        }
                        Some(a) => messages::latest(conn, &a.key, a.visible_from, FIRST_PAGE)?,
                        None => Vec::new(),
                    };
                    let clock = messages::clock_now(conn)?;
                    let session = accounts::session(conn, &session_hash)?;
                    Ok((access, rows, clock, session))
                })();
                let _ = conn.execute_batch("COMMIT");
                result
            })
            .await?;
        self.set_session_deadline(session.as_ref(), idle);
        self.channel = access;
        if self.cursor <= 0.0 {
            self.cursor = clock;
            if !rows.is_empty() {
                let json: Vec<String> = rows
                    .iter()
                    .map(|r| serde_json::to_string(r).unwrap_or_else(|_| "{}".into()))
                    .collect();
                let refs: Vec<&str> = json.iter().map(String::as_str).collect();
                self.messages_frame(&refs);
            }
        } else {
            self.send_rows(&rows);
        }
        if let Some(access) = self.channel.clone() {
            let seq = self.dirty_seq;
            for event in CHANNEL_EVENTS {
                let value = self.compute(event, seq).await?;
                self.offer(event, value);
            }
            for &event in call_events(&access) {
                let value = self.compute(event, seq).await?;
                self.offer(event, value);
            }
        }
        let seq = self.dirty_seq;
        for event in USER_EVENTS {
            let value = self.compute(event, seq).await?;
            self.offer(event, value);
        }
        Ok(())
    }

    /// Computes one event's payload for this stream, reflecting at least batch `seq`.
    async fn compute(&mut self, event: &'static str, seq: u64) -> Result<Arc<str>, StoreError> {
        let now = crate::domain::time::now();
        let channel_key = self.channel.as_ref().map(|a| a.key.clone());
        let value: Arc<str> = match event {
            "typing" => {
                let list = channel_key
                    .map(|key| self.app.live.typing.list(&key, &self.viewer.name, now))
                    .unwrap_or_default();
                serde_json::to_string(&list).unwrap_or_default().into()
            }
            "online_users" => self.app.live.presence.online(now).to_string().into(),
            "incoming_calls" => self
                .app
                .live
                .calls
                .incoming(&self.viewer.name, now)
                .to_string()
                .into(),
            // Calls and shares live in memory: computing them is cheaper than sharing them.
            "active_call" => match &self.channel {
                Some(a) if !matches!(a.channel, ChannelId::Public(_)) => self
                    .app
                    .live
                    .calls
                    .active_call_event(&self.viewer.name, &a.key, now)
                    .into(),
                _ => "{\"call\":null}".into(),
            },
            "screenshares" => match &self.channel {
                Some(a) if !matches!(a.channel, ChannelId::Public(_)) => {
                    self.app.live.calls.screenshares_event(&a.key, now).into()
                }
                _ => "[]".into(),
            },
            _ => {
                let (user_id, channel) = match event {
                    // Read receipts are the same for everyone who can see the channel.
                    "read_receipts" => (0, channel_key.clone().unwrap_or_default()),
                    "pins" => (self.viewer.id, channel_key.clone().unwrap_or_default()),
                    _ => (self.viewer.id, String::new()),
                };
                let key = Key {
                    user_id,
                    event,
                    channel,
                };
                let app = self.app.clone();
                let hub = self.app.hub.clone();
                let viewer = self.viewer.clone();
                let public = self.public();
                let access = self.channel.clone();
                self.app
                    .live
                    .streams
                    .value(
                        key,
                        seq,
                        || hub.seq(),
                        move || async move {
                            app.readers
                                .read(move |conn| {
                                    let value = match (event, &access) {
                                        ("read_receipts", Some(a)) => {
                                            channels::read_receipts(conn, &a.key)?
                                        }
                                        ("pins", Some(a)) => {
                                            messages::pins(conn, &a.key, a.visible_from)?
                                        }
                                        ("dms", _) => channels::dms(conn, &viewer)?,
                                        ("channel_unreads", _) => {
                                            channels::channel_unreads(conn, &public, &viewer)?
                                        }
                                        ("private_channels", _) => {
                                            channels::private_channels(conn, &viewer)?
                                        }
                                        ("mentions", _) => {
                                            channels::mentions(conn, &public, &viewer)?
                                        }
                                        ("unread_count", _) => serde_json::json!({
                                            "count": channels::dm_unread_count(conn, &viewer)?
                                        }),
                                        _ => Value::Array(Vec::new()),
                                    };
                                    Ok(value.to_string())
                                })
                                .await
                        },
                    )
                    .await?
            }
        };
        if event == "private_channels" {
            if let Ok(Value::Array(list)) = serde_json::from_str::<Value>(&value) {
                self.private_ids = list
                    .iter()
                    .filter_map(|c| c.get("id").and_then(Value::as_i64))
                    .collect();
            }
        }
        Ok(value)
    }

    fn mark(&mut self, event: &'static str, seq: u64) {
        self.dirty.insert(event);
        self.dirty_seq = self.dirty_seq.max(seq);
        if self.dirty_since.is_none() {
            self.dirty_since = Some(Instant::now());
        }
    }

    /// Marks the viewer's unread-related events of a channel that changed.
    fn mark_unread(&mut self, key: &str, mentions: bool, seq: u64) {
        let affected = match channels::canonical_stored(key) {
            Some(ChannelId::Public(name)) => {
                let configured = self.app.settings().channels.contains(&name);
                if configured {
                    self.mark("channel_unreads", seq);
                }
                configured
            }
            Some(ChannelId::Dm(names)) => {
                let mine = is_dm_participant(&names, &self.viewer.name);
                if mine {
                    self.mark("dms", seq);
                    self.mark("unread_count", seq);
                }
                mine
            }
            Some(ChannelId::Private(id)) => {
                let mine = self.private_ids.contains(&id);
                if mine {
                    self.mark("private_channels", seq);
                }
                mine
            }
            None => false,
        };
        if affected && mentions {
            self.mark("mentions", seq);
        }
    }

    fn is_my_channel(&self, key: &str) -> bool {
        self.channel.as_ref().is_some_and(|a| a.key == key)
    }

    async fn apply(&mut self, batch: &Batch) -> Result<(), StoreError> {
        let seq = batch.seq;
        for change in &batch.changes {
            match change {
                Change::Rows { channel, rows } => {
                    if let Some(access) = self.channel.clone().filter(|a| a.key == *channel) {
                        let fresh: Vec<&str> = rows
                            .iter()
                            .filter(|r| r.ts >= access.visible_from && r.change_ts > self.cursor)
                            .map(|r| &*r.json)
                            .collect();
                        if !fresh.is_empty() {
                            for r in rows.iter() {
                                self.cursor = self.cursor.max(r.change_ts);
                            }
                            let owned: Vec<String> = fresh.iter().map(|s| s.to_string()).collect();
                            let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
                            self.messages_frame(&refs);
                        }
                        if rows.iter().any(|r| r.pinned) {
                            self.mark("pins", seq);
                        }
                    }
                    let mentions = rows.iter().any(|r| r.mentions);
                    self.mark_unread(channel, mentions, seq);
                }
                Change::Messages { channel, .. } => {
                    if let Some(access) = self.channel.clone().filter(|a| a.key == *channel) {
                        let cursor = self.cursor;
                        let rows = self
                            .app
                            .readers
                            .read(move |conn| {
                                messages::changed_after(
                                    conn,
                                    &access.key,
                                    access.visible_from,
                                    cursor,
                                )
                            })
                            .await?;
                        self.send_rows(&rows);
                        self.mark("pins", seq);
                    }
                    self.mark_unread(channel, true, seq);
                }
                Change::Removed {
                    channel,
                    tombstones,
                } => {
                    if self.is_my_channel(channel) && !tombstones.is_empty() {
                        let json: Vec<String> = tombstones.iter().map(Value::to_string).collect();
                        let refs: Vec<&str> = json.iter().map(String::as_str).collect();
                        self.messages_frame(&refs);
                        self.mark("pins", seq);
                        self.mark("read_receipts", seq);
                    }
                    self.mark_unread(channel, true, seq);
                }
                Change::Watermark { user_id, channel } => {
                    if self.is_my_channel(channel) {
                        self.mark("read_receipts", seq);
                    }
                    if *user_id == self.viewer.id {
                        let channel = channel.clone();
                        self.mark_unread(&channel, true, seq);
                    }
                }
                Change::Pins { channel } => {
                    if self.is_my_channel(channel) {
                        self.mark("pins", seq);
                    }
                }
                Change::PrivateChannel { id, user_ids } => {
                    if user_ids.contains(&self.viewer.id) {
                        self.mark("private_channels", seq);
                        self.private_ids.insert(*id);
                        if self.channel_raw == format!("private:{id}") {
                            self.recheck_access().await?;
                        }
                    }
                }
                Change::DmsHidden { user_id } => {
                    if *user_id == self.viewer.id {
                        self.mark("dms", seq);
                    }
                }
                Change::Presence => self.mark("online_users", seq),
                Change::Typing { channel } => {
                    if self.is_my_channel(channel) {
                        self.mark("typing", seq);
                    }
                }
                Change::Accounts => {
                    self.mark("channel_unreads", seq);
                    if matches!(
                        self.channel.as_ref().map(|a| &a.channel),
                        Some(ChannelId::Public(_))
                    ) || self.channel.is_none()
                    {
                        self.recheck_access().await?;
                    }
                }
                Change::ActiveCall { channel } => {
                    if self.is_my_channel(channel) {
                        self.mark("active_call", seq);
                    }
                }
                Change::Screenshares { channel } => {
                    if self.is_my_channel(channel) {
                        self.mark("screenshares", seq);
                    }
                }
                Change::IncomingCalls { users } => {
                    if users.iter().any(|u| same_name(u, &self.viewer.name)) {
                        self.mark("incoming_calls", seq);
                    }
                }
                Change::Signal { to, event } => {
                    // Every signal is delivered, never merged with the previous one.
                    if same_name(to, &self.viewer.name) {
                        self.frame("signal", event);
                    }
                }
                Change::SessionRevoked {
                    session_hash,
                    reason,
                } => {
                    if *session_hash == self.session_hash {
                        self.revoke(reason);
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    fn revoke(&mut self, reason: &str) {
        self.frame(
            "session_revoked",
            &serde_json::json!({ "reason": reason }).to_string(),
        );
        self.closing = true;
    }

    /// Whether the viewer may still (or now) read the stream's channel; channel-scoped events
    /// stop when access is lost (§7.4).
    async fn recheck_access(&mut self) -> Result<(), StoreError> {
        if self.channel_raw.is_empty() {
            return Ok(());
        }
        let public = self.public();
        let viewer = self.viewer.clone();
        let raw = self.channel_raw.clone();
        self.channel = self
            .app
            .readers
            .read(move |conn| channels::access(conn, &public, &viewer, &raw))
            .await?;
        Ok(())
    }

    /// The stream fell behind the hub's buffer: read what it missed from its cursor and
    /// recompute everything derived.
    async fn resync(&mut self) -> Result<(), StoreError> {
        self.recheck_access().await?;
        let seq = self.app.hub.seq();
        if let Some(access) = self.channel.clone() {
            let cursor = self.cursor;
            let rows = self
                .app
                .readers
                .read(move |conn| {
                    messages::changed_after(conn, &access.key, access.visible_from, cursor)
                })
                .await?;
            self.send_rows(&rows);
            for event in CHANNEL_EVENTS {
                self.mark(event, seq);
            }
        }
        for event in USER_EVENTS {
            self.mark(event, seq);
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), StoreError> {
        self.dirty_since = None;
        let dirty = std::mem::take(&mut self.dirty);
        let seq = self.dirty_seq;
        if let Some(access) = self.channel.clone() {
            let events = CHANNEL_EVENTS
                .into_iter()
                .chain(call_events(&access).iter().copied());
            for event in events.filter(|e| dirty.contains(e)) {
                let value = self.compute(event, seq).await?;
                self.offer(event, value);
            }
        }
        for event in USER_EVENTS {
            if dirty.contains(event) {
                let value = self.compute(event, seq).await?;
                self.offer(event, value);
            }
        }
        Ok(())
    }

    fn set_session_deadline(&mut self, session: Option<&accounts::Session>, idle_minutes: f64) {
        let now = crate::domain::time::now();
        let wait = match session {
            None => 0.0,
            Some(s) => {
                let mut deadline = s.created_ts + accounts::SESSION_LIFETIME_SECS;
                if idle_minutes > 0.0 {
                    deadline = deadline.min(s.last_active_ts + idle_minutes * 60.0);
                }
                (deadline - now).clamp(0.0, SESSION_RECHECK_S) + 0.05
            }
        };
        self.session_deadline = Instant::now() + Duration::from_secs_f64(wait);
    }

    /// The session's deadline passed: end the stream if it really expired (other requests may
    /// have kept it alive meanwhile).
    async fn check_session(&mut self) -> Result<(), StoreError> {
        let hash = self.session_hash.clone();
        let session = self
            .app
            .readers
            .read(move |conn| accounts::session(conn, &hash))
            .await?;
        let idle = self.app.settings().session_idle_minutes;
        let now = crate::domain::time::now();
        match &session {
            Some(s) if !s.expired(now, idle) => self.set_session_deadline(Some(s), idle),
            _ => self.revoke("expired"),
        }
        Ok(())
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
