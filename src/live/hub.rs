//! The in-memory hub: every committed batch of changes is published once, and each event
//! stream subscribes and filters what it may see.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::broadcast;

use crate::domain::change::Change;

/// Batches buffered per subscriber before a slow stream is told it lagged (it then re-reads
/// from its cursor, so nothing is lost).
const CAPACITY: usize = 1024;

#[derive(Clone)]
pub struct Hub {
    sender: broadcast::Sender<Arc<Vec<Change>>>,
    streams: Arc<AtomicUsize>,
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
        }
    }

    /// Publishes one committed batch. Called by the store's writer thread, in commit order.
    pub fn publish(&self, changes: Vec<Change>) {
        // An error only means nobody is listening.
        let _ = self.sender.send(Arc::new(changes));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Vec<Change>>> {
        self.sender.subscribe()
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
            assert_eq!(*rx.recv().await.unwrap(), vec![Change::Accounts]);
            assert!(matches!(
                rx.recv().await.unwrap()[0],
                Change::Messages { .. }
            ));
        }
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
