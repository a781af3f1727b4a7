//! In-memory sliding-window rate limits (api.md §3).
//!
//! One window per (bucket, identity). A hit is allowed when fewer than `max` hits were allowed
//! in the last `window` seconds; allowed hits are recorded and refused ones are not, so a client
//! that keeps hammering does not push its own retry time further out. Windows hold at most
//! `max` timestamps each, and [`RateLimiter::prune`] drops the ones that have emptied, so memory
//! follows the number of recently active identities rather than history.

use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Mutex, PoisonError};

use crate::domain::username;

/// A refusal: how long to wait, for the `Retry-After` header and the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter {
    pub seconds: u64,
}

impl RetryAfter {
    /// The error text of §3 ("second" when N = 1).
    pub fn message(&self) -> String {
        let unit = if self.seconds == 1 {
            "second"
        } else {
            "seconds"
        };
        format!(
            "You're doing that too quickly. Please wait {} {unit} and try again.",
            self.seconds
        )
    }
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for RetryAfter {}

/// The allowed hits of one (bucket, identity), oldest first.
#[derive(Debug)]
struct Window {
    /// The window length last used with this key, so `prune` knows what has expired.
    span: f64,
    hits: VecDeque<f64>,
}

impl Window {
    /// Forgets hits that are no longer within the last `span` seconds.
    fn expire(&mut self, now: f64) {
        // A hit is kept only while strictly younger than the window; with a NaN window nothing
        // compares as younger, so nothing is kept (the limit is then effectively off).
        while self
            .hits
            .front()
            .is_some_and(|&t| (now - t).partial_cmp(&self.span) != Some(Ordering::Less))
        {
            self.hits.pop_front();
        }
    }
}

/// Sliding-window limiter shared by all requests (wrap it in an `Arc`).
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<(String, String), Window>>,
}

