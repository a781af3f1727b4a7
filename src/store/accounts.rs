//! Accounts in SQLite: users, sessions, password history, reset tokens, profile fields and the
//! removal of an account (api.md §2, §6.1, §6.6, §11).
//!
//! Plain functions over a `&Connection`, so the writer's jobs and the readers call the same
//! SQL. Rules (policy, lockout arithmetic, who may do what) live in `crate::domain`; these only
//! read and write rows.

use rusqlite::{params, Connection, ErrorCode, OptionalExtension};
use serde_json::{json, Value};

use super::StoreError;
use crate::domain::username;

/// Absolute session lifetime (api.md §2.2): 30 days from creation, whatever the activity.
pub const SESSION_LIFETIME_SECS: f64 = 30.0 * 86_400.0;

/// The sender that replaces a softly deleted account's name (api.md §6.1.7).
pub const DELETED_USER: &str = "Deleted User";

/// One account row, as the account routes need it.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub password_set_ts: f64,
    pub created_ts: f64,
    pub failed_attempts: i64,
    pub lockout_until: Option<f64>,
    /// Locked by `minimostctl users lock` until unlocked.
    pub admin_locked: bool,
}

const USER_COLUMNS: &str = "id, username, password_hash, password_set_ts, created_ts, \
                            failed_attempts, lockout_until, admin_locked";

fn user_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        username: r.get(1)?,
        password_hash: r.get(2)?,
        password_set_ts: r.get(3)?,
        created_ts: r.get(4)?,
        failed_attempts: r.get(5)?,
        lockout_until: r.get(6)?,
        admin_locked: r.get::<_, i64>(7)? != 0,
    })
}

/// The account `name` names, compared case-insensitively (§6.1.4).
pub fn user_by_name(conn: &Connection, name: &str) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username_key = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([username::fold(name)], user_from_row)
        .optional()?)
}

pub fn user_by_id(conn: &Connection, id: i64) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], user_from_row)
        .optional()?)
}

/// Why an account could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The name is taken case-insensitively, possibly by a concurrent signup.
    #[error("user already exists")]
    Exists,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Inserts an account created at `now` with its first history entry; returns its id.
pub fn create_user(
    conn: &Connection,
    name: &str,
    hash: &str,
    now: f64,
) -> Result<i64, CreateError> {
    let inserted = conn.execute(
        "INSERT INTO users(username, username_key, password_hash, password_set_ts, created_ts) \
         VALUES (?1, ?2, ?3, ?4, ?4)",
        params![name, username::fold(name), hash, now],
    );
    match inserted {
        Ok(_) => {}
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::ConstraintViolation => {
            return Err(CreateError::Exists)
        }
        Err(e) => return Err(CreateError::Store(e.into())),
    }
    let id = conn.last_insert_rowid();
    append_history(conn, id, hash, now, 1)?;
    Ok(id)
}

/// Appends `hash` to the user's password history and keeps only the newest `keep` entries.
pub fn append_history(
    conn: &Connection,
    user_id: i64,
    hash: &str,
    now: f64,
    keep: usize,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO password_history(user_id, hash, set_ts) VALUES (?1, ?2, ?3)",
        params![user_id, hash, now],
    )?;
    let keep = i64::try_from(keep.max(1)).unwrap_or(i64::MAX);
    conn.execute(
        "DELETE FROM password_history WHERE user_id = ?1 AND id NOT IN \
         (SELECT id FROM password_history WHERE user_id = ?1 ORDER BY id DESC LIMIT ?2)",
        params![user_id, keep],
    )?;
    Ok(())
}

