//! The error type of the producer kit.

use mesh_core::{DomainName, ProductId, Subject, TopicName, ValidationError};

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong applying a contract, publishing events or writing snapshots.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An event does not conform to its stream's schema; nothing was sent.
    #[error("event for {topic} refused before sending: {source}")]
    InvalidEvent {
        /// The stream's topic.
        topic: TopicName,
        /// The violation(s), with field paths.
        source: ValidationError,
    },

    /// The catalog refused the contract: some schema change would break a consumer or a
    /// product's table. Nothing was changed.
    #[error("the contract of domain {domain} was refused: {}", reasons.join("; "))]
    ContractRefused {
        /// The domain.
        domain: DomainName,
        /// Every reason, prefixed with its subject.
        reasons: Vec<String>,
    },

    /// The catalog refused a schema as incompatible.
    #[error("schema for {subject} refused: {}", reasons.join("; "))]
    Incompatible {
        /// The subject.
        subject: Subject,
        /// The catalog's reasons.
        reasons: Vec<String>,
    },

    /// The contract has no such stream.
    #[error("domain {domain} declares no stream {stream:?} in its contract")]
    UnknownStream {
        /// The domain.
        domain: DomainName,
        /// The stream asked for.
        stream: String,
    },

    /// The contract has no such product.
    #[error("domain {domain} declares no data product {product:?} in its contract")]
    UnknownProduct {
        /// The domain.
        domain: DomainName,
        /// The product asked for.
        product: String,
    },

    /// A snapshot's rows do not fit the product's schema; nothing was written.
    #[error("rows for {product} refused: {reason}")]
    InvalidRows {
        /// The product.
        product: ProductId,
        /// Why.
        reason: String,
    },

    /// A serde row could not be turned into an Avro value.
    #[error("row {row} cannot be converted: {reason}")]
    RowConversion {
        /// The row's position.
        row: usize,
        /// Why.
        reason: String,
    },

    /// Kafka refused or lost a message, or a client could not be built.
    #[error("kafka {operation} failed for {topic}: {source}")]
    Kafka {
        /// What was being done: `send`, `deliver`, `create topic`, ...
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

    /// A name, schema, contract or configuration problem.
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

    /// The producer was shut down while an event waited.
    #[error("the producer is closed")]
    Closed,
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
        use rdkafka::types::RDKafkaErrorCode as Code;
        match self {
            Self::Catalog(e) => e.is_retriable(),
            Self::Kafka { source, .. } => source.rdkafka_error_code().is_some_and(|c| {
                matches!(
                    c,
                    Code::QueueFull | Code::MessageTimedOut | Code::RequestTimedOut
                )
            }),
            _ => false,
        }
    }
}
