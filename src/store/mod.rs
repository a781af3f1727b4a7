//! Durable state in SQLite (WAL): one writer thread ([`writer`]) and a small pool of read-only
//! connections ([`readers`]). Async code reaches SQLite only through these two doors, so it
//! never blocks a runtime worker on the database.

pub mod accounts;
pub mod channels;
pub mod import_python;
pub mod messages;
pub mod migrations;
pub mod readers;
pub mod search;
pub mod writer;

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags};

pub use readers::Readers;
pub use writer::{PublishSink, WriteCtx, Writer};

use crate::domain::clock::ChangeClock;

/// Errors at the storage edge. Route handlers map them to a 500 with a request id; the detail
/// goes to the journal only.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration {name} failed: {source}")]
    Migration {
        name: &'static str,
        source: rusqlite::Error,
    },
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    TooNew { found: u32, supported: u32 },
    #[error("commit failed: {0}")]
    Commit(String),
    #[error("the store is shut down")]
    Closed,
    #[error("cannot start the writer thread: {0}")]
    Thread(std::io::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A rule refused the write inside the transaction; carries the caller's own error text.
    #[error("{0}")]
    Rejected(String),
}

/// How durable commits are. `Full` (the default) fsyncs the WAL at every commit; `Normal` is
/// for benchmarks that want to see the cost of the fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Full,
    Normal,
}

/// The opened store: the writer handle, the readers and the thread to join at shutdown.
pub struct Store {
    pub writer: Writer,
    pub readers: Readers,
    pub path: PathBuf,
    writer_thread: Option<JoinHandle<()>>,
}

/// Read connections in the pool: enough for both cores to query while a stream snapshot runs.
const READERS: usize = 4;

fn configure(conn: &Connection, durability: Durability) -> Result<(), StoreError> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(
        None,
        "synchronous",
        match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        },
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

impl Store {
    /// Opens (creating if needed) `<dir>/minimost.db`, migrates it and starts the writer.
    pub fn open(
        dir: &Path,
        durability: Durability,
        sink: PublishSink,
    ) -> Result<Store, StoreError> {
        let path = dir.join("minimost.db");
        let mut conn = Connection::open(&path)?;
        // Retention gives freed pages back with `PRAGMA incremental_vacuum`, which needs this
        // mode; it can only be chosen before the first table exists and before WAL is on.
        let version: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == 0 {
            conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        }
        configure(&conn, durability)?;
        migrations::apply(&mut conn)?;
        let mut clock = ChangeClock::default();
        let last: Option<f64> =
            conn.query_row("SELECT max(change_ts) FROM messages", [], |r| r.get(0))?;
        if let Some(last) = last {
            clock.observe(last);
        }
        let readers = Readers::open(&path, READERS)?;
        let (writer, thread) = Writer::start(conn, clock, sink)?;
        Ok(Store {
            writer,
            readers,
            path,
            writer_thread: Some(thread),
        })
    }

    /// Opens a read-only connection outside the pool (admin tools, tests).
    pub fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(conn)
    }

    /// Stops the writer after it has committed everything queued before this call, and waits
    /// for it. Writes queued later (by a request still running) are answered `Closed`.
    pub fn close(mut self) {
        self.writer.stop();
        if let Some(thread) = self.writer_thread.take() {
            if thread.join().is_err() {
                tracing::error!("store writer thread panicked");
            }
        }
    }
}

/// Size of the database file plus its WAL, in bytes.
pub fn disk_size(path: &Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    [path.to_path_buf(), PathBuf::from(wal)]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_store_can_return_freed_pages() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Durability::Full, std::sync::Arc::new(|_| {})).unwrap();
        let conn = Store::open_read_only(&store.path).unwrap();
        let mode: i64 = conn
            .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
            .unwrap();
        let journal: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            (mode, journal.as_str()),
            (2, "wal"),
            "auto_vacuum must be INCREMENTAL"
        );
        store.close();
    }
}
