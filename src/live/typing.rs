//! Who is typing where (api.md §6.8), in memory. A user counts as typing for 5 s after their
//! last `POST /typing`; a timer pushes the `typing` event again when someone lapses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::deadline::{Deadlines, Timer};
use super::Hub;
use crate::domain::change::Change;
use crate::domain::channel::same_name;
use crate::domain::username;

pub const TYPING_S: f64 = 5.0;

#[derive(Default)]
pub struct Typing {
    /// channel → (name, typing until)
    channels: Mutex<HashMap<String, Vec<(String, f64)>>>,
    timer: Timer,
}

impl Typing {
    fn channels(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<(String, f64)>>> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks `name` as typing in `channel` until `at + 5 s`. Returns whether the set of people
    /// typing changed (so the event is pushed only then).
    pub fn start(&self, channel: &str, name: &str, at: f64) -> bool {
        let mut channels = self.channels();
        let typers = channels.entry(channel.to_string()).or_default();
        let until = at + TYPING_S;
        let changed = match typers.iter_mut().find(|(n, _)| same_name(n, name)) {
            Some(entry) => {
                let lapsed = entry.1 <= at;
                entry.1 = until;
                lapsed
            }
            None => {
                typers.push((name.to_string(), until));
                true
            }
        };
        drop(channels);
        self.timer.wake();
        changed
    }

    /// `GET /typing/<channel>`: the people typing at `at`, without `except`, in name order.
    pub fn list(&self, channel: &str, except: &str, at: f64) -> Vec<String> {
        let channels = self.channels();
        let mut names: Vec<String> = channels
            .get(channel)
            .map(|typers| {
                typers
                    .iter()
                    .filter(|(n, until)| *until > at && !same_name(n, except))
                    .map(|(n, _)| n.clone())
                    .collect()
            })
            .unwrap_or_default();
        username::sort_names(&mut names);
        names
    }

    /// Removes lapsed entries; the channels whose list changed.
    fn purge(&self, at: f64) -> Vec<String> {
        let mut changed = Vec::new();
        let mut channels = self.channels();
        channels.retain(|channel, typers| {
            let before = typers.len();
            typers.retain(|(_, until)| *until > at);
            if typers.len() != before {
                changed.push(channel.clone());
            }
            !typers.is_empty()
        });
        changed
    }

    /// Starts (once) the timer that pushes `typing` when someone lapses.
    pub fn ensure_sweeper(self: &Arc<Self>, hub: &Hub) {
        self.timer
            .ensure(self, |t| &t.timer, hub, Duration::from_millis(10));
    }
}

impl Deadlines for Typing {
    fn next_deadline(&self) -> Option<f64> {
        self.channels()
            .values()
            .flatten()
            .map(|(_, until)| *until)
            .min_by(|a, b| a.total_cmp(b))
    }

    fn expire(&self, now: f64, hub: &Hub) {
        let changes: Vec<Change> = self
            .purge(now)
            .into_iter()
            .map(|channel| Change::Typing { channel })
            .collect();
        hub.publish(changes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_lapses_after_five_seconds() {
        let typing = Typing::default();
        assert!(typing.start("general", "bob", 100.0));
        assert!(!typing.start("general", "Bob", 101.0));
        assert_eq!(typing.list("general", "alice", 105.5), vec!["bob"]);
        assert!(typing.list("general", "alice", 106.0).is_empty());
        assert_eq!(typing.purge(106.0), vec!["general".to_string()]);
    }

    #[test]
    fn the_caller_is_left_out_and_names_are_ordered() {
        let typing = Typing::default();
        typing.start("general", "carol", 1.0);
        typing.start("general", "Alice", 1.0);
        typing.start("general", "bob", 1.0);
        assert_eq!(typing.list("general", "BOB", 2.0), vec!["Alice", "carol"]);
        assert!(typing.list("random", "bob", 2.0).is_empty());
    }
}
