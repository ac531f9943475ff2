//! Publishing checked events to one stream: typed ([`Publisher`], any serde type) or
//! dynamic ([`DynPublisher`], Avro values).
//!
//! Every event is checked against the stream's registered schema while it is encoded; an
//! event that does not conform is refused with its field path and nothing is sent. A batch
//! is checked whole before any of it is sent. Events go out in the Confluent wire format,
//! keyed by the contract's key field, with the mesh's headers, through the idempotent
//! producer with `acks=all`; `send` resolves when the broker acknowledged. At most the
//! producer's in-flight bound of events wait for acknowledgement: past it, senders wait.

use std::marker::PhantomData;
use std::sync::Arc;

use mesh_core::apache_avro::types::Value;
use mesh_core::time::now_ms;
use mesh_core::wire::{self, headers};
use mesh_core::{AvroSchema, SchemaId, TopicName, ValidationError};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::BaseRecord;
use serde::Serialize;
use tracing::instrument;
use uuid::Uuid;

use crate::delivery::{Acks, Sender};
use crate::error::{Error, Result, Undelivered};
use crate::key::{key_of_serde, key_of_value};

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

/// An event encoded and ready to send.
struct Encoded {
    key: Option<String>,
    payload: Vec<u8>,
    /// W3C trace context to pass on, if the caller has one.
    traceparent: Option<String>,
}

/// What publishers of one stream share.
#[derive(Clone)]
pub(crate) struct StreamHandle {
    sender: Arc<Sender>,
    topic: TopicName,
    key_field: Option<String>,
    schema: AvroSchema,
    schema_id: SchemaId,
    schema_id_text: String,
}

impl StreamHandle {
    pub(crate) fn new(
        sender: Arc<Sender>,
        topic: TopicName,
        key_field: Option<String>,
        schema: AvroSchema,
        schema_id: SchemaId,
    ) -> Self {
        Self {
            sender,
            topic,
            key_field,
            schema,
            schema_id,
            schema_id_text: schema_id.to_string(),
        }
    }

    fn refused(&self, source: ValidationError) -> Error {
        Error::InvalidEvent {
            topic: self.topic.clone(),
            source,
        }
    }

    fn frame(
        &self,
        encode: impl FnOnce(&AvroSchema, &mut Vec<u8>) -> Result<(), ValidationError>,
    ) -> Result<Vec<u8>> {
        let mut payload = Vec::with_capacity(128);
        wire::write_header(self.schema_id, &mut payload);
        encode(&self.schema, &mut payload).map_err(|e| self.refused(e))?;
        Ok(payload)
    }

    /// An event checked, framed and keyed, the way its publisher reads events (`encode`
    /// writes its Avro body, `key_of` finds the contract's key field in it).
    fn encoded<E: ?Sized>(
        &self,
        event: &E,
        encode: impl FnOnce(&AvroSchema, &E, &mut Vec<u8>) -> Result<(), ValidationError>,
        key_of: impl FnOnce(&E, &str) -> Option<String>,
    ) -> Result<Encoded> {
        let payload = self.frame(|schema, out| encode(schema, event, out))?;
        let key = self.key_field.as_deref().and_then(|f| key_of(event, f));
        Ok(Encoded {
            key,
            payload,
            traceparent: None,
        })
    }

    /// Sends one encoded event and waits for its acknowledgement.
    async fn send_one(&self, event: Encoded) -> Result<Delivery> {
        let mut done = self.send_encoded(vec![event]).await?;
        done.pop().ok_or(Error::Closed)
    }

