//! The data-mesh catalog: one governance service for data products, and a
//! Confluent-compatible schema registry.
//!
//! Producers register their domains, data products (stream ports and table ports) and
//! schemas here; consumers discover products here; each table version a writer commits is
//! recorded here with the schema it was written with.
//!
//! The crate has two halves:
//!
//! - [`CatalogClient`] and the [`model`] types, always built: what the kits use. They need
//!   no server dependencies.
//! - [`server`] (feature `server`, on by default): the axum service over SQLite or Postgres,
//!   and the `mesh-catalog` binary (`mesh-catalog serve --listen ADDR --database URL [--dev]`).
//!
//! What the service does:
//!
//! - **Governance** under `/api/v1`: domains; data products with stream ports (topic and
//!   subjects), a table port (Delta URI, partition columns, the stream a sink feeds it from)
//!   and an SLA; the versions of their tables (rows, bytes, writer schema id, Kafka offsets);
//!   grants; stream heads; search; health (freshness from both planes against the SLA).
//! - **Schema registry**, Confluent-compatible, at the root: subjects, versions, ids,
//!   lookups, the seven compatibility levels, config and mode per subject, soft and
//!   permanent deletes, references, IMPORT mode; Confluent's error codes and media type.
//! - **Cross-surface compatibility**: a schema for a product's table subject
//!   (`<product>-table`), or for the stream a sink writes into that table, is also checked
//!   against what the Delta table can take (`mesh_core::avro::table`).
//! - **Security**: bearer tokens (admin, or one domain), stored as hashes; a domain changes
//!   only what it owns; table locations need a grant; every mutation is audited in the same
//!   transaction. `GET /api/v1/whoami` tells a token who it acts for; a domain's token lists
//!   and revokes its own domain's tokens.
//! - **Operations**: `/healthz`, `/readyz`, Prometheus `/metrics`, `/openapi.json` generated
//!   from the route table, graceful shutdown.
//!
//! ```no_run
//! use catalog::{CatalogClient, model::Domain};
//! use mesh_core::{AvroSchema, DomainName, Subject, TopicName};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = CatalogClient::new("http://127.0.0.1:8081")?;
//! client
//!     .upsert_domain(&Domain {
//!         name: DomainName::new("songs")?,
//!         owner: "team-songs".into(),
//!         description: "The song catalogue".into(),
//!     })
//!     .await?;
//! let schema = AvroSchema::from_file("schemas/songs/Played.avsc")?;
//! let topic = TopicName::parse("songs.played")?;
//! let id = client.register_schema(&Subject::value(&topic), &schema).await?;
//! println!("registered as schema {id}");
//! # Ok(())
//! # }
//! ```
//!
//! Modules: [`client`], [`model`], [`error`], [`server`].

#![warn(missing_docs)]

pub mod client;
pub mod error;
pub mod model;
#[cfg(feature = "server")]
pub mod server;

pub use client::CatalogClient;
pub use error::{Error, Result};
pub use model::{
    AuditEntry, CreatedToken, DataProduct, Domain, Grant, Identity, IdentityKind, NewToken,
    PartitionOffset, ProductHealth, SchemaId, Sla, StreamHead, StreamLag, StreamPort, TablePort,
    TableVersion, TokenInfo, WriteMode,
};
