//! The product tables of a domain producer: one Delta handle per product, kept loaded so a
//! commit costs the same at the thousandth version as at the first; writes in each write
//! mode; the catalog kept in step; compaction and vacuum.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use catalog::TableVersion;
use deltalake::arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use deltalake::arrow::compute::take;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use mesh_core::lake::compaction;
use mesh_core::{ProductId, ProductSpec, WriteMode};
use tracing::{info, warn};
use url::Url;

use crate::error::{Error, Result};
use crate::producer::DomainProducer;

/// Commit-metadata key naming the domain that wrote a version.
pub const META_PRODUCER_DOMAIN: &str = "mesh.producer_domain";
/// Commit-metadata key holding the registry id of the schema the rows were written with.
pub const META_SCHEMA_ID: &str = "mesh.schema_id";

/// One product's loaded table. Writes to a product take its lock for the whole write: one
/// writer per product per process, in order (the lock is async, held across the commit on
/// purpose; other products are not blocked).
type Slot = Arc<tokio::sync::Mutex<Option<Loaded>>>;

/// A loaded table and the newest of its versions the catalog is known to have.
struct Loaded {
    table: DeltaTable,
    registered: Option<i64>,
}

/// Appends between background compactions of an append-mode product. Each append adds a
/// file and a commit costs more the more files the table has; compacting every so often
/// keeps the number of files, and so the cost of a commit, bounded.
const COMPACT_EVERY: u64 = 25;

/// The loaded tables, by product name.
#[derive(Default)]
pub(crate) struct Tables {
    // A plain mutex: held only to find or insert a slot, never across an await.
    slots: Mutex<HashMap<String, Slot>>,
    /// Background compaction of append-mode products, by product.
    appends: Mutex<HashMap<String, Appends>>,
}

/// Where an append-mode product is in its background compaction.
#[derive(Default)]
struct Appends {
    /// Appends since the last compaction started.
    since: u64,
    /// Compactions started so far: numbers the runs for [`compaction::level`].
    runs: u64,
    /// Whether one runs now.
    running: bool,
}

/// A background compaction to start: its number and the appends it is to merge.
struct Run {
    number: u64,
    appends: u64,
}

impl Tables {
    fn slot(&self, product: &str) -> Slot {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(slots.entry(product.to_owned()).or_default())
    }

    /// Counts an append; the compaction to start now, if one is due and none runs.
    fn appended(&self, product: &str) -> Option<Run> {
        let mut appends = self
            .appends
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let state = appends.entry(product.to_owned()).or_default();
        state.since += 1;
        if state.since < COMPACT_EVERY || state.running {
            return None;
        }
        state.runs += 1;
        state.running = true;
        let run = Run {
            number: state.runs,
            appends: state.since,
        };
        state.since = 0;
        Some(run)
    }

    fn compacted(&self, product: &str) {
        let mut appends = self
            .appends
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(state) = appends.get_mut(product) {
            state.running = false;
        }
    }
}

/// What maintenance did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Maintenance {
    /// Small files rewritten into larger ones.
    pub files_compacted: u64,
    /// Files written by compaction.
    pub files_written: u64,
    /// Files no version needs any more, deleted by vacuum.
    pub files_vacuumed: usize,
    /// The table version after compaction, if it committed one.
    pub version: Option<u64>,
}

/// Rows and bytes of a loaded table's current version.
fn stats(table: &DeltaTable) -> std::result::Result<(u64, u64), DeltaTableError> {
    let state = table.snapshot()?;
    let (mut rows, mut bytes) = (0u64, 0u64);
    for file in state.log_data().iter() {
        rows += file.num_records().map_or(0, |n| n as u64);
        bytes += u64::try_from(file.size()).unwrap_or(0);
    }
    Ok((rows, bytes))
}

