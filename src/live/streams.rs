//! Book-keeping for open `/events` streams: the per-user cap (api.md §3) and a per-user cache
//! that coalesces recomputations, so that a burst of changes seen by several streams of one
//! user costs one query per value, not one per stream.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// What a cached value is: a user, an event name and (for channel-scoped events) a channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub user_id: i64,
    pub event: &'static str,
    pub channel: String,
}

/// A value and the hub sequence number that was current when its computation started.
type Cell = Arc<tokio::sync::Mutex<Option<(u64, Arc<str>)>>>;

#[derive(Default)]
pub struct Streams {
    open: Mutex<HashMap<i64, usize>>,
    cache: Mutex<HashMap<Key, Cell>>,
}

/// A held stream slot; dropping it frees the slot.
pub struct Slot {
    streams: Arc<Streams>,
    user_id: i64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().unwrap_or_else(|p| p.into_inner());
        let last = match open.get_mut(&self.user_id) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            _ => true,
        };
        if last {
            open.remove(&self.user_id);
            drop(open);
            // Nobody of this user is listening any more: their cached values would only age.
            let mut cache = self.streams.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache.retain(|key, _| key.user_id != self.user_id);
        }
    }
}

impl Streams {
    /// Takes a stream slot for `user_id`, or `None` when `cap` (if any) is reached.
    pub fn open(self: &Arc<Self>, user_id: i64, cap: Option<usize>) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(user_id).or_insert(0);
        if cap.is_some_and(|cap| *count >= cap) {
            return None;
        }
        *count += 1;
        Some(Slot {
            streams: self.clone(),
            user_id,
        })
    }

    /// Open streams of `user_id`.
    pub fn open_for(&self, user_id: i64) -> usize {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&user_id)
            .copied()
            .unwrap_or(0)
    }

    /// The value for `key`, reflecting at least hub batch `needed`: reused when a computation
    /// that started after batch `needed` was published already produced it, else computed now
    /// (`current` is the hub's sequence number as the computation starts). Concurrent callers
    /// for the same key wait for one computation.
    pub async fn value<E, F, Fut>(
        &self,
        key: Key,
        needed: u64,
        current: impl Fn() -> u64,
        compute: F,
    ) -> Result<Arc<str>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, E>>,
    {
        let cell = {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache.entry(key).or_default().clone()
        };
        let mut slot = cell.lock().await;
        if let Some((seq, value)) = slot.as_ref() {
            if *seq >= needed {
                return Ok(value.clone());
            }
        }
        let started = current();
        let value: Arc<str> = compute().await?.into();
        *slot = Some((started, value.clone()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn the_cap_refuses_one_more_and_a_closed_stream_frees_its_slot() {
        let streams = Arc::new(Streams::default());
        let a = streams.open(1, Some(2)).unwrap();
        let _b = streams.open(1, Some(2)).unwrap();
        assert!(streams.open(1, Some(2)).is_none());
        assert!(streams.open(2, Some(2)).is_some());
        drop(a);
        assert!(streams.open(1, Some(2)).is_some());
        assert!(streams.open(1, None).is_some());
    }

    #[tokio::test]
    async fn a_fresh_enough_value_is_computed_once() {
        let streams = Streams::default();
        let runs = AtomicUsize::new(0);
        let key = || Key {
            user_id: 1,
            event: "dms",
            channel: String::new(),
        };
        for _ in 0..3 {
            let value = streams
                .value(
                    key(),
                    5,
                    || 5,
                    || async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, ()>("[]".to_string())
                    },
                )
                .await
                .unwrap();
            assert_eq!(&*value, "[]");
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // A later batch makes the cached value stale.
        streams
            .value(
                key(),
                6,
                || 6,
                || async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, ()>("[1]".to_string())
                },
            )
            .await
            .unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}
