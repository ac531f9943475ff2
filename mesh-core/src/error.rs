//! The error type of `mesh-core`.

use std::path::PathBuf;

use crate::avro::ValidationError;
use crate::names::NameKind;
use crate::wire::WireError;

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the shared model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A domain, stream, product, topic or subject name broke the naming rules.
    #[error("invalid {kind} name {name:?}: {reason}")]
    InvalidName {
        /// What the name was meant to name.
        kind: NameKind,
        /// The refused name.
        name: String,
        /// Why it was refused.
        reason: String,
    },

    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },

    /// A schema is not valid Avro.
    #[error("schema {origin} is not valid Avro: {source}")]
    SchemaParse {
        /// Where the schema came from (a file path or a description).
        origin: String,
        /// The parser's complaint.
        source: Box<apache_avro::Error>,
    },

    /// A schema parsed but cannot be used where it was given.
    #[error("schema {origin} cannot be used: {reason}")]
    SchemaUnusable {
        /// Where the schema came from.
        origin: String,
        /// Why it cannot be used.
        reason: String,
    },

    /// A value does not conform to its schema.
    #[error(transparent)]
    Invalid(#[from] ValidationError),

    /// A value conformed but Avro could not encode or decode it.
    #[error("avro {operation} failed for schema {schema}: {source}")]
    Avro {
        /// `encode` or `decode`.
        operation: &'static str,
        /// The schema's full name.
        schema: String,
        /// The codec's complaint.
        source: Box<apache_avro::Error>,
    },

    /// An Avro body is not a valid datum of its schema.
    #[error(transparent)]
    Decode(#[from] crate::avro::DecodeError),

    /// A payload is not in the Confluent wire format.
    #[error(transparent)]
    Wire(#[from] WireError),

    /// JSON could not be read or written.
    #[error("invalid JSON in {what}: {source}")]
    Json {
        /// What was being read or written.
        what: String,
        /// The cause.
        source: serde_json::Error,
    },

    /// A domain contract is invalid.
    #[error("invalid contract {origin}: {reason}")]
    Contract {
        /// The contract file.
        origin: String,
        /// What is wrong, naming the entry.
        reason: String,
    },

    /// The mesh configuration is invalid.
    #[error("invalid configuration{}: {reason}", origin.as_ref().map(|o| format!(" in {o}")).unwrap_or_default())]
    Config {
        /// The file or variable the bad setting came from, when known.
        origin: Option<String>,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    /// The field path and reason of each violation, when this is a validation error.
    pub fn validation(&self) -> Option<&ValidationError> {
        match self {
            Self::Invalid(v) => Some(v),
            _ => None,
        }
    }
}
