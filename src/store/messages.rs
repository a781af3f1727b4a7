//! Message rows (api.md §5): reading pages, deltas and single rows, and the writes that create,
//! edit, delete, react to and pin them. Every write runs inside a writer job and announces
//! the rows it changed as a [`Change::Rows`], serialized once.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::{json, Value};

use super::channels::{self, Viewer};
use super::{StoreError, WriteCtx};
use crate::domain::change::{Change, RowEvent};
use crate::domain::channel::{same_name, ChannelId, SYSTEM_USER};
use crate::domain::{mentions, username};

/// Most pins a channel may hold (api.md §6.5).
pub const MAX_PINS: i64 = 50;

/// A message row exactly as the API writes it (api.md §5.1).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub id: i64,
    pub channel: String,
    pub sender: String,
    pub content: Option<String>,
    pub content_type: String,
    pub filename: Option<String>,
    pub ts: f64,
    pub edited: i64,
    pub edited_ts: Option<f64>,
    pub deleted: i64,
    pub deleted_ts: Option<f64>,
    pub reply_to_id: Option<i64>,
    pub reactions_ts: Option<f64>,
    pub mentions: Option<Vec<String>>,
    pub reactions: Option<BTreeMap<String, Vec<String>>>,
    #[serde(skip)]
    pub change_ts: f64,
}

/// Why a write was refused: each maps to one outcome of api.md §6.4/§6.5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Forbidden,
    NotFound,
    NotEditable,
    TooManyPins,
}

const COLUMNS: &str = "id, channel, sender, content, content_type, filename, ts, edited, \
    edited_ts, deleted, deleted_ts, reply_to_id, reactions_ts, mentions, change_ts";

fn row_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let mentions: Option<String> = r.get(13)?;
    Ok(Row {
        id: r.get(0)?,
        channel: r.get(1)?,
        sender: r.get(2)?,
        content: r.get(3)?,
        content_type: r.get(4)?,
        filename: r.get(5)?,
        ts: r.get(6)?,
        edited: r.get(7)?,
        edited_ts: r.get(8)?,
        deleted: r.get(9)?,
        deleted_ts: r.get(10)?,
        reply_to_id: r.get(11)?,
        reactions_ts: r.get(12)?,
        // A value that does not parse (hand-edited data) reads as "no mentions", never a 500.
        mentions: mentions.and_then(|m| serde_json::from_str(&m).ok()),
        reactions: None,
        change_ts: r.get(14)?,
    })
}

/// The reactions of one message: emoji → reactors in name order; `None` when there are none.
pub fn reactions_of(
    conn: &Connection,
    id: i64,
) -> Result<Option<BTreeMap<String, Vec<String>>>, StoreError> {
    let mut statement =
        conn.prepare_cached("SELECT emoji, username FROM reactions WHERE message_id = ?1")?;
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in statement.query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))? {
        let (emoji, name) = pair?;
        map.entry(emoji).or_default().push(name);
    }
    for names in map.values_mut() {
        username::sort_names(names);
    }
    Ok((!map.is_empty()).then_some(map))
}

fn with_reactions(conn: &Connection, mut rows: Vec<Row>) -> Result<Vec<Row>, StoreError> {
    for row in &mut rows {
        if row.reactions_ts.is_some() && row.deleted == 0 {
            row.reactions = reactions_of(conn, row.id)?;
        }
    }
    Ok(rows)
}

fn query_rows(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<Row>, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    let rows = statement
        .query_map(args, row_from)?
        .collect::<Result<Vec<_>, _>>()?;
    with_reactions(conn, rows)
}

/// The newest `limit` visible, non-deleted rows of a channel, oldest first.
pub fn latest(
    conn: &Connection,
    channel: &str,
    visible_from: f64,
    limit: i64,
) -> Result<Vec<Row>, StoreError> {
    let mut rows = query_rows(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM messages WHERE channel = ?1 AND ts >= ?2 AND deleted = 0 \
             ORDER BY ts DESC, id DESC LIMIT ?3"
        ),
        params![channel, visible_from, limit],
    )?;
    rows.reverse();
    Ok(rows)
}

/// Every visible row changed after `after` (api.md §5.4), tombstones included, by `(ts, id)`.
pub fn changed_after(
    conn: &Connection,
    channel: &str,
    visible_from: f64,
    after: f64,
) -> Result<Vec<Row>, StoreError> {
    query_rows(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM messages WHERE channel = ?1 AND change_ts > ?2 AND ts >= ?3 \
             ORDER BY ts, id"
        ),
        params![channel, after, visible_from],
    )
}

