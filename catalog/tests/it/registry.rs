//! The Confluent registry routes: registration, ids, versions, lookups and error codes.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{PLAYED_V1, PLAYED_V2, TestResult, call, dev_catalog};

#[tokio::test]
async fn registering_gives_stable_global_ids_and_versions() -> TestResult {
    let t = dev_catalog().await?;
    let r = &t.router;
    let (status, content_type, body) = call(
        r,
        "POST",
        "/subjects/songs.played-value/versions",
        Some(json!({ "schema": PLAYED_V1 })),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(content_type, "application/vnd.schemaregistry.v1+json");
    let v1 = body["id"].as_u64().ok_or("no id")?;

    // The same schema, laid out differently, is the same schema: same id, no new version.
    let relaid: serde_json::Value = serde_json::from_str(PLAYED_V1)?;
    let relaid = serde_json::to_string_pretty(&relaid)?;
    let (_, _, body) = call(
        r,
        "POST",
        "/subjects/songs.played-value/versions",
        Some(json!({ "schema": relaid })),
        None,
    )
    .await?;
    assert_eq!(body["id"].as_u64(), Some(v1));

    let (_, _, body) = call(
        r,
        "POST",
        "/subjects/songs.played-value/versions",
        Some(json!({ "schema": PLAYED_V2 })),
        None,
    )
    .await?;
    let v2 = body["id"].as_u64().ok_or("no id")?;
    assert!(v2 > v1);

    // Another subject registering v1 shares its id: ids are global.
    let (_, _, body) = call(
        r,
        "POST",
        "/subjects/other.played-value/versions",
        Some(json!({ "schema": PLAYED_V1, "schemaType": "AVRO" })),
        None,
    )
    .await?;
    assert_eq!(body["id"].as_u64(), Some(v1));

    let (_, _, versions) = call(
        r,
        "GET",
        "/subjects/songs.played-value/versions",
        None,
        None,
    )
    .await?;
    assert_eq!(versions, json!([1, 2]));
    let (_, _, subjects) = call(r, "GET", "/subjects", None, None).await?;
    assert_eq!(
        subjects,
        json!(["other.played-value", "songs.played-value"])
    );

    let (status, _, latest) = call(
        r,
        "GET",
        "/subjects/songs.played-value/versions/latest",
        None,
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(latest["version"], 2);
    assert_eq!(latest["id"].as_u64(), Some(v2));
    assert_eq!(latest["subject"], "songs.played-value");
    assert_eq!(latest["schema"], PLAYED_V2);
    assert!(
        latest.get("schemaType").is_none(),
        "Avro omits schemaType: {latest}"
    );

    let (_, _, first) = call(
        r,
        "GET",
        "/subjects/songs.played-value/versions/1",
        None,
        None,
    )
    .await?;
    assert_eq!(first["id"].as_u64(), Some(v1));

    // The deserializers' route, with the query parameters real clients add.
    let (status, _, by_id) = call(
        r,
        "GET",
        &format!("/schemas/ids/{v1}?deleted=true"),
        None,
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_id, json!({ "schema": PLAYED_V1 }));
    let (_, _, raw) = call(r, "GET", &format!("/schemas/ids/{v2}/schema"), None, None).await?;
    assert_eq!(raw["name"], "Played");
    Ok(())
}

#[tokio::test]
async fn lookup_finds_the_version_holding_a_schema() -> TestResult {
    let t = dev_catalog().await?;
    let r = &t.router;
    call(
        r,
        "POST",
        "/subjects/s-value/versions",
        Some(json!({ "schema": PLAYED_V1 })),
        None,
    )
    .await?;
    let (status, _, found) = call(
        r,
        "POST",
        "/subjects/s-value",
        Some(json!({ "schema": PLAYED_V1 })),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["version"], 1);
    let (status, _, body) = call(
        r,
        "POST",
        "/subjects/s-value",
        Some(json!({ "schema": PLAYED_V2 })),
        None,
    )
    .await?;
    assert_eq!(
        (status, body["error_code"].as_i64()),
        (StatusCode::NOT_FOUND, Some(40403))
    );
    let (_, _, body) = call(
        r,
        "POST",
        "/subjects/nope-value",
        Some(json!({ "schema": PLAYED_V2 })),
        None,
    )
    .await?;
    assert_eq!(body["error_code"], 40401);
    Ok(())
}

#[tokio::test]
async fn errors_carry_confluent_codes() -> TestResult {
    let t = dev_catalog().await?;
    let r = &t.router;
    let cases = [
        ("GET", "/subjects/missing-value/versions", None, 404, 40401),
        (
            "GET",
            "/subjects/missing-value/versions/latest",
            None,
            404,
            40401,
        ),
        ("GET", "/schemas/ids/999", None, 404, 40403),
        ("GET", "/schemas/ids/abc", None, 404, 40403),
        (
            "POST",
            "/subjects/x-value/versions",
            Some(json!({ "schema": "{\"type\": \"recrod\"}" })),
            422,
            42201,
        ),
        (
            "POST",
            "/subjects/x-value/versions",
            Some(json!({ "schema": "not json" })),
            422,
            42201,
        ),
        (
            "POST",
            "/subjects/x-value/versions",
            Some(json!({ "schema": PLAYED_V1, "schemaType": "PROTOBUF" })),
            422,
            42201,
        ),
        (
            "POST",
            "/subjects/x-value/versions",
            Some(json!({ "nothing": 1 })),
            422,
            422,
        ),
    ];
    for (method, path, body, status, code) in cases {
        let (got, content_type, answer) = call(r, method, path, body, None).await?;
        assert_eq!(got.as_u16(), status, "{method} {path}: {answer}");
        assert_eq!(answer["error_code"], code, "{method} {path}: {answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(content_type, "application/vnd.schemaregistry.v1+json");
    }
    call(
        r,
        "POST",
        "/subjects/x-value/versions",
        Some(json!({ "schema": PLAYED_V1 })),
        None,
    )
    .await?;
    for (path, code) in [
        ("/subjects/x-value/versions/7", 40402),
        ("/subjects/x-value/versions/0", 42202),
        ("/subjects/x-value/versions/abc", 42202),
    ] {
        let (_, _, answer) = call(r, "GET", path, None, None).await?;
        assert_eq!(answer["error_code"], code, "{path}: {answer}");
    }
    // Nothing was registered by the refused calls.
    let (_, _, subjects) = call(r, "GET", "/subjects", None, None).await?;
    assert_eq!(subjects, json!(["x-value"]));
    Ok(())
}

#[tokio::test]
async fn concurrent_registrations_never_share_ids_or_versions() -> TestResult {
    let t = dev_catalog().await?;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..24 {
        let router = t.router.clone();
        tasks.spawn(async move {
            let schema = format!(
                r#"{{"type":"record","name":"R{i}","fields":[{{"name":"f","type":"long"}}]}}"#
            );
            let subject = format!("/subjects/s{}-value/versions", i % 3);
            call(
                &router,
                "POST",
                &subject,
                Some(json!({ "schema": schema })),
                None,
            )
            .await
            .map(|(_, _, body)| body["id"].as_u64())
        });
    }
    let mut ids = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        ids.push(joined?.map_err(|e| e.to_string())?.ok_or("no id")?);
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 24, "ids were handed out twice: {ids:?}");
    for s in 0..3 {
        let (_, _, versions) = call(
            &t.router,
            "GET",
            &format!("/subjects/s{s}-value/versions"),
            None,
            None,
        )
        .await?;
        assert_eq!(versions, json!([1, 2, 3, 4, 5, 6, 7, 8]));
    }
    Ok(())
}
