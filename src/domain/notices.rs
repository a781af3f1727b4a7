//! The texts of the system notices (api.md §5.5). Clients and tests match them byte for byte,
//! so every wording lives here once.

/// Posted in the first public channel when `user` signs up. Both emoji are U+1F44B.
pub fn welcome(user: &str) -> String {
    format!("Welcome to MiniMost, {user}! \u{1F44B} Say hello \u{1F44B}")
}

/// Posted in a private channel that `user` renamed to `name`.
pub fn renamed(user: &str, name: &str) -> String {
    format!("{user} has renamed the channel to \"{name}\"")
}

/// Posted in a private channel when `user` added `added` to it.
pub fn added(user: &str, added: &str) -> String {
    format!("{user} added {added} to this channel")
}

/// Posted in a private channel that `user` left while other members remain.
pub fn left(user: &str) -> String {
    format!("{user} has left the channel")
}

/// Posted in the DM between a user and `system` when a password reset link is issued that
/// expires in `minutes` minutes.
pub fn reset_notice(minutes: u64) -> String {
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    format!(
        "A password reset has been requested for your account. The reset link will expire in \
         {minutes} {unit}. If you did not request this, please contact your administrators."
    )
}

/// Posted in a call's channel when an answered call finishes, `duration_secs` after it was
/// answered. The separator is U+00B7 MIDDLE DOT.
pub fn call_ended(duration_secs: f64) -> String {
    format!("Call ended \u{00B7} {}", call_duration(duration_secs))
}

/// Posted in a call's channel when a call finishes without ever being answered.
pub fn missed_call(initiator: &str) -> String {
    format!("Missed call from {initiator}")
}

/// The duration part of [`call_ended`] (api.md §6.9): whole seconds, `Hh Mm` from an hour on,
/// `Mm Ss` from a minute on, else `Ss`.
///
/// Fractions are dropped rather than rounded, so "whole seconds" never overstates the call.
/// Negative or NaN durations (a clock step between answer and end) read as `0s`.
pub fn call_duration(duration_secs: f64) -> String {
    let total = if duration_secs.is_finite() && duration_secs > 0.0 {
        // `as` saturates, so even an absurd value cannot wrap.
        duration_secs.floor() as u64
    } else {
        0
    };
    let (hours, minutes, seconds) = (total / 3600, (total % 3600) / 60, total % 60);
    if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m {seconds}s")
    } else {
        format!("{seconds}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welcome_has_two_waving_hands() {
        let text = welcome("alice");
        assert_eq!(
            text.as_bytes(),
            "Welcome to MiniMost, alice! \u{1F44B} Say hello \u{1F44B}".as_bytes()
        );
        assert_eq!(text.matches('\u{1F44B}').count(), 2);
        assert!(text
            .as_bytes()
            .windows(4)
            .any(|w| w == [0xF0, 0x9F, 0x91, 0x8B]));
    }

    #[test]
    fn renamed_quotes_the_new_name() {
        assert_eq!(
            renamed("bob", "ops team"),
            "bob has renamed the channel to \"ops team\""
        );
    }

    #[test]
    fn added_names_both_users() {
        assert_eq!(added("alice", "Carol"), "alice added Carol to this channel");
    }

    #[test]
    fn left_names_the_leaver() {
        assert_eq!(left("dave"), "dave has left the channel");
    }

    #[test]
    fn reset_notice_uses_plural_minutes() {
        assert_eq!(
            reset_notice(15),
            "A password reset has been requested for your account. The reset link will expire \
             in 15 minutes. If you did not request this, please contact your administrators."
        );
    }

    #[test]
    fn reset_notice_uses_singular_for_one_minute() {
        assert_eq!(
            reset_notice(1),
            "A password reset has been requested for your account. The reset link will expire \
             in 1 minute. If you did not request this, please contact your administrators."
        );
    }

    #[test]
    fn call_ended_uses_middle_dot() {
        let text = call_ended(42.9);
        assert_eq!(text, "Call ended \u{00B7} 42s");
        assert!(text.as_bytes().windows(2).any(|w| w == [0xC2, 0xB7]));
    }

    #[test]
    fn call_duration_picks_unit_by_magnitude() {
        assert_eq!(call_duration(0.0), "0s");
        assert_eq!(call_duration(59.99), "59s");
        assert_eq!(call_duration(60.0), "1m 0s");
        assert_eq!(call_duration(127.0), "2m 7s");
        assert_eq!(call_duration(3599.0), "59m 59s");
        assert_eq!(call_duration(3600.0), "1h 0m");
        assert_eq!(call_duration(3900.5), "1h 5m");
        assert_eq!(call_duration(90_000.0), "25h 0m");
    }

    #[test]
    fn call_duration_treats_negative_and_nan_as_zero() {
        assert_eq!(call_duration(-3.0), "0s");
        assert_eq!(call_duration(f64::NAN), "0s");
    }

    #[test]
    fn missed_call_names_the_initiator() {
        assert_eq!(missed_call("Bob"), "Missed call from Bob");
    }
}
