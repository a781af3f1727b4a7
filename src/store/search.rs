//! Message search (api.md §6.4): a case-insensitive substring match over the text of live
//! rows, confined to the channels the viewer may read (visibility applied before the limit).
//!
//! Three or more characters go through the FTS5 trigram index; shorter queries cannot use it
//! and scan with `LIKE`, where `%` and `_` are escaped so they match themselves.
//!
//! Results are newest first by `(ts, id)`. Sorting every hit is what made common fragments
//! slow, so the search walks hits by descending id instead and stops at the limit. That is
//! exact only where id order is `(ts, id)` order: true of every row this server writes (its
//! change clock never runs backwards), not necessarily of imported history. [`IdOrder`]
//! tracks from which id on it holds; older hits are still sorted the old way, and only when
//! the ordered ones do not fill the page.

use std::sync::Mutex;

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

/// Where id order agrees with `(ts, id)` order. Every row with `id >= ordered_from` has a `ts`
/// no smaller than that of any row with a smaller id, so walking those rows by descending id
/// visits them newest first and before every older-id row.
///
/// Known only once a full scan ran ([`IdOrder::scan`], done off the request path); until then
/// searches sort as before. Each search then checks the rows added since the last one, so a
/// row written out of order (none should be) only moves the boundary up, never misorders.
/// Edits, deletes and reactions never change `ts`, and removing rows keeps the property.
#[derive(Debug, Default)]
pub struct IdOrder {
    state: Mutex<Option<OrderState>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct OrderState {
    /// First id of the ordered tail.
    ordered_from: i64,
    /// Greatest id checked.
    checked_to: i64,
    /// Greatest `ts` among the rows checked.
    max_ts: f64,
}

impl OrderState {
    /// Takes in the rows with ids above `checked_to`, in id order.
    fn extend(&mut self, conn: &Connection) -> Result<(), StoreError> {
        let mut statement =
            conn.prepare_cached("SELECT id, ts FROM messages WHERE id > ?1 ORDER BY id")?;
        let mut rows = statement.query([self.checked_to])?;
        while let Some(row) = rows.next()? {
            let (id, ts): (i64, f64) = (row.get(0)?, row.get(1)?);
            if ts < self.max_ts {
                self.ordered_from = id + 1;
            }
            self.max_ts = self.max_ts.max(ts);
            self.checked_to = id;
        }
        Ok(())
    }
}

impl IdOrder {
    /// Learns the order of the whole table: one pass over every row, seconds for millions,
    /// so callers run it on a thread of its own (see [`super::Readers::open`]).
    pub fn scan(&self, conn: &Connection) -> Result<(), StoreError> {
        let mut state = OrderState {
            ordered_from: i64::MIN,
            checked_to: i64::MIN,
            max_ts: f64::NEG_INFINITY,
        };
        state.extend(conn)?;
        if let Ok(mut known) = self.state.lock() {
            // A search may have been answered meanwhile; either way the scan is complete.
            *known = Some(state);
        }
        Ok(())
    }

    /// The first id of the ordered tail as of `conn`'s snapshot, or `None` while unknown.
    fn ordered_from(&self, conn: &Connection) -> Result<Option<i64>, StoreError> {
        let Ok(mut known) = self.state.lock() else {
            return Ok(None);
        };
        let Some(state) = known.as_mut() else {
            return Ok(None);
        };
        state.extend(conn)?;
        Ok(Some(state.ordered_from))
    }
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
    order: &IdOrder,
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
    // One snapshot for the order check and both queries, so no row slips between them.
    let snapshot = conn.unchecked_transaction()?;
    let only = (!query.channel.is_empty()).then_some(query.channel.as_str());
    let Some(allowed) = readable(conn, public, viewer, only)? else {
        return Ok(json!([]));
    };
    let mut found = Vec::new();
    let ordered_from = order.ordered_from(conn)?;
    if let Some(from_id) = ordered_from {
        found = run(conn, query, &allowed, Walk::Ordered { from_id }, LIMIT)?;
    }
    let missing = LIMIT - found.len() as i64;
    if missing > 0 {
        // Rows below the ordered tail (all of them while the order is unknown) rank below
        // every row above it, so they only ever complete the page.
        let rest = Walk::Sorted {
            below_id: ordered_from,
        };
        found.extend(run(conn, query, &allowed, rest, missing)?);
    }
    snapshot.finish()?;
    Ok(Value::Array(found))
}

/// How [`run`] visits the hits.
#[derive(Debug, Clone, Copy)]
enum Walk {
    /// Hits with `id >= from_id`, by descending id, stopping at the limit.
    Ordered { from_id: i64 },
    /// Hits below `below_id` (all when `None`), sorted by `(ts, id)`.
    Sorted { below_id: Option<i64> },
}

fn run(
    conn: &Connection,
    query: &Query,
    allowed: &str,
    walk: Walk,
    limit: i64,
) -> Result<Vec<Value>, StoreError> {
    let mut sql = String::from("SELECT m.id, m.channel, m.sender, m.content, m.ts FROM ");
    let mut args: Vec<SqlValue> = Vec::new();
    let trigram = query.q.chars().count() >= 3;
    // The id the walk is bounded by: the FTS rowid when the index drives the query, so that
    // FTS5 itself walks its hits in id order and stops early.
    let id = if trigram { "f.rowid" } else { "m.id" };
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
        "AND m.ts >= (SELECT a.value ->> 'v' FROM json_each(?) a WHERE a.value ->> 'c' = m.channel) ",
    );
    args.push(SqlValue::Text(allowed.to_string()));
    match walk {
        Walk::Ordered { from_id } => {
            sql.push_str(&format!("AND {id} >= ? ORDER BY {id} DESC LIMIT ?"));
            args.push(SqlValue::Integer(from_id));
        }
        Walk::Sorted { below_id } => {
            if let Some(below_id) = below_id {
                sql.push_str(&format!("AND {id} < ? "));
                args.push(SqlValue::Integer(below_id));
            }
            sql.push_str("ORDER BY m.ts DESC, m.id DESC LIMIT ?");
        }
    }
    args.push(SqlValue::Integer(limit));
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
    Ok(rows)
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

