//! The NAB corpus through the mesh: the `sensors` domain publishes every series to
//! `sensors.readings` (one key per series), the `monitoring` domain's consumer runs one
//! [`NabDetector`] per key as events arrive, and the scores are judged with NAB's scoring.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datamesh::consumer_kit::{CancellationToken, Event, Handler, HandlerError, Serde};
use serde::{Deserialize, Serialize};

use super::{CostMatrix, NabConfig, NabDetector, Report, Scorer, Series};
use crate::domains::{Joined, Mesh, Running, until};
use crate::error::{Error, Result};
use crate::measure::{Latency, Pacer, Percentiles};
use crate::progress::Progress;

/// One value of a series, as `sensors.readings` carries it (`schemas/sensors/Reading.avsc`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The series, e.g. `realKnownCause/nyc_taxi.csv`.
    pub series: String,
    /// When, milliseconds since the epoch.
    pub at: i64,
    /// The value.
    pub value: f64,
}

/// How the NAB scenario runs.
#[derive(Debug, Clone)]
pub struct NabRun {
    /// The series to stream.
    pub corpus: Vec<Series>,
    /// Readings published per second (0: as fast as the broker takes them).
    pub rate: u64,
    /// The longest the consumer may take to score everything.
    pub timeout: Duration,
}

/// What the NAB scenario measured.
#[derive(Debug, Clone)]
pub struct NabOutcome {
    /// NAB's report (standard profile).
    pub report: Report,
    /// Readings published.
    pub published: usize,
    /// Readings published per second.
    pub publish_rate: f64,
    /// Producer to detector latency.
    pub latency: Percentiles,
}

/// One detector per series, and each series' scores in arrival order.
#[derive(Debug, Default)]
struct Scores {
    detectors: HashMap<String, NabDetector>,
    scores: HashMap<String, Vec<f64>>,
    handled: usize,
}

#[derive(Debug, Clone)]
struct Monitor {
    state: Arc<Mutex<Scores>>,
    config: NabConfig,
    latency: Arc<Latency>,
    joined: Joined,
}

impl Handler for Monitor {
    type Value = Serde<Reading>;

    async fn handle(&self, event: Event<Serde<Reading>>) -> Result<(), HandlerError> {
        let reading = event.value.0;
        self.latency.record(event.meta.produced_at_ms);
        // Held for one score: the detectors are cheap and per key.
        let mut state = self
            .state
            .lock()
            .map_err(|_| HandlerError::poison("the detector state is poisoned"))?;
        let config = &self.config;
        let score = state
            .detectors
            .entry(reading.series.clone())
            .or_insert_with(|| NabDetector::new(config.clone()))
            .score(reading.at, reading.value);
        state.scores.entry(reading.series).or_default().push(score);
        state.handled += 1;
        Ok(())
    }

    fn on_rebalance(&self, assigned: &[(String, i32)], _revoked: &[(String, i32)]) {
        self.joined.rebalanced(assigned);
    }
}

/// Runs the scenario on `mesh`.
pub async fn run(mesh: &Mesh, run: NabRun, progress: &Progress) -> Result<NabOutcome> {
    let total: usize = run.corpus.iter().map(Series::len).sum();
    let sensors = mesh.producer("sensors").await?;
    let readings = sensors.publisher::<Reading>("readings")?;
    let monitoring = mesh.consumer("monitoring").await?;

    let monitor = Monitor {
        state: Arc::default(),
        config: NabConfig::default(),
        latency: Arc::new(Latency::new(10, 100_000)),
        joined: Joined::default(),
    };
    let shutdown = CancellationToken::new();
    let consumer = Running::spawn(
        shutdown.clone(),
        monitoring
            .subscribe(vec![readings.topic().clone()])
            .run(monitor.clone(), shutdown),
    );

    until(
        "joining the monitoring group",
        run.timeout,
        &[&consumer],
        || monitor.joined.is_joined(),
        || "waiting for partitions".to_owned(),
    )
    .await?;

    // Round-robin over the series, so every key is live at once as in production.
    let published_bar = progress.bar("sensors: published", total as u64);
    let handled_bar = progress.bar("monitoring: scored", total as u64);
    let mut pacer = Pacer::new(run.rate);
    let mut batch = Vec::with_capacity(5_000);
    let longest = run.corpus.iter().map(Series::len).max().unwrap_or(0);
    for row in 0..longest {
        for series in &run.corpus {
            if let Some(&(at, value)) = series.points().get(row) {
                batch.push(Reading {
                    series: series.name().to_owned(),
                    at,
                    value,
                });
            }
        }
        if batch.len() >= 4_000 || row + 1 == longest {
            pacer.wait(batch.len()).await;
            readings.send_batch(&batch).await?;
            published_bar.inc(batch.len() as u64);
            let handled = monitor.state.lock().map_or(0, |s| s.handled);
            handled_bar.set_position(handled as u64);
            batch.clear();
        }
    }
    let publish_rate = pacer.achieved();
    published_bar.finish();

    let handled = || monitor.state.lock().map_or(0, |s| s.handled);
    until(
        "scoring the NAB series",
        run.timeout,
        &[&consumer],
        || {
            let n = handled();
            handled_bar.set_position(n as u64);
            n >= total
        },
        || format!("{} of {total} readings scored", handled()),
    )
    .await?;
    handled_bar.finish();
    consumer.stop("the monitoring consumer").await?;

    let mut state = std::mem::take(&mut *monitor.state.lock().map_err(|_| Error::Task {
        task: "the monitoring consumer".into(),
        reason: "its state is poisoned".into(),
    })?);
    let mut scores = Vec::with_capacity(run.corpus.len());
    for series in &run.corpus {
        let got = state.scores.remove(series.name()).unwrap_or_default();
        if got.len() != series.len() {
            return Err(Error::Task {
                task: "the monitoring consumer".into(),
                reason: format!(
                    "{} has {} scores for {} readings",
                    series.name(),
                    got.len(),
                    series.len()
                ),
            });
        }
        scores.push(got);
    }
    let report = Scorer::new(CostMatrix::STANDARD)
        .evaluate(&run.corpus, &scores)
        .map_err(super::Error::from)?;
    Ok(NabOutcome {
        report,
        published: total,
        publish_rate,
        latency: monitor.latency.percentiles(),
    })
}
