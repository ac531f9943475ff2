//! The Confluent wire format: magic byte `0`, the schema id as 4 big-endian bytes, then the
//! Avro binary body. Every Confluent serializer and deserializer speaks it.

/// The Kafka headers the mesh's producers set on every event.
pub mod headers {
    /// A UUID per event, for deduplication and tracing.
    pub const EVENT_ID: &str = "mesh-event-id";
    /// The domain that produced the event.
    pub const PRODUCER_DOMAIN: &str = "mesh-producer-domain";
    /// The registry id of the writer schema, as decimal text (also in the payload header).
    pub const SCHEMA_ID: &str = "mesh-schema-id";
    /// When the producer handed the event over, in milliseconds since the Unix epoch, as
    /// decimal text.
    pub const PRODUCED_AT: &str = "mesh-produced-at";
    /// W3C trace context, when the producer has one.
    pub const TRACEPARENT: &str = "traceparent";
    /// On a dead letter: the topic the message came from.
    pub const DLQ_SOURCE_TOPIC: &str = "mesh-dlq-source-topic";
    /// On a dead letter: its partition.
    pub const DLQ_SOURCE_PARTITION: &str = "mesh-dlq-source-partition";
    /// On a dead letter: its offset.
    pub const DLQ_SOURCE_OFFSET: &str = "mesh-dlq-source-offset";
    /// On a dead letter: a short, stable name of the cause (`wrong-magic-byte`,
    /// `unknown-schema-id`, `undecodable-body`, `handler-failed`, ...).
    pub const DLQ_CAUSE: &str = "mesh-dlq-cause";
    /// On a dead letter: the error, for people.
    pub const DLQ_ERROR: &str = "mesh-dlq-error";
}

/// A schema's id in the registry: global, stable, never reused, and what the wire format
/// carries in front of every body. The catalog hands out ids from 1 to 2^31-1 (Confluent
/// clients keep them in a signed 32-bit integer).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct SchemaId(pub u32);

impl SchemaId {
    /// The id as a number.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl std::fmt::Display for SchemaId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for SchemaId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self)
    }
}

impl From<u32> for SchemaId {
    fn from(id: u32) -> Self {
        Self(id)
    }
}

impl From<SchemaId> for u32 {
    fn from(id: SchemaId) -> Self {
        id.0
    }
}

impl From<SchemaId> for i64 {
    fn from(id: SchemaId) -> Self {
        i64::from(id.0)
    }
}

impl TryFrom<i64> for SchemaId {
    type Error = std::num::TryFromIntError;

    fn try_from(id: i64) -> Result<Self, Self::Error> {
        u32::try_from(id).map(Self)
    }
}

/// Described as the number it is, inline: the API's JSON is the same as with a bare integer.
#[cfg(feature = "schemars")]
impl schemars::JsonSchema for SchemaId {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        u32::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        u32::json_schema(generator)
    }
}

/// The first byte of every framed payload.
pub const MAGIC_BYTE: u8 = 0;

/// Length of the header before the Avro body.
pub const HEADER_LEN: usize = 5;

/// A payload that is not in the Confluent wire format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The message had no payload at all.
    #[error("the payload is empty (a tombstone or a foreign producer)")]
    Empty,
    /// Fewer bytes than the header needs.
    #[error("the payload has {len} bytes, fewer than the {HEADER_LEN}-byte Confluent header")]
    TooShort {
        /// Bytes present.
        len: usize,
    },
    /// The first byte is not the Confluent magic byte.
    #[error("the first byte is {found:#04x}, not the magic byte 0x00")]
    BadMagic {
        /// The byte found.
        found: u8,
    },
}

/// Writes the header for `schema_id` to `out`; the Avro body follows it.
pub fn write_header(schema_id: SchemaId, out: &mut Vec<u8>) {
    out.push(MAGIC_BYTE);
    out.extend_from_slice(&schema_id.0.to_be_bytes());
}

/// Splits a framed payload into its schema id and Avro body.
pub fn split(payload: &[u8]) -> Result<(SchemaId, &[u8]), WireError> {
    match payload {
        [] => Err(WireError::Empty),
        [MAGIC_BYTE, a, b, c, d, body @ ..] => {
            Ok((SchemaId(u32::from_be_bytes([*a, *b, *c, *d])), body))
        }
        [MAGIC_BYTE, ..] => Err(WireError::TooShort { len: payload.len() }),
        [found, ..] => Err(WireError::BadMagic { found: *found }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_splits() -> Result<(), WireError> {
        let mut buf = Vec::new();
        write_header(SchemaId(0x0102_0304), &mut buf);
        buf.extend_from_slice(b"body");
        assert_eq!(buf[..5], [0, 1, 2, 3, 4]);
        assert_eq!(split(&buf)?, (SchemaId(0x0102_0304), &b"body"[..]));
        Ok(())
    }

    #[test]
    fn refuses_what_is_not_framed() {
        assert_eq!(split(&[]), Err(WireError::Empty));
        assert_eq!(split(&[0, 0, 1]), Err(WireError::TooShort { len: 3 }));
        assert_eq!(
            split(&[7, 0, 0, 0, 1]),
            Err(WireError::BadMagic { found: 7 })
        );
        assert!(
            split(&[7])
                .unwrap_err()
                .to_string()
                .contains("the first byte is 0x07, not the magic byte")
        );
    }
}