    /// Searches with the id order unknown and known; both must give the same answer.
    fn find(conn: &Connection, public: &[String], viewer: &Viewer, query: &Query) -> Value {
        let unknown = search(conn, &IdOrder::default(), public, viewer, query).unwrap();
        let order = IdOrder::default();
        order.scan(conn).unwrap();
        let known = search(conn, &order, public, viewer, query).unwrap();
        assert_eq!(unknown, known, "the ordered walk changed the answer");
        known
    }

    fn ids(found: &Value) -> Vec<i64> {
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
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
        let found = find(&conn, &public, &alice, &q("QUICK"));
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
            find(&conn, &public, &alice, &q("%"))
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            find(&conn, &public, &alice, &q("_"))
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            find(&conn, &public, &alice, &q("0%"))[0]["content"],
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
        let found = find(&conn, &public, &alice, &q("secret"));
        assert_eq!(found.as_array().unwrap().len(), 1);
        assert_eq!(found[0]["channel"], "dm:alice:bob");
        let only = Query {
            channel: "dm:bob:carol".into(),
            ..q("secret")
        };
        assert_eq!(find(&conn, &public, &alice, &only), json!([]));
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
        let found = find(&conn, &public, &alice, &q("needle"));
        assert_eq!(found.as_array().unwrap().len(), 1);
    }

    #[test]
    fn no_filter_finds_nothing() {
        let conn = store_with(&["alice"]);
        let alice = viewer(&conn, "alice");
        insert(&conn, "general", "x", 20.0);
        assert_eq!(
            find(&conn, &["general".into()], &alice, &Query::default()),
            json!([])
        );
    }

    #[test]
    fn imported_rows_out_of_id_order_still_come_newest_first() {
        let conn = store_with(&["alice"]);
        let alice = viewer(&conn, "alice");
        let public = vec!["general".to_string()];
        // Imported history: ids disagree with ts. Then rows written by the server, in order.
        for i in 0..20 {
            insert(&conn, "general", "needle old", 1000.0 - f64::from(i));
        }
        insert(&conn, "general", "needle newest import", 5000.0);
        for i in 20..40 {
            insert(&conn, "general", "needle old", 1000.0 - f64::from(i));
        }
        for i in 0..30 {
            insert(&conn, "general", "needle new", 6000.0 + f64::from(i));
        }
        for short in [false, true] {
            let query = if short { q("ne") } else { q("needle") };
            let found = find(&conn, &public, &alice, &query);
            let got = ids(&found);
            let mut expected: Vec<(f64, i64)> = conn
                .prepare("SELECT ts, id FROM messages")
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            expected.sort_by(|a, b| b.partial_cmp(a).unwrap());
            let expected: Vec<i64> = expected.iter().take(50).map(|(_, id)| *id).collect();
            assert_eq!(got, expected);
            // The 30 ordered rows, then the imported ones sorted, the misplaced one first.
            assert_eq!(found[0]["ts"], 6029.0);
            assert_eq!(found[30]["content"], "needle newest import");
        }
    }

    #[test]
    fn a_row_written_out_of_order_after_the_scan_is_still_ranked_by_ts() {
        let conn = store_with(&["alice"]);
        let alice = viewer(&conn, "alice");
        let public = vec!["general".to_string()];
        for i in 0..60 {
            insert(&conn, "general", "needle", 100.0 + f64::from(i));
        }
        let order = IdOrder::default();
        order.scan(&conn).unwrap();
        // A late row with an old ts must not jump ahead of newer ones.
        insert(&conn, "general", "needle late", 1.0);
        let found = search(&conn, &order, &public, &alice, &q("needle")).unwrap();
        let got = ids(&found);
        assert_eq!(got.len(), 50);
        assert!(
            !got.contains(&61),
            "the old-ts row ranks last and falls off the page"
        );
        assert_eq!(got[0], 60);
        // With fewer matches it completes the page, last.
        let few = search(&conn, &order, &public, &alice, &q("late")).unwrap();
        assert_eq!(ids(&few), vec![61]);
    }
}
