//! Standalone screen sharing (api.md §6.10): one sharer, many viewers, in a DM or private
//! channel. Viewers offer to the sharer and the sharer answers each of them, so the server only
//! keeps the share's lifetime and a signalling queue, exactly as for calls.
//!
//! A share must not outlive its sharer (§12 item 24): it ends on `stop`, when the sharer starts
//! another share in the same channel, when the sharer leaves the channel, loses their last
//! session or is deleted ([`ShareRegistry::end_for_sharer`]), or when the sharer's presence
//! heartbeat goes stale.

use std::collections::HashMap;

use serde_json::{json, Value};
use thiserror::Error;

use crate::domain::calls::{
    next_signal_id, signals_after, Directory, Effects, Signal, SignalInput, Timeouts,
};
use crate::domain::clock::next_up;
use crate::domain::username::fold;

/// Why a share route refuses. `Display` is the exact `error` text of §6.10.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ShareError {
    #[error("channel required")]
    ChannelRequired,
    #[error("access denied")]
    AccessDenied,
    /// Also what a non-member of the share's channel gets.
    #[error("share not found")]
    NotFound,
    /// The signal route words its unknown share differently from the others.
    #[error("not found")]
    SignalNotFound,
    #[error("to, type (offer/answer/ice_candidate), and payload are required")]
    SignalFields,
    #[error("share is not active")]
    NotActive,
    #[error("invalid recipient")]
    InvalidRecipient,
}

impl ShareError {
    /// The HTTP status api.md gives this outcome.
    pub fn status(&self) -> u16 {
        match self {
            ShareError::ChannelRequired
            | ShareError::SignalFields
            | ShareError::InvalidRecipient => 400,
            ShareError::AccessDenied => 403,
            ShareError::NotFound | ShareError::SignalNotFound => 404,
            ShareError::NotActive => 409,
        }
    }
}

/// One standalone share.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    share_id: String,
    channel: String,
    sharer: String,
    started_ts: f64,
    ended_ts: Option<f64>,
    signals: Vec<Signal>,
}

impl Share {
    pub fn share_id(&self) -> &str {
        &self.share_id
    }

    pub fn channel(&self) -> &str {
        &self.channel
    }

    pub fn sharer(&self) -> &str {
        &self.sharer
    }

    pub fn started_ts(&self) -> f64 {
        self.started_ts
    }

    pub fn ended_ts(&self) -> Option<f64> {
        self.ended_ts
    }

    pub fn is_active(&self) -> bool {
        self.ended_ts.is_none()
    }

    /// The queued signals, in id order.
    pub fn signals(&self) -> &[Signal] {
        &self.signals
    }

    fn is_sharer(&self, user: &str) -> bool {
        fold(&self.sharer) == fold(user)
    }

    /// End the share once; later calls keep the first end time.
    fn end(&mut self, now: f64, fx: &mut Effects) {
        if self.is_active() {
            self.ended_ts = Some(now);
            self.signals.clear();
            fx.screenshares.insert(self.channel.clone());
        }
    }

    /// The sharer's presence went stale (or never existed): nobody is left to answer viewers.
    fn is_stale(&self, now: f64, t: &Timeouts, presence: Option<f64>) -> bool {
        presence.is_none_or(|seen| now > seen + t.presence_stale)
    }

    fn list_json(&self) -> Value {
        json!({
            "channel": self.channel,
            "share_id": self.share_id,
            "sharer": self.sharer,
            "started_ts": self.started_ts,
        })
    }
}

/// Every share in memory, with the route checks of §6.10 in their documented order. As with
/// [`crate::domain::calls::CallRegistry`], publish the [`Effects`] even when a method fails.
#[derive(Debug, Clone, Default)]
pub struct ShareRegistry {
    timeouts: Timeouts,
    shares: HashMap<String, Share>,
}

impl ShareRegistry {
    pub fn new(timeouts: Timeouts) -> Self {
        Self {
            timeouts,
            shares: HashMap::new(),
        }
    }

