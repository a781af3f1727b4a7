//! `minimostctl import-python`: bring a data directory of the Python MiniMost 0.0.4 into a
//! MiniMost state directory (issue 8 item 3). The source layout is described in
//! `docs/python-data-format.md`.
//!
//! The source is opened read-only and never changed. Everything lands in the target's
//! `minimost.db` in one transaction, so an import either happens completely or not at all; files
//! (uploads, avatars) are copied before the commit, so a failed commit leaves at most orphan
//! files, which cleanup removes.
//!
//! **Idempotence.** Each source is identified by a fingerprint (a hash of its `secret.key`, or of
//! its path when it has none). Every imported message and private channel is recorded in `meta`
//! under that fingerprint with the id it received, and accounts are matched by name, so a second
//! run of the same source finds everything already there and adds nothing. A target holding
//! only an earlier import of the same source is not "non-empty" for the `merge` check.
//!
//! **Ids.** Into a target without messages or private channels, message and private-channel ids
//! are kept, so `reply_to_id` values and `private:<id>` names stay exactly as users knew them.
//! When merging into a used store they are renumbered and references are rewritten through the
//! mapping.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::migrations;
use crate::domain::channel::{canonical_dm, parse, ChannelId, ParsedChannel, SYSTEM_USER};
use crate::domain::{mentions, reactions, uploads, username};

/// Why an import did not happen. Nothing has been written to the target when one is returned,
/// except possibly copied upload or avatar files.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0} is not a Python MiniMost data directory (no auth.db)")]
    NotADataDir(PathBuf),
    #[error("the target {0} already holds data; pass --merge to import into it anyway")]
    NotEmpty(PathBuf),
    #[error("the daemon is running (its control socket {0} answers); stop it first")]
    DaemonRunning(PathBuf),
    #[error("cannot read {path}: {source}")]
    Source {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot write the target database: {0}")]
    Target(#[from] rusqlite::Error),
    #[error("cannot prepare the target database: {0}")]
    Store(#[from] super::StoreError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("settings.json: {0}")]
    Settings(String),
}

/// What to do.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Import into a target that already holds accounts, messages or private channels.
    pub merge: bool,
}

/// How many of each kind the import added. A second run of the same source reports zeros.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub users: u64,
    pub password_history: u64,
    pub private_channels: u64,
    pub private_members: u64,
    pub messages: u64,
    pub mentions: u64,
    pub reactions: u64,
    pub pins: u64,
    pub watermarks: u64,
    pub hidden_dms: u64,
    pub uploads: u64,
    pub avatars: u64,
    /// Source rows left out (reasons are in the warnings).
    pub skipped: u64,
}

impl Counts {
    /// `(kind, count)` in a fixed order, for printing.
    pub fn rows(&self) -> [(&'static str, u64); 13] {
        [
            ("users", self.users),
            ("password_history", self.password_history),
            ("private_channels", self.private_channels),
            ("private_members", self.private_members),
            ("messages", self.messages),
            ("mentions", self.mentions),
            ("reactions", self.reactions),
            ("pins", self.pins),
            ("watermarks", self.watermarks),
            ("hidden_dms", self.hidden_dms),
            ("uploads", self.uploads),
            ("avatars", self.avatars),
            ("skipped", self.skipped),
        ]
    }

    /// Whether the run added anything at all.
    pub fn is_empty(&self) -> bool {
        self.rows()
            .iter()
            .all(|(kind, n)| *kind == "skipped" || *n == 0)
    }
}

/// The outcome of an import.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub counts: Counts,
    /// Things left out or changed on the way, one line each.
    pub warnings: Vec<String>,
}

/// The part of every `meta` key this module writes.
const META_PREFIX: &str = "import_python";

/// Imports the Python data directory `source` into the state directory `state` (created if
/// missing; its `minimost.db` is created and migrated as needed). The daemon must be stopped.
pub fn import(
    source: &Path,
    state: &Path,
    options: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let src = Source::open(source)?;
    fs::create_dir_all(state).map_err(|e| io(state, e))?;
    let control = state.join("control.sock");
    if daemon_answers(&control) {
        return Err(ImportError::DaemonRunning(control));
    }
    let db_path = state.join("minimost.db");
    let mut conn = Connection::open(&db_path)?;
    // As `Store::open` intends for a new database: retention reclaims pages with
    // `incremental_vacuum`. The mode sticks only if chosen before anything writes the file's
    // header, and switching to WAL does, so it comes first.
    let version: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version == 0 {
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    }
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    migrations::apply(&mut conn)?;

    let fp = src.fingerprint();
    let prefix = format!("{META_PREFIX}/{fp}/");
    let done_key = format!("{prefix}done");
    let already: bool = conn
        .query_row("SELECT 1 FROM meta WHERE key = ?1", [&done_key], |_| Ok(()))
        .optional()?
        .is_some();
    let used: i64 = conn.query_row(
        "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM messages) \
         + (SELECT count(*) FROM private_channels)",
        [],
        |r| r.get(0),
    )?;
    if used > 0 && !already && !options.merge {
        return Err(ImportError::NotEmpty(state.to_path_buf()));
    }
    // Keep the original ids only where nothing can collide with them.
    let fresh: bool = conn.query_row(
        "SELECT NOT EXISTS (SELECT 1 FROM messages) AND NOT EXISTS (SELECT 1 FROM private_channels)",
        [],
        |r| r.get(0),
    )?;

    let mut report = ImportReport::default();
    let tx = conn.transaction()?;
    let mut run = Run {
        tx: &tx,
        src: &src,
        state,
        prefix,
        fresh,
        report: &mut report,
        names: HashMap::new(),
        private: HashMap::new(),
        messages: HashMap::new(),
        new_messages: HashMap::new(),
        by_channel_ts: HashMap::new(),
        dm_variants: HashMap::new(),
    };
    run.users()?;
    run.private_channels()?;
    run.messages()?;
    run.reactions()?;
    run.pins()?;
    run.watermarks()?;
    run.hidden_dms()?;
    run.uploads()?;
    tx.execute(
        "INSERT INTO meta(key, value) VALUES (?1, ?2) \
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![done_key, crate::domain::time::now().to_string()],
    )?;
    tx.commit()?;
    drop(conn);
    hand_over(state);
    Ok(report)
}

/// Whether a daemon answers on this control socket. A stale socket file (daemon stopped)
/// refuses the connection and does not count.
fn daemon_answers(socket: &Path) -> bool {
    socket.exists() && std::os::unix::net::UnixStream::connect(socket).is_ok()
}

