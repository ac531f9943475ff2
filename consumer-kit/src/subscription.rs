//! Subscriptions: a consumer group on a set of streams, decoded through the registry.
//!
//! [`Subscribe::run`] is the managed loop most consumers want: at-least-once delivery to a
//! [`Handler`], order kept per partition, partitions handled concurrently up to a bound,
//! bounded retries with backoff, poison events to the dead-letter topic
//! `<consumer-domain>.dlq`, commits only after success, a commit before partitions are
//! revoked, and a graceful drain on shutdown. [`Subscribe::start`] gives the low-level
//! [`Subscription`] (next event, commit) for tools that step through a stream.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mesh_core::apache_avro::types::Value;
use mesh_core::wire::headers;
use mesh_core::{AvroSchema, Pinned, TopicName};
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message, OwnedMessage};
use rdkafka::{ClientConfig, ClientContext, Offset, Statistics, TopicPartitionList};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::consumer::DomainConsumer;
use crate::decoder::Decoder;
use crate::dlq::DeadLetters;
use crate::error::{Error, Result};
use crate::handler::{Event, EventMeta, FromAvro, Handler, Position};
use crate::metrics::ConsumerMetrics;

/// Settings every mesh consumer runs with; options may not change them.
/// How long events in flight may take to finish once shutdown begins; past it their workers
/// are stopped, and the events, not committed, are read again after a restart.
const DRAIN_GRACE: Duration = Duration::from_secs(30);

const PINNED: &[Pinned] = &[Pinned {
    key: "enable.auto.commit",
    allowed: &["false"],
    reason: "the mesh commits an offset only after its event was handled (at-least-once)",
}];

/// Where a new consumer group starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StartFrom {
    /// The oldest event the topic still holds.
    #[default]
    Earliest,
    /// Only events produced after the group first joins.
    Latest,
}

/// Options of a subscription. Default: group `<consumer-domain>`, start from the earliest
/// event, events in their writer's schema, 8 partitions handled at once, 3 retries from
/// 100 ms backoff, offsets committed every second.
#[derive(Debug)]
#[must_use = "a subscription begins only with run() or start()"]
pub struct Subscribe {
    consumer: DomainConsumer,
    topics: Vec<TopicName>,
    group: Option<String>,
    start_from: StartFrom,
    reader: Option<AvroSchema>,
    concurrency: usize,
    retries: u32,
    backoff: Duration,
    commit_interval: Duration,
}

/// What a finished [`Subscribe::run`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Events handled successfully.
    pub handled: u64,
    /// Events (or undecodable messages) sent to the dead-letter topic.
    pub dead_lettered: u64,
}

impl Subscribe {
    pub(crate) fn new(consumer: DomainConsumer, topics: Vec<TopicName>) -> Self {
        Self {
            consumer,
            topics,
            group: None,
            start_from: StartFrom::default(),
            reader: None,
            concurrency: 8,
            retries: 3,
            backoff: Duration::from_millis(100),
            commit_interval: Duration::from_secs(1),
        }
    }

    /// The consumer group. Default: the consumer domain's name, so a domain's instances
    /// share the work.
    pub fn with_group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Where a group without committed offsets starts. Default [`StartFrom::Earliest`].
    pub fn with_start_from(mut self, start_from: StartFrom) -> Self {
        self.start_from = start_from;
        self
    }

    /// The schema the consumer was built against: every event is resolved into it, so a
    /// consumer built on v1 reads v2 events. Default: events keep their writer's schema.
    pub fn with_reader_schema(mut self, reader: AvroSchema) -> Self {
        self.reader = Some(reader);
        self
    }

    /// How many partitions are handled at once. Default 8.
    pub fn with_concurrency(mut self, partitions: usize) -> Self {
        self.concurrency = partitions.max(1);
        self
    }

    /// How often a failing event is retried, and the first backoff (doubling each time).
    /// Default 3 retries from 100 ms.
    pub fn with_retries(mut self, retries: u32, first_backoff: Duration) -> Self {
        self.retries = retries;
        self.backoff = first_backoff;
        self
    }

    /// How often handled offsets are committed while running. Default 1 s.
    pub fn with_commit_interval(mut self, interval: Duration) -> Self {
        self.commit_interval = interval;
        self
    }

    fn group(&self) -> String {
        self.group
            .clone()
            .unwrap_or_else(|| self.consumer.domain().to_string())
    }

