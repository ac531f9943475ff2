//! Decoding Confluent wire-format payloads through the registry, with a schema cache.
//!
//! A writer schema is fetched once per id and kept (ids never change meaning), so a registry
//! outage does not stop decoding ids already seen. When the consumer has a reader schema
//! (the one it was built against), every event is resolved into it by Avro's rules: a
//! consumer built on v1 reads v2 events.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use catalog::CatalogClient;
use mesh_core::apache_avro::types::Value;
use mesh_core::{AvroSchema, SchemaId, wire};

/// At most this many writer schemas are cached; past it the cache starts over.
const CACHE_CAPACITY: usize = 4096;

/// Why a payload could not be decoded. The variants name the causes the dead-letter topic
/// reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not Confluent wire format: empty, too short, or a wrong magic byte.
    #[error("not Confluent wire format: {0}")]
    Wire(#[from] mesh_core::WireError),
    /// The registry has no schema with this id.
    #[error("unknown schema id {0}")]
    UnknownSchema(SchemaId),
    /// The registry could not be asked (down, timed out): worth retrying.
    #[error("registry unavailable for schema id {id}: {reason}")]
    RegistryUnavailable {
        /// The schema id.
        id: SchemaId,
        /// Why.
        reason: String,
    },
    /// The registry's schema for this id does not parse.
    #[error("schema id {id} is not usable: {reason}")]
    BadSchema {
        /// The schema id.
        id: SchemaId,
        /// Why.
        reason: String,
    },
    /// The Avro body does not decode with its writer schema (truncated, garbage).
    #[error("schema id {id}: {reason}")]
    Body {
        /// The schema id.
        id: SchemaId,
        /// Why.
        reason: String,
    },
    /// The event cannot be read as the consumer's reader schema.
    #[error("schema id {id} cannot be read as {reader}: {reason}")]
    Resolution {
        /// The writer's schema id.
        id: SchemaId,
        /// The reader schema's name.
        reader: String,
        /// Why.
        reason: String,
    },
}

impl DecodeError {
    /// A short, stable name of the cause, for the dead-letter headers and metrics.
    pub fn cause(&self) -> &'static str {
        match self {
            Self::Wire(mesh_core::WireError::BadMagic { .. }) => "wrong-magic-byte",
            Self::Wire(_) => "not-wire-format",
            Self::UnknownSchema(_) => "unknown-schema-id",
            Self::RegistryUnavailable { .. } => "registry-unavailable",
            Self::BadSchema { .. } => "bad-schema",
            Self::Body { .. } => "undecodable-body",
            Self::Resolution { .. } => "incompatible-schema",
            #[allow(unreachable_patterns)]
            _ => "undecodable",
        }
    }

    /// Whether trying again later may succeed (only a registry outage).
    pub fn is_retriable(&self) -> bool {
        matches!(self, Self::RegistryUnavailable { .. })
    }
}

/// Decodes payloads of any schema id the registry knows.
#[derive(Clone)]
pub struct Decoder {
    registry: CatalogClient,
    reader: Option<AvroSchema>,
    cache: Arc<RwLock<HashMap<SchemaId, AvroSchema>>>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("reader", &self.reader.as_ref().map(AvroSchema::full_name))
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// A decoder asking `registry` for writer schemas; events keep their writer's shape.
    pub fn new(registry: CatalogClient) -> Self {
        Self {
            registry,
            reader: None,
            cache: Arc::default(),
        }
    }

    /// Resolves every event into `reader` (the schema the consumer was built against).
    #[must_use]
    pub fn with_reader(mut self, reader: AvroSchema) -> Self {
        self.reader = Some(reader);
        self
    }

    /// The writer schema with `id`, from the cache or the registry.
    pub async fn writer_schema(&self, id: SchemaId) -> Result<AvroSchema, DecodeError> {
        if let Some(hit) = self.cache.read().ok().and_then(|c| c.get(&id).cloned()) {
            return Ok(hit);
        }
        let found = match self.registry.schema_by_id(id).await {
            Ok(found) => found,
            Err(e) if e.error_code() == Some(40403) || e.is_not_found() => {
                return Err(DecodeError::UnknownSchema(id));
            }
            Err(e) => {
                return Err(DecodeError::RegistryUnavailable {
                    id,
                    reason: e.to_string(),
                });
            }
        };
        let references = if found.references.is_empty() {
            Vec::new()
        } else {
            let mut texts = Vec::with_capacity(found.references.len());
            for r in &found.references {
                let subject = mesh_core::Subject::new(r.subject.clone()).map_err(|e| {
                    DecodeError::BadSchema {
                        id,
                        reason: e.to_string(),
                    }
                })?;
                let version = self
                    .registry
                    .version(&subject, r.version)
                    .await
                    .map_err(|e| DecodeError::RegistryUnavailable {
                        id,
                        reason: e.to_string(),
                    })?;
                texts.push(version.schema);
            }
            texts
        };
        let refs: Vec<&str> = references.iter().map(String::as_str).collect();
        let schema =
            AvroSchema::parse_with_references(&found.schema, &format!("schema id {id}"), &refs)
                .map_err(|e| DecodeError::BadSchema {
                    id,
                    reason: e.to_string(),
                })?;
        if let Ok(mut cache) = self.cache.write() {
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(id, schema.clone());
        }
        Ok(schema)
    }

    /// Decodes one payload: its schema id and its value (in the reader schema, if one is set).
    pub async fn decode(&self, payload: &[u8]) -> Result<(SchemaId, Value), DecodeError> {
        let (id, body) = wire::split(payload)?;
        let writer = self.writer_schema(id).await?;
        let value = writer.codec().decode(body).map_err(|e| DecodeError::Body {
            id,
            reason: e.to_string(),
        })?;
        match &self.reader {
            None => Ok((id, value)),
            Some(reader) => {
                reader
                    .resolve(value)
                    .map(|v| (id, v))
                    .map_err(|e| DecodeError::Resolution {
                        id,
                        reader: reader.full_name().to_owned(),
                        reason: e.to_string(),
                    })
            }
        }
    }
}
