//! How the service answers errors: one type, mapped once. Clients see Confluent's body
//! (`{"error_code": 40401, "message": "..."}`); logs see the cause.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::Error;
use crate::model::registry::{CONTENT_TYPE, ErrorBody};

/// An error answer of the catalog.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: i64,
    message: String,
    /// Seconds after which a retry may succeed (`Retry-After`), for 429 and 503.
    retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: i64, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The same answer with a `Retry-After` header.
    pub(crate) fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// 503: the catalog cannot answer now (its database is unreachable or busy); retrying
    /// shortly may work.
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, 50301, message).retry_after(1)
    }

    /// 40401: the subject does not exist.
    pub(crate) fn subject_not_found(subject: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40401,
            format!("Subject '{subject}' not found."),
        )
    }

    /// 40402: the subject has no such version.
    pub(crate) fn version_not_found(subject: &str, version: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40402,
            format!("Version {version} not found for subject '{subject}'."),
        )
    }

    /// 40403: no schema has that id, or the subject does not hold that schema.
    pub(crate) fn schema_not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, 40403, what)
    }

    /// 42201: the schema is not valid.
    pub(crate) fn invalid_schema(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, 42201, reason)
    }

    /// 42202: the version is not a positive integer or `latest`.
    pub(crate) fn invalid_version(version: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42202,
            format!(
                "The specified version '{version}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""
            ),
        )
    }

    /// 422: the request body cannot be read.
    pub(crate) fn unprocessable(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, 422, reason)
    }

    /// 404 with a catalog code (404xx above the registry's own).
    pub(crate) fn not_found(code: i64, what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, what)
    }

    /// 409 with a catalog code.
    pub(crate) fn conflict(code: i64, what: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, what)
    }

    /// 403: the caller may not do this.
    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, 40301, message)
    }

    /// 409: the schema is incompatible with earlier versions or with the product's table.
    pub(crate) fn incompatible(subject: &str, reasons: &[String]) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            409,
            format!(
                "Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}]",
                reasons.join("; ")
            ),
        )
    }

    /// 42203: not a compatibility level.
    pub(crate) fn invalid_compatibility(level: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42203,
            format!(
                "Invalid compatibility level: {level:?}. Valid values are BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE, NONE"
            ),
        )
    }

    /// 42204: not a mode.
    pub(crate) fn invalid_mode(mode: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42204,
            format!("Invalid mode: {mode:?}. Valid values are READWRITE, READONLY, IMPORT"),
        )
    }

    /// 42205: the subject or registry does not allow this in its mode.
    pub(crate) fn operation_not_permitted(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, 42205, message)
    }

    /// 42206: other schemas reference this one.
    pub(crate) fn referenced(ids: &[crate::model::SchemaId]) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42206,
            format!("One or more references exist to the schema: schema ids {ids:?}"),
        )
    }

    /// 413: the request body is too large.
    pub(crate) fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            41301,
            format!("The request body is larger than {limit} bytes."),
        )
    }

    /// 401: no bearer token, or one the catalog does not know; the message says which, so a
    /// caller knows whether to send a token or to get a new one.
    pub(crate) fn unauthorized(token_sent: bool) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            40101,
            if token_sent {
                "The bearer token is not one this catalog knows: revoked, mistyped, or issued by another catalog."
            } else {
                "This request needs a bearer token (Authorization: Bearer <token>)."
            },
        )
    }
}

/// Whether a database error is the database being away or busy (a restart, a network cut,
/// a full pool, SQLite's lock), which a retry may get past, rather than a fault.
fn unavailable(source: &sqlx::Error) -> bool {
    match source {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(e) => e.code().is_some_and(|code| {
            // Postgres: connection exceptions (08xxx), shutting down or starting up (57P0x),
            // too many connections (53300); SQLite: busy (5) and locked (6).
            code.starts_with("08")
                || code.starts_with("57P")
                || code == "53300"
                || code == "5"
                || code == "6"
        }),
        _ => false,
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        match err {
            Error::Core(e) => Self::unprocessable(e.to_string()),
            Error::Store { operation, source } if unavailable(&source) => {
                tracing::warn!(operation, error = %source, "the catalog's database is unavailable");
                Self::unavailable("The catalog's database is unavailable; retry shortly.")
            }
            other => {
                // The cause goes to the log, never to the client.
                tracing::error!(error = %other, "catalog request failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    50001,
                    "Error in the backend data store.",
                )
            }
        }
    }
}

impl From<mesh_core::Error> for ApiError {
    fn from(err: mesh_core::Error) -> Self {
        Self::unprocessable(err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error_code: self.code,
            message: self.message,
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response =
            (self.status, [(header::CONTENT_TYPE, CONTENT_TYPE)], json).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        response
    }
}

/// A handler's result.
pub(crate) type ApiResult<T> = Result<T, ApiError>;
