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
    #[error("wrong magic byte {found:#04x}: not Confluent wire format (expected 0x00)")]
    BadMagic {
        /// The byte found.
        found: u8,
    },
}

/// Writes the header for `schema_id` to `out`; the Avro body follows it.
pub fn write_header(schema_id: u32, out: &mut Vec<u8>) {
    out.push(MAGIC_BYTE);
    out.extend_from_slice(&schema_id.to_be_bytes());
}

/// Splits a framed payload into its schema id and Avro body.
pub fn split(payload: &[u8]) -> Result<(u32, &[u8]), WireError> {
    match payload {
        [] => Err(WireError::Empty),
        [MAGIC_BYTE, a, b, c, d, body @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), body)),
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
        write_header(0x0102_0304, &mut buf);
        buf.extend_from_slice(b"body");
        assert_eq!(buf[..5], [0, 1, 2, 3, 4]);
        assert_eq!(split(&buf)?, (0x0102_0304, &b"body"[..]));
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
                .contains("wrong magic byte 0x07")
        );
    }
}
