//! Snapshots: writing a data product's rows as a new version of its Delta table and
//! registering that version in the catalog.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use catalog::{DataProduct, TablePort, TableVersion};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTableBuilder, DeltaTableError};
use mesh_core::ProductId;
use tracing::{info, instrument};
use url::Url;

use crate::error::{Error, Result};
use crate::producer::DomainProducer;

/// Commit-metadata key naming the domain that wrote a version.
pub const META_PRODUCER_DOMAIN: &str = "mesh.producer_domain";
/// Commit-metadata key holding the registry id of the schema the rows were written with.
pub const META_SCHEMA_ID: &str = "mesh.schema_id";

/// How a snapshot changes the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WriteMode {
    /// The snapshot replaces the table's rows.
    #[default]
    Overwrite,
    /// The snapshot's rows are added to the table's rows.
    Append,
}

/// A snapshot of a data product; runs on `.await` and returns the registered version.
/// See [`DomainProducer::snapshot`].
#[derive(Debug)]
#[must_use = "a snapshot is written only when awaited"]
pub struct Snapshot {
    producer: DomainProducer,
    product: ProductId,
    batches: Vec<RecordBatch>,
    mode: WriteMode,
    schema_id: Option<u32>,
    partition_columns: Vec<String>,
    description: Option<String>,
}

impl Snapshot {
    pub(crate) fn new(
        producer: DomainProducer,
        product: ProductId,
        batches: Vec<RecordBatch>,
    ) -> Self {
        Self {
            producer,
            product,
            batches,
            mode: WriteMode::default(),
            schema_id: None,
            partition_columns: Vec::new(),
            description: None,
        }
    }

    /// How the rows change the table. Default [`WriteMode::Overwrite`].
    pub fn with_mode(mut self, mode: WriteMode) -> Self {
        self.mode = mode;
        self
    }

    /// The registry id of the schema the rows follow, recorded in the commit and the
    /// catalog. Default: none recorded.
    pub fn with_schema_id(mut self, schema_id: u32) -> Self {
        self.schema_id = Some(schema_id);
        self
    }

    /// Partition columns, used when the table is created. Default: none.
    pub fn with_partition_columns(
        mut self,
        columns: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.partition_columns = columns.into_iter().map(Into::into).collect();
        self
    }

    /// The product's description, used when the catalog does not know the product yet.
    /// Default: empty.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    fn delta_error(&self, uri: &str) -> impl Fn(DeltaTableError) -> Error + '_ {
        let uri = uri.to_owned();
        move |source| Error::Delta {
            product: self.product.clone(),
            uri: uri.clone(),
            source: Box::new(source),
        }
    }

    #[instrument(skip_all, fields(product = %self.product))]
    async fn write(self) -> Result<TableVersion> {
        let endpoints = self.producer.endpoints();
        let uri = endpoints.table_url(&self.product);
        let delta_error = self.delta_error(&uri);
        let url = Url::parse(&uri).map_err(|e| {
            delta_error(DeltaTableError::InvalidTableLocation(format!("{uri}: {e}")))
        })?;
        if url.scheme() == "file"
            && let Ok(path) = url.to_file_path()
        {
            std::fs::create_dir_all(&path).map_err(|e| delta_error(DeltaTableError::from(e)))?;
        }
        let mut table = DeltaTableBuilder::from_url(url)
            .and_then(|b| {
                b.with_storage_options(endpoints.storage_options.clone().into_iter().collect())
                    .build()
            })
            .map_err(&delta_error)?;
        // Loading a table that does not exist yet logs an error deep in the kernel: look first.
        if table
            .verify_deltatable_existence()
            .await
            .map_err(&delta_error)?
        {
            table.load().await.map_err(&delta_error)?;
        }
        let mut metadata = vec![(
            META_PRODUCER_DOMAIN.to_owned(),
            serde_json::Value::from(self.product.domain().as_str()),
        )];
        if let Some(id) = self.schema_id {
            metadata.push((META_SCHEMA_ID.to_owned(), serde_json::Value::from(id)));
        }
        let save_mode = match self.mode {
            WriteMode::Overwrite => SaveMode::Overwrite,
            WriteMode::Append => SaveMode::Append,
        };
        let mut write = table
            .write(self.batches.clone())
            .with_save_mode(save_mode)
            .with_commit_properties(CommitProperties::default().with_metadata(metadata));
        if !self.partition_columns.is_empty() {
            write = write.with_partition_columns(self.partition_columns.clone());
        }
        let table = write.await.map_err(&delta_error)?;
        let state = table.snapshot().map_err(&delta_error)?;
        let version = state.version();
        let (mut rows, mut bytes) = (0u64, 0u64);
        for file in state.log_data().iter() {
            rows += file.num_records().map_or(0, |n| n as u64);
            bytes += u64::try_from(file.size()).unwrap_or(0);
        }
        let committed_at_ms = state.version_timestamp(version).unwrap_or_default();
        info!(version, rows, bytes, "table version committed");

        let catalog = self.producer.catalog();
        let mut product = match catalog.product(&self.product).await {
            Ok(p) => p,
            Err(e) if e.is_not_found() => DataProduct::new(
                self.product.clone(),
                self.description.clone().unwrap_or_default(),
            ),
            Err(e) => return Err(e.into()),
        };
        let port = TablePort {
            uri: uri.clone(),
            partition_columns: self.partition_columns.clone(),
            source_topic: product
                .table_port
                .as_ref()
                .and_then(|p| p.source_topic.clone()),
        };
        if product
            .table_port
            .as_ref()
            .is_none_or(|p| p.uri != port.uri)
        {
            product.table_port = Some(port);
            catalog.upsert_product(&product).await?;
        }
        let registered = catalog
            .register_table_version(
                &self.product,
                &TableVersion {
                    // Delta versions count commits: far below i64::MAX.
                    version: i64::try_from(version).unwrap_or(i64::MAX),
                    rows,
                    bytes,
                    schema_id: self.schema_id,
                    offsets: Vec::new(),
                    committed_at_ms,
                },
            )
            .await?;
        Ok(registered)
    }
}

impl IntoFuture for Snapshot {
    type Output = Result<TableVersion>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.write())
    }
}
