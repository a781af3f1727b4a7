//! The call state machine of api.md §6.9: calls, participants, timeouts, the guarded finish,
//! the JSON views of the call routes and the signalling queues.
//!
//! Everything here is plain data and arithmetic on timestamps. The caller supplies the time
//! (`now`, epoch seconds) and the facts that live elsewhere (accounts, channel membership,
//! presence) through [`Directory`], and receives what must be published in an [`Effects`]. Calls
//! live only in memory (§6.9): a restart ends them all without a notice, so nothing here is ever
//! persisted.
//!
//! Checks run in the order api.md lists them, so each route method returns the same error the
//! contract names for the first failing check. Timeouts are applied on every route that reads or
//! changes a call, *before* its state checks, because a call that should already have timed out
//! must not be accepted, signalled or invited into.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use serde_json::{json, Value};
use thiserror::Error;

use crate::domain::clock::next_up;
use crate::domain::notices;
use crate::domain::username::{fold, name_order};

/// The time limits of §6.9 and §6.10, in seconds. Black-box tests shorten them through a
/// test-only setting; production always runs [`Timeouts::default`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    /// How long a `pending` invitation rings, and how long a call may stay `ringing`.
    pub ring: f64,
    /// An `accepted` participant whose in-call heartbeat is older than this is not live.
    pub heartbeat_stale: f64,
    /// `gone` removes only a participant whose heartbeat is older than this.
    pub gone_corroboration: f64,
    /// A presence heartbeat older than this no longer keeps a call or a share alive.
    pub presence_stale: f64,
    /// How long a finished call or share stays answerable (`/state`, `/stop`, `/reject`) before
    /// it is dropped from memory. Not in api.md: it only bounds memory, and is long enough that
    /// every client has seen the end by polling or by its event stream.
    pub finished_retention: f64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            ring: 30.0,
            heartbeat_stale: 60.0,
            gone_corroboration: 12.0,
            presence_stale: 120.0,
            finished_retention: 3600.0,
        }
    }
}

/// What the call and share rules need to know about the rest of the server. The HTTP layer
/// implements it over the store and the presence table.
pub trait Directory {
    /// The registered spelling of the account named `name` (case-insensitive), if there is one.
    fn account(&self, name: &str) -> Option<String>;
    /// Whether `user` belongs to `channel` as calls and shares require (§4.3): a participant of
    /// a DM or a current member of a private channel. Always false for a public channel.
    fn is_member(&self, user: &str, channel: &str) -> bool;
    /// The members of `channel` that have an account, in their registered spelling.
    fn members(&self, channel: &str) -> Vec<String>;
    /// The time of `user`'s last presence heartbeat (`POST /presence`, login or signup).
    fn last_presence(&self, user: &str) -> Option<f64>;
}

/// Everything a change asks the server to publish (§7.4). Sets de-duplicate, so one request
/// that touches a channel twice still yields one event.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Effects {
    /// Channels whose `active_call` event must be recomputed.
    pub active_call: BTreeSet<String>,
    /// Users (registered spelling) whose `incoming_calls` may have changed.
    pub incoming_calls: BTreeSet<String>,
    /// Calls that finished: each notice must be posted into its channel as `system`.
    pub finished: Vec<Finished>,
    /// Channels whose `screenshares` event must be recomputed.
    pub screenshares: BTreeSet<String>,
    /// `signal` events to push to their recipients.
    pub signals: Vec<OutgoingSignal>,
}

impl Effects {
    /// Whether nothing needs publishing.
    pub fn is_empty(&self) -> bool {
        self.active_call.is_empty()
            && self.incoming_calls.is_empty()
            && self.finished.is_empty()
            && self.screenshares.is_empty()
            && self.signals.is_empty()
    }
}

/// A call that reached `ended` or `rejected` (the guarded finish of §6.9).
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub call_id: String,
    pub channel: String,
    /// `Ended` or `Rejected`.
    pub state: CallState,
    /// The end time; the notice is posted with this `ts`.
    pub ended_ts: f64,
    /// `Call ended · <duration>` or `Missed call from <initiator>` (§5.5).
    pub notice: String,
}

/// A `signal` event for one recipient (§7.3).
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingSignal {
    /// The recipient's registered spelling.
    pub to: String,
    /// `{"call_id" or "share_id", "id", "from", "type", "payload"}`.
    pub event: Value,
}

/// Why a call route refuses. `Display` is the exact `error` text of §6.9.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CallError {
    #[error("channel required")]
    ChannelRequired,
    #[error("access denied")]
    AccessDenied,
    #[error("no other participants in channel")]
    NoOtherParticipants,
    #[error("a call is already in progress in this channel")]
    AlreadyInProgress,
    /// Also what a caller outside the call's channel gets (the membership rule).
    #[error("call not found")]
    NotFound,
    #[error("call is no longer available")]
    NoLongerAvailable,
    #[error("username required")]
    UsernameRequired,
    #[error("cannot invite yourself")]
    CannotInviteYourself,
    #[error("call is not active")]
    NotActive,
    #[error("not a participant")]
    NotParticipant,
    #[error("user not found")]
    UserNotFound,
    #[error("user is not a member of this channel")]
    TargetNotMember,
    #[error("user already in call")]
    AlreadyInCall,
    #[error("to, type (offer/answer/ice_candidate), and payload are required")]
    SignalFields,
    #[error("call has ended")]
    Ended,
    #[error("invalid recipient")]
    InvalidRecipient,
}

impl CallError {
    /// The HTTP status api.md gives this outcome.
    pub fn status(&self) -> u16 {
        match self {
            CallError::ChannelRequired
            | CallError::NoOtherParticipants
            | CallError::UsernameRequired
            | CallError::CannotInviteYourself
            | CallError::TargetNotMember
            | CallError::SignalFields
            | CallError::InvalidRecipient => 400,
            CallError::AccessDenied | CallError::NotParticipant => 403,
            CallError::NotFound | CallError::UserNotFound => 404,
            CallError::AlreadyInProgress
            | CallError::NoLongerAvailable
            | CallError::NotActive
            | CallError::AlreadyInCall
            | CallError::Ended => 409,
        }
    }
}

/// The state of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    Ringing,
    Active,
    Ended,
    Rejected,
}

impl CallState {
    pub fn as_str(self) -> &'static str {
        match self {
            CallState::Ringing => "ringing",
            CallState::Active => "active",
            CallState::Ended => "ended",
            CallState::Rejected => "rejected",
        }
    }

    /// `ringing` or `active`: the states a call can still leave.
    pub fn is_live(self) -> bool {
        matches!(self, CallState::Ringing | CallState::Active)
    }
}

/// A participant's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Initiator,
    Participant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Initiator => "initiator",
            Role::Participant => "participant",
        }
    }
}

/// A participant's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParticipantState {
    Pending,
    Accepted,
    Rejected,
    Left,
}

impl ParticipantState {
    pub fn as_str(self) -> &'static str {
        match self {
            ParticipantState::Pending => "pending",
            ParticipantState::Accepted => "accepted",
            ParticipantState::Rejected => "rejected",
            ParticipantState::Left => "left",
        }
    }
}

/// One row of a call's participant table.
#[derive(Debug, Clone, PartialEq)]
pub struct Participant {
    /// Registered spelling.
    pub username: String,
    pub role: Role,
    pub state: ParticipantState,
    /// When the current invitation started ringing. Every row has one: the initiator's and the
    /// first invitees' are the start time, a join-in-progress row's is the join.
    pub invited_ts: f64,
    pub joined_ts: Option<f64>,
    pub left_ts: Option<f64>,
    /// The in-call heartbeat (`GET …/state` by this participant).
    pub last_seen_ts: Option<f64>,
    pub sharing: bool,
}

impl Participant {
    fn new(username: &str, role: Role, state: ParticipantState, now: f64) -> Self {
        Self {
            username: username.to_owned(),
            role,
            state,
            invited_ts: now,
            joined_ts: None,
            left_ts: None,
            last_seen_ts: None,
            sharing: false,
        }
    }

    /// The last sign of life in the call: the heartbeat, or the join when none came yet.
    pub fn heartbeat(&self) -> Option<f64> {
        self.last_seen_ts.or(self.joined_ts)
    }

    fn is_accepted(&self) -> bool {
        self.state == ParticipantState::Accepted
    }

    fn is_pending(&self) -> bool {
        self.state == ParticipantState::Pending
    }

    fn heartbeat_fresh(&self, now: f64, t: &Timeouts) -> bool {
        self.heartbeat()
            .is_some_and(|hb| now <= hb + t.heartbeat_stale)
    }

    fn ring_deadline(&self, t: &Timeouts) -> f64 {
        self.invited_ts + t.ring
    }

    /// A live member (§6.9): accepted with a fresh heartbeat, or pending and still ringing.
    fn is_live(&self, now: f64, t: &Timeouts) -> bool {
        match self.state {
            ParticipantState::Accepted => self.heartbeat_fresh(now, t),
            ParticipantState::Pending => now <= self.ring_deadline(t),
            ParticipantState::Rejected | ParticipantState::Left => false,
        }
    }

    /// Leaving, by `end` or `gone`: the row keeps its history but stops sharing.
    fn leave(&mut self, now: f64) {
        self.state = ParticipantState::Left;
        self.left_ts = Some(now);
        self.sharing = false;
    }

    fn state_json(&self) -> Value {
        json!({
            "joined_ts": self.joined_ts,
            "left_ts": self.left_ts,
            "role": self.role.as_str(),
            "sharing": self.sharing,
            "state": self.state.as_str(),
            "username": self.username,
        })
    }
}

/// The kind of a WebRTC signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalType {
    Offer,
    Answer,
    IceCandidate,
}

impl SignalType {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "offer" => Some(SignalType::Offer),
            "answer" => Some(SignalType::Answer),
            "ice_candidate" => Some(SignalType::IceCandidate),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SignalType::Offer => "offer",
            SignalType::Answer => "answer",
            SignalType::IceCandidate => "ice_candidate",
        }
    }
}

/// The body of a signal route once its first check passed.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalInput {
    /// As sent; resolved case-insensitively later.
    pub to: String,
    pub kind: SignalType,
    pub payload: Value,
}

impl SignalInput {
    /// Check 1 of both signal routes: `to` non-empty, a known `type`, a non-null `payload`
    /// (`None` when the key is absent). It must run before the call or share is looked up, so
    /// the HTTP layer calls it first and answers [`CallError::SignalFields`] (or
    /// `ShareError::SignalFields`) on `None`.
    pub fn parse(to: &str, kind: &str, payload: Option<Value>) -> Option<Self> {
        let kind = SignalType::parse(kind)?;
        let payload = payload.filter(|p| !p.is_null())?;
        if to.is_empty() {
            return None;
        }
        Some(Self {
            to: to.to_owned(),
            kind,
            payload,
        })
    }
}

/// A stored signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub id: u64,
    pub from: String,
    pub to: String,
    pub kind: SignalType,
    pub payload: Value,
    pub ts: f64,
}

impl Signal {
    fn involves(&self, user: &str) -> bool {
        fold(&self.from) == fold(user) || fold(&self.to) == fold(user)
    }

    /// The entry of a `GET …/signals` list.
    pub fn list_json(&self) -> Value {
        json!({
            "from": self.from,
            "id": self.id,
            "payload": self.payload,
            "ts": self.ts,
            "type": self.kind.as_str(),
        })
    }

    /// The `signal` event for the recipient; `key` is `call_id` or `share_id`.
    pub fn event(&self, key: &str, owner_id: &str) -> OutgoingSignal {
        let mut event = json!({
            "id": self.id,
            "from": self.from,
            "type": self.kind.as_str(),
            "payload": self.payload,
        });
        if let Value::Object(map) = &mut event {
            map.insert(key.to_owned(), Value::String(owner_id.to_owned()));
        }
        OutgoingSignal {
            to: self.to.clone(),
            event,
        }
    }
}