/// The newest `depth` history hashes of a user, newest first.
pub fn recent_hashes(
    conn: &Connection,
    user_id: i64,
    depth: usize,
) -> Result<Vec<String>, StoreError> {
    let depth = i64::try_from(depth).unwrap_or(i64::MAX);
    let mut statement = conn.prepare_cached(
        "SELECT hash FROM password_history WHERE user_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = statement.query_map(params![user_id, depth], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Sets a new password: hash, `password_set_ts`, history, and clears the lockout.
pub fn set_password(
    conn: &Connection,
    user_id: i64,
    hash: &str,
    now: f64,
    keep: usize,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE users SET password_hash = ?2, password_set_ts = ?3, failed_attempts = 0, \
         lockout_until = NULL WHERE id = ?1",
        params![user_id, hash, now],
    )?;
    append_history(conn, user_id, hash, now, keep)
}

/// Replaces the stored hash without touching its age or history: the re-hash of a legacy or
/// weaker hash after a successful login (§6.1.6). The history entry holding the old hash is
/// replaced as well, so the reuse check keeps working at the new strength.
pub fn upgrade_hash(
    conn: &Connection,
    user_id: i64,
    old: &str,
    new: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE users SET password_hash = ?2 WHERE id = ?1 AND password_hash = ?3",
        params![user_id, new, old],
    )?;
    conn.execute(
        "UPDATE password_history SET hash = ?2 WHERE user_id = ?1 AND hash = ?3",
        params![user_id, new, old],
    )?;
    Ok(())
}

/// Stores the outcome of a failed login for a known account.
pub fn store_failures(
    conn: &Connection,
    user_id: i64,
    failed_attempts: i64,
    lockout_until: Option<f64>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE users SET failed_attempts = ?2, lockout_until = ?3 WHERE id = ?1",
        params![user_id, failed_attempts, lockout_until],
    )?;
    Ok(())
}

/// Clears the failure counter and the lock after a correct password.
pub fn clear_failures(conn: &Connection, user_id: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE users SET failed_attempts = 0, lockout_until = NULL \
         WHERE id = ?1 AND (failed_attempts <> 0 OR lockout_until IS NOT NULL)",
        [user_id],
    )?;
    Ok(())
}

/// A live-or-not session as stored, joined with its user.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id_hash: String,
    pub user_id: i64,
    pub username: String,
    pub user_created_ts: f64,
    pub csrf_token: String,
    pub created_ts: f64,
    pub last_active_ts: f64,
}

impl Session {
    /// Whether the session has ended at `now`: past its absolute lifetime, or idle for longer
    /// than `idle_minutes` (a value ≤ 0 disables the idle limit).
    pub fn expired(&self, now: f64, idle_minutes: f64) -> bool {
        if now - self.created_ts > SESSION_LIFETIME_SECS {
            return true;
        }
        idle_minutes > 0.0 && now - self.last_active_ts > idle_minutes * 60.0
    }

    /// Seconds left in the absolute lifetime, for the cookie's `Max-Age`.
    pub fn seconds_left(&self, now: f64) -> i64 {
        (self.created_ts + SESSION_LIFETIME_SECS - now)
            .floor()
            .max(0.0) as i64
    }
}

pub fn session(conn: &Connection, id_hash: &str) -> Result<Option<Session>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT s.id_hash, s.user_id, u.username, u.created_ts, s.csrf_token, s.created_ts, \
             s.last_active_ts FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?1",
        )?
        .query_row([id_hash], |r| {
            Ok(Session {
                id_hash: r.get(0)?,
                user_id: r.get(1)?,
                username: r.get(2)?,
                user_created_ts: r.get(3)?,
                csrf_token: r.get(4)?,
                created_ts: r.get(5)?,
                last_active_ts: r.get(6)?,
            })
        })
        .optional()?)
}

pub fn insert_session(
    conn: &Connection,
    id_hash: &str,
    user_id: i64,
    csrf_token: &str,
    now: f64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO sessions(id_hash, user_id, csrf_token, created_ts, last_active_ts) \
         VALUES (?1, ?2, ?3, ?4, ?4)",
        params![id_hash, user_id, csrf_token, now],
    )?;
    Ok(())
}

/// Records activity; never moves the time backwards.
pub fn touch_session(conn: &Connection, id_hash: &str, now: f64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE sessions SET last_active_ts = ?2 WHERE id_hash = ?1 AND last_active_ts < ?2",
        params![id_hash, now],
    )?;
    Ok(())
}

/// Deletes one session; true when it existed.
pub fn delete_session(conn: &Connection, id_hash: &str) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM sessions WHERE id_hash = ?1", [id_hash])? > 0)
}

/// How many sessions `user_id` still has.
pub fn session_count(conn: &Connection, user_id: i64) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM sessions WHERE user_id = ?1",
        [user_id],
        |r| r.get(0),
    )?)
}

