//! Subscriptions: a consumer group on a set of streams, decoded through the registry.
//!
//! [`Subscribe::run`] is the managed loop most consumers want: at-least-once delivery to a
//! [`Handler`], order kept per partition, partitions handled concurrently up to a bound,
//! bounded retries with backoff, poison events to the dead-letter topic
//! `<consumer-domain>.dlq`, commits only after success, a commit before partitions are
//! revoked, and a graceful drain on shutdown. [`Subscribe::start`] gives the low-level
//! [`Subscription`] (next event, commit) for tools that step through a stream.

//!
//! The module's parts: the builder and its options (here), the managed loop and its
//! partition workers ([`run`](self) in `run.rs`), the consumer's context with the offsets it
//! commits (`offsets.rs`), and the hand-stepped [`Subscription`] (`manual.rs`).

use std::sync::Arc;
use std::time::Duration;

use mesh_core::wire::headers;
use mesh_core::{AvroSchema, Pinned, SchemaId, TopicName};
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use tokio_util::sync::CancellationToken;

use crate::context::Context;
use crate::decoder::Decoder;
use crate::error::{Error, Result};
use crate::handler::{Event, EventMeta, Handler, Position};

mod manual;
mod offsets;
mod run;

pub use manual::Subscription;
use offsets::MeshContext;

/// Settings every mesh consumer runs with; options may not change them.
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
    context: Arc<Context>,
    topics: Vec<TopicName>,
    group: Option<String>,
    start_from: StartFrom,
    reader: Option<AvroSchema>,
    concurrency: usize,
    retries: u32,
    backoff: Duration,
    commit_interval: Duration,
    dead_letters: bool,
}

/// What a finished [`Subscribe::run`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Events handled successfully.
    pub handled: u64,
    /// Events (or undecodable messages) sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Events (or undecodable messages) passed over by a subscription without a dead-letter
    /// topic ([`Subscribe::without_dead_letters`]).
    pub skipped: u64,
}

impl Subscribe {
    pub(crate) fn new(context: Arc<Context>, topics: Vec<TopicName>) -> Self {
        Self {
            context,
            topics,
            group: None,
            start_from: StartFrom::default(),
            reader: None,
            concurrency: 8,
            retries: 3,
            backoff: Duration::from_millis(100),
            commit_interval: Duration::from_secs(1),
            dead_letters: true,
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

    /// Writes nothing anywhere: an undecodable message, or an event the handler refuses,
    /// is reported to the handler ([`Handler::on_skipped`]) and
    /// passed over instead of going to the dead-letter topic. For tools that only read (`mesh
    /// tail`), and consumers of a broker where they may not write. Default: dead letters on.
    pub fn without_dead_letters(mut self) -> Self {
        self.dead_letters = false;
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
            .unwrap_or_else(|| self.context.domain.to_string())
    }

    fn config(&self) -> Result<ClientConfig> {
        let endpoints = &self.context.endpoints;
        let group = self.group();
        let client_id = format!("mesh-consumer-{}", self.context.domain);
        let reset = match self.start_from {
            StartFrom::Earliest => "earliest",
            StartFrom::Latest => "latest",
        };
        Ok(mesh_core::kafka::client_config(
            &endpoints.kafka,
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
        )?)
    }

    fn decoder(&self) -> Decoder {
        let decoder = Decoder::new(self.context.catalog.clone());
        match &self.reader {
            Some(reader) => decoder.with_reader(reader.clone()),
            None => decoder,
        }
    }

    /// A consumer of the group, subscribed to the topics, with `context`.
    fn consumer(&self, context: MeshContext) -> Result<StreamConsumer<MeshContext>> {
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
        Ok(kafka)
    }

    /// Joins the group and subscribes, for stepping through events by hand.
    pub fn start(self) -> Result<Subscription> {
        let kafka = self.consumer(MeshContext::new(self.context.metrics.clone()))?;
        Ok(Subscription::new(kafka, self.decoder(), self.group()))
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
        run::run(self, handler, shutdown).await
    }
}

/// The mesh's headers of a message.
fn event_meta<M: Message>(message: &M) -> EventMeta {
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

/// Where a message is.
fn position<M: Message>(message: &M) -> Position {
    Position {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
    }
}

/// The event of a decoded message.
fn event<M: Message, T>(message: &M, schema_id: SchemaId, value: T) -> Event<T> {
    Event {
        position: position(message),
        key: message.key().map(<[u8]>::to_vec),
        schema_id,
        meta: event_meta(message),
        timestamp_ms: message.timestamp().to_millis(),
        value,
    }
}
