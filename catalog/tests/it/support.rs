//! Shared fixtures: a fresh catalog per test on SQLite or Postgres, and a one-call HTTP
//! helper.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use catalog::server::{Auth, Catalog};
use serde_json::Value;
use sqlx::Connection;
use tower::ServiceExt;

pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type TestResult = Result<(), Error>;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Db {
    Sqlite,
    Postgres,
}

/// The Postgres server `scripts/test` starts (`MESH_TEST_POSTGRES`, an admin URL), if any.
/// When `MESH_TEST_REQUIRE_EXTERNAL` is set a missing server fails the test.
pub(crate) fn postgres_admin_url() -> Option<String> {
    match std::env::var("MESH_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("MESH_TEST_REQUIRE_EXTERNAL").is_some() => {
            panic!(
                "a Postgres server is required: MESH_TEST_POSTGRES is not set (run scripts/test)"
            )
        }
        _ => {
            eprintln!(
                "skipped: no Postgres server (MESH_TEST_POSTGRES unset; scripts/test sets it)"
            );
            None
        }
    }
}

static DATABASES: AtomicU64 = AtomicU64::new(0);

/// A catalog on its own database; keep it alive as long as the catalog.
pub(crate) struct TestCatalog {
    pub(crate) router: Router,
    /// The database behind it, for tests that must plant rows an older build could write.
    pub(crate) url: String,
    _dir: tempfile::TempDir,
}

/// A fresh, empty database URL on `db`.
pub(crate) async fn database(db: Db, dir: &tempfile::TempDir) -> Result<Option<String>, Error> {
    Ok(match db {
        Db::Sqlite => Some(format!(
            "sqlite://{}",
            dir.path().join("catalog.db").display()
        )),
        Db::Postgres => {
            let Some(admin) = postgres_admin_url() else {
                return Ok(None);
            };
            let name = format!(
                "catalog_{}_{}",
                std::process::id(),
                DATABASES.fetch_add(1, Ordering::Relaxed)
            );
            let mut conn = sqlx::PgConnection::connect(&admin).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await?;
            conn.close().await?;
            let mut url = url::Url::parse(&admin)?;
            url.set_path(&name);
            Some(url.to_string())
        }
    })
}

pub(crate) async fn catalog(db: Db, auth: Auth) -> Result<Option<TestCatalog>, Error> {
    let dir = tempfile::tempdir()?;
    let Some(url) = database(db, &dir).await? else {
        return Ok(None);
    };
    let router = Catalog::open(&url, auth).await?.router();
    Ok(Some(TestCatalog {
        router,
        url,
        _dir: dir,
    }))
}

/// Runs each named test body (`async fn(Db) -> TestResult`) once on SQLite and once on
/// Postgres: the same suite on every backend.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> $crate::support::TestResult {
                    super::$name($crate::support::Db::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> $crate::support::TestResult {
                    super::$name($crate::support::Db::Postgres).await
                }
            )*
        }
    };
}
pub(crate) use on_every_backend;

/// Sends one request and returns the status, the content type and the JSON body
/// (`Value::Null` when empty or not JSON).
pub(crate) async fn call(
    router: &Router,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> Result<(StatusCode, String, Value), Error> {
    let body = body.map(|json| serde_json::to_vec(&json)).transpose()?;
    call_raw(router, method, path, body, token).await
}

/// Like [`call`], with the body as raw bytes.
pub(crate) async fn call_raw(
    router: &Router,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
    token: Option<&str>,
) -> Result<(StatusCode, String, Value), Error> {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = match body {
        Some(bytes) => request
            .header(
                header::CONTENT_TYPE,
                "application/vnd.schemaregistry.v1+json",
            )
            .body(Body::from(bytes))?,
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

/// The admin token of catalogs made with [`admin_catalog`].
pub(crate) const ADMIN_TOKEN: &str = "let-me-in";

/// A catalog with authentication on (admin token [`ADMIN_TOKEN`]).
pub(crate) async fn admin_catalog(db: Db) -> Result<Option<TestCatalog>, Error> {
    catalog(db, Auth::AdminToken(ADMIN_TOKEN.into())).await
}

/// Registers `domain` and issues a token acting for it.
pub(crate) async fn domain_token(router: &Router, domain: &str) -> Result<String, Error> {
    let (status, _, body) = call(
        router,
        "PUT",
        &format!("/api/v1/domains/{domain}"),
        Some(serde_json::json!({ "name": domain, "owner": format!("team-{domain}") })),
        Some(ADMIN_TOKEN),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = call(
        router,
        "POST",
        "/api/v1/tokens",
        Some(serde_json::json!({ "domain": domain, "description": "test" })),
        Some(ADMIN_TOKEN),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Ok(body["token"].as_str().ok_or("no token")?.to_owned())
}

/// A registration body for an Avro schema text.
pub(crate) fn schema_body(schema: &str) -> Value {
    serde_json::json!({ "schema": schema })
}
