//! Numbered schema migrations, embedded at compile time and applied in order at start.
//! `PRAGMA user_version` records how many have been applied.

use rusqlite::Connection;

use super::StoreError;

/// The migrations, in order; entry N brings the schema from version N to N+1.
pub const MIGRATIONS: &[(&str, &str)] = &[("0001_init", include_str!("migrations/0001_init.sql"))];

/// The schema version this build expects.
pub fn latest() -> u32 {
    MIGRATIONS.len() as u32
}

/// Applies every migration above the database's version, each in its own transaction.
pub fn apply(conn: &mut Connection) -> Result<u32, StoreError> {
    apply_up_to(conn, latest())
}

/// Applies migrations up to `target` (tests use this to build every earlier version).
pub fn apply_up_to(conn: &mut Connection, target: u32) -> Result<u32, StoreError> {
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > latest() {
        return Err(StoreError::TooNew {
            found: current,
            supported: latest(),
        });
    }
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as u32 + 1;
        if version > target {
            break;
        }
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .map_err(|source| StoreError::Migration { name, source })?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(MIGRATION = name, "applied schema migration");
    }
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_earlier_version_upgrades_to_latest() {
        for start in 0..=latest() {
            let mut conn = Connection::open_in_memory().unwrap();
            apply_up_to(&mut conn, start).unwrap();
            assert_eq!(apply(&mut conn).unwrap(), latest(), "from version {start}");
            // The schema is usable: the search index is fed by its triggers.
            conn.execute(
                "INSERT INTO messages(channel, sender, content, ts, change_ts) VALUES ('general', 'a', 'Hello World', 1, 1)",
                [],
            )
            .unwrap();
            let hits: i64 = conn
                .query_row(
                    "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH '\"lo wo\"'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(hits, 1);
        }
    }

    #[test]
    fn applying_twice_changes_nothing() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        assert_eq!(apply(&mut conn).unwrap(), latest());
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", latest() + 1)
            .unwrap();
        assert!(matches!(apply(&mut conn), Err(StoreError::TooNew { .. })));
    }
}
