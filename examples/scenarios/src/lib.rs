//! The reference scenarios of the data mesh: the jobs the platform exists for, run end to end
//! through the kits, on embedded defaults or on real services.
//!
//! `scripts/run` runs the binary `mesh-scenarios`, which runs all three and prints a summary
//! (events per domain, products and versions, recommendations, alerts, the NAB score,
//! throughput and latency). `--serve` keeps the recommendations API up afterwards.
//!
//! - [`music`]: producer domains `users`, `songs`, `podcasts` and `interactions` publish a
//!   generated world (Zipf popularity, taste clusters, sessions, new releases while it runs);
//!   `recommendations` merges the song and podcast catalogues read through the catalog, learns
//!   online from every interaction and is scored on held-out interactions against a popularity
//!   baseline; `analytics` keeps live plays per item and genre per minute as the product
//!   `analytics.plays_per_minute`; the interaction history reaches `interactions.history`
//!   through the stream-to-table sink.
//! - [`threat`]: `threat-intel` snapshots IP reputation; `flows` samples generated traffic with
//!   labelled attacks adaptively per customer, enriches it with the reputation product and
//!   publishes it; `detection` runs per-key sliding-window detectors (the consumer kit's robust
//!   z-score and CUSUM, and a periodicity detector, behind its
//!   [`Detector`](datamesh::consumer_kit::Detector) trait), publishes `detection.alerts` and
//!   persists them; precision and recall are computed from the alerts read back from the product.
//! - [`nab`]: the NAB corpus streamed through a per-key detection consumer and scored with a
//!   NAB-style scorer (standard profile, threshold chosen on the data).
//!
//! Each domain's contract is in `contracts/`, its schemas in the workspace's `schemas/`.
//! [`domains::Mesh`] is what they share: the endpoints, and producers and consumers built from
//! the contracts. The generators, models and scorers are plain code with no mesh in them
//! (`music::generate`, `music::recommend`, `threat::generate`, `nab::score`...), so they are
//! tested and measured alone; the `mesh` module of each scenario wires them to the kits.
//!
//! Running one scenario from code:
//!
//! ```no_run
//! # async fn demo() -> scenarios::Result<()> {
//! use datamesh::{LocalMesh, mesh_core::MeshConfig};
//! use scenarios::{domains::Mesh, job::{self, Job, Scenario, Size}, progress::Progress};
//!
//! let local = LocalMesh::start(&MeshConfig::default()).await?;
//! let mesh = Mesh::new(local.endpoints().clone());
//! let job = Job { size: Size::Small, only: vec![Scenario::Threat], ..Job::default() };
//! let summary = job::run(&mesh, &job, &Progress::hidden()).await?;
//! println!("{summary}");
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod domains;
pub mod error;
pub mod job;
pub mod measure;
pub mod music;
pub mod nab;
pub mod progress;
pub mod serve;
pub mod threat;

pub use error::{Error, Result};
