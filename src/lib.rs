//! `datamesh`: a data-mesh event platform in one crate.
//!
//! Domain teams publish their data products in two planes: live events on their own Kafka
//! topics, each validated against an Avro schema held by the central registry, and snapshots
//! as Delta Lake tables registered in the central catalog. Consumer domains subscribe to the
//! streams and query the tables they need.
//!
//! This crate gathers the platform:
//!
//! - [`mesh_core`]: names, Avro schemas, the wire format, configuration;
//! - [`catalog`]: the catalog service and its client (it is also the schema registry);
//! - [`producer_kit`]: publishing validated events and snapshotting products;
//! - [`consumer_kit`]: subscribing to streams and querying products;
//! - [`LocalMesh`]: the whole mesh on one machine with nothing installed (an in-process
//!   Kafka-protocol broker, the catalog on SQLite, a lake directory), or the same code
//!   pointed at a real Kafka, catalog and object store;
//! - [`slice::Slice`]: one event and one snapshot through every hop;
//! - the `mesh` binary: `mesh dev` (this local mesh in the foreground), `mesh new producer|consumer
//!   <domain>` (a crate from `templates/`), `mesh contract validate|diff|apply`, `mesh catalog
//!   ...`, `mesh tail`, `mesh query`, `mesh sink`; `mesh --help` on each.
//!
//! ```no_run
//! use datamesh::{LocalMesh, mesh_core::MeshConfig, slice::Slice};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mesh = LocalMesh::start(&MeshConfig::load()?).await?;
//! let report = Slice::new(mesh.endpoints().clone(), "schemas").run(|hop| println!("{hop}")).await?;
//! assert_eq!(report.received.schema_id, report.played_schema_id);
//! mesh.shutdown().await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod error;
pub mod local;
pub mod slice;

pub use catalog;
pub use consumer_kit;
pub use mesh_core;
pub use producer_kit;

pub use error::{Error, Result};
pub use local::LocalMesh;
