//! The error type of the umbrella crate.

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong starting, using or stopping a mesh.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The in-process broker could not start or stopped unexpectedly.
    #[error("the in-process Kafka broker failed: {0}")]
    Broker(String),

    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] catalog::Error),

    /// A producer failed.
    #[error(transparent)]
    Producer(#[from] producer_kit::Error),

    /// A consumer failed.
    #[error(transparent)]
    Consumer(#[from] consumer_kit::Error),

    /// A name, schema or configuration problem.
    #[error(transparent)]
    Core(#[from] mesh_core::Error),

    /// A data directory could not be prepared.
    #[error("cannot prepare {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },

    /// The slice saw something other than what it sent.
    #[error("the slice went wrong at {hop}: {reason}")]
    Slice {
        /// The hop.
        hop: &'static str,
        /// What went wrong.
        reason: String,
    },
}
