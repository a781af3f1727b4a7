//! Channels and people in SQLite: who may read a channel and from when (api.md §4.3), read
//! watermarks and unread counts (§4.4), DMs, private channels (§6.7) and the mention list.
//!
//! Plain functions over a `&Connection`, so the writer's jobs and the read pool share them.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use super::StoreError;
use crate::domain::channel::{self, canonical_dm, same_name, ChannelId, ParsedChannel};
use crate::domain::username;

/// The person a query is answered for.
#[derive(Debug, Clone, PartialEq)]
pub struct Viewer {
    pub id: i64,
    pub name: String,
    /// Account creation: DM rows older than this are invisible (api.md §4.3).
    pub created_ts: f64,
}

/// A channel the viewer may read, and the oldest `ts` they may see in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    pub channel: ChannelId,
    /// The canonical id as the store holds it.
    pub key: String,
    pub visible_from: f64,
}

/// The registered spelling of the account `name` names (case-insensitively), if any.
pub fn registered_name(conn: &Connection, name: &str) -> Result<Option<String>, StoreError> {
    let mut statement =
        conn.prepare_cached("SELECT username FROM users WHERE username_key = ?1")?;
    Ok(statement
        .query_row([username::fold(name)], |r| r.get(0))
        .optional()?)
}

/// The account `name` names: (id, registered spelling).
pub fn user_by_name(conn: &Connection, name: &str) -> Result<Option<(i64, String)>, StoreError> {
    let mut statement =
        conn.prepare_cached("SELECT id, username FROM users WHERE username_key = ?1")?;
    Ok(statement
        .query_row([username::fold(name)], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Every account name, in name order.
pub fn all_usernames(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut statement = conn.prepare_cached("SELECT username FROM users")?;
    let mut names = statement
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    username::sort_names(&mut names);
    Ok(names)
}

/// Canonicalises a channel id as the client wrote it (§4.2), without checking access.
pub fn canonical(conn: &Connection, raw: &str) -> Result<Option<ChannelId>, StoreError> {
    Ok(match channel::parse(raw) {
        None => None,
        Some(ParsedChannel::Public(name)) => Some(ChannelId::Public(name)),
        Some(ParsedChannel::Private(id)) => Some(ChannelId::Private(id)),
        Some(ParsedChannel::Dm(names)) => {
            // The resolver cannot return an error, so the first one is kept aside.
            let failure = std::cell::RefCell::new(None);
            let dm = canonical_dm(&names, |n| match registered_name(conn, n) {
                Ok(found) => found,
                Err(e) => {
                    failure.borrow_mut().get_or_insert(e);
                    None
                }
            });
            if let Some(e) = failure.into_inner() {
                return Err(e);
            }
            Some(dm.channel())
        }
    })
}

/// Whether `viewer` may read `channel` now, and from when (§4.3). `public` is the configured
/// channel list.
pub fn access_to(
    conn: &Connection,
    public: &[String],
    viewer: &Viewer,
    channel: ChannelId,
) -> Result<Option<Access>, StoreError> {
    let visible_from = match &channel {
        ChannelId::Public(name) => public.iter().any(|p| p == name).then_some(0.0),
        ChannelId::Dm(names) => {
            channel::is_dm_participant(names, &viewer.name).then_some(viewer.created_ts)
        }
        ChannelId::Private(id) => private_history_start(conn, *id, viewer.id)?,
    };
    Ok(visible_from.map(|visible_from| Access {
        key: channel.to_string(),
        channel,
        visible_from,
    }))
}

/// [`canonical`] and [`access_to`] in one step: the route's "No access → 403".
pub fn access(
    conn: &Connection,
    public: &[String],
    viewer: &Viewer,
    raw: &str,
) -> Result<Option<Access>, StoreError> {
    match canonical(conn, raw)? {
        Some(channel) => access_to(conn, public, viewer, channel),
        None => Ok(None),
    }
}

/// A member's history start in a private channel (0 when they see everything), or `None` when
/// they are not a member (or the channel does not exist).
pub fn private_history_start(
    conn: &Connection,
    channel_id: i64,
    user_id: i64,
) -> Result<Option<f64>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT coalesce(history_start, 0) FROM private_members WHERE channel_id = ?1 AND user_id = ?2",
    )?;
    Ok(statement
        .query_row(params![channel_id, user_id], |r| r.get(0))
        .optional()?)
}

/// The people who count as a channel's members for mentions (§4.5) and `/channel_members`:
/// every account (public), the members in joining order (private), the participants (DM).
pub fn members(conn: &Connection, channel: &ChannelId) -> Result<Vec<String>, StoreError> {
    match channel {
        ChannelId::Public(_) => all_usernames(conn),
        ChannelId::Dm(names) => Ok(names.clone()),
        ChannelId::Private(id) => Ok(private_members(conn, *id)?
            .into_iter()
            .map(|(_, name)| name)
            .collect()),
    }
}

/// Members of a private channel, in joining order: (user id, name).
pub fn private_members(conn: &Connection, id: i64) -> Result<Vec<(i64, String)>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT u.id, u.username FROM private_members m JOIN users u ON u.id = m.user_id \
         WHERE m.channel_id = ?1 ORDER BY m.seq",
    )?;
    let rows = statement
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