    /// A share by id, whoever asks.
    pub fn get(&self, share_id: &str) -> Option<&Share> {
        self.shares.get(share_id)
    }

    /// The share's channel, for a handler that must look membership up before locking.
    pub fn channel_of(&self, share_id: &str) -> Option<&str> {
        self.shares.get(share_id).map(Share::channel)
    }

    /// The share as `caller` may see it, after the timeouts: unknown to non-members.
    fn visible<D: Directory>(
        &mut self,
        share_id: &str,
        caller: &str,
        now: f64,
        dir: &D,
        fx: &mut Effects,
    ) -> Option<&mut Share> {
        self.apply_timeouts(now, dir, fx);
        self.shares
            .get_mut(share_id)
            .filter(|s| dir.is_member(caller, &s.channel))
    }

    /// `POST /screenshare/start` (`channel` canonical and trimmed; `share_id` a fresh UUIDv4).
    pub fn start<D: Directory>(
        &mut self,
        share_id: String,
        caller: &str,
        channel: &str,
        now: f64,
        dir: &D,
        fx: &mut Effects,
    ) -> Result<Value, ShareError> {
        if channel.trim().is_empty() {
            return Err(ShareError::ChannelRequired);
        }
        if !dir.is_member(caller, channel) {
            return Err(ShareError::AccessDenied);
        }
        self.apply_timeouts(now, dir, fx);
        self.end_for_sharer(caller, Some(channel), now, fx);
        self.shares.insert(
            share_id.clone(),
            Share {
                share_id: share_id.clone(),
                channel: channel.to_owned(),
                sharer: caller.to_owned(),
                started_ts: now,
                ended_ts: None,
                signals: Vec::new(),
            },
        );
        fx.screenshares.insert(channel.to_owned());
        Ok(json!({"share_id": share_id}))
    }

    /// `POST /screenshare/<share_id>/stop`: `200` also when the share had already ended.
    pub fn stop<D: Directory>(
        &mut self,
        share_id: &str,
        caller: &str,
        now: f64,
        dir: &D,
        fx: &mut Effects,
    ) -> Result<Value, ShareError> {
        let share = self
            .visible(share_id, caller, now, dir, fx)
            .ok_or(ShareError::NotFound)?;
        if !share.is_sharer(caller) {
            return Err(ShareError::AccessDenied);
        }
        share.end(now, fx);
        Ok(json!({"status": "ok"}))
    }

    /// `GET /screenshare/active?channel=…` (`channel` canonical and trimmed).
    pub fn active<D: Directory>(
        &mut self,
        caller: &str,
        channel: &str,
        now: f64,
        dir: &D,
        fx: &mut Effects,
    ) -> Result<Value, ShareError> {
        if channel.trim().is_empty() {
            return Err(ShareError::ChannelRequired);
        }
        if !dir.is_member(caller, channel) {
            return Err(ShareError::AccessDenied);
        }
        Ok(self.active_list(channel, now, dir, fx))
    }

    /// The `screenshares` event payload for `channel` (the stream applies access; a public
    /// channel never has shares, so it gets `[]`): active shares, oldest first.
    pub fn active_list<D: Directory>(
        &mut self,
        channel: &str,
        now: f64,
        dir: &D,
        fx: &mut Effects,
    ) -> Value {
        self.apply_timeouts(now, dir, fx);
        let mut list: Vec<&Share> = self
            .shares
            .values()
            .filter(|s| s.channel == channel && s.is_active())
            .collect();
        list.sort_by(|a, b| {
            a.started_ts
                .total_cmp(&b.started_ts)
                .then_with(|| a.share_id.cmp(&b.share_id))
        });
        Value::Array(list.into_iter().map(Share::list_json).collect())
    }

