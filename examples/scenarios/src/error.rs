//! The error type of the scenarios.

/// A `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can stop a scenario.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The local mesh failed.
    #[error(transparent)]
    Mesh(#[from] datamesh::Error),

    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] datamesh::catalog::Error),

    /// A producer failed.
    #[error(transparent)]
    Producer(#[from] datamesh::producer_kit::Error),

    /// A consumer failed.
    #[error(transparent)]
    Consumer(#[from] datamesh::consumer_kit::Error),

    /// A name, schema, contract or configuration problem.
    #[error(transparent)]
    Core(#[from] datamesh::mesh_core::Error),

    /// The NAB corpus could not be read.
    #[error(transparent)]
    Nab(#[from] crate::nab::Error),

    /// No contract is built in for this domain.
    #[error(
        "no contract for domain {0:?}: the scenarios' contracts are examples/scenarios/contracts/*.toml"
    )]
    UnknownDomain(String),

    /// A file or socket could not be used.
    #[error("cannot use {what}: {source}")]
    Io {
        /// What was being used.
        what: String,
        /// The cause.
        source: std::io::Error,
    },

    /// A stage did not finish in time.
    #[error("{stage} did not finish within {seconds} s: {progress}")]
    Timeout {
        /// The stage.
        stage: String,
        /// The limit.
        seconds: u64,
        /// How far it got.
        progress: String,
    },

    /// A consumer task ended with an error or panicked.
    #[error("{task} failed: {reason}")]
    Task {
        /// The task.
        task: String,
        /// Why.
        reason: String,
    },
}
