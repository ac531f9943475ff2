//! Static data: querying data products' Delta tables with SQL.
//!
//! Each opened product is a table named like its id, `<domain>.<product>`, so `SELECT * FROM
//! songs.catalogue` reads the `songs` domain's `catalogue` product. A product opens at its
//! latest version, or pinned to a version or a time; [`StaticData::refresh`] moves unpinned
//! products to the newest version the catalog has registered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::catalog::MemorySchemaProvider;
use deltalake::datafusion::common::TableReference;
use deltalake::datafusion::prelude::SessionContext;
use mesh_core::ProductId;
use mesh_core::lake::ProductTable;
use serde::de::DeserializeOwned;
use tracing::info;

use crate::context::Context;
use crate::error::{Error, Result};

/// The DataFusion catalog products are registered in.
const CATALOG: &str = "datafusion";

/// Which version of a product to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum At {
    /// The newest version; [`StaticData::refresh`] keeps it newest.
    #[default]
    Latest,
    /// This Delta version.
    Version(u64),
    /// The newest version committed at or before this time (milliseconds since the epoch).
    Timestamp(i64),
}

/// A SQL session over data products. Cheap to share behind an `Arc`.
pub struct StaticData {
    context: Arc<Context>,
    ctx: SessionContext,
    // A plain mutex: held to read or update the list, never across an await.
    opened: Mutex<HashMap<ProductId, (At, u64)>>,
}

impl std::fmt::Debug for StaticData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticData")
            .field("domain", &self.context.domain)
            .finish_non_exhaustive()
    }
}

impl StaticData {
    pub(crate) fn new(context: Arc<Context>) -> Self {
        Self {
            context,
            ctx: SessionContext::new(),
            opened: Mutex::default(),
        }
    }

    /// Finds `product` in the catalog and opens the latest version of its table for SQL.
    /// Returns the Delta version opened.
    pub async fn open(&self, product: &ProductId) -> Result<u64> {
        self.open_at(product, At::Latest).await
    }

    /// Opens `product` at a version or time. A product of another domain needs a grant.
    pub async fn open_at(&self, product: &ProductId, at: At) -> Result<u64> {
        let table = self.load(product, at).await?;
        let version = table
            .version()
            .map_or(0, |v| u64::try_from(v).unwrap_or_default());
        self.register(product, &table).await?;
        if let Ok(mut opened) = self.opened.lock() {
            opened.insert(product.clone(), (at, version));
        }
        info!(%product, version, "product opened");
        Ok(version)
    }

    async fn load(&self, product: &ProductId, at: At) -> Result<ProductTable> {
        let described = self.context.catalog.product(product).await?;
        if described.table_location_hidden {
            return Err(Error::NotGranted {
                product: product.clone(),
                domain: self.context.domain.clone(),
            });
        }
        let port = described.table_port.ok_or_else(|| Error::NoTable {
            product: product.clone(),
        })?;
        let mut table =
            ProductTable::load(product.clone(), &port.uri, &self.context.endpoints).await?;
        match at {
            At::Latest => {}
            At::Version(v) => table.load_version(v).await?,
            At::Timestamp(ms) => {
                let when = chrono::DateTime::from_timestamp_millis(ms)
                    .ok_or(Error::InvalidTime { millis: ms })?;
                table.load_at(when).await?;
            }
        }
        Ok(table)
    }

    async fn register(&self, product: &ProductId, table: &ProductTable) -> Result<()> {
        let delta = table.delta_table();
        delta
            .update_datafusion_session(&self.ctx.state())
            .map_err(|e| table.error(e))?;
        let provider = delta.table_provider().await?;
        let domain = product.domain();
        let catalog = self.ctx.catalog(CATALOG).ok_or_else(|| {
            deltalake::datafusion::error::DataFusionError::Plan(format!("no catalog {CATALOG}"))
        })?;
        if catalog.schema(domain.as_str()).is_none() {
            catalog.register_schema(domain.as_str(), Arc::new(MemorySchemaProvider::new()))?;
        }
        let name = TableReference::partial(domain.as_str(), product.product().as_str());
        self.ctx.deregister_table(name.clone())?;
        self.ctx.register_table(name, provider)?;
        Ok(())
    }

