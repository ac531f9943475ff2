//! The main job: every scenario on one mesh, one after the other, and a summary a person
//! can read.

use std::fmt;
use std::time::{Duration, Instant};

use crate::domains::Mesh;
use crate::error::Result;
use crate::music::mesh::{MusicOutcome, MusicRun};
use crate::music::{World, WorldConfig};
use crate::nab::mesh::{NabOutcome, NabRun};
use crate::progress::Progress;
use crate::threat::ScenarioConfig;
use crate::threat::mesh::{ThreatOutcome, ThreatRun};

/// How big the generated worlds are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Size {
    /// The demo: a few hundred thousand events per scenario.
    #[default]
    Demo,
    /// Test sizes: tens of thousands.
    Small,
}

/// Which scenarios run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Scenario {
    /// Music streaming: recommendations and trends.
    Music,
    /// Network threat detection.
    Threat,
    /// The NAB corpus through a per-key detector.
    Nab,
}

/// The main job's settings.
#[derive(Debug, Clone)]
pub struct Job {
    /// World sizes.
    pub size: Size,
    /// The generators' seed.
    pub seed: u64,
    /// The scenarios to run (all when empty).
    pub only: Vec<Scenario>,
    /// Events published per second per stream (0: as fast as the broker takes them).
    pub rate: u64,
    /// The longest each scenario's consumers may take to catch up.
    pub timeout: Duration,
}

impl Default for Job {
    fn default() -> Self {
        Self {
            size: Size::Demo,
            seed: 7,
            only: Vec::new(),
            rate: 50_000,
            timeout: Duration::from_secs(240),
        }
    }
}

impl Job {
    fn runs(&self, scenario: Scenario) -> bool {
        self.only.is_empty() || self.only.contains(&scenario)
    }
}

/// A data product as the catalog lists it at the end.
#[derive(Debug, Clone)]
pub struct ProductLine {
    /// `<domain>.<product>`.
    pub id: String,
    /// Table versions registered.
    pub versions: usize,
    /// Rows in the newest one.
    pub rows: u64,
}

/// What the main job did.
#[derive(Debug)]
pub struct Summary {
    /// The music scenario, if it ran.
    pub music: Option<MusicOutcome>,
    /// The threat scenario, if it ran.
    pub threat: Option<ThreatOutcome>,
    /// The NAB scenario, if it ran.
    pub nab: Option<NabOutcome>,
    /// Every product in the catalog.
    pub products: Vec<ProductLine>,
    /// Wall time of the whole job.
    pub elapsed: Duration,
}

/// Runs the job on `mesh`.
pub async fn run(mesh: &Mesh, job: &Job, progress: &Progress) -> Result<Summary> {
    let started = Instant::now();
    let music = if job.runs(Scenario::Music) {
        progress.say("music      generating the world");
        let config = match job.size {
            Size::Demo => WorldConfig::default(),
            Size::Small => WorldConfig::small(),
        };
        let world = World::generate(config, job.seed);
        let run = MusicRun {
            world,
            rate: job.rate,
            timeout: job.timeout,
        };
        let outcome = crate::music::mesh::run(mesh, run, progress).await?;
        progress.say(format!(
            "music      done: hit rate@10 {:.3} vs popularity {:.3}",
            outcome.evaluation.model.hit_rate, outcome.evaluation.baseline.hit_rate
        ));
        Some(outcome)
    } else {
        None
    };
    let threat = if job.runs(Scenario::Threat) {
        progress.say("threat     generating flows and attacks");
        let config = match job.size {
            Size::Demo => ScenarioConfig::default(),
            Size::Small => ScenarioConfig::small(),
        };
        let run = ThreatRun {
            config,
            seed: job.seed,
            rate: job.rate,
            timeout: job.timeout,
        };
        let outcome = crate::threat::mesh::run(mesh, run, progress).await?;
        progress.say(format!(
            "threat     done: {} alerts for {} attacks",
            outcome.alerts,
            outcome
                .report
                .kinds
                .iter()
                .map(|k| k.episodes)
                .sum::<usize>()
        ));
        Some(outcome)
    } else {
        None
    };
    let nab = if job.runs(Scenario::Nab) {
        progress.say("nab        loading the corpus");
        let corpus = crate::nab::load_configured().map_err(crate::nab::Error::from)?;
        let corpus = match job.size {
            Size::Demo => corpus,
            // The known-cause series: every kind of anomaly, a fifth of the rows.
            Size::Small => corpus
                .into_iter()
                .filter(|s| s.name().starts_with("realKnownCause/"))
                .collect(),
        };
        let run = NabRun {
            corpus,
            rate: job.rate,
            timeout: job.timeout,
        };
        let outcome = crate::nab::mesh::run(mesh, run, progress).await?;
        progress.say(format!(
            "nab        done: standard score {:.1}",
            outcome.report.score
        ));
        Some(outcome)
    } else {
        None
    };
    let products = products(mesh).await?;
    Ok(Summary {
        music,
        threat,
        nab,
        products,
        elapsed: started.elapsed(),
    })
}