static LAST_SIGNAL_ID: AtomicU64 = AtomicU64::new(0);

/// The next signal id. One counter for calls and shares, for the life of the process (§1.3),
/// so a client that remembers the highest id it saw can never confuse an old signal with a new.
pub fn next_signal_id() -> u64 {
    LAST_SIGNAL_ID.fetch_add(1, AtomicOrdering::Relaxed) + 1
}

/// The signals addressed to `user` with `id > after`, ascending, as a `GET …/signals` body.
/// Reading does not consume them.
pub fn signals_after(signals: &[Signal], user: &str, after: i64) -> Value {
    let user = fold(user);
    let mut list: Vec<&Signal> = signals
        .iter()
        .filter(|s| i128::from(s.id) > i128::from(after) && fold(&s.to) == user)
        .collect();
    list.sort_by_key(|s| s.id);
    Value::Array(list.into_iter().map(Signal::list_json).collect())
}

/// A `call_id` or `share_id` (§1.3) from 16 random bytes: the version and variant bits are set
/// here, so any source of randomness will do.
pub fn format_uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The result of `gone`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoneOutcome {
    Ignored,
    Removed,
}

impl GoneOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            GoneOutcome::Ignored => "ignored",
            GoneOutcome::Removed => "removed",
        }
    }
}

fn ok_body() -> Value {
    json!({"status": "ok"})
}

/// One call and its signalling queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    call_id: String,
    channel: String,
    initiator: String,
    state: CallState,
    started_ts: f64,
    answered_ts: Option<f64>,
    ended_ts: Option<f64>,
    screenshare_user: Option<String>,
    /// Always in name order, so every view lists them that way without sorting.
    participants: Vec<Participant>,
    signals: Vec<Signal>,
}

impl Call {
    /// The `initiate` transition: the call rings, the initiator is `accepted`, everyone in
    /// `others` is `pending`. The caller has already checked membership and that no other call
    /// is live in the channel; `others` with the initiator's own name are ignored.
    pub fn initiate(
        call_id: String,
        channel: &str,
        initiator: &str,
        others: &[String],
        now: f64,
    ) -> Self {
        let mut first =
            Participant::new(initiator, Role::Initiator, ParticipantState::Accepted, now);
        first.joined_ts = Some(now);
        first.last_seen_ts = Some(now);
        let mut call = Self {
            call_id,
            channel: channel.to_owned(),
            initiator: initiator.to_owned(),
            state: CallState::Ringing,
            started_ts: now,
            answered_ts: None,
            ended_ts: None,
            screenshare_user: None,
            participants: vec![first],
            signals: Vec::new(),
        };
        for other in others {
            if call.participant(other).is_none() {
                call.insert(Participant::new(
                    other,
                    Role::Participant,
                    ParticipantState::Pending,
                    now,
                ));
            }
        }
        call
    }

    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    pub fn channel(&self) -> &str {
        &self.channel
    }

    pub fn initiator(&self) -> &str {
        &self.initiator
    }

    pub fn state(&self) -> CallState {
        self.state
    }

    pub fn started_ts(&self) -> f64 {
        self.started_ts
    }

    pub fn answered_ts(&self) -> Option<f64> {
        self.answered_ts
    }

    pub fn ended_ts(&self) -> Option<f64> {
        self.ended_ts
    }

    pub fn screenshare_user(&self) -> Option<&str> {
        self.screenshare_user.as_deref()
    }

    /// The participant rows in name order.
    pub fn participants(&self) -> &[Participant] {
        &self.participants
    }

    /// The row of `name`, compared case-insensitively.
    pub fn participant(&self, name: &str) -> Option<&Participant> {
        let key = fold(name);
        self.participants.iter().find(|p| fold(&p.username) == key)
    }

    fn participant_mut(&mut self, name: &str) -> Option<&mut Participant> {
        let key = fold(name);
        self.participants
            .iter_mut()
            .find(|p| fold(&p.username) == key)
    }

    fn insert(&mut self, row: Participant) {
        let at = self
            .participants
            .partition_point(|p| name_order(&p.username, &row.username).is_lt());
        self.participants.insert(at, row);
    }

    /// The queued signals, in id order.
    pub fn signals(&self) -> &[Signal] {
        &self.signals
    }

    /// The names of the `accepted` participants, in name order.
    pub fn accepted_names(&self) -> Vec<String> {
        self.participants
            .iter()
            .filter(|p| p.is_accepted())
            .map(|p| p.username.clone())
            .collect()
    }

    /// The number of live members (§6.9) at `now`.
    pub fn live_members(&self, now: f64, t: &Timeouts) -> usize {
        self.participants
            .iter()
            .filter(|p| p.is_live(now, t))
            .count()
    }

    fn is_accepted(&self, name: &str) -> bool {
        self.participant(name).is_some_and(Participant::is_accepted)
    }

    fn drop_signals_of(&mut self, user: &str) {
        self.signals.retain(|s| !s.involves(user));
    }

    /// The guarded finish: only from `ringing` or `active`, only once. Returns whether this
    /// call made the move (and so owns the notice).
    fn finish(&mut self, state: CallState, now: f64, fx: &mut Effects) -> bool {
        if !self.state.is_live() {
            return false;
        }
        self.state = state;
        self.ended_ts = Some(now);
        self.signals.clear();
        let notice = match self.answered_ts {
            Some(answered) => notices::call_ended(now - answered),
            None => notices::missed_call(&self.initiator),
        };
        // Whoever was still ringing stops ringing now.
        for p in self.participants.iter().filter(|p| p.is_pending()) {
            fx.incoming_calls.insert(p.username.clone());
        }
        fx.active_call.insert(self.channel.clone());
        fx.finished.push(Finished {
            call_id: self.call_id.clone(),
            channel: self.channel.clone(),
            state,
            ended_ts: now,
            notice,
        });
        true
    }

    /// Whether an `active` call has lost everyone: no `accepted` participant is both
    /// heartbeat-fresh and presence-fresh.
    fn is_abandoned(&self, now: f64, t: &Timeouts, presence: &dyn Fn(&str) -> Option<f64>) -> bool {
        !self.participants.iter().any(|p| {
            p.is_accepted()
                && p.heartbeat_fresh(now, t)
                && presence(&p.username).is_some_and(|seen| now <= seen + t.presence_stale)
        })
    }

    /// Apply every timeout that is due at `now`: stale invitations become `rejected`, a call
    /// still ringing after the ring time ends, an abandoned active call ends.
    ///
    /// Invitations time out *before* the ringing call is finished, and never through the
    /// `reject` rule, so a ring timeout always finishes the call as `ended` (§12 item 23).
    pub fn apply_timeouts(
        &mut self,
        now: f64,
        t: &Timeouts,
        presence: &dyn Fn(&str) -> Option<f64>,
        fx: &mut Effects,
    ) {
        if !self.state.is_live() {
            return;
        }
        let mut changed = false;
        for p in &mut self.participants {
            if p.is_pending() && now >= p.ring_deadline(t) {
                p.state = ParticipantState::Rejected;
                p.left_ts = Some(now);
                fx.incoming_calls.insert(p.username.clone());
                changed = true;
            }
        }
        if changed {
            fx.active_call.insert(self.channel.clone());
        }
        let due = match self.state {
            CallState::Ringing => now >= self.started_ts + t.ring,
            CallState::Active => self.is_abandoned(now, t, presence),
            CallState::Ended | CallState::Rejected => false,
        };
        if due {
            self.finish(CallState::Ended, now, fx);
        }
    }

    /// The earliest time at which [`Call::apply_timeouts`] would change something, given the
    /// presence known now; `None` for a finished call. A value in the past means "due now".
    /// Presence only moves forward, so a timer that wakes at this time and finds nothing due
    /// simply asks again.
    pub fn next_deadline(
        &self,
        t: &Timeouts,
        presence: &dyn Fn(&str) -> Option<f64>,
    ) -> Option<f64> {
        let mut deadline = match self.state {
            CallState::Ringing => self.started_ts + t.ring,
            CallState::Active => {
                // Abandonment comes when the freshest accepted participant goes stale on either
                // count. Freshness is `<=`, so the first stale instant is the next double.
                let fresh_until = self
                    .participants
                    .iter()
                    .filter(|p| p.is_accepted())
                    .map(|p| {
                        let hb = p
                            .heartbeat()
                            .map_or(f64::NEG_INFINITY, |h| h + t.heartbeat_stale);
                        let seen = presence(&p.username)
                            .map_or(f64::NEG_INFINITY, |s| s + t.presence_stale);
                        hb.min(seen)
                    })
                    .fold(f64::NEG_INFINITY, f64::max);
                if fresh_until == f64::NEG_INFINITY {
                    self.started_ts
                } else {
                    next_up(fresh_until)
                }
            }
            CallState::Ended | CallState::Rejected => return None,
        };
        for p in self.participants.iter().filter(|p| p.is_pending()) {
            deadline = deadline.min(p.ring_deadline(t));
        }
        Some(deadline)
    }

    /// The in-call heartbeat: an `accepted` caller's `last_seen_ts` moves to `now`.
    pub fn heartbeat(&mut self, user: &str, now: f64) {
        if let Some(p) = self.participant_mut(user) {
            if p.is_accepted() {
                p.last_seen_ts = Some(now);
            }
        }
    }

    /// The `accept` transition for `user` (a channel member; timeouts already applied). Any
    /// row state may accept, and a member without a row joins in progress. Only an accept by
    /// someone other than the initiator answers a ringing call.
    pub fn accept(&mut self, user: &str, now: f64, fx: &mut Effects) -> Result<Value, CallError> {
        if !self.state.is_live() {
            return Err(CallError::NoLongerAvailable);
        }
        if self.participant(user).is_none() {
            self.insert(Participant::new(
                user,
                Role::Participant,
                ParticipantState::Pending,
                now,
            ));
        }
        let is_initiator = fold(user) == fold(&self.initiator);
        if let Some(p) = self.participant_mut(user) {
            p.state = ParticipantState::Accepted;
            p.joined_ts = Some(now);
            p.last_seen_ts = Some(now);
            p.left_ts = None;
        }
        self.drop_signals_of(user);
        if !is_initiator && self.state == CallState::Ringing {
            self.state = CallState::Active;
        }
        if !is_initiator && self.answered_ts.is_none() {
            self.answered_ts = Some(now);
        }
        fx.active_call.insert(self.channel.clone());
        fx.incoming_calls.insert(self.display_name(user));
        let last_signal_id = self.signals.iter().map(|s| s.id).max().unwrap_or(0);
        Ok(json!({
            "status": "ok",
            "participants": self.accepted_names(),
            "last_signal_id": last_signal_id,
        }))
    }

    /// The row's spelling of `user`, or `user` as given when there is no row.
    fn display_name(&self, user: &str) -> String {
        self.participant(user)
            .map_or_else(|| user.to_owned(), |p| p.username.clone())
    }

    /// The `reject` transition. Only a `pending` row changes; the call finishes as `rejected`
    /// when nobody is left ringing and nobody but the initiator has accepted.
    pub fn reject(&mut self, user: &str, now: f64, fx: &mut Effects) {
        let Some(p) = self.participant_mut(user) else {
            return;
        };
        if !p.is_pending() {
            return;
        }
        p.state = ParticipantState::Rejected;
        p.left_ts = Some(now);
        let name = p.username.clone();
        fx.incoming_calls.insert(name);
        fx.active_call.insert(self.channel.clone());
        let initiator = fold(&self.initiator);
        let ringing = self.participants.iter().any(Participant::is_pending);
        let answered_by_other = self
            .participants
            .iter()
            .any(|p| p.is_accepted() && fold(&p.username) != initiator);
        if !ringing && !answered_by_other {
            self.finish(CallState::Rejected, now, fx);
        }
    }

