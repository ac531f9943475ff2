//! The stream-to-table sink: a stream appended to a product's Delta table exactly once.
//!
//! The sink reads every partition of the source topic by assignment (no consumer group: the
//! table is the coordination point). Events are collected in micro-batches, bounded by rows,
//! bytes and time, and each batch is appended in one Delta commit that also records, as an
//! application transaction per partition (`mesh-sink:<topic>:<partition>`), the next offset
//! to read. The data and the offsets commit together or not at all, so a sink killed at any
//! point restarts from the offsets in the table and never writes a row twice or skips one.
//!
//! Each version is registered in the catalog with the offsets it holds and the writer schema
//! id; the stream heads are reported so the catalog can tell how far the table is behind.
//! Delta checkpoints (every 100 commits) and a size-tiered compaction every `compact_every`
//! commits ([`mesh_core::lake::compaction`]: each run merges what the commits since the last
//! one wrote, every eighth run eight of those, and so on) keep commit latency and the
//! compaction's own work flat as the table grows.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use catalog::{PartitionOffset, StreamHead, TableVersion};
use deltalake::DeltaTable;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use mesh_core::apache_avro::types::Value;
use mesh_core::lake::compaction;
use mesh_core::{AvroSchema, ProductId, Subject, TopicName};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use url::Url;

use crate::consumer::DomainConsumer;
use crate::decoder::Decoder;
use crate::dlq::DeadLetters;
use crate::error::{Error, Result};

/// The application-transaction id recording a partition's progress in the table.
pub fn app_id(topic: &TopicName, partition: i32) -> String {
    format!("mesh-sink:{topic}:{partition}")
}

/// What a finished sink did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SinkSummary {
    /// Delta commits made.
    pub commits: u64,
    /// Rows appended.
    pub rows: u64,
    /// Messages sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// The table version after the last commit.
    pub last_version: Option<i64>,
    /// Commit latency of each commit, in milliseconds, in order.
    pub commit_millis: Vec<f64>,
}

/// A sink of a product's source stream into its table; runs with [`Sink::run`]. Default
/// batches: 10,000 rows, 8 MiB or 1 s, whichever comes first; compaction every 50 commits.
#[derive(Debug)]
#[must_use = "a sink runs only with run()"]
pub struct Sink {
    consumer: DomainConsumer,
    product: ProductId,
    topic: Option<TopicName>,
    max_rows: usize,
    max_bytes: usize,
    max_wait: Duration,
    compact_every: u64,
}

impl Sink {
    pub(crate) fn new(consumer: DomainConsumer, product: ProductId) -> Self {
        Self {
            consumer,
            product,
            topic: None,
            max_rows: 10_000,
            max_bytes: 8 << 20,
            max_wait: Duration::from_secs(1),
            compact_every: 50,
        }
    }

    /// The stream to sink. Default: the product table port's `source_topic`.
    pub fn with_topic(mut self, topic: TopicName) -> Self {
        self.topic = Some(topic);
        self
    }

    /// Micro-batch bounds: a batch is committed when it holds `rows` rows or `bytes` bytes
    /// of payload, or `wait` after its first event.
    pub fn with_batch(mut self, rows: usize, bytes: usize, wait: Duration) -> Self {
        self.max_rows = rows.max(1);
        self.max_bytes = bytes.max(1);
        self.max_wait = wait;
        self
    }

    /// Compacts the table's small files every `commits` commits (0: never), size-tiered
    /// (see [`mesh_core::lake::compaction`]). Default 50.
    pub fn with_compaction_every(mut self, commits: u64) -> Self {
        self.compact_every = commits;
        self
    }

    fn fail(&self, reason: impl Into<String>) -> Error {
        Error::Sink {
            product: self.product.clone(),
            reason: reason.into(),
        }
    }

