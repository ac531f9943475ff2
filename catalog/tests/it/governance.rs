//! The governance routes: domains, products with ports, table versions, and the admin token.

use axum::http::StatusCode;
use catalog::server::Auth;
use serde_json::json;

use crate::support::{Db, TestCatalog, TestResult, call, catalog, on_every_backend};

on_every_backend!(
    products_live_in_their_domain_with_their_ports,
    table_versions_are_recorded_once,
    search_finds_products_by_words,
    health_reports_freshness_from_both_planes,
    a_schema_change_the_table_cannot_take_is_refused,
    concurrent_writers_all_land,
);

async fn dev(db: Db) -> Result<Option<TestCatalog>, crate::support::Error> {
    catalog(db, Auth::Disabled).await
}

fn product() -> serde_json::Value {
    json!({
        "id": "songs.catalogue",
        "description": "Every song we can play",
        "tags": ["music", "catalogue"],
        "sla": { "max_staleness_secs": 3600 },
        "stream_ports": [{ "topic": "songs.released", "value_subject": "songs.released-value" }],
        "table_port": {
            "uri": "file:///lake/songs/catalogue",
            "partition_columns": ["genre"],
            "write_mode": "merge",
            "merge_keys": ["song_id"]
        }
    })
}

async fn products_live_in_their_domain_with_their_ports(db: Db) -> TestResult {
    let Some(t) = dev(db).await? else {
        return Ok(());
    };
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
    assert_eq!(got["table_port"]["write_mode"], "merge");
    assert_eq!(got["table_port"]["merge_keys"], json!(["song_id"]));
    // A write mode and its keys go together; an unknown mode is no mode.
    for (mode, keys) in [
        (json!("merge"), json!([])),
        (json!("append"), json!(["song_id"])),
        (json!("upsert"), json!([])),
        (json!(null), json!(["song_id"])),
        (json!("merge"), json!(["song_id", "song_id"])),
    ] {
        let mut odd = product();
        odd["table_port"]["write_mode"] = mode.clone();
        odd["table_port"]["merge_keys"] = keys.clone();
        let (status, _, body) = call(
            r,
            "PUT",
            "/api/v1/products/songs.catalogue",
            Some(odd),
            None,
        )
        .await?;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{mode} {keys}: {body}"
        );
    }
    let (_, _, kept) = call(r, "GET", "/api/v1/products/songs.catalogue", None, None).await?;
    assert_eq!(kept, got, "a refused save changes nothing");
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

