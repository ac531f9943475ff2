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

    /// A snapshot committed no new version (a merge of no rows): the table and the catalog
    /// are as they were.
    #[error("the snapshot of {product} committed no new version")]
    NoNewVersion {
        /// The product.
        product: ProductId,
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

    /// Some events of a send were not acknowledged by the broker within the delivery
    /// timeout (`message.timeout.ms`, two minutes by default) or were refused by it; the
    /// others were delivered. See [`Undelivered`].
    #[error(transparent)]
    Undelivered(Box<Undelivered>),

    /// A topic could not be created.
    #[error("cannot create topic {topic}: {source}")]
    TopicCreation {
        /// The topic.
        topic: TopicName,
        /// Why.
        source: Box<mesh_core::kafka::TopicError>,
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

    /// A snapshot was committed to the product's table, but the catalog could not be told
    /// (after retrying). The data is in the table: do not write it again. The catalog learns
    /// of this version with the product's next write.
    #[error(
        "{product}: table version {version} was committed, but the catalog was not told: {source}"
    )]
    Unregistered {
        /// The product.
        product: ProductId,
        /// The committed Delta version.
        version: i64,
        /// Why the registration failed.
        source: Box<Error>,
    },

    /// The producer was shut down while an event waited.
    #[error("the producer is closed")]
    Closed,
}

impl From<mesh_core::lake::TableError> for Error {
    fn from(e: mesh_core::lake::TableError) -> Self {
        Self::Delta {
            product: e.product,
            uri: e.uri,
            source: e.source,
        }
    }
}

impl Error {
    /// The validation failure, when an event was refused for its content.
    pub fn validation(&self) -> Option<&ValidationError> {
        match self {
            Self::InvalidEvent { source, .. } => Some(source),
            _ => None,
        }
    }

    /// Whether the write this error reports was committed anyway (only the catalog's
    /// registration failed): repeating it would write the data twice.
    pub fn is_committed(&self) -> bool {
        matches!(self, Self::Unregistered { .. })
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
            Self::Undelivered(u) => u.source.rdkafka_error_code().is_some_and(|c| {
                matches!(
                    c,
                    Code::QueueFull | Code::MessageTimedOut | Code::RequestTimedOut
                )
            }),
            _ => false,
        }
    }
}

/// Events of a send the broker did not acknowledge. An undelivered event may still have
/// reached the broker (its acknowledgement was lost): re-sending it may store it twice.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} of {} events to {topic} were not delivered: {source}{}",
    undelivered.len() + unsent,
    undelivered.len() + unsent + delivered,
    if source.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::MessageTimedOut) {
        " (the broker did not acknowledge them within the delivery timeout; is it reachable?)"
    } else {
        ""
    }
)]
#[non_exhaustive]
pub struct Undelivered {
    /// The stream's topic.
    pub topic: TopicName,
    /// The `mesh-event-id` of each event sent but not delivered, in the order given.
    pub undelivered: Vec<uuid::Uuid>,
    /// How many events of the send were delivered.
    pub delivered: usize,
    /// Events of a large batch after the failed slice: never handed to Kafka.
    pub unsent: usize,
    /// The first failure.
    pub source: rdkafka::error::KafkaError,
}
