//! The governance routes: domains, products with ports, table versions, and the admin token.

use axum::http::StatusCode;
use catalog::server::Auth;
use serde_json::json;

use crate::support::{TestResult, call, catalog, dev_catalog};

fn product() -> serde_json::Value {
    json!({
        "id": "songs.catalogue",
        "description": "Every song we can play",
        "tags": ["music", "catalogue"],
        "sla": { "max_staleness_secs": 3600 },
        "stream_ports": [{ "topic": "songs.released", "value_subject": "songs.released-value" }],
        "table_port": { "uri": "file:///lake/songs/catalogue", "partition_columns": ["genre"] }
    })
}

#[tokio::test]
async fn products_live_in_their_domain_with_their_ports() -> TestResult {
    let t = dev_catalog().await?;
    let r = &t.router;
    let (status, _, body) = call(
        r,
        "PUT",
        "/api/v1/products/songs.catalogue",
        Some(product()),
        None,
    )
    .await?;
    assert_eq!(
        (status, body["error_code"].as_i64()),
        (StatusCode::NOT_FOUND, Some(40410)),
        "{body}"
    );

    let domain = json!({ "name": "songs", "owner": "team-songs", "description": "Songs" });
    let (status, _, _) = call(
        r,
        "PUT",
        "/api/v1/domains/songs",
        Some(domain.clone()),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    let (_, _, got) = call(r, "GET", "/api/v1/domains/songs", None, None).await?;
    assert_eq!(got, domain);

    let (status, _, saved) = call(
        r,
        "PUT",
        "/api/v1/products/songs.catalogue",
        Some(product()),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let (_, _, got) = call(r, "GET", "/api/v1/products/songs.catalogue", None, None).await?;
    assert_eq!(got["table_port"]["partition_columns"], json!(["genre"]));
    assert_eq!(got["stream_ports"][0]["topic"], "songs.released");
    assert_eq!(got["sla"]["max_staleness_secs"], 3600);
    let (_, _, all) = call(r, "GET", "/api/v1/products", None, None).await?;
    assert_eq!(all.as_array().map(Vec::len), Some(1));

    // A stream of another domain cannot be a port of this product.
    let mut foreign = product();
    foreign["stream_ports"][0]["topic"] = json!("users.signed-up");
    let (status, _, _) = call(
        r,
        "PUT",
        "/api/v1/products/songs.catalogue",
        Some(foreign),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Names are checked.
    let (status, _, body) = call(r, "GET", "/api/v1/products/Songs.x", None, None).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    Ok(())
}

#[tokio::test]
async fn table_versions_are_recorded_once() -> TestResult {
    let t = dev_catalog().await?;
    let r = &t.router;
    call(
        r,
        "PUT",
        "/api/v1/domains/songs",
        Some(json!({ "name": "songs", "owner": "o" })),
        None,
    )
    .await?;
    call(
        r,
        "PUT",
        "/api/v1/products/songs.catalogue",
        Some(product()),
        None,
    )
    .await?;
    let v0 = json!({ "version": 0, "rows": 3, "bytes": 1200, "schema_id": 1, "committed_at_ms": 1_700_000_000_000_i64 });
    let v1 = json!({
        "version": 1, "rows": 5, "bytes": 2000, "schema_id": 1, "committed_at_ms": 1_700_000_001_000_i64,
        "offsets": [{ "topic": "songs.released", "partition": 0, "offset": 42 }]
    });
    for v in [&v0, &v1, &v0] {
        let (status, _, body) = call(
            r,
            "POST",
            "/api/v1/products/songs.catalogue/versions",
            Some(v.clone()),
            None,
        )
        .await?;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let mut changed = v1.clone();
    changed["rows"] = json!(6);
    let (status, _, body) = call(
        r,
        "POST",
        "/api/v1/products/songs.catalogue/versions",
        Some(changed),
        None,
    )
    .await?;
    assert_eq!(
        (status, body["error_code"].as_i64()),
        (StatusCode::CONFLICT, Some(40910))
    );

    let (_, _, latest) = call(
        r,
        "GET",
        "/api/v1/products/songs.catalogue/versions/latest",
        None,
        None,
    )
    .await?;
    assert_eq!(latest["version"], 1);
    assert_eq!(latest["offsets"][0]["offset"], 42);
    let (_, _, all) = call(
        r,
        "GET",
        "/api/v1/products/songs.catalogue/versions",
        None,
        None,
    )
    .await?;
    assert_eq!(all.as_array().map(Vec::len), Some(2));
    let (_, _, missing) = call(
        r,
        "GET",
        "/api/v1/products/songs.catalogue/versions/9",
        None,
        None,
    )
    .await?;
    assert_eq!(missing["error_code"], 40412);
    let (_, _, missing) = call(
        r,
        "POST",
        "/api/v1/products/songs.nope/versions",
        Some(v0),
        None,
    )
    .await?;
    assert_eq!(missing["error_code"], 40411);
    Ok(())
}

#[tokio::test]
async fn without_dev_mode_writes_need_the_admin_token() -> TestResult {
    let t = catalog(Auth::AdminToken("let-me-in".into())).await?;
    let r = &t.router;
    let domain = json!({ "name": "songs", "owner": "team-songs" });
    for token in [None, Some("wrong")] {
        let (status, _, body) = call(
            r,
            "PUT",
            "/api/v1/domains/songs",
            Some(domain.clone()),
            token,
        )
        .await?;
        assert_eq!(
            (status, body["error_code"].as_i64()),
            (StatusCode::UNAUTHORIZED, Some(40101))
        );
    }
    let (status, _, _) = call(
        r,
        "POST",
        "/subjects/x-value/versions",
        Some(json!({ "schema": "\"string\"" })),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(
        r,
        "PUT",
        "/api/v1/domains/songs",
        Some(domain),
        Some("let-me-in"),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    // Reads stay open.
    let (status, _, _) = call(r, "GET", "/api/v1/domains/songs", None, None).await?;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = call(r, "GET", "/healthz", None, None).await?;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    assert!(t.catalog.store().ping().await.is_ok());
    Ok(())
}
