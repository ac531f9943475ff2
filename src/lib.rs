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
//! let report = Slice::new(mesh.endpoints().clone()).run(|hop| println!("{hop}")).await?;
//! assert_eq!(report.received.schema_id, report.played_schema_id);
//! mesh.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! # The process allocator
//!
//! A library does not choose the allocator of the programs that use it: the mesh's own
//! programs (`mesh`, `mesh-catalog`, `mesh-scenarios`, the benches, the generated crates)
//! choose jemalloc, and so should a publishing service. Publishing allocates each Kafka
//! message, its headers and its delivery slot on the sending thread and frees them on
//! librdkafka's threads; glibc's per-thread arenas make every such free take the allocating
//! arena's lock, a cost on every event (`cpu_us_per_event` in `benches/producer.rs`, built
//! with and without the `jemalloc` feature). With the default `jemalloc` feature this crate
//! re-exports [`Jemalloc`], linked unprefixed so librdkafka's `malloc` and `free` use it too:
//!
//! ```ignore
//! // In the program's main.rs (`ignore`: a doctest is a program with its own allocator).
//! #[global_allocator]
//! static ALLOCATOR: datamesh::Jemalloc = datamesh::Jemalloc;
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
/// jemalloc, for a program's `#[global_allocator]`; see [the crate docs](crate#the-process-allocator).
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
pub use tikv_jemallocator::Jemalloc;