// ---------------------------------------------------------------------------------------------
// Watermarks and unread counts (§4.4)

/// Moves a watermark forward (never back).
pub fn advance_watermark(
    conn: &Connection,
    user_id: i64,
    channel: &str,
    ts: f64,
) -> Result<(), StoreError> {
    let mut statement = conn.prepare_cached(
        "INSERT INTO watermarks(user_id, channel, last_read_ts) VALUES (?1, ?2, ?3) \
         ON CONFLICT(user_id, channel) DO UPDATE SET last_read_ts = max(last_read_ts, excluded.last_read_ts)",
    )?;
    statement.execute(params![user_id, channel, ts])?;
    Ok(())
}

pub fn last_read(
    conn: &Connection,
    user_id: i64,
    channel: &str,
) -> Result<Option<f64>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT last_read_ts FROM watermarks WHERE user_id = ?1 AND channel = ?2",
    )?;
    Ok(statement
        .query_row(params![user_id, channel], |r| r.get(0))
        .optional()?)
}

/// `GET /read_receipts/<channel>`: every watermark held on the channel, by username.
pub fn read_receipts(conn: &Connection, channel: &str) -> Result<Value, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT u.username, w.last_read_ts FROM watermarks w JOIN users u ON u.id = w.user_id \
         WHERE w.channel = ?1",
    )?;
    let map: serde_json::Map<String, Value> = statement
        .query_map([channel], |r| {
            Ok((r.get::<_, String>(0)?, json!(r.get::<_, f64>(1)?)))
        })?
        .collect::<Result<_, _>>()?;
    Ok(Value::Object(map))
}

/// Unread rows of one channel for `viewer` (§4.4), visibility applied.
pub fn unread_in(
    conn: &Connection,
    viewer: &Viewer,
    channel: &str,
    visible_from: f64,
) -> Result<i64, StoreError> {
    let watermark = last_read(conn, viewer.id, channel)?.unwrap_or(0.0);
    let mut statement = conn.prepare_cached(
        "SELECT count(*) FROM messages WHERE channel = ?1 AND ts > ?2 AND ts >= ?3 \
         AND deleted = 0 AND sender <> ?4",
    )?;
    Ok(statement.query_row(
        params![channel, watermark, visible_from, viewer.name],
        |r| r.get(0),
    )?)
}

/// `GET /channel_unreads`.
pub fn channel_unreads(
    conn: &Connection,
    public: &[String],
    viewer: &Viewer,
) -> Result<Value, StoreError> {
    let mut map = serde_json::Map::new();
    for name in public {
        map.insert(name.clone(), json!(unread_in(conn, viewer, name, 0.0)?));
    }
    Ok(Value::Object(map))
}

/// Every DM channel in the store. A skip scan over the channel index: one seek per distinct
/// DM, not one step per row.
pub fn dm_channels(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT min(channel) FROM messages WHERE channel > ?1 AND channel < 'dm;'",
    )?;
    let mut found = Vec::new();
    let mut last = "dm:".to_string();
    while let Some(next) = statement.query_row([&last], |r| r.get::<_, Option<String>>(0))? {
        found.push(next.clone());
        last = next;
    }
    Ok(found)
}

