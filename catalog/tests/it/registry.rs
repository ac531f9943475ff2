//! The Confluent registry routes on every backend: registration, ids, versions, lookups,
//! compatibility, config, mode, deletes, references and error codes.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    Db, PLAYED_V1, PLAYED_V2, TestCatalog, TestResult, call, catalog, on_every_backend,
};

on_every_backend!(
    registering_gives_stable_global_ids_and_versions,
    lookup_finds_the_version_holding_a_schema,
    errors_carry_confluent_codes,
    concurrent_registrations_never_share_ids_or_versions,
    incompatible_schemas_are_refused_at_each_level,
    config_and_mode_work_per_subject_and_globally,
    deletes_follow_confluents_rules,
    references_resolve_across_subjects,
);

async fn dev(db: Db) -> Result<Option<TestCatalog>, crate::support::Error> {
    catalog(db, catalog::server::Auth::Disabled).await
}

async fn register(
    t: &TestCatalog,
    subject: &str,
    schema: &str,
) -> Result<(StatusCode, Value), crate::support::Error> {
    let (status, _, body) = call(
        &t.router,
        "POST",
        &format!("/subjects/{subject}/versions"),
        Some(json!({ "schema": schema })),
        None,
    )
    .await?;
    Ok((status, body))
}

async fn registering_gives_stable_global_ids_and_versions(db: Db) -> TestResult {
    let Some(t) = dev(db).await? else {
        return Ok(());
    };
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
    let relaid: Value = serde_json::from_str(PLAYED_V1)?;
    let (_, body) = register(
        &t,
        "songs.played-value",
        &serde_json::to_string_pretty(&relaid)?,
    )
    .await?;
    assert_eq!(body["id"].as_u64(), Some(v1));

    let (_, body) = register(&t, "songs.played-value", PLAYED_V2).await?;
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
    let (_, _, subjects) = call(r, "GET", "/subjects?subjectPrefix=songs.", None, None).await?;
    assert_eq!(subjects, json!(["songs.played-value"]));

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
    let (_, _, subjects) =
        call(r, "GET", &format!("/schemas/ids/{v1}/subjects"), None, None).await?;
    assert_eq!(
        subjects,
        json!(["other.played-value", "songs.played-value"])
    );
    let (_, _, versions) =
        call(r, "GET", &format!("/schemas/ids/{v1}/versions"), None, None).await?;
    assert_eq!(
        versions,
        json!([{ "subject": "other.played-value", "version": 1 }, { "subject": "songs.played-value", "version": 1 }])
    );
    let (_, _, types) = call(r, "GET", "/schemas/types", None, None).await?;
    assert_eq!(types, json!(["AVRO"]));
    Ok(())
}

