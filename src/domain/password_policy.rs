//! Password policy, history, age and lockout rules (api.md §6.1.1–§6.1.5), and the user-facing
//! messages of the login, signup and change-password flows. Everything here is pure: times are
//! passed in as epoch seconds (`f64`), settings as the raw integers of the config (§8), so the
//! "≤ 0 disables" conventions are decided here rather than in every caller.

use thiserror::Error;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};

/// Longest password accepted anywhere (policy rule 2; login refuses longer ones unhashed).
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// The policy floor: `password_min_length` can raise the minimum but never lower it below this.
pub const MIN_PASSWORD_FLOOR: i64 = 15;
/// Characters that satisfy rule 6. A space deliberately does not count.
pub const SPECIAL_CHARACTERS: &str = "!@#$%^&*()_+-=[]{};':\"\\|,.<>/?`~";

/// Login: unknown user, wrong password, or an overlong password (§6.1.1 steps 2 and 5).
pub const INVALID_CREDENTIALS: &str = "Invalid credentials";
/// Login with a correct but expired password (§6.1.1 step 6).
pub const PASSWORD_EXPIRED: &str =
    "Your password has expired. Ask an administrator to reset it (minimostctl reset-password).";
/// Signup with an empty username or password (§6.1.2 step 2).
pub const MISSING_FIELDS: &str = "Missing fields";
/// Signup with a name that exists case-insensitively (§6.1.2 step 6).
pub const USER_EXISTS: &str = "User already exists";
/// Change-password when the current password does not verify (§6.1.3 step 1).
pub const CURRENT_PASSWORD_INCORRECT: &str = "Current password is incorrect";
/// Login, signup and reset forms on a CSRF failure (§2.4).
pub const FORM_SESSION_EXPIRED: &str = "Your session expired. Please try again.";

/// The first policy rule a candidate password breaks. `Display` is the exact message of §6.1.5.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    #[error("Password must be at least {min} characters")]
    TooShort { min: i64 },
    #[error("Password must be at most 1024 characters")]
    TooLong,
    #[error("Password must contain at least one number")]
    NoDigit,
    #[error("Password must contain at least one uppercase letter")]
    NoUppercase,
    #[error("Password must contain at least one lowercase letter")]
    NoLowercase,
    #[error("Password must contain at least one special character")]
    NoSpecial,
    #[error("Passwords do not match")]
    Mismatch,
}

/// Applies rules 1–7 of §6.1.5 in order and reports the first failure.
/// `min_length_setting` is `password_min_length`; the effective minimum is at least 15.
pub fn check(password: &str, confirm: &str, min_length_setting: i64) -> Result<(), PolicyError> {
    let min = min_length_setting.max(MIN_PASSWORD_FLOOR);
    // "Characters" are code points, so count chars, not bytes or graphemes.
    let length = password.chars().count();
    if i64::try_from(length).unwrap_or(i64::MAX) < min {
        return Err(PolicyError::TooShort { min });
    }
    if length > MAX_PASSWORD_CHARS {
        return Err(PolicyError::TooLong);
    }
    if !password.chars().any(is_decimal_digit) {
        return Err(PolicyError::NoDigit);
    }
    if !password.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(PolicyError::NoUppercase);
    }
    if !password.chars().any(|c| c.is_ascii_lowercase()) {
        return Err(PolicyError::NoLowercase);
    }
    if !password.chars().any(|c| SPECIAL_CHARACTERS.contains(c)) {
        return Err(PolicyError::NoSpecial);
    }
    if password != confirm {
        return Err(PolicyError::Mismatch);
    }
    Ok(())
}

/// A Unicode decimal digit is general category Nd (`٣`, `７`, `𝟘`…). `char::is_numeric` would be
/// too broad: it also takes letter numbers (`Ⅳ`) and other numbers (`²`, `½`).
fn is_decimal_digit(c: char) -> bool {
    c.general_category() == GeneralCategory::DecimalNumber
}

/// Password history entries to keep after a password is set: max(1, `password_history_count`).
pub fn history_keep(count_setting: i64) -> usize {
    usize::try_from(count_setting.max(1)).unwrap_or(usize::MAX)
}

/// How many of the newest history entries a change or reset is checked against
/// (`password_history_count`); `0` means the reuse check is off (a setting ≤ 0).
pub fn reuse_check_depth(count_setting: i64) -> usize {
    usize::try_from(count_setting.max(0)).unwrap_or(usize::MAX)
}