/// The DMs `viewer` takes part in: (channel, participants).
fn my_dms(conn: &Connection, viewer: &Viewer) -> Result<Vec<(String, Vec<String>)>, StoreError> {
    Ok(dm_channels(conn)?
        .into_iter()
        .filter_map(|key| match channel::parse(&key) {
            Some(ParsedChannel::Dm(names)) if channel::is_dm_participant(&names, &viewer.name) => {
                Some((key, names))
            }
            _ => None,
        })
        .collect())
}

/// `GET /dms`.
pub fn dms(conn: &Connection, viewer: &Viewer) -> Result<Value, StoreError> {
    let mut newest_stmt =
        conn.prepare_cached("SELECT max(ts) FROM messages WHERE channel = ?1 AND ts >= ?2")?;
    let mut hidden_stmt = conn
        .prepare_cached("SELECT hidden_ts FROM hidden_dms WHERE user_id = ?1 AND channel = ?2")?;
    let mut listed: Vec<(f64, Value)> = Vec::new();
    for (key, names) in my_dms(conn, viewer)? {
        let newest: Option<f64> =
            newest_stmt.query_row(params![key, viewer.created_ts], |r| r.get(0))?;
        let Some(newest) = newest else { continue };
        let hidden: Option<f64> = hidden_stmt
            .query_row(params![viewer.id, key], |r| r.get(0))
            .optional()?;
        if hidden.is_some_and(|h| newest <= h) {
            continue;
        }
        let unread = unread_in(conn, viewer, &key, viewer.created_ts)?;
        let users: Vec<&String> = names
            .iter()
            .filter(|n| !same_name(n, &viewer.name))
            .collect();
        listed.push((
            newest,
            json!({ "channel": key, "unread": unread, "users": users }),
        ));
    }
    listed.sort_by(|a, b| b.0.total_cmp(&a.0));
    Ok(Value::Array(listed.into_iter().map(|(_, v)| v).collect()))
}

/// `GET /unread_count`: unread rows across all of the viewer's DMs.
pub fn dm_unread_count(conn: &Connection, viewer: &Viewer) -> Result<i64, StoreError> {
    let mut total = 0;
    for (key, _) in my_dms(conn, viewer)? {
        total += unread_in(conn, viewer, &key, viewer.created_ts)?;
    }
    Ok(total)
}

/// `POST /dms/close`: hide the DM for the viewer as of `now`.
pub fn hide_dm(conn: &Connection, user_id: i64, channel: &str, now: f64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO hidden_dms(user_id, channel, hidden_ts) VALUES (?1, ?2, ?3) \
         ON CONFLICT(user_id, channel) DO UPDATE SET hidden_ts = excluded.hidden_ts",
    )?
    .execute(params![user_id, channel, now])?;
    Ok(())
}

/// `GET /mentions`: unread rows that mention the viewer, in channels they can read, newest
/// first.
pub fn mentions(
    conn: &Connection,
    public: &[String],
    viewer: &Viewer,
) -> Result<Value, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT m.id, m.channel, m.sender, m.content, m.filename, m.ts FROM message_mentions mm \
         JOIN messages m ON m.id = mm.message_id \
         WHERE mm.name_key IN (?1, '@everyone') AND m.deleted = 0 AND m.sender <> ?2 \
         ORDER BY m.ts DESC, m.id DESC",
    )?;
    type Hit = (i64, String, String, Option<String>, Option<String>, f64);
    let hits: Vec<Hit> = statement
        .query_map(params![username::fold(&viewer.name), viewer.name], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    let mut access_cache: BTreeMap<String, Option<(f64, f64)>> = BTreeMap::new();
    let mut out = Vec::new();
    for (id, key, sender, content, filename, ts) in hits {
        if same_name(&sender, &viewer.name) {
            continue;
        }
        let bounds = match access_cache.get(&key) {
            Some(b) => *b,
            None => {
                let b = match canonical_stored(&key) {
                    Some(ch) => match access_to(conn, public, viewer, ch)? {
                        Some(a) => Some((
                            a.visible_from,
                            last_read(conn, viewer.id, &key)?.unwrap_or(0.0),
                        )),
                        None => None,
                    },
                    None => None,
                };
                access_cache.insert(key.clone(), b);
                b
            }
        };
        let Some((visible_from, watermark)) = bounds else {
            continue;
        };
        if ts < visible_from || ts <= watermark {
            continue;
        }
        out.push(json!({
            "channel": key, "content": content, "filename": filename,
            "id": id, "sender": sender, "ts": ts,
        }));
    }
    Ok(Value::Array(out))
}

