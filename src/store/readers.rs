//! A small pool of read-only connections. A query runs on tokio's blocking pool while holding
//! one connection; WAL lets readers run beside the writer without waiting for it.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::{Store, StoreError};

#[derive(Clone)]
pub struct Readers {
    idle: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
}

impl Readers {
    pub fn open(path: &Path, count: usize) -> Result<Readers, StoreError> {
        let mut idle = Vec::with_capacity(count);
        for _ in 0..count {
            let conn = Store::open_read_only(path)?;
            // Statements are prepared per query through prepare_cached; keep enough of them.
            conn.set_prepared_statement_cache_capacity(64);
            idle.push(conn);
        }
        Ok(Readers {
            idle: Arc::new(Mutex::new(idle)),
            permits: Arc::new(Semaphore::new(count)),
        })
    }

    /// Runs `query` on a pooled connection off the async workers.
    pub async fn read<R, F>(&self, query: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let idle = self.idle.clone();
        tokio::task::spawn_blocking(move || {
            let conn = idle
                .lock()
                .map_err(|_| StoreError::Closed)?
                .pop()
                .ok_or(StoreError::Closed)?;
            let result = query(&conn);
            if let Ok(mut idle) = idle.lock() {
                idle.push(conn);
            }
            drop(permit);
            result
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}
