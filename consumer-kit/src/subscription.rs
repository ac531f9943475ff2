//! Subscriptions: consuming a stream's events, decoded through the registry.

use std::time::Duration;

use mesh_core::apache_avro::types::Value;
use mesh_core::wire::{self, headers};
use mesh_core::{Pinned, TopicName};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use schema_registry_converter::async_impl::avro::AvroDecoder;
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use tracing::debug;

use crate::consumer::DomainConsumer;
use crate::error::{Error, Result};

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

/// Options of a subscription; [`Subscribe::start`] begins it.
#[derive(Debug)]
#[must_use = "a subscription begins only with start()"]
pub struct Subscribe {
    consumer: DomainConsumer,
    topics: Vec<TopicName>,
    group: Option<String>,
    start_from: StartFrom,
}

impl Subscribe {
    pub(crate) fn new(consumer: DomainConsumer, topics: Vec<TopicName>) -> Self {
        Self {
            consumer,
            topics,
            group: None,
            start_from: StartFrom::default(),
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

    /// Joins the group and subscribes.
    pub fn start(self) -> Result<Subscription> {
        let endpoints = self.consumer.endpoints();
        let group = self
            .group
            .unwrap_or_else(|| self.consumer.domain().to_string());
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
            ],
            PINNED,
        )?;
        let mut config = ClientConfig::new();
        for (k, v) in settings {
            config.set(k, v);
        }
        let kafka: StreamConsumer = config.create().map_err(|source| Error::Kafka {
            operation: "create the consumer",
            source,
        })?;
        let names: Vec<&str> = self.topics.iter().map(TopicName::as_str).collect();
        kafka.subscribe(&names).map_err(|source| Error::Kafka {
            operation: "subscribe",
            source,
        })?;
        let mut registry = SrSettings::new_builder(endpoints.catalog_url.clone());
        registry.no_proxy().set_timeout(Duration::from_secs(10));
        if let Some(token) = &endpoints.catalog_token {
            registry.set_token_authorization(token.expose());
        }
        let registry = registry.build().map_err(|e| {
            Error::Core(mesh_core::Error::Config {
                origin: Some("catalog URL".into()),
                reason: e.to_string(),
            })
        })?;
        Ok(Subscription {
            kafka,
            decoder: AvroDecoder::new(registry),
            group,
        })
    }
}

/// Metadata the mesh's producers attach to each event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventMeta {
    /// `mesh-event-id`.
    pub event_id: Option<String>,
    /// `mesh-producer-domain`.
    pub producer_domain: Option<String>,
    /// `mesh-produced-at`, milliseconds since the Unix epoch.
    pub produced_at_ms: Option<i64>,
}

/// One decoded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The topic it came from.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The key bytes, if any.
    pub key: Option<Vec<u8>>,
    /// The registry id of the schema it was written with.
    pub schema_id: u32,
    /// The decoded value, in the writer's schema.
    pub value: Value,
    /// The mesh's headers.
    pub meta: EventMeta,
}

impl Event {
    /// The key as UTF-8 text, if it is.
    pub fn key_str(&self) -> Option<&str> {
        self.key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
    }

    /// A field of a record value by name.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match &self.value {
            Value::Record(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// A running subscription.
pub struct Subscription {
    kafka: StreamConsumer,
    decoder: AvroDecoder,
    group: String,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

fn meta(message: &BorrowedMessage<'_>) -> EventMeta {
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

impl Subscription {
    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The next event. An undecodable message is returned as [`Error::Decode`] naming its
    /// position; the subscription goes on with the next call.
    ///
    /// Cancellation safe: dropping the future loses no message that was not returned.
    pub async fn next(&self) -> Result<Event> {
        let message = self.kafka.recv().await.map_err(|source| Error::Kafka {
            operation: "receive",
            source,
        })?;
        let fail = |cause: String| Error::Decode {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            cause,
        };
        let payload = message.payload().unwrap_or_default();
        let (schema_id, _) = wire::split(payload).map_err(|e| fail(e.to_string()))?;
        let decoded = self
            .decoder
            .decode(Some(payload))
            .await
            .map_err(|e| fail(format!("schema id {schema_id}: {e}")))?;
        debug!(
            topic = message.topic(),
            partition = message.partition(),
            offset = message.offset(),
            "event decoded"
        );
        Ok(Event {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            schema_id,
            value: decoded.value,
            meta: meta(&message),
        })
    }

    /// Commits `event` as handled: the group resumes after it.
    pub fn commit(&self, event: &Event) -> Result<()> {
        self.commit_position(&event.topic, event.partition, event.offset)
    }

    /// Commits position `offset` of a partition as handled (the group resumes at
    /// `offset + 1`); also used for messages that failed to decode and were set aside.
    pub fn commit_position(&self, topic: &str, partition: i32, offset: i64) -> Result<()> {
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(topic, partition, Offset::Offset(offset + 1))
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