fn io(path: &Path, source: std::io::Error) -> ImportError {
    ImportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Run as root, the files just written belong to root; give them to the owner of the state
/// directory (the daemon's user), or the daemon could not open its own database.
fn hand_over(state: &Path) {
    use std::os::unix::fs::MetadataExt as _;
    if !nix::unistd::Uid::effective().is_root() {
        return;
    }
    let Ok(meta) = fs::metadata(state) else {
        return;
    };
    if meta.uid() == 0 {
        return;
    }
    let owner = (Some(meta.uid()), Some(meta.gid()));
    let mut paths: Vec<PathBuf> = ["minimost.db", "minimost.db-wal", "minimost.db-shm"]
        .iter()
        .map(|n| state.join(n))
        .collect();
    for sub in ["uploads", "avatars"] {
        paths.push(state.join(sub));
        if let Ok(entries) = fs::read_dir(state.join(sub)) {
            paths.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
        }
    }
    for path in paths {
        if let Ok(m) = fs::symlink_metadata(&path) {
            if m.uid() == 0 && !m.file_type().is_symlink() {
                let _ = std::os::unix::fs::chown(&path, owner.0, owner.1);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The source

/// The opened source directory.
struct Source {
    dir: PathBuf,
    auth: Connection,
    presence: Option<Connection>,
    /// `users/messages.db`, or the per-user files of the older layout.
    messages: MessageSource,
}

enum MessageSource {
    Shared(Connection),
    PerUser(Vec<(PathBuf, Connection)>),
}

fn open_ro(path: &Path) -> Result<Connection, ImportError> {
    let err = |source| ImportError::Source {
        path: path.to_path_buf(),
        source,
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(err)?;
    // A WAL database opened read-only still needs its -shm file; in a read-only copy (a
    // mounted backup) that fails at the first query, so fall back to immutable mode.
    if conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
        .is_err()
    {
        let uri = format!("file:{}?immutable=1", path.display());
        let conn =
            Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI).map_err(err)?;
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
            .map_err(err)?;
        return Ok(conn);
    }
    Ok(conn)
}

impl Source {
    fn open(dir: &Path) -> Result<Source, ImportError> {
        let auth_path = dir.join("auth.db");
        if !auth_path.is_file() {
            return Err(ImportError::NotADataDir(dir.to_path_buf()));
        }
        let auth = open_ro(&auth_path)?;
        let presence_path = dir.join("presence.db");
        let presence = if presence_path.is_file() {
            Some(open_ro(&presence_path)?)
        } else {
            None
        };
        let shared = dir.join("users").join("messages.db");
        let messages = if shared.is_file() {
            MessageSource::Shared(open_ro(&shared)?)
        } else {
            let mut files = Vec::new();
            if let Ok(entries) = fs::read_dir(dir.join("users")) {
                let mut paths: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "db"))
                    .collect();
                paths.sort();
                for path in paths {
                    let conn = open_ro(&path)?;
                    files.push((path, conn));
                }
            }
            MessageSource::PerUser(files)
        };
        Ok(Source {
            dir: dir.to_path_buf(),
            auth,
            presence,
            messages,
        })
    }

    /// A short stable name for this source: the hash of its session key, which is unique per
    /// installation (the key itself is never stored), else of its path.
    fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"minimost-python-import\0");
        match fs::read(self.dir.join("secret.key")) {
            Ok(key) if !key.is_empty() => hasher.update(&key),
            _ => {
                let path = fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone());
                hasher.update(path.as_os_str().as_encoded_bytes());
            }
        }
        hex::encode(&hasher.finalize()[..8])
    }

    /// The databases that hold messages-side tables (`reactions`, `read_state`, `dm_hidden`).
    fn message_dbs(&self) -> Vec<(PathBuf, &Connection)> {
        match &self.messages {
            MessageSource::Shared(conn) => {
                vec![(self.dir.join("users").join("messages.db"), conn)]
            }
            MessageSource::PerUser(files) => files.iter().map(|(p, c)| (p.clone(), c)).collect(),
        }
    }
}

/// The column names of `table`, empty when it does not exist.
fn columns(conn: &Connection, table: &str) -> HashSet<String> {
    let Ok(mut statement) = conn.prepare(&format!("PRAGMA table_info(\"{table}\")")) else {
        return HashSet::new();
    };
    statement
        .query_map([], |r| r.get::<_, String>(1))
        .map(|rows| rows.filter_map(|r| r.ok()).collect())
        .unwrap_or_default()
}

/// `name` if the table has it, else `NULL`, for a SELECT list over tables of varying age.
fn col(cols: &HashSet<String>, name: &str) -> String {
    if cols.contains(name) {
        format!("\"{name}\"")
    } else {
        "NULL".to_string()
    }
}

/// Like [`col`], qualified with a table alias.
fn qcol(cols: &HashSet<String>, alias: &str, name: &str) -> String {
    if cols.contains(name) {
        format!("{alias}.\"{name}\"")
    } else {
        "NULL".to_string()
    }
}

/// Lenient readers: Python wrote whatever its values were, and SQLite keeps them, so a REAL
/// column may hold an integer or text. Anything unreadable is treated as absent.
fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Null => None,
    }
}

fn real(v: ValueRef<'_>) -> Option<f64> {
    match v {
        ValueRef::Real(f) if f.is_finite() => Some(f),
        ValueRef::Integer(i) => Some(i as f64),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite()),
        _ => None,
    }
}

fn int(v: ValueRef<'_>) -> Option<i64> {
    match v {
        ValueRef::Integer(i) => Some(i),
        ValueRef::Real(f) if f.fract() == 0.0 && f.abs() < 9e15 => Some(f as i64),
        ValueRef::Text(t) => std::str::from_utf8(t).ok()?.trim().parse().ok(),
        _ => None,
    }
}

fn src_err(path: &Path) -> impl Fn(rusqlite::Error) -> ImportError + '_ {
    move |source| ImportError::Source {
        path: path.to_path_buf(),
        source,
    }
}

/// One source message, as read.
#[derive(Debug, Clone)]
struct OldMessage {
    /// Stable identity within the source, for the `meta` mapping.
    key: String,
    /// The source id (shared layout only; per-user copies have no shared id).
    id: Option<i64>,
    channel: String,
    sender: String,
    content: Option<String>,
    content_type: Option<String>,
    filename: Option<String>,
    ts: f64,
    edited: i64,
    edited_ts: Option<f64>,
    deleted: i64,
    deleted_ts: Option<f64>,
    reply_to_id: Option<i64>,
    reactions_ts: Option<f64>,
    mentions: Option<String>,
}

impl OldMessage {
    fn change_ts(&self) -> f64 {
        [self.edited_ts, self.deleted_ts, self.reactions_ts]
            .into_iter()
            .flatten()
            .fold(self.ts, f64::max)
    }
}

