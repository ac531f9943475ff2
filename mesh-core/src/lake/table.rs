//! A data product's Delta table, as both kits open, write and describe it.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Fields, Schema, SchemaRef};
use deltalake::arrow::compute::{concat_batches, take};
use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::Transaction;
use deltalake::kernel::engine::arrow_conversion::TryIntoArrow as _;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::optimize::Metrics;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use url::Url;

use super::table_builder;
use crate::config::Endpoints;
use crate::{DomainName, ProductId, SchemaId, TopicName};

/// Commit-metadata key naming the domain whose producer wrote a version.
pub const META_PRODUCER_DOMAIN: &str = "mesh.producer_domain";
/// Commit-metadata key naming the domain whose sink wrote a version.
pub const META_SINK_DOMAIN: &str = "mesh.sink_domain";
/// Commit-metadata key naming the stream a sink's version came from.
pub const META_SOURCE_TOPIC: &str = "mesh.source_topic";
/// Commit-metadata key holding the registry id of the schema the rows were written with.
pub const META_SCHEMA_ID: &str = "mesh.schema_id";

/// The application-transaction id recording, in a table, how far a sink has read a
/// partition of a stream: its version is the next offset to read.
pub fn app_id(topic: &TopicName, partition: i32) -> String {
    format!("mesh-sink:{topic}:{partition}")
}

/// Reading or writing a product's table failed. A failed write committed nothing: the
/// table is at its last good version.
#[derive(Debug, thiserror::Error)]
#[error("delta table of {product} at {uri}: {source}")]
#[non_exhaustive]
pub struct TableError {
    /// The product.
    pub product: ProductId,
    /// The table's URL.
    pub uri: String,
    /// The cause.
    pub source: Box<DeltaTableError>,
}

type Result<T, E = TableError> = std::result::Result<T, E>;

/// What a commit records besides its data: who wrote it, with which schema, and (for a
/// sink) how far it read each partition.
#[derive(Debug, Clone, Default)]
pub struct Commit {
    metadata: Vec<(String, serde_json::Value)>,
    transactions: Vec<Transaction>,
    keep_expired_logs: bool,
}

impl Commit {
    /// A commit by `domain`'s producer.
    pub fn by_producer(domain: &DomainName) -> Self {
        Self::default().with(META_PRODUCER_DOMAIN, domain.as_str())
    }

    /// A commit by `domain`'s sink of `topic`.
    pub fn by_sink(domain: &DomainName, topic: &TopicName) -> Self {
        Self::default()
            .with(META_SINK_DOMAIN, domain.as_str())
            .with(META_SOURCE_TOPIC, topic.as_str())
    }

    fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.metadata.push((key.to_owned(), value.into()));
        self
    }

    /// Records the registry id of the schema the rows were written with.
    pub fn with_schema_id(self, id: SchemaId) -> Self {
        self.with(META_SCHEMA_ID, id.get())
    }

    /// Records `offsets` (partition to next offset) of `topic` as application transactions,
    /// committed with the data or not at all.
    pub fn with_offsets(mut self, topic: &TopicName, offsets: &BTreeMap<i32, i64>) -> Self {
        self.transactions.extend(
            offsets
                .iter()
                .map(|(partition, next)| Transaction::new(app_id(topic, *partition), *next)),
        );
        self
    }

    /// Skips Delta's clean-up of expired log files in this commit. The clean-up lists the
    /// whole log: a writer committing many small batches would pay for it on every commit,
    /// more each time. Compaction commits keep it, so it still runs every few commits.
    pub fn keeping_expired_logs(mut self) -> Self {
        self.keep_expired_logs = true;
        self
    }

    fn properties(&self) -> CommitProperties {
        let mut properties = CommitProperties::default()
            .with_metadata(self.metadata.clone())
            .with_application_transactions(self.transactions.clone());
        if self.keep_expired_logs {
            properties = properties.with_cleanup_expired_logs(Some(false));
        }
        properties
    }

    /// The same commit without its application transactions: what compaction and vacuum
    /// commit (they move no offset).
    fn without_offsets(&self) -> Self {
        Self {
            metadata: self.metadata.clone(),
            transactions: Vec::new(),
            keep_expired_logs: false,
        }
    }
}

