//! The in-memory hub: every committed batch of changes is published once, and each event
//! stream subscribes and filters what it may see.
//!
//! Batches are numbered. A stream that must recompute a value after batch `n` can reuse one
//! computed by another stream of the same user that started reading after `n` was published
//! (see [`crate::live::streams`]); the number is what makes that reuse safe.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::domain::change::Change;

/// Batches buffered per subscriber before a slow stream is told it lagged (it then re-reads
/// from its cursor, so nothing is lost).
const CAPACITY: usize = 1024;

/// One published batch: the changes of one commit (or one live-state update).
#[derive(Debug)]
pub struct Batch {
    pub seq: u64,
    pub changes: Vec<Change>,
}

#[derive(Clone)]
pub struct Hub {
    sender: broadcast::Sender<Arc<Batch>>,
    streams: Arc<AtomicUsize>,
    seq: Arc<AtomicU64>,
    // Numbering and sending happen under one lock so that batch numbers follow send order even
    // when presence or typing publish beside the writer thread.
    order: Arc<Mutex<()>>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl Hub {
    pub fn new() -> Hub {
        let (sender, _) = broadcast::channel(CAPACITY);
        Hub {
            sender,
            streams: Arc::new(AtomicUsize::new(0)),
            seq: Arc::new(AtomicU64::new(0)),
            order: Arc::new(Mutex::new(())),
        }
    }

    /// Publishes one committed batch. Called by the store's writer thread, in commit order.
    pub fn publish(&self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let _order = self
            .order
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        // An error only means nobody is listening.
        let _ = self.sender.send(Arc::new(Batch { seq, changes }));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Batch>> {
        self.sender.subscribe()
    }

    /// The number of the last batch published.
    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::SeqCst)
    }

    /// Counts an open event stream for as long as the returned guard lives.
    pub fn stream_opened(&self) -> StreamGuard {
        self.streams.fetch_add(1, Ordering::Relaxed);
        StreamGuard {
            streams: self.streams.clone(),
        }
    }

    pub fn open_streams(&self) -> usize {
        self.streams.load(Ordering::Relaxed)
    }
}

pub struct StreamGuard {
    streams: Arc<AtomicUsize>,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn published_batches_reach_every_subscriber_in_order() {
        let hub = Hub::new();
        let mut a = hub.subscribe();
        let mut b = hub.subscribe();
        hub.publish(vec![Change::Accounts]);
        hub.publish(vec![Change::Messages {
            channel: "general".into(),
            change_ts: 2.0,
        }]);
        for rx in [&mut a, &mut b] {
            let first = rx.recv().await.unwrap();
            assert_eq!(first.changes, vec![Change::Accounts]);
            let second = rx.recv().await.unwrap();
            assert!(matches!(second.changes[0], Change::Messages { .. }));
            assert_eq!(second.seq, first.seq + 1);
        }
        assert_eq!(hub.seq(), 2);
    }

    #[test]
    fn empty_batches_are_not_published() {
        let hub = Hub::new();
        hub.publish(Vec::new());
        assert_eq!(hub.seq(), 0);
    }

    #[test]
    fn stream_guard_counts_open_streams() {
        let hub = Hub::new();
        let guard = hub.stream_opened();
        assert_eq!(hub.open_streams(), 1);
        drop(guard);
        assert_eq!(hub.open_streams(), 0);
    }
}