async fn lookup_finds_the_version_holding_a_schema(db: Db) -> TestResult {
    let Some(t) = dev(db).await? else {
        return Ok(());
    };
    let r = &t.router;
    register(&t, "s-value", PLAYED_V1).await?;
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

async fn errors_carry_confluent_codes(db: Db) -> TestResult {
    let Some(t) = dev(db).await? else {
        return Ok(());
    };
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
        (
            "PUT",
            "/config",
            Some(json!({ "compatibility": "SIDEWAYS" })),
            422,
            42203,
        ),
        (
            "PUT",
            "/mode",
            Some(json!({ "mode": "UPSIDE_DOWN" })),
            422,
            42204,
        ),
        ("GET", "/config/x-value", None, 404, 40408),
        ("GET", "/mode/x-value", None, 404, 40409),
    ];
    for (method, path, body, status, code) in cases {
        let (got, content_type, answer) = call(r, method, path, body, None).await?;
        assert_eq!(got.as_u16(), status, "{method} {path}: {answer}");
        assert_eq!(answer["error_code"], code, "{method} {path}: {answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(content_type, "application/vnd.schemaregistry.v1+json");
    }
    register(&t, "x-value", PLAYED_V1).await?;
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

async fn concurrent_registrations_never_share_ids_or_versions(db: Db) -> TestResult {
    let Some(t) = dev(db).await? else {
        return Ok(());
    };
    // Compatibility would refuse unrelated records under one subject: switch it off here.
    call(
        &t.router,
        "PUT",
        "/config",
        Some(json!({ "compatibility": "NONE" })),
        None,
    )
    .await?;
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

async fn incompatible_schemas_are_refused_at_each_level(db: Db) -> TestResult {
    let Some(t) = dev(db).await? else {
        return Ok(());
    };
    let r = &t.router;
    register(&t, "p-value", PLAYED_V1).await?;
    // BACKWARD (the default): a new required field cannot be read from old data.
    let no_default = r#"{"type":"record","name":"Played","namespace":"mesh.test","fields":[{"name":"user_id","type":"string"},{"name":"song_id","type":"long"},{"name":"device","type":"string"}]}"#;
    let (status, body) = register(&t, "p-value", no_default).await?;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error_code"], 409);
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("$.device: the reader's field has no default"),
        "{message}"
    );

    // The compatibility endpoint gives the same verdict without registering.
    let (_, _, verdict) = call(
        r,
        "POST",
        "/compatibility/subjects/p-value/versions/latest?verbose=true",
        Some(json!({ "schema": no_default })),
        None,
    )
    .await?;
    assert_eq!(verdict["is_compatible"], false);
    assert!(
        verdict["messages"][0]
            .as_str()
            .is_some_and(|m| m.contains("$.device")),
        "{verdict}"
    );
    let (_, _, verdict) = call(
        r,
        "POST",
        "/compatibility/subjects/p-value/versions",
        Some(json!({ "schema": PLAYED_V2 })),
        None,
    )
    .await?;
    assert_eq!(verdict, json!({ "is_compatible": true }));

    // A default makes it fine; NONE lets anything through.
    assert_eq!(register(&t, "p-value", PLAYED_V2).await?.0, StatusCode::OK);
    call(
        r,
        "PUT",
        "/config/p-value",
        Some(json!({ "compatibility": "NONE" })),
        None,
    )
    .await?;
    assert_eq!(register(&t, "p-value", no_default).await?.0, StatusCode::OK);

    // FORWARD_TRANSITIVE: every old version must read the new data.
    call(
        r,
        "PUT",
        "/config/q-value",
        Some(json!({ "compatibility": "FORWARD_TRANSITIVE" })),
        None,
    )
    .await?;
    register(
        &t,
        "q-value",
        r#"{"type":"record","name":"Q","fields":[{"name":"a","type":"int"}]}"#,
    )
    .await?;
    let widened = r#"{"type":"record","name":"Q","fields":[{"name":"a","type":"long"}]}"#;
    let (status, body) = register(&t, "q-value", widened).await?;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("a long cannot be read as an int"),
        "{body}"
    );
    Ok(())
}

async fn config_and_mode_work_per_subject_and_globally(db: Db) -> TestResult {
    let Some(t) = dev(db).await? else {
        return Ok(());
    };
    let r = &t.router;
    let (_, _, global) = call(r, "GET", "/config", None, None).await?;
    assert_eq!(global, json!({ "compatibilityLevel": "BACKWARD" }));
    let (_, _, set) = call(
        r,
        "PUT",
        "/config",
        Some(json!({ "compatibility": "full" })),
        None,
    )
    .await?;
    assert_eq!(set, json!({ "compatibility": "FULL" }));
    let (_, _, got) = call(r, "GET", "/config/a-value?defaultToGlobal=true", None, None).await?;
    assert_eq!(got, json!({ "compatibilityLevel": "FULL" }));
    call(
        r,
        "PUT",
        "/config/a-value",
        Some(json!({ "compatibility": "NONE" })),
        None,
    )
    .await?;
    let (_, _, got) = call(r, "GET", "/config/a-value", None, None).await?;
    assert_eq!(got, json!({ "compatibilityLevel": "NONE" }));
    let (_, _, removed) = call(r, "DELETE", "/config/a-value", None, None).await?;
    assert_eq!(removed, json!({ "compatibilityLevel": "NONE" }));
    let (_, _, reset) = call(r, "DELETE", "/config", None, None).await?;
    assert_eq!(reset, json!({ "compatibilityLevel": "FULL" }));
    let (_, _, global) = call(r, "GET", "/config", None, None).await?;
    assert_eq!(global["compatibilityLevel"], "BACKWARD");

    // A read-only subject refuses registrations and deletes; others carry on.
    let (_, _, mode) = call(r, "GET", "/mode", None, None).await?;
    assert_eq!(mode, json!({ "mode": "READWRITE" }));
    register(&t, "ro-value", PLAYED_V1).await?;
    call(
        r,
        "PUT",
        "/mode/ro-value",
        Some(json!({ "mode": "READONLY" })),
        None,
    )
    .await?;
    let (status, body) = register(&t, "ro-value", PLAYED_V2).await?;
    assert_eq!(
        (status, body["error_code"].as_i64()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some(42205))
    );
    let (_, _, body) = call(r, "DELETE", "/subjects/ro-value", None, None).await?;
    assert_eq!(body["error_code"], 42205);
    assert_eq!(register(&t, "rw-value", PLAYED_V1).await?.0, StatusCode::OK);

    // IMPORT mode keeps the ids and versions given, and the sequence moves past them.
    call(
        r,
        "PUT",
        "/mode/imp-value",
        Some(json!({ "mode": "IMPORT" })),
        None,
    )
    .await?;
    let (status, _, body) = call(
        r,
        "POST",
        "/subjects/imp-value/versions",
        Some(json!({ "schema": "{\"type\":\"record\",\"name\":\"Imp\",\"fields\":[]}", "id": 500, "version": 3 })),
        None,
    )
    .await?;
    assert_eq!(
        (status, body["id"].as_u64()),
        (StatusCode::OK, Some(500)),
        "{body}"
    );
    let (_, _, v) = call(r, "GET", "/subjects/imp-value/versions/3", None, None).await?;
    assert_eq!(v["id"], 500);
    let (_, body) = register(
        &t,
        "after-value",
        r#"{"type":"record","name":"After","fields":[]}"#,
    )
    .await?;
    assert!(body["id"].as_u64().ok_or("no id")? > 500, "{body}");
    // Outside IMPORT mode ids cannot be chosen.
    let (_, _, body) = call(
        r,
        "POST",
        "/subjects/rw-value/versions",
        Some(json!({ "schema": PLAYED_V2, "id": 900 })),
        None,
    )
    .await?;
    assert_eq!(body["error_code"], 42205);
    Ok(())
}

async fn deletes_follow_confluents_rules(db: Db) -> TestResult {
    let Some(t) = dev(db).await? else {
        return Ok(());
    };
    let r = &t.router;
    register(&t, "d-value", PLAYED_V1).await?;
    let (_, body) = register(&t, "d-value", PLAYED_V2).await?;
    let v2_id = body["id"].as_u64().ok_or("no id")?;

    // A permanent delete needs a soft one first.
    let (_, _, body) = call(
        r,
        "DELETE",
        "/subjects/d-value/versions/2?permanent=true",
        None,
        None,
    )
    .await?;
    assert_eq!(body["error_code"], 40407);
    let (_, _, deleted) = call(r, "DELETE", "/subjects/d-value/versions/2", None, None).await?;
    assert_eq!(deleted, json!(2));
    let (_, _, body) = call(r, "DELETE", "/subjects/d-value/versions/2", None, None).await?;
    assert_eq!(body["error_code"], 40406);
    let (_, _, versions) = call(r, "GET", "/subjects/d-value/versions", None, None).await?;
    assert_eq!(versions, json!([1]));
    let (_, _, versions) = call(
        r,
        "GET",
        "/subjects/d-value/versions?deleted=true",
        None,
        None,
    )
    .await?;
    assert_eq!(versions, json!([1, 2]));
    let (_, _, latest) = call(r, "GET", "/subjects/d-value/versions/latest", None, None).await?;
    assert_eq!(latest["version"], 1);
    let (_, _, deleted) = call(
        r,
        "DELETE",
        "/subjects/d-value/versions/2?permanent=true",
        None,
        None,
    )
    .await?;
    assert_eq!(deleted, json!(2));

    // Whole subjects: soft, then permanent; the id stays readable and is never reused.
    let (_, _, body) = call(r, "DELETE", "/subjects/d-value?permanent=true", None, None).await?;
    assert_eq!(body["error_code"], 40405);
    let (_, _, deleted) = call(r, "DELETE", "/subjects/d-value", None, None).await?;
    assert_eq!(deleted, json!([1]));
    let (_, _, body) = call(r, "DELETE", "/subjects/d-value", None, None).await?;
    assert_eq!(body["error_code"], 40404);
    let (_, _, subjects) = call(r, "GET", "/subjects", None, None).await?;
    assert_eq!(subjects, json!([]));
    let (_, _, subjects) = call(r, "GET", "/subjects?deleted=true", None, None).await?;
    assert_eq!(subjects, json!(["d-value"]));
    let (_, _, deleted) = call(r, "DELETE", "/subjects/d-value?permanent=true", None, None).await?;
    assert_eq!(deleted, json!([1]));
    let (_, _, body) = call(r, "GET", "/subjects/d-value/versions", None, None).await?;
    assert_eq!(body["error_code"], 40401);
    let (status, _, _) = call(r, "GET", &format!("/schemas/ids/{v2_id}"), None, None).await?;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = register(
        &t,
        "fresh-value",
        r#"{"type":"record","name":"Fresh","fields":[]}"#,
    )
    .await?;
    assert!(body["id"].as_u64().ok_or("no id")? > v2_id);
    Ok(())
}

async fn references_resolve_across_subjects(db: Db) -> TestResult {
    let Some(t) = dev(db).await? else {
        return Ok(());
    };
    let r = &t.router;
    let device =
        r#"{"type":"enum","name":"Device","namespace":"mesh.common","symbols":["MOBILE","WEB"]}"#;
    register(&t, "common.device", device).await?;
    let played = r#"{"type":"record","name":"Played","namespace":"mesh.x","fields":[{"name":"device","type":"mesh.common.Device"}]}"#;
    let reference =
        json!([{ "name": "mesh.common.Device", "subject": "common.device", "version": 1 }]);

    // Without the reference the type is unknown; with it the schema registers.
    let (_, body) = register(&t, "x.played-value", played).await?;
    assert_eq!(body["error_code"], 42201, "{body}");
    let (status, _, body) = call(
        r,
        "POST",
        "/subjects/x.played-value/versions",
        Some(json!({ "schema": played, "references": reference })),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["id"].as_u64().ok_or("no id")?;
    let (_, _, by_id) = call(r, "GET", &format!("/schemas/ids/{id}"), None, None).await?;
    assert_eq!(by_id["references"], reference);
    let (_, _, referencing) = call(
        r,
        "GET",
        "/subjects/common.device/versions/1/referencedby",
        None,
        None,
    )
    .await?;
    assert_eq!(referencing, json!([id]));

    // A referenced schema cannot be deleted; a missing reference is refused.
    let (_, _, body) = call(r, "DELETE", "/subjects/common.device", None, None).await?;
    assert_eq!(body["error_code"], 42206);
    let (_, _, body) = call(
        r,
        "POST",
        "/subjects/y-value/versions",
        Some(json!({ "schema": played, "references": [{ "name": "mesh.common.Device", "subject": "common.device", "version": 9 }] })),
        None,
    )
    .await?;
    assert_eq!(body["error_code"], 42201);
    Ok(())
}
