//! The one timer pattern of the live state: sleep until the earliest deadline, do the work that
//! falls due, and sleep again; wake early when new state may have moved the deadline closer.
//!
//! Presence, typing and calls each implement [`Deadlines`]; none of them polls. A timer is
//! started lazily, at most once per owner, by the first request that creates timed state.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::Hub;
use crate::domain::time::now;

/// How long an idle timer sleeps when nothing is due; any new state wakes it sooner.
const IDLE_WAIT: Duration = Duration::from_secs(86_400);

/// Timed in-memory state.
pub trait Deadlines: Send + Sync + 'static {
    /// The next time (epoch seconds) at which [`Deadlines::expire`] has work, if any.
    fn next_deadline(&self) -> Option<f64>;
    /// Applies everything due at `now` and publishes what changed.
    fn expire(&self, now: f64, hub: &Hub);
}

/// The start-once flag and wake-up signal of one owner's timer.
#[derive(Default)]
pub struct Timer {
    started: AtomicBool,
    wake: Notify,
}

impl Timer {
    /// Tells a running timer that a deadline may have moved.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Starts (once) the timer of `owner`. `slack` is added past each deadline so the state is
    /// surely due when the timer fires, whatever the rounding of the sleep.
    pub fn ensure<T, F>(&self, owner: &Arc<T>, timer: F, hub: &Hub, slack: Duration)
    where
        T: Deadlines,
        F: Fn(&T) -> &Timer + Send + 'static,
    {
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let owner = owner.clone();
        let hub = hub.clone();
        tokio::spawn(async move {
            loop {
                let wait = match owner.next_deadline() {
                    Some(deadline) => Duration::from_secs_f64((deadline - now()).max(0.0)) + slack,
                    None => IDLE_WAIT,
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => owner.expire(now(), &hub),
                    _ = timer(&owner).wake.notified() => {}
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::change::Change;
    use std::sync::Mutex;

    #[derive(Default)]
    struct OneShot {
        due: Mutex<Option<f64>>,
        timer: Timer,
    }

    impl Deadlines for OneShot {
        fn next_deadline(&self) -> Option<f64> {
            *self.due.lock().unwrap()
        }
        fn expire(&self, now: f64, hub: &Hub) {
            let mut due = self.due.lock().unwrap();
            if due.is_some_and(|d| d <= now) {
                *due = None;
                hub.publish(vec![Change::Presence]);
            }
        }
    }

    #[tokio::test]
    async fn a_deadline_set_after_start_fires_once_after_a_wake() {
        let hub = Hub::new();
        let mut rx = hub.subscribe();
        let owner = Arc::new(OneShot::default());
        owner
            .timer
            .ensure(&owner, |o| &o.timer, &hub, Duration::from_millis(5));
        *owner.due.lock().unwrap() = Some(now() + 0.05);
        owner.timer.wake();
        let batch = tokio::time::timeout(Duration::from_secs(2), rx.recv())
            .await
            .expect("the timer fired")
            .unwrap();
        assert_eq!(batch.changes, vec![Change::Presence]);
        assert_eq!(owner.next_deadline(), None);
    }
}