    fn delta(&self, uri: &str) -> impl Fn(deltalake::DeltaTableError) -> Error + '_ {
        let uri = uri.to_owned();
        move |source| Error::Delta {
            product: self.product.clone(),
            uri: uri.clone(),
            source: Box::new(source),
        }
    }

    /// Runs until `shutdown` is cancelled; the batch in progress is committed first.
    pub async fn run(self, shutdown: CancellationToken) -> Result<SinkSummary> {
        let catalog = self.consumer.catalog().clone();
        self.consumer.check_grant(&self.product).await?;
        let product = catalog.product(&self.product).await?;
        let port = product.table_port.ok_or_else(|| Error::NoTable {
            product: self.product.clone(),
        })?;
        let topic = self
            .topic
            .clone()
            .or(port.source_topic.clone())
            .ok_or_else(|| {
                self.fail("no source stream: set the table port's source_topic or call with_topic")
            })?;
        let subject = Subject::table(&self.product);
        let registered = catalog.latest_version(&subject).await?;
        let schema = AvroSchema::parse_record(&registered.schema, subject.as_str())?;
        let schema_id = registered.id;
        let arrow_schema = mesh_core::arrow::arrow_schema(&schema)?;
        let delta = self.delta(&port.uri);

        let mut table = mesh_core::lake::table_builder(
            Url::parse(&port.uri).map_err(|e| self.fail(format!("table URI {}: {e}", port.uri)))?,
            self.consumer.endpoints(),
        )
        .map_err(&delta)?
        .load()
        .await
        .map_err(&delta)?;

        // Where each partition stands: the offsets committed with the table.
        let endpoints = self.consumer.endpoints();
        let group = format!("{}.sink.{}", self.consumer.domain(), self.product.product());
        let settings = endpoints.kafka.client_settings(
            &[
                ("group.id", &group),
                ("client.id", "mesh-sink"),
                ("enable.partition.eof", "false"),
                ("auto.offset.reset", "earliest"),
            ],
            &[mesh_core::Pinned {
                key: "enable.auto.commit",
                allowed: &["false"],
                reason: "the sink keeps its offsets in the table, not in Kafka",
            }],
        )?;
        let mut config = ClientConfig::new();
        for (k, v) in settings {
            config.set(k, v);
        }
        let kafka: StreamConsumer = config.create().map_err(|source| Error::Kafka {
            operation: "create the sink consumer",
            source,
        })?;
        let partitions = partitions_of(&kafka, &topic)?;
        let mut positions: BTreeMap<i32, i64> = BTreeMap::new();
        let mut assignment = TopicPartitionList::new();
        for p in &partitions {
            let state = table.snapshot().map_err(&delta)?;
            let next = state
                .transaction_version(table.log_store().as_ref(), app_id(&topic, *p))
                .await
                .map_err(&delta)?;
            let offset = match next {
                Some(n) => {
                    positions.insert(*p, n);
                    Offset::Offset(n)
                }
                None => Offset::Beginning,
            };
            assignment
                .add_partition_offset(topic.as_str(), *p, offset)
                .map_err(|source| Error::Kafka {
                    operation: "assign",
                    source,
                })?;
        }
        kafka.assign(&assignment).map_err(|source| Error::Kafka {
            operation: "assign",
            source,
        })?;
        info!(product = %self.product, %topic, ?positions, "sink resuming from the table's offsets");

        let decoder = Decoder::new(catalog.clone()).with_reader(schema.clone());
        let dead_letters = DeadLetters::open(&self.consumer)
            .await?
            .with_shutdown(shutdown.clone());
        let registrar = Registrar::start(catalog.clone(), self.product.clone(), topic.clone());
        let mut summary = SinkSummary::default();
        let mut batch: Vec<Value> = Vec::new();
        let mut batch_bytes = 0usize;
        let mut batch_started: Option<Instant> = None;
        let mut pending: BTreeMap<i32, i64> = BTreeMap::new();
        let mut tick = tokio::time::interval(self.max_wait.max(Duration::from_millis(10)) / 2);
        let mut last_heads = Instant::now() - Duration::from_secs(60);
        loop {
            let due = batch_started.is_some_and(|t| t.elapsed() >= self.max_wait);
            let full = batch.len() >= self.max_rows || batch_bytes >= self.max_bytes;
            let stopping = shutdown.is_cancelled();
            if !pending.is_empty() && (due || full || stopping) {
                let started = Instant::now();
                let rows = std::mem::take(&mut batch);
                let count = rows.len() as u64;
                let data = if rows.is_empty() {
                    deltalake::arrow::record_batch::RecordBatch::new_empty(arrow_schema.clone())
                } else {
                    mesh_core::arrow::to_batch(&schema, &rows)?
                };
                drop(rows);
                table = self
                    .commit_until_it_lands(table, data, &topic, &pending, schema_id, &shutdown)
                    .await?;
                summary
                    .commit_millis
                    .push(started.elapsed().as_secs_f64() * 1000.0);
                summary.commits += 1;
                summary.rows += count;
                positions.extend(pending.iter().map(|(p, o)| (*p, *o)));
                pending.clear();
                batch_bytes = 0;
                batch_started = None;
                let version = table
                    .version()
                    .map(|v| i64::try_from(v).unwrap_or(i64::MAX));
                summary.last_version = version;
                if let Some(record) = Self::record(&table, &topic, &positions, schema_id) {
                    registrar.version(record);
                }
                if self.compact_every > 0 && summary.commits % self.compact_every == 0 {
                    let run = summary.commits / self.compact_every;
                    table = self.compact(table, &port.uri, run).await?;
                }
                if last_heads.elapsed() >= Duration::from_secs(5) {
                    registrar.heads(Self::heads(&kafka, &topic, &partitions));
                    last_heads = Instant::now();
                }
            }
            if stopping {
                break;
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => {}
                _ = tick.tick() => {}
                received = kafka.recv() => {
                    let message: OwnedMessage = match received {
                        Ok(m) => m.detach(),
                        Err(e) => {
                            warn!(error = %e, "sink receive failed; continuing");
                            continue;
                        }
                    };
                    let payload = message.payload().unwrap_or_default();
                    // A schema id not seen yet while the registry is away: wait for it to
                    // come back (committing nothing meanwhile) rather than skip a good event.
                    let mut backoff = Duration::from_millis(500);
                    let decoded = loop {
                        match decoder.decode(payload).await {
                            Err(e) if e.is_retriable() && !shutdown.is_cancelled() => {
                                warn!(product = %self.product, error = %e, "registry unavailable; the sink waits for it");
                                tokio::select! {
                                    () = shutdown.cancelled() => {}
                                    () = tokio::time::sleep(backoff) => {}
                                }
                                backoff = (backoff * 2).min(Duration::from_secs(10));
                            }
                            other => break other,
                        }
                    };
                    match decoded {
                        Ok((_, value)) => {
                            batch_bytes += payload.len();
                            batch.push(value);
                        }
                        Err(e) if e.is_retriable() => {
                            // Stopping while the registry is away: this message is read again
                            // after a restart (its offset is not committed).
                            info!(product = %self.product, error = %e, "stopping before an event that cannot be decoded yet");
                            continue;
                        }
                        Err(e) => match dead_letters.send(&message, &e.to_string(), e.cause()).await {
                            Ok(()) => summary.dead_lettered += 1,
                            // Stopping before the broker took the dead letter: this event is
                            // read again after a restart (its offset is not committed).
                            Err(Error::Interrupted) => continue,
                            Err(e) => return Err(e),
                        },
                    }
                    // The message is consumed either way: its offset goes with the next commit.
                    pending.insert(message.partition(), message.offset() + 1);
                    batch_started.get_or_insert_with(Instant::now);
                }
            }
        }
        registrar.heads(Self::heads(&kafka, &topic, &partitions));
        registrar.finish().await;
        info!(product = %self.product, commits = summary.commits, rows = summary.rows, "sink stopped");
        Ok(summary)
    }

    /// Commits a micro-batch, retrying while the lake fails (an unreachable store, a table
    /// directory that cannot be written for a while) for at most [`LAKE_RETRY_FOR`], then
    /// stops with the error. A failed attempt may still have landed (the commit succeeded,
    /// the answer was lost): before each retry the table is read again, and if its offsets
    /// already hold the batch's, the batch is not written twice.
    async fn commit_until_it_lands(
        &self,
        table: DeltaTable,
        batch: deltalake::arrow::record_batch::RecordBatch,
        topic: &TopicName,
        offsets: &BTreeMap<i32, i64>,
        schema_id: u32,
        shutdown: &CancellationToken,
    ) -> Result<DeltaTable> {
        use futures::FutureExt;
        let uri = table.table_url().to_string();
        let deadline = Instant::now() + LAKE_RETRY_FOR;
        let mut backoff = Duration::from_millis(200);
        loop {
            let attempt = std::panic::AssertUnwindSafe(self.commit(
                table.clone(),
                batch.clone(),
                topic,
                offsets,
                schema_id,
            ))
            .catch_unwind()
            .await;
            let error = match attempt {
                Ok(Ok(committed)) => return Ok(committed),
                Ok(Err(e)) => e,
                // deltalake and object_store may panic on some I/O failures (seen: "Already
                // shut down" while aborting an upload): the sink's state is in the table, so
                // a panic there is one more failed attempt, not the end of the process.
                Err(panic) => self.fail(format!(
                    "writing to the table at {uri} panicked: {}",
                    panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default()
                )),
            };
            let mut reloaded = table.clone();
            if reloaded.update_state().await.is_ok() && self.holds(&reloaded, topic, offsets).await
            {
                warn!(product = %self.product, error = %error, "the commit failed but landed");
                return Ok(reloaded);
            }
            if Instant::now() + backoff > deadline || shutdown.is_cancelled() {
                return Err(self.fail(format!(
                    "cannot commit to the table at {uri} (tried for {} s; nothing past the table's last version was committed, and a restart resumes from it): {error}",
                    LAKE_RETRY_FOR.as_secs()
                )));
            }
            warn!(product = %self.product, error = %error, retry_in_ms = backoff.as_millis() as u64,
                "commit failed; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// Whether `table` already holds offsets up to `offsets` for every partition.
    async fn holds(
        &self,
        table: &DeltaTable,
        topic: &TopicName,
        offsets: &BTreeMap<i32, i64>,
    ) -> bool {
        let Ok(state) = table.snapshot() else {
            return false;
        };
        for (partition, next) in offsets {
            match state
                .transaction_version(table.log_store().as_ref(), app_id(topic, *partition))
                .await
            {
                Ok(Some(held)) if held >= *next => {}
                _ => return false,
            }
        }
        true
    }

    /// Appends one micro-batch with the partitions' next offsets, in one Delta commit.
    async fn commit(
        &self,
        table: DeltaTable,
        batch: deltalake::arrow::record_batch::RecordBatch,
        topic: &TopicName,
        offsets: &BTreeMap<i32, i64>,
        schema_id: u32,
    ) -> Result<DeltaTable> {
        let uri = table.table_url().to_string();
        let transactions = offsets
            .iter()
            .map(|(p, next)| Transaction::new(app_id(topic, *p), *next))
            .collect();
        // Log clean-up lists the whole log; the sink's compaction commits run it instead of
        // every batch (see the producer kit's appends).
        let properties = CommitProperties::default()
            .with_cleanup_expired_logs(Some(false))
            .with_application_transactions(transactions)
            .with_metadata([
                (
                    "mesh.schema_id".to_owned(),
                    serde_json::Value::from(schema_id),
                ),
                (
                    "mesh.sink_domain".to_owned(),
                    serde_json::Value::from(self.consumer.domain().as_str()),
                ),
                (
                    "mesh.source_topic".to_owned(),
                    serde_json::Value::from(topic.as_str()),
                ),
            ]);
        table
            .write(vec![batch])
            .with_save_mode(SaveMode::Append)
            .with_commit_properties(properties)
            .await
            .map_err(self.delta(&uri))
    }

    /// The catalog's record of the table's current version, with the offsets it holds.
    fn record(
        table: &DeltaTable,
        topic: &TopicName,
        positions: &BTreeMap<i32, i64>,
        schema_id: u32,
    ) -> Option<TableVersion> {
        let version = table.version()?;
        let (mut rows, mut bytes) = (0u64, 0u64);
        if let Ok(state) = table.snapshot() {
            for file in state.log_data().iter() {
                rows += file.num_records().map_or(0, |n| n as u64);
                bytes += u64::try_from(file.size()).unwrap_or(0);
            }
        }
        let committed_at_ms = table
            .snapshot()
            .ok()
            .and_then(|s| s.version_timestamp(version))
            .unwrap_or_default();
        Some(TableVersion {
            version: i64::try_from(version).unwrap_or(i64::MAX),
            rows,
            bytes,
            schema_id: Some(schema_id),
            offsets: positions
                .iter()
                .map(|(p, o)| PartitionOffset {
                    topic: topic.clone(),
                    partition: *p,
                    offset: *o,
                })
                .collect(),
            committed_at_ms,
        })
    }

    /// The `run`th compaction of this sink's table, size-tiered.
    async fn compact(&self, table: DeltaTable, uri: &str, run: u64) -> Result<DeltaTable> {
        let target =
            compaction::tiered_target(&table, run, self.compact_every).map_err(self.delta(uri))?;
        let (compacted, metrics) = table
            .optimize()
            .with_target_size(target)
            .await
            .map_err(self.delta(uri))?;
        info!(product = %self.product, run, target, removed = metrics.num_files_removed, added = metrics.num_files_added, "sink compacted the table");
        Ok(compacted)
    }

    /// The stream's heads, for the catalog to compute the table's lag.
    fn heads(kafka: &StreamConsumer, topic: &TopicName, partitions: &[i32]) -> Vec<StreamHead> {
        partitions
            .iter()
            .filter_map(|p| {
                kafka
                    .fetch_watermarks(topic.as_str(), *p, Duration::from_secs(2))
                    .ok()
                    .map(|(_, high)| StreamHead {
                        partition: *p,
                        offset: high,
                    })
            })
            .collect()
    }
}

/// Tells the catalog about the sink's versions and the stream's heads, in the background:
/// the sink keeps committing while the catalog is away, and the newest version (which holds
/// every offset so far) is registered when it returns. Versions committed meanwhile and
/// superseded are not registered one by one.
struct Registrar {
    versions: tokio::sync::watch::Sender<Option<TableVersion>>,
    heads: tokio::sync::watch::Sender<Vec<StreamHead>>,
    task: tokio::task::JoinHandle<()>,
}

/// How long the sink retries a commit the lake refuses before it stops.
const LAKE_RETRY_FOR: Duration = Duration::from_secs(60);

/// How long a stopping sink waits for the catalog to take its last version.
const LAST_REGISTRATION: Duration = Duration::from_secs(15);

impl Registrar {
    fn start(catalog: catalog::CatalogClient, product: ProductId, topic: TopicName) -> Self {
        let (versions, mut version_rx) = tokio::sync::watch::channel(None::<TableVersion>);
        let (heads, mut heads_rx) = tokio::sync::watch::channel(Vec::<StreamHead>::new());
        let task = tokio::spawn(async move {
            let mut backoff = Duration::from_millis(500);
            let (mut version_due, mut heads_due) = (false, false);
            loop {
                if !version_due && !heads_due {
                    tokio::select! {
                        changed = version_rx.changed() => match changed {
                            Ok(()) => version_due = true,
                            Err(_) => break,
                        },
                        changed = heads_rx.changed() => match changed {
                            Ok(()) => heads_due = true,
                            Err(_) => break,
                        },
                    }
                }
                let mut failed = false;
                if version_due {
                    let record = version_rx.borrow_and_update().clone();
                    if let Some(record) = record {
                        match catalog.register_table_version(&product, &record).await {
                            Ok(_) => version_due = false,
                            Err(e) => {
                                warn!(%product, version = record.version, error = %e,
                                    "catalog not told about the version yet; the sink carries on and tries again");
                                failed = true;
                            }
                        }
                    } else {
                        version_due = false;
                    }
                }
                if heads_due {
                    let heads = heads_rx.borrow_and_update().clone();
                    match catalog.report_heads(&topic, &heads).await {
                        Ok(()) => heads_due = false,
                        Err(e) => {
                            warn!(%topic, error = %e, "stream heads not reported yet");
                            failed = true;
                        }
                    }
                }
                if failed {
                    // Newer values may arrive meanwhile; the newest is what gets sent.
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                } else {
                    backoff = Duration::from_millis(500);
                }
            }
            // Stopping: one last try for what is still due, with the newest values.
            let last = version_rx.borrow().clone();
            if version_due && let Some(record) = last {
                let _ = catalog.register_table_version(&product, &record).await;
            }
        });
        Self {
            versions,
            heads,
            task,
        }
    }

    fn version(&self, record: TableVersion) {
        self.versions.send_replace(Some(record));
    }

    fn heads(&self, heads: Vec<StreamHead>) {
        self.heads.send_replace(heads);
    }

    /// Stops, giving the catalog [`LAST_REGISTRATION`] to take the last version.
    async fn finish(self) {
        let Self {
            versions,
            heads,
            task,
        } = self;
        drop((versions, heads));
        let abort = task.abort_handle();
        if tokio::time::timeout(LAST_REGISTRATION, task).await.is_err() {
            abort.abort();
            warn!(
                "the catalog did not take the sink's last version before it stopped; the next run registers it"
            );
        }
    }
}

/// The partitions of a topic, from the broker's metadata.
fn partitions_of<C: Consumer>(kafka: &C, topic: &TopicName) -> Result<Vec<i32>> {
    let metadata = kafka
        .fetch_metadata(Some(topic.as_str()), Duration::from_secs(10))
        .map_err(|source| Error::Kafka {
            operation: "read topic metadata",
            source,
        })?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic.as_str())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    Ok(partitions)
}
