//! Shared fixtures: a fresh catalog per test and a one-call HTTP helper.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use catalog::server::{Auth, Catalog};
use serde_json::Value;
use tower::ServiceExt;

pub(crate) type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A catalog on its own SQLite file; keep the directory alive as long as the catalog.
pub(crate) struct TestCatalog {
    pub(crate) catalog: Catalog,
    pub(crate) router: Router,
    _dir: tempfile::TempDir,
}

pub(crate) async fn catalog(
    auth: Auth,
) -> Result<TestCatalog, Box<dyn std::error::Error + Send + Sync>> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("catalog.db").display());
    let catalog = Catalog::open(&url, auth).await?;
    let router = catalog.router();
    Ok(TestCatalog {
        catalog,
        router,
        _dir: dir,
    })
}

pub(crate) async fn dev_catalog() -> Result<TestCatalog, Box<dyn std::error::Error + Send + Sync>> {
    catalog(Auth::Disabled).await
}

/// Sends one request and returns the status, the content type and the JSON body
/// (`Value::Null` when empty or not JSON).
pub(crate) async fn call(
    router: &Router,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> Result<(StatusCode, String, Value), Box<dyn std::error::Error + Send + Sync>> {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = match body {
        Some(json) => request
            .header(
                header::CONTENT_TYPE,
                "application/vnd.schemaregistry.v1+json",
            )
            .body(Body::from(serde_json::to_vec(&json)?))?,
        None => request.body(Body::empty())?,
    };
    let response = router.clone().oneshot(request).await?;
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await?;
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok((status, content_type, json))
}

pub(crate) const PLAYED_V1: &str = r#"{"type":"record","name":"Played","namespace":"mesh.test","fields":[{"name":"user_id","type":"string"},{"name":"song_id","type":"long"}]}"#;

pub(crate) const PLAYED_V2: &str = r#"{"type":"record","name":"Played","namespace":"mesh.test","fields":[{"name":"user_id","type":"string"},{"name":"song_id","type":"long"},{"name":"device","type":"string","default":"unknown"}]}"#;
