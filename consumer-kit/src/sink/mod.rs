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
//! Delta checkpoints (every 100 commits) and the mesh's size-tiered background compaction
//! ([`mesh_core::lake::compaction`], the policy producers use too) keep commit latency and
//! the compaction's own work flat as the table grows.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use catalog::{PartitionOffset, TableVersion};
use deltalake::arrow::record_batch::RecordBatch;
use mesh_core::apache_avro::types::Value;
use mesh_core::lake::{Commit, CompactionPolicy, Compactor, ProductTable, VersionStats};
use mesh_core::{AvroSchema, Pinned, ProductId, SchemaId, Subject, TopicName};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::context::Context;
use crate::decoder::Decoder;
use crate::dlq::DeadLetters;
use crate::error::{Error, Result};

mod registrar;

use registrar::Registrar;

pub use mesh_core::lake::app_id;

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
    /// Commit latencies in milliseconds, in order: of the first [`KEPT_COMMIT_TIMES`]
    /// commits.
    pub first_commit_millis: Vec<f64>,
    /// Commit latencies in milliseconds, in order: of the last [`KEPT_COMMIT_TIMES`] commits
    /// (a sink that runs for months keeps a bounded record).
    pub last_commit_millis: std::collections::VecDeque<f64>,
}

/// How many commit latencies a [`SinkSummary`] keeps from each end of the run.
pub const KEPT_COMMIT_TIMES: usize = 1024;

impl SinkSummary {
    fn record_commit(&mut self, millis: f64) {
        if self.first_commit_millis.len() < KEPT_COMMIT_TIMES {
            self.first_commit_millis.push(millis);
        }
        if self.last_commit_millis.len() == KEPT_COMMIT_TIMES {
            self.last_commit_millis.pop_front();
        }
        self.last_commit_millis.push_back(millis);
    }
}

/// A sink of a product's source stream into its table; runs with [`Sink::run`]. Default
/// batches: 10,000 rows, 8 MiB or 1 s, whichever comes first; background compaction every
/// [`DEFAULT_COMPACT_EVERY`](mesh_core::lake::compaction::DEFAULT_COMPACT_EVERY) commits.
#[derive(Debug)]
#[must_use = "a sink runs only with run()"]
pub struct Sink {
    context: Arc<Context>,
    product: ProductId,
    topic: Option<TopicName>,
    limits: Limits,
    compaction: CompactionPolicy,
}

/// When a micro-batch is committed.
#[derive(Debug, Clone, Copy)]
struct Limits {
    rows: usize,
    bytes: usize,
    wait: Duration,
}

/// Where the sink resumes: the table with the offsets it holds, the consumer assigned from
/// them, and the row schema.
struct Resumed {
    table: ProductTable,
    topic: TopicName,
    schema: AvroSchema,
    schema_id: SchemaId,
    kafka: Arc<StreamConsumer>,
    partitions: Vec<i32>,
    /// The next offset of each partition the table holds.
    positions: BTreeMap<i32, i64>,
}

/// The micro-batch being collected.
#[derive(Default)]
struct Batch {
    rows: Vec<Value>,
    bytes: usize,
    started: Option<Instant>,
    /// The next offset of each partition read into the batch (dead letters included).
    offsets: BTreeMap<i32, i64>,
}

impl Batch {
    /// Whether the batch is to be committed now.
    fn ready(&self, limits: Limits, stopping: bool) -> bool {
        !self.offsets.is_empty()
            && (stopping
                || self.rows.len() >= limits.rows
                || self.bytes >= limits.bytes
                || self.started.is_some_and(|t| t.elapsed() >= limits.wait))
    }

    /// Counts `message` as read, with its row if it has one.
    fn consumed(&mut self, message: &OwnedMessage, row: Option<Value>) {
        if let Some(row) = row {
            self.bytes += message.payload().map_or(0, <[u8]>::len);
            self.rows.push(row);
        }
        self.offsets
            .insert(message.partition(), message.offset() + 1);
        self.started.get_or_insert_with(Instant::now);
    }
}

/// Settings every sink consumer runs with.
const PINNED: &[Pinned] = &[Pinned {
    key: "enable.auto.commit",
    allowed: &["false"],
    reason: "the sink keeps its offsets in the table, not in Kafka",
}];