/// The refusal for a reused password, with N = `password_history_count`.
pub fn reuse_message(n: i64) -> String {
    if n == 1 {
        "New password must not match your last password.".to_owned()
    } else {
        format!("New password must not match any of your last {n} passwords.")
    }
}

/// Whether an account is locked at `now` (`lockout_until > now`).
pub fn is_locked(lockout_until: Option<f64>, now: f64) -> bool {
    lockout_until.is_some_and(|until| until > now)
}

/// The lock message of §6.1.1 step 4, "minute" when N = 1.
pub fn lock_message(minutes: u64) -> String {
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    format!("Account locked due to too many failed login attempts. Try again in {minutes} {unit}.")
}

/// N for an account that is already locked: ⌊(lockout_until − now)/60⌋ + 1. Never below 1, so a
/// lock about to expire still reads "1 minute".
pub fn minutes_left(lockout_until: f64, now: f64) -> u64 {
    let whole = ((lockout_until - now) / 60.0).floor();
    // `as` saturates (and maps NaN to 0), which is what we want for absurd stored values.
    (whole as u64).saturating_add(1).max(1)
}

/// N for a lock that has just been imposed: max(1, ⌊lockout seconds/60⌋).
pub fn fresh_lock_minutes(lockout_seconds: f64) -> u64 {
    ((lockout_seconds / 60.0).floor() as u64).max(1)
}

/// What a failed login does to a known account (§6.1.1 step 5, §6.1.5 "Lockout").
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FailureOutcome {
    /// Lockout is disabled (`max_login_attempts` ≤ 0): nothing is stored.
    NotTracked,
    /// Store this counter; the account stays unlocked.
    Counted { failed_attempts: i64 },
    /// Store `lockout_until` and a counter of 0, and show [`lock_message`]`(minutes)`.
    Locked { lockout_until: f64, minutes: u64 },
}

/// Decides the effect of one more failed login, given the stored counter and the settings
/// `max_login_attempts` and `lockout_duration_minutes`.
pub fn record_failure(
    failed_attempts: i64,
    max_login_attempts: i64,
    lockout_duration_minutes: i64,
    now: f64,
) -> FailureOutcome {
    if max_login_attempts <= 0 {
        return FailureOutcome::NotTracked;
    }
    let attempts = failed_attempts.max(0).saturating_add(1);
    if attempts < max_login_attempts {
        return FailureOutcome::Counted {
            failed_attempts: attempts,
        };
    }
    let seconds = lockout_duration_minutes.max(0) as f64 * 60.0;
    FailureOutcome::Locked {
        lockout_until: now + seconds,
        minutes: fresh_lock_minutes(seconds),
    }
}

/// Whether a correct password is too old to log in with (`password_max_age_days` > 0 and the
/// password was set longer ago than that).
pub fn is_expired(password_set_ts: f64, max_age_days: i64, now: f64) -> bool {
    max_age_days > 0 && now - password_set_ts > max_age_days as f64 * 86_400.0
}

/// Seconds left before a change is allowed (`password_min_age_hours`), or `None` when a change
/// is allowed now. Only `POST /change-password` applies this; the admin reset does not.
pub fn min_age_remaining(password_set_ts: f64, min_age_hours: i64, now: f64) -> Option<f64> {
    if min_age_hours <= 0 {
        return None;
    }
    let remaining = password_set_ts + min_age_hours as f64 * 3600.0 - now;
    (remaining > 0.0).then_some(remaining)
}

