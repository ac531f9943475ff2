//! Data products' Delta tables: the one layer both kits write and read them through.
//!
//! - [`ProductTable`] is a product's table: opened through [`table_builder`] with the lake's
//!   storage options, written in each write mode (append, overwrite, merge) with the mesh's
//!   commit metadata ([`Commit`]: the writing domain, the row schema's registry id, a sink's
//!   offsets as application transactions), compacted and vacuumed, and described by the
//!   statistics the catalog records for a version ([`VersionStats`]). Every failure is a
//!   [`TableError`] naming the product and the table's URL.
//! - Schema changes the catalog accepted reach the table: [`ProductTable::evolve`] adds the
//!   columns a newer row schema has (nullable: rows written before hold null), and every
//!   write merges schemas, so rows of an older schema (a writer built before the change)
//!   leave the new columns null. Which changes a table can take at all is
//!   [`crate::avro::table::evolution`]'s to say, before anything is registered.
//! - [`compaction`] keeps tables written by many small commits (appending producers, stream
//!   sinks) at a bounded number of files: one size-tiered policy, run in the background by a
//!   [`Compactor`] that tracks its work so a writer's shutdown can wait for it.
//! - Lakes live on the local filesystem (`file://`) or on S3 and the stores that speak its
//!   API (`s3://bucket/prefix`, [`cloud`] says how they are configured and why concurrent
//!   writers are safe there: Delta commits with a conditional PUT). [`supports`] says whether
//!   this build can store tables under a URL.
//! - [`LocalLake`] is the local filesystem as an object store whose commit-log listings do
//!   not grow with the log. Delta finds a table's newest version by listing its `_delta_log/`
//!   from the version it knows, several times per commit; on S3, GCS or Azure that listing
//!   starts after a key, server side, but `object_store`'s `LocalFileSystem` walks the whole
//!   directory, so each local commit would cost a little more than the one before.
//!   `LocalLake` reads the directory's names, keeps those past the offset by comparing names,
//!   and looks only those files up.
//!
//! ```no_run
//! use mesh_core::lake::{Commit, ProductTable};
//! use mesh_core::{DomainName, Endpoints, ProductId, ProductName};
//!
//! # async fn demo(endpoints: &Endpoints) -> Result<(), Box<dyn std::error::Error>> {
//! let domain = DomainName::new("songs")?;
//! let product = ProductId::new(&domain, &ProductName::new("catalogue")?);
//! let mut table = ProductTable::open(product, endpoints).await?;
//! if let Some(stats) = table.stats()? {
//!     println!("version {} holds {} rows", stats.version, stats.rows);
//! }
//! table.vacuum(std::time::Duration::from_secs(7 * 24 * 3600), &Commit::by_producer(&domain)).await?;
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

use deltalake::{DeltaTableBuilder, DeltaTableError};
use url::Url;

use crate::config::Endpoints;

pub mod cloud;
pub mod compaction;
mod local;
mod table;

pub use cloud::supports;
pub use compaction::{CompactionPolicy, Compactor};
pub use local::LocalLake;
pub use table::{
    Commit, Evolved, META_PRODUCER_DOMAIN, META_SCHEMA_ID, META_SINK_DOMAIN, META_SOURCE_TOPIC,
    MergeKeyError, Merged, ProductTable, TableError, VersionStats, app_id, last_per_key,
};

/// A builder for the table at `url` with the storage options of `endpoints`; a `file:` table
/// goes through [`LocalLake`], an `s3:` table through [`cloud`]'s S3 client.
pub fn table_builder(
    url: Url,
    endpoints: &Endpoints,
) -> Result<DeltaTableBuilder, DeltaTableError> {
    cloud::register();
    let options = endpoints.storage_options.clone().into_iter().collect();
    let builder = DeltaTableBuilder::from_url(url.clone())?.with_storage_options(options);
    Ok(if url.scheme() == "file" {
        builder.with_storage_backend(Arc::new(LocalLake::default()), url)
    } else {
        builder
    })
}
