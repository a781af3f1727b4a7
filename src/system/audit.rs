//! The audit trail (design.md "Logging"): every security event is one tracing record with a
//! fixed field set — `AUDIT_EVENT`, `USER`, `REMOTE_ADDR`, `OUTCOME` and, when there is one,
//! `REASON`. Under journald these become journal fields, so
//! `journalctl -u minimost AUDIT_EVENT=login_failed` finds them; elsewhere the same record is
//! one structured line on stderr.
//!
//! Event names in use: `signup`, `login_ok`, `login_failed`, `login_locked`, `logout`,
//! `password_changed`, `reset_issued`, `reset_used`, `reset_rejected`, `account_deleted`,
//! `csrf_rejected`, `origin_rejected`, `access_denied`, `rate_limited`, `session_expired`.

use std::net::SocketAddr;

/// Whether the event went the way the actor wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// Records one audit event. `user` is the name the request was about (`-` when there is none);
/// `remote` is the TCP peer, never a forwarded-for header (api.md §12 rule 34).
pub fn record(
    event: &str,
    user: Option<&str>,
    remote: Option<SocketAddr>,
    outcome: Outcome,
    reason: Option<&str>,
) {
    let user = user.unwrap_or("-");
    let remote = remote.map(|a| a.ip().to_string()).unwrap_or_default();
    let outcome = outcome.as_str();
    match reason {
        Some(reason) => tracing::info!(
            AUDIT_EVENT = event,
            USER = user,
            REMOTE_ADDR = %remote,
            OUTCOME = outcome,
            REASON = reason,
            "audit: {event} user={user} from={remote} outcome={outcome} reason={reason}"
        ),
        None => tracing::info!(
            AUDIT_EVENT = event,
            USER = user,
            REMOTE_ADDR = %remote,
            OUTCOME = outcome,
            "audit: {event} user={user} from={remote} outcome={outcome}"
        ),
    }
}
