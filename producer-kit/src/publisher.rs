//! Publishing validated events to one stream.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mesh_core::apache_avro::types::Value;
use mesh_core::wire::{self, headers};
use mesh_core::{AvroSchema, TopicName};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use tracing::{debug, instrument};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::producer::DomainProducer;

/// How long `send` waits for room in the client's bounded queue before giving up.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the broker stored an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The partition.
    pub partition: i32,
    /// The offset within the partition.
    pub offset: i64,
    /// The event's id (header `mesh-event-id`).
    pub event_id: Uuid,
}

/// Publishes events of one stream: validated against the registered schema, encoded in the
/// Confluent wire format, sent with the mesh's headers.
#[derive(Clone)]
pub struct Publisher {
    producer: DomainProducer,
    topic: TopicName,
    schema: AvroSchema,
    schema_id: u32,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("topic", &self.topic)
            .field("schema", &self.schema.full_name())
            .field("schema_id", &self.schema_id)
            .finish()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Publisher {
    pub(crate) fn new(
        producer: DomainProducer,
        topic: TopicName,
        schema: AvroSchema,
        schema_id: u32,
    ) -> Self {
        Self {
            producer,
            topic,
            schema,
            schema_id,
        }
    }

    /// The stream's topic.
    pub fn topic(&self) -> &TopicName {
        &self.topic
    }

    /// The registry id of the value schema.
    pub fn schema_id(&self) -> u32 {
        self.schema_id
    }

    /// The value schema.
    pub fn schema(&self) -> &AvroSchema {
        &self.schema
    }

    /// Validates `value` and frames it as a Confluent wire-format payload.
    pub fn encode(&self, value: Value) -> Result<Vec<u8>> {
        let mut payload = Vec::with_capacity(64);
        wire::write_header(self.schema_id, &mut payload);
        self.schema
            .encode_into(value, &mut payload)
            .map_err(|e| match e {
                mesh_core::Error::Invalid(source) => Error::InvalidEvent {
                    topic: self.topic.clone(),
                    source,
                },
                other => Error::Core(other),
            })?;
        Ok(payload)
    }

    /// Validates, encodes and sends one event; resolves when the broker acknowledged it
    /// (all in-sync replicas). An invalid event is refused before anything is sent.
    ///
    /// Cancellation: dropping the future before it resolves does not recall the message; it
    /// may still be delivered.
    #[instrument(skip(self, value), fields(topic = %self.topic))]
    pub async fn send(&self, key: Option<&str>, value: Value) -> Result<Delivery> {
        let payload = self.encode(value)?;
        let event_id = Uuid::new_v4();
        let event_text = event_id.to_string();
        let schema_id = self.schema_id.to_string();
        let produced_at = now_ms().to_string();
        let domain = self.producer.domain().name.as_str();
        let headers = OwnedHeaders::new_with_capacity(4)
            .insert(Header {
                key: headers::EVENT_ID,
                value: Some(event_text.as_str()),
            })
            .insert(Header {
                key: headers::PRODUCER_DOMAIN,
                value: Some(domain),
            })
            .insert(Header {
                key: headers::SCHEMA_ID,
                value: Some(schema_id.as_str()),
            })
            .insert(Header {
                key: headers::PRODUCED_AT,
                value: Some(produced_at.as_str()),
            });
        let mut record = FutureRecord::to(self.topic.as_str())
            .payload(&payload)
            .headers(headers);
        if let Some(key) = key {
            record = record.key(key);
        }
        let delivery = self
            .producer
            .kafka()
            .send(record, QUEUE_TIMEOUT)
            .await
            .map_err(|(source, _)| Error::Kafka {
                operation: "send",
                topic: self.topic.to_string(),
                source,
            })?;
        debug!(
            partition = delivery.partition,
            offset = delivery.offset,
            "event delivered"
        );
        Ok(Delivery {
            partition: delivery.partition,
            offset: delivery.offset,
            event_id,
        })
    }
}
