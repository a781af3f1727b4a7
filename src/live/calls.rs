//! Calls and standalone screen shares held in memory (api.md §6.9, §6.10), with the timer that
//! applies their timeouts and the publishing of what they change.
//!
//! The rules themselves are pure code in [`crate::domain::calls`] and
//! [`crate::domain::screenshare`]; this module gives them a lock, a clock, the facts they ask
//! for ([`Facts`]), and turns their [`Effects`] into hub changes and system notices. A restart
//! ends every call without a notice, as the contract says.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::domain::calls::{CallRegistry, Directory, Effects, Timeouts};
use crate::domain::change::Change;
use crate::domain::screenshare::ShareRegistry;
use crate::domain::username::fold;
use crate::live::deadline::{Deadlines, Timer};
use crate::live::presence::Presence;
use crate::live::Hub;
use crate::store::{channels, messages, Writer};

/// The environment variable that shortens every call and share timeout, for black-box and
/// browser tests only: a factor in (0, 1]. The settings file has no such key, so a shipped
/// configuration cannot enable it.
pub const TEST_TIME_SCALE_VAR: &str = "MINIMOST_TEST_CALL_TIME_SCALE";

/// The timeouts in force: the contract's, unless a test asked for shorter ones.
pub fn timeouts_from_env() -> Timeouts {
    let standard = Timeouts::default();
    let Ok(raw) = std::env::var(TEST_TIME_SCALE_VAR) else {
        return standard;
    };
    match raw.trim().parse::<f64>() {
        Ok(scale) if scale > 0.0 && scale <= 1.0 => {
            tracing::warn!(
                SCALE = scale,
                "call timeouts shortened for testing ({TEST_TIME_SCALE_VAR})"
            );
            scaled(standard, scale)
        }
        _ => {
            tracing::warn!(VALUE = %raw, "ignoring {TEST_TIME_SCALE_VAR}: not a number in (0, 1]");
            standard
        }
    }
}

fn scaled(t: Timeouts, scale: f64) -> Timeouts {
    Timeouts {
        ring: t.ring * scale,
        heartbeat_stale: t.heartbeat_stale * scale,
        gone_corroboration: t.gone_corroboration * scale,
        presence_stale: t.presence_stale * scale,
        finished_retention: t.finished_retention,
    }
}

/// The facts about accounts and membership that one request's checks need, read from the store
/// before the registries are locked (the rules are synchronous; the store is not).
#[derive(Debug, Default, Clone)]
pub struct Facts {
    /// The channel the request is about (canonical), when the caller named one the store knows.
    pub channel: Option<String>,
    /// That channel's members who have an account, in their registered spelling.
    pub members: Vec<String>,
    /// Other accounts looked up for this request (the target of an invite).
    pub accounts: Vec<String>,
}

/// [`Facts`] plus the presence table: the [`Directory`] the rules consult.
pub struct Dir<'a> {
    facts: &'a Facts,
    presence: &'a Presence,
}

impl Directory for Dir<'_> {
    fn account(&self, name: &str) -> Option<String> {
        let name = fold(name);
        self.facts
            .members
            .iter()
            .chain(&self.facts.accounts)
            .find(|a| fold(a) == name)
            .cloned()
    }

    fn is_member(&self, user: &str, channel: &str) -> bool {
        let user = fold(user);
        self.facts.channel.as_deref() == Some(channel)
            && self.facts.members.iter().any(|m| fold(m) == user)
    }

    fn members(&self, channel: &str) -> Vec<String> {
        if self.facts.channel.as_deref() == Some(channel) {
            self.facts.members.clone()
        } else {
            Vec::new()
        }
    }

    fn last_presence(&self, user: &str) -> Option<f64> {
        self.presence.last_heartbeat(user)
    }
}

/// Both registries, under one lock so a request sees calls and shares at one moment.
pub struct Registries {
    pub calls: CallRegistry,
    pub shares: ShareRegistry,
}

/// What a locked operation gets: the registries, the directory, and the effects to fill.
pub struct Session<'a> {
    pub reg: &'a mut Registries,
    pub dir: &'a Dir<'a>,
    pub fx: &'a mut Effects,
}

pub struct Calls {
    state: Mutex<Registries>,
    presence: Arc<Presence>,
    writer: Writer,
    hub: Hub,
    timer: Timer,
}

