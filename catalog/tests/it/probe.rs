//! The defects of the outside security probe (`../shared/reports/catalog-probe.md`, D1-D12),
//! each replayed as the probe sent it: every one answers 4xx (or works), and the catalog
//! keeps answering afterwards. A test per defect, on every backend.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    ADMIN_TOKEN, Db, TestResult, admin_catalog, call, domain_token, on_every_backend, schema_body,
};

on_every_backend!(
    d1_a_recursive_row_schema_is_refused_not_a_crash,
    d2_latest_references_are_pinned_and_stored_cycles_are_refused,
    d3_a_table_may_be_fed_only_by_its_own_domain,
    d4_d12_imported_ids_and_versions_stay_in_range,
    d5_wide_schemas_check_quickly_and_hold_up_no_one,
    d6_parallel_config_and_mode_writes_all_land,
    d7_one_table_version_posted_in_parallel_is_recorded_once,
    d8_control_characters_are_refused,
    d10_d11_out_of_range_numbers_are_refused,
    the_bearer_scheme_is_case_insensitive,
);

const NODE: &str = r#"{"type":"record","name":"Node","fields":[{"name":"v","type":"int"}]}"#;
const RECURSIVE_NODE: &str = r#"{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"],"default":null}]}"#;

async fn alive(router: &axum::Router) -> TestResult {
    let (status, _, _) = call(router, "GET", "/healthz", None, None).await?;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}

