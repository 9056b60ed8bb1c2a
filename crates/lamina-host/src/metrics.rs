//! Counters for `/metrics` (Prometheus text exposition format 0.0.4): authorizations by
//! response code and a request latency histogram.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Histogram bucket upper bounds, seconds.
pub const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Host metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    by_code: Mutex<BTreeMap<(String, String), u64>>,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
    format_errors: AtomicU64,
    timeouts: AtomicU64,
    connections: AtomicI64,
    in_flight: AtomicI64,
}

impl Metrics {
    /// Records one answered request.
    pub fn record(&self, mti: &str, code: &str, elapsed: Duration) {
        if let Ok(mut m) = self.by_code.lock() {
            *m.entry((mti.to_owned(), code.to_owned())).or_insert(0) += 1;
        }
        let secs = elapsed.as_secs_f64();
        for (b, le) in self.buckets.iter().zip(BUCKETS) {
            if secs <= le {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
    /// Counts a malformed message.
    pub fn format_error(&self) {
        self.format_errors.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts a request that timed out.
    pub fn timeout(&self) {
        self.timeouts.fetch_add(1, Ordering::Relaxed);
    }
    /// Connection opened (+1) or closed (−1).
    pub fn connections(&self, delta: i64) {
        self.connections.fetch_add(delta, Ordering::Relaxed);
    }
    /// Request started (+1) or finished (−1).
    pub fn in_flight(&self, delta: i64) {
        self.in_flight.fetch_add(delta, Ordering::Relaxed);
    }
    /// Total answered requests.
    pub fn total(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Prometheus text format.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP lamina_host_requests_total ISO 8583 requests answered, by MTI and response code."
        );
        let _ = writeln!(s, "# TYPE lamina_host_requests_total counter");
        if let Ok(m) = self.by_code.lock() {
            for ((mti, code), n) in m.iter() {
                let _ = writeln!(
                    s,
                    "lamina_host_requests_total{{mti=\"{mti}\",code=\"{code}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            s,
            "# HELP lamina_host_request_duration_seconds Time from decode to response."
        );
        let _ = writeln!(s, "# TYPE lamina_host_request_duration_seconds histogram");
        for (b, le) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                s,
                "lamina_host_request_duration_seconds_bucket{{le=\"{le}\"}} {}",
                b.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(
            s,
            "lamina_host_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(s, "lamina_host_request_duration_seconds_sum {sum}");
        let _ = writeln!(s, "lamina_host_request_duration_seconds_count {count}");
        for (name, help, v) in [
            (
                "lamina_host_format_errors_total",
                "Malformed messages answered with 30.",
                self.format_errors.load(Ordering::Relaxed) as i64,
            ),
            (
                "lamina_host_timeouts_total",
                "Requests answered with 91 after the per-request timeout.",
                self.timeouts.load(Ordering::Relaxed) as i64,
            ),
        ] {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        }
        for (name, help, v) in [
            (
                "lamina_host_connections",
                "Open ISO 8583 connections.",
                self.connections.load(Ordering::Relaxed),
            ),
            (
                "lamina_host_in_flight",
                "Requests being processed.",
                self.in_flight.load(Ordering::Relaxed),
            ),
        ] {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let m = Metrics::default();
        m.record("0100", "00", Duration::from_micros(800));
        m.record("0100", "51", Duration::from_millis(30));
        let text = m.render();
        assert!(text.contains("lamina_host_requests_total{mti=\"0100\",code=\"00\"} 1"));
        assert!(text.contains("lamina_host_request_duration_seconds_bucket{le=\"0.001\"} 1"));
        assert!(text.contains("lamina_host_request_duration_seconds_bucket{le=\"0.05\"} 2"));
        assert!(text.contains("lamina_host_request_duration_seconds_count 2"));
        assert_eq!(m.total(), 2);
    }
}
