//! The error type of the catalog crate: what a client sees, and what starting a server can
//! hit.

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to, or running, the catalog.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The catalog URL cannot be used.
    #[error("invalid catalog URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// Why it was refused.
        reason: String,
    },

    /// The request never got an answer (connection refused, timeout, TLS).
    #[error("catalog request {method} {path} failed: {source}")]
    Transport {
        /// The HTTP method.
        method: &'static str,
        /// The path requested.
        path: String,
        /// The cause.
        source: reqwest::Error,
    },

    /// The catalog answered with an error.
    #[error("catalog refused {method} {path}: {message} (error code {code}, HTTP {status})")]
    Api {
        /// The HTTP method.
        method: &'static str,
        /// The path requested.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The Confluent-style error code, e.g. `40401`.
        code: i64,
        /// The catalog's explanation.
        message: String,
    },

    /// The catalog answered with a body that is not what the API promises.
    #[error("catalog answered {method} {path} with an unreadable body: {reason}")]
    Decode {
        /// The HTTP method.
        method: &'static str,
        /// The path requested.
        path: String,
        /// What was wrong with it.
        reason: String,
    },

    /// A name or schema given to the client is invalid.
    #[error(transparent)]
    Core(#[from] mesh_core::Error),

    /// The catalog's database failed.
    #[cfg(feature = "server")]
    #[error("catalog storage failed to {operation}: {source}")]
    Store {
        /// What the catalog was doing.
        operation: &'static str,
        /// The cause.
        source: sqlx::Error,
    },

    /// A value stored in the catalog's database is not what the catalog writes there.
    #[cfg(feature = "server")]
    #[error("catalog storage holds an unreadable {what}: {reason}")]
    Corrupt {
        /// What was read.
        what: &'static str,
        /// What was wrong with it.
        reason: String,
    },

    /// A reply could not be encoded.
    #[cfg(feature = "server")]
    #[error("cannot encode the reply: {0}")]
    Encode(String),

    /// The catalog's database could not be migrated to this version.
    #[cfg(feature = "server")]
    #[error("catalog database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    /// A TLS certificate or key could not be used.
    #[cfg(feature = "server")]
    #[error("cannot use {} for TLS: {reason}", path.display())]
    Tls {
        /// The PEM file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },

    /// The catalog could not bind or serve its socket.
    #[error("catalog server I/O failed: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The Confluent-style error code of a refusal (`40401`, `409`, `42201`, ...).
    pub fn error_code(&self) -> Option<i64> {
        match self {
            Self::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the catalog said the thing asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether trying again later may succeed (network trouble, a 5xx answer, a rate
    /// limit).
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Api { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}