async fn products(mesh: &Mesh) -> Result<Vec<ProductLine>> {
    let catalog = mesh.catalog()?;
    let mut lines = Vec::new();
    for product in catalog.products().await? {
        let versions = catalog
            .table_versions(&product.id)
            .await
            .unwrap_or_default();
        lines.push(ProductLine {
            id: product.id.to_string(),
            versions: versions.len(),
            rows: versions.iter().map(|v| v.rows).max().unwrap_or(0),
        });
    }
    lines.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(lines)
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "\n== Summary ({:.0} s) ==", self.elapsed.as_secs_f64())?;
        writeln!(f, "\nEvents and rows published, per producer domain")?;
        if let Some(m) = &self.music {
            for (domain, n) in &m.published {
                writeln!(f, "  {domain:<14} {n:>9}")?;
            }
        }
        if let Some(t) = &self.threat {
            writeln!(f, "  {:<14} {:>9}", "threat-intel", t.reputation_entries)?;
            writeln!(
                f,
                "  {:<14} {:>9}   (of {} raw flows: adaptive sampling)",
                "flows", t.published, t.raw_flows
            )?;
            writeln!(f, "  {:<14} {:>9}   (alerts)", "detection", t.alerts)?;
        }
        if let Some(n) = &self.nab {
            writeln!(f, "  {:<14} {:>9}", "sensors", n.published)?;
        }
        writeln!(f, "\nData products in the catalog")?;
        for p in &self.products {
            writeln!(
                f,
                "  {:<34} {:>3} version(s), {:>9} rows",
                p.id, p.versions, p.rows
            )?;
        }
        if let Some(m) = &self.music {
            writeln!(f, "\nMusic recommendations (held-out interactions)")?;
            let e = &m.evaluation;
            writeln!(
                f,
                "  {} cases: hit rate@10 {:.3} vs popularity {:.3} ({:+.0} %), NDCG@10 {:.3} vs {:.3}",
                e.cases,
                e.model.hit_rate,
                e.baseline.hit_rate,
                (e.lift.hit_rate - 1.0) * 100.0,
                e.model.ndcg,
                e.baseline.ndcg
            )?;
            for s in &m.samples {
                writeln!(
                    f,
                    "  user {} ({} interactions, likes {}):",
                    s.user_id,
                    s.interactions,
                    s.favourite_genres.join(", ")
                )?;
                for (r, item) in &s.items {
                    match item {
                        Some(i) => writeln!(
                            f,
                            "    {:<32} {:<24} {:<12} {}",
                            i.title, i.creator, i.genre, r.reason
                        )?,
                        None => writeln!(f, "    item #{} {}", r.item_id, r.reason)?,
                    }
                }
            }
            writeln!(
                f,
                "\nLive trends (analytics.plays_per_minute, busiest minute)"
            )?;
            let top: Vec<String> = m
                .top_genres
                .iter()
                .map(|(g, n)| format!("{g} {n}"))
                .collect();
            writeln!(f, "  {}", top.join(", "))?;
            writeln!(
                f,
                "  {} trend rows; interactions.history holds {} rows (sink, exactly once)",
                m.trend_rows, m.history_rows
            )?;
        }
        if let Some(t) = &self.threat {
            writeln!(
                f,
                "\nThreat detection (alerts read back from detection.alerts, {} rows)",
                t.alert_rows
            )?;
            for line in t.report.to_string().lines() {
                writeln!(f, "  {line}")?;
            }
            let e = &t.sampling.emitted;
            writeln!(
                f,
                "  ingest after sampling: mean {:.0}/s (target {:.0}), sd {:.0}%, {:.0}% of seconds within 20% of the target",
                e.mean,
                t.sampling.target_per_s,
                100.0 * e.std_dev / e.mean.max(1e-9),
                100.0 * t.sampling.near_target
            )?;
        }
        if let Some(n) = &self.nab {
            writeln!(f, "\nNAB corpus through a per-key detector")?;
            writeln!(
                f,
                "  standard profile score {:.1} (threshold {:.3}; {} of {} windows detected, {} rows, {} series)",
                n.report.score,
                n.report.threshold,
                n.report.windows_detected,
                n.report.windows,
                n.report.rows,
                n.report.files.len()
            )?;
        }
        writeln!(
            f,
            "\nThroughput and end-to-end latency (producer to handler)"
        )?;
        if let Some(m) = &self.music {
            writeln!(
                f,
                "  interactions -> analytics        {:>9.0} events/s, {}",
                m.publish_rate, m.analytics_latency
            )?;
            writeln!(
                f,
                "  interactions -> recommendations  {:>9.0} events/s, {} (learning and held-out evaluation)",
                m.publish_rate, m.latency
            )?;
        }
        if let Some(t) = &self.threat {
            writeln!(
                f,
                "  flows -> detection               {:>9.0} events/s, {}",
                t.publish_rate, t.latency
            )?;
        }
        if let Some(n) = &self.nab {
            writeln!(
                f,
                "  sensors -> monitoring            {:>9.0} events/s, {}",
                n.publish_rate, n.latency
            )?;
        }
        Ok(())
    }
}