async fn d1_a_recursive_row_schema_is_refused_not_a_crash(db: Db) -> TestResult {
    let Some(t) = admin_catalog(db).await? else {
        return Ok(());
    };
    let r = &t.router;
    let songs = domain_token(r, "songs").await?;
    let albums = domain_token(r, "albums").await?;
    let product = json!({"id": "songs.tree", "table_port": {"uri": "file:///lake/songs/tree", "source_topic": "songs.nodes"}});
    let (status, _, body) = call(
        r,
        "PUT",
        "/api/v1/products/songs.tree",
        Some(product),
        Some(&songs),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The persistent form: a recursive first row schema is refused at registration.
    let (status, _, body) = call(
        r,
        "POST",
        "/subjects/songs.tree-table/versions",
        Some(schema_body(RECURSIVE_NODE)),
        Some(&songs),
    )
    .await?;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("a table row cannot be recursive"),
        "{message}"
    );

    // Against a table row schema, through the read-only endpoint, by another domain.
    let (status, _, body) = call(
        r,
        "POST",
        "/subjects/songs.tree-table/versions",
        Some(schema_body(NODE)),
        Some(&songs),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = call(
        r,
        "POST",
        "/compatibility/subjects/songs.tree-table/versions?verbose=true",
        Some(schema_body(RECURSIVE_NODE)),
        Some(&albums),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["is_compatible"], false, "{body}");
    assert!(
        body["messages"][0]
            .as_str()
            .unwrap_or_default()
            .contains("$.next: type Node contains itself"),
        "{body}"
    );
    // The source topic's value schemas are checked against the same table.
    let (status, _, body) = call(
        r,
        "POST",
        "/subjects/songs.nodes-value/versions",
        Some(schema_body(RECURSIVE_NODE)),
        Some(&songs),
    )
    .await?;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    alive(r).await
}

async fn d2_latest_references_are_pinned_and_stored_cycles_are_refused(db: Db) -> TestResult {
    let Some(t) = admin_catalog(db).await? else {
        return Ok(());
    };
    let r = &t.router;
    let songs = domain_token(r, "songs").await?;
    let albums = domain_token(r, "albums").await?;
    let q1 = r#"{"type":"record","name":"Q","fields":[{"name":"f","type":"int"}]}"#;
    let p1 = r#"{"type":"record","name":"P","fields":[{"name":"q","type":"Q"}]}"#;
    let q2 = r#"{"type":"record","name":"Q2","fields":[{"name":"p","type":["null","P"],"default":null}]}"#;
    let post = |subject: &str, body: Value| {
        let path = format!("/subjects/{subject}/versions");
        let token = songs.clone();
        async move { call(r, "POST", &path, Some(body), Some(&token)).await }
    };
    assert_eq!(
        post("songs.q-value", schema_body(q1)).await?.0,
        StatusCode::OK
    );
    let (status, _, body) = post("songs.p-value", json!({"schema": p1, "references": [{"name": "Q", "subject": "songs.q-value", "version": -1}]})).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    call(
        r,
        "PUT",
        "/config/songs.q-value",
        Some(json!({"compatibility": "NONE"})),
        Some(&songs),
    )
    .await?;
    let (status, _, body) = post("songs.q-value", json!({"schema": q2, "references": [{"name": "P", "subject": "songs.p-value", "version": -1}]})).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    // `-1` was stored as the version it meant: P v1 names Q v1, whatever Q becomes.
    let (_, _, p) = call(
        r,
        "GET",
        "/subjects/songs.p-value/versions/1",
        None,
        Some(&albums),
    )
    .await?;
    assert_eq!(
        p["references"],
        json!([{"name": "Q", "subject": "songs.q-value", "version": 1}])
    );
    let (status, _, body) = call(
        r,
        "POST",
        "/compatibility/subjects/songs.q-value/versions",
        Some(schema_body("\"string\"")),
        Some(&albums),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A cycle stored by an older build (P v1 -> latest Q = Q v2 -> P v1 -> ...): resolving
    // it is refused, and nothing recurses without end.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&t.url).await?;
    let latest_q = r#"[{"name":"Q","subject":"songs.q-value","version":-1}]"#;
    sqlx::query("UPDATE schemas SET references_json = $1 WHERE id = (SELECT schema_id FROM subject_versions WHERE subject = 'songs.p-value' AND version = 1)")
        .bind(latest_q)
        .execute(&pool)
        .await?;
    pool.close().await;
    let (status, _, body) = call(r, "POST", "/compatibility/subjects/songs.q-value/versions", Some(json!({"schema": q2, "references": [{"name": "P", "subject": "songs.p-value", "version": 1}]})), Some(&albums)).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot form a cycle"),
        "{body}"
    );
    let (status, _, body) = call(
        r,
        "POST",
        "/subjects/songs.q-value/versions",
        Some(schema_body("\"string\"")),
        Some(ADMIN_TOKEN),
    )
    .await?;
    assert!(
        status.is_success() || status.is_client_error(),
        "{status} {body}"
    );
    alive(r).await
}

async fn d3_a_table_may_be_fed_only_by_its_own_domain(db: Db) -> TestResult {
    let Some(t) = admin_catalog(db).await? else {
        return Ok(());
    };
    let r = &t.router;
    let songs = domain_token(r, "songs").await?;
    let albums = domain_token(r, "albums").await?;
    let hijack = json!({"id": "albums.h", "table_port": {"uri": "file:///lake/albums/h", "source_topic": "songs.played"}});
    let (status, _, body) = call(
        r,
        "PUT",
        "/api/v1/products/albums.h",
        Some(hijack),
        Some(&albums),
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("belongs to another domain"),
        "{body}"
    );

    // A binding an older build stored anyway gives the other domain no say.
    let own = json!({"id": "albums.h", "table_port": {"uri": "file:///lake/albums/h"}});
    assert_eq!(
        call(
            r,
            "PUT",
            "/api/v1/products/albums.h",
            Some(own),
            Some(&albums)
        )
        .await?
        .0,
        StatusCode::OK
    );
    let must_have = r#"{"type":"record","name":"R","fields":[{"name":"must_have","type":"long"}]}"#;
    assert_eq!(
        call(
            r,
            "POST",
            "/subjects/albums.h-table/versions",
            Some(schema_body(must_have)),
            Some(&albums)
        )
        .await?
        .0,
        StatusCode::OK
    );
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&t.url).await?;
    sqlx::query(
        "UPDATE table_ports SET source_topic = 'songs.played' WHERE product_id = 'albums.h'",
    )
    .execute(&pool)
    .await?;
    pool.close().await;
    let played = r#"{"type":"record","name":"Played","fields":[{"name":"x","type":"int"}]}"#;
    let (status, _, body) = call(
        r,
        "POST",
        "/subjects/songs.played-value/versions",
        Some(schema_body(played)),
        Some(&songs),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    alive(r).await
}

async fn d4_d12_imported_ids_and_versions_stay_in_range(db: Db) -> TestResult {
    let Some(t) = admin_catalog(db).await? else {
        return Ok(());
    };
    let r = &t.router;
    let songs = domain_token(r, "songs").await?;
    let albums = domain_token(r, "albums").await?;
    let imported = r#"{"type":"record","name":"Imported","fields":[{"name":"a","type":"string"}]}"#;
    // IMPORT writes into every domain's id space: admins only.
    let (status, _, body) = call(
        r,
        "PUT",
        "/mode/songs.imp-value",
        Some(json!({"mode": "IMPORT"})),
        Some(&songs),
    )
    .await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        call(
            r,
            "PUT",
            "/mode/songs.imp-value",
            Some(json!({"mode": "IMPORT"})),
            Some(ADMIN_TOKEN)
        )
        .await?
        .0,
        StatusCode::OK
    );
    let (status, _, body) = call(
        r,
        "POST",
        "/subjects/songs.imp-value/versions",
        Some(json!({"schema": imported, "id": 7, "version": 1})),
        Some(&songs),
    )
    .await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    for (id, version) in [
        (4_294_967_295_u64, 1_i64),
        (0, 1),
        (7, 9_223_372_036_854_775_807),
        (7, 0),
    ] {
        let (status, _, body) = call(
            r,
            "POST",
            "/subjects/songs.imp-value/versions",
            Some(json!({"schema": imported, "id": id, "version": version})),
            Some(ADMIN_TOKEN),
        )
        .await?;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "id {id} version {version}: {body}"
        );
    }
    let (status, _, body) = call(
        r,
        "POST",
        "/subjects/songs.imp-value/versions",
        Some(json!({"schema": imported, "id": 1000, "version": 5})),
        Some(ADMIN_TOKEN),
    )
    .await?;
    assert_eq!(
        (status, body["id"].as_u64()),
        (StatusCode::OK, Some(1000)),
        "{body}"
    );
    // Later registrations never collide with the import.
    let bees = r#"{"type":"record","name":"Bees","fields":[{"name":"b","type":"long"}]}"#;
    let (status, _, body) = call(
        r,
        "POST",
        "/subjects/albums.after-value/versions",
        Some(schema_body(bees)),
        Some(&albums),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["id"].as_u64().ok_or("no id")?;
    assert!(id > 1000, "{id}");
    let (_, _, got) = call(r, "GET", &format!("/schemas/ids/{id}"), None, Some(&albums)).await?;
    assert!(
        got["schema"].as_str().unwrap_or_default().contains("Bees"),
        "{got}"
    );
    // The highest id: taken by an import, the next registration is refused, not clamped.
    let top = r#"{"type":"record","name":"Top","fields":[{"name":"t","type":"int"}]}"#;
    let (status, _, body) = call(
        r,
        "POST",
        "/subjects/songs.imp-value/versions",
        Some(json!({"schema": top, "id": 2_147_483_647_u32})),
        Some(ADMIN_TOKEN),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let wasps = r#"{"type":"record","name":"Wasps","fields":[{"name":"w","type":"long"}]}"#;
    let (status, _, body) = call(
        r,
        "POST",
        "/subjects/albums.later-value/versions",
        Some(schema_body(wasps)),
        Some(&albums),
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("every schema id"),
        "{body}"
    );
    alive(r).await
}

/// A record of 30,000 int fields plus `extra` optional ones, as a registration body.
fn wide(extra: usize) -> Value {
    let mut fields: Vec<Value> = (0..30_000)
        .map(|i| json!({"name": format!("f{i:05}"), "type": "int"}))
        .collect();
    fields.extend(
        (0..extra)
            .map(|j| json!({"name": format!("e{j}"), "type": ["null", "int"], "default": null})),
    );
    schema_body(&json!({"type": "record", "name": "Wide", "fields": fields}).to_string())
}

async fn d5_wide_schemas_check_quickly_and_hold_up_no_one(db: Db) -> TestResult {
    let Some(t) = admin_catalog(db).await? else {
        return Ok(());
    };
    let r = t.router.clone();
    let songs = domain_token(&r, "songs").await?;
    let albums = domain_token(&r, "albums").await?;
    for extra in 0..3 {
        let (status, _, body) = call(
            &r,
            "POST",
            "/subjects/songs.wide-value/versions",
            Some(wide(extra)),
            Some(&songs),
        )
        .await?;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    call(
        &r,
        "PUT",
        "/config/songs.wide-value",
        Some(json!({"compatibility": "FULL_TRANSITIVE"})),
        Some(&songs),
    )
    .await?;
    // Two read-only checks and a registration against three wide versions, all at once...
    let mut work = tokio::task::JoinSet::new();
    for (path, token) in [
        (
            "/compatibility/subjects/songs.wide-value/versions",
            albums.clone(),
        ),
        (
            "/compatibility/subjects/songs.wide-value/versions",
            albums.clone(),
        ),
        ("/subjects/songs.wide-value/versions", songs.clone()),
    ] {
        let r = r.clone();
        work.spawn(async move { call(&r, "POST", path, Some(wide(3)), Some(&token)).await });
    }
    // ...while other clients are answered: the probe saw /healthz take 45 s and an unrelated
    // domain write fail with 500 after SQLite's 5 s busy timeout.
    let patience = std::time::Duration::from_secs(10);
    let (status, _, _) =
        tokio::time::timeout(patience, call(&r, "GET", "/healthz", None, None)).await??;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = tokio::time::timeout(
        patience,
        call(
            &r,
            "PUT",
            "/api/v1/domains/albums",
            Some(json!({"name": "albums", "owner": "x"})),
            Some(&albums),
        ),
    )
    .await??;
    assert_eq!(status, StatusCode::OK, "{body}");
    while let Some(done) = work.join_next().await {
        let (status, _, body) = done??;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    Ok(())
}

async fn d6_parallel_config_and_mode_writes_all_land(db: Db) -> TestResult {
    let Some(t) = admin_catalog(db).await? else {
        return Ok(());
    };
    let r = t.router.clone();
    let songs = domain_token(&r, "songs").await?;
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..50 {
        let (r, token) = (r.clone(), songs.clone());
        writes.spawn(async move {
            let (path, body) = match i % 3 {
                0 => (
                    format!("/mode/songs.m{i}-value"),
                    json!({"mode": "READWRITE"}),
                ),
                1 => (
                    format!("/config/songs.m{i}-value"),
                    json!({"compatibility": "FULL"}),
                ),
                _ => (
                    format!("/subjects/songs.m{i}-value/versions"),
                    schema_body(NODE),
                ),
            };
            let method = if i % 3 == 2 { "POST" } else { "PUT" };
            call(&r, method, &path, Some(body), Some(&token)).await
        });
    }
    while let Some(done) = writes.join_next().await {
        let (status, _, body) = done??;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    Ok(())
}

async fn d7_one_table_version_posted_in_parallel_is_recorded_once(db: Db) -> TestResult {
    let Some(t) = admin_catalog(db).await? else {
        return Ok(());
    };
    let r = t.router.clone();
    let songs = domain_token(&r, "songs").await?;
    let product = json!({"id": "songs.p", "table_port": {"uri": "file:///lake/songs/p"}});
    assert_eq!(
        call(
            &r,
            "PUT",
            "/api/v1/products/songs.p",
            Some(product),
            Some(&songs)
        )
        .await?
        .0,
        StatusCode::OK
    );
    let mut posts = tokio::task::JoinSet::new();
    for i in 0..30 {
        let (r, token) = (r.clone(), songs.clone());
        posts.spawn(async move {
            let body = json!({"version": 100, "rows": i % 2 + 5, "bytes": 1, "committed_at_ms": 1});
            call(
                &r,
                "POST",
                "/api/v1/products/songs.p/versions",
                Some(body),
                Some(&token),
            )
            .await
        });
    }
    let mut statuses = Vec::new();
    while let Some(done) = posts.join_next().await {
        statuses.push(done??.0);
    }
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    assert!(statuses.contains(&StatusCode::OK));
    Ok(())
}

async fn d8_control_characters_are_refused(db: Db) -> TestResult {
    let Some(t) = admin_catalog(db).await? else {
        return Ok(());
    };
    let r = &t.router;
    let songs = domain_token(r, "songs").await?;
    let nul = "a\u{0}b";
    let cases = [
        (
            "PUT",
            "/api/v1/domains/songs",
            json!({"name": "songs", "owner": "o", "description": nul}),
        ),
        (
            "PUT",
            "/api/v1/domains/songs",
            json!({"name": "songs", "owner": nul}),
        ),
        (
            "PUT",
            "/api/v1/products/songs.x",
            json!({"id": "songs.x", "description": nul}),
        ),
        (
            "PUT",
            "/api/v1/products/songs.x",
            json!({"id": "songs.x", "tags": [nul]}),
        ),
        (
            "PUT",
            "/api/v1/products/songs.x",
            json!({"id": "songs.x", "table_port": {"uri": format!("file:///x{nul}")}}),
        ),
        (
            "POST",
            "/subjects/songs.r-value/versions",
            json!({"schema": NODE, "references": [{"name": nul, "subject": "songs.q-value", "version": 1}]}),
        ),
    ];
    for (method, path, body) in cases {
        let (status, _, answer) = call(r, method, path, Some(body.clone()), Some(&songs)).await?;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {body}: {answer}"
        );
    }
    let (status, _, answer) = call(
        r,
        "POST",
        "/api/v1/tokens",
        Some(json!({"domain": "songs", "description": nul})),
        Some(ADMIN_TOKEN),
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    // Line breaks are fine in descriptions.
    let (status, _, answer) = call(
        r,
        "PUT",
        "/api/v1/domains/songs",
        Some(json!({"name": "songs", "owner": "o", "description": "two\nlines"})),
        Some(&songs),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{answer}");
    alive(r).await
}

async fn d10_d11_out_of_range_numbers_are_refused(db: Db) -> TestResult {
    let Some(t) = admin_catalog(db).await? else {
        return Ok(());
    };
    let r = &t.router;
    let songs = domain_token(r, "songs").await?;
    let product = json!({"id": "songs.hp", "sla": {"max_staleness_secs": 60},
        "stream_ports": [{"topic": "songs.hs", "value_subject": "songs.hs-value"}],
        "table_port": {"uri": "file:///lake/songs/hp", "source_topic": "songs.hs"}});
    assert_eq!(
        call(
            r,
            "PUT",
            "/api/v1/products/songs.hp",
            Some(product),
            Some(&songs)
        )
        .await?
        .0,
        StatusCode::OK
    );
    let refused = [
        json!({"version": 1, "rows": 1, "bytes": 1, "committed_at_ms": i64::MIN}),
        json!({"version": 1, "rows": 1, "bytes": 1, "committed_at_ms": 9_000_000_000_000_000_i64}),
        json!({"version": 1, "rows": 1, "bytes": 1, "committed_at_ms": 1, "offsets": [{"topic": "songs.hs", "partition": 0, "offset": i64::MIN}]}),
        json!({"version": 7, "rows": u64::MAX, "bytes": 1, "committed_at_ms": 1}),
        json!({"version": -5, "rows": 1, "bytes": 1, "committed_at_ms": 1}),
    ];
    for body in refused {
        let (status, _, answer) = call(
            r,
            "POST",
            "/api/v1/products/songs.hp/versions",
            Some(body.clone()),
            Some(&songs),
        )
        .await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
    }
    let (status, _, answer) = call(
        r,
        "PUT",
        "/api/v1/streams/songs.hs/heads",
        Some(json!([{"partition": -1, "offset": -5}])),
        Some(&songs),
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    // Huge but legal numbers: the health arithmetic saturates instead of wrapping.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let old = json!({"version": 1, "rows": 1, "bytes": 1, "committed_at_ms": 0, "offsets": [{"topic": "songs.hs", "partition": 0, "offset": 0}]});
    assert_eq!(
        call(
            r,
            "POST",
            "/api/v1/products/songs.hp/versions",
            Some(old),
            Some(&songs)
        )
        .await?
        .0,
        StatusCode::OK
    );
    let heads = json!([{"partition": 0, "offset": i64::MAX}, {"partition": 1, "offset": i64::MAX}, {"partition": 2, "offset": i64::MAX}]);
    assert_eq!(
        call(
            r,
            "PUT",
            "/api/v1/streams/songs.hs/heads",
            Some(heads),
            Some(&songs)
        )
        .await?
        .0,
        StatusCode::OK
    );
    let (_, _, health) = call(
        r,
        "GET",
        "/api/v1/products/songs.hp/health",
        None,
        Some(&songs),
    )
    .await?;
    assert_eq!(health["status"], "stale", "{health}");
    assert_eq!(health["streams"][0]["lag"], json!(i64::MAX), "{health}");
    assert!(
        health["table_age_secs"].as_f64().unwrap_or_default() * 1000.0 >= (now - 1000) as f64,
        "{health}"
    );
    Ok(())
}

async fn the_bearer_scheme_is_case_insensitive(db: Db) -> TestResult {
    let Some(t) = admin_catalog(db).await? else {
        return Ok(());
    };
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let request = axum::http::Request::builder()
            .uri("/subjects")
            .header("authorization", format!("{scheme} {ADMIN_TOKEN}"))
            .body(axum::body::Body::empty())?;
        let response = tower::ServiceExt::oneshot(t.router.clone(), request).await?;
        assert_eq!(response.status(), StatusCode::OK, "{scheme}");
    }
    Ok(())
}