    /// Set `user` (a row known to exist) `left` and tidy up after them; finish the call when
    /// fewer than two live members remain.
    fn remove(&mut self, user: &str, now: f64, t: &Timeouts, fx: &mut Effects) {
        let Some(p) = self.participant_mut(user) else {
            return;
        };
        let was_pending = p.is_pending();
        p.leave(now);
        let name = p.username.clone();
        if self
            .screenshare_user
            .as_deref()
            .is_some_and(|s| fold(s) == fold(&name))
        {
            self.screenshare_user = None;
        }
        self.drop_signals_of(&name);
        if was_pending {
            fx.incoming_calls.insert(name);
        }
        fx.active_call.insert(self.channel.clone());
        if self.live_members(now, t) < 2 {
            self.finish(CallState::Ended, now, fx);
        }
    }

    /// The `end` transition: an `accepted` or `pending` caller leaves. Others are untouched.
    pub fn end(&mut self, user: &str, now: f64, t: &Timeouts, fx: &mut Effects) {
        let leaves = self
            .participant(user)
            .is_some_and(|p| p.is_accepted() || p.is_pending());
        if leaves {
            self.remove(user, now, t, fx);
        }
    }

    /// Checks 4 and 5 of `invite`: the call is active and `caller` has accepted.
    pub fn check_can_invite(&self, caller: &str) -> Result<(), CallError> {
        if self.state != CallState::Active {
            return Err(CallError::NotActive);
        }
        if !self.is_accepted(caller) {
            return Err(CallError::NotParticipant);
        }
        Ok(())
    }

    /// Check 8 of `invite` and its effect, for `target` (a registered name, already known to
    /// be a channel member): a pending row keeps ringing from its first invitation, a finished
    /// one rings again from `now`, and a member without a row gets one.
    pub fn invite(&mut self, target: &str, now: f64, fx: &mut Effects) -> Result<(), CallError> {
        match self.participant_mut(target) {
            Some(p) if p.is_accepted() => return Err(CallError::AlreadyInCall),
            Some(p) if p.is_pending() => {}
            Some(p) => {
                p.state = ParticipantState::Pending;
                p.invited_ts = now;
                p.left_ts = None;
            }
            None => self.insert(Participant::new(
                target,
                Role::Participant,
                ParticipantState::Pending,
                now,
            )),
        }
        fx.incoming_calls.insert(self.display_name(target));
        fx.active_call.insert(self.channel.clone());
        Ok(())
    }

    /// Checks 3–5 of the call `signal` route and its effect: store the signal under the next
    /// id and push it to the recipient.
    pub fn post_signal(
        &mut self,
        from: &str,
        input: SignalInput,
        now: f64,
        fx: &mut Effects,
    ) -> Result<(), CallError> {
        if !self.state.is_live() {
            return Err(CallError::Ended);
        }
        let Some(sender) = self.participant(from).filter(|p| p.is_accepted()) else {
            return Err(CallError::NotParticipant);
        };
        let sender = sender.username.clone();
        let Some(recipient) = self.participant(&input.to) else {
            return Err(CallError::InvalidRecipient);
        };
        if fold(&recipient.username) == fold(&sender) {
            return Err(CallError::InvalidRecipient);
        }
        let signal = Signal {
            id: next_signal_id(),
            from: sender,
            to: recipient.username.clone(),
            kind: input.kind,
            payload: input.payload,
            ts: now,
        };
        fx.signals.push(signal.event("call_id", &self.call_id));
        self.signals.push(signal);
        Ok(())
    }

    /// The `screenshare` route after its lookup: any row may toggle its flag while the call is
    /// active; `screenshare_user` follows the latest sharer for older clients.
    pub fn set_sharing(&mut self, user: &str, on: bool) -> Result<(), CallError> {
        if self.state != CallState::Active {
            return Err(CallError::NotActive);
        }
        let Some(p) = self.participant_mut(user) else {
            return Err(CallError::NotFound);
        };
        p.sharing = on;
        let name = p.username.clone();
        if on {
            self.screenshare_user = Some(name);
        } else if self
            .screenshare_user
            .as_deref()
            .is_some_and(|s| fold(s) == fold(&name))
        {
            self.screenshare_user = None;
        }
        Ok(())
    }

    /// Checks 3–4 of `gone` (the caller is already known to be accepted): remove `target` only
    /// when it is `accepted` and its heartbeat is older than the corroboration time, so one
    /// peer's flaky connection cannot evict someone who is still polling.
    pub fn gone(&mut self, target: &str, now: f64, t: &Timeouts, fx: &mut Effects) -> GoneOutcome {
        let stale = self.participant(target).is_some_and(|p| {
            p.is_accepted()
                && p.heartbeat()
                    .is_none_or(|hb| now > hb + t.gone_corroboration)
        });
        if !stale {
            return GoneOutcome::Ignored;
        }
        self.remove(target, now, t, fx);
        GoneOutcome::Removed
    }

    /// The state object of §6.9.
    pub fn state_json(&self) -> Value {
        let screensharers: Vec<&str> = self
            .participants
            .iter()
            .filter(|p| p.is_accepted() && p.sharing)
            .map(|p| p.username.as_str())
            .collect();
        json!({
            "answered_ts": self.answered_ts,
            "call_id": self.call_id,
            "channel": self.channel,
            "ended_ts": self.ended_ts,
            "initiator": self.initiator,
            "participants": self.participants.iter().map(Participant::state_json).collect::<Vec<_>>(),
            "screenshare_user": self.screenshare_user,
            "screensharers": screensharers,
            "started_ts": self.started_ts,
            "state": self.state.as_str(),
        })
    }

    /// The `call` object of `GET /calls/active` for `caller`.
    pub fn summary_json(&self, caller: &str) -> Value {
        json!({
            "call_id": self.call_id,
            "initiator": self.initiator,
            "joined": self.is_accepted(caller),
            "participants": self.accepted_names(),
            "started_ts": self.started_ts,
            "state": self.state.as_str(),
        })
    }

    /// Whether `user` should see this call in `GET /calls/incoming` at `now`.
    pub fn rings_for(&self, user: &str, now: f64, t: &Timeouts) -> bool {
        self.state.is_live()
            && self
                .participant(user)
                .is_some_and(|p| p.is_pending() && now < p.ring_deadline(t))
    }
}

/// Every call in memory, with the route-level checks of §6.9 in their documented order.
///
/// Each route method takes the caller's registered name, `now`, the [`Directory`] and an
/// [`Effects`] to fill. Effects are filled even when the method returns an error, because the
/// timeouts applied before a check may already have finished a call: publish them either way.
#[derive(Debug, Clone, Default)]
pub struct CallRegistry {
    timeouts: Timeouts,
    calls: HashMap<String, Call>,
}

impl CallRegistry {
    pub fn new(timeouts: Timeouts) -> Self {
        Self {
            timeouts,
            calls: HashMap::new(),
        }
    }

    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// A call by id, whoever asks. Route handlers use the route methods, which hide calls
    /// from non-members.
    pub fn get(&self, call_id: &str) -> Option<&Call> {
        self.calls.get(call_id)
    }

    /// The call's channel, for a handler that must look membership up before locking.
    pub fn channel_of(&self, call_id: &str) -> Option<&str> {
        self.calls.get(call_id).map(Call::channel)
    }

    /// The call as `caller` may see it, with its timeouts applied: a non-member gets `None`,
    /// exactly as for an unknown id (the membership rule).
    fn visible<D: Directory>(
        &mut self,
        call_id: &str,
        caller: &str,
        now: f64,
        dir: &D,
        fx: &mut Effects,
    ) -> Option<&mut Call> {
        let t = self.timeouts;
        let call = self.calls.get_mut(call_id)?;
        if !dir.is_member(caller, call.channel()) {
            return None;
        }
        call.apply_timeouts(now, &t, &|u| dir.last_presence(u), fx);
        Some(call)
    }

    /// Apply the timeouts of every call in `channel`.
    fn apply_channel<D: Directory>(&mut self, channel: &str, now: f64, dir: &D, fx: &mut Effects) {
        let t = self.timeouts;
        for call in self.calls.values_mut().filter(|c| c.channel == channel) {
            call.apply_timeouts(now, &t, &|u| dir.last_presence(u), fx);
        }
    }

    /// `POST /calls/initiate`. `channel` is canonical (trimmed); `call_id` a fresh UUIDv4.
    pub fn initiate<D: Directory>(
        &mut self,
        call_id: String,
        caller: &str,
        channel: &str,
        now: f64,
        dir: &D,
        fx: &mut Effects,
    ) -> Result<Value, CallError> {
        if channel.trim().is_empty() {
            return Err(CallError::ChannelRequired);
        }
        if !dir.is_member(caller, channel) {
            return Err(CallError::AccessDenied);
        }
        let me = fold(caller);
        let mut others: Vec<String> = Vec::new();
        for m in dir.members(channel) {
            if fold(&m) != me && !others.iter().any(|o| fold(o) == fold(&m)) {
                others.push(m);
            }
        }
        if others.is_empty() {
            return Err(CallError::NoOtherParticipants);
        }
        self.apply_channel(channel, now, dir, fx);
        if self
            .calls
            .values()
            .any(|c| c.channel == channel && c.state.is_live())
        {
            return Err(CallError::AlreadyInProgress);
        }
        let call = Call::initiate(call_id.clone(), channel, caller, &others, now);
        let participants: Vec<String> = call
            .participants()
            .iter()
            .map(|p| p.username.clone())
            .collect();
        for p in call.participants().iter().filter(|p| p.is_pending()) {
            fx.incoming_calls.insert(p.username.clone());
        }
        fx.active_call.insert(channel.to_owned());
        self.calls.insert(call_id.clone(), call);
        Ok(json!({"call_id": call_id, "participants": participants}))
    }

    /// `GET /calls/incoming`: the live calls ringing for `user`, oldest first.
    pub fn incoming(&self, user: &str, now: f64) -> Value {
        let mut list: Vec<&Call> = self
            .calls
            .values()
            .filter(|c| c.rings_for(user, now, &self.timeouts))
            .collect();
        list.sort_by(|a, b| {
            a.started_ts
                .total_cmp(&b.started_ts)
                .then_with(|| a.call_id.cmp(&b.call_id))
        });
        Value::Array(
            list.into_iter()
                .map(|c| {
                    json!({
                        "call_id": c.call_id,
                        "channel": c.channel,
                        "initiator": c.initiator,
                        "started_ts": c.started_ts,
                    })
                })
                .collect(),
        )
    }

    /// `POST /calls/<call_id>/accept`.
    pub fn accept<D: Directory>(
        &mut self,
        call_id: &str,
        caller: &str,
        now: f64,
        dir: &D,
        fx: &mut Effects,
    ) -> Result<Value, CallError> {
        let call = self
            .visible(call_id, caller, now, dir, fx)
            .ok_or(CallError::NotFound)?;
        call.accept(caller, now, fx)
    }

    /// `POST /calls/<call_id>/reject`: `200` whether or not anything changed.
    pub fn reject<D: Directory>(
        &mut self,
        call_id: &str,
        caller: &str,
        now: f64,
        dir: &D,
        fx: &mut Effects,
    ) -> Result<Value, CallError> {
        let call = self
            .visible(call_id, caller, now, dir, fx)
            .ok_or(CallError::NotFound)?;
        call.reject(caller, now, fx);
        Ok(ok_body())
    }

