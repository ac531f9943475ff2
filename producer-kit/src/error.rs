//! The error type of the producer kit.

use mesh_core::{ProductId, TopicName, ValidationError};

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong publishing events or snapshots.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An event does not conform to its stream's schema; nothing was sent.
    #[error("event for {topic} refused before sending: {source}")]
    InvalidEvent {
        /// The stream's topic.
        topic: TopicName,
        /// Every violation, with its field path.
        source: ValidationError,
    },

    /// Kafka refused or lost a message, or a client could not be built.
    #[error("kafka {operation} failed for {topic}: {source}")]
    Kafka {
        /// What was being done: `send`, `create topic`, `connect`.
        operation: &'static str,
        /// The topic involved (or `*` for client-wide failures).
        topic: String,
        /// The cause.
        source: rdkafka::error::KafkaError,
    },

    /// A topic could not be created.
    #[error("cannot create topic {topic}: {reason}")]
    TopicCreation {
        /// The topic.
        topic: TopicName,
        /// Why.
        reason: String,
    },

    /// The catalog refused a registration or could not be reached.
    #[error(transparent)]
    Catalog(#[from] catalog::Error),

    /// A name, schema or encoding problem.
    #[error(transparent)]
    Core(#[from] mesh_core::Error),

    /// Writing or reading a product's Delta table failed; the table is at its last good
    /// version.
    #[error("delta table of {product} at {uri}: {source}")]
    Delta {
        /// The product.
        product: ProductId,
        /// The table's URL.
        uri: String,
        /// The cause.
        source: Box<deltalake::DeltaTableError>,
    },
}

impl Error {
    /// The validation failure, when an event was refused for its content.
    pub fn validation(&self) -> Option<&ValidationError> {
        match self {
            Self::InvalidEvent { source, .. } => Some(source),
            _ => None,
        }
    }

    /// Whether trying again may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Catalog(e) => e.is_retriable(),
            Self::Kafka { source, .. } => source.rdkafka_error_code().is_some_and(|c| {
                matches!(
                    c,
                    rdkafka::types::RDKafkaErrorCode::QueueFull
                        | rdkafka::types::RDKafkaErrorCode::MessageTimedOut
                        | rdkafka::types::RDKafkaErrorCode::RequestTimedOut
                )
            }),
            _ => false,
        }
    }
}
