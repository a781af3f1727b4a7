//! Channel identifiers (api.md §4.1) and the canonical form of DM ids (§4.2).
//!
//! Parsing is purely syntactic: whether a public name is configured, or a private id exists, is
//! for the caller to check. Everything here is case-insensitive the way usernames are (§1.3):
//! names compare by their lowercase form and are written in their registered spelling.

use std::cmp::Ordering;
use std::fmt;

/// The pseudo-user that posts reset notices (§5.5, §11). It has no account.
pub const SYSTEM_USER: &str = "system";

const DM_PREFIX: &str = "dm:";
const PRIVATE_PREFIX: &str = "private:";

/// A channel as the store and every response name it (canonical form).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChannelId {
    /// A configured public channel, by its exact name.
    Public(String),
    /// A direct conversation: canonical participant names (registered spelling, name order).
    Dm(Vec<String>),
    /// A private channel, by its id.
    Private(i64),
}

/// A channel id as the client wrote it, before DM names are canonicalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedChannel {
    /// Anything that is neither a DM nor a private id: a candidate public channel name.
    Public(String),
    /// The names after `dm:`, split on `:`, exactly as given (empty ones included).
    Dm(Vec<String>),
    /// `private:<decimal>`.
    Private(i64),
}

/// Parse the three forms of §4.1.
///
/// `None` when the text cannot name a channel at all: the empty string, or a `private:` id that
/// is not a positive decimal integer. Callers treat that like a channel the user cannot access.
pub fn parse(raw: &str) -> Option<ParsedChannel> {
    if raw.is_empty() {
        return None;
    }
    if let Some(rest) = raw.strip_prefix(DM_PREFIX) {
        return Some(ParsedChannel::Dm(
            rest.split(':').map(str::to_string).collect(),
        ));
    }
    if let Some(rest) = raw.strip_prefix(PRIVATE_PREFIX) {
        // Only plain ASCII digits: `str::parse` would also take a leading `+`, which would let
        // two spellings name the same channel.
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let id: i64 = rest.parse().ok()?;
        return (id > 0).then_some(ParsedChannel::Private(id));
    }
    Some(ParsedChannel::Public(raw.to_string()))
}

/// The outcome of canonicalising the names of a DM id (§4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dm {
    /// Canonical participants: registered spellings (or the given spelling for names without an
    /// account), de-duplicated case-insensitively, in name order.
    pub names: Vec<String>,
    /// The given names that have no account (`system` included), in the order given and as
    /// spelled, each once (case-insensitively). Feeds `no account named a, b` (§6.4).
    pub unknown: Vec<String>,
}

impl Dm {
    /// Whether the DM has at least two distinct participants, as sending requires.
    pub fn has_two_participants(&self) -> bool {
        self.names.len() >= 2
    }

    /// The `400` text for a send into a DM whose participants lack accounts, if any do.
    pub fn unknown_error(&self) -> Option<String> {
        if self.unknown.is_empty() {
            None
        } else {
            Some(format!("no account named {}", self.unknown.join(", ")))
        }
    }

    /// The canonical channel id of this DM.
    pub fn channel(&self) -> ChannelId {
        ChannelId::Dm(self.names.clone())
    }
}

/// Canonicalise DM participant names (§4.2).
///
/// `resolve` returns the registered spelling of the account a name matches case-insensitively,
/// or `None` when there is none. `system` (any case) is never looked up: it is the pseudo-user.
pub fn canonical_dm<S: AsRef<str>>(names: &[S], resolve: impl Fn(&str) -> Option<String>) -> Dm {
    let mut canonical: Vec<String> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    for given in names.iter().map(AsRef::as_ref) {
        if given.is_empty() {
            continue;
        }
        let name = if given.to_lowercase() == SYSTEM_USER {
            push_unique(&mut unknown, given);
            SYSTEM_USER.to_string()
        } else if let Some(registered) = resolve(given) {
            registered
        } else {
            push_unique(&mut unknown, given);
            given.to_string()
        };
        push_unique(&mut canonical, &name);
    }
    canonical.sort_by(|a, b| cmp_name_order(a, b));
    Dm {
        names: canonical,
        unknown,
    }
}