/// Keeps the last row of each key: merge sources must not hold a key twice.
pub(crate) fn last_per_key(
    batches: &[RecordBatch],
    keys: &[String],
) -> std::result::Result<Vec<RecordBatch>, String> {
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    let schema = first.schema();
    let batch =
        deltalake::arrow::compute::concat_batches(&schema, batches).map_err(|e| e.to_string())?;
    let columns: Vec<&ArrayRef> = keys
        .iter()
        .map(|k| {
            batch
                .column_by_name(k)
                .ok_or_else(|| format!("merge key {k} is not a column of the rows"))
        })
        .collect::<std::result::Result<_, _>>()?;
    let options = FormatOptions::default();
    let formatters: Vec<ArrayFormatter<'_>> = columns
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).map_err(|e| e.to_string()))
        .collect::<std::result::Result<_, _>>()?;
    let mut last: HashMap<String, u32> = HashMap::with_capacity(batch.num_rows());
    let mut order: Vec<String> = Vec::new();
    for row in 0..batch.num_rows() {
        if columns.iter().any(|c| c.is_null(row)) {
            return Err(format!("row {row} has a null merge key"));
        }
        let key: String = formatters
            .iter()
            .map(|f| f.value(row).to_string())
            .collect::<Vec<_>>()
            .join("\u{1f}");
        let index = u32::try_from(row).map_err(|_| "a snapshot over 2^32 rows".to_owned())?;
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
        .map(|c| take(c.as_ref(), &indices, None).map_err(|e| e.to_string()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema, columns)
        .map(|b| vec![b])
        .map_err(|e| e.to_string())
}

/// A quoted SQL identifier: Avro field names keep their case.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl DomainProducer {
    pub(crate) fn product_spec(&self, product: &str) -> Result<&ProductSpec> {
        self.contract()
            .product(product)
            .ok_or_else(|| Error::UnknownProduct {
                domain: self.domain().clone(),
                product: product.to_owned(),
            })
    }

    pub(crate) fn product_id(&self, spec: &ProductSpec) -> ProductId {
        ProductId::new(self.domain(), &spec.name)
    }

    pub(crate) fn delta_error(&self, spec: &ProductSpec) -> impl Fn(DeltaTableError) -> Error {
        let product = self.product_id(spec);
        let uri = self.endpoints().table_url(&product);
        move |source| Error::Delta {
            product: product.clone(),
            uri: uri.clone(),
            source: Box::new(source),
        }
    }

    /// An unloaded handle on a product's table.
    fn table_handle(&self, spec: &ProductSpec) -> Result<DeltaTable> {
        let delta_error = self.delta_error(spec);
        let uri = self.endpoints().table_url(&self.product_id(spec));
        let url = Url::parse(&uri).map_err(|e| {
            delta_error(DeltaTableError::InvalidTableLocation(format!("{uri}: {e}")))
        })?;
        if url.scheme() == "file"
            && let Ok(path) = url.to_file_path()
        {
            std::fs::create_dir_all(&path).map_err(|e| delta_error(DeltaTableError::from(e)))?;
        }
        mesh_core::lake::table_builder(url, self.endpoints())
            .and_then(DeltaTableBuilder::build)
            .map_err(delta_error)
    }

    /// The product's table, loaded, out of its slot, with the catalog's last known version.
    /// `fresh` reads commits other writers made since our last one: writes that read the
    /// table (overwrite, merge) need it; appends do not (Delta retries an append whose version
    /// was taken), and skipping it keeps an append's cost flat as the log grows.
    async fn current(
        &self,
        spec: &ProductSpec,
        slot: &mut Option<Loaded>,
        fresh: bool,
    ) -> Result<(DeltaTable, Option<i64>)> {
        let delta_error = self.delta_error(spec);
        match slot.take() {
            Some(Loaded {
                mut table,
                registered,
            }) => {
                if fresh {
                    table.update_incremental(None).await.map_err(&delta_error)?;
                }
                Ok((table, registered))
            }
            None => {
                let mut table = self.table_handle(spec)?;
                // Loading a table that does not exist logs an error deep in the kernel: look first.
                if table
                    .verify_deltatable_existence()
                    .await
                    .map_err(&delta_error)?
                {
                    table.load().await.map_err(&delta_error)?;
                }
                Ok((table, None))
            }
        }
    }

    pub(crate) fn arrow_schema(&self, spec: &ProductSpec) -> Result<SchemaRef> {
        Ok(mesh_core::arrow::arrow_schema(&spec.schema)?)
    }

    fn commit_properties(&self, spec: &ProductSpec) -> CommitProperties {
        let mut metadata = vec![(
            META_PRODUCER_DOMAIN.to_owned(),
            serde_json::Value::from(self.domain().as_str()),
        )];
        if let Some((_, id)) = self.inner().table_schemas.get(spec.name.as_str()) {
            metadata.push((META_SCHEMA_ID.to_owned(), serde_json::Value::from(*id)));
        }
        CommitProperties::default().with_metadata(metadata)
    }

    /// Creates the product's table if it does not exist, and registers its first version.
    pub(crate) async fn ensure_table(&self, spec: &ProductSpec) -> Result<()> {
        let slot = self.inner().tables.slot(spec.name.as_str());
        let mut guard = slot.lock().await;
        let (table, registered) = self.current(spec, &mut guard, true).await?;
        let table = if table.version().is_some() {
            table
        } else {
            let empty = RecordBatch::new_empty(self.arrow_schema(spec)?);
            let created = table
                .write(vec![empty])
                .with_save_mode(SaveMode::Append)
                .with_partition_columns(spec.partition_by.clone())
                .with_table_name(spec.name.as_str())
                .with_description(spec.description.clone())
                .with_commit_properties(self.commit_properties(spec))
                .await
                .map_err(self.delta_error(spec))?;
            info!(product = %self.product_id(spec), "table created");
            created
        };
        let (_, registered) = self.register_current(spec, &table, registered).await?;
        *guard = Some(Loaded { table, registered });
        Ok(())
    }

    /// Registers the table's current version in the catalog unless the catalog has it (it
    /// catches up with commits whose registration failed earlier). `known` is the newest
    /// version the catalog is known to have; without it the catalog is asked. Returns the
    /// version recorded now, if one was, and the newest version the catalog has.
    async fn register_current(
        &self,
        spec: &ProductSpec,
        table: &DeltaTable,
        known: Option<i64>,
    ) -> Result<(Option<TableVersion>, Option<i64>)> {
        let Some(version) = table.version() else {
            return Ok((None, known));
        };
        let id = self.product_id(spec);
        let version = i64::try_from(version).unwrap_or(i64::MAX);
        let known = match known {
            Some(k) => Some(k),
            None => match self.catalog().latest_table_version(&id).await {
                Ok(latest) => Some(latest.version),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e.into()),
            },
        };
        if known.is_some_and(|k| k >= version) {
            return Ok((None, known));
        }
        let (rows, bytes) = stats(table).map_err(self.delta_error(spec))?;
        let state = table.snapshot().map_err(self.delta_error(spec))?;
        let committed_at_ms = state
            .version_timestamp(u64::try_from(version).unwrap_or(0))
            .unwrap_or_default();
        let registered = self
            .catalog()
            .register_table_version(
                &id,
                &TableVersion {
                    version,
                    rows,
                    bytes,
                    schema_id: self
                        .inner()
                        .table_schemas
                        .get(spec.name.as_str())
                        .map(|(_, id)| *id),
                    offsets: Vec::new(),
                    committed_at_ms,
                },
            )
            .await?;
        Ok((Some(registered), Some(version)))
    }

    /// Writes `batches` (already in the product's schema) in the product's write mode and
    /// registers the new version. Nothing is committed if the write fails.
    pub(crate) async fn write_batches(
        &self,
        spec: &ProductSpec,
        batches: Vec<RecordBatch>,
    ) -> Result<TableVersion> {
        let delta_error = self.delta_error(spec);
        let slot = self.inner().tables.slot(spec.name.as_str());
        let mut guard = slot.lock().await;
        let (table, mut registered) = self
            .current(spec, &mut guard, spec.mode != WriteMode::Append)
            .await?;
        // Keep the slot filled whatever happens below: a failed write leaves the table as it
        // was, and the next write starts from the same loaded state.
        *guard = Some(Loaded {
            table: table.clone(),
            registered,
        });
        match self.register_current(spec, &table, registered).await {
            Ok((_, known)) => registered = known,
            Err(e) => {
                warn!(product = %self.product_id(spec), error = %e, "catalog behind the table; continuing");
            }
        }
        let written = match &spec.mode {
            WriteMode::Overwrite | WriteMode::Append => {
                let mode = if spec.mode == WriteMode::Append {
                    SaveMode::Append
                } else {
                    SaveMode::Overwrite
                };
                let mut properties = self.commit_properties(spec);
                if spec.mode == WriteMode::Append {
                    // Delta's clean-up of expired log files lists the whole log after every
                    // commit; an appender would pay for it once per append, more each time.
                    // Background compaction commits keep it, so it runs every few appends.
                    properties = properties.with_cleanup_expired_logs(Some(false));
                }
                let mut write = table
                    .write(batches)
                    .with_save_mode(mode)
                    .with_commit_properties(properties);
                if !spec.partition_by.is_empty() {
                    write = write.with_partition_columns(spec.partition_by.clone());
                }
                write.await.map_err(&delta_error)?
            }
            WriteMode::Merge { keys } => {
                let rows = last_per_key(&batches, keys).map_err(|reason| Error::InvalidRows {
                    product: self.product_id(spec),
                    reason,
                })?;
                if rows.iter().all(|b| b.num_rows() == 0) {
                    table
                } else {
                    let ctx = SessionContext::new();
                    let source = ctx.read_batches(rows).map_err(|e| delta_error(e.into()))?;
                    let predicate = keys
                        .iter()
                        .map(|k| format!("target.{q} = source.{q}", q = quoted(k)))
                        .collect::<Vec<_>>()
                        .join(" AND ");
                    let columns: Vec<String> = self
                        .arrow_schema(spec)?
                        .fields()
                        .iter()
                        .map(|f| f.name().clone())
                        .collect();
                    let (merged, metrics) = table
                        .merge(source, predicate)
                        .with_source_alias("source")
                        .with_target_alias("target")
                        .with_commit_properties(self.commit_properties(spec))
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
                        })
                        .map_err(&delta_error)?
                        .await
                        .map_err(&delta_error)?;
                    info!(
                        product = %self.product_id(spec),
                        inserted = metrics.num_target_rows_inserted,
                        updated = metrics.num_target_rows_updated,
                        "merged"
                    );
                    merged
                }
            }
        };
        *guard = Some(Loaded {
            table: written.clone(),
            registered,
        });
        let (recorded, known) = match self.register_current(spec, &written, registered).await {
            Ok(registered) => registered,
            // Committed, not registered: the write must not be repeated (it is in the table);
            // the next write registers this version too.
            Err(source) => {
                return Err(Error::Unregistered {
                    product: self.product_id(spec),
                    version: written
                        .version()
                        .map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX)),
                    source: Box::new(source),
                });
            }
        };
        let compaction = (spec.mode == WriteMode::Append && recorded.is_some())
            .then(|| self.inner().tables.appended(spec.name.as_str()))
            .flatten()
            .map(|run| (run, written.clone()));
        *guard = Some(Loaded {
            table: written,
            registered: known,
        });
        let recorded = recorded.ok_or_else(|| Error::InvalidRows {
            product: self.product_id(spec),
            reason: "the write committed no new version".into(),
        })?;
        info!(product = %self.product_id(spec), version = recorded.version, rows = recorded.rows, "snapshot committed");
        if let Some((run, table)) = compaction {
            self.compact_in_background(spec.name.to_string(), table, run);
        }
        Ok(recorded)
    }

    /// Compacts an append-mode product's table next to the appender, from `table` as the
    /// append just left it (a clone of the appender's handle: no reload of the log): Delta
    /// keeps both writers' commits (compaction only removes files it rewrote, appends only
    /// add), and the appender's next commit picks the compaction up. Size-tiered: see
    /// [`mesh_core::lake::compaction`].
    fn compact_in_background(&self, product: String, table: DeltaTable, run: Run) {
        let producer = self.clone();
        tokio::spawn(async move {
            let outcome = async {
                let spec = producer.product_spec(&product)?;
                let delta_error = producer.delta_error(spec);
                let target = compaction::tiered_target(&table, run.number, run.appends)
                    .map_err(&delta_error)?;
                let (_, metrics) = table
                    .optimize()
                    .with_target_size(target)
                    // One bin at a time: the compaction never takes more than a core from
                    // the appender it runs next to (on 2 cores, p99 of the last 100 of 600
                    // appends 14.5-20.0 ms against 19.8-31.3 with two).
                    .with_max_concurrent_tasks(1)
                    .with_commit_properties(producer.commit_properties(spec))
                    .await
                    .map_err(&delta_error)?;
                Ok::<_, Error>((metrics, target))
            }
            .await;
            match outcome {
                Ok((m, target)) => {
                    info!(%product, run = run.number, target, removed = m.num_files_removed, added = m.num_files_added, "compacted in the background")
                }
                Err(e) => {
                    warn!(%product, error = %e, "background compaction failed; the next one will try again")
                }
            }
            producer.inner().tables.compacted(&product);
        });
    }

    /// Compacts the product table's small files, then deletes files no version newer than
    /// `retention` needs. Safe next to writers: compaction commits like any writer (appends
    /// in between are kept), and vacuum only deletes files older than `retention` that no
    /// current version references.
    pub async fn maintain(&self, product: &str, retention: Duration) -> Result<Maintenance> {
        let spec = self.product_spec(product)?;
        let delta_error = self.delta_error(spec);
        let slot = self.inner().tables.slot(spec.name.as_str());
        let mut guard = slot.lock().await;
        let (table, registered) = self.current(spec, &mut guard, true).await?;
        *guard = Some(Loaded {
            table: table.clone(),
            registered,
        });
        let (compacted, metrics) = table
            .optimize()
            .with_commit_properties(self.commit_properties(spec))
            .await
            .map_err(&delta_error)?;
        *guard = Some(Loaded {
            table: compacted.clone(),
            registered,
        });
        let compacted_version = (metrics.num_files_removed > 0)
            .then(|| compacted.version())
            .flatten();
        let retention_hours = chrono_hours(retention);
        let (vacuumed, vacuum) = compacted
            .vacuum()
            .with_retention_period(retention_hours)
            .with_enforce_retention_duration(false)
            .with_commit_properties(self.commit_properties(spec))
            .await
            .map_err(&delta_error)?;
        let registered = match self.register_current(spec, &vacuumed, registered).await {
            Ok((_, known)) => known,
            Err(e) => {
                warn!(product = %self.product_id(spec), error = %e, "catalog behind the table after maintenance");
                registered
            }
        };
        *guard = Some(Loaded {
            table: vacuumed,
            registered,
        });
        Ok(Maintenance {
            files_compacted: metrics.num_files_removed,
            files_written: metrics.num_files_added,
            files_vacuumed: vacuum.files_deleted.len(),
            version: compacted_version,
        })
    }
}

/// Vacuum's retention is a chrono duration.
fn chrono_hours(d: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::milliseconds(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Int64Array, StringArray};
    use deltalake::arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn merge_sources_keep_the_last_row_of_each_key() -> std::result::Result<(), String> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("v", DataType::Utf8, false),
        ]));
        let batch = |ids: Vec<i64>, vs: Vec<&str>| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(ids)),
                    Arc::new(StringArray::from(vs)),
                ],
            )
            .map_err(|e| e.to_string())
        };
        let out = last_per_key(
            &[
                batch(vec![1, 2, 1], vec!["a", "b", "c"])?,
                batch(vec![3, 2], vec!["d", "e"])?,
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
        Ok(())
    }
}