/// What the catalog records of a table version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionStats {
    /// The Delta version.
    pub version: i64,
    /// Rows in the version's files.
    pub rows: u64,
    /// Bytes of the version's files.
    pub bytes: u64,
    /// When the version was committed, in milliseconds since the Unix epoch.
    pub committed_at_ms: i64,
}

/// What [`ProductTable::evolve`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evolved {
    /// Columns added (paths, `a.b` inside a struct), nullable.
    pub added: Vec<String>,
    /// Top-level columns that became nullable.
    pub relaxed: Vec<String>,
}

impl Evolved {
    /// Whether the table was left as it was.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.relaxed.is_empty()
    }
}

/// What a merge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merged {
    /// Rows inserted (keys the table did not hold).
    pub inserted: usize,
    /// Rows updated (keys the table held).
    pub updated: usize,
}

/// A data product's Delta table. Writes go through `&mut self` and replace the handle only
/// when they commit: after a failed write the handle is the table as it was, or a newer
/// version of it when another writer's schema change made the write plan again.
#[derive(Debug, Clone)]
pub struct ProductTable {
    product: ProductId,
    uri: String,
    table: DeltaTable,
}

impl ProductTable {
    /// The product's table where `endpoints` puts it (`<lake>/<domain>/<product>`), loaded if
    /// it exists; a writer creates it with [`ProductTable::create`].
    pub async fn open(product: ProductId, endpoints: &Endpoints) -> Result<Self> {
        let uri = endpoints.table_url(&product);
        let mut table = Self::handle(product, uri, endpoints, true)?;
        // Loading a table that does not exist logs an error deep in the kernel: look first.
        if table.delta(table.table.verify_deltatable_existence().await)? {
            let loaded = table.table.load().await;
            table.delta(loaded)?;
        }
        Ok(table)
    }

    /// The existing table at `uri` (as the catalog gives a product's table port), loaded.
    pub async fn load(product: ProductId, uri: &str, endpoints: &Endpoints) -> Result<Self> {
        let mut table = Self::handle(product, uri.to_owned(), endpoints, false)?;
        let loaded = table.table.load().await;
        table.delta(loaded)?;
        Ok(table)
    }

    /// An unloaded handle; `writer` creates a local table's directory.
    fn handle(
        product: ProductId,
        uri: String,
        endpoints: &Endpoints,
        writer: bool,
    ) -> Result<Self> {
        let error = |source| TableError {
            product: product.clone(),
            uri: uri.clone(),
            source: Box::new(source),
        };
        let url = Url::parse(&uri)
            .map_err(|e| error(DeltaTableError::InvalidTableLocation(format!("{uri}: {e}"))))?;
        if writer
            && url.scheme() == "file"
            && let Ok(path) = url.to_file_path()
        {
            std::fs::create_dir_all(&path).map_err(|e| error(DeltaTableError::from(e)))?;
        }
        let table = table_builder(url, endpoints)
            .and_then(DeltaTableBuilder::build)
            .map_err(error)?;
        Ok(Self {
            product,
            uri,
            table,
        })
    }

    /// Maps a Delta failure to this table's [`TableError`].
    fn delta<T>(&self, result: std::result::Result<T, DeltaTableError>) -> Result<T> {
        result.map_err(|source| self.error(source))
    }

    /// A [`TableError`] of this table.
    pub fn error(&self, source: DeltaTableError) -> TableError {
        TableError {
            product: self.product.clone(),
            uri: self.uri.clone(),
            source: Box::new(source),
        }
    }

    /// The product.
    pub fn product(&self) -> &ProductId {
        &self.product
    }

    /// The table's URL.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The Delta table, for reading (a query engine's table provider, time travel).
    pub fn delta_table(&self) -> &DeltaTable {
        &self.table
    }

    /// The loaded version; `None` before the table exists.
    pub fn version(&self) -> Option<i64> {
        self.table
            .version()
            .map(|v| i64::try_from(v).unwrap_or(i64::MAX))
    }

