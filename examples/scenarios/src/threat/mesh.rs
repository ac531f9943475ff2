//! The network threat detection mesh, wired: `threat-intel` publishes IP reputation as a
//! product; `flows` samples each customer's raw flows adaptively, enriches them from the
//! product it is granted and publishes them; `detection` keeps per-key sliding windows,
//! publishes alerts to `detection.alerts`, and the sink keeps them as a product, which is
//! what the evaluation reads back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datamesh::consumer_kit::{CancellationToken, Event, Handler, HandlerError, Serde};
use datamesh::mesh_core::ProductId;
use datamesh::producer_kit::Publisher;

use super::{
    AdaptiveSampler, Alert, Detection, Flow, Generator, Report, Reputation, ReputationIndex,
    SamplingStats, ScenarioConfig, evaluate, reputation_table,
};
use crate::domains::{Joined, Mesh, Running, grant, sink, until};
use crate::error::{Error, Result};
use crate::measure::{Latency, Pacer, Percentiles};
use crate::progress::Progress;

/// How the threat scenario runs.
#[derive(Debug, Clone)]
pub struct ThreatRun {
    /// What to simulate, sample and detect.
    pub config: ScenarioConfig,
    /// The generator's seed.
    pub seed: u64,
    /// Flows published per second (0: as fast as the broker takes them).
    pub rate: u64,
    /// The longest the consumers may take to catch up.
    pub timeout: Duration,
}

/// What the threat scenario measured.
#[derive(Debug, Clone)]
pub struct ThreatOutcome {
    /// Precision and recall per attack kind, from the alerts read back from the
    /// `detection.alerts` product.
    pub report: Report,
    /// Raw flows the devices sent.
    pub raw_flows: u64,
    /// Flows the flows domain published after sampling.
    pub published: usize,
    /// How steady sampling kept the ingest rate.
    pub sampling: SamplingStats,
    /// Entries of `threat-intel.ip_reputation`.
    pub reputation_entries: usize,
    /// Alerts published to `detection.alerts`.
    pub alerts: usize,
    /// Rows of the `detection.alerts` product.
    pub alert_rows: usize,
    /// Flows published per second.
    pub publish_rate: f64,
    /// Flows domain to detector latency.
    pub latency: Percentiles,
}

#[derive(Debug, Clone)]
struct Detect {
    detection: Arc<Mutex<Detection>>,
    alerts: Publisher<Alert>,
    handled: Arc<AtomicUsize>,
    raised: Arc<AtomicUsize>,
    latency: Arc<Latency>,
    joined: Joined,
}

impl Handler for Detect {
    type Value = Serde<Flow>;