/// A channel id as stored (already canonical): parsed without looking names up.
pub fn canonical_stored(key: &str) -> Option<ChannelId> {
    Some(match channel::parse(key)? {
        ParsedChannel::Public(name) => ChannelId::Public(name),
        ParsedChannel::Private(id) => ChannelId::Private(id),
        ParsedChannel::Dm(names) => ChannelId::Dm(names),
    })
}

// ---------------------------------------------------------------------------------------------
// Private channels (§6.7)

/// `GET /private_channels` for the viewer.
pub fn private_channels(conn: &Connection, viewer: &Viewer) -> Result<Value, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT c.id, c.name, coalesce(m.history_start, 0) FROM private_members m \
         JOIN private_channels c ON c.id = m.channel_id WHERE m.user_id = ?1 ORDER BY c.id",
    )?;
    let channels: Vec<(i64, String, f64)> = statement
        .query_map([viewer.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(channels.len());
    for (id, name, visible_from) in channels {
        let key = format!("private:{id}");
        let members: Vec<String> = private_members(conn, id)?
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        let unread = unread_in(conn, viewer, &key, visible_from)?;
        out.push(json!({
            "channel": key, "id": id, "members": members, "name": name, "unread": unread,
        }));
    }
    Ok(Value::Array(out))
}

/// The ids of the private channels `user_id` belongs to.
pub fn private_ids_of(conn: &Connection, user_id: i64) -> Result<Vec<i64>, StoreError> {
    let mut statement =
        conn.prepare_cached("SELECT channel_id FROM private_members WHERE user_id = ?1")?;
    let ids = statement
        .query_map([user_id], |r| r.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(ids)
}

/// Creates a private channel; `members` are already resolved, deduplicated, creator included.
pub fn create_private(
    conn: &Connection,
    name: &str,
    creator: &str,
    member_ids: &[i64],
    now: f64,
) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO private_channels(name, created_by, created_ts) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![name, creator, now])?;
    let id = conn.last_insert_rowid();
    for user_id in member_ids {
        add_private_member(conn, id, *user_id, None)?;
    }
    Ok(id)
}

pub fn add_private_member(
    conn: &Connection,
    channel_id: i64,
    user_id: i64,
    history_start: Option<f64>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO private_members(channel_id, user_id, history_start) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![channel_id, user_id, history_start])?;
    Ok(())
}

pub fn remove_private_member(
    conn: &Connection,
    channel_id: i64,
    user_id: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM private_members WHERE channel_id = ?1 AND user_id = ?2")?
        .execute(params![channel_id, user_id])?;
    Ok(())
}

