//! Network threat detection: flows enriched with IP reputation, sliding-window anomaly
//! detection, alerts.
//!
//! The scenario, as the mesh runs it: network devices export flow records; the `flows`
//! domain samples them per customer to a steady total rate, enriches each with the
//! `threat-intel` domain's reputation product and publishes it; the `detection` consumer keeps
//! per-customer sliding windows over event time, runs anomaly detectors and publishes alerts.
//! This module is the pure logic of each step, deterministic from a seed, on simulated event
//! time (the wall clock is never read), so it can be tested, tuned and replayed:
//!
//! - [`model`]: the records (they are the Avro schemas' source);
//! - [`generate`]: the simulated customers, their normal traffic with its benign look-alikes,
//!   and labelled attack episodes of four kinds;
//! - [`sampling`]: the flows domain's adaptive per-customer 1-in-N sampling;
//! - [`intel`]: the threat-intel domain's reputation table and the enrichment;
//! - [`detection`] and [`detectors`]: the detection consumer;
//! - [`eval`]: episode-level precision and recall.
//!
//! [`run`] wires them in order (generate, sample, enrich, detect, evaluate) for tests and
//! demos; a deployment puts Kafka between the steps and calls the same pieces.
//!
//! The [`Outcome`] of a run has its sampling steadiness and its precision/recall report, both
//! displayable as readable tables.

pub mod detection;
pub mod detectors;
pub mod eval;
pub mod generate;
pub mod intel;
pub mod mesh;
pub mod model;
pub mod sampling;

use std::time::Duration;

pub use detection::{Detection, DetectionConfig};
pub use eval::{Report, evaluate};
pub use generate::{Generator, GeneratorConfig};
pub use intel::{ReputationIndex, reputation_table};
pub use model::{Alert, AttackKind, Episode, Flow, Protocol, Reputation};
pub use sampling::{AdaptiveSampler, SamplingConfig, SamplingStats};

/// Everything one run of the scenario is configured by.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioConfig {
    /// What to simulate.
    pub generator: GeneratorConfig,
    /// The flows domain's sampling budget.
    pub sampling: SamplingConfig,
    /// The detection consumer's tuning.
    pub detection: DetectionConfig,
    /// How long after an episode's end its alerts still count as timely.
    pub grace: Duration,
}

impl Default for ScenarioConfig {
    /// The demo size (see [`GeneratorConfig::default`]).
    fn default() -> Self {
        Self {
            generator: GeneratorConfig::default(),
            sampling: SamplingConfig::default(),
            detection: DetectionConfig::default(),
            grace: Duration::from_secs(30),
        }
    }
}

impl ScenarioConfig {
    /// The test size (see [`GeneratorConfig::small`]).
    pub fn small() -> Self {
        Self {
            generator: GeneratorConfig::small(),
            sampling: SamplingConfig::small(),
            ..Self::default()
        }
    }
}

/// What the flows domain publishes in one run: sampled, enriched flows in time order.
#[derive(Debug, Clone)]
pub struct Published {
    /// The flows, as the detection consumer receives them.
    pub flows: Vec<Flow>,
    /// The ground truth.
    pub episodes: Vec<Episode>,
    /// Raw flows generated before sampling.
    pub raw_flows: u64,
    /// How steady sampling kept the published rate.
    pub sampling: SamplingStats,
    /// Entries of the reputation table.
    pub reputation_entries: usize,
}

/// Generates, samples and enriches one run of `config` from `seed`.
pub fn publish(config: &ScenarioConfig, seed: u64) -> Published {
    let generator = Generator::new(config.generator.clone(), seed);
    let episodes = generator.episodes().to_vec();
    let table = reputation_table(&generator);
    let reputation_entries = table.len();
    let index = ReputationIndex::new(table);
    let mut sampled = AdaptiveSampler::new(config.sampling.clone()).sample(generator);
    let mut flows = Vec::new();
    for mut flow in sampled.by_ref() {
        index.enrich(&mut flow);
        flows.push(flow);
    }
    let sampling = sampled.sampler().stats();
    Published {
        flows,
        episodes,
        raw_flows: sampling.customers.iter().map(|c| c.raw).sum(),
        sampling,
        reputation_entries,
    }
}

/// Runs a fresh detection consumer over `flows`, in order, and collects its alerts.
pub fn detect(config: &DetectionConfig, flows: &[Flow]) -> Vec<Alert> {
    let mut detection = Detection::new(config.clone());
    flows
        .iter()
        .flat_map(|flow| detection.observe(flow))
        .collect()
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Precision and recall per kind.
    pub report: Report,
    /// How steady sampling kept the published rate.
    pub sampling: SamplingStats,
    /// Raw flows generated.
    pub raw_flows: u64,
    /// Flows published (after sampling).
    pub flows: usize,
    /// The alerts raised.
    pub alerts: Vec<Alert>,
    /// The ground truth.
    pub episodes: Vec<Episode>,
}

/// One whole run: generate, sample, enrich, detect, evaluate.
pub fn run(config: &ScenarioConfig, seed: u64) -> Outcome {
    let published = publish(config, seed);
    let alerts = detect(&config.detection, &published.flows);
    let grace_ms = i64::try_from(config.grace.as_millis()).unwrap_or(i64::MAX);
    Outcome {
        report: evaluate(&published.episodes, &alerts, grace_ms),
        sampling: published.sampling,
        raw_flows: published.raw_flows,
        flows: published.flows.len(),
        alerts,
        episodes: published.episodes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `seeds` of `config` in parallel; panics listing every seed below target.
    fn holds_targets(config: &ScenarioConfig, seeds: std::ops::Range<u64>) {
        let outcomes: Vec<(u64, Outcome)> = std::thread::scope(|scope| {
            let handles: Vec<_> = seeds
                .map(|seed| (seed, scope.spawn(move || run(config, seed))))
                .collect();
            handles
                .into_iter()
                .map(|(seed, h)| {
                    (
                        seed,
                        h.join().unwrap_or_else(|_| panic!("seed {seed} panicked")),
                    )
                })
                .collect()
        });
        let failures: Vec<String> = outcomes
            .iter()
            .filter(|(_, o)| !o.report.meets(0.9, 0.9))
            .map(|(seed, o)| format!("seed {seed}:\n{}", o.report))
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn small_runs_reach_the_targets() {
        holds_targets(&ScenarioConfig::small(), 1..6);
    }

    #[test]
    fn demo_runs_reach_the_targets() {
        holds_targets(&ScenarioConfig::default(), 1..6);
    }
}
