//! Presence (api.md §6.8) in memory: each user's reported state, optional override and
//! last-seen time. Nothing is written to disk; after a restart nobody is online until they
//! send a heartbeat.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};

use super::deadline::{Deadlines, Timer};
use super::Hub;
use crate::domain::change::Change;
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
    /// The last heartbeat proper (`POST /presence`, login, signup), which keeps calls and
    /// screen shares alive (api.md §6.9, §6.10); an override change is not one.
    heartbeat: Option<f64>,
}

#[derive(Default)]
pub struct Presence {
    entries: Mutex<HashMap<String, Entry>>,
    timer: Timer,
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
                heartbeat: None,
            });
        entry.name = name.to_string();
        entry.last_seen = at;
        update(entry);
    }

    /// Records a reported state (the override is kept) and sets last-seen to `at`.
    pub fn report(&self, name: &str, state: &'static str, at: f64) {
        self.touch(name, at, |e| {
            e.state = state;
            e.heartbeat = Some(at);
        });
        self.timer.wake();
    }

    /// The time of `name`'s last presence heartbeat, if one is remembered.
    pub fn last_heartbeat(&self, name: &str) -> Option<f64> {
        self.entries()
            .get(&username::fold(name))
            .and_then(|e| e.heartbeat)
    }

    /// Sets or clears the override; also sets last-seen.
    pub fn set_override(&self, name: &str, value: Option<&'static str>, at: f64) {
        self.touch(name, at, |e| e.override_state = value);
        self.timer.wake();
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

    /// Starts (once) the timer that pushes `online_users` when someone's window lapses.
    pub fn ensure_sweeper(self: &Arc<Self>, hub: &Hub) {
        // A little past the deadline so the entry is surely out of the window.
        self.timer
            .ensure(self, |p| &p.timer, hub, Duration::from_millis(50));
    }
}

impl Deadlines for Presence {
    fn next_deadline(&self) -> Option<f64> {
        self.entries()
            .values()
            .map(|e| e.last_seen + ONLINE_WINDOW_S)
            .min_by(|a, b| a.total_cmp(b))
    }

    fn expire(&self, now: f64, hub: &Hub) {
        if self.purge(now) {
            hub.publish(vec![Change::Presence]);
        }
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