    fn config(&self) -> Result<ClientConfig> {
        let endpoints = self.consumer.endpoints();
        let group = self.group();
        let client_id = format!("mesh-consumer-{}", self.consumer.domain());
        let reset = match self.start_from {
            StartFrom::Earliest => "earliest",
            StartFrom::Latest => "latest",
        };
        let settings = endpoints.kafka.client_settings(
            &[
                ("group.id", &group),
                ("client.id", &client_id),
                ("auto.offset.reset", reset),
                ("enable.partition.eof", "false"),
                ("statistics.interval.ms", "5000"),
                // Brokers that do not answer a waiting fetch when data arrives would otherwise
                // hold each event up to librdkafka's 500 ms default.
                ("fetch.wait.max.ms", "5"),
                // A topic deleted and created again (a new topic id) is noticed at the next
                // metadata refresh; librdkafka's default waits five minutes.
                ("topic.metadata.refresh.interval.ms", "30000"),
            ],
            PINNED,
        )?;
        let mut config = ClientConfig::new();
        for (k, v) in settings {
            config.set(k, v);
        }
        Ok(config)
    }

    fn decoder(&self) -> Decoder {
        let decoder = Decoder::new(self.consumer.catalog().clone());
        match &self.reader {
            Some(reader) => decoder.with_reader(reader.clone()),
            None => decoder,
        }
    }

    /// Joins the group and subscribes, for stepping through events by hand.
    pub fn start(self) -> Result<Subscription> {
        let context = MeshContext::new(self.consumer.metrics().clone());
        let kafka: StreamConsumer<MeshContext> = self
            .config()?
            .create_with_context(context)
            .map_err(|source| Error::Kafka {
                operation: "create the consumer",
                source,
            })?;
        let names: Vec<&str> = self.topics.iter().map(TopicName::as_str).collect();
        kafka.subscribe(&names).map_err(|source| Error::Kafka {
            operation: "subscribe",
            source,
        })?;
        Ok(Subscription {
            decoder: self.decoder(),
            group: self.group(),
            kafka,
        })
    }

    /// Runs the subscription until `shutdown` is cancelled: each event goes to `handler`
    /// (see [`Handler`] for the delivery guarantees). Returns when every event in flight is
    /// finished and committed, or with the first error that would lose an event (the
    /// dead-letter topic cannot be written, Kafka fails).
    pub async fn run<H: Handler>(
        self,
        handler: H,
        shutdown: CancellationToken,
    ) -> Result<RunSummary> {
        let metrics = self.consumer.metrics().clone();
        let context = MeshContext::new(metrics.clone());
        let done = Arc::clone(&context.done);
        let rebalances = Arc::clone(&context.rebalances);
        let live = Arc::clone(&context.live);
        let kafka: StreamConsumer<MeshContext> = self
            .config()?
            .create_with_context(context)
            .map_err(|source| Error::Kafka {
                operation: "create the consumer",
                source,
            })?;
        let names: Vec<&str> = self.topics.iter().map(TopicName::as_str).collect();
        kafka.subscribe(&names).map_err(|source| Error::Kafka {
            operation: "subscribe",
            source,
        })?;
        let dead_letters = DeadLetters::open(&self.consumer)
            .await?
            .with_shutdown(shutdown.clone());
        let shared = Arc::new(Shared {
            handler,
            decoder: self.decoder(),
            dead_letters,
            done: Arc::clone(&done),
            permits: Semaphore::new(self.concurrency),
            retries: self.retries,
            backoff: self.backoff,
            shutdown: shutdown.clone(),
            metrics,
        });
        info!(group = %self.group(), topics = ?names, "subscription running");

        let mut queues: HashMap<Partition, (mpsc::Sender<OwnedMessage>, Live)> = HashMap::new();
        let mut workers: JoinSet<Result<()>> = JoinSet::new();
        let mut commit_tick = tokio::time::interval(self.commit_interval);
        let mut sent = HashMap::new();
        let mut failure = None;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Some(finished) = workers.join_next(), if !workers.is_empty() => {
                    if let Err(e) = finished.unwrap_or_else(|e| Err(Error::Worker(e.to_string()))) {
                        failure = Some(e);
                        break;
                    }
                }
                _ = commit_tick.tick() => {
                    commit(&kafka, &done, &mut sent, CommitMode::Async);
                    let changes: Vec<_> = rebalances.lock().map(|mut r| std::mem::take(&mut *r)).unwrap_or_default();
                    for (assigned, revoked) in changes {
                        for partition in &revoked {
                            queues.remove(partition);
                            sent.remove(partition);
                        }
                        shared.handler.on_rebalance(&assigned, &revoked);
                    }
                }
                received = kafka.recv() => {
                    let message = match received {
                        Ok(m) => m.detach(),
                        Err(e) => {
                            warn!(error = %e, "kafka receive failed; continuing");
                            continue;
                        }
                    };
                    let key = (message.topic().to_owned(), message.partition());
                    // A partition revoked and assigned again gets a fresh worker.
                    if queues.get(&key).is_some_and(|(_, flag)| !flag.load(Ordering::SeqCst)) {
                        queues.remove(&key);
                    }
                    let (queue, _) = queues.entry(key.clone()).or_insert_with(|| {
                        let flag: Live = Arc::new(AtomicBool::new(true));
                        if let Ok(mut l) = live.lock() {
                            l.insert(key, Arc::clone(&flag));
                        }
                        // Bounded: a slow partition holds up the receive loop rather than
                        // buffering without end.
                        let (tx, rx) = mpsc::channel(1024);
                        workers.spawn(Arc::clone(&shared).work(rx, Arc::clone(&flag)));
                        (tx, flag)
                    });
                    // A full queue (a slow or stuck partition) must not keep shutdown waiting.
                    tokio::select! {
                        sent = queue.send(message) => if sent.is_err() {
                            // The worker ended (its partition failed); the error surfaces above.
                            continue;
                        },
                        () = shutdown.cancelled() => break,
                    }
                }
            }
        }
        // Drain: no new event starts; those in flight finish (within DRAIN_GRACE); then a
        // last commit of what was handled.
        drop(queues);
        shutdown.cancel();
        let draining = async {
            while let Some(finished) = workers.join_next().await {
                match finished.unwrap_or_else(|e| Err(Error::Worker(e.to_string()))) {
                    // Cut short by shutdown: not handled, read again after a restart.
                    Ok(()) | Err(Error::Interrupted) => {}
                    Err(e) if failure.is_none() => failure = Some(e),
                    Err(_) => {}
                }
            }
        };
        if tokio::time::timeout(DRAIN_GRACE, draining).await.is_err() {
            warn!(
                workers = workers.len(),
                "events in flight did not finish within the drain grace; they are read again after a restart"
            );
            workers.abort_all();
        }
        commit(&kafka, &done, &mut sent, CommitMode::Sync);
        kafka.unsubscribe();
        let summary = shared.metrics.summary();
        info!(
            handled = summary.handled,
            dead_lettered = summary.dead_lettered,
            "subscription stopped"
        );
        match failure {
            Some(e) => Err(e),
            None => Ok(summary),
        }
    }
}

