//! The operational surface: probes, metrics and the OpenAPI document.

use axum::http::StatusCode;
use catalog::server::{Auth, Catalog};
use serde_json::{Value, json};

use crate::support::{Db, PLAYED_V1, TestResult, call, catalog};

#[tokio::test]
async fn probes_and_metrics_answer() -> TestResult {
    let Some(t) = catalog(Db::Sqlite, Auth::Disabled).await? else {
        return Ok(());
    };
    let r = &t.router;
    let (status, _, body) = call(r, "GET", "/healthz", None, None).await?;
    assert_eq!((status, body), (StatusCode::OK, json!({ "status": "ok" })));
    let (status, _, body) = call(r, "GET", "/readyz", None, None).await?;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({ "status": "ready" }))
    );
    call(
        r,
        "POST",
        "/subjects/m-value/versions",
        Some(json!({ "schema": PLAYED_V1 })),
        None,
    )
    .await?;
    call(r, "GET", "/schemas/ids/1", None, None).await?;
    call(r, "GET", "/schemas/ids/2", None, None).await?;

    let response = tower::ServiceExt::oneshot(
        r.clone(),
        axum::http::Request::builder()
            .uri("/metrics")
            .body(axum::body::Body::empty())?,
    )
    .await?;
    let text = String::from_utf8(
        axum::body::to_bytes(response.into_body(), 1 << 20)
            .await?
            .to_vec(),
    )?;
    for expected in [
        r#"mesh_catalog_requests_total{method="GET",route="/schemas/ids/{id}",status="200"} 1"#,
        r#"mesh_catalog_requests_total{method="GET",route="/schemas/ids/{id}",status="404"} 1"#,
        r#"mesh_catalog_requests_total{method="POST",route="/subjects/{subject}/versions",status="200"} 1"#,
        r#"mesh_catalog_request_duration_seconds_count{route="/schemas/ids/{id}"} 2"#,
    ] {
        assert!(text.contains(expected), "missing {expected} in\n{text}");
    }
    Ok(())
}

fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            &document["components"]["schemas"][r.trim_start_matches("#/components/schemas/")]
        }
        None => schema,
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() -> TestResult {
    let Some(t) = catalog(Db::Sqlite, Auth::Disabled).await? else {
        return Ok(());
    };
    let (status, _, document) = call(&t.router, "GET", "/openapi.json", None, None).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(document, Catalog::openapi());
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().ok_or("no paths")?;
    for (path, method) in [
        ("/subjects/{subject}/versions", "post"),
        ("/schemas/ids/{id}", "get"),
        (
            "/compatibility/subjects/{subject}/versions/{version}",
            "post",
        ),
        ("/config/{subject}", "put"),
        ("/api/v1/products/{id}", "put"),
        ("/api/v1/products/{id}/health", "get"),
        ("/api/v1/tokens", "post"),
        ("/readyz", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not described"
        );
    }
    assert!(paths.len() >= 30, "{} paths", paths.len());
    // Every $ref points at a schema that is there; names carry their patterns.
    let text = document.to_string();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = piece.split('"').next().unwrap_or_default();
        assert!(
            document["components"]["schemas"].get(name).is_some(),
            "dangling $ref to {name}"
        );
    }
    let body = &paths["/api/v1/products/{id}"]["put"]["requestBody"]["content"]["application/json"]
        ["schema"];
    let product = resolve(&document, body);
    let id = resolve(&document, &product["properties"]["id"]);
    assert_eq!(
        id["pattern"], "^[a-z][a-z0-9_-]*\\.[a-z][a-z0-9_-]*$",
        "{product}"
    );
    Ok(())
}

#[tokio::test]
async fn each_caller_is_rate_limited_with_retry_after() -> TestResult {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("catalog.db").display());
    let catalog = Catalog::open(&url, Auth::AdminToken(crate::support::ADMIN_TOKEN.into()))
        .await?
        .with_rate_limit(catalog::server::RateLimit {
            per_second: 0.5,
            burst: 3,
        });
    let r = catalog.router();
    // The admin's own bucket pays for setting up the domain: 2 of its 3 requests.
    let songs = crate::support::domain_token(&r, "songs").await?;
    for _ in 0..3 {
        let (status, _, body) = call(&r, "GET", "/subjects", None, Some(&songs)).await?;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let request = axum::http::Request::builder()
        .uri("/subjects")
        .header("authorization", format!("Bearer {songs}"))
        .body(axum::body::Body::empty())?;
    let refused = tower::ServiceExt::oneshot(r.clone(), request).await?;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        refused
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("2")
    );
    // Probes are never limited; another caller has its own bucket.
    for _ in 0..5 {
        assert_eq!(
            call(&r, "GET", "/healthz", None, None).await?.0,
            StatusCode::OK
        );
    }
    let admin = Some(crate::support::ADMIN_TOKEN);
    assert_eq!(
        call(&r, "GET", "/subjects", None, admin).await?.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&r, "GET", "/subjects", None, admin).await?.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let metrics = tower::ServiceExt::oneshot(
        r.clone(),
        axum::http::Request::builder()
            .uri("/metrics")
            .body(axum::body::Body::empty())?,
    )
    .await?;
    let text = String::from_utf8(
        axum::body::to_bytes(metrics.into_body(), 1 << 20)
            .await?
            .to_vec(),
    )?;
    assert!(
        text.contains(r#"mesh_catalog_rate_limited_total{caller="domain:songs"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"mesh_catalog_rate_limited_total{caller="admin"} 1"#),
        "{text}"
    );
    Ok(())
}