impl RateLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one hit of `identity` against `bucket`, allowing at most `max` hits per
    /// `window_s` seconds. On refusal nothing is recorded and the wait is
    /// N = max(1, ⌊window − (now − oldest)⌋ + 1).
    ///
    /// Identities are compared ignoring ASCII case: usernames are case-insensitive, and for IP
    /// addresses (the other identity) the textual case carries no meaning either.
    pub fn check(
        &self,
        bucket: &str,
        identity: &str,
        max: u32,
        window_s: f64,
        now: f64,
    ) -> Result<(), RetryAfter> {
        if max == 0 {
            // Nothing is ever allowed, so there is no window to keep: wait a full window.
            return Err(retry_after(window_s, 0.0));
        }
        let key = (bucket.to_owned(), username::fold(identity));
        // A panic elsewhere while holding the lock leaves at worst a stale timestamp list,
        // which is no reason to stop rate limiting (or serving) altogether.
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let window = windows.entry(key).or_insert_with(|| Window {
            span: window_s,
            hits: VecDeque::new(),
        });
        window.span = window_s;
        window.expire(now);
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        if window.hits.len() < max {
            window.hits.push_back(now);
            return Ok(());
        }
        // Normally the oldest hit decides. If `max` was lowered by a reload, more hits than
        // `max` can still be in the window, and the one whose expiry brings the count below
        // `max` decides instead.
        let deciding = window
            .hits
            .len()
            .checked_sub(max)
            .and_then(|i| window.hits.get(i))
            .copied()
            .unwrap_or(now);
        // A wall clock stepped backwards could put hits in the future; count them as new
        // rather than promising a wait longer than the window.
        Err(retry_after(window_s, (now - deciding).max(0.0)))
    }

    /// Drops expired hits everywhere and forgets windows that have emptied. Call it
    /// periodically (every minute or so) to bound memory.
    pub fn prune(&self, now: f64) {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        windows.retain(|_, window| {
            window.expire(now);
            !window.hits.is_empty()
        });
    }

    /// How many (bucket, identity) windows are held, for diagnostics and tests.
    pub fn tracked(&self) -> usize {
        self.windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// N = max(1, ⌊window − elapsed⌋ + 1), where `elapsed` is the age of the deciding hit.
fn retry_after(window_s: f64, elapsed: f64) -> RetryAfter {
    let seconds = ((window_s - elapsed).floor() + 1.0).max(1.0);
    // `as` saturates (NaN becomes 0), so an absurd window cannot wrap around.
    RetryAfter {
        seconds: (seconds as u64).max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_max_hits_then_refuses() {
        let rl = RateLimiter::new();
        for i in 0..3 {
            assert_eq!(
                rl.check("login", "10.0.0.1", 3, 60.0, 100.0 + f64::from(i)),
                Ok(())
            );
        }
        assert!(rl.check("login", "10.0.0.1", 3, 60.0, 103.0).is_err());
    }

    #[test]
    fn retry_after_follows_the_formula() {
        let rl = RateLimiter::new();
        assert_eq!(rl.check("b", "u", 1, 60.0, 1000.0), Ok(()));
        // ⌊60 − 0⌋ + 1 = 61 right after the hit.
        assert_eq!(
            rl.check("b", "u", 1, 60.0, 1000.0),
            Err(RetryAfter { seconds: 61 })
        );
        // ⌊60 − 10.5⌋ + 1 = 50.
        assert_eq!(
            rl.check("b", "u", 1, 60.0, 1010.5),
            Err(RetryAfter { seconds: 50 })
        );
        // ⌊60 − 59.5⌋ + 1 = 1.
        assert_eq!(
            rl.check("b", "u", 1, 60.0, 1059.5),
            Err(RetryAfter { seconds: 1 })
        );
    }

    #[test]
    fn hit_exactly_one_window_old_has_expired() {
        let rl = RateLimiter::new();
        assert_eq!(rl.check("b", "u", 1, 60.0, 1000.0), Ok(()));
        assert!(rl.check("b", "u", 1, 60.0, 1059.999).is_err());
        assert_eq!(rl.check("b", "u", 1, 60.0, 1060.0), Ok(()));
    }

    #[test]
    fn refused_hits_are_not_recorded() {
        let rl = RateLimiter::new();
        assert_eq!(rl.check("b", "u", 2, 10.0, 0.0), Ok(()));
        assert_eq!(rl.check("b", "u", 2, 10.0, 5.0), Ok(()));
        // Hammering while refused must not extend the wait.
        for t in 6..10 {
            assert!(rl.check("b", "u", 2, 10.0, f64::from(t)).is_err());
        }
        // The hit at 0 expired: one slot is free again, and the refused ones left no trace.
        assert_eq!(rl.check("b", "u", 2, 10.0, 10.0), Ok(()));
        assert_eq!(
            rl.check("b", "u", 2, 10.0, 11.0),
            Err(RetryAfter { seconds: 5 })
        );
    }

    #[test]
    fn sliding_window_frees_slots_one_by_one() {
        let rl = RateLimiter::new();
        for t in [0.0, 20.0, 40.0] {
            assert_eq!(rl.check("b", "u", 3, 60.0, t), Ok(()));
        }
        assert!(rl.check("b", "u", 3, 60.0, 59.0).is_err());
        assert_eq!(rl.check("b", "u", 3, 60.0, 60.0), Ok(()));
        assert!(rl.check("b", "u", 3, 60.0, 61.0).is_err());
        assert_eq!(rl.check("b", "u", 3, 60.0, 80.0), Ok(()));
    }

    #[test]
    fn user_identity_is_case_insensitive() {
        let rl = RateLimiter::new();
        assert_eq!(rl.check("send", "Alice", 1, 60.0, 0.0), Ok(()));
        assert!(rl.check("send", "aLICE", 1, 60.0, 1.0).is_err());
        assert_eq!(rl.check("send", "bob", 1, 60.0, 1.0), Ok(()));
    }

    #[test]
    fn buckets_are_separate_windows() {
        let rl = RateLimiter::new();
        assert_eq!(rl.check("password_reset", "alice", 1, 60.0, 0.0), Ok(()));
        assert_eq!(rl.check("avatar", "alice", 1, 60.0, 0.0), Ok(()));
        assert!(rl.check("password_reset", "alice", 1, 60.0, 0.0).is_err());
    }

    #[test]
    fn zero_max_refuses_everything_for_a_full_window() {
        let rl = RateLimiter::new();
        assert_eq!(
            rl.check("b", "u", 0, 30.0, 0.0),
            Err(RetryAfter { seconds: 31 })
        );
        assert_eq!(rl.tracked(), 0);
    }

    #[test]
    fn lowered_max_waits_for_enough_hits_to_expire() {
        let rl = RateLimiter::new();
        for t in [0.0, 10.0, 20.0] {
            assert_eq!(rl.check("b", "u", 3, 60.0, t), Ok(()));
        }
        // With max now 2, two hits must expire; the one at 10 decides: ⌊60 − 15⌋ + 1 = 46.
        assert_eq!(
            rl.check("b", "u", 2, 60.0, 25.0),
            Err(RetryAfter { seconds: 46 })
        );
    }

    #[test]
    fn clock_stepping_back_never_asks_more_than_a_window() {
        let rl = RateLimiter::new();
        assert_eq!(rl.check("b", "u", 1, 60.0, 1000.0), Ok(()));
        assert_eq!(
            rl.check("b", "u", 1, 60.0, 900.0),
            Err(RetryAfter { seconds: 61 })
        );
    }

    #[test]
    fn prune_forgets_emptied_windows_only() {
        let rl = RateLimiter::new();
        assert_eq!(rl.check("login", "1.1.1.1", 5, 60.0, 0.0), Ok(()));
        assert_eq!(rl.check("signup", "1.1.1.1", 5, 3600.0, 0.0), Ok(()));
        assert_eq!(rl.tracked(), 2);
        rl.prune(30.0);
        assert_eq!(rl.tracked(), 2);
        rl.prune(61.0);
        assert_eq!(rl.tracked(), 1);
        rl.prune(3600.0);
        assert_eq!(rl.tracked(), 0);
    }

    #[test]
    fn message_pluralises_seconds() {
        assert_eq!(
            RetryAfter { seconds: 1 }.message(),
            "You're doing that too quickly. Please wait 1 second and try again."
        );
        assert_eq!(
            RetryAfter { seconds: 42 }.to_string(),
            "You're doing that too quickly. Please wait 42 seconds and try again."
        );
    }
}