    /// Sends encoded events and waits for every acknowledgement.
    async fn send_encoded(&self, events: Vec<Encoded>) -> Result<Vec<Delivery>> {
        let domain = self.sender.domain();
        let bound = self.sender.max_in_flight();
        let mut deliveries = Vec::with_capacity(events.len());
        let mut events = events.into_iter().peekable();
        while events.peek().is_some() {
            // Up to the in-flight bound at a time: one permit wait per slice of the batch, and
            // a batch larger than the bound waits for its own first slice to be acknowledged.
            let slice: Vec<Encoded> = events.by_ref().take(bound).collect();
            let permits = self
                .sender
                .room_for(slice.len())
                .await
                .ok_or(Error::Closed)?;
            let acks = Acks::new(slice.len());
            let mut event_ids = Vec::with_capacity(slice.len());
            // The time the slice is handed over; events of a slice go within the same moment.
            let produced_at = now_ms().to_string();
            for (index, event) in slice.iter().enumerate() {
                let event_id = Uuid::new_v4();
                let mut id_text = Uuid::encode_buffer();
                let id_text = event_id.hyphenated().encode_lower(&mut id_text);
                let mut headers = OwnedHeaders::new_with_capacity(5)
                    .insert(Header {
                        key: headers::EVENT_ID,
                        value: Some(&*id_text),
                    })
                    .insert(Header {
                        key: headers::PRODUCER_DOMAIN,
                        value: Some(domain),
                    })
                    .insert(Header {
                        key: headers::SCHEMA_ID,
                        value: Some(self.schema_id_text.as_str()),
                    })
                    .insert(Header {
                        key: headers::PRODUCED_AT,
                        value: Some(produced_at.as_str()),
                    });
                if let Some(trace) = &event.traceparent {
                    headers = headers.insert(Header {
                        key: headers::TRACEPARENT,
                        value: Some(trace.as_str()),
                    });
                }
                let mut record = BaseRecord::with_opaque_to(self.topic.as_str(), acks.slot(index))
                    .payload(&event.payload)
                    .headers(headers);
                if let Some(key) = &event.key {
                    record = record.key(key.as_str());
                }
                // Enqueue now; wait for the broker below, once for the slice.
                self.sender
                    .enqueue(record)
                    .await
                    .map_err(|source| Error::Kafka {
                        operation: "send",
                        topic: self.topic.to_string(),
                        source,
                    })?;
                event_ids.push(event_id);
            }
            // One wake-up for the whole slice, when the broker has acknowledged every event.
            let mut first_failure = None;
            let mut undelivered = Vec::new();
            for (outcome, event_id) in acks.outcomes().await.zip(event_ids) {
                match outcome {
                    Ok((partition, offset)) => deliveries.push(Delivery {
                        partition,
                        offset,
                        event_id,
                    }),
                    Err(source) => {
                        first_failure.get_or_insert(source);
                        undelivered.push(event_id);
                    }
                }
            }
            drop(permits);
            if let Some(source) = first_failure {
                // The rest of the batch is not sent: the caller decides what to do with it.
                let never_sent = events.count();
                tracing::error!(topic = %self.topic, undelivered = undelivered.len(),
                    never_sent, error = %source, "events were not delivered");
                return Err(Error::Undelivered(Box::new(Undelivered {
                    topic: self.topic.clone(),
                    undelivered,
                    delivered: deliveries.len(),
                    unsent: never_sent,
                    source,
                })));
            }
        }
        Ok(deliveries)
    }
}

/// Publishes values of a serde type to one stream. See the [module docs](self).
pub struct Publisher<T> {
    handle: StreamHandle,
    _events: PhantomData<fn(&T)>,
}

impl<T> Clone for Publisher<T> {
    fn clone(&self) -> Self {
        Self {
            handle: self.handle.clone(),
            _events: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Publisher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("topic", &self.handle.topic)
            .field("schema", &self.handle.schema.full_name())
            .field("schema_id", &self.handle.schema_id)
            .finish()
    }
}

impl<T: Serialize> Publisher<T> {
    pub(crate) fn new(handle: StreamHandle) -> Self {
        Self {
            handle,
            _events: PhantomData,
        }
    }

    /// The stream's topic.
    pub fn topic(&self) -> &TopicName {
        &self.handle.topic
    }