    /// Reads the commits made since the loaded version (by other writers).
    pub async fn update(&mut self) -> Result<()> {
        let updated = self.table.update_incremental(None).await;
        self.delta(updated)
    }

    /// Loads `version`.
    pub async fn load_version(&mut self, version: u64) -> Result<()> {
        let loaded = self.table.load_version(version).await;
        self.delta(loaded)
    }

    /// Loads the newest version committed at or before `when`.
    pub async fn load_at(&mut self, when: chrono::DateTime<chrono::Utc>) -> Result<()> {
        let loaded = self.table.load_with_datetime(when).await;
        self.delta(loaded)
    }

    /// Rows, bytes and commit time of the loaded version; `None` before the table exists.
    pub fn stats(&self) -> Result<Option<VersionStats>> {
        let Some(version) = self.table.version() else {
            return Ok(None);
        };
        let state = self.delta(self.table.snapshot())?;
        let (mut rows, mut bytes) = (0u64, 0u64);
        for file in state.log_data().iter() {
            rows += file
                .num_records()
                .map_or(0, |n| u64::try_from(n).unwrap_or(0));
            bytes += u64::try_from(file.size()).unwrap_or(0);
        }
        Ok(Some(VersionStats {
            version: i64::try_from(version).unwrap_or(i64::MAX),
            rows,
            bytes,
            committed_at_ms: state.version_timestamp(version).unwrap_or_default(),
        }))
    }

    /// The version of application transaction `app_id` in the loaded version (for a sink:
    /// the next offset of a partition, see [`app_id`]).
    pub async fn transaction_version(&self, app_id: &str) -> Result<Option<i64>> {
        let state = self.delta(self.table.snapshot())?;
        let version = state
            .transaction_version(self.table.log_store().as_ref(), app_id)
            .await;
        self.delta(version)
    }

    /// Creates the table, empty, with `schema` and `partition_by`: a version-0 commit that
    /// fails if another writer made version 0 first (Delta would otherwise land this
    /// creation on top of theirs, a second table identity in one log); that writer's table
    /// is then the one to use.
    pub async fn create(
        &mut self,
        schema: SchemaRef,
        partition_by: &[String],
        description: &str,
        commit: &Commit,
    ) -> Result<()> {
        let create = self
            .table
            .clone()
            .write(vec![RecordBatch::new_empty(schema)])
            .with_save_mode(SaveMode::Append)
            .with_table_name(self.product.product().as_str())
            .with_partition_columns(partition_by.to_vec())
            .with_description(description)
            .with_commit_properties(commit.properties().with_max_retries(0));
        self.table = self.delta(create.await)?;
        Ok(())
    }

    /// The table's current columns, as Arrow sees them; `None` before it exists.
    pub fn arrow_schema(&self) -> Result<Option<Schema>> {
        let Ok(state) = self.table.snapshot() else {
            return Ok(None);
        };
        let schema = state.schema().as_ref().try_into_arrow();
        Ok(Some(self.delta(schema.map_err(DeltaTableError::from))?))
    }

    /// Brings the table's columns up to `schema`, a newer row schema the catalog accepted:
    /// adds the columns it lacks, at the top level or inside a struct, in one commit without
    /// rows (as nullable: rows written before hold null in them), and drops `NOT NULL` from
    /// top-level columns `schema` makes nullable (one commit each). Commits nothing when the
    /// table already has every column.
    ///
    /// A schema change reaches the table this way before any row of the new schema is
    /// written, so queries see the new columns at once. Delta has no operation to relax a
    /// field inside a struct: rows with a null there are refused until it has one.
    pub async fn evolve(&mut self, schema: SchemaRef, commit: &Commit) -> Result<Evolved> {
        let Some(current) = self.arrow_schema()? else {
            return Ok(Evolved::default());
        };
        let mut evolved = Evolved::default();
        missing(current.fields(), schema.fields(), "", &mut evolved.added);
        if !evolved.added.is_empty() {
            let write = self
                .table
                .clone()
                .write(vec![RecordBatch::new_empty(Arc::clone(&schema))])
                .with_save_mode(SaveMode::Append)
                .with_schema_mode(SchemaMode::Merge)
                .with_commit_properties(commit.properties());
            self.table = self.delta(write.await)?;
        }
        // Schema merges keep a column's NOT NULL; only this operation drops it.
        evolved.relaxed = schema
            .fields()
            .iter()
            .filter(|f| {
                f.is_nullable()
                    && current
                        .field_with_name(f.name())
                        .is_ok_and(|held| !held.is_nullable())
            })
            .map(|f| f.name().clone())
            .collect();
        for column in &evolved.relaxed {
            let relax = self
                .table
                .clone()
                .drop_column_not_null()
                .with_column(column.as_str())
                .with_commit_properties(commit.properties());
            self.table = self.delta(relax.await)?;
        }
        Ok(evolved)
    }