impl Calls {
    pub fn new(timeouts: Timeouts, presence: Arc<Presence>, writer: Writer, hub: Hub) -> Calls {
        Calls {
            state: Mutex::new(Registries {
                calls: CallRegistry::new(timeouts),
                shares: ShareRegistry::new(timeouts),
            }),
            presence,
            writer,
            hub,
            timer: Timer::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Registries> {
        // Every rule validates before it mutates, so a panic cannot leave a half-made change.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The channel of a call, so its members can be read before the rules run.
    pub fn call_channel(&self, call_id: &str) -> Option<String> {
        self.lock().calls.channel_of(call_id).map(str::to_owned)
    }

    /// The channel of a share, likewise.
    pub fn share_channel(&self, share_id: &str) -> Option<String> {
        self.lock().shares.channel_of(share_id).map(str::to_owned)
    }

    /// Runs `op` on the registries with `facts`, then publishes whatever it changed (also when
    /// it refused: timeouts applied before its checks may have finished a call).
    pub fn run<R>(self: &Arc<Self>, facts: &Facts, op: impl FnOnce(Session<'_>) -> R) -> R {
        let mut fx = Effects::default();
        let result = {
            let mut reg = self.lock();
            let dir = Dir {
                facts,
                presence: &self.presence,
            };
            op(Session {
                reg: &mut reg,
                dir: &dir,
                fx: &mut fx,
            })
        };
        self.timer
            .ensure(self, |c| &c.timer, &self.hub, TIMER_SLACK);
        self.publish(fx);
        result
    }

    /// Publishes `fx`: hub changes for the streams, a system notice per finished call, and a
    /// nudge to the timer, whose next deadline may have moved.
    fn publish(&self, fx: Effects) {
        self.timer.wake();
        if fx.is_empty() {
            return;
        }
        let mut changes: Vec<Change> = Vec::new();
        changes.extend(
            fx.active_call
                .into_iter()
                .map(|channel| Change::ActiveCall { channel }),
        );
        if !fx.incoming_calls.is_empty() {
            changes.push(Change::IncomingCalls {
                users: fx.incoming_calls.into_iter().collect(),
            });
        }
        changes.extend(
            fx.screenshares
                .into_iter()
                .map(|channel| Change::Screenshares { channel }),
        );
        changes.extend(fx.signals.into_iter().map(|s| Change::Signal {
            to: s.to,
            event: s.event.to_string().into(),
        }));
        self.hub.publish(changes);
        for finished in fx.finished {
            let writer = self.writer.clone();
            tokio::spawn(async move {
                let Some(channel) = channels::canonical_stored(&finished.channel) else {
                    return;
                };
                let notice = finished.notice.clone();
                let posted = writer
                    .write(move |ctx| messages::post_system(ctx, &channel, &notice))
                    .await;
                match posted {
                    Ok(_) => tracing::info!(
                        CALL_ID = %finished.call_id,
                        CHANNEL = %finished.channel,
                        STATE = finished.state.as_str(),
                        "call finished: {}", finished.notice
                    ),
                    Err(e) => tracing::warn!(
                        CALL_ID = %finished.call_id,
                        ERROR = %e,
                        "could not post the call's notice"
                    ),
                }
            });
        }
    }

    /// `GET /calls/incoming` for `user`, also the `incoming_calls` event.
    pub fn incoming(&self, user: &str, now: f64) -> serde_json::Value {
        self.lock().calls.incoming(user, now)
    }

    /// The `active_call` event of a member's stream on `channel`.
    pub fn active_call_event(self: &Arc<Self>, user: &str, channel: &str, now: f64) -> String {
        self.run(&Facts::default(), |s| {
            s.reg
                .calls
                .active_call_payload(user, channel, now, s.dir, s.fx)
                .to_string()
        })
    }

    /// The `screenshares` event of a member's stream on `channel`.
    pub fn screenshares_event(self: &Arc<Self>, channel: &str, now: f64) -> String {
        self.run(&Facts::default(), |s| {
            s.reg
                .shares
                .active_list(channel, now, s.dir, s.fx)
                .to_string()
        })
    }

    /// `user` left the private channel `channel`: their call leg and shares there end.
    pub fn member_left(self: &Arc<Self>, user: &str, channel: &str, now: f64) {
        self.run(&Facts::default(), |s| {
            s.reg.calls.leave_channel(user, channel, now, s.fx);
            s.reg.shares.end_for_sharer(user, Some(channel), now, s.fx);
        });
    }

    /// Ends `user`'s shares (in `channel`, or everywhere): they left it, lost their last
    /// session, or their account went (§6.10).
    pub fn sharer_gone(self: &Arc<Self>, user: &str, channel: Option<&str>, now: f64) {
        self.run(&Facts::default(), |s| {
            s.reg.shares.end_for_sharer(user, channel, now, s.fx)
        });
    }
}

/// How far past a deadline the timer fires, so the state is surely due by then.
const TIMER_SLACK: Duration = Duration::from_millis(20);

impl Deadlines for Calls {
    fn next_deadline(&self) -> Option<f64> {
        let reg = self.lock();
        let facts = Facts::default();
        let dir = Dir {
            facts: &facts,
            presence: &self.presence,
        };
        [
            reg.calls.next_deadline(&dir),
            reg.shares.next_deadline(&dir),
        ]
        .into_iter()
        .flatten()
        .reduce(f64::min)
    }

    fn expire(&self, now: f64, _hub: &Hub) {
        let mut fx = Effects::default();
        {
            let mut reg = self.lock();
            let facts = Facts::default();
            let dir = Dir {
                facts: &facts,
                presence: &self.presence,
            };
            reg.calls.apply_timeouts(now, &dir, &mut fx);
            reg.shares.apply_timeouts(now, &dir, &mut fx);
        }
        self.publish(fx);
    }
}
