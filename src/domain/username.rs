//! Username rules (api.md §6.1.4, §6.1.2 steps 2–4) and name order (§1.3).

use std::cmp::Ordering;

use thiserror::Error;

/// Longest username, in characters (all of them ASCII).
pub const MAX_USERNAME_LEN: usize = 32;
/// Names nobody may register, compared case-insensitively. `system` posts the reset notices,
/// `everyone` is a mention target, `deleteduser` stands in for removed accounts.
pub const RESERVED: [&str; 4] = ["minimost", "everyone", "deleteduser", "system"];

/// Why a signup name is refused. `Display` is the exact message of §6.1.2.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UsernameError {
    #[error("Missing fields")]
    Empty,
    /// Carries the trimmed name as typed.
    #[error("\"{0}\" is a protected username")]
    Reserved(String),
    #[error("Username may only contain letters, numbers, hyphens, and underscores (1\u{2013}32 characters)")]
    Invalid,
}

/// Checks a name typed at signup and returns it trimmed, in the spelling that will be
/// registered. Order: empty, reserved, pattern (§6.1.2). Signup must still test the password
/// for emptiness before calling this, because step 2 covers both fields.
pub fn validate_new(raw: &str) -> Result<String, UsernameError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(UsernameError::Empty);
    }
    if is_reserved(name) {
        return Err(UsernameError::Reserved(name.to_owned()));
    }
    if !matches_pattern(name) {
        return Err(UsernameError::Invalid);
    }
    Ok(name.to_owned())
}

/// A full match of `[A-Za-z0-9_-]{1,32}`.
fn matches_pattern(name: &str) -> bool {
    (1..=MAX_USERNAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether `name` is one of [`RESERVED`], ignoring ASCII case.
pub fn is_reserved(name: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name))
}

/// The case-insensitive key of a username: two names are the same account exactly when their
/// folds are equal. Only ASCII letters are folded: registered names are ASCII, and Unicode
/// lowercasing would let look-alikes such as the Kelvin sign (U+212A → `k`) resolve to a real
/// account. This also agrees with SQLite's `NOCASE` collation.
pub fn fold(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// Name order (§1.3): by lowercase form, ties broken by code point, so the order is total and
/// `Bob` always sorts before `bob`.
pub fn name_order(a: &str, b: &str) -> Ordering {
    let lower_a = a.chars().flat_map(char::to_lowercase);
    let lower_b = b.chars().flat_map(char::to_lowercase);
    // Byte order of UTF-8 is code-point order, so `str::cmp` breaks ties correctly.
    lower_a.cmp(lower_b).then_with(|| a.cmp(b))
}

/// Sorts usernames into name order in place.
pub fn sort_names(v: &mut [String]) {
    v.sort_by(|a, b| name_order(a, b));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_name_is_returned_trimmed_in_its_spelling() {
        assert_eq!(validate_new("  Alice_B-2 \t"), Ok("Alice_B-2".to_owned()));
    }

    #[test]
    fn blank_name_is_missing_fields() {
        assert_eq!(validate_new("   "), Err(UsernameError::Empty));
        assert_eq!(UsernameError::Empty.to_string(), "Missing fields");
    }

    #[test]
    fn reserved_names_are_refused_in_any_case_with_quotes() {
        for name in ["minimost", "EVERYONE", "DeletedUser", " System "] {
            assert!(matches!(
                validate_new(name),
                Err(UsernameError::Reserved(_))
            ));
        }
        assert_eq!(
            validate_new(" SyStem ").map_err(|e| e.to_string()),
            Err("\"SyStem\" is a protected username".to_owned())
        );
        assert!(!is_reserved("systems"));
        assert!(!is_reserved("Deleted User"));
    }

    #[test]
    fn reserved_check_comes_before_pattern_check() {
        // Both reserved-looking and valid: reserved wins. An invalid name is never "protected".
        assert!(matches!(
            validate_new("everyone"),
            Err(UsernameError::Reserved(_))
        ));
        assert_eq!(validate_new("every one"), Err(UsernameError::Invalid));
    }

    #[test]
    fn pattern_allows_only_ascii_word_characters_up_to_32() {
        assert_eq!(
            UsernameError::Invalid.to_string(),
            "Username may only contain letters, numbers, hyphens, and underscores (1–32 characters)"
        );
        assert!(UsernameError::Invalid.to_string().contains('\u{2013}'));
        assert!(validate_new(&"a".repeat(32)).is_ok());
        assert_eq!(validate_new(&"a".repeat(33)), Err(UsernameError::Invalid));
        for bad in [
            "bob smith",
            "bob.smith",
            "bøb",
            "bob@x",
            "émile",
            "bob\u{0}",
        ] {
            assert_eq!(validate_new(bad), Err(UsernameError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn fold_is_ascii_case_insensitive_only() {
        assert_eq!(fold("AlIcE"), fold("alice"));
        assert_ne!(fold("\u{212A}ate"), fold("kate"));
    }

    #[test]
    fn name_order_is_case_insensitive_with_code_point_ties() {
        let mut v: Vec<String> = ["bob", "Alice", "carol", "Bob", "alice", "_x", "Zed", "10"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        sort_names(&mut v);
        assert_eq!(
            v,
            ["10", "_x", "Alice", "alice", "Bob", "bob", "carol", "Zed"]
        );
        assert_eq!(name_order("Bob", "bob"), Ordering::Less);
        assert_eq!(name_order("bob", "bob"), Ordering::Equal);
    }
}
