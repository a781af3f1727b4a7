//! A small pool of read-only connections. A query runs on tokio's blocking pool while holding
//! one connection; WAL lets readers run beside the writer without waiting for it.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::search::IdOrder;
use super::{Store, StoreError};

#[derive(Clone)]
pub struct Readers {
    idle: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
    /// How far id order is `(ts, id)` order, which lets search stop early (`store::search`).
    pub id_order: Arc<IdOrder>,
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
        let id_order = Arc::new(IdOrder::default());
        learn_id_order(path, id_order.clone());
        Ok(Readers {
            idle: Arc::new(Mutex::new(idle)),
            permits: Arc::new(Semaphore::new(count)),
            id_order,
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

/// Scans the message table once, on a thread and connection of its own, so that neither start
/// nor the first search waits for it (a million rows take a second or more here). Searches
/// sort every hit until it is done; if it fails they keep doing so, which is slower but exact.
fn learn_id_order(path: &Path, order: Arc<IdOrder>) {
    let path = path.to_path_buf();
    let spawned = std::thread::Builder::new()
        .name("store-id-order".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            let scanned = Store::open_read_only(&path).and_then(|conn| order.scan(&conn));
            if scanned.is_ok() {
                tracing::debug!(
                    millis = started.elapsed().as_millis() as u64,
                    "learned the message id order"
                );
            }
            if let Err(e) = scanned {
                tracing::warn!(error = %e, "cannot learn the message id order; searches sort every hit");
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the id-order scan; searches sort every hit");
    }
}