/// The newest `limit` visible non-deleted rows strictly older than `(before, before_id)`,
/// oldest first (api.md §6.4 `messages_before`).
pub fn before(
    conn: &Connection,
    channel: &str,
    visible_from: f64,
    before: f64,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<Row>, StoreError> {
    let mut rows = query_rows(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM messages WHERE channel = ?1 AND ts >= ?2 AND deleted = 0 \
             AND (ts < ?3 OR (?4 IS NOT NULL AND ts = ?3 AND id < ?4)) \
             ORDER BY ts DESC, id DESC LIMIT ?5"
        ),
        params![channel, visible_from, before, before_id, limit],
    )?;
    rows.reverse();
    Ok(rows)
}

/// One row by id.
pub fn get(conn: &Connection, id: i64) -> Result<Option<Row>, StoreError> {
    let mut statement =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM messages WHERE id = ?1"))?;
    let row = statement.query_row([id], row_from).optional()?;
    match row {
        Some(row) => Ok(with_reactions(conn, vec![row])?.pop()),
        None => Ok(None),
    }
}

/// Whether `viewer` may download the upload `filename` (api.md §6.4): some visible,
/// non-deleted row in a channel they can read carries exactly this name.
pub fn file_visible(
    conn: &Connection,
    public: &[String],
    viewer: &Viewer,
    filename: &str,
) -> Result<bool, StoreError> {
    let mut statement = conn
        .prepare_cached("SELECT channel, ts FROM messages WHERE filename = ?1 AND deleted = 0")?;
    let holders: Vec<(String, f64)> = statement
        .query_map([filename], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (key, ts) in holders {
        let Some(channel) = channels::canonical_stored(&key) else {
            continue;
        };
        if let Some(access) = channels::access_to(conn, public, viewer, channel)? {
            if ts >= access.visible_from {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The greatest change time in the store: a stream's cursor as of a snapshot (§7.2).
pub fn clock_now(conn: &Connection) -> Result<f64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT max(change_ts) FROM messages")?
        .query_row([], |r| r.get::<_, Option<f64>>(0))?
        .unwrap_or(0.0))
}

/// Distinct page sizes remembered per channel; clients ask for one or two, so a few suffice
/// and a client cycling through limits cannot grow the cache.
const PAGES_PER_CHANNEL: usize = 4;
/// Largest page body kept: a page of 200 maximal messages can reach megabytes, and holding
/// such a page would trade a lot of memory for a rare request.
const MAX_CACHED_PAGE: usize = 1 << 20;

/// The serialized latest pages (`GET /messages/<channel>?limit=N`) of public channels, where
/// the page is the same for every viewer, so the hot read of a busy channel costs no query.
///
/// Correctness rests on two rules. The writer invalidates a channel after COMMIT and before it
/// answers anyone (see [`super::writer`]), so nobody who learned of a write can be served a
/// page without it. And a page computed from a snapshot older than an invalidation is never
/// stored: a reader takes a [`PageTicket`] (the channel's generation) *before* its query, and
/// [`PageCache::fill`] refuses the page if the generation moved meanwhile.
#[derive(Default)]
pub struct PageCache {
    slots: Mutex<HashMap<String, PageSlot>>,
}

#[derive(Default)]
struct PageSlot {
    generation: u64,
    /// (limit, JSON body), oldest first.
    pages: Vec<(i64, Bytes)>,
}

/// Proof of the generation a reader saw before it queried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageTicket(Option<u64>);

impl PageCache {
    /// The cached body, or a ticket to fill it with after querying. Only call this for
    /// channels whose pages do not depend on the viewer (public ones): slots are created here
    /// and never removed, so their number is bounded by the configured channels.
    pub fn lookup(&self, channel: &str, limit: i64) -> Result<Bytes, PageTicket> {
        let Ok(mut slots) = self.slots.lock() else {
            // A poisoned lock only means a panic elsewhere; stop caching rather than guess.
            return Err(PageTicket(None));
        };
        // Checked first so that the hot path (a hit) allocates no key.
        if !slots.contains_key(channel) {
            slots.insert(channel.to_string(), PageSlot::default());
        }
        let Some(slot) = slots.get(channel) else {
            return Err(PageTicket(None));
        };
        match slot.pages.iter().find(|(l, _)| *l == limit) {
            Some((_, body)) => Ok(body.clone()),
            None => Err(PageTicket(Some(slot.generation))),
        }
    }

    /// Stores a page computed after `ticket` was taken, unless the channel changed since.
    pub fn fill(&self, channel: &str, limit: i64, ticket: PageTicket, body: Bytes) {
        if body.len() > MAX_CACHED_PAGE {
            return;
        }
        let Ok(mut slots) = self.slots.lock() else {
            return;
        };
        let Some(slot) = slots.get_mut(channel) else {
            return;
        };
        if ticket.0 != Some(slot.generation) || slot.pages.iter().any(|(l, _)| *l == limit) {
            return;
        }
        if slot.pages.len() >= PAGES_PER_CHANNEL {
            slot.pages.remove(0);
        }
        slot.pages.push((limit, body));
    }

    /// Forgets the pages of `channels` and refuses fills begun before this call.
    pub fn invalidate<'a>(&self, channels: impl IntoIterator<Item = &'a str>) {
        let Ok(mut slots) = self.slots.lock() else {
            return;
        };
        for channel in channels {
            if let Some(slot) = slots.get_mut(channel) {
                slot.generation += 1;
                slot.pages.clear();
            }
        }
    }

    /// Forgets every page: for when the writer cannot tell which channels changed.
    pub fn invalidate_all(&self) {
        let Ok(mut slots) = self.slots.lock() else {
            return;
        };
        for slot in slots.values_mut() {
            slot.generation += 1;
            slot.pages.clear();
        }
    }
}

fn is_pinned(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM pins WHERE message_id = ?1")?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Serializes rows once for the hub.
pub fn row_events(rows: &[Row], touched_mentions: &[bool], pinned: &[bool]) -> Vec<RowEvent> {
    rows.iter()
        .enumerate()
        .map(|(i, row)| RowEvent {
            id: row.id,
            ts: row.ts,
            change_ts: row.change_ts,
            sender: row.sender.clone(),
            deleted: row.deleted != 0,
            mentions: touched_mentions.get(i).copied().unwrap_or(false) || row.mentions.is_some(),
            pinned: pinned.get(i).copied().unwrap_or(false),
            // Serializing plain data cannot fail; an empty object keeps the stream well-formed.
            json: serde_json::to_string(row)
                .unwrap_or_else(|_| "{}".into())
                .into(),
        })
        .collect()
}

fn publish_rows(ctx: &mut WriteCtx<'_>, channel: &str, events: Vec<RowEvent>) {
    if !events.is_empty() {
        ctx.publish(Change::Rows {
            channel: channel.to_string(),
            rows: Arc::new(events),
        });
    }
}

fn store_mentions(conn: &Connection, id: i64, names: Option<&[String]>) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM message_mentions WHERE message_id = ?1")?
        .execute([id])?;
    insert_mentions(conn, id, names)
}

/// Records the mentions of a new row (nothing to replace yet).
fn insert_mentions(conn: &Connection, id: i64, names: Option<&[String]>) -> Result<(), StoreError> {
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO message_mentions(message_id, name_key) VALUES (?1, ?2)",
    )?;
    for name in names.unwrap_or_default() {
        let key = if name == mentions::EVERYONE {
            name.clone()
        } else {
            username::fold(name)
        };
        insert.execute(params![id, key])?;
    }
    Ok(())
}

/// The `mentions` value of `text` in `channel` (§4.5); the member list is read only when the
/// text contains a candidate at all, so plain messages cost no extra query.
pub fn mentions_for(
    conn: &Connection,
    channel: &ChannelId,
    text: &str,
) -> Result<Option<Vec<String>>, StoreError> {
    if mentions::extract(text).is_empty() {
        return Ok(None);
    }
    let members = channels::members(conn, channel)?;
    Ok(mentions::resolve(text, &members))
}

/// What one `/send` (or a system notice) writes.
pub struct NewRows<'a> {
    pub channel: &'a ChannelId,
    pub sender: &'a str,
    /// The text (already trimmed of trailing whitespace); `None` or empty for files only.
    pub text: Option<&'a str>,
    /// Stored upload names, in upload order.
    pub files: &'a [String],
    pub reply_to_id: Option<i64>,
    pub system: bool,
}

