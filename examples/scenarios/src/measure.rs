//! What the scenarios measure as they run: end-to-end latency (producer's timestamp to the
//! handler) and rates.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use datamesh::mesh_core::time::now_ms;

/// End-to-end latencies of handled events, in milliseconds.
///
/// Every `every`-th event is kept (at most `cap`), so a long run costs bounded memory.
#[derive(Debug)]
pub struct Latency {
    samples: Mutex<Vec<u32>>,
    seen: std::sync::atomic::AtomicU64,
    every: u64,
    cap: usize,
}

/// Percentiles of a [`Latency`], in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Percentiles {
    /// Events measured.
    pub count: usize,
    /// Median.
    pub p50: u32,
    /// 99th percentile.
    pub p99: u32,
    /// Largest.
    pub max: u32,
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {} ms, p99 {} ms, max {} ms",
            self.p50, self.p99, self.max
        )
    }
}

impl Default for Latency {
    fn default() -> Self {
        Self::new(1, 1 << 20)
    }
}

impl Latency {
    /// Keeps every `every`-th sample, at most `cap` of them.
    pub fn new(every: u64, cap: usize) -> Self {
        Self {
            samples: Mutex::new(Vec::new()),
            seen: std::sync::atomic::AtomicU64::new(0),
            every: every.max(1),
            cap,
        }
    }

    /// Records an event produced at `produced_at_ms` and handled now.
    pub fn record(&self, produced_at_ms: Option<i64>) {
        let Some(at) = produced_at_ms else { return };
        let n = self.seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if !n.is_multiple_of(self.every) {
            return;
        }
        let ms = u32::try_from((now_ms() - at).max(0)).unwrap_or(u32::MAX);
        // A poisoned lock only means another handler panicked mid-push; the samples stay
        // usable.
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if samples.len() < self.cap {
            samples.push(ms);
        }
    }

    /// The percentiles so far.
    pub fn percentiles(&self) -> Percentiles {
        let mut samples = self
            .samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Percentiles {
            count: samples.len(),
            p50: at(0.50),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

/// Paces a publisher at a fixed rate: [`Pacer::wait`] before sending `n` more events sleeps
/// until the rate allows them. A rate of 0 means as fast as possible.
#[derive(Debug)]
pub struct Pacer {
    started: Instant,
    rate_per_s: f64,
    sent: u64,
}

impl Pacer {
    /// Starts pacing now.
    pub fn new(rate_per_s: u64) -> Self {
        Self {
            started: Instant::now(),
            rate_per_s: rate_per_s as f64,
            sent: 0,
        }
    }

    /// Waits until `n` more events may go.
    pub async fn wait(&mut self, n: usize) {
        self.sent += n as u64;
        if self.rate_per_s <= 0.0 {
            return;
        }
        let due = Duration::from_secs_f64(self.sent as f64 / self.rate_per_s);
        let elapsed = self.started.elapsed();
        if due > elapsed {
            tokio::time::sleep(due - elapsed).await;
        }
    }

    /// Events per second achieved so far.
    pub fn achieved(&self) -> f64 {
        self.sent as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_samples() {
        let latency = Latency::default();
        let now = now_ms();
        for ms in 1..=100 {
            latency.record(Some(now - ms));
        }
        let p = latency.percentiles();
        assert_eq!(p.count, 100);
        assert!((49..=52).contains(&p.p50), "{p:?}");
        assert!((98..=101).contains(&p.p99), "{p:?}");
    }

    #[test]
    fn sampling_keeps_every_nth_and_at_most_the_cap() {
        let latency = Latency::new(10, 5);
        for _ in 0..1_000 {
            latency.record(Some(now_ms()));
        }
        assert_eq!(latency.percentiles().count, 5);
        latency.record(None);
    }
}
