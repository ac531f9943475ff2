//! A consumer's metrics: events consumed, handled and dead-lettered, handler latency, and lag
//! per partition, readable as numbers or as Prometheus text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::subscription::RunSummary;

/// Upper bounds of the handler latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5,
];

#[derive(Debug, Default)]
struct Inner {
    consumed: AtomicU64,
    handled: AtomicU64,
    dead_lettered: AtomicU64,
    skipped: AtomicU64,
    decode_errors: AtomicU64,
    /// Per bucket, not cumulative; the last is +Inf.
    latency: [AtomicU64; BUCKETS.len() + 1],
    latency_nanos: AtomicU64,
    // A plain mutex: updated from librdkafka's statistics every few seconds.
    lag: Mutex<BTreeMap<(String, i32), i64>>,
}

/// Shared counters of one consumer domain's subscriptions. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ConsumerMetrics {
    inner: Arc<Inner>,
}

impl ConsumerMetrics {
    pub(crate) fn consumed(&self) {
        self.inner.consumed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn handled(&self) {
        self.inner.handled.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn handled_in(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.inner.latency[slot].fetch_add(1, Ordering::Relaxed);
        self.inner.latency_nanos.fetch_add(
            u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub(crate) fn dead_lettered(&self) {
        self.inner.dead_lettered.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn skipped(&self) {
        self.inner.skipped.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn decode_error(&self) {
        self.inner.decode_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn lag(&self, topic: &str, partition: i32, lag: i64) {
        if let Ok(mut l) = self.inner.lag.lock() {
            l.insert((topic.to_owned(), partition), lag);
        }
    }

    /// Events received from Kafka.
    pub fn consumed_total(&self) -> u64 {
        self.inner.consumed.load(Ordering::Relaxed)
    }

    /// Events handled successfully and messages dead-lettered.
    pub fn summary(&self) -> RunSummary {
        RunSummary {
            handled: self.inner.handled.load(Ordering::Relaxed),
            dead_lettered: self.inner.dead_lettered.load(Ordering::Relaxed),
            skipped: self.inner.skipped.load(Ordering::Relaxed),
        }
    }

    /// The last known lag (events behind the head) of each partition.
    pub fn lags(&self) -> BTreeMap<(String, i32), i64> {
        self.inner.lag.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The Prometheus text exposition, labelled with the consumer domain.
    pub fn render(&self, domain: &str) -> String {
        let i = &self.inner;
        let mut out = String::new();
        for (name, help, value) in [
            (
                "mesh_consumer_events_total",
                "Events received from Kafka.",
                &i.consumed,
            ),
            (
                "mesh_consumer_handled_total",
                "Events handled successfully.",
                &i.handled,
            ),
            (
                "mesh_consumer_dlq_total",
                "Messages sent to the dead-letter topic.",
                &i.dead_lettered,
            ),
            (
                "mesh_consumer_skipped_total",
                "Messages passed over by subscriptions that write no dead letters.",
                &i.skipped,
            ),
            (
                "mesh_consumer_decode_errors_total",
                "Messages that could not be decoded.",
                &i.decode_errors,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(
                out,
                "{name}{{domain=\"{domain}\"}} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let name = "mesh_consumer_handler_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time a handler took per event.\n# TYPE {name} histogram"
        );
        let mut cumulative = 0;
        for (slot, bound) in BUCKETS.iter().enumerate() {
            cumulative += i.latency[slot].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{domain=\"{domain}\",le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += i.latency[BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{domain=\"{domain}\",le=\"+Inf\"}} {cumulative}"
        );
        let sum = i.latency_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(
            out,
            "{name}_sum{{domain=\"{domain}\"}} {sum}\n{name}_count{{domain=\"{domain}\"}} {cumulative}"
        );
        let name = "mesh_consumer_lag";
        let _ = writeln!(
            out,
            "# HELP {name} Events between the consumer and the head, per partition.\n# TYPE {name} gauge"
        );
        for ((topic, partition), lag) in self.lags() {
            let _ = writeln!(
                out,
                "{name}{{domain=\"{domain}\",topic=\"{topic}\",partition=\"{partition}\"}} {lag}"
            );
        }
        out
    }
}
