//! The error type of the consumer kit.

use mesh_core::ProductId;

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong consuming streams or querying products.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A message could not be decoded; its position says which, so it can be set aside.
    #[error("cannot decode {position}: {source}")]
    Decode {
        /// Where the message is.
        position: crate::handler::Position,
        /// Why: not wire format, unknown schema id, bad Avro body...
        source: crate::decoder::DecodeError,
    },

    /// The dead-letter topic cannot be created: the consumer stops rather than lose events.
    #[error("dead-letter topic {topic}: {source}")]
    DeadLetter {
        /// The topic.
        topic: mesh_core::TopicName,
        /// Why.
        source: Box<mesh_core::kafka::TopicError>,
    },

    /// A partition worker failed.
    #[error("a partition worker failed: {0}")]
    Worker(String),

    /// Shutdown cut a write short (a dead letter the broker had not acknowledged within the
    /// grace period); the event was not marked handled and is read again after a restart.
    #[error("interrupted by shutdown before the broker acknowledged a write")]
    Interrupted,

    /// A sink could not keep its promise; the table is at its last good version.
    #[error("sink into {product}: {reason}")]
    Sink {
        /// The product.
        product: ProductId,
        /// Why.
        reason: String,
    },

    /// Kafka failed.
    #[error("kafka {operation} failed: {source}")]
    Kafka {
        /// What was being done.
        operation: &'static str,
        /// The cause.
        source: rdkafka::error::KafkaError,
    },

    /// The catalog refused a request or could not be reached.
    #[error(transparent)]
    Catalog(#[from] catalog::Error),

    /// A name, schema or configuration problem.
    #[error(transparent)]
    Core(#[from] mesh_core::Error),

    /// The consumer domain holds no grant to read the product's table.
    #[error("domain {domain} holds no grant to read data product {product}; ask its owner for one")]
    NotGranted {
        /// The product.
        product: ProductId,
        /// The consumer domain.
        domain: mesh_core::DomainName,
    },

    /// The catalog token belongs to another domain than the one the consumer reads as: a
    /// consumer reads as the domain its token acts for, and grants are checked for that one.
    #[error("the catalog token acts for domain {token_domain}, not {domain}")]
    TokenOfAnotherDomain {
        /// The domain the token acts for.
        token_domain: mesh_core::DomainName,
        /// The domain the consumer was asked to read as.
        domain: mesh_core::DomainName,
    },

    /// A product has no stream to subscribe to.
    #[error("data product {product} has no stream port")]
    NoStream {
        /// The product.
        product: ProductId,
    },

    /// A product has no table to query.
    #[error("data product {product} has no table port")]
    NoTable {
        /// The product.
        product: ProductId,
    },

    /// Opening a product's Delta table failed.
    #[error("delta table of {product} at {uri}: {source}")]
    Delta {
        /// The product.
        product: ProductId,
        /// The table's URL.
        uri: String,
        /// The cause.
        source: Box<deltalake::DeltaTableError>,
    },

    /// A time to read a product at is not a time (milliseconds since the Unix epoch out of
    /// range).
    #[error("{millis} ms since the Unix epoch is not a time a table can be read at")]
    InvalidTime {
        /// The time given.
        millis: i64,
    },

    /// Query results could not become the rows asked for.
    #[error("query rows do not fit the type asked for: {0}")]
    Rows(String),

    /// A query failed to plan or run.
    #[error("query failed: {0}")]
    Query(#[from] deltalake::datafusion::error::DataFusionError),
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
    /// Whether trying again may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Catalog(e) => e.is_retriable(),
            Self::Kafka { .. } => true,
            _ => false,
        }
    }
}