/// Append `name` unless an equal name (case-insensitively) is already there: the first
/// spelling given wins.
fn push_unique(list: &mut Vec<String>, name: &str) {
    if !list.iter().any(|n| same_name(n, name)) {
        list.push(name.to_string());
    }
}

/// Whether two usernames are the same name (case-insensitive, §1.3).
pub fn same_name(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}

/// Name order (§1.3): by lowercase form, ties by code point.
pub fn cmp_name_order(a: &str, b: &str) -> Ordering {
    a.to_lowercase()
        .cmp(&b.to_lowercase())
        .then_with(|| a.cmp(b))
}

/// Sort a list of names into name order.
pub fn sort_names(names: &mut [String]) {
    names.sort_by(|a, b| cmp_name_order(a, b));
}

/// Whether `name` is one of a DM's canonical participants (case-insensitive).
pub fn is_dm_participant<S: AsRef<str>>(participants: &[S], name: &str) -> bool {
    participants.iter().any(|p| same_name(p.as_ref(), name))
}

impl ChannelId {
    /// Parse `raw` and canonicalise it in one step, for routes that only need the channel.
    /// Routes that send also need [`Dm::unknown`], and use [`parse`] and [`canonical_dm`].
    pub fn canonical(raw: &str, resolve: impl Fn(&str) -> Option<String>) -> Option<ChannelId> {
        Some(match parse(raw)? {
            ParsedChannel::Public(name) => ChannelId::Public(name),
            ParsedChannel::Private(id) => ChannelId::Private(id),
            ParsedChannel::Dm(names) => ChannelId::Dm(canonical_dm(&names, resolve).names),
        })
    }

    /// Whether this is a DM.
    pub fn is_dm(&self) -> bool {
        matches!(self, ChannelId::Dm(_))
    }

    /// The private channel id, if this is one.
    pub fn private_id(&self) -> Option<i64> {
        match self {
            ChannelId::Private(id) => Some(*id),
            _ => None,
        }
    }

