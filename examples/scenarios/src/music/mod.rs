//! Real-time music recommendations: the pure logic of the `recommendations` consumer.
//!
//! Four producer domains publish a `users`, a `songs` and a `podcasts` catalogue and an
//! `interactions` stream; the consumer merges songs and podcasts into one item catalogue,
//! updates an online model on every interaction and serves top-k recommendations. This
//! module holds everything but the wiring (Kafka, Delta, HTTP), deterministic from a seed and
//! driven by event time only, so the same code runs in tests, benchmarks and the service:
//!
//! - [`model`]: the records the domains publish (they become Avro records) and [`Item`], one
//!   entry of the merged catalogue;
//! - [`generate`]: a synthetic but structured world ([`World`]) and its time-ordered event
//!   stream ([`MusicEvent`]);
//! - [`recommend`]: the online item-to-item [`Recommender`];
//! - [`popularity`]: the decayed-popularity baseline ([`Popularity`]);
//! - [`eval`]: prequential (evaluate-then-learn) evaluation of both ([`Evaluator`]).
//!
//! ```no_run
//! // (`no_run`: a world takes seconds to evaluate; the module's tests run the same code.)
//! use scenarios::music::{EvalConfig, Popularity, Recommender, World, WorldConfig, evaluate};
//!
//! let world = World::generate(WorldConfig::small(), 7);
//! let report = evaluate(&world, Recommender::default(), Popularity::default(), EvalConfig::for_world(&world));
//! assert!(report.cases > 0);
//! ```

// The per-user history is the consumer kit's.
use datamesh::consumer_kit::{History, Keep};

pub mod analytics;
mod common;
pub mod eval;
pub mod generate;
pub mod mesh;
pub mod model;
pub mod popularity;
pub mod recommend;

pub use eval::{EvalConfig, Evaluator, Lift, Metrics, Report, Segment, evaluate, load};
pub use generate::{Events, World, WorldConfig};
pub use model::{
    Action, Device, Interaction, Item, ItemKind, MusicEvent, PODCAST_ID_BASE, POSITIVE_PLAY_MS,
    Podcast, Song, User, merge_catalogue,
};
pub use popularity::{Popularity, PopularityConfig};
pub use recommend::{Mix, Reason, Recommendation, Recommender, RecommenderConfig};
