//! Message search (api.md §6.4): a case-insensitive substring match over the text of live
//! rows, confined to the channels the viewer may read (visibility applied before the limit).
//!
//! Three or more characters go through the FTS5 trigram index; shorter queries cannot use it
//! and scan with `LIKE`, where `%` and `_` are escaped so they match themselves.

use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde_json::{json, Value};

use super::channels::{self, Viewer};
use super::StoreError;
use crate::domain::channel::ChannelId;

/// Most results returned.
pub const LIMIT: i64 = 50;

/// The filters of `GET /search_messages`, already trimmed; empty strings mean "not given".
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub q: String,
    pub from: String,
    pub channel: String,
    pub start: Option<f64>,
    pub end: Option<f64>,
}

/// `q` as an FTS5 phrase: inside double quotes, quotes doubled, so no query syntax applies.
fn fts_phrase(q: &str) -> String {
    format!("\"{}\"", q.replace('"', "\"\""))
}

/// `q` as a `LIKE` pattern matching it anywhere, with `\` as the escape character.
fn like_pattern(q: &str) -> String {
    let mut pattern = String::from("%");
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The channels the viewer may search, with the oldest visible `ts` of each, as JSON for
/// `json_each` (`[{"c": channel, "v": visible_from}, …]`).
fn readable(
    conn: &Connection,
    public: &[String],
    viewer: &Viewer,
    only: Option<&str>,
) -> Result<Option<String>, StoreError> {
    let mut list: Vec<Value> = Vec::new();
    if let Some(raw) = only {
        let Some(access) = channels::access(conn, public, viewer, raw)? else {
            return Ok(None);
        };
        list.push(json!({"c": access.key, "v": access.visible_from}));
    } else {
        for name in public {
            list.push(json!({"c": name, "v": 0.0}));
        }
        for key in channels::dm_channels(conn)? {
            if let Some(ChannelId::Dm(names)) = channels::canonical_stored(&key) {
                if crate::domain::channel::is_dm_participant(&names, &viewer.name) {
                    list.push(json!({"c": key, "v": viewer.created_ts}));
                }
            }
        }
        let mut statement = conn.prepare_cached(
            "SELECT channel_id, coalesce(history_start, 0) FROM private_members WHERE user_id = ?1",
        )?;
        let rows = statement.query_map([viewer.id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, f64>(1)?))
        })?;
        for row in rows {
            let (id, from) = row?;
            list.push(json!({"c": format!("private:{id}"), "v": from}));
        }
    }
    Ok(Some(Value::Array(list).to_string()))
}