/// Deletes every session of a user except `keep`; returns the hashes deleted.
pub fn delete_user_sessions(
    conn: &Connection,
    user_id: i64,
    keep: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    let mut statement = conn.prepare_cached(
        "DELETE FROM sessions WHERE user_id = ?1 AND id_hash IS NOT ?2 RETURNING id_hash",
    )?;
    let rows = statement.query_map(params![user_id, keep], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Stores a reset token's digest for `user_id`, valid until `expires_ts`.
pub fn insert_reset_token(
    conn: &Connection,
    token_hash: &str,
    user_id: i64,
    now: f64,
    expires_ts: f64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO reset_tokens(token_hash, user_id, created_ts, expires_ts) \
         VALUES (?1, ?2, ?3, ?4)",
        params![token_hash, user_id, now, expires_ts],
    )?;
    Ok(())
}

/// The user a reset token is valid for at `now` (unused and `now <= expires`), if any.
pub fn reset_token_user(
    conn: &Connection,
    token_hash: &str,
    now: f64,
) -> Result<Option<User>, StoreError> {
    let user_id: Option<i64> = conn
        .prepare_cached(
            "SELECT user_id FROM reset_tokens WHERE token_hash = ?1 AND used = 0 AND ?2 <= expires_ts",
        )?
        .query_row(params![token_hash, now], |r| r.get(0))
        .optional()?;
    match user_id {
        Some(id) => user_by_id(conn, id),
        None => Ok(None),
    }
}

/// Marks every token of a user used (a successful reset consumes them all, §11).
pub fn use_all_tokens(conn: &Connection, user_id: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE reset_tokens SET used = 1 WHERE user_id = ?1",
        [user_id],
    )?;
    Ok(())
}

/// Every username except `except` (case-insensitively), in name order.
pub fn usernames_except(conn: &Connection, except: &str) -> Result<Vec<String>, StoreError> {
    let mut statement =
        conn.prepare_cached("SELECT username FROM users WHERE username_key <> ?1")?;
    let rows = statement.query_map([username::fold(except)], |r| r.get(0))?;
    let mut names: Vec<String> = rows.collect::<Result<_, _>>()?;
    username::sort_names(&mut names);
    Ok(names)
}

/// `(bio, name_color)` of a user.
pub fn profile(
    conn: &Connection,
    user_id: i64,
) -> Result<(Option<String>, Option<String>), StoreError> {
    Ok(conn
        .prepare_cached("SELECT bio, name_color FROM users WHERE id = ?1")?
        .query_row([user_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or((None, None)))
}

/// Changes the profile fields given: `Some(None)` clears one, `None` leaves it as it is.
pub fn update_profile(
    conn: &Connection,
    user_id: i64,
    bio: Option<Option<&str>>,
    name_color: Option<Option<&str>>,
) -> Result<(), StoreError> {
    if let Some(bio) = bio {
        conn.execute(
            "UPDATE users SET bio = ?2 WHERE id = ?1",
            params![user_id, bio],
        )?;
    }
    if let Some(color) = name_color {
        conn.execute(
            "UPDATE users SET name_color = ?2 WHERE id = ?1",
            params![user_id, color],
        )?;
    }
    Ok(())
}

/// `{username: "#rrggbb"}` for everyone who chose a colour.
pub fn user_colors(conn: &Connection) -> Result<Value, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT username, name_color FROM users WHERE name_color IS NOT NULL AND name_color <> ''",
    )?;
    let mut map = serde_json::Map::new();
    let rows = statement.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (name, color) = row?;
        map.insert(name, Value::String(color));
    }
    Ok(Value::Object(map))
}

/// The users who have an avatar, in name order.
pub fn users_with_avatars(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut statement = conn
        .prepare_cached("SELECT username FROM users WHERE avatar IS NOT NULL AND avatar <> ''")?;
    let rows = statement.query_map([], |r| r.get(0))?;
    let mut names: Vec<String> = rows.collect::<Result<_, _>>()?;
    username::sort_names(&mut names);
    Ok(names)
}

/// The avatar file name of the account `name` names, if it has one.
pub fn avatar_of(conn: &Connection, name: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT avatar FROM users WHERE username_key = ?1")?
        .query_row([username::fold(name)], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten()
        .filter(|a| !a.is_empty()))
}

