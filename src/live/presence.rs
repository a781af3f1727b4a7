//! Presence (api.md §6.8) in memory: each user's reported state, optional override and
//! last-seen time. Nothing is written to disk; after a restart nobody is online until they
//! send a heartbeat.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::Notify;

use super::Hub;
use crate::domain::change::Change;
use crate::domain::time::now;
use crate::domain::username;

/// A user leaves `online_users` this long after their last update.
pub const ONLINE_WINDOW_S: f64 = 3600.0;

/// The states `POST /presence` accepts.
pub fn parse_state(state: &str) -> Option<&'static str> {
    ["active", "idle", "hidden", "offline"]
        .into_iter()
        .find(|s| *s == state)
}

/// The overrides `POST /presence/override` sets (clearing is handled by the route).
pub fn parse_override(value: &str) -> Option<&'static str> {
    ["active", "idle", "offline"]
        .into_iter()
        .find(|s| *s == value)
}

struct Entry {
    name: String,
    state: &'static str,
    override_state: Option<&'static str>,
    last_seen: f64,
}

#[derive(Default)]
pub struct Presence {
    entries: Mutex<HashMap<String, Entry>>,
    wake: Notify,
    sweeping: AtomicBool,
}

impl Presence {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // The map holds plain values; a panic elsewhere cannot leave it half-updated.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn touch(&self, name: &str, at: f64, update: impl FnOnce(&mut Entry)) {
        let mut entries = self.entries();
        let entry = entries
            .entry(username::fold(name))
            .or_insert_with(|| Entry {
                name: name.to_string(),
                state: "offline",
                override_state: None,
                last_seen: at,
            });
        entry.name = name.to_string();
        entry.last_seen = at;
        update(entry);
    }

    /// Records a reported state (the override is kept) and sets last-seen to `at`.
    pub fn report(&self, name: &str, state: &'static str, at: f64) {
        self.touch(name, at, |e| e.state = state);
        self.wake.notify_one();
    }

    /// Sets or clears the override; also sets last-seen.
    pub fn set_override(&self, name: &str, value: Option<&'static str>, at: f64) {
        self.touch(name, at, |e| e.override_state = value);
        self.wake.notify_one();
    }

    pub fn override_of(&self, name: &str) -> Option<&'static str> {
        self.entries()
            .get(&username::fold(name))
            .and_then(|e| e.override_state)
    }

    /// Forgets a user (account deleted).
    pub fn forget(&self, name: &str) {
        self.entries().remove(&username::fold(name));
    }

    /// `GET /online_users` at time `at`.
    pub fn online(&self, at: f64) -> Value {
        let entries = self.entries();
        let mut map = Map::new();
        for entry in entries.values() {
            if at - entry.last_seen <= ONLINE_WINDOW_S {
                let state = entry.override_state.unwrap_or(entry.state);
                map.insert(entry.name.clone(), Value::String(state.to_string()));
            }
        }
        Value::Object(map)
    }

    /// Drops entries past the window; whether any went.
    fn purge(&self, at: f64) -> bool {
        let mut entries = self.entries();
        let before = entries.len();
        entries.retain(|_, e| at - e.last_seen <= ONLINE_WINDOW_S);
        entries.len() != before
    }

    fn next_deadline(&self) -> Option<f64> {
        self.entries()
            .values()
            .map(|e| e.last_seen + ONLINE_WINDOW_S)
            .min_by(|a, b| a.total_cmp(b))
    }

    /// Starts (once) the timer that pushes `online_users` when someone's window lapses.
    pub fn ensure_sweeper(self: &Arc<Self>, hub: &Hub) {
        if self.sweeping.swap(true, Ordering::SeqCst) {
            return;
        }
        let this = self.clone();
        let hub = hub.clone();
        tokio::spawn(async move {
            loop {
                let wait = match this.next_deadline() {
                    // A little past the deadline so the entry is surely out of the window.
                    Some(deadline) => Duration::from_secs_f64((deadline - now()).max(0.0) + 0.05),
                    None => Duration::from_secs(86_400),
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {
                        if this.purge(now()) {
                            hub.publish(vec![Change::Presence]);
                        }
                    }
                    _ = this.wake.notified() => {}
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_wins_over_reported_state() {
        let presence = Presence::default();
        presence.report("Alice", "idle", 100.0);
        assert_eq!(presence.online(100.0)["Alice"], "idle");
        presence.set_override("alice", Some("active"), 101.0);
        assert_eq!(presence.online(101.0)["alice"], "active");
        presence.set_override("alice", None, 102.0);
        assert_eq!(presence.online(102.0)["alice"], "idle");
    }

    #[test]
    fn override_without_presence_starts_offline() {
        let presence = Presence::default();
        presence.set_override("bob", None, 1.0);
        assert_eq!(presence.online(1.0)["bob"], "offline");
    }

    #[test]
    fn users_leave_after_the_window() {
        let presence = Presence::default();
        presence.report("carol", "active", 0.0);
        assert_eq!(
            presence.online(ONLINE_WINDOW_S).as_object().unwrap().len(),
            1
        );
        assert!(presence
            .online(ONLINE_WINDOW_S + 1.0)
            .as_object()
            .unwrap()
            .is_empty());
        assert!(presence.purge(ONLINE_WINDOW_S + 1.0));
        assert!(presence.next_deadline().is_none());
    }

    #[test]
    fn unknown_states_are_refused() {
        assert_eq!(parse_state("hidden"), Some("hidden"));
        assert_eq!(parse_state("away"), None);
        assert_eq!(parse_override("hidden"), None);
    }
}
