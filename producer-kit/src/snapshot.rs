//! Snapshots: a product's rows written as a new version of its Delta table, in the
//! product's write mode, and registered in the catalog.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;

use catalog::TableVersion;
use deltalake::arrow::record_batch::RecordBatch;
use mesh_core::AvroSchema;
use mesh_core::apache_avro::types::Value;
use serde::Serialize;
use tracing::instrument;

use crate::error::{Error, Result};
use crate::tables::ProductTables;

/// The rows of a snapshot: Arrow record batches, Avro values or serde rows.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Rows {
    /// Record batches; their columns are matched to the product's schema by name.
    Batches(Vec<RecordBatch>),
    /// Avro records, checked against the product's schema.
    Values(Vec<Value>),
}

impl Rows {
    /// Serde rows (structs, maps, JSON objects with the product's fields), checked against
    /// the product's row `schema` as they are encoded: the same field-path refusals as events.
    /// [`DomainProducer::rows`](crate::DomainProducer::rows) finds the schema from the product's name.
    pub fn from_serde<T: Serialize>(schema: &AvroSchema, rows: &[T]) -> Result<Self> {
        let mut buf = Vec::with_capacity(256);
        let values = rows
            .iter()
            .enumerate()
            .map(|(row, r)| {
                buf.clear();
                let refused = |reason: String| Error::RowConversion { row, reason };
                schema
                    .encode_serde_into(r, &mut buf)
                    .map_err(|e| refused(e.to_string()))?;
                schema.decode(&buf).map_err(|e| refused(e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        // Checked by the encoder and read back by the decoder, the values are in the schema's
        // own shape: they become Arrow here, without a second check.
        Ok(Rows::Batches(vec![mesh_core::arrow::to_batch(
            schema, &values,
        )?]))
    }
}

impl From<Vec<RecordBatch>> for Rows {
    fn from(b: Vec<RecordBatch>) -> Self {
        Rows::Batches(b)
    }
}

impl From<RecordBatch> for Rows {
    fn from(b: RecordBatch) -> Self {
        Rows::Batches(vec![b])
    }
}

impl From<Vec<Value>> for Rows {
    fn from(v: Vec<Value>) -> Self {
        Rows::Values(v)
    }
}

/// A snapshot of a product; runs on `.await` and returns the version the catalog recorded.
/// See [`DomainProducer::snapshot`](crate::DomainProducer::snapshot).
///
/// Failure semantics: if the rows do not fit the product's schema, or the write fails, nothing
/// is committed and the table and the catalog stay at their last good version. If the commit
/// succeeds but the catalog cannot be told, the error says so and the next snapshot (or
/// maintenance) registers the missing version first.
#[derive(Debug)]
#[must_use = "a snapshot is written only when awaited"]
pub struct Snapshot {
    tables: Arc<ProductTables>,
    product: String,
    rows: Rows,
}

impl std::fmt::Debug for ProductTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProductTables").finish_non_exhaustive()
    }
}

impl Snapshot {
    pub(crate) fn new(tables: Arc<ProductTables>, product: String, rows: Rows) -> Self {
        Self {
            tables,
            product,
            rows,
        }
    }

    #[instrument(skip_all, fields(product = %self.product))]
    async fn write(self) -> Result<TableVersion> {
        let spec = self.tables.spec(&self.product)?;
        let id = self.tables.id(spec);
        let invalid = |reason: String| Error::InvalidRows {
            product: id.clone(),
            reason,
        };
        let schema = ProductTables::arrow_schema(spec)?;
        let batches = match self.rows {
            Rows::Values(values) => {
                let conformed = values
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| {
                        spec.schema
                            .conform(v)
                            .map_err(|e| invalid(format!("row {i}: {e}")))
                    })
                    .collect::<Result<Vec<_>>>()?;
                vec![mesh_core::arrow::to_batch(&spec.schema, &conformed)?]
            }
            Rows::Batches(batches) => batches
                .into_iter()
                .map(|b| fit(&schema, b).map_err(&invalid))
                .collect::<Result<Vec<_>>>()?,
        };
        self.tables.write(spec, batches).await
    }
}

/// Puts a batch's columns in the product schema's order and types, by name.
fn fit(
    schema: &deltalake::arrow::datatypes::SchemaRef,
    batch: RecordBatch,
) -> std::result::Result<RecordBatch, String> {
    let mut columns = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let column = batch
            .column_by_name(field.name())
            .ok_or_else(|| format!("the rows have no column {}", field.name()))?;
        if column.data_type() != field.data_type() {
            return Err(format!(
                "column {} is {}, the product's schema says {}",
                field.name(),
                column.data_type(),
                field.data_type()
            ));
        }
        if !field.is_nullable() && column.null_count() > 0 {
            return Err(format!(
                "column {} holds nulls but is not nullable",
                field.name()
            ));
        }
        columns.push(column.clone());
    }
    if let Some(extra) = batch
        .schema()
        .fields()
        .iter()
        .find(|f| schema.field_with_name(f.name()).is_err())
    {
        return Err(format!(
            "column {} is not in the product's schema",
            extra.name()
        ));
    }
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())
}

impl IntoFuture for Snapshot {
    type Output = Result<TableVersion>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.write())
    }
}