fn read_messages(
    path: &Path,
    conn: &Connection,
    per_user: bool,
) -> Result<Vec<OldMessage>, ImportError> {
    let cols = columns(conn, "messages");
    if cols.is_empty() {
        return Ok(Vec::new());
    }
    let list = [
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
    ]
    .iter()
    .map(|c| col(&cols, c))
    .collect::<Vec<_>>()
    .join(", ");
    let order = if cols.contains("id") {
        "ORDER BY id"
    } else {
        "ORDER BY rowid"
    };
    let mut statement = conn
        .prepare(&format!("SELECT {list} FROM messages {order}"))
        .map_err(src_err(path))?;
    let mut rows = statement.query([]).map_err(src_err(path))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(src_err(path))? {
        let get = |i: usize| r.get_ref(i).unwrap_or(ValueRef::Null);
        let (Some(channel), Some(sender), Some(ts)) = (text(get(1)), text(get(2)), real(get(6)))
        else {
            continue;
        };
        let id = int(get(0));
        let content = text(get(3));
        let filename = text(get(5)).filter(|f| !f.is_empty());
        let key = match (per_user, id) {
            (false, Some(id)) => format!("m{id}"),
            _ => {
                // Copies of one message in different files agree on these, and nothing else
                // identifies them.
                let mut h = Sha256::new();
                for part in [&channel, &sender, &ts.to_bits().to_string()] {
                    h.update(part.as_bytes());
                    h.update([0]);
                }
                h.update(content.as_deref().unwrap_or("").as_bytes());
                h.update([0]);
                h.update(filename.as_deref().unwrap_or("").as_bytes());
                format!("h{}", hex::encode(&h.finalize()[..12]))
            }
        };
        out.push(OldMessage {
            key,
            id: if per_user { None } else { id },
            channel,
            sender,
            content,
            content_type: text(get(4)),
            filename,
            ts,
            edited: int(get(7)).unwrap_or(0).clamp(0, 1),
            edited_ts: real(get(8)),
            deleted: int(get(9)).unwrap_or(0).clamp(0, 1),
            deleted_ts: real(get(10)),
            reply_to_id: if per_user { None } else { int(get(11)) },
            reactions_ts: real(get(12)),
            mentions: text(get(13)),
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The run

/// A reaction of the per-user layout: channel, message ts, emoji, reactor.
type LegacyReaction = (Option<String>, Option<f64>, Option<String>, Option<String>);

/// A message inserted by this run.
struct NewMessage {
    deleted: bool,
    channel: String,
    /// When a reaction on it happened, as far as the source knows.
    reaction_ts: f64,
}

struct Run<'a> {
    tx: &'a Transaction<'a>,
    src: &'a Source,
    state: &'a Path,
    prefix: String,
    fresh: bool,
    report: &'a mut ImportReport,
    /// Every account in the target after the user step: fold → (id, registered spelling).
    names: HashMap<String, (i64, String)>,
    /// Source private channel id → target id.
    private: HashMap<i64, i64>,
    /// Source message key → target id (imported now or earlier).
    messages: HashMap<String, i64>,
    /// Target id → facts about rows inserted by this run.
    new_messages: HashMap<i64, NewMessage>,
    /// (source channel, ts bits) → target id of the first row inserted with them: how the
    /// per-user layout names a message.
    by_channel_ts: HashMap<(String, u64), i64>,
    /// Canonical DM → the source spellings that have rows.
    dm_variants: HashMap<String, HashSet<String>>,
}

impl Run<'_> {
    fn warn(&mut self, message: String) {
        self.report.warnings.push(message);
    }

    fn skip(&mut self, message: String) {
        self.report.counts.skipped += 1;
        self.warn(message);
    }

    fn meta_get(&self, key: &str) -> Result<Option<i64>, ImportError> {
        Ok(self
            .tx
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([format!("{}{key}", self.prefix)], |r| r.get::<_, String>(0))
            .optional()?
            .and_then(|v| v.parse().ok()))
    }

    fn meta_set(&self, key: &str, value: i64) -> Result<(), ImportError> {
        self.tx
            .prepare_cached("INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)")?
            .execute(params![format!("{}{key}", self.prefix), value.to_string()])?;
        Ok(())
    }

    /// The registered spelling of `name` if it has an account, else `name` as given.
    fn spelling(&self, name: &str) -> String {
        self.names
            .get(&username::fold(name))
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| name.to_string())
    }

    fn user_id(&self, name: &str) -> Option<i64> {
        self.names.get(&username::fold(name)).map(|(id, _)| *id)
    }

    /// The canonical target channel of a source channel id, or `None` when it cannot be
    /// carried over (unparseable, or a private channel that was not imported).
    fn channel(&self, raw: &str) -> Option<String> {
        match parse(raw)? {
            ParsedChannel::Public(name) => Some(name),
            ParsedChannel::Dm(names) => {
                let dm = canonical_dm(&names, |n| {
                    self.names.get(&username::fold(n)).map(|(_, s)| s.clone())
                });
                Some(ChannelId::Dm(dm.names).to_string())
            }
            ParsedChannel::Private(old) => match self.private.get(&old) {
                Some(new) => Some(ChannelId::Private(*new).to_string()),
                None if self.fresh => Some(ChannelId::Private(old).to_string()),
                None => None,
            },
        }
    }

    fn users(&mut self) -> Result<(), ImportError> {
        {
            let mut statement = self.tx.prepare("SELECT id, username FROM users")?;
            let existing = statement
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            for (id, name) in existing {
                self.names.insert(username::fold(&name), (id, name));
            }
        }
        let auth_path = self.src.dir.join("auth.db");
        let ucols = columns(&self.src.auth, "users");
        let scols = columns(&self.src.auth, "user_settings");
        let settings_join = if scols.is_empty() {
            "NULL, NULL, NULL FROM users u".to_string()
        } else {
            format!(
                "{}, {}, {} FROM users u LEFT JOIN user_settings s ON s.username = u.username",
                qcol(&scols, "s", "bio"),
                qcol(&scols, "s", "name_color"),
                qcol(&scols, "s", "avatar_file"),
            )
        };
        let sql = format!(
            "SELECT u.username, u.password_hash, {}, {}, {}, {settings_join} ORDER BY u.rowid",
            qcol(&ucols, "u", "failed_attempts"),
            qcol(&ucols, "u", "lockout_until"),
            qcol(&ucols, "u", "password_set_ts"),
        );
        struct OldUser {
            name: String,
            hash: String,
            failed: i64,
            lockout: Option<f64>,
            set_ts: Option<f64>,
            bio: Option<String>,
            color: Option<String>,
            avatar: Option<String>,
        }
        let old: Vec<OldUser> = {
            let mut statement = self.src.auth.prepare(&sql).map_err(src_err(&auth_path))?;
            let mut rows = statement.query([]).map_err(src_err(&auth_path))?;
            let mut out = Vec::new();
            while let Some(r) = rows.next().map_err(src_err(&auth_path))? {
                let get = |i: usize| r.get_ref(i).unwrap_or(ValueRef::Null);
                let (Some(name), Some(hash)) = (text(get(0)), text(get(1))) else {
                    continue;
                };
                out.push(OldUser {
                    name,
                    hash,
                    failed: int(get(2)).unwrap_or(0).max(0),
                    lockout: real(get(3)),
                    set_ts: real(get(4)),
                    bio: text(get(5)),
                    color: text(get(6)),
                    avatar: text(get(7)).filter(|a| !a.is_empty()),
                });
            }
            out
        };
        let now = crate::domain::time::now();
        let mut seen: HashSet<String> = HashSet::new();
        let mut inserted: Vec<(i64, String, Option<String>)> = Vec::new();
        for user in old {
            let key = username::fold(&user.name);
            if key == SYSTEM_USER {
                // `system` is the pseudo-user of reset notices (api.md §12 item 5): an account
                // with that name could read them.
                self.skip(format!(
                    "account '{}' not imported: the name is reserved",
                    user.name
                ));
                continue;
            }
            if !seen.insert(key.clone()) {
                self.skip(format!(
                    "account '{}' not imported: another account differs from it only in case",
                    user.name
                ));
                continue;
            }
            if self.names.contains_key(&key) {
                continue; // Imported earlier, or the same person already signed up here.
            }
            let color = user.color.filter(|c| {
                let c = c.trim();
                c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit())
            });
            let bio = user
                .bio
                .map(|b| b.trim().chars().take(160).collect::<String>());
            self.tx.execute(
                "INSERT INTO users(username, username_key, password_hash, password_set_ts, \
                 created_ts, failed_attempts, lockout_until, bio, name_color) \
                 VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, ?8)",
                params![
                    user.name,
                    key,
                    user.hash,
                    // The original back-filled a missing time with "now" too, so the
                    // maximum-age rule starts counting at the migration.
                    user.set_ts.unwrap_or(now),
                    user.failed,
                    user.lockout,
                    bio,
                    color.map(|c| c.trim().to_string()),
                ],
            )?;
            let id = self.tx.last_insert_rowid();
            self.names.insert(key, (id, user.name.clone()));
            inserted.push((id, user.name, user.avatar));
            self.report.counts.users += 1;
        }
        // Password history of the accounts just created: legacy entries keep counting in the
        // reuse check (api.md §6.1.6).
        let hcols = columns(&self.src.auth, "password_history");
        if !hcols.is_empty() {
            let mut statement = self
                .src
                .auth
                .prepare(&format!(
                    "SELECT password_hash, {} FROM password_history WHERE username = ?1 ORDER BY rowid",
                    col(&hcols, "set_ts")
                ))
                .map_err(src_err(&auth_path))?;
            for (id, name, _) in &inserted {
                let entries = statement
                    .query_map([name], |r| Ok((text(r.get_ref(0)?), real(r.get_ref(1)?))))
                    .map_err(src_err(&auth_path))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(src_err(&auth_path))?;
                for (hash, set_ts) in entries {
                    let Some(hash) = hash else { continue };
                    self.tx.execute(
                        "INSERT INTO password_history(user_id, hash, set_ts) VALUES (?1, ?2, ?3)",
                        params![id, hash, set_ts.unwrap_or(0.0)],
                    )?;
                    self.report.counts.password_history += 1;
                }
            }
        }
        // Avatars of the accounts just created.
        let avatars_dir = self.state.join("avatars");
        for (id, name, avatar) in inserted {
            let Some(file) = avatar else { continue };
            if !uploads::is_plain_file_name(&file) {
                self.warn(format!(
                    "avatar of '{name}' not imported: unsafe file name {file:?}"
                ));
                continue;
            }
            let from = self.src.dir.join("avatars").join(&file);
            if !from.is_file() {
                self.warn(format!(
                    "avatar of '{name}' not imported: {} is missing",
                    from.display()
                ));
                continue;
            }
            copy_into(&from, &avatars_dir, &file)?;
            self.tx.execute(
                "UPDATE users SET avatar = ?1 WHERE id = ?2",
                params![file, id],
            )?;
            self.report.counts.avatars += 1;
        }
        Ok(())
    }

    fn private_channels(&mut self) -> Result<(), ImportError> {
        let Some(presence) = &self.src.presence else {
            return Ok(());
        };
        let path = self.src.dir.join("presence.db");
        let cols = columns(presence, "private_channels");
        if cols.is_empty() {
            return Ok(());
        }
        let channels: Vec<(i64, String, String, f64)> = {
            let mut statement = presence
                .prepare(&format!(
                    "SELECT id, name, {}, {} FROM private_channels ORDER BY id",
                    col(&cols, "created_by"),
                    col(&cols, "created_ts")
                ))
                .map_err(src_err(&path))?;
            let rows = statement
                .query_map([], |r| {
                    Ok((
                        int(r.get_ref(0)?),
                        text(r.get_ref(1)?),
                        text(r.get_ref(2)?),
                        real(r.get_ref(3)?),
                    ))
                })
                .map_err(src_err(&path))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(src_err(&path))?;
            rows.into_iter()
                .filter_map(|(id, name, by, ts)| {
                    Some((
                        id?,
                        name.unwrap_or_default(),
                        by.unwrap_or_default(),
                        ts.unwrap_or(0.0),
                    ))
                })
                .collect()
        };
        let mcols = columns(presence, "private_channel_members");
        for (old, name, created_by, created_ts) in channels {
            let key = format!("private/{old}");
            if let Some(new) = self.meta_get(&key)? {
                self.private.insert(old, new);
                continue;
            }
            let name: String = name.trim().chars().take(80).collect();
            let name = if name.is_empty() {
                format!("private {old}")
            } else {
                name
            };
            let created_by = self.spelling(&created_by);
            if self.fresh {
                self.tx.execute(
                    "INSERT INTO private_channels(id, name, created_by, created_ts) VALUES (?1, ?2, ?3, ?4)",
                    params![old, name, created_by, created_ts],
                )?;
            } else {
                self.tx.execute(
                    "INSERT INTO private_channels(name, created_by, created_ts) VALUES (?1, ?2, ?3)",
                    params![name, created_by, created_ts],
                )?;
            }
            let new = self.tx.last_insert_rowid();
            self.meta_set(&key, new)?;
            self.private.insert(old, new);
            self.report.counts.private_channels += 1;
            if mcols.is_empty() {
                continue;
            }
            let members: Vec<(Option<String>, Option<f64>)> = {
                let mut statement = presence
                    .prepare_cached(&format!(
                        "SELECT username, {} FROM private_channel_members WHERE channel_id = ?1 \
                         ORDER BY {}, rowid",
                        col(&mcols, "history_start_ts"),
                        col(&mcols, "joined_ts"),
                    ))
                    .map_err(src_err(&path))?;
                let rows = statement
                    .query_map([old], |r| Ok((text(r.get_ref(0)?), real(r.get_ref(1)?))))
                    .map_err(src_err(&path))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(src_err(&path))?;
                rows
            };
            for (member, history_start) in members {
                let Some(member) = member else { continue };
                let Some(user_id) = self.user_id(&member) else {
                    self.skip(format!(
                        "member '{member}' of private channel {old} not imported: no such account"
                    ));
                    continue;
                };
                let added = self.tx.execute(
                    "INSERT OR IGNORE INTO private_members(channel_id, user_id, history_start) \
                     VALUES (?1, ?2, ?3)",
                    params![new, user_id, history_start],
                )?;
                self.report.counts.private_members += added as u64;
            }
        }
        Ok(())
    }

    fn load_message_map(&mut self) -> Result<(), ImportError> {
        let like = format!(
            "{}msg/%",
            self.prefix.replace('%', "\\%").replace('_', "\\_")
        );
        let mut statement = self
            .tx
            .prepare("SELECT key, value FROM meta WHERE key LIKE ?1 ESCAPE '\\'")?;
        let rows = statement
            .query_map([like], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let skip = self.prefix.len() + "msg/".len();
        for (key, value) in rows {
            if let (Some(k), Ok(v)) = (key.get(skip..), value.parse::<i64>()) {
                self.messages.insert(k.to_string(), v);
            }
        }
        Ok(())
    }

    fn messages(&mut self) -> Result<(), ImportError> {
        self.load_message_map()?;
        let mut old: Vec<OldMessage> = Vec::new();
        match &self.src.messages {
            MessageSource::Shared(conn) => {
                let path = self.src.dir.join("users").join("messages.db");
                old = read_messages(&path, conn, false)?;
            }
            MessageSource::PerUser(files) => {
                // The same message sits in every recipient's file; keep one copy, the one
                // that changed last.
                let mut index: HashMap<String, usize> = HashMap::new();
                for (path, conn) in files {
                    for m in read_messages(path, conn, true)? {
                        match index.get(&m.key) {
                            Some(&i) if old[i].change_ts() >= m.change_ts() => {}
                            Some(&i) => old[i] = m,
                            None => {
                                index.insert(m.key.clone(), old.len());
                                old.push(m);
                            }
                        }
                    }
                }
                old.sort_by(|a, b| a.ts.total_cmp(&b.ts).then_with(|| a.key.cmp(&b.key)));
            }
        }
        let mut inserted: Vec<(i64, Option<i64>)> = Vec::new();
        for m in old {
            let channel = self.channel(&m.channel);
            // Every spelling of a DM counts for the hidden-DM rule, imported now or earlier.
            if let Some(dm) = channel.as_ref().filter(|c| c.starts_with("dm:")) {
                self.dm_variants
                    .entry(dm.clone())
                    .or_default()
                    .insert(m.channel.clone());
            }
            if self.messages.contains_key(&m.key) {
                continue;
            }
            let Some(channel) = channel else {
                self.skip(format!(
                    "message {} not imported: channel {:?} cannot be carried over",
                    m.key, m.channel
                ));
                continue;
            };
            let sender = if m.sender.eq_ignore_ascii_case(SYSTEM_USER) {
                SYSTEM_USER.to_string()
            } else {
                self.spelling(&m.sender)
            };
            // api.md §12 item 37: rows without a type are system rows exactly when `system`
            // sent them.
            let content_type = match m.content_type.as_deref() {
                Some("system") => "system",
                Some("text") => "text",
                _ if sender == SYSTEM_USER => "system",
                _ => "text",
            };
            let deleted = m.deleted == 1;
            let attachment = m.filename.is_some();
            // A tombstone keeps no content, file, reply or mentions (api.md §5.3); the
            // original kept them all.
            let (content, filename, reply_to, mention_list) = if deleted {
                (None, None, None, None)
            } else if attachment {
                (Some(String::new()), m.filename.clone(), m.reply_to_id, None)
            } else {
                (
                    Some(m.content.clone().unwrap_or_default()),
                    None,
                    m.reply_to_id,
                    self.mentions(m.mentions.as_deref()),
                )
            };
            let mentions_json = mention_list
                .as_ref()
                .map(|l| serde_json::to_string(l).unwrap_or_else(|_| "[]".into()));
            let deleted_ts = if deleted {
                Some(m.deleted_ts.unwrap_or(m.ts))
            } else {
                m.deleted_ts
            };
            let edited_ts = m.edited_ts.filter(|_| m.edited == 1);
            let change_ts = [edited_ts, deleted_ts, m.reactions_ts]
                .into_iter()
                .flatten()
                .fold(m.ts, f64::max);
            let explicit_id = if self.fresh {
                m.id.filter(|id| *id > 0)
            } else {
                None
            };
            self.tx
                .prepare_cached(
                    "INSERT INTO messages(id, channel, sender, content, content_type, filename, ts, \
                     edited, edited_ts, deleted, deleted_ts, reply_to_id, reactions_ts, mentions, \
                     change_ts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                )?
                .execute(params![
                    explicit_id,
                    channel,
                    sender,
                    content,
                    content_type,
                    filename,
                    m.ts,
                    m.edited,
                    edited_ts,
                    i64::from(deleted),
                    deleted_ts,
                    reply_to,
                    m.reactions_ts,
                    mentions_json,
                    change_ts,
                ])?;
            let id = self.tx.last_insert_rowid();
            self.meta_set(&format!("msg/{}", m.key), id)?;
            self.messages.insert(m.key.clone(), id);
            self.by_channel_ts
                .entry((m.channel.clone(), m.ts.to_bits()))
                .or_insert(id);
            for name in mention_list.iter().flatten() {
                let key = if name == mentions::EVERYONE {
                    name.clone()
                } else {
                    username::fold(name)
                };
                let added = self
                    .tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO message_mentions(message_id, name_key) VALUES (?1, ?2)",
                    )?
                    .execute(params![id, key])?;
                self.report.counts.mentions += added as u64;
            }
            self.new_messages.insert(
                id,
                NewMessage {
                    deleted,
                    channel: channel.clone(),
                    reaction_ts: m.reactions_ts.unwrap_or(m.ts),
                },
            );
            if reply_to.is_some() {
                inserted.push((id, reply_to));
            }
            self.report.counts.messages += 1;
        }
        // Replies point at source ids; when ids were renumbered, follow the mapping, and drop a
        // reference whose target was not imported rather than let it name a stranger's row.
        if !self.fresh {
            for (id, old_reply) in inserted {
                let new_reply =
                    old_reply.and_then(|r| self.messages.get(&format!("m{r}")).copied());
                self.tx.execute(
                    "UPDATE messages SET reply_to_id = ?1 WHERE id = ?2",
                    params![new_reply, id],
                )?;
            }
        }
        Ok(())
    }

    /// The stored mention list of the original (JSON text) in this store's form: registered
    /// spellings, name order, each once; `@everyone` alone when present.
    fn mentions(&self, raw: Option<&str>) -> Option<Vec<String>> {
        let list: Vec<String> = serde_json::from_str(raw?).ok()?;
        if list.iter().any(|n| n == mentions::EVERYONE) {
            return Some(vec![mentions::EVERYONE.to_string()]);
        }
        let mut out: Vec<String> = Vec::new();
        for name in list {
            let name = self.spelling(&name);
            if !out
                .iter()
                .any(|n| username::fold(n) == username::fold(&name))
            {
                out.push(name);
            }
        }
        username::sort_names(&mut out);
        (!out.is_empty()).then_some(out)
    }

    fn add_reaction(&mut self, id: i64, emoji: &str, reactor: &str) -> Result<(), ImportError> {
        let Some(new) = self.new_messages.get(&id) else {
            return Ok(()); // Imported by an earlier run.
        };
        if new.deleted {
            return Ok(()); // A delete removes reactions (api.md §5.3).
        }
        let ts = new.reaction_ts;
        if !reactions::is_valid(emoji) {
            self.skip(format!(
                "reaction {emoji:?} on message {id} not imported: unknown name"
            ));
            return Ok(());
        }
        let reactor = self.spelling(reactor);
        let added = self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO reactions(message_id, emoji, username, username_key, ts) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![id, emoji, reactor, username::fold(&reactor), ts])?;
        self.report.counts.reactions += added as u64;
        Ok(())
    }

    fn reactions(&mut self) -> Result<(), ImportError> {
        for (path, conn) in self.src.message_dbs() {
            if columns(conn, "reactions").is_empty() {
                continue;
            }
            let rows: Vec<(Option<i64>, Option<String>, Option<String>)> = {
                let mut statement = conn
                    .prepare("SELECT message_id, emoji, reactor FROM reactions ORDER BY rowid")
                    .map_err(src_err(&path))?;
                let rows = statement
                    .query_map([], |r| {
                        Ok((int(r.get_ref(0)?), text(r.get_ref(1)?), text(r.get_ref(2)?)))
                    })
                    .map_err(src_err(&path))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(src_err(&path))?;
                rows
            };
            // Per-user files have no shared ids, so only the shared database's reactions can
            // be placed by id.
            if matches!(self.src.messages, MessageSource::PerUser(_)) {
                continue;
            }
            for (message, emoji, reactor) in rows {
                let (Some(message), Some(emoji), Some(reactor)) = (message, emoji, reactor) else {
                    continue;
                };
                if let Some(&id) = self.messages.get(&format!("m{message}")) {
                    self.add_reaction(id, &emoji, &reactor)?;
                }
            }
        }
        // The older layout named a message by (channel, ts).
        if let Some(presence) = &self.src.presence {
            if !columns(presence, "message_reactions").is_empty() {
                let path = self.src.dir.join("presence.db");
                let rows: Vec<LegacyReaction> = {
                    let mut statement = presence
                        .prepare("SELECT channel, msg_ts, emoji, reactor FROM message_reactions")
                        .map_err(src_err(&path))?;
                    let rows = statement
                        .query_map([], |r| {
                            Ok((
                                text(r.get_ref(0)?),
                                real(r.get_ref(1)?),
                                text(r.get_ref(2)?),
                                text(r.get_ref(3)?),
                            ))
                        })
                        .map_err(src_err(&path))?
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(src_err(&path))?;
                    rows
                };
                for (channel, ts, emoji, reactor) in rows {
                    let (Some(channel), Some(ts), Some(emoji), Some(reactor)) =
                        (channel, ts, emoji, reactor)
                    else {
                        continue;
                    };
                    if let Some(&id) = self.by_channel_ts.get(&(channel, ts.to_bits())) {
                        self.add_reaction(id, &emoji, &reactor)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Pins do not exist in 0.0.4; later versions of the original keep them in a `pins` table,
    /// read here by the columns it is known to have.
    fn pins(&mut self) -> Result<(), ImportError> {
        let MessageSource::Shared(conn) = &self.src.messages else {
            return Ok(());
        };
        let cols = columns(conn, "pins");
        if !(cols.contains("message_id") && cols.contains("pinned_by")) {
            return Ok(());
        }
        let path = self.src.dir.join("users").join("messages.db");
        let ts_col = if cols.contains("pinned_ts") {
            col(&cols, "pinned_ts")
        } else {
            col(&cols, "ts")
        };
        let rows: Vec<(Option<i64>, Option<String>, Option<f64>)> = {
            let mut statement = conn
                .prepare(&format!(
                    "SELECT message_id, pinned_by, {ts_col} FROM pins ORDER BY rowid"
                ))
                .map_err(src_err(&path))?;
            let rows = statement
                .query_map([], |r| {
                    Ok((int(r.get_ref(0)?), text(r.get_ref(1)?), real(r.get_ref(2)?)))
                })
                .map_err(src_err(&path))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(src_err(&path))?;
            rows
        };
        for (message, by, ts) in rows {
            let (Some(message), Some(by)) = (message, by) else {
                continue;
            };
            let Some(&id) = self.messages.get(&format!("m{message}")) else {
                continue;
            };
            let Some(new) = self.new_messages.get(&id) else {
                continue;
            };
            if new.deleted {
                continue;
            }
            let channel = new.channel.clone();
            let count: i64 = self.tx.query_row(
                "SELECT count(*) FROM pins WHERE channel = ?1",
                [&channel],
                |r| r.get(0),
            )?;
            if count >= super::messages::MAX_PINS {
                self.skip(format!(
                    "pin of message {id} not imported: the channel has 50 pins"
                ));
                continue;
            }
            let by = self.spelling(&by);
            let added = self.tx.execute(
                "INSERT OR IGNORE INTO pins(message_id, channel, pinned_by, pinned_ts) VALUES (?1, ?2, ?3, ?4)",
                params![id, channel, by, ts.unwrap_or(0.0)],
            )?;
            self.report.counts.pins += added as u64;
        }
        Ok(())
    }

    fn raise_watermark(
        &mut self,
        user: &str,
        raw_channel: &str,
        ts: f64,
    ) -> Result<(), ImportError> {
        let (Some(user_id), Some(channel)) = (self.user_id(user), self.channel(raw_channel)) else {
            return Ok(());
        };
        // Watermarks only move forward (api.md §4.4); merged DMs take the furthest one.
        let changed = self
            .tx
            .prepare_cached(
                "INSERT INTO watermarks(user_id, channel, last_read_ts) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(user_id, channel) DO UPDATE SET last_read_ts = excluded.last_read_ts \
                 WHERE excluded.last_read_ts > watermarks.last_read_ts",
            )?
            .execute(params![user_id, channel, ts])?;
        self.report.counts.watermarks += changed as u64;
        Ok(())
    }

    fn watermarks(&mut self) -> Result<(), ImportError> {
        let mut all: Vec<(String, String, f64)> = Vec::new();
        for (path, conn) in self.src.message_dbs() {
            if columns(conn, "read_state").is_empty() {
                continue;
            }
            let mut statement = conn
                .prepare("SELECT user, channel, last_read_ts FROM read_state")
                .map_err(src_err(&path))?;
            let rows = statement
                .query_map([], |r| {
                    Ok((
                        text(r.get_ref(0)?),
                        text(r.get_ref(1)?),
                        real(r.get_ref(2)?),
                    ))
                })
                .map_err(src_err(&path))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(src_err(&path))?;
            all.extend(rows.into_iter().filter_map(|(u, c, t)| Some((u?, c?, t?))));
        }
        if let Some(presence) = &self.src.presence {
            if !columns(presence, "read_receipts").is_empty() {
                let path = self.src.dir.join("presence.db");
                let mut statement = presence
                    .prepare("SELECT reader, channel, max(msg_ts) FROM read_receipts GROUP BY reader, channel")
                    .map_err(src_err(&path))?;
                let rows = statement
                    .query_map([], |r| {
                        Ok((
                            text(r.get_ref(0)?),
                            text(r.get_ref(1)?),
                            real(r.get_ref(2)?),
                        ))
                    })
                    .map_err(src_err(&path))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(src_err(&path))?;
                all.extend(rows.into_iter().filter_map(|(u, c, t)| Some((u?, c?, t?))));
            }
        }
        for (user, channel, ts) in all {
            self.raise_watermark(&user, &channel, ts)?;
        }
        Ok(())
    }

    /// A merged DM stays hidden for a user only if every spelling of it that has rows was
    /// hidden by that user; it is then hidden as of the latest of those closes.
    fn hidden_dms(&mut self) -> Result<(), ImportError> {
        let mut hidden: HashMap<(i64, String), HashMap<String, f64>> = HashMap::new();
        for (path, conn) in self.src.message_dbs() {
            if columns(conn, "dm_hidden").is_empty() {
                continue;
            }
            let mut statement = conn
                .prepare("SELECT user, channel, hidden_ts FROM dm_hidden")
                .map_err(src_err(&path))?;
            let rows = statement
                .query_map([], |r| {
                    Ok((
                        text(r.get_ref(0)?),
                        text(r.get_ref(1)?),
                        real(r.get_ref(2)?),
                    ))
                })
                .map_err(src_err(&path))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(src_err(&path))?;
            for (user, raw, ts) in rows {
                let (Some(user), Some(raw), Some(ts)) = (user, raw, ts) else {
                    continue;
                };
                let (Some(user_id), Some(channel)) = (self.user_id(&user), self.channel(&raw))
                else {
                    continue;
                };
                if !channel.starts_with("dm:") {
                    continue;
                }
                let entry = hidden.entry((user_id, channel)).or_default();
                let slot = entry.entry(raw).or_insert(ts);
                *slot = slot.max(ts);
            }
        }
        for ((user_id, channel), closes) in hidden {
            let variants = self.dm_variants.get(&channel);
            let all_hidden = variants.is_none_or(|v| v.iter().all(|raw| closes.contains_key(raw)));
            if !all_hidden {
                continue;
            }
            let ts = closes.values().copied().fold(f64::MIN, f64::max);
            let changed = self.tx.execute(
                "INSERT INTO hidden_dms(user_id, channel, hidden_ts) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(user_id, channel) DO UPDATE SET hidden_ts = excluded.hidden_ts \
                 WHERE excluded.hidden_ts > hidden_dms.hidden_ts",
                params![user_id, channel, ts],
            )?;
            self.report.counts.hidden_dms += changed as u64;
        }
        Ok(())
    }

    /// Copies the files of the live attachment rows this run inserted. Files of deleted rows
    /// stay behind: "deleted" means gone (api.md §12 item 7).
    fn uploads(&mut self) -> Result<(), ImportError> {
        let ids: Vec<i64> = self
            .new_messages
            .iter()
            .filter(|(_, m)| !m.deleted)
            .map(|(id, _)| *id)
            .collect();
        let dir = self.state.join("uploads");
        for id in ids {
            let filename: Option<String> = self
                .tx
                .prepare_cached("SELECT filename FROM messages WHERE id = ?1")?
                .query_row([id], |r| r.get(0))?;
            let Some(file) = filename else { continue };
            if !uploads::is_plain_file_name(&file) {
                self.warn(format!(
                    "upload of message {id} not copied: unsafe name {file:?}"
                ));
                continue;
            }
            let from = self.src.dir.join("uploads").join(&file);
            if !from.is_file() {
                // The row keeps its name; `/files` answers 404, as for an evicted upload.
                self.warn(format!(
                    "upload {file} of message {id} is missing from the source"
                ));
                continue;
            }
            if copy_into(&from, &dir, &file)? {
                self.report.counts.uploads += 1;
            }
        }
        Ok(())
    }
}

/// Copies `from` to `dir/name` atomically (temporary file, fsync, rename), unless `dir/name`
/// already exists. Returns whether it copied.
fn copy_into(from: &Path, dir: &Path, name: &str) -> Result<bool, ImportError> {
    fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let target = dir.join(name);
    if target.exists() {
        return Ok(false);
    }
    let temp = dir.join(format!(".import-{}.tmp", uploads::random_hex()));
    let result = (|| -> std::io::Result<()> {
        let bytes = fs::read(from)?;
        let mut file = fs::File::create(&temp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&temp, &target)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        return Err(io(&target, e));
    }
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// settings.json → minimost.toml

/// The `minimost.toml` equivalent of the original's `settings.json` text (api.md §8), and one
/// warning per key dropped. Keys keep their values and types; unknown keys and buckets, and
/// values of a type TOML cannot hold (null), are dropped with a warning. The result is checked
/// with the daemon's own parser; a value it rejects is reported as a warning too, so the
/// operator sees it before the daemon refuses the file.
pub fn settings_toml(json: &str, origin: &str) -> Result<(String, Vec<String>), ImportError> {
    use crate::system::config::{Settings, KEYS};
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| ImportError::Settings(e.to_string()))?;
    let serde_json::Value::Object(map) = value else {
        return Err(ImportError::Settings(
            "the top level is not an object".into(),
        ));
    };
    let mut warnings = Vec::new();
    let mut out = format!("# minimost.toml converted from {origin} by minimostctl import-python\n");
    let top: Vec<&str> = KEYS
        .iter()
        .filter(|k| k.section.is_none())
        .map(|k| k.name)
        .collect();
    let buckets: Vec<&str> = KEYS
        .iter()
        .filter(|k| k.section == Some("rate_limits"))
        .map(|k| k.name)
        .collect();
    for key in map.keys() {
        if !top.contains(&key.as_str()) && key != "rate_limits" {
            warnings.push(format!("settings.json: unknown key '{key}' dropped"));
        }
    }
    for name in &top {
        let Some(v) = map.get(*name) else { continue };
        match json_to_toml(v) {
            Some(t) => out.push_str(&format!("{name} = {t}\n")),
            None => warnings.push(format!(
                "settings.json: '{name}' has no TOML equivalent ({v}); dropped"
            )),
        }
    }
    match map.get("rate_limits") {
        Some(serde_json::Value::Object(limits)) => {
            let mut section = String::new();
            for (bucket, v) in limits {
                if !buckets.contains(&bucket.as_str()) {
                    warnings.push(format!(
                        "settings.json: unknown rate-limit bucket '{bucket}' dropped"
                    ));
                    continue;
                }
                match json_to_toml(v) {
                    Some(t) => section.push_str(&format!("{bucket} = {t}\n")),
                    None => warnings.push(format!("settings.json: rate limit '{bucket}' dropped")),
                }
            }
            if !section.is_empty() {
                out.push_str("\n[rate_limits]\n");
                out.push_str(&section);
            }
        }
        Some(other) => warnings.push(format!(
            "settings.json: 'rate_limits' is not an object ({other}); dropped"
        )),
        None => {}
    }
    if let Err(e) = Settings::parse(&out, "converted settings") {
        warnings.push(format!("the converted settings will not load: {e}"));
    }
    Ok((out, warnings))
}

fn json_to_toml(v: &serde_json::Value) -> Option<toml::Value> {
    Some(match v {
        serde_json::Value::Bool(b) => toml::Value::Boolean(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        serde_json::Value::String(s) => toml::Value::String(s.clone()),
        serde_json::Value::Array(items) => {
            toml::Value::Array(items.iter().map(json_to_toml).collect::<Option<Vec<_>>>()?)
        }
        serde_json::Value::Object(map) => {
            let mut table = toml::Table::new();
            for (k, v) in map {
                table.insert(k.clone(), json_to_toml(v)?);
            }
            toml::Value::Table(table)
        }
        serde_json::Value::Null => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a small data directory in the original's shared layout, by hand.
    fn python_dir(dir: &Path) {
        fs::create_dir_all(dir.join("users")).unwrap();
        fs::create_dir_all(dir.join("uploads")).unwrap();
        fs::create_dir_all(dir.join("avatars")).unwrap();
        fs::write(dir.join("secret.key"), "ab".repeat(32)).unwrap();
        let auth = Connection::open(dir.join("auth.db")).unwrap();
        auth.execute_batch(
            "CREATE TABLE users (username TEXT PRIMARY KEY, password_hash TEXT NOT NULL,
                failed_attempts INTEGER NOT NULL DEFAULT 0, lockout_until REAL, password_set_ts REAL);
             CREATE TABLE password_history (username TEXT NOT NULL, password_hash TEXT NOT NULL, set_ts REAL NOT NULL);
             CREATE TABLE user_settings (username TEXT PRIMARY KEY, name_color TEXT, avatar_file TEXT, bio TEXT);
             INSERT INTO users VALUES ('alice', 'pbkdf2:sha256:1000$salt$00', 0, NULL, 10.0);
             INSERT INTO users VALUES ('Bob', 'scrypt:16384:8:1$salt$00', 2, NULL, NULL);
             INSERT INTO users VALUES ('BOB', 'x', 0, NULL, 1.0);
             INSERT INTO users VALUES ('system', 'x', 0, NULL, 1.0);
             INSERT INTO password_history VALUES ('alice', 'old', 5.0), ('alice', 'pbkdf2:sha256:1000$salt$00', 10.0);
             INSERT INTO user_settings VALUES ('alice', '#AbCdEf', 'face.jpg', 'hi');",
        )
        .unwrap();
        fs::write(dir.join("avatars/face.jpg"), b"jpeg").unwrap();
        fs::write(dir.join("uploads/aa.png"), b"png").unwrap();
        fs::write(dir.join("uploads/bb_gone.txt"), b"secret").unwrap();
        let presence = Connection::open(dir.join("presence.db")).unwrap();
        presence
            .execute_batch(
                "CREATE TABLE private_channels (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
                    created_by TEXT NOT NULL, created_ts REAL NOT NULL);
                 CREATE TABLE private_channel_members (channel_id INTEGER NOT NULL, username TEXT NOT NULL,
                    joined_ts REAL NOT NULL, history_start_ts REAL, PRIMARY KEY (channel_id, username));
                 INSERT INTO private_channels VALUES (3, 'Plans', 'alice', 1.0);
                 INSERT INTO private_channel_members VALUES (3, 'Bob', 1.0, NULL), (3, 'alice', 1.0, NULL),
                    (3, 'ghost', 2.0, 2.0);",
            )
            .unwrap();
        let messages = Connection::open(dir.join("users/messages.db")).unwrap();
        messages
            .execute_batch(
                "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL,
                    sender TEXT NOT NULL, content TEXT, content_type TEXT DEFAULT 'text', filename TEXT,
                    ts REAL NOT NULL, edited INTEGER DEFAULT 0, edited_ts REAL, deleted INTEGER DEFAULT 0,
                    deleted_ts REAL, reply_to_id INTEGER, reactions_ts REAL, mentions TEXT);
                 CREATE TABLE reactions (message_id INTEGER NOT NULL, emoji TEXT NOT NULL, reactor TEXT NOT NULL);
                 CREATE TABLE read_state (user TEXT NOT NULL, channel TEXT NOT NULL, last_read_ts REAL NOT NULL);
                 CREATE TABLE dm_hidden (user TEXT NOT NULL, channel TEXT NOT NULL, hidden_ts REAL NOT NULL);
                 INSERT INTO messages VALUES (1, 'general', 'system', 'Welcome', NULL, NULL, 100, 0, NULL, 0, NULL, NULL, NULL, NULL);
                 INSERT INTO messages VALUES (2, 'general', 'alice', 'hi @bob', 'text', NULL, 101, 1, 105, 0, NULL, NULL, 107, '[\"Bob\"]');
                 INSERT INTO messages VALUES (3, 'general', 'Bob', 'secret', 'text', NULL, 102, 0, NULL, 1, 103, 2, NULL, '[\"alice\"]');
                 INSERT INTO messages VALUES (4, 'dm:Bob:alice', 'Bob', 'one', 'text', NULL, 110, 0, NULL, 0, NULL, NULL, NULL, NULL);
                 INSERT INTO messages VALUES (5, 'dm:alice:bob', 'alice', 'two', 'text', NULL, 111, 0, NULL, 0, NULL, 4, NULL, NULL);
                 INSERT INTO messages VALUES (6, 'private:3', 'alice', '', 'text', 'aa.png', 120, 0, NULL, 0, NULL, NULL, NULL, NULL);
                 INSERT INTO messages VALUES (7, 'private:3', 'Bob', '', 'text', 'bb_gone.txt', 121, 0, NULL, 1, 122, NULL, NULL, NULL);
                 INSERT INTO reactions VALUES (2, 'thumbsup', 'Bob'), (2, 'not_an_emoji', 'Bob'), (3, 'heart', 'alice');
                 INSERT INTO read_state VALUES ('alice', 'dm:Bob:alice', 110), ('alice', 'dm:alice:bob', 111), ('Bob', 'general', 101);
                 INSERT INTO dm_hidden VALUES ('alice', 'dm:Bob:alice', 115);",
            )
            .unwrap();
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    fn imported() -> (tempfile::TempDir, PathBuf, PathBuf, ImportReport) {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("py");
        let state = tmp.path().join("state");
        python_dir(&src);
        let report = import(&src, &state, &ImportOptions::default()).unwrap();
        (tmp, src, state, report)
    }

    #[test]
    fn accounts_keep_their_hashes_and_count_as_created_at_zero() {
        let (_tmp, _src, state, report) = imported();
        let conn = Connection::open(state.join("minimost.db")).unwrap();
        let (hash, created, color, avatar): (String, f64, String, String) = conn
            .query_row(
                "SELECT password_hash, created_ts, name_color, avatar FROM users WHERE username = 'alice'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(hash, "pbkdf2:sha256:1000$salt$00");
        assert_eq!(created, 0.0);
        assert_eq!(color, "#AbCdEf");
        assert_eq!(
            fs::read(state.join("avatars").join(avatar)).unwrap(),
            b"jpeg"
        );
        // The case duplicate and the reserved name stay out.
        assert_eq!(count(&conn, "SELECT count(*) FROM users"), 2);
        assert_eq!(report.counts.users, 2);
        assert_eq!(report.counts.password_history, 2);
        // Created the way `Store::open` creates a database, so retention can reclaim pages.
        assert_eq!(count(&conn, "PRAGMA auto_vacuum"), 2);
    }

    #[test]
    fn dms_differing_in_order_and_case_merge_into_one_canonical_channel() {
        let (_tmp, _src, state, _) = imported();
        let conn = Connection::open(state.join("minimost.db")).unwrap();
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM messages WHERE channel = 'dm:alice:Bob'"
            ),
            2
        );
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM messages WHERE channel LIKE 'dm:%'"
            ),
            2
        );
        // The watermark of the merged DM is the furthest of the two.
        let wm: f64 = conn
            .query_row(
                "SELECT last_read_ts FROM watermarks WHERE channel = 'dm:alice:Bob'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(wm, 111.0);
        // Only one of the two spellings was closed, so the merged DM is not hidden.
        assert_eq!(count(&conn, "SELECT count(*) FROM hidden_dms"), 0);
    }

    #[test]
    fn tombstones_lose_content_file_reactions_and_mentions() {
        let (_tmp, _src, state, report) = imported();
        let conn = Connection::open(state.join("minimost.db")).unwrap();
        let (content, reply, mentions, change): (Option<String>, Option<i64>, Option<String>, f64) =
            conn.query_row(
                "SELECT content, reply_to_id, mentions, change_ts FROM messages WHERE id = 3",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!((content, reply, mentions), (None, None, None));
        assert_eq!(change, 103.0);
        assert_eq!(
            count(&conn, "SELECT count(*) FROM reactions WHERE message_id = 3"),
            0
        );
        assert!(!state.join("uploads/bb_gone.txt").exists());
        assert_eq!(fs::read(state.join("uploads/aa.png")).unwrap(), b"png");
        assert_eq!(report.counts.uploads, 1);
        // Nothing of the deleted text reaches the search index.
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'secret'"
            ),
            0
        );
    }

    #[test]
    fn rows_keep_ids_types_mentions_and_change_time() {
        let (_tmp, _src, state, report) = imported();
        let conn = Connection::open(state.join("minimost.db")).unwrap();
        let (ct, sender): (String, String) = conn
            .query_row(
                "SELECT content_type, sender FROM messages WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((ct.as_str(), sender.as_str()), ("system", "system"));
        let (mentions, change, reply): (String, f64, Option<i64>) = conn
            .query_row(
                "SELECT mentions, change_ts, (SELECT reply_to_id FROM messages WHERE id = 5) FROM messages WHERE id = 2",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(mentions, r#"["Bob"]"#);
        assert_eq!(change, 107.0);
        assert_eq!(reply, Some(4));
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM message_mentions WHERE message_id = 2 AND name_key = 'bob'"
            ),
            1
        );
        // The unknown reaction name is dropped, the real one kept with the registered spelling.
        let reactor: String = conn
            .query_row(
                "SELECT username FROM reactions WHERE message_id = 2",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(reactor, "Bob");
        assert_eq!(report.counts.reactions, 1);
    }

    #[test]
    fn private_channels_keep_members_in_joining_order_without_ghosts() {
        let (_tmp, _src, state, report) = imported();
        let conn = Connection::open(state.join("minimost.db")).unwrap();
        let members: Vec<String> = conn
            .prepare(
                "SELECT u.username FROM private_members m JOIN users u ON u.id = m.user_id \
                 WHERE m.channel_id = 3 ORDER BY m.seq",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(members, ["Bob", "alice"]);
        assert_eq!(report.counts.private_members, 2);
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM messages WHERE channel = 'private:3'"
            ),
            2
        );
    }

    #[test]
    fn second_run_adds_nothing() {
        let (_tmp, src, state, _) = imported();
        let conn = Connection::open(state.join("minimost.db")).unwrap();
        let before = count(&conn, "SELECT count(*) FROM messages");
        let again = import(&src, &state, &ImportOptions::default()).unwrap();
        assert!(again.counts.is_empty(), "{:?}", again.counts);
        assert_eq!(count(&conn, "SELECT count(*) FROM messages"), before);
    }

    #[test]
    fn a_used_target_is_refused_without_merge_and_renumbered_with_it() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("py");
        let state = tmp.path().join("state");
        python_dir(&src);
        fs::create_dir_all(&state).unwrap();
        {
            let mut conn = Connection::open(state.join("minimost.db")).unwrap();
            migrations::apply(&mut conn).unwrap();
            conn.execute_batch(
                "INSERT INTO private_channels(id, name, created_by, created_ts) VALUES (3, 'mine', 'zed', 0);
                 INSERT INTO messages(id, channel, sender, content, ts, change_ts) VALUES (4, 'general', 'zed', 'x', 1, 1);",
            )
            .unwrap();
        }
        let refused = import(&src, &state, &ImportOptions::default());
        assert!(matches!(refused, Err(ImportError::NotEmpty(_))));
        let report = import(&src, &state, &ImportOptions { merge: true }).unwrap();
        assert_eq!(report.counts.messages, 7);
        let conn = Connection::open(state.join("minimost.db")).unwrap();
        // The imported private channel got a new id, and its rows moved with it.
        let new_id: i64 = conn
            .query_row(
                "SELECT id FROM private_channels WHERE name = 'Plans'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_ne!(new_id, 3);
        assert_eq!(
            count(
                &conn,
                &format!("SELECT count(*) FROM messages WHERE channel = 'private:{new_id}'")
            ),
            2
        );
        // The reply follows its target to its new id.
        let (reply, target): (i64, i64) = conn
            .query_row(
                "SELECT r.reply_to_id, t.id FROM messages r JOIN messages t ON t.content = 'one' WHERE r.content = 'two'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(reply, target);
    }

    #[test]
    fn per_user_layout_merges_the_copies_of_one_message() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("py");
        let state = tmp.path().join("state");
        python_dir(&src);
        fs::remove_file(src.join("users/messages.db")).unwrap();
        for (user, edited) in [("alice", 0), ("Bob", 1)] {
            let conn = Connection::open(src.join(format!("users/{user}.db"))).unwrap();
            conn.execute_batch(&format!(
                "CREATE TABLE messages (id INTEGER PRIMARY KEY, channel TEXT, sender TEXT, content TEXT,
                    filename TEXT, ts REAL, edited INTEGER, edited_ts REAL, deleted INTEGER, deleted_ts REAL);
                 INSERT INTO messages(channel, sender, content, ts, edited, edited_ts, deleted)
                    VALUES ('dm:Bob:alice', 'Bob', 'hello', 50, {edited}, {}, 0);",
                if edited == 1 { "60" } else { "NULL" }
            ))
            .unwrap();
        }
        let presence = Connection::open(src.join("presence.db")).unwrap();
        presence
            .execute_batch(
                "CREATE TABLE message_reactions (channel TEXT, msg_ts REAL, emoji TEXT, reactor TEXT);
                 INSERT INTO message_reactions VALUES ('dm:Bob:alice', 50, 'wave', 'alice');
                 CREATE TABLE read_receipts (channel TEXT, msg_ts REAL, reader TEXT);
                 INSERT INTO read_receipts VALUES ('dm:Bob:alice', 50, 'alice');",
            )
            .unwrap();
        let report = import(&src, &state, &ImportOptions::default()).unwrap();
        assert_eq!(report.counts.messages, 1);
        assert_eq!(report.counts.reactions, 1);
        let conn = Connection::open(state.join("minimost.db")).unwrap();
        let (channel, edited, content_type): (String, i64, String) = conn
            .query_row(
                "SELECT channel, edited, content_type FROM messages",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(channel, "dm:alice:Bob");
        assert_eq!(edited, 1, "the copy that changed last wins");
        assert_eq!(content_type, "text");
        assert_eq!(
            count(&conn, "SELECT count(*) FROM watermarks WHERE channel = 'dm:alice:Bob' AND last_read_ts = 50"),
            1
        );
    }

    #[test]
    fn settings_convert_known_keys_and_drop_unknown_ones() {
        let json = r#"{"channels": ["general", "random"], "max_upload_size_mb": 50,
            "lockout_duration_minutes": 7.5, "rate_limit_enabled": false,
            "legacy_theme": "dark", "rate_limits": {"login": [10, 60], "bogus": [1, 1]}}"#;
        let (toml_text, warnings) = settings_toml(json, "settings.json").unwrap();
        let (settings, unknown) = crate::system::config::Settings::parse(&toml_text, "t").unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        assert_eq!(settings.channels, ["general", "random"]);
        assert_eq!(settings.max_upload_size_mb, 50.0);
        assert_eq!(settings.lockout_duration_minutes, 7.5);
        assert!(!settings.rate_limit_enabled);
        assert_eq!(settings.limit("login").max, 10);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings.iter().any(|w| w.contains("legacy_theme")));
        assert!(warnings.iter().any(|w| w.contains("bogus")));
    }

    #[test]
    fn settings_that_are_not_an_object_are_an_error() {
        assert!(matches!(
            settings_toml("[1]", "s"),
            Err(ImportError::Settings(_))
        ));
        assert!(matches!(
            settings_toml("{", "s"),
            Err(ImportError::Settings(_))
        ));
    }

    #[test]
    fn a_directory_without_auth_db_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let result = import(
            tmp.path(),
            &tmp.path().join("state"),
            &ImportOptions::default(),
        );
        assert!(matches!(result, Err(ImportError::NotADataDir(_))));
    }
}