/// Inserts the rows of one send (§5.2): the text row first, then one row per file, all at the
/// job's change-clock time. Publishes them. Returns the rows.
pub fn insert_rows(ctx: &mut WriteCtx<'_>, new: NewRows<'_>) -> Result<Vec<Row>, StoreError> {
    let ts = ctx.now();
    let key = new.channel.to_string();
    let content_type = if new.system { "system" } else { "text" };
    let mut rows = Vec::new();
    let mut insert = ctx.conn.prepare_cached(
        "INSERT INTO messages(channel, sender, content, content_type, filename, ts, reply_to_id, mentions, change_ts) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?6)",
    )?;
    let mut push = |content: String, filename: Option<String>, found: Option<Vec<String>>| {
        let mentions_json = found
            .as_ref()
            .map(|m| serde_json::to_string(m).unwrap_or_else(|_| "[]".into()));
        insert.execute(params![
            key,
            new.sender,
            content,
            content_type,
            filename,
            ts,
            new.reply_to_id,
            mentions_json
        ])?;
        let id = ctx.conn.last_insert_rowid();
        insert_mentions(ctx.conn, id, found.as_deref())?;
        rows.push(Row {
            id,
            channel: key.clone(),
            sender: new.sender.to_string(),
            content: Some(content),
            content_type: content_type.to_string(),
            filename,
            ts,
            edited: 0,
            edited_ts: None,
            deleted: 0,
            deleted_ts: None,
            reply_to_id: new.reply_to_id,
            reactions_ts: None,
            mentions: found,
            reactions: None,
            change_ts: ts,
        });
        Ok::<(), StoreError>(())
    };
    if let Some(text) = new.text.filter(|t| !t.is_empty()) {
        let found = mentions_for(ctx.conn, new.channel, text)?;
        push(text.to_string(), None, found)?;
    }
    for file in new.files {
        push(String::new(), Some(file.clone()), None)?;
    }
    drop(insert);
    let events = row_events(&rows, &[], &[]);
    publish_rows(ctx, &key, events);
    Ok(rows)
}