/// Offsets handled per partition: the next offset to read, as Kafka commits them.
type Done = Arc<Mutex<HashMap<(String, i32), i64>>>;

/// A topic partition.
type Partition = (String, i32);

/// Rebalances seen by the consumer's thread, for the handler: (assigned, revoked).
type Rebalances = Arc<Mutex<Vec<(Vec<Partition>, Vec<Partition>)>>>;

/// Whether this member still owns a partition: set false the moment it is revoked, so its
/// worker stops before handling (and committing) events that are now another member's.
type Live = Arc<AtomicBool>;
type LiveMap = Arc<Mutex<HashMap<Partition, Live>>>;

/// Commits the handled offsets that moved since the last commit (`sent`). The handled map is
/// never drained here: the revocation callback commits from it synchronously, so an
/// asynchronous commit lost to a rebalance cannot send the partition's next owner back.
fn commit<C: Consumer<MeshContext>>(
    kafka: &C,
    done: &Done,
    sent: &mut HashMap<Partition, i64>,
    mode: CommitMode,
) {
    let all = matches!(mode, CommitMode::Sync);
    let offsets: Vec<(Partition, i64)> = match done.lock() {
        Ok(d) => d
            .iter()
            .filter(|(k, next)| all || sent.get(*k) != Some(*next))
            .map(|(k, next)| (k.clone(), *next))
            .collect(),
        Err(_) => return,
    };
    if offsets.is_empty() {
        return;
    }
    let mut list = TopicPartitionList::new();
    for ((topic, partition), next) in &offsets {
        if list
            .add_partition_offset(topic, *partition, Offset::Offset(*next))
            .is_err()
        {
            return;
        }
    }
    match kafka.commit(&list, mode) {
        Ok(()) => sent.extend(offsets),
        // Not lost: the offsets stay in the handled map and go with the next commit; at
        // worst the events are handled again (at-least-once).
        Err(e) => debug!(error = %e, "commit failed; will retry"),
    }
}

struct Shared<H: Handler> {
    handler: H,
    decoder: Decoder,
    dead_letters: DeadLetters,
    done: Done,
    permits: Semaphore,
    retries: u32,
    backoff: Duration,
    shutdown: CancellationToken,
    metrics: ConsumerMetrics,
}

