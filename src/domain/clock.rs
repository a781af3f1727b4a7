//! The change clock of api.md §5.4 and the wire form of timestamps (§1.3).
//!
//! Cursors compare change times with a strict `>`, so two writes that got the same value would
//! let a resuming client skip one of them. The clock therefore never hands out a value twice and
//! never goes backwards, even when the wall clock stalls or is stepped back by NTP.

/// Hands out strictly increasing timestamps (epoch seconds as `f64`).
///
/// One value per write request: every row a request touches shares it (§5.2, §5.4).
#[derive(Debug, Default, Clone)]
pub struct ChangeClock {
    last: f64,
}

impl ChangeClock {
    /// A clock that has handed out nothing yet; seed it with [`ChangeClock::observe`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The next value: `wall` when it is past everything handed out (or observed) so far, else
    /// the smallest double above the last value.
    ///
    /// A NaN wall clock counts as "not past", so a broken clock still yields increasing values.
    pub fn next(&mut self, wall: f64) -> f64 {
        let value = if wall > self.last {
            wall
        } else {
            next_up(self.last)
        };
        self.last = value;
        value
    }

    /// Raise the floor to `value` (e.g. the greatest change time in the store at start), so
    /// values handed out after a restart still sort after every stored one. Lower values and
    /// NaN are ignored.
    pub fn observe(&mut self, value: f64) {
        if value > self.last {
            self.last = value;
        }
    }

    /// The last value handed out or observed (0 for a fresh clock).
    pub fn last(&self) -> f64 {
        self.last
    }
}

/// The smallest double greater than `x` (IEEE 754 `nextUp`), done on the bit pattern because
/// adding a tiny epsilon is lost to rounding at epoch magnitudes.
///
/// `+inf` and NaN are returned unchanged: there is nothing above them.
pub fn next_up(x: f64) -> f64 {
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x == 0.0 {
        // Both +0 and -0 step to the smallest positive subnormal.
        return f64::from_bits(1);
    }
    let bits = x.to_bits();
    // For positive values a larger bit pattern is a larger number; for negative ones (sign bit
    // set) it is the other way round.
    if x > 0.0 {
        f64::from_bits(bits + 1)
    } else {
        f64::from_bits(bits - 1)
    }
}

/// A timestamp as text, in the shortest form that reads back to the same double (api.md §1.3),
/// for places that write a timestamp outside a JSON body, such as the SSE `id:` line.
///
/// The text is exactly what `serde_json` writes for the same `f64`, so a cursor in an `id:` line
/// and the same value inside a row's JSON always agree: integral values keep a fractional part
/// (`5.0`), typical timestamps are plain decimals (`1795315271.2030423`), and very large or very
/// small magnitudes use an exponent (`1e20`). Non-finite values, which the clock never produces,
/// are written as `0`, which every cursor parser reads back as "from the start".
pub fn format_ts(ts: f64) -> String {
    if !ts.is_finite() {
        return "0".to_string();
    }
    // serde_json cannot fail on a finite f64; fall back to Rust's own shortest form regardless.
    serde_json::to_string(&ts).unwrap_or_else(|_| format!("{ts:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_returns_wall_when_it_has_moved_on() {
        let mut clock = ChangeClock::new();
        assert_eq!(clock.next(100.5), 100.5);
        assert_eq!(clock.next(101.25), 101.25);
    }

    #[test]
    fn next_steps_one_ulp_when_wall_repeats() {
        let mut clock = ChangeClock::new();
        let first = clock.next(1_795_315_271.203_042_3);
        let second = clock.next(1_795_315_271.203_042_3);
        assert!(second > first);
        assert_eq!(second.to_bits(), first.to_bits() + 1);
    }

    #[test]
    fn next_never_runs_backwards_when_wall_is_stepped_back() {
        let mut clock = ChangeClock::new();
        let a = clock.next(2_000_000_000.0);
        let b = clock.next(1_000_000_000.0);
        let c = clock.next(1_500_000_000.0);
        assert!(a < b && b < c);
        assert!(c < 2_000_000_000.001);
    }

    #[test]
    fn many_values_in_a_stalled_clock_are_all_distinct() {
        let mut clock = ChangeClock::new();
        let mut prev = clock.next(1_700_000_000.0);
        for _ in 0..10_000 {
            let v = clock.next(1_700_000_000.0);
            assert!(v > prev);
            prev = v;
        }
    }

    #[test]
    fn observe_raises_the_floor_for_later_values() {
        let mut clock = ChangeClock::new();
        clock.observe(5_000.0);
        let v = clock.next(10.0);
        assert!(v > 5_000.0);
        assert_eq!(v, next_up(5_000.0));
    }

    #[test]
    fn observe_ignores_lower_values_and_nan() {
        let mut clock = ChangeClock::new();
        clock.observe(50.0);
        clock.observe(20.0);
        clock.observe(f64::NAN);
        assert_eq!(clock.last(), 50.0);
    }

    #[test]
    fn nan_wall_clock_still_yields_increasing_values() {
        let mut clock = ChangeClock::new();
        clock.observe(7.0);
        let v = clock.next(f64::NAN);
        assert!(v > 7.0);
    }

    #[test]
    fn next_up_crosses_zero_and_handles_negatives() {
        assert_eq!(next_up(0.0), f64::from_bits(1));
        assert_eq!(next_up(-0.0), f64::from_bits(1));
        assert!(next_up(-1.0) > -1.0);
        assert!(next_up(-1.0) < -0.999_999_999);
        assert_eq!(next_up(1.0), 1.0 + f64::EPSILON);
        assert_eq!(next_up(f64::MAX), f64::INFINITY);
        assert_eq!(next_up(f64::INFINITY), f64::INFINITY);
        assert_eq!(next_up(f64::NEG_INFINITY), f64::MIN);
    }

    #[test]
    fn format_ts_round_trips_and_matches_serde_json() {
        for v in [
            1_795_315_271.203_042_3,
            0.1,
            5.0,
            0.0,
            1e20,
            1.5e-7,
            next_up(1_795_315_271.0),
        ] {
            let text = format_ts(v);
            let back: f64 = text.parse().unwrap();
            assert_eq!(back.to_bits(), v.to_bits(), "{text}");
            assert_eq!(text, serde_json::to_string(&v).unwrap());
        }
    }

    #[test]
    fn format_ts_writes_integral_values_with_a_fraction() {
        assert_eq!(format_ts(5.0), "5.0");
        assert_eq!(format_ts(1_795_315_271.0), "1795315271.0");
        assert_eq!(format_ts(1_795_315_271.203_042_3), "1795315271.2030423");
    }

    #[test]
    fn format_ts_writes_non_finite_as_zero() {
        assert_eq!(format_ts(f64::NAN), "0");
        assert_eq!(format_ts(f64::INFINITY), "0");
    }
}
