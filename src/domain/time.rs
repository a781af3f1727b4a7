//! The wall clock as the contract writes it: Unix epoch seconds as a float (api.md §1.3).

/// Now, in epoch seconds with sub-microsecond precision.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
