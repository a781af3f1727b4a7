//! Retention and eviction (api.md §10): the cleanup job that keeps uploads and messages within
//! their age limits and size caps, trimming the heaviest users first so that one person's
//! flood cannot evict everyone else's history.
//!
//! The file steps work on the uploads folder directly; the database steps run as one writer job,
//! so they commit atomically with one fsync. A dry run performs the database steps inside a
//! savepoint that is rolled back, so it reports exactly what a real run would remove.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::domain::uploads;
use crate::system::config::{mib_to_bytes, Settings};

const DAY: f64 = 86_400.0;
/// Rows deleted per step of the message-cap loop.
const BATCH: i64 = 1000;

/// What one run removed (or, dry, would remove).
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct Report {
    pub dry_run: bool,
    pub files_expired: usize,
    pub files_evicted: usize,
    pub file_bytes_freed: u64,
    pub messages_expired: usize,
    pub messages_evicted: usize,
    pub reset_tokens_purged: usize,
    pub compacted: bool,
}

/// One upload on disk.
#[derive(Debug, Clone)]
struct Upload {
    name: String,
    path: PathBuf,
    size: u64,
    modified: f64,
}

fn list_uploads(dir: &Path) -> std::io::Result<Vec<Upload>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if !meta.is_file() {
            continue;
        }
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        files.push(Upload {
            name: entry.file_name().to_string_lossy().into_owned(),
            path: entry.path(),
            size: meta.len(),
            modified,
        });
    }
    Ok(files)
}

/// Step 1: the files past their age limit (images and other files have their own limits).
fn expired_files(files: &[Upload], settings: &Settings, now: f64) -> Vec<Upload> {
    files
        .iter()
        .filter(|f| {
            let days = if uploads::is_image_ext(&uploads::extension(&f.name)) {
                settings.image_retention_days
            } else {
                settings.file_retention_days
            };
            now - f.modified > days as f64 * DAY
        })
        .cloned()
        .collect()
}

/// Step 2: which files to evict so the folder fits `cap` bytes: orphans oldest first, then
/// repeatedly the oldest file of whoever currently holds the most bytes. `owner` maps a file to
/// its uploader (None: no row references it).
fn evict_for_cap(files: &[Upload], cap: u64, owner: &HashMap<String, String>) -> Vec<Upload> {
    let mut total: u64 = files.iter().map(|f| f.size).sum();
    let mut evicted = Vec::new();
    if total <= cap {
        return evicted;
    }
    let mut orphans: Vec<&Upload> = files
        .iter()
        .filter(|f| !owner.contains_key(&f.name))
        .collect();
    orphans.sort_by(|a, b| a.modified.total_cmp(&b.modified).then(a.name.cmp(&b.name)));
    for file in orphans {
        if total <= cap {
            return evicted;
        }
        total -= file.size;
        evicted.push(file.clone());
    }
    let mut by_owner: HashMap<&str, Vec<&Upload>> = HashMap::new();
    for file in files.iter().filter(|f| owner.contains_key(&f.name)) {
        by_owner
            .entry(owner[&file.name].as_str())
            .or_default()
            .push(file);
    }
    for list in by_owner.values_mut() {
        // Newest first, so pop() yields the oldest.
        list.sort_by(|a, b| b.modified.total_cmp(&a.modified).then(b.name.cmp(&a.name)));
    }
    while total > cap {
        let heaviest = by_owner
            .iter()
            .filter(|(_, list)| !list.is_empty())
            .max_by(|(a_name, a), (b_name, b)| {
                let a_bytes: u64 = a.iter().map(|f| f.size).sum();
                let b_bytes: u64 = b.iter().map(|f| f.size).sum();
                a_bytes.cmp(&b_bytes).then(b_name.cmp(a_name))
            })
            .map(|(name, _)| name.to_string());
        let Some(heaviest) = heaviest else { break };
        let Some(file) = by_owner.get_mut(heaviest.as_str()).and_then(|l| l.pop()) else {
            break;
        };
        total -= file.size;
        evicted.push(file.clone());
    }
    evicted
}

