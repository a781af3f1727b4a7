//! Mentions (api.md §4.5): `@name` in message text, and the `mentions` value stored with a row.
//!
//! The pattern is `@` followed by one or more `[A-Za-z0-9_-]`, where the `@` must not follow a
//! Unicode word character, another `@` or a `/`. That keeps e-mail addresses (`a@b.c`) and paths
//! or URLs (`…/@x`) from pinging people. It is scanned by hand rather than with a regex because
//! the look-behind is the whole difficulty and is clearer spelled out.

use crate::domain::channel::{cmp_name_order, same_name};

/// The value stored instead of names when `@everyone` was mentioned.
pub const EVERYONE: &str = "@everyone";

/// The names mentioned in `text`, without the `@`, in order of first appearance and each once
/// (case-insensitively; the first spelling is kept).
pub fn extract(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut prev: Option<char> = None;
    for (at, c) in text.char_indices() {
        if c == '@' && !prev.is_some_and(blocks_mention) {
            let rest = &text[at + 1..];
            let len = rest
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
                .count();
            // Name characters are ASCII, so `len` bytes is also a char boundary.
            let name = &rest[..len];
            if !name.is_empty() && !found.iter().any(|f| same_name(f, name)) {
                found.push(name.to_string());
            }
        }
        prev = Some(c);
    }
    found
}

/// The `mentions` value for `text` posted in a channel whose members are `members` (§4.5):
/// `["@everyone"]` when `@everyone` (any case) matched; otherwise the members whose names
/// matched, case-insensitively, in name order, each once; `None` when nothing matched.
///
/// Names that are not members are ignored, so `@stranger` alone gives `None`.
pub fn resolve<S: AsRef<str>>(text: &str, members: &[S]) -> Option<Vec<String>> {
    let names = extract(text);
    if names.iter().any(|n| n.eq_ignore_ascii_case("everyone")) {
        return Some(vec![EVERYONE.to_string()]);
    }
    let mut matched: Vec<String> = Vec::new();
    for member in members.iter().map(AsRef::as_ref) {
        if names.iter().any(|n| same_name(n, member)) && !matched.iter().any(|m| m == member) {
            matched.push(member.to_string());
        }
    }
    if matched.is_empty() {
        return None;
    }
    matched.sort_by(|a, b| cmp_name_order(a, b));
    Some(matched)
}

/// Whether a row with `mentions` mentions `user` (§4.5), `sender` being its author: a user is
/// never mentioned by their own row.
pub fn mentions_user<S: AsRef<str>>(mentions: &[S], sender: &str, user: &str) -> bool {
    !same_name(sender, user)
        && mentions
            .iter()
            .any(|m| m.as_ref() == EVERYONE || same_name(m.as_ref(), user))
}

/// Whether a character before `@` stops it from starting a mention: a Unicode word character
/// (as regex `\w` defines it), another `@`, or `/`.
fn blocks_mention(c: char) -> bool {
    c == '@' || c == '/' || is_word_char(c)
}

/// Unicode `\w` (UTS #18 Annex C): alphabetic, numeric, marks, connector punctuation and the
/// join controls.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
        || unicode_normalization::char::is_combining_mark(c)
        || is_connector_punctuation(c)
        || c == '\u{200C}'
        || c == '\u{200D}'
}