    /// Moves every product opened at [`At::Latest`] to the newest version the catalog has
    /// registered. Returns the products that moved, with their new versions.
    pub async fn refresh(&self) -> Result<Vec<(ProductId, u64)>> {
        let latest: Vec<(ProductId, u64)> = self
            .opened
            .lock()
            .map(|o| {
                o.iter()
                    .filter(|(_, (at, _))| *at == At::Latest)
                    .map(|(p, (_, v))| (p.clone(), *v))
                    .collect()
            })
            .unwrap_or_default();
        let mut moved = Vec::new();
        for (product, current) in latest {
            let registered = match self.context.catalog.latest_table_version(&product).await {
                Ok(v) => u64::try_from(v.version).unwrap_or(0),
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            if registered > current {
                let version = self.open(&product).await?;
                moved.push((product, version));
            }
        }
        Ok(moved)
    }

    /// Runs a SQL query and collects its result.
    pub async fn sql(&self, query: &str) -> Result<Vec<RecordBatch>> {
        Ok(self.ctx.sql(query).await?.collect().await?)
    }

    /// Runs a SQL query and returns its rows as serde values (through JSON: column names are
    /// field names). Timestamps arrive as milliseconds since the Unix epoch, as Avro
    /// `timestamp-millis` and the producer kit's serde encoding take them (Delta stores
    /// microseconds; finer parts are dropped).
    pub async fn rows<T: DeserializeOwned>(&self, query: &str) -> Result<Vec<T>> {
        let arrow_error =
            |e| deltalake::datafusion::error::DataFusionError::ArrowError(Box::new(e), None);
        let batches = self.sql(query).await?;
        let mut writer = deltalake::arrow::json::ArrayWriter::new(Vec::new());
        for b in &batches {
            let b = timestamps_as_integers(b).map_err(arrow_error)?;
            writer.write(&b).map_err(arrow_error)?;
        }
        writer.finish().map_err(arrow_error)?;
        let bytes = writer.into_inner();
        if bytes.is_empty() {
            return Ok(Vec::new());
        }
        serde_json::from_slice(&bytes).map_err(|e| Error::Rows(e.to_string()))
    }

    /// The DataFusion session, for anything SQL strings do not cover.
    pub fn session(&self) -> &SessionContext {
        &self.ctx
    }
}

/// The batch with its top-level timestamp columns as milliseconds since the epoch (`Int64`).
fn timestamps_as_integers(
    batch: &RecordBatch,
) -> std::result::Result<RecordBatch, deltalake::arrow::error::ArrowError> {
    use deltalake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    let schema = batch.schema();
    if !schema
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Timestamp(..)))
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if let DataType::Timestamp(_, zone) = field.data_type() {
            let millis = deltalake::arrow::compute::cast(
                column,
                &DataType::Timestamp(TimeUnit::Millisecond, zone.clone()),
            )?;
            columns.push(deltalake::arrow::compute::cast(&millis, &DataType::Int64)?);
            fields.push(Field::new(
                field.name(),
                DataType::Int64,
                field.is_nullable(),
            ));
        } else {
            columns.push(Arc::clone(column));
            fields.push(field.as_ref().clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

#[cfg(test)]
mod tests {
    use deltalake::arrow::array::{Array, Int64Array, StringArray, TimestampMicrosecondArray};
    use deltalake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    use super::*;

    #[test]
    fn timestamps_become_epoch_milliseconds() -> std::result::Result<(), Box<dyn std::error::Error>>
    {
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["a", "b"])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(1_700_000_000_123_456), None])
                        .with_timezone("UTC"),
                ),
            ],
        )?;
        let out = timestamps_as_integers(&batch)?;
        let at = out
            .column_by_name("at")
            .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
            .ok_or("at is not an Int64 column")?;
        assert_eq!(at.value(0), 1_700_000_000_123);
        assert!(at.is_null(1));
        assert_eq!(out.column(0).data_type(), &DataType::Utf8);
        Ok(())
    }
}