    async fn handle(&self, event: Event<Serde<Flow>>) -> Result<(), HandlerError> {
        self.latency.record(event.meta.produced_at_ms);
        let alerts = self
            .detection
            .lock()
            .map_err(|_| HandlerError::poison("the detection state is poisoned"))?
            .observe(&event.value.0);
        // Published before the flow counts as handled: a crash here raises them again
        // (at least once), never loses them.
        if !alerts.is_empty() {
            self.alerts
                .send_batch(&alerts)
                .await
                .map_err(|e| HandlerError::retry(format!("publishing alerts: {e}")))?;
            self.raised.fetch_add(alerts.len(), Ordering::Relaxed);
        }
        self.handled.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn on_rebalance(&self, assigned: &[(String, i32)], _revoked: &[(String, i32)]) {
        self.joined.rebalanced(assigned);
    }
}

/// Runs the scenario on `mesh`.
pub async fn run(mesh: &Mesh, run: ThreatRun, progress: &Progress) -> Result<ThreatOutcome> {
    let generator = Generator::new(run.config.generator.clone(), run.seed);
    let episodes = generator.episodes().to_vec();

    // threat-intel publishes what it knows; flows reads it through the catalog.
    let intel = mesh.producer("threat-intel").await?;
    let table = reputation_table(&generator);
    let reputation_entries = table.len();
    let rows = intel.rows("ip_reputation", &table)?;
    intel.snapshot("ip_reputation", rows).await?;
    let flows = mesh.producer("flows").await?;
    let flows_reader = mesh.consumer("flows").await?;
    let reputation_id = grant(&intel, "ip_reputation", &flows_reader).await?;
    let data = flows_reader.static_data();
    data.open(&reputation_id).await?;
    let known: Vec<Reputation> = data
        .rows(r#"SELECT * FROM "threat-intel".ip_reputation"#)
        .await?;
    let index = ReputationIndex::new(known);
    progress.say(format!(
        "threat     threat-intel.ip_reputation: {} addresses, read back by flows",
        index.len()
    ));

    // detection: windows, detectors, alerts to a stream, the stream to a product.
    let detection = mesh.producer("detection").await?;
    let detector = mesh.consumer("detection").await?;
    let enriched = flows.publisher::<Flow>("enriched")?;
    let handler = Detect {
        detection: Arc::new(Mutex::new(Detection::new(run.config.detection.clone()))),
        alerts: detection.publisher::<Alert>("alerts")?,
        handled: Arc::default(),
        raised: Arc::default(),
        latency: Arc::new(Latency::new(10, 100_000)),
        joined: Joined::default(),
    };
    let shutdown = CancellationToken::new();
    let detecting = Running::spawn(
        shutdown.clone(),
        detector
            .subscribe(vec![enriched.topic().clone()])
            .run(handler.clone(), shutdown),
    );
    let alerts_id = ProductId::parse("detection.alerts")?;
    let sinking = sink(detector.sink(alerts_id.clone()).with_batch(
        1_000,
        1 << 20,
        Duration::from_millis(200),
    ));
    until(
        "joining the detection group",
        run.timeout,
        &[&detecting],
        || handler.joined.is_joined(),
        || "waiting for partitions".to_owned(),
    )
    .await?;

    // flows: sample, enrich, publish in time order.
    let mut sampled = AdaptiveSampler::new(run.config.sampling.clone()).sample(generator);
    let published_bar = progress.bar("flows: published", 0);
    let detected_bar = progress.bar("detection: analysed", 0);
    let mut pacer = Pacer::new(run.rate);
    let mut batch = Vec::with_capacity(2_000);
    let mut published = 0usize;
    loop {
        let next = sampled.next();
        let done = next.is_none();
        if let Some(mut flow) = next {
            index.enrich(&mut flow);
            batch.push(flow);
        }
        if batch.len() >= 2_000 || (done && !batch.is_empty()) {
            pacer.wait(batch.len()).await;
            enriched.send_batch(&batch).await?;
            published += batch.len();
            published_bar.inc_length(batch.len() as u64);
            published_bar.inc(batch.len() as u64);
            detected_bar.set_length(published as u64);
            detected_bar.set_position(handler.handled.load(Ordering::Relaxed) as u64);
            batch.clear();
        }
        if done {
            break;
        }
    }
    let publish_rate = pacer.achieved();
    let sampling = sampled.sampler().stats();
    let raw_flows = sampling.customers.iter().map(|c| c.raw).sum();
    published_bar.finish();

    until(
        "analysing every flow",
        run.timeout,
        &[&detecting, &sinking],
        || {
            let n = handler.handled.load(Ordering::Relaxed);
            detected_bar.set_position(n as u64);
            n >= published
        },
        || {
            format!(
                "{} of {published} flows",
                handler.handled.load(Ordering::Relaxed)
            )
        },
    )
    .await?;
    detected_bar.finish();
    detecting.stop("the detection consumer").await?;
    let raised = handler.raised.load(Ordering::Relaxed);
    detection.close(Duration::from_secs(10)).await?;

    // The evaluation reads the alerts as any consumer would: from the product.
    let catalog = mesh.catalog()?;
    let started = std::time::Instant::now();
    loop {
        let rows = match catalog.latest_table_version(&alerts_id).await {
            Ok(v) => v.rows,
            Err(e) if e.is_not_found() => 0,
            Err(e) => return Err(e.into()),
        };
        if rows >= raised as u64 {
            break;
        }
        if sinking.is_finished() || started.elapsed() > run.timeout {
            return Err(Error::Timeout {
                stage: "sinking detection.alerts".into(),
                seconds: run.timeout.as_secs(),
                progress: format!("{rows} of {raised} alerts"),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sinking.stop("the alerts sink").await?;
    let data = detector.static_data();
    data.open(&alerts_id).await?;
    let alerts: Vec<Alert> = data.rows("SELECT * FROM detection.alerts").await?;
    let grace_ms = i64::try_from(run.config.grace.as_millis()).unwrap_or(i64::MAX);
    let report = evaluate(&episodes, &alerts, grace_ms);
    Ok(ThreatOutcome {
        report,
        raw_flows,
        published,
        sampling,
        reputation_entries,
        alerts: raised,
        alert_rows: alerts.len(),
        publish_rate,
        latency: handler.latency.percentiles(),
    })
}