/// Posts a system notice (§5.5) into `channel` and publishes it.
pub fn post_system(
    ctx: &mut WriteCtx<'_>,
    channel: &ChannelId,
    content: &str,
) -> Result<Row, StoreError> {
    let mut rows = insert_rows(
        ctx,
        NewRows {
            channel,
            sender: SYSTEM_USER,
            text: Some(content),
            files: &[],
            reply_to_id: None,
            system: true,
        },
    )?;
    rows.pop()
        .ok_or_else(|| StoreError::Rejected("empty notice".into()))
}

/// Loads a row and checks that `viewer` can read it now: (row, access).
fn readable(
    conn: &Connection,
    public: &[String],
    viewer: &Viewer,
    id: i64,
) -> Result<Option<(Row, channels::Access)>, StoreError> {
    let Some(row) = get(conn, id)? else {
        return Ok(None);
    };
    let Some(channel) = channels::canonical_stored(&row.channel) else {
        return Ok(None);
    };
    let Some(access) = channels::access_to(conn, public, viewer, channel)? else {
        return Ok(None);
    };
    if row.ts < access.visible_from {
        return Ok(None);
    }
    Ok(Some((row, access)))
}

/// `GET /message/<id>`'s lookup: the row if `viewer` may see it.
pub fn visible(
    conn: &Connection,
    public: &[String],
    viewer: &Viewer,
    id: i64,
) -> Result<Option<Row>, StoreError> {
    Ok(readable(conn, public, viewer, id)?.map(|(row, _)| row))
}