    /// `POST /screenshare/<share_id>/signal`, after [`SignalInput::parse`] passed (check 1).
    /// Only the sharer and a viewer talk: `to` must be a channel member other than the
    /// caller, and one of the two must be the sharer.
    pub fn signal<D: Directory>(
        &mut self,
        share_id: &str,
        caller: &str,
        input: SignalInput,
        now: f64,
        dir: &D,
        fx: &mut Effects,
    ) -> Result<Value, ShareError> {
        let share = self
            .visible(share_id, caller, now, dir, fx)
            .ok_or(ShareError::SignalNotFound)?;
        if !share.is_active() {
            return Err(ShareError::NotActive);
        }
        let to = dir
            .account(&input.to)
            .filter(|to| dir.is_member(to, &share.channel))
            .ok_or(ShareError::InvalidRecipient)?;
        if fold(&to) == fold(caller) || !(share.is_sharer(caller) || share.is_sharer(&to)) {
            return Err(ShareError::InvalidRecipient);
        }
        let signal = Signal {
            id: next_signal_id(),
            from: caller.to_owned(),
            to,
            kind: input.kind,
            payload: input.payload,
            ts: now,
        };
        fx.signals.push(signal.event("share_id", &share.share_id));
        share.signals.push(signal);
        Ok(json!({"status": "ok"}))
    }

    /// `GET /screenshare/<share_id>/signals?after=…`.
    pub fn signals<D: Directory>(
        &mut self,
        share_id: &str,
        caller: &str,
        after: i64,
        now: f64,
        dir: &D,
        fx: &mut Effects,
    ) -> Result<Value, ShareError> {
        let share = self
            .visible(share_id, caller, now, dir, fx)
            .ok_or(ShareError::NotFound)?;
        Ok(signals_after(&share.signals, caller, after))
    }

    /// End `user`'s active shares: in `channel` (they left it, or started another share there),
    /// or everywhere with `None` (their last session ended, or the account was deleted).
    pub fn end_for_sharer(
        &mut self,
        user: &str,
        channel: Option<&str>,
        now: f64,
        fx: &mut Effects,
    ) {
        for share in self.shares.values_mut() {
            if share.is_sharer(user) && channel.is_none_or(|c| share.channel == c) {
                share.end(now, fx);
            }
        }
    }

    /// The timer's work: end shares whose sharer's presence went stale, and forget shares that
    /// ended longer than `finished_retention` ago.
    pub fn apply_timeouts<D: Directory>(&mut self, now: f64, dir: &D, fx: &mut Effects) {
        let t = self.timeouts;
        for share in self.shares.values_mut() {
            if share.is_active() && share.is_stale(now, &t, dir.last_presence(&share.sharer)) {
                share.end(now, fx);
            }
        }
        self.shares.retain(|_, s| {
            s.ended_ts
                .is_none_or(|ended| now <= ended + t.finished_retention)
        });
    }

