//! What a consumer domain writes: a [`Handler`] of decoded events.

use std::future::Future;

use mesh_core::apache_avro::types::Value;
use serde::de::DeserializeOwned;

use crate::decoder::DecodeError;

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

/// Where an event sits in Kafka.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Position {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]@{}", self.topic, self.partition, self.offset)
    }
}

/// One decoded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<T> {
    /// Where it came from.
    pub position: Position,
    /// The key bytes, if any.
    pub key: Option<Vec<u8>>,
    /// The registry id of the schema it was written with.
    pub schema_id: mesh_core::SchemaId,
    /// The mesh's headers.
    pub meta: EventMeta,
    /// The broker's timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: Option<i64>,
    /// The value, in the handler's type.
    pub value: T,
}

impl<T> Event<T> {
    /// The key as UTF-8 text, if it is.
    pub fn key_str(&self) -> Option<&str> {
        self.key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
    }
}

impl Event<Value> {
    /// A field of a record value by name.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match &self.value {
            Value::Record(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// A handler's failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HandlerError {
    message: String,
    retriable: bool,
}

impl HandlerError {
    /// A failure worth retrying (a downstream service timed out, say). The event is retried
    /// with backoff up to the subscription's retry bound, then dead-lettered.
    pub fn retry(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retriable: true,
        }
    }

    /// A failure no retry will fix (the event is poison): it is dead-lettered at once.
    pub fn poison(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retriable: false,
        }
    }

    /// Whether it is worth retrying.
    pub fn is_retriable(&self) -> bool {
        self.retriable
    }
}

/// The values a handler can take: any serde type (decoded from the Avro value), or the Avro
/// value itself.
pub trait FromAvro: Sized + Send + 'static {
    /// Converts a decoded value.
    fn from_avro(value: Value) -> Result<Self, String>;
}

impl FromAvro for Value {
    fn from_avro(value: Value) -> Result<Self, String> {
        Ok(value)
    }
}

/// A serde type decoded from the Avro value: `Handler<Value = Serde<Played>>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Serde<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromAvro for Serde<T> {
    fn from_avro(value: Value) -> Result<Self, String> {
        mesh_core::apache_avro::from_value::<T>(&value)
            .map(Serde)
            .map_err(|e| e.to_string())
    }
}

/// Handles a subscription's events.
///
/// Delivery is at least once: an event's offset is committed only after `handle` returned
/// `Ok` (or the event was dead-lettered), so after a crash or a rebalance an event may be
/// handled again; handlers should be idempotent or deduplicate on
/// [`EventMeta::event_id`]. Events of one partition are handled in order, one at a time;
/// partitions are handled concurrently up to the subscription's bound.
///
/// Cancellation: on shutdown no new event is started; events in flight finish (and are
/// committed) before the subscription ends.
pub trait Handler: Send + Sync + 'static {
    /// The type events are decoded into.
    type Value: FromAvro;

    /// Handles one event.
    fn handle(
        &self,
        event: Event<Self::Value>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Called when a message could not be decoded (it is dead-lettered and skipped).
    fn on_decode_error(&self, position: &Position, error: &DecodeError) {
        let _ = (position, error);
    }

    /// Called when an event is sent to the dead-letter topic.
    fn on_dead_letter(&self, position: &Position, reason: &str) {
        let _ = (position, reason);
    }

    /// Called when a subscription without dead letters passes over an event it would have
    /// dead-lettered (see `Subscribe::without_dead_letters`).
    fn on_skipped(&self, position: &Position, reason: &str) {
        let _ = (position, reason);
    }

    /// Called after partitions were assigned or revoked (offsets of revoked partitions are
    /// committed before this runs).
    fn on_rebalance(&self, assigned: &[(String, i32)], revoked: &[(String, i32)]) {
        let _ = (assigned, revoked);
    }
}