async fn table_versions_are_recorded_once(db: Db) -> TestResult {
    let Some(t) = dev(db).await? else {
        return Ok(());
    };
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

async fn search_finds_products_by_words(db: Db) -> TestResult {
    let Some(t) = dev(db).await? else {
        return Ok(());
    };
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
    let other =
        json!({ "id": "songs.charts", "description": "Weekly top songs", "tags": ["ranking"] });
    call(r, "PUT", "/api/v1/products/songs.charts", Some(other), None).await?;
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (_, _, found) = call(r, "GET", "/api/v1/search?q=songs", None, None).await?;
    assert_eq!(ids(&found), ["songs.catalogue", "songs.charts"]);
    let (_, _, found) = call(r, "GET", "/api/v1/search?q=MUSIC%20play", None, None).await?;
    assert_eq!(ids(&found), ["songs.catalogue"]);
    let (_, _, found) = call(r, "GET", "/api/v1/search?q=weekly+ranking", None, None).await?;
    assert_eq!(ids(&found), ["songs.charts"]);
    let (_, _, found) = call(r, "GET", "/api/v1/search?q=podcast", None, None).await?;
    assert_eq!(ids(&found), Vec::<String>::new());
    Ok(())
}

async fn health_reports_freshness_from_both_planes(db: Db) -> TestResult {
    let Some(t) = dev(db).await? else {
        return Ok(());
    };
    let r = &t.router;
    call(
        r,
        "PUT",
        "/api/v1/domains/songs",
        Some(json!({ "name": "songs", "owner": "o" })),
        None,
    )
    .await?;
    let mut fed = product();
    fed["table_port"]["source_topic"] = json!("songs.released");
    call(
        r,
        "PUT",
        "/api/v1/products/songs.catalogue",
        Some(fed),
        None,
    )
    .await?;
    let (_, _, health) = call(
        r,
        "GET",
        "/api/v1/products/songs.catalogue/health",
        None,
        None,
    )
    .await?;
    assert_eq!(health["status"], "unknown", "{health}");

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let version = json!({
        "version": 0, "rows": 10, "bytes": 100, "committed_at_ms": now - 5_000,
        "offsets": [{ "topic": "songs.released", "partition": 0, "offset": 40 },
                    { "topic": "songs.released", "partition": 1, "offset": 10 }]
    });
    call(
        r,
        "POST",
        "/api/v1/products/songs.catalogue/versions",
        Some(version),
        None,
    )
    .await?;
    let heads = json!([{ "partition": 0, "offset": 50 }, { "partition": 1, "offset": 10 }]);
    let (status, _, _) = call(
        r,
        "PUT",
        "/api/v1/streams/songs.released/heads",
        Some(heads),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    let (_, _, health) = call(
        r,
        "GET",
        "/api/v1/products/songs.catalogue/health",
        None,
        None,
    )
    .await?;
    assert_eq!(health["status"], "fresh", "{health}");
    assert_eq!(health["table_version"], 0);
    assert_eq!(health["streams"][0]["lag"], 10, "{health}");
    let age = health["table_age_secs"].as_f64().ok_or("no age")?;
    assert!((4.0..60.0).contains(&age), "{age}");

    // An older version than the SLA allows is stale.
    let stale =
        json!({ "version": 1, "rows": 10, "bytes": 100, "committed_at_ms": now - 7_200_000 });
    call(
        r,
        "POST",
        "/api/v1/products/songs.catalogue/versions",
        Some(stale),
        None,
    )
    .await?;
    let (_, _, health) = call(
        r,
        "GET",
        "/api/v1/products/songs.catalogue/health",
        None,
        None,
    )
    .await?;
    assert_eq!(health["status"], "stale", "{health}");
    assert_eq!(
        health["streams"][0]["lag"], 60,
        "no offsets in the newest version: {health}"
    );
    Ok(())
}

async fn a_schema_change_the_table_cannot_take_is_refused(db: Db) -> TestResult {
    let Some(t) = dev(db).await? else {
        return Ok(());
    };
    let r = &t.router;
    call(
        r,
        "PUT",
        "/api/v1/domains/songs",
        Some(json!({ "name": "songs", "owner": "o" })),
        None,
    )
    .await?;
    let mut fed = product();
    fed["table_port"]["source_topic"] = json!("songs.released");
    call(
        r,
        "PUT",
        "/api/v1/products/songs.catalogue",
        Some(fed),
        None,
    )
    .await?;
    let row = r#"{"type":"record","name":"Released","fields":[{"name":"song_id","type":"long"},{"name":"genre","type":"string"},{"name":"title","type":"string"}]}"#;
    for subject in ["songs.catalogue-table", "songs.released-value"] {
        let (status, _, body) = call(
            r,
            "POST",
            &format!("/subjects/{subject}/versions"),
            Some(json!({ "schema": row })),
            None,
        )
        .await?;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // BACKWARD allows dropping a field (a reader ignores it), but the table's rows must fill
    // a non-null column, so the stream feeding it cannot drop one.
    let dropped = r#"{"type":"record","name":"Released","fields":[{"name":"song_id","type":"long"},{"name":"genre","type":"string"}]}"#;
    let (status, _, body) = call(
        r,
        "POST",
        "/subjects/songs.released-value/versions",
        Some(json!({ "schema": dropped })),
        None,
    )
    .await?;
    assert_eq!(
        (status, body["error_code"].as_i64()),
        (StatusCode::CONFLICT, Some(409)),
        "{body}"
    );
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("data product songs.catalogue's table cannot take it"),
        "{message}"
    );
    assert!(
        message.contains("column `title` (string, not null) is dropped"),
        "{message}"
    );
    // A new field with a default, the canonical compatible change, passes both: the table
    // gains a nullable column that rows written before hold as null.
    let with_default = r#"{"type":"record","name":"Released","fields":[{"name":"song_id","type":"long"},{"name":"genre","type":"string"},{"name":"title","type":"string"},{"name":"label","type":"string","default":"none"}]}"#;
    for subject in ["songs.released-value", "songs.catalogue-table"] {
        let (status, _, body) = call(
            r,
            "POST",
            &format!("/subjects/{subject}/versions"),
            Some(json!({ "schema": with_default })),
            None,
        )
        .await?;
        assert_eq!(status, StatusCode::OK, "{subject}: {body}");
    }
    // Touching the partition column is refused on the table's own subject too.
    let genre_nullable = r#"{"type":"record","name":"Released","fields":[{"name":"song_id","type":"long"},{"name":"genre","type":["null","string"],"default":null},{"name":"title","type":"string"}]}"#;
    let (status, _, body) = call(
        r,
        "POST",
        "/subjects/songs.catalogue-table/versions",
        Some(json!({ "schema": genre_nullable })),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("partition column `genre`"),
        "{body}"
    );
    // A nullable column is fine for both the registry and the table.
    let nullable = r#"{"type":"record","name":"Released","fields":[{"name":"song_id","type":"long"},{"name":"genre","type":"string"},{"name":"title","type":"string"},{"name":"label","type":["null","string"],"default":null}]}"#;
    let (status, _, body) = call(
        r,
        "POST",
        "/subjects/songs.released-value/versions",
        Some(json!({ "schema": nullable })),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok(())
}

/// Domains write to the catalog at the same moments (a snapshot here, a sink's commit there):
/// none of them may be refused because another wrote first.
async fn concurrent_writers_all_land(db: Db) -> TestResult {
    let Some(t) = dev(db).await? else {
        return Ok(());
    };
    let domain = json!({ "name": "songs", "owner": "team-songs", "description": "Songs" });
    call(
        &t.router,
        "PUT",
        "/api/v1/domains/songs",
        Some(domain),
        None,
    )
    .await?;
    let products = ["songs.catalogue", "songs.plays"];
    for id in products {
        let mut p = product();
        p["id"] = json!(id);
        let (status, _, body) = call(
            &t.router,
            "PUT",
            &format!("/api/v1/products/{id}"),
            Some(p),
            None,
        )
        .await?;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (writers, versions) = (8, 24);
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..writers {
        let router = t.router.clone();
        tasks.spawn(async move {
            let mut refused = Vec::new();
            for version in (writer..versions).step_by(writers) {
                for id in products {
                    let v = json!({ "version": version, "rows": version * 10, "bytes": 100,
                                    "committed_at_ms": 1_700_000_000_000_i64 + version as i64 });
                    let (status, _, body) = call(
                        &router,
                        "POST",
                        &format!("/api/v1/products/{id}/versions"),
                        Some(v),
                        None,
                    )
                    .await?;
                    if status != StatusCode::OK {
                        refused.push(format!("{id} v{version}: {status} {body}"));
                    }
                }
            }
            Ok::<_, crate::support::Error>(refused)
        });
    }
    let mut refused = Vec::new();
    while let Some(done) = tasks.join_next().await {
        refused.extend(done??);
    }
    assert!(refused.is_empty(), "refused: {refused:?}");
    for id in products {
        let (_, _, all) = call(
            &t.router,
            "GET",
            &format!("/api/v1/products/{id}/versions"),
            None,
            None,
        )
        .await?;
        assert_eq!(all.as_array().map(Vec::len), Some(versions), "{id}: {all}");
    }
    Ok(())
}
