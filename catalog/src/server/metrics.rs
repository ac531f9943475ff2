//! Prometheus metrics of the service: requests by method, route and status, and a latency
//! histogram per route. Kept by hand: a few counters need no metrics framework.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::Catalog;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

#[derive(Debug, Default)]
struct Histogram {
    /// Counts per bucket (not cumulative); the last slot is +Inf.
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
}

/// The service's counters.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    // A plain mutex: the critical section is a map update, far shorter than any request.
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    /// Requests refused by the rate limit, by caller (`domain:<name>`, `admin`, `anonymous`).
    rate_limited: BTreeMap<String, u64>,
}

impl Metrics {
    fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        *inner
            .requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        let h = inner.latency.entry(route.to_owned()).or_default();
        let slot = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        h.counts[slot] += 1;
        h.sum += seconds;
    }

    /// Counts a request the rate limit refused.
    pub(crate) fn rate_limited(&self, caller: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            *inner.rate_limited.entry(caller.to_owned()).or_default() += 1;
        }
    }

    /// The Prometheus text exposition of every counter.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let Ok(inner) = self.inner.lock() else {
            return out;
        };
        out.push_str(
            "# HELP mesh_catalog_requests_total Requests served, by method, route and status.\n",
        );
        out.push_str("# TYPE mesh_catalog_requests_total counter\n");
        for ((method, route, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "mesh_catalog_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP mesh_catalog_request_duration_seconds Time to answer a request, by route.\n",
        );
        out.push_str("# TYPE mesh_catalog_request_duration_seconds histogram\n");
        for (route, h) in &inner.latency {
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += h.counts[i];
                let _ = writeln!(
                    out,
                    "mesh_catalog_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            cumulative += h.counts[BUCKETS.len()];
            let _ = writeln!(
                out,
                "mesh_catalog_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {cumulative}"
            );
            let _ = writeln!(
                out,
                "mesh_catalog_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "mesh_catalog_request_duration_seconds_count{{route=\"{route}\"}} {cumulative}"
            );
        }
        out.push_str(
            "# HELP mesh_catalog_rate_limited_total Requests refused by the rate limit, by caller.\n",
        );
        out.push_str("# TYPE mesh_catalog_rate_limited_total counter\n");
        for (caller, n) in &inner.rate_limited {
            let _ = writeln!(
                out,
                "mesh_catalog_rate_limited_total{{caller=\"{caller}\"}} {n}"
            );
        }
        out
    }
}

/// Times every request and counts it under its route template (never the raw path, which
/// would make one series per subject).
pub(crate) async fn track(
    State(catalog): State<Catalog>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    catalog.metrics().record(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.record("GET", "/schemas/ids/{id}", 200, 0.000_2);
        m.record("GET", "/schemas/ids/{id}", 404, 0.003);
        let text = m.render();
        assert!(text.contains("mesh_catalog_requests_total{method=\"GET\",route=\"/schemas/ids/{id}\",status=\"200\"} 1"), "{text}");
        assert!(text.contains("le=\"0.00025\"} 1"), "{text}");
        assert!(text.contains("le=\"0.005\"} 2"), "{text}");
        assert!(text.contains("le=\"+Inf\"} 2"), "{text}");
        assert!(
            text.contains("_count{route=\"/schemas/ids/{id}\"} 2"),
            "{text}"
        );
    }
}