    /// Appends `batches` in one commit.
    pub async fn append(
        &mut self,
        batches: Vec<RecordBatch>,
        partition_by: &[String],
        commit: &Commit,
    ) -> Result<()> {
        self.write(batches, SaveMode::Append, partition_by, commit)
            .await
    }

    /// Replaces the table's rows with `batches` in one commit.
    pub async fn overwrite(
        &mut self,
        batches: Vec<RecordBatch>,
        partition_by: &[String],
        commit: &Commit,
    ) -> Result<()> {
        self.write(batches, SaveMode::Overwrite, partition_by, commit)
            .await
    }

    async fn write(
        &mut self,
        batches: Vec<RecordBatch>,
        mode: SaveMode,
        partition_by: &[String],
        commit: &Commit,
    ) -> Result<()> {
        match self
            .write_once(batches.clone(), mode, partition_by, commit)
            .await
        {
            // Another writer changed the table's schema since this handle was loaded (a
            // schema change applied while this writer runs): Delta refuses the commit rather
            // than write against a schema it did not plan with. Nothing was committed; plan
            // again against the new schema (new columns stay null in these rows).
            //
            // Only commits without application transactions: a sink's commit that met a
            // schema change may also have met another sink's commit of the same offsets (Delta
            // checks the metadata first), and only the sink's own loop tells that apart.
            Err(e) if metadata_changed(&e) && commit.transactions.is_empty() => {
                self.update().await?;
                self.write_once(batches, mode, partition_by, commit).await
            }
            other => other,
        }
    }

    async fn write_once(
        &mut self,
        batches: Vec<RecordBatch>,
        mode: SaveMode,
        partition_by: &[String],
        commit: &Commit,
    ) -> Result<()> {
        let mut write = self
            .table
            .clone()
            .write(batches)
            .with_save_mode(mode)
            // Rows of a newer schema add their new columns; rows of an older one (a writer
            // built before a change) leave them null.
            .with_schema_mode(SchemaMode::Merge)
            .with_commit_properties(commit.properties());
        if !partition_by.is_empty() {
            write = write.with_partition_columns(partition_by.to_vec());
        }
        self.table = self.delta(write.await)?;
        Ok(())
    }