pub(crate) fn event_meta<M: Message>(message: &M) -> EventMeta {
    let mut meta = EventMeta::default();
    if let Some(hs) = message.headers() {
        for h in hs.iter() {
            let text = h.value.and_then(|v| std::str::from_utf8(v).ok());
            match h.key {
                headers::EVENT_ID => meta.event_id = text.map(str::to_owned),
                headers::PRODUCER_DOMAIN => meta.producer_domain = text.map(str::to_owned),
                headers::PRODUCED_AT => meta.produced_at_ms = text.and_then(|t| t.parse().ok()),
                _ => {}
            }
        }
    }
    meta
}

fn position<M: Message>(message: &M) -> Position {
    Position {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
    }
}

impl<H: Handler> Shared<H> {
    /// Handles one partition's events in order.
    async fn work(
        self: Arc<Self>,
        mut queue: mpsc::Receiver<OwnedMessage>,
        live: Live,
    ) -> Result<()> {
        while let Some(message) = queue.recv().await {
            // Shut down, or the partition went to another member: what is queued is left
            // for whoever owns it next.
            if self.shutdown.is_cancelled() || !live.load(Ordering::SeqCst) {
                break;
            }
            let permit = tokio::select! {
                permit = self.permits.acquire() => permit,
                () = self.shutdown.cancelled() => break,
            };
            let Ok(_permit) = permit else {
                break;
            };
            // Waiting for a handling slot may have outlasted the subscription or the
            // partition: check again before starting.
            if self.shutdown.is_cancelled() || !live.load(Ordering::SeqCst) {
                break;
            }
            let at = position(&message);
            self.process(&message, &at).await?;
            // An event finished after its partition was revoked is not committed: the new
            // owner's commits must not be overwritten with older ones. The flag is read
            // under the lock, which revocation takes after clearing it, so the two cannot
            // interleave.
            if let Ok(mut done) = self.done.lock()
                && live.load(Ordering::SeqCst)
            {
                done.insert((at.topic.clone(), at.partition), at.offset + 1);
            }
        }
        Ok(())
    }