    /// `POST /calls/<call_id>/end`.
    pub fn end<D: Directory>(
        &mut self,
        call_id: &str,
        caller: &str,
        now: f64,
        dir: &D,
        fx: &mut Effects,
    ) -> Result<Value, CallError> {
        let t = self.timeouts;
        let call = self
            .visible(call_id, caller, now, dir, fx)
            .ok_or(CallError::NotFound)?;
        call.end(caller, now, &t, fx);
        Ok(ok_body())
    }

    /// `POST /calls/<call_id>/invite` with the `username` field as sent.
    pub fn invite<D: Directory>(
        &mut self,
        call_id: &str,
        caller: &str,
        username: &str,
        now: f64,
        dir: &D,
        fx: &mut Effects,
    ) -> Result<Value, CallError> {
        let username = username.trim();
        if username.is_empty() {
            return Err(CallError::UsernameRequired);
        }
        if fold(username) == fold(caller) {
            return Err(CallError::CannotInviteYourself);
        }
        let call = self
            .visible(call_id, caller, now, dir, fx)
            .ok_or(CallError::NotFound)?;
        call.check_can_invite(caller)?;
        let target = dir.account(username).ok_or(CallError::UserNotFound)?;
        if !dir.is_member(&target, call.channel()) {
            return Err(CallError::TargetNotMember);
        }
        call.invite(&target, now, fx)?;
        Ok(ok_body())
    }

    /// `POST /calls/<call_id>/signal`, after [`SignalInput::parse`] passed (check 1).
    pub fn signal<D: Directory>(
        &mut self,
        call_id: &str,
        caller: &str,
        input: SignalInput,
        now: f64,
        dir: &D,
        fx: &mut Effects,
    ) -> Result<Value, CallError> {
        let call = self
            .visible(call_id, caller, now, dir, fx)
            .ok_or(CallError::NotFound)?;
        call.post_signal(caller, input, now, fx)?;
        Ok(ok_body())
    }

    /// `GET /calls/<call_id>/signals?after=…` (an unparseable `after` reads as 0).
    pub fn signals<D: Directory>(
        &mut self,
        call_id: &str,
        caller: &str,
        after: i64,
        now: f64,
        dir: &D,
        fx: &mut Effects,
    ) -> Result<Value, CallError> {
        let call = self
            .visible(call_id, caller, now, dir, fx)
            .ok_or(CallError::NotFound)?;
        Ok(signals_after(call.signals(), caller, after))
    }

    /// `POST /calls/<call_id>/screenshare`.
    pub fn screenshare<D: Directory>(
        &mut self,
        call_id: &str,
        caller: &str,
        on: bool,
        now: f64,
        dir: &D,
        fx: &mut Effects,
    ) -> Result<Value, CallError> {
        let call = self
            .visible(call_id, caller, now, dir, fx)
            .filter(|c| c.participant(caller).is_some())
            .ok_or(CallError::NotFound)?;
        call.set_sharing(caller, on)?;
        Ok(ok_body())
    }

    /// `GET /calls/<call_id>/state`: the heartbeat first, then the timeouts, so a participant
    /// who is polling is never counted stale by their own poll.
    pub fn state<D: Directory>(
        &mut self,
        call_id: &str,
        caller: &str,
        now: f64,
        dir: &D,
        fx: &mut Effects,
    ) -> Result<Value, CallError> {
        let t = self.timeouts;
        let call = self.calls.get_mut(call_id).ok_or(CallError::NotFound)?;
        if !dir.is_member(caller, call.channel()) {
            return Err(CallError::NotFound);
        }
        call.heartbeat(caller, now);
        call.apply_timeouts(now, &t, &|u| dir.last_presence(u), fx);
        Ok(call.state_json())
    }

    /// `GET /calls/active?channel=…` (`channel` canonical and trimmed).
    pub fn active<D: Directory>(
        &mut self,
        caller: &str,
        channel: &str,
        now: f64,
        dir: &D,
        fx: &mut Effects,
    ) -> Result<Value, CallError> {
        if channel.trim().is_empty() {
            return Err(CallError::ChannelRequired);
        }
        if !dir.is_member(caller, channel) {
            return Err(CallError::AccessDenied);
        }
        Ok(self.active_call_payload(caller, channel, now, dir, fx))
    }

    /// The `active_call` event payload for a member's stream (no access checks: the stream
    /// applies them), with the channel's timeouts applied first.
    pub fn active_call_payload<D: Directory>(
        &mut self,
        caller: &str,
        channel: &str,
        now: f64,
        dir: &D,
        fx: &mut Effects,
    ) -> Value {
        self.apply_channel(channel, now, dir, fx);
        let call = self
            .calls
            .values()
            .filter(|c| c.channel == channel && c.state.is_live())
            .min_by(|a, b| a.started_ts.total_cmp(&b.started_ts));
        json!({"call": call.map(|c| c.summary_json(caller))})
    }

    /// `POST /calls/<call_id>/gone` with the `username` field as sent.
    pub fn gone<D: Directory>(
        &mut self,
        call_id: &str,
        caller: &str,
        username: &str,
        now: f64,
        dir: &D,
        fx: &mut Effects,
    ) -> Result<Value, CallError> {
        let username = username.trim();
        if username.is_empty() || fold(username) == fold(caller) {
            return Err(CallError::UsernameRequired);
        }
        let t = self.timeouts;
        let call = self
            .visible(call_id, caller, now, dir, fx)
            .filter(|c| c.is_accepted(caller))
            .ok_or(CallError::NotParticipant)?;
        let outcome = call.gone(username, now, &t, fx);
        Ok(json!({"status": outcome.as_str()}))
    }

    /// `user` left `channel` (a private channel): their leg of its live call ends as by
    /// `end` (§6.7 leave). No membership check: they are no longer a member.
    pub fn leave_channel(&mut self, user: &str, channel: &str, now: f64, fx: &mut Effects) {
        let t = self.timeouts;
        for call in self
            .calls
            .values_mut()
            .filter(|c| c.channel == channel && c.state.is_live())
        {
            call.end(user, now, &t, fx);
        }
    }

    /// The timer's work: apply every call's timeouts and forget calls that finished longer
    /// than `finished_retention` ago.
    pub fn apply_timeouts<D: Directory>(&mut self, now: f64, dir: &D, fx: &mut Effects) {
        let t = self.timeouts;
        for call in self.calls.values_mut() {
            call.apply_timeouts(now, &t, &|u| dir.last_presence(u), fx);
        }
        self.calls.retain(|_, c| {
            c.ended_ts
                .is_none_or(|ended| now <= ended + t.finished_retention)
        });
    }

