//! The consumer kit: what a consumer domain uses to read the mesh.
//!
//! A [`DomainConsumer`] is a consumer domain's handle on the mesh:
//!
//! - **Live events**: [`DomainConsumer::subscribe`] (by topics) or
//!   [`DomainConsumer::subscribe_product`] (by product, through the catalog, grant checked)
//!   give a [`Subscribe`]. [`Subscribe::run`] hands decoded events to a [`Handler`] with
//!   at-least-once delivery: commits only after success, order per partition, partitions in
//!   parallel up to a bound, retries with backoff, poison messages to the dead-letter topic
//!   `<domain>.dlq` with their cause (or, for a subscription that only reads,
//!   [`Subscribe::without_dead_letters`], reported to the handler and passed over), a commit
//!   before revocation and a drain on shutdown.
//!   Payloads are decoded through the registry with a schema cache and, optionally, resolved
//!   into the schema the consumer was built against ([`Decoder`]).
//! - **Static data**: [`DomainConsumer::static_data`] opens products as SQL tables named
//!   `<domain>.<product>` (latest, or pinned to a version or time; [`StaticData::refresh`]
//!   follows new versions) and returns Arrow batches or serde rows.
//! - **Per-key history**: [`History`] keeps the last values of each key in bounded memory;
//!   [`Detector`]s ([`Cusum`], [`RobustZ`]) judge each new value against it.
//! - **Stream to table**: [`DomainConsumer::sink`] appends a stream to a product's table
//!   exactly once, offsets kept as Delta application transactions ([`Sink`]).
//! - **Metrics**: [`ConsumerMetrics`], also as Prometheus text.
//!
//! ```no_run
//! use consumer_kit::{CancellationToken, DomainConsumer, Event, Handler, HandlerError, Serde};
//! use mesh_core::{DomainName, Endpoints, MeshConfig, ProductId};
//!
//! #[derive(serde::Deserialize)]
//! struct Played { user_id: String, song_id: i64 }
//!
//! struct CountPlays;
//!
//! impl Handler for CountPlays {
//!     type Value = Serde<Played>;
//!     async fn handle(&self, event: Event<Serde<Played>>) -> Result<(), HandlerError> {
//!         println!("{} played {}", event.value.0.user_id, event.value.0.song_id);
//!         Ok(())
//!     }
//! }
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let endpoints = Endpoints::from_config(&MeshConfig::load()?)?;
//! let consumer = DomainConsumer::connect(DomainName::new("recommendations")?, &endpoints).await?;
//! let shutdown = CancellationToken::new();
//! let plays = consumer.subscribe_product(&ProductId::parse("interactions.history")?).await?;
//! tokio::spawn(plays.run(CountPlays, shutdown.clone()));
//!
//! let data = consumer.static_data();
//! data.open(&ProductId::parse("songs.catalogue")?).await?;
//! let batches = data.sql("SELECT genre, count(*) FROM songs.catalogue GROUP BY genre").await?;
//! # Ok(()) }
//! ```
//!
//! Modules: [`consumer`], [`subscription`], [`handler`], [`decoder`], [`query`],
//! [`history`], [`sink`], [`metrics`], [`error`].

#![warn(missing_docs)]

pub mod consumer;
mod context;
pub mod decoder;
pub mod detect;
mod dlq;
pub mod error;
pub mod handler;
pub mod history;
pub mod metrics;
pub mod query;
pub mod sink;
pub mod subscription;

pub use consumer::{DomainConsumer, dead_letter_topic};
pub use decoder::{DecodeError, Decoder};
pub use detect::{Cusum, Detector, RobustZ};
pub use error::{Error, Result};
pub use handler::{Event, EventMeta, FromAvro, Handler, HandlerError, Position, Serde};
pub use history::{History, Keep};
pub use metrics::ConsumerMetrics;
pub use query::{At, StaticData};
pub use sink::{KEPT_COMMIT_TIMES, Sink, SinkSummary};
pub use subscription::{RunSummary, StartFrom, Subscribe, Subscription};
pub use tokio_util::sync::CancellationToken;