/// Sets (or with `None` clears) a user's avatar; returns the previous file name.
pub fn replace_avatar(
    conn: &Connection,
    user_id: i64,
    file: Option<&str>,
) -> Result<Option<String>, StoreError> {
    let old: Option<String> = conn
        .prepare_cached("SELECT avatar FROM users WHERE id = ?1")?
        .query_row([user_id], |r| r.get(0))
        .optional()?
        .flatten();
    conn.execute(
        "UPDATE users SET avatar = ?2 WHERE id = ?1",
        params![user_id, file],
    )?;
    Ok(old.filter(|a| !a.is_empty()))
}

/// Seeds the user's watermark on each channel to `ts` (never moving one backwards).
pub fn seed_watermarks(
    conn: &Connection,
    user_id: i64,
    channels: &[String],
    ts: f64,
) -> Result<(), StoreError> {
    let mut statement = conn.prepare_cached(
        "INSERT INTO watermarks(user_id, channel, last_read_ts) VALUES (?1, ?2, ?3) \
         ON CONFLICT(user_id, channel) DO UPDATE SET last_read_ts = max(last_read_ts, excluded.last_read_ts)",
    )?;
    for channel in channels {
        statement.execute(params![user_id, channel, ts])?;
    }
    Ok(())
}

/// Writes one system notice (sender `system`, `content_type` 'system') at `ts`; returns its id.
/// Only the account flows use this (welcome, reset notice); the messaging code owns the rest.
pub fn insert_system_message(
    conn: &Connection,
    channel: &str,
    content: &str,
    ts: f64,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO messages(channel, sender, content, content_type, ts, change_ts) \
         VALUES (?1, 'system', ?2, 'system', ?3, ?3)",
        params![channel, content, ts],
    )?;
    Ok(conn.last_insert_rowid())
}

/// What removing an account left for the caller to do outside the transaction.
#[derive(Debug, Default, PartialEq)]
pub struct Removal {
    /// Sessions deleted, to be revoked on open streams.
    pub sessions: Vec<String>,
    /// Upload file names (under `uploads/`) of hard-deleted rows.
    pub uploads: Vec<String>,
    /// The avatar file name, if the account had one.
    pub avatar: Option<String>,
    /// Per channel, the hard-deleted rows as tombstones (api.md §5.3).
    pub tombstones: Vec<(String, Vec<Value>)>,
    /// Channels whose rows changed sender (soft delete).
    pub renamed_in: Vec<String>,
}