    /// Upserts `rows` by `keys` in one commit: a row whose keys the table holds replaces
    /// that row, others are inserted. `rows` must hold each key once ([`last_per_key`]);
    /// no rows commit nothing.
    pub async fn merge(
        &mut self,
        rows: Vec<RecordBatch>,
        keys: &[String],
        commit: &Commit,
    ) -> Result<Merged> {
        let Some(schema) = rows.first().map(RecordBatch::schema) else {
            return Ok(Merged {
                inserted: 0,
                updated: 0,
            });
        };
        if rows.iter().all(|b| b.num_rows() == 0) {
            return Ok(Merged {
                inserted: 0,
                updated: 0,
            });
        }
        let source = SessionContext::new()
            .read_batches(rows)
            .map_err(|e| self.error(e.into()))?;
        let predicate = keys
            .iter()
            .map(|k| format!("target.{q} = source.{q}", q = quoted(k)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let columns: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
        let merge = self
            .table
            .clone()
            .merge(source, predicate)
            .with_source_alias("source")
            .with_target_alias("target")
            .with_merge_schema(true)
            .with_commit_properties(commit.properties())
            .when_matched_update(|update| {
                columns.iter().fold(update, |u, c| {
                    u.update(c.as_str(), format!("source.{}", quoted(c)))
                })
            })
            .and_then(|m| {
                m.when_not_matched_insert(|insert| {
                    columns.iter().fold(insert, |i, c| {
                        i.set(c.as_str(), format!("source.{}", quoted(c)))
                    })
                })
            });
        let (merged, metrics) = self.delta(self.delta(merge)?.await)?;
        self.table = merged;
        Ok(Merged {
            inserted: metrics.num_target_rows_inserted,
            updated: metrics.num_target_rows_updated,
        })
    }

    /// Rewrites small files into larger ones: runs of files adding up to at most `target`
    /// bytes (the table's target file size if `None`), with at most `max_concurrent_tasks`
    /// rewrites at once. Safe next to writers: it commits like any writer, and removes only
    /// the files it rewrote.
    pub async fn compact(
        &mut self,
        target: Option<NonZeroU64>,
        max_concurrent_tasks: Option<usize>,
        commit: &Commit,
    ) -> Result<Metrics> {
        let mut optimize = self
            .table
            .clone()
            .optimize()
            .with_commit_properties(commit.without_offsets().properties());
        if let Some(target) = target {
            optimize = optimize.with_target_size(target);
        }
        if let Some(tasks) = max_concurrent_tasks {
            optimize = optimize.with_max_concurrent_tasks(tasks);
        }
        let (compacted, metrics) = self.delta(optimize.await)?;
        self.table = compacted;
        Ok(metrics)
    }

    /// Deletes the files no version committed within `retention` needs; returns how many.
    pub async fn vacuum(&mut self, retention: Duration, commit: &Commit) -> Result<usize> {
        let retention = chrono::TimeDelta::milliseconds(
            i64::try_from(retention.as_millis()).unwrap_or(i64::MAX),
        );
        let vacuum = self
            .table
            .clone()
            .vacuum()
            .with_retention_period(retention)
            .with_enforce_retention_duration(false)
            .with_commit_properties(commit.without_offsets().properties());
        let (vacuumed, metrics) = self.delta(vacuum.await)?;
        self.table = vacuumed;
        Ok(metrics.files_deleted.len())
    }
}

/// Why rows cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MergeKeyError {
    /// A merge key is not a column of the rows.
    #[error("merge key {0} is not a column of the rows")]
    NoColumn(String),
    /// A row's merge key is null.
    #[error("row {0} has a null merge key")]
    NullKey(usize),
    /// More rows than one merge takes.
    #[error("a merge of over 2^32 rows")]
    TooMany,
    /// The rows' batches do not go together.
    #[error("{0}")]
    Arrow(String),
}

/// Keeps the last row of each key: a merge's rows must not hold a key twice.
pub fn last_per_key(
    batches: &[RecordBatch],
    keys: &[String],
) -> std::result::Result<Vec<RecordBatch>, MergeKeyError> {
    let arrow = |e: deltalake::arrow::error::ArrowError| MergeKeyError::Arrow(e.to_string());
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    let schema = first.schema();
    let batch = concat_batches(&schema, batches).map_err(arrow)?;
    let columns: Vec<&ArrayRef> = keys
        .iter()
        .map(|k| {
            batch
                .column_by_name(k)
                .ok_or_else(|| MergeKeyError::NoColumn(k.clone()))
        })
        .collect::<std::result::Result<_, _>>()?;
    let options = FormatOptions::default();
    let formatters: Vec<ArrayFormatter<'_>> = columns
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).map_err(arrow))
        .collect::<std::result::Result<_, _>>()?;
    let mut last: HashMap<String, u32> = HashMap::with_capacity(batch.num_rows());
    let mut order: Vec<String> = Vec::new();
    for row in 0..batch.num_rows() {
        if columns.iter().any(|c| c.is_null(row)) {
            return Err(MergeKeyError::NullKey(row));
        }
        let key: String = formatters
            .iter()
            .map(|f| f.value(row).to_string())
            .collect::<Vec<_>>()
            .join("\u{1f}");
        let index = u32::try_from(row).map_err(|_| MergeKeyError::TooMany)?;
        if last.insert(key.clone(), index).is_none() {
            order.push(key);
        }
    }
    if last.len() == batch.num_rows() {
        return Ok(vec![batch.clone()]);
    }
    let indices = UInt32Array::from(order.iter().map(|k| last[k]).collect::<Vec<_>>());
    let columns = batch
        .columns()
        .iter()
        .map(|c| take(c.as_ref(), &indices, None).map_err(arrow))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema, columns)
        .map(|b| vec![b])
        .map_err(arrow)
}

