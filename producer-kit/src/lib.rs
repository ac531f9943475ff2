//! The producer kit: what a domain team uses to publish its data products.
//!
//! A domain keeps a [contract](mesh_core::Contract) in its repository: its streams (value
//! schema, key field, partitions, retention) and data products (row schema, partition
//! columns, write mode, SLA). [`DomainProducer::connect`] applies it to the mesh: every
//! schema change is checked against the catalog first (registry compatibility and what the
//! product tables can take), then the domain, products and schemas are registered, topics
//! created with their partitions, and product tables created.
//!
//! - **Publishing**: [`DomainProducer::publisher`] gives a [`Publisher`] of any serde type,
//!   [`DomainProducer::dyn_publisher`] a [`DynPublisher`] of Avro values. Every event is
//!   checked against the registered schema while it is encoded (straight to Avro binary, no
//!   intermediate value), refused with its field path if it does not fit, and nothing is
//!   sent then. Confluent wire format, key from the contract's key field, the mesh's headers,
//!   idempotent producer with `acks=all`; `send` resolves on the broker's acknowledgement,
//!   `send_batch` checks a whole batch before sending any of it; a bound on unacknowledged
//!   events makes senders wait instead of buffering without end.
//! - **Snapshots**: [`DomainProducer::snapshot`] writes Arrow batches, Avro values or serde
//!   rows ([`Rows`]) as a new version of the product's Delta table in its write mode
//!   (overwrite, append, or merge by keys with the last row of a key winning), with the
//!   producer domain and schema id in the commit, and registers the version in the catalog.
//!   Append-mode products are compacted in the background every 25 appends, size-tiered
//!   (each run merges what was appended since the last, every eighth run merges eight of
//!   those, and so on up to the table's target file size), so neither the number of files
//!   nor the compaction work grows with the table ([`mesh_core::lake::compaction`], the
//!   policy the consumer kit's sink uses too). [`DomainProducer::maintain`] compacts to the
//!   target file size and vacuums; [`DomainProducer::close`] waits for background work and
//!   for Kafka's acknowledgements before the process exits.
//!
//! ```no_run
//! use mesh_core::{Contract, Endpoints, MeshConfig};
//! use producer_kit::DomainProducer;
//! use serde::Serialize;
//!
//! #[derive(Serialize)]
//! struct Played { user_id: String, song_id: i64, ms_played: i32 }
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let endpoints = Endpoints::from_config(&MeshConfig::load()?)?;
//! let producer = DomainProducer::connect(Contract::load("contract.toml")?, &endpoints).await?;
//! let played = producer.publisher::<Played>("played")?;
//! let delivery = played.send(&Played { user_id: "u-1".into(), song_id: 7, ms_played: 1000 }).await?;
//! println!("stored at {}:{}", delivery.partition, delivery.offset);
//! let rows = producer.rows("history", &[Played { user_id: "u-1".into(), song_id: 7, ms_played: 1000 }])?;
//! let version = producer.snapshot("history", rows).await?;
//! println!("table version {}", version.version);
//! producer.flush(std::time::Duration::from_secs(10))?;
//! # Ok(()) }
//! ```
//!
//! [`plan()`] shows what applying a contract would change (catalog records, schema verdicts,
//! topics, tables) without changing anything.
//!
//! Modules: [`plan`](mod@plan), [`producer`], [`publisher`], [`snapshot`], [`tables`], [`error`].

#![warn(missing_docs)]

mod delivery;
pub mod error;
mod key;
pub mod plan;
pub mod producer;
pub mod publisher;
mod records;
pub mod snapshot;
pub mod tables;

pub use error::{Error, Result, Undelivered};
pub use mesh_core::WriteMode;
pub use plan::{Plan, plan};
pub use producer::{DEFAULT_MAX_IN_FLIGHT, DomainProducer};
pub use publisher::{Delivery, DynPublisher, Publisher};
pub use snapshot::{Rows, Snapshot};
pub use tables::{META_PRODUCER_DOMAIN, META_SCHEMA_ID, Maintenance};