    /// The DM participants, if this is a DM.
    pub fn dm_participants(&self) -> Option<&[String]> {
        match self {
            ChannelId::Dm(names) => Some(names),
            _ => None,
        }
    }
}

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelId::Public(name) => f.write_str(name),
            ChannelId::Dm(names) => write!(f, "{DM_PREFIX}{}", names.join(":")),
            ChannelId::Private(id) => write!(f, "{PRIVATE_PREFIX}{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of accounts: alice, Bob, carol, Zoë.
    fn accounts(name: &str) -> Option<String> {
        ["alice", "Bob", "carol", "Zoë"]
            .iter()
            .find(|a| a.to_lowercase() == name.to_lowercase())
            .map(|a| a.to_string())
    }

    #[test]
    fn parse_recognises_the_three_forms() {
        assert_eq!(
            parse("general"),
            Some(ParsedChannel::Public("general".into()))
        );
        assert_eq!(parse("private:7"), Some(ParsedChannel::Private(7)));
        assert_eq!(
            parse("dm:bob:Alice"),
            Some(ParsedChannel::Dm(vec!["bob".into(), "Alice".into()]))
        );
    }

    #[test]
    fn parse_keeps_empty_dm_names_for_canonicalisation_to_drop() {
        assert_eq!(
            parse("dm::alice:"),
            Some(ParsedChannel::Dm(vec![
                "".into(),
                "alice".into(),
                "".into()
            ]))
        );
    }

    #[test]
    fn parse_refuses_malformed_private_ids() {
        for raw in [
            "private:",
            "private:x",
            "private:-3",
            "private:+3",
            "private: 3",
            "private:0",
            "private:3.0",
            "private:99999999999999999999",
        ] {
            assert_eq!(parse(raw), None, "{raw}");
        }
        assert_eq!(parse(""), None);
    }

    #[test]
    fn parse_prefixes_are_case_sensitive() {
        assert_eq!(
            parse("DM:alice:bob"),
            Some(ParsedChannel::Public("DM:alice:bob".into()))
        );
    }

    #[test]
    fn canonical_dm_resolves_spelling_and_sorts_by_lowercase() {
        let dm = canonical_dm(&["CAROL", "bob", "ALICE"], accounts);
        assert_eq!(dm.names, ["alice", "Bob", "carol"]);
        assert!(dm.unknown.is_empty());
        assert!(dm.has_two_participants());
        assert_eq!(dm.channel().to_string(), "dm:alice:Bob:carol");
    }

    #[test]
    fn canonical_dm_deduplicates_case_insensitively() {
        let dm = canonical_dm(&["bob", "BOB", "alice", "Bob"], accounts);
        assert_eq!(dm.names, ["alice", "Bob"]);
    }

    #[test]
    fn canonical_dm_with_one_distinct_participant_cannot_send() {
        let dm = canonical_dm(&["alice", "ALICE", ""], accounts);
        assert_eq!(dm.names, ["alice"]);
        assert!(!dm.has_two_participants());
    }

    #[test]
    fn canonical_dm_keeps_unknown_spelling_and_reports_them_in_given_order() {
        let dm = canonical_dm(&["Zed", "alice", "ghost", "zed"], accounts);
        assert_eq!(dm.names, ["alice", "ghost", "Zed"]);
        assert_eq!(dm.unknown, ["Zed", "ghost"]);
        assert_eq!(
            dm.unknown_error().as_deref(),
            Some("no account named Zed, ghost")
        );
    }

    #[test]
    fn canonical_dm_maps_system_in_any_case_and_counts_it_unknown() {
        let dm = canonical_dm(&["SyStEm", "bob"], |n| {
            assert_ne!(n.to_lowercase(), "system", "system must not be looked up");
            accounts(n)
        });
        assert_eq!(dm.names, ["Bob", "system"]);
        assert_eq!(dm.unknown, ["SyStEm"]);
    }

    #[test]
    fn canonical_dm_breaks_lowercase_ties_by_code_point() {
        // Two unknown names that differ only in case cannot both survive de-duplication, so the
        // tie-break shows in name order of distinct names with a shared lowercase prefix.
        let mut names = vec!["b".to_string(), "B".to_string(), "a".to_string()];
        sort_names(&mut names);
        assert_eq!(names, ["a", "B", "b"]);
    }

    #[test]
    fn canonical_dm_sorts_non_ascii_by_lowercase_form() {
        let dm = canonical_dm(&["zoë", "alice"], accounts);
        assert_eq!(dm.names, ["alice", "Zoë"]);
    }

    #[test]
    fn channel_id_canonical_reorders_dm_ids() {
        let id = ChannelId::canonical("dm:CAROL:alice", accounts);
        assert_eq!(id.map(|c| c.to_string()).as_deref(), Some("dm:alice:carol"));
        assert_eq!(ChannelId::canonical("private:x", accounts), None);
    }

    #[test]
    fn display_writes_canonical_strings() {
        assert_eq!(ChannelId::Public("general".into()).to_string(), "general");
        assert_eq!(ChannelId::Private(7).to_string(), "private:7");
        assert_eq!(
            ChannelId::Dm(vec!["alice".into(), "Bob".into()]).to_string(),
            "dm:alice:Bob"
        );
    }

    #[test]
    fn display_and_parse_round_trip_for_canonical_ids() {
        for raw in ["general", "private:12", "dm:alice:Bob"] {
            let id = ChannelId::canonical(raw, accounts);
            assert_eq!(id.map(|c| c.to_string()).as_deref(), Some(raw));
        }
    }

    #[test]
    fn is_dm_participant_ignores_case() {
        let dm = canonical_dm(&["alice", "bob"], accounts);
        assert!(is_dm_participant(&dm.names, "ALICE"));
        assert!(is_dm_participant(&dm.names, "bob"));
        assert!(!is_dm_participant(&dm.names, "carol"));
    }

    #[test]
    fn accessors_report_the_kind() {
        assert_eq!(ChannelId::Private(3).private_id(), Some(3));
        assert!(ChannelId::Dm(vec![]).is_dm());
        assert_eq!(ChannelId::Public("x".into()).dm_participants(), None);
    }
}