/// Who uploaded each stored file (the sender of the row that names it).
fn upload_owners(conn: &Connection) -> rusqlite::Result<HashMap<String, String>> {
    let mut statement =
        conn.prepare("SELECT filename, sender FROM messages WHERE filename IS NOT NULL")?;
    let rows = statement.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    rows.collect()
}

/// The live size of the database: pages in use × page size.
fn live_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(((pages - free).max(0) * size) as u64)
}

/// Steps 3–5 on an open write transaction. Returns (expired, evicted, tokens, compacted).
fn database_steps(
    conn: &Connection,
    settings: &Settings,
    now: f64,
) -> rusqlite::Result<(usize, usize, usize, bool)> {
    let cutoff = now - settings.message_retention_days as f64 * DAY;
    let expired = delete_rows(
        conn,
        "SELECT id FROM messages WHERE ts < ?1",
        params![cutoff],
    )?;

    let mut evicted = 0;
    let cap = mib_to_bytes(settings.max_message_db_size_mb);
    if cap > 0 {
        while live_bytes(conn)? > cap {
            let heaviest: Option<String> = conn
                .query_row(
                    "SELECT sender FROM messages GROUP BY sender \
                     ORDER BY sum(length(coalesce(content, ''))) DESC, count(*) DESC, sender LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(sender) = heaviest else { break };
            let removed = delete_rows(
                conn,
                "SELECT id FROM messages WHERE sender = ?1 ORDER BY ts, id LIMIT ?2",
                params![sender, BATCH],
            )?;
            if removed == 0 {
                break;
            }
            evicted += removed;
            // FTS5 records deletions as markers and frees index pages only when it merges, so
            // without this the store would not shrink and the loop would evict far too much.
            conn.execute(
                "INSERT INTO messages_fts(messages_fts) VALUES ('optimize')",
                [],
            )?;
        }
    }
    let compacted = expired + evicted > 0;
    if compacted {
        // The database is created with auto_vacuum=INCREMENTAL, so this returns the freed pages
        // to the file system inside the transaction.
        conn.execute_batch("PRAGMA incremental_vacuum")?;
    }
    let tokens = conn.execute(
        "DELETE FROM reset_tokens WHERE used <> 0 OR expires_ts < ?1",
        [now],
    )?;
    Ok((expired, evicted, tokens, compacted))
}

/// Deletes the rows the query selects, with everything hanging off them. Reactions, pins and
/// mentions go by foreign-key cascade and search entries by trigger.
fn delete_rows(
    conn: &Connection,
    select: &str,
    args: impl rusqlite::Params,
) -> rusqlite::Result<usize> {
    let ids: Vec<i64> = {
        let mut statement = conn.prepare(select)?;
        let rows = statement.query_map(args, |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut delete = conn.prepare_cached("DELETE FROM messages WHERE id = ?1")?;
    for id in &ids {
        delete.execute([id])?;
    }
    Ok(ids.len())
}

/// Runs the cleanup once with `settings` as they are now.
pub async fn run(app: &crate::app::App, dry_run: bool) -> Result<Report, String> {
    let settings = app.settings();
    let now = crate::domain::time::now();
    let uploads_dir = app.state_dir.join("uploads");
    let mut report = Report {
        dry_run,
        ..Report::default()
    };

    // Steps 1 and 2: files.
    let owners = app
        .readers
        .read(|conn| Ok(upload_owners(conn)?))
        .await
        .map_err(|e| e.to_string())?;
    let dir = uploads_dir.clone();
    let settings_for_files = settings.clone();
    let (expired, evicted) = tokio::task::spawn_blocking(move || {
        let files = list_uploads(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let expired = expired_files(&files, &settings_for_files, now);
        let remaining: Vec<Upload> = files.into_iter().filter(|f| !expired.iter().any(|e| e.name == f.name)).collect();
        let cap = mib_to_bytes(settings_for_files.max_upload_dir_size_mb);
        let evicted = if cap > 0 { evict_for_cap(&remaining, cap, &owners) } else { Vec::new() };
        if !dry_run {
            for file in expired.iter().chain(evicted.iter()) {
                if let Err(e) = std::fs::remove_file(&file.path) {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        tracing::warn!(FILE = %file.path.display(), ERROR = %e, "cleanup could not delete an upload");
                    }
                }
            }
        }
        Ok::<_, String>((expired, evicted))
    })
    .await
    .map_err(|e| e.to_string())??;
    report.files_expired = expired.len();
    report.files_evicted = evicted.len();
    report.file_bytes_freed = expired.iter().chain(evicted.iter()).map(|f| f.size).sum();

    // Steps 3 to 5: the database, in one writer job.
    let (messages_expired, messages_evicted, tokens, compacted) = app
        .writer
        .write(move |ctx| {
            ctx.conn.execute_batch("SAVEPOINT cleanup")?;
            let outcome = database_steps(ctx.conn, &settings, now);
            if dry_run || outcome.is_err() {
                ctx.conn
                    .execute_batch("ROLLBACK TO cleanup; RELEASE cleanup")?;
            } else {
                ctx.conn.execute_batch("RELEASE cleanup")?;
            }
            Ok(outcome?)
        })
        .await
        .map_err(|e| e.to_string())?;
    report.messages_expired = messages_expired;
    report.messages_evicted = messages_evicted;
    report.reset_tokens_purged = tokens;
    report.compacted = compacted && !dry_run;

    if !dry_run {
        let stamp = now.to_string();
        let _ = app
            .writer
            .write(move |ctx| {
                ctx.conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('last_cleanup_ts', ?1) \
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    [stamp],
                )?;
                Ok(())
            })
            .await;
    }
    tracing::info!(
        DRY_RUN = dry_run,
        FILES_EXPIRED = report.files_expired,
        FILES_EVICTED = report.files_evicted,
        FILE_BYTES_FREED = report.file_bytes_freed,
        MESSAGES_EXPIRED = report.messages_expired,
        MESSAGES_EVICTED = report.messages_evicted,
        RESET_TOKENS_PURGED = report.reset_tokens_purged,
        "cleanup {}",
        if dry_run { "dry run" } else { "finished" }
    );
    Ok(report)
}

/// The background job: first run 5 s after start, then every 24 h, settings read fresh each run.
pub async fn schedule(app: crate::app::AppRef) {
    let mut delay = std::time::Duration::from_secs(5);
    loop {
        tokio::select! {
            _ = app.shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        if let Err(e) = run(&app, false).await {
            tracing::error!(ERROR = %e, "cleanup failed");
        }
        delay = std::time::Duration::from_secs(24 * 3600);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(name: &str, size: u64, modified: f64) -> Upload {
        Upload {
            name: name.into(),
            path: PathBuf::from(name),
            size,
            modified,
        }
    }

    #[test]
    fn images_and_files_age_by_their_own_limits() {
        let settings = Settings {
            image_retention_days: 1,
            file_retention_days: 10,
            ..Settings::default()
        };
        let now = 100.0 * DAY;
        let files = [
            upload("aaaa.png", 1, now - 2.0 * DAY),
            upload("bbbb_notes.txt", 1, now - 2.0 * DAY),
            upload("cccc_old.txt", 1, now - 11.0 * DAY),
        ];
        let names: Vec<_> = expired_files(&files, &settings, now)
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(names, vec!["aaaa.png", "cccc_old.txt"]);
    }

    #[test]
    fn orphans_go_first_then_the_heaviest_uploader_oldest_first() {
        let owner: HashMap<String, String> = [
            ("a1", "alice"),
            ("a2", "alice"),
            ("a3", "alice"),
            ("b1", "bob"),
        ]
        .into_iter()
        .map(|(f, u)| (f.to_string(), u.to_string()))
        .collect();
        let files = [
            upload("orphan", 10, 50.0),
            upload("a1", 40, 1.0),
            upload("a2", 40, 2.0),
            upload("a3", 40, 3.0),
            upload("b1", 30, 0.5),
        ];
        // Total 160; cap 90: orphan (150), then alice's oldest a1 (110), then alice (80 vs bob 30) a2 → 70.
        let evicted: Vec<_> = evict_for_cap(&files, 90, &owner)
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(evicted, vec!["orphan", "a1", "a2"]);
        assert!(evict_for_cap(&files, 1000, &owner).is_empty());
    }

    fn database() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
            .unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        crate::store::migrations::apply(&mut conn).unwrap();
        conn
    }

    fn insert(conn: &Connection, sender: &str, content: &str, ts: f64) -> i64 {
        conn.execute(
            "INSERT INTO messages(channel, sender, content, ts, change_ts) VALUES ('general', ?1, ?2, ?3, ?3)",
            params![sender, content, ts],
        )
        .unwrap();
        conn.last_insert_rowid()
    }

    #[test]
    fn old_messages_go_with_their_reactions_pins_and_search_entries() {
        let conn = database();
        let settings = Settings {
            message_retention_days: 10,
            max_message_db_size_mb: 0.0,
            ..Settings::default()
        };
        let now = 100.0 * DAY;
        let old = insert(&conn, "alice", "ancient history", now - 20.0 * DAY);
        insert(&conn, "alice", "fresh news", now - DAY);
        conn.execute(
            "INSERT INTO reactions VALUES (?1, 'thumbsup', 'bob', 'bob', 1)",
            [old],
        )
        .unwrap();
        conn.execute("INSERT INTO pins VALUES (?1, 'general', 'bob', 1)", [old])
            .unwrap();
        let (expired, evicted, _, compacted) = database_steps(&conn, &settings, now).unwrap();
        assert_eq!((expired, evicted, compacted), (1, 0, true));
        let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(count("SELECT count(*) FROM messages"), 1);
        assert_eq!(count("SELECT count(*) FROM reactions"), 0);
        assert_eq!(count("SELECT count(*) FROM pins"), 0);
        assert_eq!(
            count("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'ancient'"),
            0
        );
    }

    #[test]
    fn the_size_cap_trims_the_heaviest_sender_and_spares_the_others() {
        let conn = database();
        let mut settings = Settings {
            message_retention_days: 100_000,
            ..Settings::default()
        };
        let now = 1_000_000.0;
        for i in 0..3000 {
            let flood = format!("{i:05} {}", "status report line ".repeat(100));
            insert(&conn, "flooder", &flood, i as f64);
        }
        for i in 0..200 {
            insert(&conn, "quiet", "short note", i as f64);
        }
        let before = live_bytes(&conn).unwrap();
        // A cap that forces part of the flood out.
        settings.max_message_db_size_mb = (before as f64 * 0.6) / 1_048_576.0;
        let (_, evicted, _, _) = database_steps(&conn, &settings, now).unwrap();
        assert!(evicted >= 1000, "{evicted}");
        let count = |who: &str| {
            conn.query_row(
                "SELECT count(*) FROM messages WHERE sender = ?1",
                [who],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
        };
        assert_eq!(count("quiet"), 200, "the light sender lost messages");
        assert!(count("flooder") < 3000);
        // The oldest of the flood went first.
        let oldest: f64 = conn
            .query_row(
                "SELECT min(ts) FROM messages WHERE sender = 'flooder'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(oldest, evicted as f64, "not the oldest rows were evicted");
        assert!(live_bytes(&conn).unwrap() <= mib_to_bytes(settings.max_message_db_size_mb));
    }

    #[test]
    fn used_and_expired_reset_tokens_are_purged() {
        let conn = database();
        conn.execute(
            "INSERT INTO users(username, username_key, password_hash, password_set_ts, created_ts) VALUES ('a', 'a', 'x', 0, 0)",
            [],
        )
        .unwrap();
        for (hash, expires, used) in [("t1", 50.0, 0), ("t2", 500.0, 1), ("t3", 500.0, 0)] {
            conn.execute(
                "INSERT INTO reset_tokens(token_hash, user_id, created_ts, expires_ts, used) VALUES (?1, 1, 0, ?2, ?3)",
                params![hash, expires, used],
            )
            .unwrap();
        }
        let settings = Settings {
            max_message_db_size_mb: 0.0,
            ..Settings::default()
        };
        let (_, _, tokens, _) = database_steps(&conn, &settings, 100.0).unwrap();
        assert_eq!(tokens, 2);
    }
}
