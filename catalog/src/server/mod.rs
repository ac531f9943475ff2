//! The catalog service: the governance API under `/api/v1`, the Confluent schema-registry
//! API at the root, and `/healthz`.
//!
//! [`Catalog::open`] opens the store; [`Catalog::router`] is the whole service as an axum
//! `Router` (tests call it without a socket); [`Catalog::serve`] runs it on a listener
//! until a shutdown future resolves.

mod error;
mod governance;
mod registry;
pub mod store;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;

use crate::error::Result;
use crate::model::registry::CONTENT_TYPE;
use error::{ApiError, ApiResult};
pub use store::{Backend, Store};

/// Who may change the catalog.
#[derive(Clone)]
#[non_exhaustive]
pub enum Auth {
    /// No authentication: every request may read and write. For local development only.
    Disabled,
    /// Mutations need `Authorization: Bearer <token>` with this admin token; reads are open.
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
}

impl Catalog {
    /// Opens (and migrates) the database at `database_url` and prepares the service.
    pub async fn open(database_url: &str, auth: Auth) -> Result<Self> {
        let store = Store::open(database_url).await?;
        Ok(Self::with_store(store, auth))
    }

    /// A service over an already opened store.
    pub fn with_store(store: Store, auth: Auth) -> Self {
        Self {
            inner: Arc::new(Inner { store, auth }),
        }
    }

    /// The store behind the service.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The whole service as a router.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/healthz", get(healthz))
            .merge(registry::routes())
            .nest("/api/v1", governance::routes())
            .layer(middleware::from_fn_with_state(self.clone(), authenticate))
            .with_state(self.clone())
    }

    /// Serves on `listener` until `shutdown` resolves, then finishes in-flight requests
    /// and closes the database.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let app = self.router();
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await?;
        self.inner.store.close().await;
        Ok(())
    }
}

async fn healthz(State(catalog): State<Catalog>) -> ApiResult<Response> {
    catalog.store().ping().await?;
    Ok(reply(
        StatusCode::OK,
        &serde_json::json!({ "status": "ok" }),
    ))
}

/// Compares without leaking where two tokens differ.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

async fn authenticate(State(catalog): State<Catalog>, request: Request, next: Next) -> Response {
    let reading = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    match &catalog.inner.auth {
        Auth::Disabled => {}
        Auth::AdminToken(_) if reading => {}
        Auth::AdminToken(expected) => {
            let given = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            if !given.is_some_and(|g| same_token(g, expected)) {
                return ApiError::unauthorized().into_response();
            }
        }
    }
    next.run(request).await
}

/// A JSON answer with the registry's media type.
pub(crate) fn reply<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(json) => (status, [(header::CONTENT_TYPE, CONTENT_TYPE)], json).into_response(),
        Err(e) => ApiError::from(crate::Error::Decode {
            method: "reply",
            path: String::new(),
            reason: e.to_string(),
        })
        .into_response(),
    }
}

/// Reads a JSON request body; bodies that do not parse get a 422 saying why.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::unprocessable(format!("Invalid request body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "abcd"));
        assert!(!same_token("", "a"));
    }
}