/// General category Pc. The category is small and stable, so it is listed rather than pulling
/// in a Unicode tables crate.
fn is_connector_punctuation(c: char) -> bool {
    matches!(
        c,
        '_' | '\u{203F}'
            | '\u{2040}'
            | '\u{2054}'
            | '\u{FE33}'
            | '\u{FE34}'
            | '\u{FE4D}'
            | '\u{FE4E}'
            | '\u{FE4F}'
            | '\u{FF3F}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members() -> Vec<String> {
        ["alice", "Bob", "carol", "dave-o", "x_y"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn extract_finds_names_at_start_and_after_spaces() {
        assert_eq!(extract("@alice hi @Bob"), ["alice", "Bob"]);
    }

    #[test]
    fn extract_ignores_email_addresses() {
        assert!(extract("mail a@b.c now").is_empty());
        assert!(extract("bob@example.com").is_empty());
    }

    #[test]
    fn extract_ignores_at_after_slash() {
        assert!(extract("see x/@y").is_empty());
        assert!(extract("https://host/@carol/post").is_empty());
    }

    #[test]
    fn extract_ignores_double_at() {
        assert!(extract("@@x").is_empty());
        assert!(extract("hey @@alice").is_empty());
    }

    #[test]
    fn extract_ignores_at_after_non_ascii_letter() {
        assert!(extract("é@x").is_empty());
        assert!(extract("日本@x").is_empty());
        assert!(extract("٣@x").is_empty(), "Arabic-Indic digit is \\w");
    }

    #[test]
    fn extract_ignores_at_after_combining_mark_and_connector() {
        // "e" + COMBINING ACUTE ACCENT, then "@x": the mark is \w.
        assert!(extract("e\u{0301}@x").is_empty());
        assert!(extract("\u{0301}@x").is_empty());
        assert!(extract("_@x").is_empty());
        assert!(extract("\u{203F}@x").is_empty());
    }

    #[test]
    fn extract_accepts_punctuation_before_at() {
        assert_eq!(extract("(@bob)"), ["bob"]);
        assert_eq!(extract("@Bob, hi"), ["Bob"]);
        assert_eq!(extract("\"@alice\""), ["alice"]);
        assert_eq!(extract("-@alice"), ["alice"]);
        assert_eq!(extract("line\n@alice"), ["alice"]);
        assert_eq!(extract("👋@alice"), ["alice"], "emoji are not \\w");
    }

    #[test]
    fn extract_stops_name_at_first_other_character() {
        assert_eq!(extract("@dave-o's turn"), ["dave-o"]);
        assert_eq!(extract("@x_y."), ["x_y"]);
        assert_eq!(extract("@bobé"), ["bob"]);
    }

    #[test]
    fn extract_needs_at_least_one_name_character() {
        assert!(extract("@ alice").is_empty());
        assert!(extract("@").is_empty());
        assert!(extract("trailing @").is_empty());
    }

    #[test]
    fn extract_reports_each_name_once() {
        assert_eq!(extract("@bob @BOB @alice @bob"), ["bob", "alice"]);
    }

    #[test]
    fn extract_finds_second_mention_after_dash_ending_name() {
        // The name run swallows the '-', and '-' is not \w, so the next '@' still counts.
        assert_eq!(extract("@a-@b"), ["a-", "b"]);
        assert_eq!(extract("@a@b"), ["a"]);
    }

    #[test]
    fn resolve_lists_members_in_name_order() {
        assert_eq!(
            resolve("@carol and @BOB and @alice", &members()),
            Some(vec!["alice".into(), "Bob".into(), "carol".into()])
        );
    }

    #[test]
    fn resolve_ignores_non_members() {
        assert_eq!(
            resolve("@stranger @bob", &members()),
            Some(vec!["Bob".into()])
        );
        assert_eq!(resolve("@stranger", &members()), None);
    }

    #[test]
    fn resolve_gives_none_when_nothing_matched() {
        assert_eq!(resolve("no mentions here", &members()), None);
        assert_eq!(resolve("a@bob.c", &members()), None);
    }

    #[test]
    fn resolve_everyone_in_any_case_wins() {
        for text in ["@everyone", "hi @EveryOne", "@bob @EVERYONE"] {
            assert_eq!(
                resolve(text, &members()),
                Some(vec![EVERYONE.to_string()]),
                "{text}"
            );
        }
        // Even in a channel with no members listed at all.
        assert_eq!(
            resolve::<String>("@everyone", &[]),
            Some(vec![EVERYONE.to_string()])
        );
    }

    #[test]
    fn resolve_does_not_treat_everyone_prefix_as_everyone() {
        assert_eq!(resolve("@everyone1 @everyones", &members()), None);
    }

    #[test]
    fn resolve_includes_the_sender_when_self_mentioned() {
        // The sender is simply a member; nothing filters them out at this stage.
        assert_eq!(
            resolve("note to @alice", &members()),
            Some(vec!["alice".into()])
        );
    }

    #[test]
    fn mentions_user_excludes_the_sender() {
        let m = vec!["alice".to_string(), "Bob".to_string()];
        assert!(mentions_user(&m, "carol", "bob"));
        assert!(!mentions_user(&m, "alice", "ALICE"));
        let all = vec![EVERYONE.to_string()];
        assert!(mentions_user(&all, "alice", "dave"));
        assert!(!mentions_user(&all, "dave", "dave"));
    }
}