    /// When the timer must next run [`ShareRegistry::apply_timeouts`]; `None` without active
    /// shares. A value in the past means "due now".
    pub fn next_deadline<D: Directory>(&self, dir: &D) -> Option<f64> {
        self.shares
            .values()
            .filter(|s| s.is_active())
            .map(|s| {
                dir.last_presence(&s.sharer).map_or(s.started_ts, |seen| {
                    next_up(seen + self.timeouts.presence_stale)
                })
            })
            .reduce(f64::min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: f64 = 1_795_000_000.0;
    const PRIV: &str = "private:1";
    const OTHER: &str = "private:2";

    struct TestDir {
        channels: HashMap<String, Vec<String>>,
        presence: HashMap<String, f64>,
    }

    impl TestDir {
        fn new() -> Self {
            let mut channels = HashMap::new();
            channels.insert(
                PRIV.to_string(),
                vec!["alice".to_string(), "Bob".to_string(), "carol".to_string()],
            );
            channels.insert(
                OTHER.to_string(),
                vec!["alice".to_string(), "Bob".to_string()],
            );
            let presence = ["alice", "bob", "carol", "eve"]
                .iter()
                .map(|n| (n.to_string(), T0))
                .collect();
            Self { channels, presence }
        }
    }

    impl Directory for TestDir {
        fn account(&self, name: &str) -> Option<String> {
            ["alice", "Bob", "carol", "eve"]
                .iter()
                .find(|a| fold(a) == fold(name))
                .map(|a| a.to_string())
        }
        fn is_member(&self, user: &str, channel: &str) -> bool {
            self.channels
                .get(channel)
                .is_some_and(|m| m.iter().any(|n| fold(n) == fold(user)))
        }
        fn members(&self, channel: &str) -> Vec<String> {
            self.channels.get(channel).cloned().unwrap_or_default()
        }
        fn last_presence(&self, user: &str) -> Option<f64> {
            self.presence.get(&fold(user)).copied()
        }
    }

    /// alice shares `s1` in `PRIV` from `T0`.
    fn sharing() -> (ShareRegistry, TestDir) {
        let dir = TestDir::new();
        let mut r = ShareRegistry::new(Timeouts::default());
        r.start(
            "s1".into(),
            "alice",
            PRIV,
            T0,
            &dir,
            &mut Effects::default(),
        )
        .unwrap();
        (r, dir)
    }

    fn offer(to: &str) -> SignalInput {
        SignalInput::parse(to, "offer", Some(json!({"sdp": "v=0"}))).unwrap()
    }

    #[test]
    fn start_requires_a_channel_the_caller_belongs_to() {
        let dir = TestDir::new();
        let mut r = ShareRegistry::new(Timeouts::default());
        let mut fx = Effects::default();
        assert_eq!(
            r.start("s".into(), "alice", " ", T0, &dir, &mut fx),
            Err(ShareError::ChannelRequired)
        );
        assert_eq!(
            r.start("s".into(), "alice", "general", T0, &dir, &mut fx),
            Err(ShareError::AccessDenied)
        );
        assert_eq!(
            r.start("s".into(), "eve", PRIV, T0, &dir, &mut fx),
            Err(ShareError::AccessDenied)
        );
        assert!(fx.is_empty());
        let body = r
            .start("s".into(), "alice", PRIV, T0, &dir, &mut fx)
            .unwrap();
        assert_eq!(body, json!({"share_id": "s"}));
        assert!(fx.screenshares.contains(PRIV));
    }

    #[test]
    fn starting_again_ends_the_sharers_previous_share_in_that_channel_only() {
        let (mut r, dir) = sharing();
        let mut fx = Effects::default();
        r.start("o1".into(), "alice", OTHER, T0 + 1.0, &dir, &mut fx)
            .unwrap();
        r.start("b1".into(), "Bob", PRIV, T0 + 1.0, &dir, &mut fx)
            .unwrap();
        r.start("s2".into(), "alice", PRIV, T0 + 2.0, &dir, &mut fx)
            .unwrap();
        assert_eq!(r.get("s1").unwrap().ended_ts(), Some(T0 + 2.0));
        assert!(r.get("o1").unwrap().is_active());
        assert!(r.get("b1").unwrap().is_active());
        let list = r.active("carol", PRIV, T0 + 3.0, &dir, &mut fx).unwrap();
        assert_eq!(
            list,
            json!([
                {"channel": PRIV, "share_id": "b1", "sharer": "Bob", "started_ts": T0 + 1.0},
                {"channel": PRIV, "share_id": "s2", "sharer": "alice", "started_ts": T0 + 2.0},
            ])
        );
    }

    #[test]
    fn active_lists_own_shares_and_checks_access() {
        let (mut r, dir) = sharing();
        let mut fx = Effects::default();
        assert_eq!(
            r.active("alice", "", T0, &dir, &mut fx),
            Err(ShareError::ChannelRequired)
        );
        assert_eq!(
            r.active("eve", PRIV, T0, &dir, &mut fx),
            Err(ShareError::AccessDenied)
        );
        let own = r.active("alice", PRIV, T0, &dir, &mut fx).unwrap();
        assert_eq!(own[0]["share_id"], "s1");
        assert_eq!(r.active_list("general", T0, &dir, &mut fx), json!([]));
    }

    #[test]
    fn stop_is_for_the_sharer_and_repeatable() {
        let (mut r, dir) = sharing();
        let mut fx = Effects::default();
        r.signal("s1", "Bob", offer("alice"), T0 + 1.0, &dir, &mut fx)
            .unwrap();
        assert_eq!(
            r.stop("zz", "alice", T0, &dir, &mut fx),
            Err(ShareError::NotFound)
        );
        assert_eq!(
            r.stop("s1", "eve", T0, &dir, &mut fx),
            Err(ShareError::NotFound)
        );
        assert_eq!(
            r.stop("s1", "Bob", T0, &dir, &mut fx),
            Err(ShareError::AccessDenied)
        );
        let mut fx = Effects::default();
        assert_eq!(
            r.stop("s1", "ALICE", T0 + 5.0, &dir, &mut fx),
            Ok(json!({"status": "ok"}))
        );
        assert!(fx.screenshares.contains(PRIV));
        let s = r.get("s1").unwrap();
        assert_eq!(s.ended_ts(), Some(T0 + 5.0));
        assert!(s.signals().is_empty());
        let mut fx = Effects::default();
        assert!(r.stop("s1", "alice", T0 + 9.0, &dir, &mut fx).is_ok());
        assert_eq!(r.get("s1").unwrap().ended_ts(), Some(T0 + 5.0));
        assert!(fx.is_empty());
        assert_eq!(
            r.active("Bob", PRIV, T0 + 9.0, &dir, &mut fx),
            Ok(json!([]))
        );
    }

    #[test]
    fn viewers_and_the_sharer_signal_each_other() {
        let (mut r, dir) = sharing();
        let mut fx = Effects::default();
        r.signal("s1", "Bob", offer("ALICE"), T0 + 1.0, &dir, &mut fx)
            .unwrap();
        r.signal("s1", "alice", offer("bob"), T0 + 2.0, &dir, &mut fx)
            .unwrap();
        assert_eq!(fx.signals.len(), 2);
        assert_eq!(fx.signals[0].to, "alice");
        let first_id = fx.signals[0].event["id"].as_u64().unwrap();
        assert_eq!(
            fx.signals[0].event,
            json!({"share_id": "s1", "id": first_id, "from": "Bob", "type": "offer", "payload": {"sdp": "v=0"}})
        );
        assert_eq!(fx.signals[1].to, "Bob");
        let to_alice = r
            .signals("s1", "alice", 0, T0 + 3.0, &dir, &mut fx)
            .unwrap();
        assert_eq!(
            to_alice,
            json!([{"from": "Bob", "id": first_id, "payload": {"sdp": "v=0"}, "ts": T0 + 1.0, "type": "offer"}])
        );
        let none = r
            .signals("s1", "alice", first_id as i64, T0 + 3.0, &dir, &mut fx)
            .unwrap();
        assert_eq!(none, json!([]));
    }

    #[test]
    fn share_signal_checks_run_in_contract_order() {
        let (mut r, dir) = sharing();
        let mut fx = Effects::default();
        let mut sig = |r: &mut ShareRegistry, id: &str, from: &str, to: &str| {
            r.signal(id, from, offer(to), T0 + 1.0, &dir, &mut fx)
        };
        assert_eq!(
            sig(&mut r, "zz", "Bob", "alice"),
            Err(ShareError::SignalNotFound)
        );
        assert_eq!(ShareError::SignalNotFound.to_string(), "not found");
        assert_eq!(
            sig(&mut r, "s1", "eve", "alice"),
            Err(ShareError::SignalNotFound)
        );
        assert_eq!(
            sig(&mut r, "s1", "Bob", "eve"),
            Err(ShareError::InvalidRecipient)
        );
        assert_eq!(
            sig(&mut r, "s1", "Bob", "nobody"),
            Err(ShareError::InvalidRecipient)
        );
        assert_eq!(
            sig(&mut r, "s1", "alice", "alice"),
            Err(ShareError::InvalidRecipient)
        );
        assert_eq!(
            sig(&mut r, "s1", "Bob", "carol"),
            Err(ShareError::InvalidRecipient)
        );
        r.stop("s1", "alice", T0 + 1.0, &dir, &mut Effects::default())
            .unwrap();
        let mut fx = Effects::default();
        assert_eq!(
            r.signal("s1", "Bob", offer("alice"), T0 + 2.0, &dir, &mut fx),
            Err(ShareError::NotActive)
        );
        assert_eq!(ShareError::NotActive.status(), 409);
    }

    #[test]
    fn signals_of_an_unknown_share_are_share_not_found() {
        let (mut r, dir) = sharing();
        let mut fx = Effects::default();
        assert_eq!(
            r.signals("zz", "Bob", 0, T0, &dir, &mut fx),
            Err(ShareError::NotFound)
        );
        assert_eq!(
            r.signals("s1", "eve", 0, T0, &dir, &mut fx),
            Err(ShareError::NotFound)
        );
        assert_eq!(ShareError::NotFound.to_string(), "share not found");
    }

    #[test]
    fn a_share_ends_when_the_sharers_presence_goes_stale() {
        let (mut r, mut dir) = sharing();
        assert_eq!(r.next_deadline(&dir).map(|d| d > T0 + 120.0), Some(true));
        let mut fx = Effects::default();
        r.apply_timeouts(T0 + 120.0, &dir, &mut fx);
        assert!(
            r.get("s1").unwrap().is_active(),
            "exactly 120 s is not more"
        );
        dir.presence.insert("alice".into(), T0 + 100.0);
        r.apply_timeouts(T0 + 130.0, &dir, &mut fx);
        assert!(
            r.get("s1").unwrap().is_active(),
            "a presence heartbeat extends it"
        );
        dir.presence.insert("alice".into(), T0);
        let deadline = r.next_deadline(&dir).unwrap();
        r.apply_timeouts(deadline, &dir, &mut fx);
        assert_eq!(r.get("s1").unwrap().ended_ts(), Some(deadline));
        assert!(fx.screenshares.contains(PRIV));
        assert_eq!(r.next_deadline(&dir), None);
    }

    #[test]
    fn a_sharer_without_presence_is_due_at_once() {
        let (mut r, mut dir) = sharing();
        dir.presence.clear();
        assert_eq!(r.next_deadline(&dir), Some(T0));
        let mut fx = Effects::default();
        assert_eq!(r.active_list(PRIV, T0 + 1.0, &dir, &mut fx), json!([]));
    }

    #[test]
    fn ending_a_sharers_shares_covers_one_channel_or_all() {
        let (mut r, dir) = sharing();
        let mut fx = Effects::default();
        r.start("o1".into(), "alice", OTHER, T0, &dir, &mut fx)
            .unwrap();
        r.start("b1".into(), "Bob", PRIV, T0, &dir, &mut fx)
            .unwrap();
        let mut fx = Effects::default();
        r.end_for_sharer("Alice", Some(OTHER), T0 + 1.0, &mut fx);
        assert!(!r.get("o1").unwrap().is_active());
        assert!(r.get("s1").unwrap().is_active());
        r.end_for_sharer("alice", None, T0 + 2.0, &mut fx);
        assert!(!r.get("s1").unwrap().is_active());
        assert!(r.get("b1").unwrap().is_active());
        assert_eq!(fx.screenshares.len(), 2);
    }

    #[test]
    fn ended_shares_are_forgotten_after_the_retention() {
        let (mut r, dir) = sharing();
        let mut fx = Effects::default();
        r.stop("s1", "alice", T0 + 1.0, &dir, &mut fx).unwrap();
        r.apply_timeouts(T0 + 3600.0, &dir, &mut fx);
        assert!(r.get("s1").is_some());
        r.apply_timeouts(T0 + 3602.0, &dir, &mut fx);
        assert!(r.get("s1").is_none());
    }
}