    /// When the timer must next run [`CallRegistry::apply_timeouts`]; `None` when no call is
    /// live. Forgetting finished calls is left to whichever run comes next.
    pub fn next_deadline<D: Directory>(&self, dir: &D) -> Option<f64> {
        self.calls
            .values()
            .filter_map(|c| c.next_deadline(&self.timeouts, &|u| dir.last_presence(u)))
            .reduce(f64::min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: f64 = 1_795_000_000.0;
    const DM: &str = "dm:alice:bob";
    const PRIV: &str = "private:1";

    /// Accounts, channels and presence for the tests. Everyone has a fresh presence at `T0`.
    struct TestDir {
        accounts: Vec<String>,
        channels: HashMap<String, Vec<String>>,
        presence: HashMap<String, f64>,
    }

    impl TestDir {
        fn new() -> Self {
            let accounts: Vec<String> = ["alice", "Bob", "carol", "dave", "eve"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            let mut channels = HashMap::new();
            channels.insert(DM.to_string(), vec!["alice".into(), "Bob".into()]);
            channels.insert(
                PRIV.to_string(),
                vec!["alice".into(), "Bob".into(), "carol".into(), "dave".into()],
            );
            channels.insert("dm:alice:ghost".to_string(), vec!["alice".into()]);
            let presence = accounts.iter().map(|a| (fold(a), T0)).collect();
            Self {
                accounts,
                channels,
                presence,
            }
        }

        fn seen(&mut self, user: &str, at: f64) {
            self.presence.insert(fold(user), at);
        }
    }

    impl Directory for TestDir {
        fn account(&self, name: &str) -> Option<String> {
            self.accounts
                .iter()
                .find(|a| fold(a) == fold(name))
                .cloned()
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

    fn reg() -> CallRegistry {
        CallRegistry::new(Timeouts::default())
    }

    /// A registry holding one call `c1` started by alice at `T0` in `channel`.
    fn started(channel: &str) -> (CallRegistry, TestDir) {
        let dir = TestDir::new();
        let mut r = reg();
        let mut fx = Effects::default();
        r.initiate("c1".into(), "alice", channel, T0, &dir, &mut fx)
            .expect("initiate");
        (r, dir)
    }

    /// A 1:1 call in the DM that Bob answered at `T0 + 5`.
    fn answered() -> (CallRegistry, TestDir) {
        let (mut r, dir) = started(DM);
        let mut fx = Effects::default();
        r.accept("c1", "Bob", T0 + 5.0, &dir, &mut fx)
            .expect("accept");
        (r, dir)
    }

    fn call(r: &CallRegistry) -> &Call {
        r.get("c1").expect("call c1")
    }

    fn pstate(r: &CallRegistry, name: &str) -> ParticipantState {
        call(r).participant(name).expect("row").state
    }

    fn input(to: &str) -> SignalInput {
        SignalInput::parse(to, "offer", Some(json!({"sdp": "v=0"}))).expect("valid input")
    }

    #[test]
    fn initiate_rings_with_initiator_accepted_and_others_pending() {
        let dir = TestDir::new();
        let mut r = reg();
        let mut fx = Effects::default();
        let body = r
            .initiate("c1".into(), "alice", PRIV, T0, &dir, &mut fx)
            .unwrap();
        assert_eq!(body["call_id"], "c1");
        assert_eq!(
            body["participants"],
            json!(["alice", "Bob", "carol", "dave"])
        );
        let c = call(&r);
        assert_eq!(c.state(), CallState::Ringing);
        assert_eq!(c.started_ts(), T0);
        assert_eq!(c.answered_ts(), None);
        let a = c.participant("alice").unwrap();
        assert_eq!(
            (a.role, a.state),
            (Role::Initiator, ParticipantState::Accepted)
        );
        assert_eq!((a.joined_ts, a.last_seen_ts), (Some(T0), Some(T0)));
        let b = c.participant("bob").unwrap();
        assert_eq!(
            (b.role, b.state),
            (Role::Participant, ParticipantState::Pending)
        );
        assert_eq!((b.invited_ts, b.joined_ts), (T0, None));
        assert_eq!(
            fx.incoming_calls,
            ["Bob", "carol", "dave"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        );
        assert!(fx.active_call.contains(PRIV));
    }

    #[test]
    fn initiate_checks_run_in_contract_order() {
        let dir = TestDir::new();
        let mut r = reg();
        let mut fx = Effects::default();
        let mut go = |ch: &str, who: &str| r.initiate("x".into(), who, ch, T0, &dir, &mut fx);
        assert_eq!(go("  ", "alice"), Err(CallError::ChannelRequired));
        assert_eq!(go("general", "alice"), Err(CallError::AccessDenied));
        assert_eq!(go(DM, "eve"), Err(CallError::AccessDenied));
        assert_eq!(
            go("dm:alice:ghost", "alice"),
            Err(CallError::NoOtherParticipants)
        );
        assert!(go(DM, "alice").is_ok());
        assert_eq!(go(DM, "Bob"), Err(CallError::AlreadyInProgress));
        assert_eq!(CallError::AlreadyInProgress.status(), 409);
        assert_eq!(CallError::NoOtherParticipants.status(), 400);
    }

    #[test]
    fn initiate_is_allowed_once_the_previous_call_timed_out() {
        let (mut r, dir) = started(DM);
        let mut fx = Effects::default();
        let late = T0 + 31.0;
        assert!(r
            .initiate("c2".into(), "Bob", DM, late, &dir, &mut fx)
            .is_ok());
        assert_eq!(call(&r).state(), CallState::Ended);
        assert_eq!(fx.finished.len(), 1);
        assert_eq!(fx.finished[0].notice, "Missed call from alice");
    }

    #[test]
    fn participants_stay_in_name_order_after_joins() {
        let (mut r, mut dir) = started(DM);
        dir.channels
            .get_mut(DM)
            .unwrap()
            .extend(["Aaron".to_string(), "zed".to_string()]);
        let mut fx = Effects::default();
        r.accept("c1", "zed", T0 + 1.0, &dir, &mut fx).unwrap();
        r.accept("c1", "Aaron", T0 + 2.0, &dir, &mut fx).unwrap();
        let names: Vec<&str> = call(&r)
            .participants()
            .iter()
            .map(|p| p.username.as_str())
            .collect();
        assert_eq!(names, ["Aaron", "alice", "Bob", "zed"]);
        let state = call(&r).state_json();
        assert_eq!(state["participants"][0]["username"], "Aaron");
        assert_eq!(state["participants"][3]["username"], "zed");
    }

    #[test]
    fn accept_by_invitee_makes_call_active_and_sets_answered_ts() {
        let (mut r, dir) = started(DM);
        let mut fx = Effects::default();
        let body = r.accept("c1", "bob", T0 + 5.0, &dir, &mut fx).unwrap();
        assert_eq!(body["status"], "ok");
        assert_eq!(body["participants"], json!(["alice", "Bob"]));
        assert_eq!(body["last_signal_id"], 0);
        let c = call(&r);
        assert_eq!(c.state(), CallState::Active);
        assert_eq!(c.answered_ts(), Some(T0 + 5.0));
        let b = c.participant("Bob").unwrap();
        assert_eq!(b.state, ParticipantState::Accepted);
        assert_eq!(
            (b.joined_ts, b.last_seen_ts),
            (Some(T0 + 5.0), Some(T0 + 5.0))
        );
        assert!(fx.incoming_calls.contains("Bob"));
        assert!(fx.active_call.contains(DM));
    }

    #[test]
    fn answered_ts_is_set_only_once() {
        let (mut r, dir) = started(PRIV);
        let mut fx = Effects::default();
        r.accept("c1", "Bob", T0 + 5.0, &dir, &mut fx).unwrap();
        r.accept("c1", "carol", T0 + 9.0, &dir, &mut fx).unwrap();
        r.accept("c1", "Bob", T0 + 20.0, &dir, &mut fx).unwrap();
        assert_eq!(call(&r).answered_ts(), Some(T0 + 5.0));
    }

    #[test]
    fn initiator_cannot_make_their_own_call_active() {
        let (mut r, dir) = started(DM);
        let mut fx = Effects::default();
        r.accept("c1", "alice", T0 + 3.0, &dir, &mut fx).unwrap();
        assert_eq!(call(&r).state(), CallState::Ringing);
        assert_eq!(call(&r).answered_ts(), None);
    }

    #[test]
    fn a_non_member_sees_the_call_as_unknown() {
        let (mut r, dir) = started(DM);
        let mut fx = Effects::default();
        assert_eq!(
            r.accept("c1", "eve", T0, &dir, &mut fx),
            Err(CallError::NotFound)
        );
        assert_eq!(
            r.reject("c1", "eve", T0, &dir, &mut fx),
            Err(CallError::NotFound)
        );
        assert_eq!(
            r.end("c1", "eve", T0, &dir, &mut fx),
            Err(CallError::NotFound)
        );
        assert_eq!(
            r.state("c1", "eve", T0, &dir, &mut fx),
            Err(CallError::NotFound)
        );
        assert_eq!(
            r.signals("c1", "eve", 0, T0, &dir, &mut fx),
            Err(CallError::NotFound)
        );
        assert_eq!(
            r.screenshare("c1", "eve", true, T0, &dir, &mut fx),
            Err(CallError::NotFound)
        );
        assert_eq!(
            r.gone("c1", "eve", "alice", T0, &dir, &mut fx),
            Err(CallError::NotParticipant)
        );
        assert_eq!(
            r.accept("nope", "alice", T0, &dir, &mut fx),
            Err(CallError::NotFound)
        );
        assert!(call(&r).participant("eve").is_none());
    }

    #[test]
    fn accepting_a_finished_call_is_refused() {
        let (mut r, dir) = started(DM);
        let mut fx = Effects::default();
        r.end("c1", "alice", T0 + 2.0, &dir, &mut fx).unwrap();
        assert_eq!(
            r.accept("c1", "Bob", T0 + 3.0, &dir, &mut fx),
            Err(CallError::NoLongerAvailable)
        );
        assert_eq!(pstate(&r, "Bob"), ParticipantState::Pending);
    }

    #[test]
    fn accept_after_the_ring_timeout_finishes_the_call_and_is_refused() {
        let (mut r, dir) = started(DM);
        let mut fx = Effects::default();
        assert_eq!(
            r.accept("c1", "Bob", T0 + 30.0, &dir, &mut fx),
            Err(CallError::NoLongerAvailable)
        );
        assert_eq!(fx.finished.len(), 1, "effects survive the error");
    }

    #[test]
    fn a_member_without_a_row_joins_in_progress() {
        let (mut r, dir) = started(PRIV);
        let mut fx = Effects::default();
        r.accept("c1", "Bob", T0 + 1.0, &dir, &mut fx).unwrap();
        r.end("c1", "carol", T0 + 1.0, &dir, &mut fx).unwrap();
        // dave was invited at start; add a fresh member with no row.
        let mut dir = dir;
        dir.channels.get_mut(PRIV).unwrap().push("eve".into());
        let body = r.accept("c1", "eve", T0 + 50.0, &dir, &mut fx).unwrap();
        assert_eq!(body["participants"], json!(["alice", "Bob", "eve"]));
        let e = call(&r).participant("eve").unwrap();
        assert_eq!(e.role, Role::Participant);
        assert_eq!(e.state, ParticipantState::Accepted);
        assert_eq!((e.invited_ts, e.joined_ts), (T0 + 50.0, Some(T0 + 50.0)));
    }

    #[test]
    fn rejoin_after_reload_answers_like_a_first_accept_and_clears_signals() {
        let (mut r, dir) = answered();
        let mut fx = Effects::default();
        r.signal("c1", "alice", input("Bob"), T0 + 6.0, &dir, &mut fx)
            .unwrap();
        r.signal("c1", "Bob", input("alice"), T0 + 6.0, &dir, &mut fx)
            .unwrap();
        let body = r.accept("c1", "Bob", T0 + 7.0, &dir, &mut fx).unwrap();
        assert_eq!(body["participants"], json!(["alice", "Bob"]));
        assert_eq!(body["last_signal_id"], 0);
        assert!(call(&r).signals().is_empty());
        assert_eq!(
            call(&r).participant("Bob").unwrap().joined_ts,
            Some(T0 + 7.0)
        );
    }

    #[test]
    fn accept_reports_the_highest_remaining_signal_id() {
        let (mut r, dir) = started(PRIV);
        let mut fx = Effects::default();
        r.accept("c1", "Bob", T0 + 1.0, &dir, &mut fx).unwrap();
        r.signal("c1", "alice", input("Bob"), T0 + 2.0, &dir, &mut fx)
            .unwrap();
        r.signal("c1", "alice", input("carol"), T0 + 2.0, &dir, &mut fx)
            .unwrap();
        r.signal("c1", "Bob", input("alice"), T0 + 2.0, &dir, &mut fx)
            .unwrap();
        let ids: Vec<u64> = call(&r).signals().iter().map(|s| s.id).collect();
        let body = r.accept("c1", "carol", T0 + 3.0, &dir, &mut fx).unwrap();
        // carol's own signal (the second) is deleted; the highest remaining is the third.
        assert_eq!(body["last_signal_id"], ids[2]);
        let left: Vec<u64> = call(&r).signals().iter().map(|s| s.id).collect();
        assert_eq!(left, [ids[0], ids[2]]);
    }

    #[test]
    fn rejecting_the_only_invitation_finishes_as_rejected_with_missed_call() {
        let (mut r, dir) = started(DM);
        let mut fx = Effects::default();
        let body = r.reject("c1", "bob", T0 + 4.0, &dir, &mut fx).unwrap();
        assert_eq!(body, json!({"status": "ok"}));
        assert_eq!(call(&r).state(), CallState::Rejected);
        assert_eq!(call(&r).ended_ts(), Some(T0 + 4.0));
        let b = call(&r).participant("Bob").unwrap();
        assert_eq!(
            (b.state, b.left_ts),
            (ParticipantState::Rejected, Some(T0 + 4.0))
        );
        assert_eq!(
            fx.finished,
            vec![Finished {
                call_id: "c1".into(),
                channel: DM.into(),
                state: CallState::Rejected,
                ended_ts: T0 + 4.0,
                notice: "Missed call from alice".into(),
            }]
        );
    }

    #[test]
    fn reject_keeps_ringing_while_others_are_pending() {
        let (mut r, dir) = started(PRIV);
        let mut fx = Effects::default();
        r.reject("c1", "Bob", T0 + 1.0, &dir, &mut fx).unwrap();
        r.reject("c1", "carol", T0 + 2.0, &dir, &mut fx).unwrap();
        assert_eq!(call(&r).state(), CallState::Ringing);
        assert!(fx.finished.is_empty());
        r.reject("c1", "dave", T0 + 3.0, &dir, &mut fx).unwrap();
        assert_eq!(call(&r).state(), CallState::Rejected);
    }

    #[test]
    fn reject_does_not_finish_a_call_someone_else_answered() {
        let (mut r, dir) = started(PRIV);
        let mut fx = Effects::default();
        r.accept("c1", "Bob", T0 + 1.0, &dir, &mut fx).unwrap();
        for who in ["carol", "dave"] {
            r.reject("c1", who, T0 + 2.0, &dir, &mut fx).unwrap();
        }
        assert_eq!(call(&r).state(), CallState::Active);
        assert!(fx.finished.is_empty());
    }

    #[test]
    fn reject_by_someone_not_pending_changes_nothing() {
        let (mut r, dir) = answered();
        let before = call(&r).clone();
        let mut fx = Effects::default();
        assert!(r.reject("c1", "Bob", T0 + 9.0, &dir, &mut fx).is_ok());
        assert!(r.reject("c1", "alice", T0 + 9.0, &dir, &mut fx).is_ok());
        assert_eq!(call(&r), &before);
        assert!(fx.is_empty());
    }

    #[test]
    fn reject_of_a_finished_call_is_still_ok_without_a_second_notice() {
        let (mut r, dir) = started(DM);
        let mut fx = Effects::default();
        r.end("c1", "alice", T0 + 1.0, &dir, &mut fx).unwrap();
        let mut fx = Effects::default();
        assert!(r.reject("c1", "Bob", T0 + 2.0, &dir, &mut fx).is_ok());
        assert!(fx.finished.is_empty());
        assert_eq!(call(&r).state(), CallState::Ended);
    }

    #[test]
    fn ring_timeout_always_ends_the_call_as_ended() {
        let (mut r, dir) = started(PRIV);
        let mut fx = Effects::default();
        r.apply_timeouts(T0 + 29.999, &dir, &mut fx);
        assert_eq!(call(&r).state(), CallState::Ringing);
        assert!(fx.is_empty());
        r.apply_timeouts(T0 + 30.0, &dir, &mut fx);
        let c = call(&r);
        // Every invitation lapsed, which would satisfy the reject rule; it must not apply.
        assert_eq!(c.state(), CallState::Ended);
        assert_eq!(c.ended_ts(), Some(T0 + 30.0));
        for who in ["Bob", "carol", "dave"] {
            let p = c.participant(who).unwrap();
            assert_eq!(
                (p.state, p.left_ts),
                (ParticipantState::Rejected, Some(T0 + 30.0))
            );
        }
        assert_eq!(fx.finished.len(), 1);
        assert_eq!(fx.finished[0].state, CallState::Ended);
        assert_eq!(fx.finished[0].notice, "Missed call from alice");
        assert!(fx.incoming_calls.contains("carol"));
    }

    #[test]
    fn a_stale_invitation_in_an_active_call_becomes_rejected() {
        let (mut r, mut dir) = started(PRIV);
        let mut fx = Effects::default();
        r.accept("c1", "Bob", T0 + 1.0, &dir, &mut fx).unwrap();
        dir.seen("alice", T0 + 30.0);
        dir.seen("Bob", T0 + 30.0);
        let mut fx = Effects::default();
        r.state("c1", "alice", T0 + 30.0, &dir, &mut fx).unwrap();
        let c = call(&r);
        assert_eq!(c.state(), CallState::Active);
        let carol = c.participant("carol").unwrap();
        assert_eq!(carol.state, ParticipantState::Rejected);
        assert_eq!(carol.left_ts, Some(T0 + 30.0));
        assert!(fx.incoming_calls.contains("carol") && fx.incoming_calls.contains("dave"));
        assert!(fx.finished.is_empty());
    }

    #[test]
    fn a_reinvited_participant_rings_from_the_new_invitation() {
        let (mut r, dir) = started(PRIV);
        let mut fx = Effects::default();
        r.accept("c1", "Bob", T0 + 1.0, &dir, &mut fx).unwrap();
        r.reject("c1", "carol", T0 + 2.0, &dir, &mut fx).unwrap();
        r.invite("c1", "alice", "carol", T0 + 20.0, &dir, &mut fx)
            .unwrap();
        assert!(call(&r).rings_for("carol", T0 + 45.0, r.timeouts()));
        r.state("c1", "alice", T0 + 45.0, &dir, &mut fx).unwrap();
        assert_eq!(pstate(&r, "carol"), ParticipantState::Pending);
        r.state("c1", "alice", T0 + 50.0, &dir, &mut fx).unwrap();
        assert_eq!(pstate(&r, "carol"), ParticipantState::Rejected);
    }

    #[test]
    fn initiator_hanging_up_before_an_answer_leaves_a_missed_call() {
        let (mut r, dir) = started(DM);
        let mut fx = Effects::default();
        r.end("c1", "alice", T0 + 3.0, &dir, &mut fx).unwrap();
        let c = call(&r);
        assert_eq!(c.state(), CallState::Ended);
        let a = c.participant("alice").unwrap();
        assert_eq!(
            (a.state, a.left_ts),
            (ParticipantState::Left, Some(T0 + 3.0))
        );
        assert_eq!(fx.finished[0].notice, "Missed call from alice");
        assert!(fx.incoming_calls.contains("Bob"), "Bob stops ringing");
    }

    #[test]
    fn a_pending_invitee_ending_a_one_to_one_call_finishes_it() {
        let (mut r, dir) = started(DM);
        let mut fx = Effects::default();
        r.end("c1", "Bob", T0 + 3.0, &dir, &mut fx).unwrap();
        assert_eq!(pstate(&r, "Bob"), ParticipantState::Left);
        assert_eq!(call(&r).state(), CallState::Ended);
        assert_eq!(fx.finished[0].notice, "Missed call from alice");
    }

    #[test]
    fn ending_an_answered_call_posts_its_duration_from_the_answer() {
        let (mut r, mut dir) = answered();
        dir.seen("alice", T0 + 120.0);
        dir.seen("Bob", T0 + 120.0);
        let mut fx = Effects::default();
        r.state("c1", "alice", T0 + 100.0, &dir, &mut fx).unwrap();
        r.state("c1", "Bob", T0 + 100.0, &dir, &mut fx).unwrap();
        r.end("c1", "Bob", T0 + 132.0, &dir, &mut fx).unwrap();
        assert_eq!(call(&r).state(), CallState::Ended);
        assert_eq!(call(&r).ended_ts(), Some(T0 + 132.0));
        assert_eq!(fx.finished.len(), 1);
        assert_eq!(fx.finished[0].notice, "Call ended \u{00B7} 2m 7s");
        assert_eq!(fx.finished[0].ended_ts, T0 + 132.0);
    }

    #[test]
    fn ending_with_two_others_live_keeps_the_call() {
        let (mut r, dir) = started(PRIV);
        let mut fx = Effects::default();
        r.accept("c1", "Bob", T0 + 1.0, &dir, &mut fx).unwrap();
        r.accept("c1", "carol", T0 + 1.0, &dir, &mut fx).unwrap();
        r.end("c1", "alice", T0 + 2.0, &dir, &mut fx).unwrap();
        assert_eq!(call(&r).state(), CallState::Active);
        assert!(fx.finished.is_empty());
    }

    #[test]
    fn a_pending_invitee_counts_as_live_when_someone_leaves() {
        let (mut r, dir) = started(PRIV);
        let mut fx = Effects::default();
        r.accept("c1", "Bob", T0 + 1.0, &dir, &mut fx).unwrap();
        r.reject("c1", "carol", T0 + 1.0, &dir, &mut fx).unwrap();
        // alice and dave (still ringing) remain: two live members.
        r.end("c1", "Bob", T0 + 2.0, &dir, &mut fx).unwrap();
        assert_eq!(call(&r).state(), CallState::Active);
        assert_eq!(call(&r).live_members(T0 + 2.0, r.timeouts()), 2);
    }

    #[test]
    fn a_heartbeat_stale_participant_is_not_live_when_someone_leaves() {
        let (mut r, mut dir) = started(PRIV);
        let mut fx = Effects::default();
        r.accept("c1", "Bob", T0 + 1.0, &dir, &mut fx).unwrap();
        r.accept("c1", "carol", T0 + 1.0, &dir, &mut fx).unwrap();
        r.reject("c1", "dave", T0 + 1.0, &dir, &mut fx).unwrap();
        dir.seen("alice", T0 + 70.0);
        dir.seen("Bob", T0 + 70.0);
        r.state("c1", "alice", T0 + 70.0, &dir, &mut fx).unwrap();
        r.state("c1", "Bob", T0 + 70.0, &dir, &mut fx).unwrap();
        // carol last polled at T0 + 1: 69 s ago, stale. Bob leaving leaves alice alone.
        r.end("c1", "Bob", T0 + 70.0, &dir, &mut fx).unwrap();
        assert_eq!(call(&r).state(), CallState::Ended);
    }

    #[test]
    fn end_clears_sharing_and_the_screenshare_user() {
        let (mut r, dir) = started(PRIV);
        let mut fx = Effects::default();
        r.accept("c1", "Bob", T0 + 1.0, &dir, &mut fx).unwrap();
        r.accept("c1", "carol", T0 + 1.0, &dir, &mut fx).unwrap();
        r.screenshare("c1", "Bob", true, T0 + 2.0, &dir, &mut fx)
            .unwrap();
        assert_eq!(call(&r).screenshare_user(), Some("Bob"));
        r.end("c1", "Bob", T0 + 3.0, &dir, &mut fx).unwrap();
        let c = call(&r);
        assert!(!c.participant("Bob").unwrap().sharing);
        assert_eq!(c.screenshare_user(), None);
        assert_eq!(c.state_json()["screensharers"], json!([]));
    }

    #[test]
    fn end_by_a_non_sharer_keeps_the_screenshare_user() {
        let (mut r, dir) = started(PRIV);
        let mut fx = Effects::default();
        for who in ["Bob", "carol"] {
            r.accept("c1", who, T0 + 1.0, &dir, &mut fx).unwrap();
        }
        r.screenshare("c1", "Bob", true, T0 + 2.0, &dir, &mut fx)
            .unwrap();
        r.end("c1", "carol", T0 + 3.0, &dir, &mut fx).unwrap();
        assert_eq!(call(&r).screenshare_user(), Some("Bob"));
    }

    #[test]
    fn end_deletes_the_leavers_signals_in_both_directions_only() {
        let (mut r, dir) = started(PRIV);
        let mut fx = Effects::default();
        for who in ["Bob", "carol"] {
            r.accept("c1", who, T0 + 1.0, &dir, &mut fx).unwrap();
        }
        r.signal("c1", "alice", input("Bob"), T0 + 2.0, &dir, &mut fx)
            .unwrap();
        r.signal("c1", "Bob", input("carol"), T0 + 2.0, &dir, &mut fx)
            .unwrap();
        r.signal("c1", "carol", input("alice"), T0 + 2.0, &dir, &mut fx)
            .unwrap();
        r.end("c1", "Bob", T0 + 3.0, &dir, &mut fx).unwrap();
        let left: Vec<(&str, &str)> = call(&r)
            .signals()
            .iter()
            .map(|s| (s.from.as_str(), s.to.as_str()))
            .collect();
        assert_eq!(left, [("carol", "alice")]);
    }

    #[test]
    fn end_by_someone_already_gone_changes_nothing() {
        let (mut r, dir) = started(PRIV);
        let mut fx = Effects::default();
        r.accept("c1", "Bob", T0 + 1.0, &dir, &mut fx).unwrap();
        r.reject("c1", "carol", T0 + 1.0, &dir, &mut fx).unwrap();
        let before = call(&r).clone();
        let mut fx = Effects::default();
        r.end("c1", "carol", T0 + 2.0, &dir, &mut fx).unwrap();
        assert_eq!(call(&r), &before);
        assert!(fx.is_empty());
    }

    #[test]
    fn a_call_finishes_only_once() {
        let (mut r, dir) = answered();
        let mut fx = Effects::default();
        r.end("c1", "alice", T0 + 10.0, &dir, &mut fx).unwrap();
        r.end("c1", "Bob", T0 + 11.0, &dir, &mut fx).unwrap();
        r.reject("c1", "Bob", T0 + 12.0, &dir, &mut fx).unwrap();
        r.apply_timeouts(T0 + 500.0, &dir, &mut fx);
        assert_eq!(fx.finished.len(), 1);
        assert_eq!(call(&r).ended_ts(), Some(T0 + 10.0));
        assert_eq!(call(&r).state(), CallState::Ended);
    }

    #[test]
    fn invite_checks_run_in_contract_order() {
        let (mut r, mut dir) = started(PRIV);
        dir.channels.get_mut(PRIV).unwrap().retain(|n| n != "dave");
        let mut fx = Effects::default();
        let mut inv = |r: &mut CallRegistry, who: &str, target: &str, id: &str| {
            r.invite(id, who, target, T0 + 2.0, &dir, &mut fx)
        };
        assert_eq!(
            inv(&mut r, "alice", "  ", "c1"),
            Err(CallError::UsernameRequired)
        );
        assert_eq!(
            inv(&mut r, "alice", "ALICE", "c1"),
            Err(CallError::CannotInviteYourself)
        );
        assert_eq!(inv(&mut r, "alice", "Bob", "zz"), Err(CallError::NotFound));
        assert_eq!(inv(&mut r, "alice", "Bob", "c1"), Err(CallError::NotActive));
        r.accept("c1", "Bob", T0 + 1.0, &dir, &mut Effects::default())
            .unwrap();
        assert_eq!(
            inv(&mut r, "carol", "Bob", "c1"),
            Err(CallError::NotParticipant)
        );
        assert_eq!(
            inv(&mut r, "alice", "nobody", "c1"),
            Err(CallError::UserNotFound)
        );
        assert_eq!(
            inv(&mut r, "alice", "eve", "c1"),
            Err(CallError::TargetNotMember)
        );
        assert_eq!(
            inv(&mut r, "alice", "bob", "c1"),
            Err(CallError::AlreadyInCall)
        );
        assert_eq!(
            inv(&mut r, "alice", "carol", "c1"),
            Ok(json!({"status": "ok"}))
        );
        assert_eq!(
            CallError::TargetNotMember.to_string(),
            "user is not a member of this channel"
        );
    }

    #[test]
    fn inviting_someone_who_left_rings_them_again() {
        let (mut r, dir) = started(PRIV);
        let mut fx = Effects::default();
        for who in ["Bob", "carol"] {
            r.accept("c1", who, T0 + 1.0, &dir, &mut fx).unwrap();
        }
        r.end("c1", "carol", T0 + 5.0, &dir, &mut fx).unwrap();
        let mut fx = Effects::default();
        r.invite("c1", "Bob", "Carol", T0 + 8.0, &dir, &mut fx)
            .unwrap();
        let c = call(&r).participant("carol").unwrap();
        assert_eq!(
            (c.state, c.invited_ts, c.left_ts),
            (ParticipantState::Pending, T0 + 8.0, None)
        );
        assert!(fx.incoming_calls.contains("carol"));
        assert_eq!(r.incoming("carol", T0 + 9.0)[0]["call_id"], "c1");
    }

    #[test]
    fn inviting_a_pending_participant_changes_nothing() {
        let (mut r, dir) = started(PRIV);
        let mut fx = Effects::default();
        r.accept("c1", "Bob", T0 + 1.0, &dir, &mut fx).unwrap();
        r.invite("c1", "Bob", "carol", T0 + 10.0, &dir, &mut fx)
            .unwrap();
        assert_eq!(call(&r).participant("carol").unwrap().invited_ts, T0);
    }

    #[test]
    fn inviting_a_member_without_a_row_adds_them_pending() {
        let (mut r, mut dir) = answered();
        dir.channels.get_mut(DM).unwrap().push("carol".into());
        let mut fx = Effects::default();
        r.invite("c1", "alice", "CAROL", T0 + 8.0, &dir, &mut fx)
            .unwrap();
        let c = call(&r).participant("carol").unwrap();
        assert_eq!(
            (c.role, c.state),
            (Role::Participant, ParticipantState::Pending)
        );
        assert_eq!(c.username, "carol", "registered spelling");
    }

    #[test]
    fn signal_input_requires_recipient_known_type_and_payload() {
        let p = Some(json!({"candidate": "x"}));
        assert!(SignalInput::parse("", "offer", p.clone()).is_none());
        assert!(SignalInput::parse("bob", "hello", p.clone()).is_none());
        assert!(SignalInput::parse("bob", "offer", None).is_none());
        assert!(SignalInput::parse("bob", "offer", Some(Value::Null)).is_none());
        let ok = SignalInput::parse("bob", "ice_candidate", Some(json!(0))).unwrap();
        assert_eq!((ok.kind, ok.payload), (SignalType::IceCandidate, json!(0)));
    }

    #[test]
    fn signals_are_stored_pushed_and_listed_for_their_recipient() {
        let (mut r, dir) = answered();
        let mut fx = Effects::default();
        let payload = json!({"sdp": "v=0", "n": [1, 2.5, null]});
        let first = SignalInput::parse("BOB", "offer", Some(payload.clone())).unwrap();
        r.signal("c1", "alice", first, T0 + 6.0, &dir, &mut fx)
            .unwrap();
        r.signal("c1", "alice", input("Bob"), T0 + 7.0, &dir, &mut fx)
            .unwrap();
        r.signal("c1", "Bob", input("alice"), T0 + 7.0, &dir, &mut fx)
            .unwrap();
        let ids: Vec<u64> = call(&r).signals().iter().map(|s| s.id).collect();
        assert!(ids[0] < ids[1] && ids[1] < ids[2]);
        assert_eq!(fx.signals.len(), 3);
        assert_eq!(fx.signals[0].to, "Bob");
        assert_eq!(
            fx.signals[0].event,
            json!({"call_id": "c1", "id": ids[0], "from": "alice", "type": "offer", "payload": payload})
        );
        let mut fx = Effects::default();
        let all = r.signals("c1", "bob", 0, T0 + 8.0, &dir, &mut fx).unwrap();
        assert_eq!(all.as_array().unwrap().len(), 2);
        assert_eq!(
            all[0],
            json!({"from": "alice", "id": ids[0], "payload": payload, "ts": T0 + 6.0, "type": "offer"})
        );
        let later = r
            .signals("c1", "Bob", ids[0] as i64, T0 + 8.0, &dir, &mut fx)
            .unwrap();
        assert_eq!(later.as_array().unwrap().len(), 1);
        assert_eq!(later[0]["id"], ids[1]);
        // Reading does not consume, and a negative `after` reads everything.
        let again = r.signals("c1", "Bob", -5, T0 + 8.0, &dir, &mut fx).unwrap();
        assert_eq!(again.as_array().unwrap().len(), 2);
    }

    #[test]
    fn signal_checks_run_in_contract_order() {
        let (mut r, dir) = started(PRIV);
        let mut fx = Effects::default();
        let mut sig = |r: &mut CallRegistry, id: &str, from: &str, to: &str| {
            r.signal(id, from, input(to), T0 + 2.0, &dir, &mut fx)
        };
        assert_eq!(sig(&mut r, "zz", "alice", "Bob"), Err(CallError::NotFound));
        assert_eq!(sig(&mut r, "c1", "eve", "Bob"), Err(CallError::NotFound));
        assert_eq!(
            sig(&mut r, "c1", "Bob", "alice"),
            Err(CallError::NotParticipant)
        );
        assert_eq!(
            sig(&mut r, "c1", "alice", "eve"),
            Err(CallError::InvalidRecipient)
        );
        assert_eq!(
            sig(&mut r, "c1", "alice", "Alice"),
            Err(CallError::InvalidRecipient)
        );
        // A pending participant is a valid recipient, even before the call is answered.
        assert!(sig(&mut r, "c1", "alice", "carol").is_ok());
        r.end("c1", "alice", T0 + 3.0, &dir, &mut Effects::default())
            .unwrap();
        r.end("c1", "Bob", T0 + 3.0, &dir, &mut Effects::default())
            .unwrap();
        r.end("c1", "carol", T0 + 3.0, &dir, &mut Effects::default())
            .unwrap();
        assert_eq!(call(&r).state(), CallState::Ended);
        assert_eq!(sig(&mut r, "c1", "alice", "Bob"), Err(CallError::Ended));
    }

    #[test]
    fn finishing_deletes_every_signal() {
        let (mut r, dir) = answered();
        let mut fx = Effects::default();
        r.signal("c1", "alice", input("Bob"), T0 + 6.0, &dir, &mut fx)
            .unwrap();
        assert_eq!(call(&r).signals().len(), 1);
        r.end("c1", "Bob", T0 + 7.0, &dir, &mut fx).unwrap();
        assert!(call(&r).signals().is_empty());
        let listed = r.signals("c1", "Bob", 0, T0 + 8.0, &dir, &mut fx).unwrap();
        assert_eq!(listed, json!([]));
    }

    #[test]
    fn screenshare_toggles_the_flag_and_follows_the_latest_sharer() {
        let (mut r, dir) = started(PRIV);
        let mut fx = Effects::default();
        assert_eq!(
            r.screenshare("c1", "alice", true, T0 + 1.0, &dir, &mut fx),
            Err(CallError::NotActive)
        );
        r.accept("c1", "Bob", T0 + 1.0, &dir, &mut fx).unwrap();
        r.screenshare("c1", "alice", true, T0 + 2.0, &dir, &mut fx)
            .unwrap();
        r.screenshare("c1", "bob", true, T0 + 3.0, &dir, &mut fx)
            .unwrap();
        let s = call(&r).state_json();
        assert_eq!(s["screenshare_user"], "Bob");
        assert_eq!(s["screensharers"], json!(["alice", "Bob"]));
        // Turning off someone else's latest share leaves `screenshare_user` alone.
        r.screenshare("c1", "alice", false, T0 + 4.0, &dir, &mut fx)
            .unwrap();
        assert_eq!(call(&r).screenshare_user(), Some("Bob"));
        r.screenshare("c1", "Bob", false, T0 + 5.0, &dir, &mut fx)
            .unwrap();
        assert_eq!(call(&r).screenshare_user(), None);
        // A pending row may set its flag, but only accepted sharers are listed.
        r.screenshare("c1", "carol", true, T0 + 6.0, &dir, &mut fx)
            .unwrap();
        assert_eq!(call(&r).state_json()["screensharers"], json!([]));
    }

    #[test]
    fn screenshare_by_a_member_without_a_row_is_call_not_found() {
        let (mut r, mut dir) = answered();
        dir.channels.get_mut(DM).unwrap().push("carol".into());
        let mut fx = Effects::default();
        assert_eq!(
            r.screenshare("c1", "carol", true, T0 + 6.0, &dir, &mut fx),
            Err(CallError::NotFound)
        );
    }

    #[test]
    fn state_poll_is_the_heartbeat_and_describes_the_call() {
        let (mut r, dir) = answered();
        let mut fx = Effects::default();
        let s = r.state("c1", "Bob", T0 + 9.0, &dir, &mut fx).unwrap();
        assert_eq!(
            call(&r).participant("Bob").unwrap().last_seen_ts,
            Some(T0 + 9.0)
        );
        assert_eq!(
            call(&r).participant("alice").unwrap().last_seen_ts,
            Some(T0)
        );
        assert_eq!(
            s,
            json!({
                "answered_ts": T0 + 5.0,
                "call_id": "c1",
                "channel": DM,
                "ended_ts": null,
                "initiator": "alice",
                "participants": [
                    {"joined_ts": T0, "left_ts": null, "role": "initiator", "sharing": false, "state": "accepted", "username": "alice"},
                    {"joined_ts": T0 + 5.0, "left_ts": null, "role": "participant", "sharing": false, "state": "accepted", "username": "Bob"},
                ],
                "screenshare_user": null,
                "screensharers": [],
                "started_ts": T0,
                "state": "active",
            })
        );
    }

    #[test]
    fn the_heartbeat_is_applied_before_the_timeouts() {
        let (mut r, mut dir) = answered();
        dir.seen("Bob", T0 + 70.0);
        let mut fx = Effects::default();
        // alice's heartbeat is 70 s old and Bob's 65 s: stale, unless this poll counts first.
        let s = r.state("c1", "Bob", T0 + 70.0, &dir, &mut fx).unwrap();
        assert_eq!(s["state"], "active");
        assert!(fx.finished.is_empty());
    }

    #[test]
    fn an_active_call_is_abandoned_when_no_one_is_heartbeat_and_presence_fresh() {
        let (mut r, mut dir) = answered();
        let mut fx = Effects::default();
        r.apply_timeouts(T0 + 65.0, &dir, &mut fx);
        assert_eq!(
            call(&r).state(),
            CallState::Active,
            "Bob joined at +5: fresh until +65"
        );
        dir.seen("Bob", T0 + 60.0);
        r.apply_timeouts(T0 + 65.001, &dir, &mut fx);
        assert_eq!(call(&r).state(), CallState::Ended);
        assert_eq!(fx.finished[0].notice, "Call ended \u{00B7} 1m 0s");
    }

    #[test]
    fn a_fresh_heartbeat_without_fresh_presence_does_not_keep_a_call() {
        let (mut r, dir) = answered();
        let mut fx = Effects::default();
        // Both keep polling, but neither has sent a presence heartbeat since T0.
        for at in [T0 + 40.0, T0 + 80.0, T0 + 119.0] {
            r.state("c1", "alice", at, &dir, &mut fx).unwrap();
            r.state("c1", "Bob", at, &dir, &mut fx).unwrap();
        }
        assert_eq!(call(&r).state(), CallState::Active);
        r.state("c1", "alice", T0 + 121.0, &dir, &mut fx).unwrap();
        assert_eq!(call(&r).state(), CallState::Ended);
    }

    #[test]
    fn one_fully_fresh_participant_keeps_a_call() {
        let (mut r, mut dir) = answered();
        dir.seen("alice", T0 + 200.0);
        let mut fx = Effects::default();
        for at in [T0 + 50.0, T0 + 100.0, T0 + 150.0, T0 + 200.0] {
            r.state("c1", "alice", at, &dir, &mut fx).unwrap();
        }
        assert_eq!(call(&r).state(), CallState::Active);
        assert!(fx.finished.is_empty());
    }

    #[test]
    fn gone_checks_run_in_contract_order() {
        let (mut r, dir) = started(PRIV);
        let mut fx = Effects::default();
        r.accept("c1", "Bob", T0 + 1.0, &dir, &mut fx).unwrap();
        let mut gone = |r: &mut CallRegistry, who: &str, target: &str| {
            r.gone("c1", who, target, T0 + 5.0, &dir, &mut fx)
        };
        assert_eq!(gone(&mut r, "alice", " "), Err(CallError::UsernameRequired));
        assert_eq!(
            gone(&mut r, "alice", "Alice"),
            Err(CallError::UsernameRequired)
        );
        assert_eq!(gone(&mut r, "carol", "Bob"), Err(CallError::NotParticipant));
        assert_eq!(gone(&mut r, "eve", "Bob"), Err(CallError::NotParticipant));
        assert_eq!(
            gone(&mut r, "alice", "carol"),
            Ok(json!({"status": "ignored"}))
        );
        assert_eq!(
            gone(&mut r, "alice", "nobody"),
            Ok(json!({"status": "ignored"}))
        );
        assert_eq!(
            gone(&mut r, "alice", "Bob"),
            Ok(json!({"status": "ignored"}))
        );
        assert_eq!(pstate(&r, "Bob"), ParticipantState::Accepted);
    }

    #[test]
    fn gone_removes_only_after_twelve_silent_seconds() {
        let (mut r, mut dir) = started(PRIV);
        let mut fx = Effects::default();
        for who in ["Bob", "carol"] {
            r.accept("c1", who, T0 + 1.0, &dir, &mut fx).unwrap();
        }
        r.screenshare("c1", "Bob", true, T0 + 2.0, &dir, &mut fx)
            .unwrap();
        r.signal("c1", "alice", input("Bob"), T0 + 2.0, &dir, &mut fx)
            .unwrap();
        dir.seen("alice", T0 + 13.0);
        let mut fx = Effects::default();
        let body = r
            .gone("c1", "alice", "bob", T0 + 13.0, &dir, &mut fx)
            .unwrap();
        assert_eq!(
            body,
            json!({"status": "ignored"}),
            "exactly 12 s is not older"
        );
        let body = r
            .gone("c1", "alice", "bob", T0 + 13.5, &dir, &mut fx)
            .unwrap();
        assert_eq!(body, json!({"status": "removed"}));
        let c = call(&r);
        let b = c.participant("Bob").unwrap();
        assert_eq!(
            (b.state, b.left_ts, b.sharing),
            (ParticipantState::Left, Some(T0 + 13.5), false)
        );
        assert_eq!(c.screenshare_user(), None);
        assert!(c.signals().is_empty());
        // alice and carol remain live: the call goes on.
        assert_eq!(c.state(), CallState::Active);
        assert!(fx.active_call.contains(PRIV));
    }

    #[test]
    fn gone_finishes_a_call_left_with_one_live_member() {
        let (mut r, mut dir) = answered();
        dir.seen("alice", T0 + 30.0);
        let mut fx = Effects::default();
        r.state("c1", "alice", T0 + 30.0, &dir, &mut fx).unwrap();
        let body = r
            .gone("c1", "alice", "Bob", T0 + 30.0, &dir, &mut fx)
            .unwrap();
        assert_eq!(body["status"], "removed");
        assert_eq!(call(&r).state(), CallState::Ended);
        assert_eq!(fx.finished[0].notice, "Call ended \u{00B7} 25s");
    }

    #[test]
    fn next_deadline_of_a_ringing_call_is_the_ring_timeout() {
        let (r, dir) = started(DM);
        assert_eq!(r.next_deadline(&dir), Some(T0 + 30.0));
        let mut r = r;
        let mut fx = Effects::default();
        r.apply_timeouts(T0 + 30.0, &dir, &mut fx);
        assert_eq!(
            call(&r).state(),
            CallState::Ended,
            "due at the deadline itself"
        );
        assert_eq!(r.next_deadline(&dir), None);
    }

    #[test]
    fn next_deadline_of_an_active_call_is_its_abandonment_or_a_ring() {
        let (mut r, mut dir) = started(PRIV);
        let mut fx = Effects::default();
        r.accept("c1", "Bob", T0 + 10.0, &dir, &mut fx).unwrap();
        // carol and dave ring until T0 + 30.
        assert_eq!(r.next_deadline(&dir), Some(T0 + 30.0));
        r.apply_timeouts(T0 + 30.0, &dir, &mut fx);
        // Bob: heartbeat fresh until +70, presence until +120 → +70; alice: min(+60, +120).
        let d = r.next_deadline(&dir).unwrap();
        assert!(d > T0 + 70.0 && d - (T0 + 70.0) < 1e-6, "{d}");
        r.apply_timeouts(T0 + 70.0, &dir, &mut fx);
        assert_eq!(call(&r).state(), CallState::Active);
        r.apply_timeouts(d, &dir, &mut fx);
        assert_eq!(call(&r).state(), CallState::Ended);
        // Presence can shorten it: a stale presence wins over a fresh heartbeat.
        let (mut r, _) = answered();
        dir.seen("alice", T0 - 100.0);
        dir.seen("Bob", T0 - 100.0);
        r.state("c1", "Bob", T0 + 6.0, &dir, &mut Effects::default())
            .unwrap();
        // Heartbeats are fresh until +65 and +66, but presence only until +20.
        let d = r.next_deadline(&dir).unwrap();
        assert!(d > T0 + 20.0 && d - (T0 + 20.0) < 1e-6, "{d}");
    }

    #[test]
    fn an_active_call_with_nobody_accepted_is_due_at_once() {
        let (mut r, dir) = started(PRIV);
        let mut fx = Effects::default();
        r.accept("c1", "Bob", T0 + 1.0, &dir, &mut fx).unwrap();
        r.end("c1", "alice", T0 + 2.0, &dir, &mut fx).unwrap();
        r.end("c1", "Bob", T0 + 2.0, &dir, &mut fx).unwrap();
        // carol and dave still ring, so the call survived the leaves.
        assert_eq!(call(&r).state(), CallState::Active);
        assert!(r.next_deadline(&dir).unwrap() <= T0 + 2.0);
        r.apply_timeouts(T0 + 2.0, &dir, &mut fx);
        assert_eq!(call(&r).state(), CallState::Ended);
    }

    #[test]
    fn incoming_lists_calls_ringing_for_the_user() {
        let (mut r, dir) = started(PRIV);
        assert_eq!(
            r.incoming("Bob", T0 + 1.0),
            json!([{"call_id": "c1", "channel": PRIV, "initiator": "alice", "started_ts": T0}])
        );
        assert_eq!(r.incoming("alice", T0 + 1.0), json!([]));
        assert_eq!(
            r.incoming("Bob", T0 + 30.0),
            json!([]),
            "less than 30 s ago"
        );
        let mut fx = Effects::default();
        r.accept("c1", "Bob", T0 + 2.0, &dir, &mut fx).unwrap();
        assert_eq!(r.incoming("Bob", T0 + 3.0), json!([]));
        assert_eq!(r.incoming("carol", T0 + 3.0).as_array().unwrap().len(), 1);
        for who in ["alice", "Bob"] {
            r.end("c1", who, T0 + 4.0, &dir, &mut fx).unwrap();
        }
        r.end("c1", "dave", T0 + 4.0, &dir, &mut fx).unwrap();
        assert_eq!(call(&r).state(), CallState::Ended);
        assert_eq!(
            r.incoming("carol", T0 + 5.0),
            json!([]),
            "finished calls stop ringing"
        );
    }

    #[test]
    fn active_view_describes_the_channels_live_call() {
        let dir = TestDir::new();
        let mut r = reg();
        let mut fx = Effects::default();
        assert_eq!(
            r.active("alice", "", T0, &dir, &mut fx),
            Err(CallError::ChannelRequired)
        );
        assert_eq!(
            r.active("alice", "general", T0, &dir, &mut fx),
            Err(CallError::AccessDenied)
        );
        assert_eq!(
            r.active("eve", DM, T0, &dir, &mut fx),
            Err(CallError::AccessDenied)
        );
        assert_eq!(
            r.active("alice", DM, T0, &dir, &mut fx),
            Ok(json!({"call": null}))
        );
        r.initiate("c1".into(), "alice", DM, T0, &dir, &mut fx)
            .unwrap();
        let view = r.active("Bob", DM, T0 + 1.0, &dir, &mut fx).unwrap();
        assert_eq!(
            view,
            json!({"call": {"call_id": "c1", "initiator": "alice", "joined": false,
                "participants": ["alice"], "started_ts": T0, "state": "ringing"}})
        );
        let view = r.active("alice", DM, T0 + 1.0, &dir, &mut fx).unwrap();
        assert_eq!(view["call"]["joined"], true);
        // Computing the view applies the timeouts.
        let view = r.active("alice", DM, T0 + 31.0, &dir, &mut fx).unwrap();
        assert_eq!(view, json!({"call": null}));
        assert_eq!(fx.finished.len(), 1);
    }

    #[test]
    fn finished_calls_are_forgotten_after_the_retention() {
        let (mut r, dir) = started(DM);
        let mut fx = Effects::default();
        r.end("c1", "alice", T0 + 1.0, &dir, &mut fx).unwrap();
        r.apply_timeouts(T0 + 3601.0, &dir, &mut fx);
        assert!(r.get("c1").is_some());
        r.apply_timeouts(T0 + 3601.5, &dir, &mut fx);
        assert!(r.get("c1").is_none());
    }

    #[test]
    fn shortened_timeouts_apply_everywhere() {
        let dir = TestDir::new();
        let t = Timeouts {
            ring: 2.0,
            ..Timeouts::default()
        };
        let mut r = CallRegistry::new(t);
        let mut fx = Effects::default();
        r.initiate("c1".into(), "alice", DM, T0, &dir, &mut fx)
            .unwrap();
        assert_eq!(r.next_deadline(&dir), Some(T0 + 2.0));
        assert_eq!(r.incoming("Bob", T0 + 2.0), json!([]));
        r.apply_timeouts(T0 + 2.0, &dir, &mut fx);
        assert_eq!(call(&r).state(), CallState::Ended);
    }

    #[test]
    fn signal_ids_increase() {
        let a = next_signal_id();
        let b = next_signal_id();
        assert!(a >= 1 && b > a);
    }

    #[test]
    fn uuid_v4_has_version_and_variant_bits() {
        let id = format_uuid_v4([0xff; 16]);
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let id = format_uuid_v4([0; 16]);
        assert_eq!(id, "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn error_texts_and_statuses_match_the_contract() {
        assert_eq!(CallError::NotFound.to_string(), "call not found");
        assert_eq!(CallError::NotFound.status(), 404);
        assert_eq!(
            CallError::NoLongerAvailable.to_string(),
            "call is no longer available"
        );
        assert_eq!(CallError::Ended.to_string(), "call has ended");
        assert_eq!(CallError::NotParticipant.status(), 403);
        assert_eq!(
            CallError::SignalFields.to_string(),
            "to, type (offer/answer/ice_candidate), and payload are required"
        );
        assert_eq!(CallError::SignalFields.status(), 400);
    }
}