/// Runs a search for `viewer`.
pub fn search(
    conn: &Connection,
    public: &[String],
    viewer: &Viewer,
    query: &Query,
) -> Result<Value, StoreError> {
    if query.q.is_empty()
        && query.from.is_empty()
        && query.channel.is_empty()
        && query.start.is_none()
        && query.end.is_none()
    {
        return Ok(json!([]));
    }
    let only = (!query.channel.is_empty()).then_some(query.channel.as_str());
    let Some(allowed) = readable(conn, public, viewer, only)? else {
        return Ok(json!([]));
    };
    let mut sql = String::from("SELECT m.id, m.channel, m.sender, m.content, m.ts FROM ");
    let mut args: Vec<SqlValue> = Vec::new();
    let trigram = query.q.chars().count() >= 3;
    if trigram {
        sql.push_str(
            "messages_fts f JOIN messages m ON m.id = f.rowid WHERE messages_fts MATCH ? AND ",
        );
        args.push(SqlValue::Text(fts_phrase(&query.q)));
    } else {
        sql.push_str("messages m WHERE ");
        if !query.q.is_empty() {
            sql.push_str("m.content LIKE ? ESCAPE '\\' AND ");
            args.push(SqlValue::Text(like_pattern(&query.q)));
        }
    }
    sql.push_str("m.deleted = 0 AND m.content IS NOT NULL AND m.content <> '' ");
    if !query.from.is_empty() {
        sql.push_str("AND m.sender = ? COLLATE NOCASE ");
        args.push(SqlValue::Text(query.from.clone()));
    }
    if let Some(start) = query.start {
        sql.push_str("AND m.ts >= ? ");
        args.push(SqlValue::Real(start));
    }
    if let Some(end) = query.end {
        sql.push_str("AND m.ts < ? ");
        args.push(SqlValue::Real(end));
    }
    // Visibility before the limit: the row's channel must be readable, and the row no older
    // than the viewer's bound in it.
    sql.push_str(
        "AND m.ts >= (SELECT a.value ->> 'v' FROM json_each(?) a WHERE a.value ->> 'c' = m.channel) \
         ORDER BY m.ts DESC, m.id DESC LIMIT ?",
    );
    args.push(SqlValue::Text(allowed));
    args.push(SqlValue::Integer(LIMIT));
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement
        .query_map(rusqlite::params_from_iter(args), |r| {
            Ok(json!({
                "id": r.get::<_, i64>(0)?,
                "channel": r.get::<_, String>(1)?,
                "sender": r.get::<_, String>(2)?,
                "content": r.get::<_, String>(3)?,
                "ts": r.get::<_, f64>(4)?,
            }))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::Array(rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::channels::tests::{store_with, viewer};
    use rusqlite::params;

    fn insert(conn: &Connection, channel: &str, content: &str, ts: f64) {
        conn.execute(
            "INSERT INTO messages(channel, sender, content, ts, change_ts) VALUES (?1, 'bob', ?2, ?3, ?3)",
            params![channel, content, ts],
        )
        .unwrap();
    }

    fn q(text: &str) -> Query {
        Query {
            q: text.into(),
            ..Query::default()
        }
    }

    #[test]
    fn substring_matches_case_insensitively_newest_first() {
        let conn = store_with(&["alice", "bob"]);
        let alice = viewer(&conn, "alice");
        let public = vec!["general".to_string()];
        insert(&conn, "general", "The Quick brown fox", 20.0);
        insert(&conn, "general", "quickly now", 30.0);
        insert(&conn, "general", "slow", 40.0);
        let found = search(&conn, &public, &alice, &q("QUICK")).unwrap();
        let contents: Vec<&str> = found
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["content"].as_str().unwrap())
            .collect();
        assert_eq!(contents, ["quickly now", "The Quick brown fox"]);
    }

    #[test]
    fn percent_and_underscore_are_literal_in_short_queries() {
        let conn = store_with(&["alice"]);
        let alice = viewer(&conn, "alice");
        let public = vec!["general".to_string()];
        insert(&conn, "general", "100% sure", 20.0);
        insert(&conn, "general", "nothing here", 21.0);
        insert(&conn, "general", "snake_case", 22.0);
        assert_eq!(
            search(&conn, &public, &alice, &q("%"))
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            search(&conn, &public, &alice, &q("_"))
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            search(&conn, &public, &alice, &q("0%")).unwrap()[0]["content"],
            "100% sure"
        );
    }

    #[test]
    fn other_peoples_dms_and_unconfigured_channels_never_match() {
        let conn = store_with(&["alice", "bob", "carol"]);
        let alice = viewer(&conn, "alice");
        let public = vec!["general".to_string()];
        insert(&conn, "dm:bob:carol", "secret plan", 20.0);
        insert(&conn, "old-channel", "secret plan", 21.0);
        insert(&conn, "dm:alice:bob", "secret plan", 22.0);
        let found = search(&conn, &public, &alice, &q("secret")).unwrap();
        assert_eq!(found.as_array().unwrap().len(), 1);
        assert_eq!(found[0]["channel"], "dm:alice:bob");
        let only = Query {
            channel: "dm:bob:carol".into(),
            ..q("secret")
        };
        assert_eq!(search(&conn, &public, &alice, &only).unwrap(), json!([]));
    }

    #[test]
    fn visibility_applies_before_the_limit() {
        let conn = store_with(&["alice", "bob"]);
        let alice = viewer(&conn, "alice");
        let public = vec!["general".to_string()];
        insert(&conn, "general", "needle visible", 20.0);
        for i in 0..60 {
            insert(&conn, "dm:bob:zed", "needle hidden", 30.0 + f64::from(i));
        }
        let found = search(&conn, &public, &alice, &q("needle")).unwrap();
        assert_eq!(found.as_array().unwrap().len(), 1);
    }

    #[test]
    fn no_filter_finds_nothing() {
        let conn = store_with(&["alice"]);
        let alice = viewer(&conn, "alice");
        insert(&conn, "general", "x", 20.0);
        assert_eq!(
            search(&conn, &["general".into()], &alice, &Query::default()).unwrap(),
            json!([])
        );
    }
}