/// Removes an account (api.md §6.1.7). `hard` deletes the user's messages (their pins,
/// reactions and mentions go by cascade, search entries by trigger) and the user's reactions;
/// soft renames the sender to [`DELETED_USER`]. Either way the account row goes, and with it
/// (by cascade) sessions, history, tokens, watermarks, hidden-DM marks and memberships.
/// `now` is the change-clock value for soft-renamed rows.
pub fn remove_account(
    conn: &Connection,
    user: &User,
    hard: bool,
    now: f64,
) -> Result<Removal, StoreError> {
    let mut removal = Removal {
        sessions: delete_user_sessions(conn, user.id, None)?,
        ..Removal::default()
    };
    if hard {
        let mut statement = conn.prepare(
            "SELECT id, channel, sender, content_type, ts, edited, edited_ts, deleted_ts, \
             reactions_ts, filename FROM messages WHERE sender = ?1 ORDER BY channel, ts, id",
        )?;
        let rows = statement.query_map([&user.username], |r| {
            let channel: String = r.get(1)?;
            let tombstone = json!({
                "id": r.get::<_, i64>(0)?,
                "channel": channel,
                "sender": r.get::<_, String>(2)?,
                "content": Value::Null,
                "content_type": r.get::<_, String>(3)?,
                "filename": Value::Null,
                "ts": r.get::<_, f64>(4)?,
                "edited": r.get::<_, i64>(5)?,
                "edited_ts": r.get::<_, Option<f64>>(6)?,
                "deleted": 1,
                "deleted_ts": r.get::<_, Option<f64>>(7)?.unwrap_or(now),
                "reply_to_id": Value::Null,
                "reactions_ts": r.get::<_, Option<f64>>(8)?,
                "mentions": Value::Null,
                "reactions": Value::Null,
            });
            Ok((channel, tombstone, r.get::<_, Option<String>>(9)?))
        })?;
        for row in rows {
            let (channel, tombstone, filename) = row?;
            if let Some(file) = filename.filter(|f| !f.is_empty()) {
                removal.uploads.push(file);
            }
            match removal.tombstones.last_mut() {
                Some((last, list)) if *last == channel => list.push(tombstone),
                _ => removal.tombstones.push((channel, vec![tombstone])),
            }
        }
        drop(statement);
        conn.execute("DELETE FROM messages WHERE sender = ?1", [&user.username])?;
        // Reactions of the user on other people's rows: touch those rows' reaction time so
        // cursors carry the change.
        let mut touched = conn.prepare(
            "SELECT DISTINCT m.channel FROM reactions r JOIN messages m ON m.id = r.message_id \
             WHERE r.username_key = ?1",
        )?;
        let channels: Vec<String> = touched
            .query_map([username::fold(&user.username)], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        drop(touched);
        conn.execute(
            "UPDATE messages SET reactions_ts = ?2, change_ts = max(change_ts, ?2) WHERE id IN \
             (SELECT message_id FROM reactions WHERE username_key = ?1)",
            params![username::fold(&user.username), now],
        )?;
        conn.execute(
            "DELETE FROM reactions WHERE username_key = ?1",
            [username::fold(&user.username)],
        )?;
        removal.renamed_in = channels;
    } else {
        let mut statement =
            conn.prepare("SELECT DISTINCT channel FROM messages WHERE sender = ?1")?;
        removal.renamed_in = statement
            .query_map([&user.username], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        drop(statement);
        conn.execute(
            "UPDATE messages SET sender = ?2, change_ts = max(change_ts, ?3) WHERE sender = ?1",
            params![user.username, DELETED_USER, now],
        )?;
    }
    removal.avatar = replace_avatar(conn, user.id, None)?;
    conn.execute("DELETE FROM users WHERE id = ?1", [user.id])?;
    Ok(removal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        crate::store::migrations::apply(&mut conn).unwrap();
        conn
    }

    #[test]
    fn names_are_unique_case_insensitively() {
        let conn = db();
        create_user(&conn, "Alice", "h", 1.0).unwrap();
        assert!(matches!(
            create_user(&conn, "aLICE", "h", 2.0),
            Err(CreateError::Exists)
        ));
        let found = user_by_name(&conn, "ALICE").unwrap().unwrap();
        assert_eq!(found.username, "Alice");
    }

    #[test]
    fn history_keeps_only_the_newest_entries() {
        let conn = db();
        let id = create_user(&conn, "a", "h0", 1.0).unwrap();
        for (i, hash) in ["h1", "h2", "h3"].iter().enumerate() {
            set_password(&conn, id, hash, 2.0 + i as f64, 2).unwrap();
        }
        assert_eq!(recent_hashes(&conn, id, 10).unwrap(), vec!["h3", "h2"]);
        assert_eq!(user_by_id(&conn, id).unwrap().unwrap().password_hash, "h3");
    }

    #[test]
    fn deleting_other_sessions_keeps_the_current_one() {
        let conn = db();
        let id = create_user(&conn, "a", "h", 1.0).unwrap();
        for s in ["s1", "s2", "s3"] {
            insert_session(&conn, s, id, "csrf", 1.0).unwrap();
        }
        let mut gone = delete_user_sessions(&conn, id, Some("s2")).unwrap();
        gone.sort();
        assert_eq!(gone, vec!["s1", "s3"]);
        assert!(session(&conn, "s2").unwrap().is_some());
        assert!(session(&conn, "s1").unwrap().is_none());
    }

    #[test]
    fn session_expires_when_idle_or_too_old() {
        let s = Session {
            id_hash: String::new(),
            user_id: 1,
            username: "a".into(),
            user_created_ts: 0.0,
            csrf_token: String::new(),
            created_ts: 1000.0,
            last_active_ts: 1000.0,
        };
        assert!(!s.expired(1000.0 + 59.0, 1.0));
        assert!(s.expired(1000.0 + 61.0, 1.0));
        assert!(!s.expired(1000.0 + 86_400.0, 0.0));
        assert!(s.expired(1000.0 + SESSION_LIFETIME_SECS + 1.0, 0.0));
    }

    #[test]
    fn reset_token_is_valid_until_used_or_expired() {
        let conn = db();
        let id = create_user(&conn, "a", "h", 1.0).unwrap();
        insert_reset_token(&conn, "t", id, 10.0, 20.0).unwrap();
        assert!(reset_token_user(&conn, "t", 20.0).unwrap().is_some());
        assert!(reset_token_user(&conn, "t", 20.5).unwrap().is_none());
        use_all_tokens(&conn, id).unwrap();
        assert!(reset_token_user(&conn, "t", 15.0).unwrap().is_none());
    }

    #[test]
    fn hard_removal_returns_tombstones_and_files() {
        let conn = db();
        let id = create_user(&conn, "bob", "h", 1.0).unwrap();
        conn.execute(
            "INSERT INTO messages(channel, sender, content, filename, ts, change_ts) VALUES \
             ('general', 'bob', 'hi', NULL, 2, 2), ('general', 'bob', '', 'f.png', 3, 3), \
             ('general', 'carol', 'yo', NULL, 4, 4)",
            [],
        )
        .unwrap();
        insert_session(&conn, "s", id, "c", 1.0).unwrap();
        let user = user_by_id(&conn, id).unwrap().unwrap();
        let removal = remove_account(&conn, &user, true, 9.0).unwrap();
        assert_eq!(removal.sessions, vec!["s"]);
        assert_eq!(removal.uploads, vec!["f.png"]);
        assert_eq!(removal.tombstones.len(), 1);
        assert_eq!(removal.tombstones[0].1.len(), 2);
        assert_eq!(removal.tombstones[0].1[0]["content"], Value::Null);
        let left: i64 = conn
            .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 1);
        assert!(user_by_name(&conn, "bob").unwrap().is_none());
    }

    #[test]
    fn soft_removal_renames_the_sender() {
        let conn = db();
        let id = create_user(&conn, "bob", "h", 1.0).unwrap();
        conn.execute(
            "INSERT INTO messages(channel, sender, content, ts, change_ts) VALUES ('general', 'bob', 'hi', 2, 2)",
            [],
        )
        .unwrap();
        let user = user_by_id(&conn, id).unwrap().unwrap();
        let removal = remove_account(&conn, &user, false, 9.0).unwrap();
        assert_eq!(removal.renamed_in, vec!["general"]);
        let (sender, change): (String, f64) = conn
            .query_row("SELECT sender, change_ts FROM messages", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(sender, DELETED_USER);
        assert_eq!(change, 9.0);
    }
}

/// One line of `minimostctl users list`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Listed {
    pub username: String,
    pub created_ts: f64,
    pub admin_locked: bool,
    pub lockout_until: Option<f64>,
    pub sessions: i64,
    pub last_active_ts: Option<f64>,
}

/// Every account in name order, with its lock state and sessions.
pub fn list_users(conn: &Connection) -> Result<Vec<Listed>, StoreError> {
    let mut statement = conn.prepare(
        "SELECT u.username, u.created_ts, u.admin_locked, u.lockout_until, count(s.id_hash), \
         max(s.last_active_ts) FROM users u LEFT JOIN sessions s ON s.user_id = u.id \
         GROUP BY u.id ORDER BY u.username_key, u.username",
    )?;
    let rows = statement.query_map([], |r| {
        Ok(Listed {
            username: r.get(0)?,
            created_ts: r.get(1)?,
            admin_locked: r.get::<_, i64>(2)? != 0,
            lockout_until: r.get(3)?,
            sessions: r.get(4)?,
            last_active_ts: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Sets or clears the administrator's lock; unlocking also clears a login lockout.
pub fn set_admin_lock(conn: &Connection, user_id: i64, locked: bool) -> Result<(), StoreError> {
    if locked {
        conn.execute("UPDATE users SET admin_locked = 1 WHERE id = ?1", [user_id])?;
    } else {
        conn.execute(
            "UPDATE users SET admin_locked = 0, failed_attempts = 0, lockout_until = NULL WHERE id = ?1",
            [user_id],
        )?;
    }
    Ok(())
}