/// `POST /edit/<id>` after its input checks.
pub fn edit(
    ctx: &mut WriteCtx<'_>,
    public: &[String],
    viewer: &Viewer,
    id: i64,
    text: &str,
) -> Result<Result<(), Refused>, StoreError> {
    let Some(row) = get(ctx.conn, id)? else {
        return Ok(Err(Refused::Forbidden));
    };
    if !same_name(&row.sender, &viewer.name) {
        return Ok(Err(Refused::Forbidden));
    }
    let Some(channel) = channels::canonical_stored(&row.channel) else {
        return Ok(Err(Refused::Forbidden));
    };
    if channels::access_to(ctx.conn, public, viewer, channel.clone())?.is_none() {
        return Ok(Err(Refused::Forbidden));
    }
    if row.deleted != 0 || row.filename.is_some() {
        return Ok(Err(Refused::NotEditable));
    }
    let now = ctx.now();
    let found = mentions_for(ctx.conn, &channel, text)?;
    let mentions_json = found
        .as_ref()
        .map(|m| serde_json::to_string(m).unwrap_or_else(|_| "[]".into()));
    ctx.conn
        .prepare_cached(
            "UPDATE messages SET content = ?2, edited = 1, edited_ts = ?3, mentions = ?4, \
             change_ts = ?3 WHERE id = ?1",
        )?
        .execute(params![id, text, now, mentions_json])?;
    store_mentions(ctx.conn, id, found.as_deref())?;
    let had_mentions = row.mentions.is_some();
    let pinned = is_pinned(ctx.conn, id)?;
    let updated = get(ctx.conn, id)?.ok_or(StoreError::Rejected("row vanished".into()))?;
    let events = row_events(&[updated], &[had_mentions], &[pinned]);
    publish_rows(ctx, &row.channel, events);
    Ok(Ok(()))
}

/// `POST /delete/<id>`: tombstones the row (§5.3). Returns the upload to remove from disk, if
/// the row had one.
pub fn delete(
    ctx: &mut WriteCtx<'_>,
    viewer: &Viewer,
    id: i64,
) -> Result<Result<Option<String>, Refused>, StoreError> {
    let Some(row) = get(ctx.conn, id)? else {
        return Ok(Err(Refused::Forbidden));
    };
    if !same_name(&row.sender, &viewer.name) {
        return Ok(Err(Refused::Forbidden));
    }
    if row.deleted != 0 {
        return Ok(Ok(None));
    }
    let now = ctx.now();
    let pinned = is_pinned(ctx.conn, id)?;
    ctx.conn
        .prepare_cached(
            "UPDATE messages SET content = NULL, filename = NULL, reply_to_id = NULL, \
             mentions = NULL, deleted = 1, deleted_ts = ?2, change_ts = ?2 WHERE id = ?1",
        )?
        .execute(params![id, now])?;
    for sql in [
        "DELETE FROM reactions WHERE message_id = ?1",
        "DELETE FROM pins WHERE message_id = ?1",
        "DELETE FROM message_mentions WHERE message_id = ?1",
    ] {
        ctx.conn.prepare_cached(sql)?.execute([id])?;
    }
    let updated = get(ctx.conn, id)?.ok_or(StoreError::Rejected("row vanished".into()))?;
    let events = row_events(&[updated], &[row.mentions.is_some()], &[pinned]);
    publish_rows(ctx, &row.channel, events);
    if pinned {
        ctx.publish(Change::Pins {
            channel: row.channel.clone(),
        });
    }
    Ok(Ok(row.filename))
}

/// `POST /react/<id>` after the name check: toggles the viewer's reaction and returns the
/// message's reactions afterwards.
pub fn toggle_reaction(
    ctx: &mut WriteCtx<'_>,
    public: &[String],
    viewer: &Viewer,
    id: i64,
    emoji: &str,
) -> Result<Result<Value, Refused>, StoreError> {
    let Some((row, _)) = readable(ctx.conn, public, viewer, id)? else {
        return Ok(Err(Refused::NotFound));
    };
    if row.deleted != 0 {
        return Ok(Err(Refused::NotFound));
    }
    let now = ctx.now();
    let removed = ctx
        .conn
        .prepare_cached(
            "DELETE FROM reactions WHERE message_id = ?1 AND emoji = ?2 AND username_key = ?3",
        )?
        .execute(params![id, emoji, username::fold(&viewer.name)])?;
    if removed == 0 {
        ctx.conn
            .prepare_cached(
                "INSERT INTO reactions(message_id, emoji, username, username_key, ts) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                id,
                emoji,
                viewer.name,
                username::fold(&viewer.name),
                now
            ])?;
    }
    ctx.conn
        .prepare_cached("UPDATE messages SET reactions_ts = ?2, change_ts = ?2 WHERE id = ?1")?
        .execute(params![id, now])?;
    let updated = get(ctx.conn, id)?.ok_or(StoreError::Rejected("row vanished".into()))?;
    let reactions = json!(updated.reactions.clone().unwrap_or_default());
    let events = row_events(&[updated], &[], &[]);
    publish_rows(ctx, &row.channel, events);
    Ok(Ok(reactions))
}