impl Sink {
    pub(crate) fn new(context: Arc<Context>, product: ProductId) -> Self {
        Self {
            context,
            product,
            topic: None,
            limits: Limits {
                rows: 10_000,
                bytes: 8 << 20,
                wait: Duration::from_secs(1),
            },
            compaction: CompactionPolicy::default(),
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
        self.limits = Limits {
            rows: rows.max(1),
            bytes: bytes.max(1),
            wait,
        };
        self
    }

    /// Compacts the table's small files in the background every `commits` commits (0:
    /// never), size-tiered (see [`mesh_core::lake::compaction`]).
    pub fn with_compaction_every(mut self, commits: u64) -> Self {
        self.compaction = CompactionPolicy::every(commits);
        self
    }

    fn fail(&self, reason: impl Into<String>) -> Error {
        Error::Sink {
            product: self.product.clone(),
            reason: reason.into(),
        }
    }

    /// Runs until `shutdown` is cancelled; the batch in progress is committed first, and
    /// background compaction finishes before it returns.
    pub async fn run(self, shutdown: CancellationToken) -> Result<SinkSummary> {
        let mut resumed = self.resume().await?;
        let catalog = self.context.catalog.clone();
        let decoder = Decoder::new(catalog.clone()).with_reader(resumed.schema.clone());
        let dead_letters = DeadLetters::open(&self.context)
            .await?
            .with_shutdown(shutdown.clone());
        let registrar = Registrar::start(
            catalog,
            self.product.clone(),
            resumed.topic.clone(),
            self.client("mesh-sink-heads")?,
            resumed.partitions.clone(),
        );
        let compactor = Compactor::new(self.compaction);
        let mut summary = SinkSummary::default();
        let mut batch = Batch::default();
        let mut tick = tokio::time::interval(self.limits.wait.max(Duration::from_millis(10)) / 2);
        let outcome = loop {
            let stopping = shutdown.is_cancelled();
            if batch.ready(self.limits, stopping) {
                let taken = std::mem::take(&mut batch);
                if let Err(e) = self
                    .commit_batch(&mut resumed, taken, &mut summary, &shutdown)
                    .await
                {
                    break Err(e);
                }
                let record = table_version(&resumed);
                match record {
                    Ok(Some(record)) => registrar.version(record),
                    Ok(None) => {}
                    Err(e) => {
                        warn!(product = %self.product, error = %e, "no statistics of the version for the catalog")
                    }
                }
                compactor.committed(&resumed.table, &self.commit(&resumed));
            }
            if stopping {
                break Ok(());
            }
            let kafka = Arc::clone(&resumed.kafka);
            tokio::select! {
                biased;
                () = shutdown.cancelled() => {}
                _ = tick.tick() => {}
                received = kafka.recv() => match received {
                    Ok(m) => {
                        let message = m.detach();
                        match self.receive(&message, &decoder, &dead_letters, &shutdown).await {
                            Ok(Received::Row(row)) => batch.consumed(&message, Some(row)),
                            Ok(Received::DeadLettered) => {
                                summary.dead_lettered += 1;
                                batch.consumed(&message, None);
                            }
                            // Read again after a restart: its offset is not committed.
                            Ok(Received::Later) => {}
                            Err(e) => break Err(e),
                        }
                    }
                    Err(e) => warn!(error = %e, "sink receive failed; continuing"),
                },
            }
        };
        registrar.finish().await;
        compactor.drain().await;
        outcome?;
        info!(product = %self.product, commits = summary.commits, rows = summary.rows, "sink stopped");
        Ok(summary)
    }

    /// Finds the product's table, its row schema and the offsets the table holds, and
    /// assigns the stream's partitions from them.
    async fn resume(&self) -> Result<Resumed> {
        let catalog = &self.context.catalog;
        self.context.check_grant(&self.product).await?;
        let product = catalog.product(&self.product).await?;
        let port = product.table_port.ok_or_else(|| Error::NoTable {
            product: self.product.clone(),
        })?;
        let topic = self
            .topic
            .clone()
            .or(port.source_topic.clone())
            .ok_or_else(|| {
                self.fail(
                    "it has no source stream: declare one in the product's contract entry \
                     (`source = \"<stream>\"`) and apply it, or give the sink a topic",
                )
            })?;
        let subject = Subject::table(&self.product);
        let registered = catalog.latest_version(&subject).await?;
        let schema = AvroSchema::parse_record(&registered.schema, subject.as_str())?;
        let mut table =
            ProductTable::load(self.product.clone(), &port.uri, &self.context.endpoints).await?;
        // A newer row schema than the table's (a change the catalog accepted) adds its
        // columns before the first batch, so queries see them even while the stream is quiet.
        let evolved = table
            .evolve(
                mesh_core::arrow::arrow_schema(&schema)?,
                &Commit::by_sink(&self.context.domain, &topic).with_schema_id(registered.id),
            )
            .await?;
        if !evolved.is_empty() {
            info!(product = %self.product, added = ?evolved.added, relaxed = ?evolved.relaxed, "table schema evolved");
        }

        let kafka = Arc::new(self.client::<StreamConsumer>("mesh-sink")?);
        let partitions = partitions_of(&kafka, &topic).await?;
        let mut positions = BTreeMap::new();
        let mut assignment = TopicPartitionList::new();
        for p in &partitions {
            let offset = match table.transaction_version(&app_id(&topic, *p)).await? {
                Some(next) => {
                    positions.insert(*p, next);
                    Offset::Offset(next)
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
        Ok(Resumed {
            table,
            topic,
            schema,
            schema_id: registered.id,
            kafka,
            partitions,
            positions,
        })
    }

    /// A Kafka client of this sink's: assigned partitions only (the group id names the sink
    /// in the broker's client lists; it never joins the group).
    fn client<C: rdkafka::config::FromClientConfig>(&self, client_id: &str) -> Result<C> {
        let group = format!("{}.sink.{}", self.context.domain, self.product.product());
        mesh_core::kafka::client_config(
            &self.context.endpoints.kafka,
            &[
                ("group.id", &group),
                ("client.id", client_id),
                ("enable.partition.eof", "false"),
                ("auto.offset.reset", "earliest"),
            ],
            PINNED,
        )?
        .create()
        .map_err(|source| Error::Kafka {
            operation: "create the sink's Kafka client",
            source,
        })
    }

    /// Decodes a message into a row; one that cannot be decoded goes to the dead-letter
    /// topic. A schema id not seen yet while the registry is away is waited for (committing
    /// nothing meanwhile) rather than skipped.
    async fn receive(
        &self,
        message: &OwnedMessage,
        decoder: &Decoder,
        dead_letters: &DeadLetters,
        shutdown: &CancellationToken,
    ) -> Result<Received> {
        let payload = message.payload().unwrap_or_default();
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
            Ok((_, value)) => Ok(Received::Row(value)),
            Err(e) if e.is_retriable() => {
                info!(product = %self.product, error = %e, "stopping before an event that cannot be decoded yet");
                Ok(Received::Later)
            }
            Err(e) => match dead_letters.send(message, &e.to_string(), e.cause()).await {
                Ok(()) => Ok(Received::DeadLettered),
                // Stopping before the broker took the dead letter.
                Err(Error::Interrupted) => Ok(Received::Later),
                Err(e) => Err(e),
            },
        }
    }

    /// What this sink's commits record.
    fn commit(&self, resumed: &Resumed) -> Commit {
        Commit::by_sink(&self.context.domain, &resumed.topic).with_schema_id(resumed.schema_id)
    }

    /// Commits `batch` with its offsets and moves the resumed state past it.
    async fn commit_batch(
        &self,
        resumed: &mut Resumed,
        batch: Batch,
        summary: &mut SinkSummary,
        shutdown: &CancellationToken,
    ) -> Result<()> {
        let started = Instant::now();
        let count = batch.rows.len() as u64;
        let data = if batch.rows.is_empty() {
            RecordBatch::new_empty(mesh_core::arrow::arrow_schema(&resumed.schema)?)
        } else {
            mesh_core::arrow::to_batch(&resumed.schema, &batch.rows)?
        };
        drop(batch.rows);
        let commit = self
            .commit(resumed)
            .with_offsets(&resumed.topic, &batch.offsets)
            .keeping_expired_logs();
        self.commit_until_it_lands(resumed, data, &batch.offsets, &commit, shutdown)
            .await?;
        summary.record_commit(started.elapsed().as_secs_f64() * 1000.0);
        summary.commits += 1;
        summary.rows += count;
        summary.last_version = resumed.table.version();
        resumed.positions.extend(batch.offsets);
        Ok(())
    }

    /// Commits a micro-batch, retrying while the lake fails (an unreachable store, a table
    /// directory that cannot be written for a while) for at most [`LAKE_RETRY_FOR`], then
    /// stops with the error. A failed attempt may still have landed (the commit succeeded,
    /// the answer was lost): before each retry the table is read again, and if its offsets
    /// already hold the batch's, the batch is not written twice.
    async fn commit_until_it_lands(
        &self,
        resumed: &mut Resumed,
        data: RecordBatch,
        offsets: &BTreeMap<i32, i64>,
        commit: &Commit,
        shutdown: &CancellationToken,
    ) -> Result<()> {
        use futures::FutureExt;
        let deadline = Instant::now() + LAKE_RETRY_FOR;
        let mut backoff = Duration::from_millis(200);
        loop {
            let mut attempt_table = resumed.table.clone();
            let attempt =
                std::panic::AssertUnwindSafe(attempt_table.append(vec![data.clone()], &[], commit))
                    .catch_unwind()
                    .await;
            let error = match attempt {
                Ok(Ok(())) => {
                    resumed.table = attempt_table;
                    return Ok(());
                }
                Ok(Err(e)) => Error::from(e),
                // deltalake and object_store may panic on some I/O failures (seen: "Already
                // shut down" while aborting an upload): the sink's state is in the table, so
                // a panic there is one more failed attempt, not the end of the process.
                Err(panic) => self.fail(format!(
                    "writing to the table at {} panicked: {}",
                    resumed.table.uri(),
                    panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default()
                )),
            };
            let mut reloaded = resumed.table.clone();
            if reloaded.update().await.is_ok() && holds(&reloaded, &resumed.topic, offsets).await {
                warn!(product = %self.product, error = %error, "the commit failed but landed");
                resumed.table = reloaded;
                return Ok(());
            }
            if Instant::now() + backoff > deadline || shutdown.is_cancelled() {
                return Err(self.fail(format!(
                    "cannot commit to the table at {} (tried for {} s; nothing past the table's last version was committed, and a restart resumes from it): {error}",
                    resumed.table.uri(),
                    LAKE_RETRY_FOR.as_secs()
                )));
            }
            warn!(product = %self.product, error = %error, retry_in_ms = backoff.as_millis() as u64,
                "commit failed; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

/// What became of a received message.
enum Received {
    /// A row for the batch.
    Row(Value),
    /// Kept in the dead-letter topic; its offset goes with the next commit.
    DeadLettered,
    /// Neither, for now (stopping): read again after a restart.
    Later,
}

/// Whether `table` already holds offsets up to `offsets` for every partition.
async fn holds(table: &ProductTable, topic: &TopicName, offsets: &BTreeMap<i32, i64>) -> bool {
    for (partition, next) in offsets {
        match table.transaction_version(&app_id(topic, *partition)).await {
            Ok(Some(held)) if held >= *next => {}
            _ => return false,
        }
    }
    true
}

/// The catalog's record of the table's current version, with the offsets it holds.
fn table_version(resumed: &Resumed) -> Result<Option<TableVersion>> {
    let Some(VersionStats {
        version,
        rows,
        bytes,
        committed_at_ms,
    }) = resumed.table.stats()?
    else {
        return Ok(None);
    };
    Ok(Some(TableVersion {
        version,
        rows,
        bytes,
        schema_id: Some(resumed.schema_id),
        offsets: resumed
            .positions
            .iter()
            .map(|(p, o)| PartitionOffset {
                topic: resumed.topic.clone(),
                partition: *p,
                offset: *o,
            })
            .collect(),
        committed_at_ms,
    }))
}

/// How long the sink retries a commit the lake refuses before it stops.
const LAKE_RETRY_FOR: Duration = Duration::from_secs(60);

/// The partitions of a topic, from the broker's metadata.
async fn partitions_of(kafka: &Arc<StreamConsumer>, topic: &TopicName) -> Result<Vec<i32>> {
    let (kafka, name) = (Arc::clone(kafka), topic.to_string());
    let metadata = mesh_core::kafka::blocking(move || {
        kafka
            .fetch_metadata(Some(&name), Duration::from_secs(10))
            .map(|m| {
                m.topics()
                    .iter()
                    .filter(|t| t.name() == name)
                    .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                    .collect::<Vec<i32>>()
            })
    })
    .await
    .ok_or(Error::Interrupted)?;
    metadata.map_err(|source| Error::Kafka {
        operation: "read topic metadata",
        source,
    })
}
