//! The producer kit: what a domain team uses to publish its data products.
//!
//! A [`DomainProducer`] registers the domain in the catalog and holds one idempotent Kafka
//! producer (`acks=all`). From it:
//!
//! - [`DomainProducer::stream`] registers a stream's value schema under
//!   `<domain>.<stream>-value`, makes sure the topic exists and returns a [`Publisher`].
//!   [`Publisher::send`] validates each event against the schema (refusing it, with the
//!   field path, before anything reaches Kafka), frames it in the Confluent wire format and
//!   resolves when the broker acknowledged it.
//! - [`DomainProducer::snapshot`] writes a product's rows as a new version of its Delta
//!   table (commit metadata names the producer domain and schema id) and registers the
//!   version in the catalog.
//!
//! ```no_run
//! use catalog::Domain;
//! use mesh_core::apache_avro::types::Value;
//! use mesh_core::{AvroSchema, DomainName, Endpoints, MeshConfig, StreamName};
//! use producer_kit::DomainProducer;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let endpoints = Endpoints::from_config(&MeshConfig::load()?)?;
//! let domain = Domain { name: DomainName::new("songs")?, owner: "team-songs".into(), description: String::new() };
//! let producer = DomainProducer::connect(domain, &endpoints).await?;
//! let played = producer
//!     .stream(StreamName::new("played")?, AvroSchema::record_from_file("schemas/songs/Played.avsc")?)
//!     .await?;
//! let delivery = played
//!     .send(Some("user-1"), Value::Record(vec![("song_id".into(), Value::Long(7))]))
//!     .await?;
//! println!("stored at {}:{}", delivery.partition, delivery.offset);
//! # Ok(()) }
//! ```
//!
//! Modules: [`producer`], [`publisher`], [`snapshot`], [`error`].

#![warn(missing_docs)]

pub mod error;
pub mod producer;
pub mod publisher;
pub mod snapshot;

pub use error::{Error, Result};
pub use producer::{DEFAULT_PARTITIONS, DomainProducer, OpenStream};
pub use publisher::{Delivery, Publisher};
pub use snapshot::{Snapshot, WriteMode};