    /// The registry id of the value schema.
    pub fn schema_id(&self) -> SchemaId {
        self.handle.schema_id
    }

    /// Checks `event` and frames it as a Confluent wire-format payload, without sending.
    pub fn encode(&self, event: &T) -> Result<Vec<u8>> {
        self.handle
            .frame(|schema, out| schema.encode_serde_into(event, out))
    }

    fn encoded(&self, event: &T) -> Result<Encoded> {
        self.handle.encoded(
            event,
            |schema, event, out| schema.encode_serde_into(event, out),
            key_of_serde,
        )
    }

    /// Checks, encodes and sends one event; resolves when the broker acknowledged it.
    ///
    /// Cancellation: dropping the future after the event was handed to Kafka does not recall
    /// it; it may still be delivered.
    #[instrument(skip_all, fields(topic = %self.handle.topic))]
    pub async fn send(&self, event: &T) -> Result<Delivery> {
        self.handle.send_one(self.encoded(event)?).await
    }

    /// Like [`Publisher::send`], passing on a W3C trace context (`traceparent` header) so
    /// consumers can join the producer's trace.
    pub async fn send_traced(&self, event: &T, traceparent: &str) -> Result<Delivery> {
        let mut encoded = self.encoded(event)?;
        encoded.traceparent = Some(traceparent.to_owned());
        self.handle.send_one(encoded).await
    }

    /// Checks every event, then sends them all and resolves when every one was
    /// acknowledged. If any event is refused, none is sent.
    #[instrument(skip_all, fields(topic = %self.handle.topic, events = events.len()))]
    pub async fn send_batch(&self, events: &[T]) -> Result<Vec<Delivery>> {
        let encoded = events
            .iter()
            .map(|e| self.encoded(e))
            .collect::<Result<Vec<_>>>()?;
        self.handle.send_encoded(encoded).await
    }
}

/// Publishes Avro values to one stream. See the [module docs](self).
#[derive(Clone)]
pub struct DynPublisher {
    handle: StreamHandle,
}

impl std::fmt::Debug for DynPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynPublisher")
            .field("topic", &self.handle.topic)
            .field("schema_id", &self.handle.schema_id)
            .finish()
    }
}

impl DynPublisher {
    pub(crate) fn new(handle: StreamHandle) -> Self {
        Self { handle }
    }

    /// The stream's topic.
    pub fn topic(&self) -> &TopicName {
        &self.handle.topic
    }

    /// The registry id of the value schema.
    pub fn schema_id(&self) -> SchemaId {
        self.handle.schema_id
    }

    /// The value schema.
    pub fn schema(&self) -> &AvroSchema {
        &self.handle.schema
    }

    /// Checks `event` and frames it as a Confluent wire-format payload, without sending.
    /// A refusal lists every violation.
    pub fn encode(&self, event: &Value) -> Result<Vec<u8>> {
        self.handle
            .frame(|schema, out| schema.encode_into(event, out))
    }

    fn encoded(&self, event: &Value) -> Result<Encoded> {
        self.handle.encoded(
            event,
            |schema, event, out| schema.encode_into(event, out),
            key_of_value,
        )
    }

    /// Checks, encodes and sends one event; resolves when the broker acknowledged it.
    #[instrument(skip_all, fields(topic = %self.handle.topic))]
    pub async fn send(&self, event: &Value) -> Result<Delivery> {
        self.handle.send_one(self.encoded(event)?).await
    }

    /// Checks every event, then sends them all; if any is refused, none is sent.
    #[instrument(skip_all, fields(topic = %self.handle.topic, events = events.len()))]
    pub async fn send_batch(&self, events: &[Value]) -> Result<Vec<Delivery>> {
        let encoded = events
            .iter()
            .map(|e| self.encoded(e))
            .collect::<Result<Vec<_>>>()?;
        self.handle.send_encoded(encoded).await
    }
}