/// The refusal of §6.1.3 change-password step 2: N = max(1, ⌈remaining/3600⌉), "hour" when 1.
pub fn too_recent_message(remaining_secs: f64) -> String {
    let hours = ((remaining_secs / 3600.0).ceil() as u64).max(1);
    let unit = if hours == 1 { "hour" } else { "hours" };
    format!("Your password was changed too recently. Try again in about {hours} {unit}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "Sufficiently-long-9";

    fn err(pw: &str) -> String {
        match check(pw, pw, 0) {
            Ok(()) => "ok".to_owned(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn good_password_passes() {
        assert_eq!(check(GOOD, GOOD, 0), Ok(()));
    }

    #[test]
    fn minimum_length_is_at_least_fifteen() {
        assert_eq!(
            err("Short-pass-9xY"),
            "Password must be at least 15 characters"
        );
        assert_eq!(check("Short-pass-9xYz", "Short-pass-9xYz", 3), Ok(()));
        assert_eq!(
            check(GOOD, GOOD, 20).map_err(|e| e.to_string()),
            Err("Password must be at least 20 characters".to_owned())
        );
    }

    #[test]
    fn length_counts_code_points_not_bytes() {
        // 14 ASCII + one 4-byte emoji = 15 code points.
        let pw = "Aa1!aaaaaaaaaa\u{1F600}";
        assert_eq!(pw.chars().count(), 15);
        assert_eq!(check(pw, pw, 0), Ok(()));
        // 14 code points but far more than 15 bytes.
        let short = "Aa1!éééééééééé";
        assert_eq!(err(short), "Password must be at least 15 characters");
    }

    #[test]
    fn maximum_length_is_1024_characters() {
        let ok = format!("Aa1!{}", "x".repeat(1020));
        assert_eq!(check(&ok, &ok, 0), Ok(()));
        let long = format!("Aa1!{}", "x".repeat(1021));
        assert_eq!(err(&long), "Password must be at most 1024 characters");
        // A minimum above 1024 is reported first, as rule 1 comes first.
        assert_eq!(
            check(&long, &long, 2000).map_err(|e| e.to_string()),
            Err("Password must be at least 2000 characters".to_owned())
        );
    }

    #[test]
    fn huge_minimum_setting_does_not_overflow() {
        assert_eq!(
            check(GOOD, GOOD, i64::MAX),
            Err(PolicyError::TooShort { min: i64::MAX })
        );
    }

    #[test]
    fn digit_rule_accepts_any_nd_digit_only() {
        assert_eq!(
            err("No-digits-here-Abc"),
            "Password must contain at least one number"
        );
        // Arabic-Indic three, fullwidth seven and mathematical bold zero are Nd.
        for digit in ['\u{663}', '\u{FF17}', '\u{1D7CE}'] {
            let pw = format!("No-digits-here-Abc{digit}");
            assert_eq!(check(&pw, &pw, 0), Ok(()), "{digit:?} should count");
        }
        // Superscript two, one half and Roman numeral four are numeric but not Nd.
        for not_digit in ['\u{B2}', '\u{BD}', '\u{2163}'] {
            let pw = format!("No-digits-here-Abc{not_digit}");
            assert_eq!(
                check(&pw, &pw, 0),
                Err(PolicyError::NoDigit),
                "{not_digit:?} should not count"
            );
        }
    }

    #[test]
    fn case_rules_need_ascii_letters() {
        assert_eq!(
            err("all-lower-case-9x"),
            "Password must contain at least one uppercase letter"
        );
        assert_eq!(
            err("ÉCOLE-UPPER-ONLY-9"),
            "Password must contain at least one lowercase letter"
        );
        assert_eq!(
            err("école-lower-9-ÉÉÉÉ"),
            "Password must contain at least one uppercase letter"
        );
    }

    #[test]
    fn special_rule_ignores_spaces_and_other_symbols() {
        assert_eq!(
            err("Has spaces only 9"),
            "Password must contain at least one special character"
        );
        assert_eq!(
            err("Currency€§Only9xyz"),
            "Password must contain at least one special character"
        );
        for special in SPECIAL_CHARACTERS.chars() {
            let pw = format!("Plainpassword9x{special}");
            assert_eq!(check(&pw, &pw, 0), Ok(()), "{special:?} should count");
        }
        assert_eq!(SPECIAL_CHARACTERS.chars().count(), 32);
    }

    #[test]
    fn mismatch_is_the_last_rule() {
        assert_eq!(
            check(GOOD, "something else", 0).map_err(|e| e.to_string()),
            Err("Passwords do not match".to_owned())
        );
        // A weak password with a mismatching confirmation reports the weakness first.
        assert_eq!(
            check("short", "other", 0),
            Err(PolicyError::TooShort { min: 15 })
        );
    }

    #[test]
    fn rules_are_reported_in_order() {
        // Lacks everything but length: the digit rule is reported before the case rules.
        assert_eq!(check("               ", "", 0), Err(PolicyError::NoDigit));
        assert_eq!(
            check("1              ", "", 0),
            Err(PolicyError::NoUppercase)
        );
        assert_eq!(
            check("1A             ", "", 0),
            Err(PolicyError::NoLowercase)
        );
        assert_eq!(check("1Aa            ", "", 0), Err(PolicyError::NoSpecial));
        assert_eq!(check("1Aa!           ", "", 0), Err(PolicyError::Mismatch));
    }

    #[test]
    fn reuse_message_is_singular_for_one() {
        assert_eq!(
            reuse_message(1),
            "New password must not match your last password."
        );
        assert_eq!(
            reuse_message(5),
            "New password must not match any of your last 5 passwords."
        );
    }

    #[test]
    fn history_keeps_at_least_one_entry() {
        assert_eq!(history_keep(0), 1);
        assert_eq!(history_keep(-3), 1);
        assert_eq!(history_keep(5), 5);
        assert_eq!(reuse_check_depth(0), 0);
        assert_eq!(reuse_check_depth(-1), 0);
        assert_eq!(reuse_check_depth(4), 4);
    }

    #[test]
    fn lock_message_pluralises_minutes() {
        assert_eq!(
            lock_message(1),
            "Account locked due to too many failed login attempts. Try again in 1 minute."
        );
        assert_eq!(
            lock_message(15),
            "Account locked due to too many failed login attempts. Try again in 15 minutes."
        );
    }

    #[test]
    fn minutes_left_rounds_down_then_adds_one() {
        assert_eq!(minutes_left(1000.0 + 600.0, 1000.0), 11);
        assert_eq!(minutes_left(1000.0 + 599.9, 1000.0), 10);
        assert_eq!(minutes_left(1000.0 + 59.0, 1000.0), 1);
        assert_eq!(minutes_left(1000.0 + 0.5, 1000.0), 1);
        assert_eq!(minutes_left(f64::NAN, 1000.0), 1);
    }

    #[test]
    fn fresh_lock_reports_whole_minutes_at_least_one() {
        assert_eq!(fresh_lock_minutes(900.0), 15);
        assert_eq!(fresh_lock_minutes(30.0), 1);
        assert_eq!(fresh_lock_minutes(0.0), 1);
    }

    #[test]
    fn lockout_triggers_on_the_nth_failure_and_resets_the_counter() {
        let now = 5000.0;
        assert_eq!(
            record_failure(0, 3, 15, now),
            FailureOutcome::Counted { failed_attempts: 1 }
        );
        assert_eq!(
            record_failure(1, 3, 15, now),
            FailureOutcome::Counted { failed_attempts: 2 }
        );
        assert_eq!(
            record_failure(2, 3, 15, now),
            FailureOutcome::Locked {
                lockout_until: now + 900.0,
                minutes: 15
            }
        );
        assert_eq!(
            record_failure(0, 1, 0, now),
            FailureOutcome::Locked {
                lockout_until: now,
                minutes: 1
            }
        );
    }

    #[test]
    fn lockout_disabled_tracks_nothing() {
        assert_eq!(record_failure(7, 0, 15, 1.0), FailureOutcome::NotTracked);
        assert_eq!(record_failure(7, -1, 15, 1.0), FailureOutcome::NotTracked);
    }

    #[test]
    fn lock_holds_only_while_in_the_future() {
        assert!(is_locked(Some(10.0), 9.9));
        assert!(!is_locked(Some(10.0), 10.0));
        assert!(!is_locked(None, 0.0));
    }

    #[test]
    fn password_expires_only_when_max_age_is_set() {
        let day = 86_400.0;
        assert!(!is_expired(0.0, 0, 1000.0 * day));
        assert!(!is_expired(0.0, 30, 30.0 * day));
        assert!(is_expired(0.0, 30, 30.0 * day + 1.0));
    }

    #[test]
    fn min_age_blocks_change_until_elapsed() {
        assert_eq!(min_age_remaining(0.0, 0, 10.0), None);
        assert_eq!(min_age_remaining(0.0, 24, 3600.0), Some(23.0 * 3600.0));
        assert_eq!(min_age_remaining(0.0, 24, 24.0 * 3600.0), None);
    }

    #[test]
    fn too_recent_message_rounds_hours_up() {
        assert_eq!(
            too_recent_message(1.0),
            "Your password was changed too recently. Try again in about 1 hour."
        );
        assert_eq!(
            too_recent_message(3600.0),
            "Your password was changed too recently. Try again in about 1 hour."
        );
        assert_eq!(
            too_recent_message(3601.0),
            "Your password was changed too recently. Try again in about 2 hours."
        );
    }
}