pub fn rename_private(conn: &Connection, channel_id: i64, name: &str) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE private_channels SET name = ?2 WHERE id = ?1")?
        .execute(params![channel_id, name])?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An in-memory store at the latest schema with the given accounts (created at `ts` 10).
    pub(crate) fn store_with(users: &[&str]) -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrations::apply(&mut conn).unwrap();
        for name in users {
            conn.execute(
                "INSERT INTO users(username, username_key, password_hash, password_set_ts, created_ts) \
                 VALUES (?1, ?2, 'x', 10, 10)",
                params![name, username::fold(name)],
            )
            .unwrap();
        }
        conn
    }

    pub(crate) fn viewer(conn: &Connection, name: &str) -> Viewer {
        let (id, name) = user_by_name(conn, name).unwrap().unwrap();
        Viewer {
            id,
            name,
            created_ts: 10.0,
        }
    }

    fn insert(conn: &Connection, channel: &str, sender: &str, ts: f64) {
        conn.execute(
            "INSERT INTO messages(channel, sender, content, ts, change_ts) VALUES (?1, ?2, 'x', ?3, ?3)",
            params![channel, sender, ts],
        )
        .unwrap();
    }

    #[test]
    fn dm_ids_are_canonicalised_and_only_participants_get_access() {
        let conn = store_with(&["Alice", "bob", "carol"]);
        let public = vec!["general".to_string()];
        let alice = viewer(&conn, "alice");
        let carol = viewer(&conn, "carol");
        let a = access(&conn, &public, &alice, "dm:BOB:alice")
            .unwrap()
            .unwrap();
        assert_eq!(a.key, "dm:Alice:bob");
        assert_eq!(a.visible_from, 10.0);
        assert!(access(&conn, &public, &carol, "dm:bob:alice")
            .unwrap()
            .is_none());
        assert!(access(&conn, &public, &alice, "random").unwrap().is_none());
        assert!(access(&conn, &public, &alice, "private:1")
            .unwrap()
            .is_none());
    }

    #[test]
    fn watermark_only_moves_forward_and_unread_excludes_own_rows() {
        let conn = store_with(&["alice", "bob"]);
        let alice = viewer(&conn, "alice");
        insert(&conn, "general", "bob", 20.0);
        insert(&conn, "general", "bob", 30.0);
        insert(&conn, "general", "alice", 40.0);
        assert_eq!(unread_in(&conn, &alice, "general", 0.0).unwrap(), 2);
        advance_watermark(&conn, alice.id, "general", 25.0).unwrap();
        advance_watermark(&conn, alice.id, "general", 5.0).unwrap();
        assert_eq!(last_read(&conn, alice.id, "general").unwrap(), Some(25.0));
        assert_eq!(unread_in(&conn, &alice, "general", 0.0).unwrap(), 1);
    }

    #[test]
    fn closed_dm_reappears_when_a_newer_row_arrives() {
        let conn = store_with(&["alice", "bob"]);
        let alice = viewer(&conn, "alice");
        insert(&conn, "dm:alice:bob", "bob", 20.0);
        assert_eq!(dms(&conn, &alice).unwrap().as_array().unwrap().len(), 1);
        hide_dm(&conn, alice.id, "dm:alice:bob", 21.0).unwrap();
        assert_eq!(dms(&conn, &alice).unwrap(), json!([]));
        insert(&conn, "dm:alice:bob", "bob", 22.0);
        let listed = dms(&conn, &alice).unwrap();
        assert_eq!(listed[0]["users"], json!(["bob"]));
        assert_eq!(listed[0]["unread"], json!(2));
        assert_eq!(dm_unread_count(&conn, &alice).unwrap(), 2);
    }

    #[test]
    fn dm_rows_before_account_creation_are_invisible() {
        let conn = store_with(&["alice", "bob"]);
        let alice = viewer(&conn, "alice");
        insert(&conn, "dm:alice:bob", "bob", 5.0);
        assert_eq!(dms(&conn, &alice).unwrap(), json!([]));
        assert_eq!(dm_unread_count(&conn, &alice).unwrap(), 0);
    }

    #[test]
    fn late_joiner_sees_private_history_from_history_start() {
        let conn = store_with(&["alice", "bob"]);
        let alice = viewer(&conn, "alice");
        let bob = viewer(&conn, "bob");
        let id = create_private(&conn, "team", "alice", &[alice.id], 15.0).unwrap();
        insert(&conn, &format!("private:{id}"), "alice", 20.0);
        add_private_member(&conn, id, bob.id, Some(30.0)).unwrap();
        insert(&conn, &format!("private:{id}"), "alice", 30.0);
        let listed = private_channels(&conn, &bob).unwrap();
        assert_eq!(listed[0]["unread"], json!(1));
        assert_eq!(listed[0]["members"], json!(["alice", "bob"]));
        let a = access(&conn, &[], &bob, &format!("private:{id}"))
            .unwrap()
            .unwrap();
        assert_eq!(a.visible_from, 30.0);
    }
}