/// The pin list of a channel (§6.5) as `viewer` sees it.
pub fn pins(conn: &Connection, channel: &str, visible_from: f64) -> Result<Value, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT p.message_id, p.pinned_by, p.pinned_ts, m.sender, m.content, m.filename, m.ts \
         FROM pins p JOIN messages m ON m.id = p.message_id \
         WHERE p.channel = ?1 AND m.ts >= ?2 AND m.deleted = 0 \
         ORDER BY p.pinned_ts DESC, p.message_id DESC LIMIT ?3",
    )?;
    let list = statement
        .query_map(params![channel, visible_from, MAX_PINS], |r| {
            let content: Option<String> = r.get(4)?;
            let content: String = content.unwrap_or_default().chars().take(300).collect();
            Ok(json!({
                "channel": channel,
                "id": r.get::<_, i64>(0)?,
                "pinned_by": r.get::<_, String>(1)?,
                "pinned_ts": r.get::<_, f64>(2)?,
                "sender": r.get::<_, String>(3)?,
                "content": content,
                "filename": r.get::<_, Option<String>>(5)?,
                "ts": r.get::<_, f64>(6)?,
            }))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::Array(list))
}

/// `POST /pin/<id>`: toggles the pin and returns the channel's pin list afterwards.
pub fn toggle_pin(
    ctx: &mut WriteCtx<'_>,
    public: &[String],
    viewer: &Viewer,
    id: i64,
) -> Result<Result<Value, Refused>, StoreError> {
    let Some((row, access)) = readable(ctx.conn, public, viewer, id)? else {
        return Ok(Err(Refused::NotFound));
    };
    if row.deleted != 0 {
        return Ok(Err(Refused::NotFound));
    }
    if is_pinned(ctx.conn, id)? {
        ctx.conn
            .prepare_cached("DELETE FROM pins WHERE message_id = ?1")?
            .execute([id])?;
    } else {
        let count: i64 = ctx
            .conn
            .prepare_cached("SELECT count(*) FROM pins WHERE channel = ?1")?
            .query_row([&row.channel], |r| r.get(0))?;
        if count >= MAX_PINS {
            return Ok(Err(Refused::TooManyPins));
        }
        let now = ctx.now();
        ctx.conn
            .prepare_cached(
                "INSERT INTO pins(message_id, channel, pinned_by, pinned_ts) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![id, row.channel, viewer.name, now])?;
    }
    ctx.publish(Change::Pins {
        channel: row.channel.clone(),
    });
    Ok(Ok(pins(ctx.conn, &row.channel, access.visible_from)?))
}

/// `POST /mark_read/<channel>`: the watermark goes to the newest row's `ts` (deleted rows
/// included), if the channel has rows.
pub fn mark_read(ctx: &mut WriteCtx<'_>, user_id: i64, channel: &str) -> Result<(), StoreError> {
    let newest: Option<f64> = ctx
        .conn
        .prepare_cached("SELECT max(ts) FROM messages WHERE channel = ?1")?
        .query_row([channel], |r| r.get(0))?;
    if let Some(ts) = newest {
        channels::advance_watermark(ctx.conn, user_id, channel, ts)?;
        ctx.publish(Change::Watermark {
            user_id,
            channel: channel.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::channels::tests::{store_with, viewer};

    fn insert_at(conn: &Connection, channel: &str, ts: f64, deleted: i64) -> i64 {
        conn.execute(
            "INSERT INTO messages(channel, sender, content, ts, change_ts, deleted) VALUES (?1, 'bob', 'x', ?2, ?2, ?3)",
            params![channel, ts, deleted],
        )
        .unwrap();
        conn.last_insert_rowid()
    }

    #[test]
    fn paging_across_a_shared_timestamp_returns_each_row_once() {
        let conn = store_with(&["bob"]);
        let mut ids = Vec::new();
        for ts in [1.0, 2.0, 2.0, 2.0, 2.0, 3.0] {
            ids.push(insert_at(&conn, "general", ts, 0));
        }
        let mut seen = Vec::new();
        let mut page = latest(&conn, "general", 0.0, 2).unwrap();
        loop {
            seen.extend(page.iter().rev().map(|r| r.id));
            if page.len() < 2 {
                break;
            }
            let oldest = &page[0];
            page = before(&conn, "general", 0.0, oldest.ts, Some(oldest.id), 2).unwrap();
        }
        seen.reverse();
        assert_eq!(seen, ids);
    }

    #[test]
    fn latest_page_skips_tombstones_but_delta_includes_them() {
        let conn = store_with(&["bob"]);
        insert_at(&conn, "general", 1.0, 0);
        let gone = insert_at(&conn, "general", 2.0, 1);
        assert_eq!(latest(&conn, "general", 0.0, 10).unwrap().len(), 1);
        let delta = changed_after(&conn, "general", 0.0, 1.5).unwrap();
        assert_eq!(delta.len(), 1);
        assert_eq!(delta[0].id, gone);
    }

    #[test]
    fn before_without_id_is_strictly_older() {
        let conn = store_with(&["bob"]);
        insert_at(&conn, "general", 1.0, 0);
        insert_at(&conn, "general", 2.0, 0);
        let rows = before(&conn, "general", 0.0, 2.0, None, 10).unwrap();
        assert_eq!(rows.len(), 1);
        let all = before(&conn, "general", 0.0, f64::INFINITY, None, 10).unwrap();
        assert_eq!(all.len(), 2);
    }

    #[test]
    fn visibility_bound_hides_older_rows() {
        let conn = store_with(&["bob"]);
        insert_at(&conn, "general", 1.0, 0);
        insert_at(&conn, "general", 5.0, 0);
        assert_eq!(latest(&conn, "general", 5.0, 10).unwrap().len(), 1);
        let alice_like = viewer(&conn, "bob");
        assert_eq!(alice_like.name, "bob");
    }

    #[test]
    fn row_json_has_every_contract_field_and_no_change_ts() {
        let conn = store_with(&["bob"]);
        let id = insert_at(&conn, "general", 1.0, 0);
        let row = get(&conn, id).unwrap().unwrap();
        let value: Value = serde_json::to_value(&row).unwrap();
        for key in [
            "id",
            "channel",
            "sender",
            "content",
            "content_type",
            "filename",
            "ts",
            "edited",
            "edited_ts",
            "deleted",
            "deleted_ts",
            "reply_to_id",
            "reactions_ts",
            "mentions",
            "reactions",
        ] {
            assert!(value.get(key).is_some(), "missing {key}");
        }
        assert!(value.get("change_ts").is_none());
    }

    #[test]
    fn a_cached_page_is_served_until_its_channel_changes() {
        let cache = PageCache::default();
        let ticket = cache.lookup("general", 50).unwrap_err();
        cache.fill("general", 50, ticket, Bytes::from_static(b"[1]"));
        assert_eq!(
            cache.lookup("general", 50).unwrap(),
            Bytes::from_static(b"[1]")
        );
        // Another limit is another page.
        assert!(cache.lookup("general", 10).is_err());
        cache.invalidate(["random"]);
        assert!(cache.lookup("general", 50).is_ok());
        cache.invalidate(["general"]);
        assert!(cache.lookup("general", 50).is_err());
    }

    #[test]
    fn a_page_read_before_an_invalidation_is_not_stored() {
        let cache = PageCache::default();
        let ticket = cache.lookup("general", 50).unwrap_err();
        // A write commits between the reader's ticket and its fill.
        cache.invalidate(["general"]);
        cache.fill("general", 50, ticket, Bytes::from_static(b"[stale]"));
        assert!(cache.lookup("general", 50).is_err());
        let ticket = cache.lookup("general", 50).unwrap_err();
        cache.invalidate_all();
        cache.fill("general", 50, ticket, Bytes::from_static(b"[stale]"));
        assert!(cache.lookup("general", 50).is_err());
    }

    #[test]
    fn the_page_cache_holds_a_few_limits_and_no_huge_pages() {
        let cache = PageCache::default();
        for limit in 1..=10 {
            let ticket = cache.lookup("general", limit).unwrap_err();
            cache.fill("general", limit, ticket, Bytes::from_static(b"[]"));
        }
        let kept = (1..=10)
            .filter(|l| cache.lookup("general", *l).is_ok())
            .count();
        assert_eq!(kept, PAGES_PER_CHANNEL);
        assert!(cache.lookup("general", 10).is_ok(), "the newest page stays");
        let ticket = cache.lookup("big", 200).unwrap_err();
        cache.fill(
            "big",
            200,
            ticket,
            Bytes::from(vec![b' '; MAX_CACHED_PAGE + 1]),
        );
        assert!(cache.lookup("big", 200).is_err());
    }
}
