//! Prometheus text-format metrics (exposition format 0.0.4): requests by route and status,
//! ingest latency, ledger size, and documents by outcome and rejection code.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default)]
struct Histogram {
    /// Cumulative counts per bucket, then +Inf.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }
}

#[derive(Default)]
struct Counters {
    requests: BTreeMap<(&'static str, &'static str, u16), u64>,
    ingest: BTreeMap<&'static str, Histogram>,
    documents: BTreeMap<&'static str, u64>,
    rejects: BTreeMap<&'static str, u64>,
}

#[derive(Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
    /// The ledger size, kept by the writer after each commit.
    pub ledger_size: Arc<AtomicU64>,
    pub trust_reloads: AtomicU64,
    /// Documents archived whose `(merchant, order_id)` already was in another series.
    pub duplicate_orders: AtomicU64,
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Counters) -> T) -> T {
        // A poisoned lock only means another request panicked mid-update; counts stay usable.
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut counters)
    }

    pub fn request(&self, method: &'static str, route: &'static str, status: u16) {
        self.with(|c| *c.requests.entry((method, route, status)).or_default() += 1);
    }

    pub fn ingest(&self, route: &'static str, elapsed: Duration) {
        self.with(|c| {
            c.ingest
                .entry(route)
                .or_default()
                .observe(elapsed.as_secs_f64())
        });
    }

    /// One document's outcome: `created`, `replayed` or `rejected` with its code.
    pub fn document(&self, outcome: &'static str, code: Option<&'static str>) {
        self.with(|c| {
            *c.documents.entry(outcome).or_default() += 1;
            if let Some(code) = code {
                *c.rejects.entry(code).or_default() += 1;
            }
        });
    }

    /// One `DUPLICATE_ORDER`: allowed, but an operator should look (docs/ARCHITECTURE.md).
    pub fn duplicate_order(&self) {
        self.duplicate_orders.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.with(|c| {
            let _ = writeln!(out, "# HELP origin_http_requests_total HTTP requests by method, route and status.");
            let _ = writeln!(out, "# TYPE origin_http_requests_total counter");
            for ((method, route, status), n) in &c.requests {
                let _ = writeln!(
                    out,
                    "origin_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
            let _ = writeln!(out, "# HELP origin_ingest_duration_seconds Time to answer an ingest request (PUT or batch), signature checks and fsync'd commit included.");
            let _ = writeln!(out, "# TYPE origin_ingest_duration_seconds histogram");
            for (route, h) in &c.ingest {
                for (bound, count) in BUCKETS.iter().zip(&h.counts) {
                    let _ = writeln!(
                        out,
                        "origin_ingest_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                    );
                }
                let _ = writeln!(
                    out,
                    "origin_ingest_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(out, "origin_ingest_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum);
                let _ = writeln!(out, "origin_ingest_duration_seconds_count{{route=\"{route}\"}} {}", h.count);
            }
            let _ = writeln!(out, "# HELP origin_documents_total Documents ingested, by outcome (created, replayed, rejected).");
            let _ = writeln!(out, "# TYPE origin_documents_total counter");
            for (outcome, n) in &c.documents {
                let _ = writeln!(out, "origin_documents_total{{outcome=\"{outcome}\"}} {n}");
            }
            let _ = writeln!(out, "# HELP origin_rejects_total Documents not archived, by problem code.");
            let _ = writeln!(out, "# TYPE origin_rejects_total counter");
            for (code, n) in &c.rejects {
                let _ = writeln!(out, "origin_rejects_total{{code=\"{code}\"}} {n}");
            }
        });
        let _ = writeln!(
            out,
            "# HELP origin_ledger_entries Archived documents in the ledger (the last ledger_seq)."
        );
        let _ = writeln!(out, "# TYPE origin_ledger_entries gauge");
        let _ = writeln!(
            out,
            "origin_ledger_entries {}",
            self.ledger_size.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP origin_duplicate_orders_total Documents archived whose (merchant, order_id) was already archived in another series (DUPLICATE_ORDER).");
        let _ = writeln!(out, "# TYPE origin_duplicate_orders_total counter");
        let _ = writeln!(
            out,
            "origin_duplicate_orders_total {}",
            self.duplicate_orders.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP origin_trust_reloads_total Successful reloads of the trusted edge JWKS (SIGHUP).");
        let _ = writeln!(out, "# TYPE origin_trust_reloads_total counter");
        let _ = writeln!(
            out,
            "origin_trust_reloads_total {}",
            self.trust_reloads.load(Ordering::Relaxed)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.request("PUT", "/v1/ledger/invoices/{id}", 201);
        metrics.ingest("put", Duration::from_micros(800));
        metrics.ingest("put", Duration::from_millis(20));
        metrics.document("rejected", Some("UNKNOWN_KID"));
        let text = metrics.render();
        assert!(text.contains(
            "origin_http_requests_total{method=\"PUT\",route=\"/v1/ledger/invoices/{id}\",status=\"201\"} 1"
        ));
        assert!(
            text.contains("origin_ingest_duration_seconds_bucket{route=\"put\",le=\"0.001\"} 1")
        );
        assert!(
            text.contains("origin_ingest_duration_seconds_bucket{route=\"put\",le=\"0.025\"} 2")
        );
        assert!(text.contains("origin_ingest_duration_seconds_count{route=\"put\"} 2"));
        assert!(text.contains("origin_rejects_total{code=\"UNKNOWN_KID\"} 1"));
        assert!(text.contains("origin_ledger_entries 0"));
    }
}