    async fn decode(
        &self,
        message: &OwnedMessage,
        at: &Position,
    ) -> std::result::Result<(u32, Value), crate::decoder::DecodeError> {
        let payload = message.payload().unwrap_or_default();
        let mut wait = self.backoff;
        loop {
            match self.decoder.decode(payload).await {
                // A registry outage is not the event's fault: wait for the registry rather
                // than dead-lettering good events.
                Err(e) if e.is_retriable() && !self.shutdown.is_cancelled() => {
                    warn!(%at, error = %e, "registry unavailable; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(10));
                }
                other => return other,
            }
        }
    }

    async fn process(&self, message: &OwnedMessage, at: &Position) -> Result<()> {
        self.metrics.consumed();
        let (schema_id, value) = match self.decode(message, at).await {
            Ok(decoded) => decoded,
            Err(e) => {
                self.handler.on_decode_error(at, &e);
                self.metrics.decode_error();
                return self
                    .dead_letter(message, at, &e.to_string(), e.cause())
                    .await;
            }
        };
        let event = |value| Event {
            position: at.clone(),
            key: message.key().map(<[u8]>::to_vec),
            schema_id,
            meta: event_meta(message),
            timestamp_ms: message.timestamp().to_millis(),
            value,
        };
        let mut wait = self.backoff;
        let mut attempt = 0;
        let mut value = Some(value);
        loop {
            // The first attempt takes the decoded value; retries decode again (rare).
            let decoded = match value.take() {
                Some(v) => v,
                None => self
                    .decode(message, at)
                    .await
                    .map(|(_, v)| v)
                    .map_err(|e| Error::Worker(e.to_string()))?,
            };
            let typed = match H::Value::from_avro(decoded) {
                Ok(t) => t,
                Err(reason) => {
                    return self
                        .dead_letter(
                            message,
                            at,
                            &format!("the event does not fit the handler's type: {reason}"),
                            "type-mismatch",
                        )
                        .await;
                }
            };
            let started = Instant::now();
            let outcome = self.handler.handle(event(typed)).await;
            self.metrics.handled_in(started.elapsed());
            match outcome {
                Ok(()) => {
                    self.metrics.handled();
                    return Ok(());
                }
                Err(e)
                    if e.is_retriable()
                        && attempt < self.retries
                        && !self.shutdown.is_cancelled() =>
                {
                    attempt += 1;
                    debug!(%at, attempt, error = %e, "handler failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Err(e) => {
                    let reason = if e.is_retriable() {
                        format!("the handler failed {} times: {e}", attempt + 1)
                    } else {
                        format!("the handler refused the event: {e}")
                    };
                    return self
                        .dead_letter(message, at, &reason, "handler-failed")
                        .await;
                }
            }
        }
    }

    async fn dead_letter(
        &self,
        message: &OwnedMessage,
        at: &Position,
        reason: &str,
        cause: &str,
    ) -> Result<()> {
        self.dead_letters.send(message, reason, cause).await?;
        self.metrics.dead_lettered();
        self.handler.on_dead_letter(at, reason);
        warn!(%at, cause, reason, "event sent to the dead-letter topic");
        Ok(())
    }
}

/// The consumer's context: commits handled offsets before partitions are revoked, records
/// rebalances for the handler, and reads the lag from librdkafka's statistics.
pub(crate) struct MeshContext {
    done: Done,
    rebalances: Rebalances,
    live: LiveMap,
    metrics: ConsumerMetrics,
}

impl MeshContext {
    fn new(metrics: ConsumerMetrics) -> Self {
        Self {
            done: Arc::default(),
            rebalances: Arc::default(),
            live: Arc::default(),
            metrics,
        }
    }
}

fn partitions(list: &TopicPartitionList) -> Vec<(String, i32)> {
    list.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

impl ClientContext for MeshContext {
    fn stats(&self, statistics: Statistics) {
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    self.metrics.lag(topic, *partition, p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for MeshContext {
    fn pre_rebalance(
        &self,
        consumer: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &Rebalance<'_>,
    ) {
        if let Rebalance::Revoke(revoked) = rebalance {
            // Stop the workers of the partitions about to go, then commit what they handled,
            // so their next owner starts right after it.
            let revoked = partitions(revoked);
            if let Ok(mut live) = self.live.lock() {
                for partition in &revoked {
                    if let Some(flag) = live.remove(partition) {
                        flag.store(false, Ordering::SeqCst);
                    }
                }
            }
            let offsets: Vec<((String, i32), i64)> = match self.done.lock() {
                Ok(mut d) => revoked
                    .iter()
                    .filter_map(|k| d.remove(k).map(|o| (k.clone(), o)))
                    .collect(),
                Err(_) => Vec::new(),
            };
            if !offsets.is_empty() {
                let mut list = TopicPartitionList::new();
                for ((topic, partition), next) in &offsets {
                    let _ = list.add_partition_offset(topic, *partition, Offset::Offset(*next));
                }
                if let Err(e) = consumer.commit(&list, CommitMode::Sync) {
                    warn!(error = %e, "commit before revocation failed; events may be handled again");
                }
            }
            if let Ok(mut r) = self.rebalances.lock() {
                r.push((Vec::new(), revoked));
            }
        }
    }

    fn post_rebalance(
        &self,
        _consumer: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &Rebalance<'_>,
    ) {
        if let Rebalance::Assign(assigned) = rebalance
            && let Ok(mut r) = self.rebalances.lock()
        {
            r.push((partitions(assigned), Vec::new()));
        }
    }
}

/// A subscription stepped by hand: [`Subscription::next`] and [`Subscription::commit`].
pub struct Subscription {
    kafka: StreamConsumer<MeshContext>,
    decoder: Decoder,
    group: String,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The next event. An undecodable message is returned as [`Error::Decode`] naming its
    /// position; the subscription goes on with the next call.
    ///
    /// Cancellation safe: dropping the future loses no message that was not returned.
    pub async fn next(&self) -> Result<Event<Value>> {
        let message: BorrowedMessage<'_> =
            self.kafka.recv().await.map_err(|source| Error::Kafka {
                operation: "receive",
                source,
            })?;
        let at = position(&message);
        let (schema_id, value) = self
            .decoder
            .decode(message.payload().unwrap_or_default())
            .await
            .map_err(|e| Error::Decode {
                position: at.clone(),
                source: e,
            })?;
        Ok(Event {
            key: message.key().map(<[u8]>::to_vec),
            schema_id,
            meta: event_meta(&message),
            timestamp_ms: message.timestamp().to_millis(),
            value,
            position: at,
        })
    }

    /// Commits `position` as handled: the group resumes after it.
    pub fn commit(&self, position: &Position) -> Result<()> {
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(
            &position.topic,
            position.partition,
            Offset::Offset(position.offset + 1),
        )
        .map_err(|source| Error::Kafka {
            operation: "commit",
            source,
        })?;
        self.kafka
            .commit(&list, CommitMode::Sync)
            .map_err(|source| Error::Kafka {
                operation: "commit",
                source,
            })
    }
}
