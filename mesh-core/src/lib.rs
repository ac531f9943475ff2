//! The shared model of the data mesh.
//!
//! Every other crate of the platform speaks in these terms:
//!
//! - **names**: a [`DomainName`] owns [`StreamName`]s and [`ProductName`]s; a stream's Kafka
//!   topic is `<domain>.<stream>` ([`TopicName`]) and its schemas live under the registry
//!   subjects `<topic>-value` and `<topic>-key` ([`Subject`]); a data product is known
//!   mesh-wide as `<domain>.<product>` ([`ProductId`]). Names are checked when built, so a
//!   value of these types is always a legal topic, subject and path segment.
//! - **schemas**: [`AvroSchema`] loads `.avsc` files, checks values against them with the
//!   field path of every violation ([`ValidationError`]) and encodes them.
//! - **wire format**: [`wire`] frames Avro bodies the way every Confluent client does.
//! - **configuration**: [`MeshConfig`] says where Kafka, the catalog and the lake are, from
//!   a `mesh.toml` file and `MESH_*` variables; anything left out is an embedded default.
//!
//! ```
//! use apache_avro::types::Value;
//! use mesh_core::{AvroSchema, DomainName, StreamName, Subject, TopicName};
//!
//! # fn main() -> mesh_core::Result<()> {
//! let topic = TopicName::new(&DomainName::new("songs")?, &StreamName::new("played")?);
//! assert_eq!(Subject::value(&topic).as_str(), "songs.played-value");
//!
//! let schema = AvroSchema::parse_record(
//!     r#"{"type":"record","name":"Played","fields":[{"name":"song_id","type":"long"}]}"#,
//!     "inline",
//! )?;
//! let err = schema
//!     .conform(Value::Record(vec![("song_id".into(), Value::String("x".into()))]))
//!     .unwrap_err();
//! assert_eq!(err.errors[0].path, "$.song_id");
//! assert_eq!(err.errors[0].reason, "expected long, found string \"x\"");
//! # Ok(())
//! # }
//! ```
//!
//! - **Arrow**: [`arrow`] (feature `arrow`) maps Avro records to Arrow batches and back: the
//!   one mapping tables and queries use.
//! - **contracts**: [`Contract`] is a domain's manifest (streams, products, write modes,
//!   SLAs), loaded and checked as a whole.
//! - **lake**: `lake` (feature `lake`) is the one layer the kits open, write, compact and
//!   describe product tables through.
//! - **kafka**: `kafka` (feature `kafka`) builds the kits' Kafka clients, creates topics on
//!   any broker the mesh runs on, and keeps rdkafka's blocking calls off the runtime.
//!
//! Modules: [`names`], [`avro`], [`wire`], [`config`], [`contract`], [`time`], [`error`];
//! with features, `arrow`, `lake` and `kafka`.

#![warn(missing_docs)]

#[cfg(feature = "arrow")]
pub mod arrow;
pub mod avro;
pub mod config;
pub mod contract;
pub mod error;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "lake")]
pub mod lake;
pub mod names;
pub mod time;
pub mod wire;

pub use apache_avro;
pub use avro::compat::{self, Incompatibility, Level, Refusal};
pub use avro::{AvroSchema, FieldError, ValidationError};
pub use config::{
    CatalogConfig, CreateTopicError, Endpoints, KafkaConfig, KafkaEndpoint, LakeConfig, MeshConfig,
    Pinned, Secret, TopicCreator,
};
pub use contract::{Contract, ProductSpec, StreamSpec, WriteMode};
pub use error::{Error, Result};
pub use names::{DomainName, NameKind, ProductId, ProductName, StreamName, Subject, TopicName};
pub use wire::{SchemaId, WireError};