/// Whether a write failed because another writer changed the table's metadata (its schema)
/// after this handle was loaded.
fn metadata_changed(error: &TableError) -> bool {
    use deltalake::kernel::transaction::{CommitConflictError, TransactionError};
    matches!(
        error.source.as_ref(),
        DeltaTableError::Transaction {
            source: TransactionError::CommitConflict(CommitConflictError::MetadataChanged),
        }
    )
}

/// The paths of the columns in `wanted` that `held` lacks, looking into structs.
fn missing(held: &Fields, wanted: &Fields, prefix: &str, out: &mut Vec<String>) {
    for field in wanted {
        let path = format!("{prefix}{}", field.name());
        match held.find(field.name()) {
            None => out.push(path),
            Some((_, have)) => {
                if let (DataType::Struct(have), DataType::Struct(want)) =
                    (have.data_type(), field.data_type())
                {
                    missing(have, want, &format!("{path}."), out);
                }
            }
        }
    }
}

/// A quoted SQL identifier: Avro field names keep their case.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn merge_rows_keep_the_last_row_of_each_key()
    -> std::result::Result<(), Box<dyn std::error::Error>> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("v", DataType::Utf8, false),
        ]));
        let batch = |ids: Vec<Option<i64>>, vs: Vec<&str>| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(ids)),
                    Arc::new(StringArray::from(vs)),
                ],
            )
        };
        let out = last_per_key(
            &[
                batch(vec![Some(1), Some(2), Some(1)], vec!["a", "b", "c"])?,
                batch(vec![Some(3), Some(2)], vec!["d", "e"])?,
            ],
            &["id".into()],
        )?;
        let out = &out[0];
        let ids = out
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or("ids")?;
        let vs = out
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or("vs")?;
        let rows: Vec<(i64, &str)> = (0..out.num_rows())
            .map(|i| (ids.value(i), vs.value(i)))
            .collect();
        assert_eq!(rows, [(1, "c"), (2, "e"), (3, "d")]);

        let null_key = batch(vec![Some(1), None], vec!["a", "b"])?;
        assert_eq!(
            last_per_key(std::slice::from_ref(&null_key), &["id".into()]),
            Err(MergeKeyError::NullKey(1))
        );
        assert_eq!(
            last_per_key(&[null_key], &["nope".into()]),
            Err(MergeKeyError::NoColumn("nope".into()))
        );
        Ok(())
    }

    #[test]
    fn commits_record_who_wrote_with_which_schema_and_offsets() -> crate::Result<()> {
        let domain = DomainName::new("songs")?;
        let topic = TopicName::new(&domain, &crate::StreamName::new("played")?);
        let commit = Commit::by_sink(&domain, &topic)
            .with_schema_id(SchemaId(7))
            .with_offsets(&topic, &BTreeMap::from([(0, 10), (2, 4)]))
            .keeping_expired_logs();
        let keys: Vec<&str> = commit.metadata.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, [META_SINK_DOMAIN, META_SOURCE_TOPIC, META_SCHEMA_ID]);
        let transactions: Vec<(String, i64)> = commit
            .transactions
            .iter()
            .map(|t| (t.app_id.clone(), t.version))
            .collect();
        assert_eq!(
            transactions,
            [
                ("mesh-sink:songs.played:0".to_owned(), 10),
                ("mesh-sink:songs.played:2".to_owned(), 4)
            ]
        );
        // Compaction and vacuum move no offset.
        assert!(commit.without_offsets().transactions.is_empty());
        Ok(())
    }
}
