//! The catalog service: the governance API under `/api/v1`, the Confluent schema-registry
//! API at the root, and the operational endpoints `/healthz`, `/readyz` and `/metrics`.
//!
//! [`Catalog::open`] opens the store; [`Catalog::router`] is the whole service as an axum
//! `Router` (tests call it without a socket); [`Catalog::serve`] runs it on a listener
//! until a shutdown future resolves, then drains in-flight requests.

mod auth;
mod error;
mod governance;
mod metrics;
mod openapi;
mod ratelimit;
mod registry;
mod security;
mod serve;
pub(crate) mod store;
mod validate;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;

use crate::error::Result;
use crate::model::registry::CONTENT_TYPE;
use error::{ApiError, ApiResult};
pub use ratelimit::RateLimit;
pub use serve::ServeOptions;
use store::Store;

/// The largest request body accepted. Schemas may be up to [`MAX_SCHEMA_BYTES`]; the rest is
/// room for the JSON around them.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// The largest schema text accepted.
pub const MAX_SCHEMA_BYTES: usize = 1024 * 1024;

/// Who may change the catalog.
#[derive(Clone)]
#[non_exhaustive]
pub enum Auth {
    /// No authentication: every request may read and write. For local development only.
    Disabled,
    /// Every request needs a bearer token: this admin token, or one the catalog issued
    /// (admin or per domain; stored hashed).
    AdminToken(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Disabled => f.write_str("Disabled"),
            Self::AdminToken(_) => f.write_str("AdminToken(<redacted>)"),
        }
    }
}

/// A running catalog's shared state.
#[derive(Debug, Clone)]
pub struct Catalog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    auth: Auth,
    metrics: metrics::Metrics,
    /// Permits for CPU-heavy work (parsing and checking schemas): one per core, so such
    /// work queues instead of taking every core from the requests that wait on I/O.
    heavy: tokio::sync::Semaphore,
    /// Requests per second per caller, when limited.
    limiter: Option<ratelimit::Limiter>,
}

impl Catalog {
    /// Opens (and migrates) the database at `database_url` and prepares the service.
    pub async fn open(database_url: &str, auth: Auth) -> Result<Self> {
        let store = Store::open(database_url).await?;
        Ok(Self::with_store(store, auth))
    }

    /// A service over an already opened store.
    fn with_store(store: Store, auth: Auth) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                auth,
                metrics: metrics::Metrics::default(),
                heavy: tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
                ),
                limiter: None,
            }),
        }
    }

    /// The same service, limiting each caller (bearer token, or client address without
    /// one) to `limit`: past it requests get 429 with `Retry-After`, counted in `/metrics`
    /// as `mesh_catalog_rate_limited_total`. Call before serving.
    #[must_use]
    pub fn with_rate_limit(self, limit: RateLimit) -> Self {
        Self {
            inner: Arc::new(Inner {
                store: self.inner.store.clone(),
                auth: self.inner.auth.clone(),
                metrics: metrics::Metrics::default(),
                heavy: tokio::sync::Semaphore::new(self.inner.heavy.available_permits().max(1)),
                limiter: Some(ratelimit::Limiter::new(limit)),
            }),
        }
    }

    /// The store behind the service.
    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn auth(&self) -> &Auth {
        &self.inner.auth
    }

    pub(crate) fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }

    pub(crate) fn limiter(&self) -> Option<&ratelimit::Limiter> {
        self.inner.limiter.as_ref()
    }

    /// Runs CPU-heavy work (parsing, compatibility checks) on the blocking pool, at most one
    /// job per core at a time: the async workers stay free to answer everything else
    /// (`/healthz` included) while a wide schema is checked.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> ApiResult<T> {
        let _permit = self.inner.heavy.acquire().await.map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                50301,
                "The catalog is shutting down.",
            )
        })?;
        tokio::task::spawn_blocking(work).await.map_err(|e| {
            tracing::error!(error = %e, "schema work failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                50001,
                "The schema could not be checked.",
            )
        })
    }

    /// The whole service as a router.
    pub fn router(&self) -> Router {
        let (router, document) = Self::api().finish();
        let document = Arc::new(document);
        router
            .route(
                "/openapi.json",
                get(move || openapi_json(Arc::clone(&document))),
            )
            .fallback(not_found)
            // Layers run outermost last-added: authentication, then the caller's rate limit.
            .layer(middleware::from_fn_with_state(
                self.clone(),
                ratelimit::limit,
            ))
            .layer(middleware::from_fn_with_state(
                self.clone(),
                auth::authenticate,
            ))
            .route_layer(middleware::from_fn_with_state(self.clone(), metrics::track))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(self.clone())
    }

    /// Every route, with its description.
    fn api() -> openapi::Api {
        const TAG: &str = "operations";
        openapi::Api::new()
            .get(
                "/healthz",
                healthz,
                openapi::Doc::new(TAG, "The process is up"),
            )
            .get(
                "/readyz",
                readyz,
                openapi::Doc::new(TAG, "The catalog can answer: its database does"),
            )
            .get(
                "/metrics",
                metrics_text,
                openapi::Doc::new(TAG, "Prometheus metrics"),
            )
            .merge(registry::routes())
            .nest("/api/v1", governance::routes().merge(security::routes()))
    }

    /// The OpenAPI document of the service.
    pub fn openapi() -> serde_json::Value {
        Self::api().finish().1
    }

    /// Serves on `listener` with [`ServeOptions::default`] until `shutdown` resolves, then
    /// finishes in-flight requests (within the drain timeout) and closes the database.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        self.serve_with(listener, ServeOptions::default(), shutdown)
            .await
    }

    /// [`Catalog::serve`] with chosen limits, timeouts and TLS.
    pub async fn serve_with(
        self,
        listener: TcpListener,
        options: ServeOptions,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        serve::serve(self.router(), listener, options, shutdown).await?;
        self.inner.store.close().await;
        Ok(())
    }
}

/// The process is up.
async fn healthz() -> Response {
    reply(StatusCode::OK, &serde_json::json!({ "status": "ok" }))
}

/// The service can answer: its database does.
async fn readyz(State(catalog): State<Catalog>) -> ApiResult<Response> {
    catalog.store().ping().await?;
    Ok(reply(
        StatusCode::OK,
        &serde_json::json!({ "status": "ready" }),
    ))
}

async fn metrics_text(State(catalog): State<Catalog>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        catalog.metrics().render(),
    )
        .into_response()
}

async fn openapi_json(document: Arc<serde_json::Value>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        document.to_string(),
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, 404, "No such resource.")
}

/// A JSON answer with the registry's media type.
pub(crate) fn reply<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(json) => (status, [(header::CONTENT_TYPE, CONTENT_TYPE)], json).into_response(),
        Err(e) => ApiError::from(crate::Error::Encode(e.to_string())).into_response(),
    }
}

/// A JSON request body. Unlike axum's `Json`, it accepts any content type (Confluent
/// clients send `application/vnd.schemaregistry.v1+json`, some send none) and answers
/// failures with Confluent-style bodies: 422 for bodies that do not parse or break the
/// body's own rules ([`validate`]), 413 for bodies over [`MAX_BODY_BYTES`].
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T: DeserializeOwned + validate::Validate, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::too_large(MAX_BODY_BYTES)
                } else {
                    ApiError::unprocessable(format!("Cannot read the request body: {rejection}"))
                }
            })?;
        let body: T = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::unprocessable(format!("Invalid request body: {e}")))?;
        body.validate()
            .map_err(|reason| ApiError::unprocessable(format!("Invalid request body: {reason}")))?;
        Ok(JsonBody(body))
    }
}
