//! Metrics in the Prometheus text format, for `minimostctl metrics`: requests by route and
//! status, a latency histogram, open streams, messages sent, writer batch sizes and the size of
//! the database. Counters are process-wide and cost one short lock per request.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

struct Registry {
    /// (method, route pattern, status) → count.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    buckets: [AtomicU64; BUCKETS.len()],
    latency_sum_micros: AtomicU64,
    latency_count: AtomicU64,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry {
        requests: Mutex::new(BTreeMap::new()),
        buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        latency_sum_micros: AtomicU64::new(0),
        latency_count: AtomicU64::new(0),
    })
}

/// Records one finished request. `route` is the matched pattern (`/send/{channel}`), never the
/// raw path, so user data cannot blow up the label set.
pub fn record_request(method: &str, route: &str, status: u16, seconds: f64) {
    let registry = registry();
    if let Ok(mut requests) = registry.requests.lock() {
        *requests
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
    }
    for (bound, bucket) in BUCKETS.iter().zip(&registry.buckets) {
        if seconds <= *bound {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
    }
    registry
        .latency_sum_micros
        .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    registry.latency_count.fetch_add(1, Ordering::Relaxed);
}

/// Point-in-time values the registry does not own.
pub struct Gauges {
    pub open_streams: usize,
    pub open_connections: usize,
    pub database_bytes: u64,
    pub uploads_bytes: u64,
    pub writer_batches: u64,
    pub writer_jobs: u64,
    pub writer_largest_batch: u64,
    pub stun_answered: u64,
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The whole exposition.
pub fn render(gauges: &Gauges) -> String {
    let registry = registry();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP minimost_http_requests_total HTTP requests by route and status."
    );
    let _ = writeln!(out, "# TYPE minimost_http_requests_total counter");
    let mut sent = 0;
    if let Ok(requests) = registry.requests.lock() {
        for ((method, route, status), count) in requests.iter() {
            let _ = writeln!(
                out,
                "minimost_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {count}",
                escape_label(method),
                escape_label(route)
            );
            if route == "/send/{channel}" && *status == 200 {
                sent += count;
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP minimost_http_request_duration_seconds Time to answer a request."
    );
    let _ = writeln!(
        out,
        "# TYPE minimost_http_request_duration_seconds histogram"
    );
    for (bound, bucket) in BUCKETS.iter().zip(&registry.buckets) {
        let _ = writeln!(
            out,
            "minimost_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
            bucket.load(Ordering::Relaxed)
        );
    }
    let count = registry.latency_count.load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "minimost_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
    );
    let _ = writeln!(
        out,
        "minimost_http_request_duration_seconds_sum {}",
        registry.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
    );
    let _ = writeln!(out, "minimost_http_request_duration_seconds_count {count}");
    let gauge = |out: &mut String, name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name} {value}");
    };
    gauge(
        &mut out,
        "minimost_messages_sent_total",
        "counter",
        "Successful POST /send requests.",
        sent,
    );
    gauge(
        &mut out,
        "minimost_event_streams_open",
        "gauge",
        "Open /events streams.",
        gauges.open_streams as u64,
    );
    gauge(
        &mut out,
        "minimost_connections_open",
        "gauge",
        "Open HTTP connections.",
        gauges.open_connections as u64,
    );
    gauge(
        &mut out,
        "minimost_database_bytes",
        "gauge",
        "Database file plus WAL, in bytes.",
        gauges.database_bytes,
    );
    gauge(
        &mut out,
        "minimost_uploads_bytes",
        "gauge",
        "Uploads folder, in bytes.",
        gauges.uploads_bytes,
    );
    gauge(
        &mut out,
        "minimost_writer_batches_total",
        "counter",
        "Transactions committed by the store writer.",
        gauges.writer_batches,
    );
    gauge(
        &mut out,
        "minimost_writer_jobs_total",
        "counter",
        "Writes committed by the store writer.",
        gauges.writer_jobs,
    );
    gauge(
        &mut out,
        "minimost_writer_batch_size_max",
        "gauge",
        "Largest number of writes committed in one transaction.",
        gauges.writer_largest_batch,
    );
    gauge(
        &mut out,
        "minimost_stun_answers_total",
        "counter",
        "STUN Binding Requests answered.",
        gauges.stun_answered,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_and_status_with_a_cumulative_histogram() {
        record_request("POST", "/send/{channel}", 200, 0.003);
        record_request("POST", "/send/{channel}", 200, 0.2);
        let text = render(&Gauges {
            open_streams: 2,
            open_connections: 1,
            database_bytes: 4096,
            uploads_bytes: 0,
            writer_batches: 1,
            writer_jobs: 2,
            writer_largest_batch: 2,
            stun_answered: 0,
        });
        assert!(text.contains("minimost_http_requests_total{method=\"POST\",route=\"/send/{channel}\",status=\"200\"}"));
        assert!(text.contains("minimost_event_streams_open 2"));
        // Buckets are cumulative: the 0.25 s bucket holds both requests of this test at least.
        let line = text.lines().find(|l| l.contains("le=\"0.25\"")).unwrap();
        let value: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(value >= 2, "{line}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c"), "a\\\"b\\\\c");
    }
}
