//! Bad input gets a 4xx with a Confluent-style body, never a 5xx.

use axum::http::StatusCode;
use catalog::server::Auth;
use serde_json::json;

use crate::support::{Db, PLAYED_V1, TestResult, call, call_raw, catalog, on_every_backend};

on_every_backend!(bad_input_gets_a_clear_4xx);

async fn bad_input_gets_a_clear_4xx(db: Db) -> TestResult {
    let Some(t) = catalog(db, Auth::Disabled).await? else {
        return Ok(());
    };
    let r = &t.router;
    let huge_schema = format!(
        r#"{{"type":"record","name":"Huge","doc":"{}","fields":[]}}"#,
        "x".repeat(1024 * 1024 + 1)
    );
    let over_body = vec![b' '; 3 * 1024 * 1024];
    let raw_cases: Vec<(&str, String, Option<Vec<u8>>, u16)> = vec![
        (
            "POST",
            "/subjects/a-value/versions".into(),
            Some(b"{not json".to_vec()),
            422,
        ),
        (
            "POST",
            "/subjects/a-value/versions".into(),
            Some(b"[1,2]".to_vec()),
            422,
        ),
        (
            "POST",
            "/subjects/a-value/versions".into(),
            Some(Vec::new()),
            422,
        ),
        (
            "POST",
            "/subjects/a-value/versions".into(),
            Some(serde_json::to_vec(&json!({ "schema": huge_schema }))?),
            422,
        ),
        (
            "POST",
            "/subjects/a-value/versions".into(),
            Some(over_body),
            413,
        ),
        (
            "POST",
            "/subjects/a-value/versions".into(),
            Some(serde_json::to_vec(
                &json!({ "schema": "{\"type\":\"record\",\"name\":\"X\",\"fields\":[{\"name\":\"f\",\"type\":\"nope\"}]}" }),
            )?),
            422,
        ),
        (
            "PUT",
            "/api/v1/domains/songs".into(),
            Some(b"{\"name\": 3}".to_vec()),
            422,
        ),
        (
            "PUT",
            "/api/v1/products/songs.x".into(),
            Some(serde_json::to_vec(
                &json!({ "id": "songs.x", "tags": "not-a-list" }),
            )?),
            422,
        ),
        (
            "POST",
            "/api/v1/products/songs.x/versions".into(),
            Some(b"{}".to_vec()),
            422,
        ),
    ];
    for (method, path, body, status) in raw_cases {
        let (got, content_type, answer) = call_raw(r, method, &path, body, None).await?;
        assert_eq!(got.as_u16(), status, "{method} {path}: {answer}");
        assert!(
            answer["error_code"].as_i64().is_some(),
            "{method} {path}: {answer}"
        );
        assert_eq!(content_type, "application/vnd.schemaregistry.v1+json");
    }

    // Hostile names: path separators, quotes, SQL, control characters, absurd lengths.
    let hostile = [
        "a%2Fb%2F..%2F..%2Fetc%2Fpasswd",
        "x'%3B%20DROP%20TABLE%20schemas%3B--",
        "%22quoted%22",
        "%00nul",
        "tab%09bed",
        &"n".repeat(300),
        "..",
        "%E2%80%AE%E2%80%AD",
    ];
    for name in hostile {
        for (method, path, body) in [
            ("GET", format!("/subjects/{name}/versions"), None),
            ("GET", format!("/subjects/{name}/versions/latest"), None),
            (
                "POST",
                format!("/subjects/{name}/versions"),
                Some(json!({ "schema": PLAYED_V1 })),
            ),
            (
                "POST",
                format!("/subjects/{name}"),
                Some(json!({ "schema": PLAYED_V1 })),
            ),
            ("DELETE", format!("/subjects/{name}"), None),
            ("GET", format!("/config/{name}"), None),
            (
                "PUT",
                format!("/config/{name}"),
                Some(json!({ "compatibility": "FULL" })),
            ),
            ("GET", format!("/api/v1/domains/{name}"), None),
            (
                "PUT",
                format!("/api/v1/domains/{name}"),
                Some(json!({ "name": "x", "owner": "o" })),
            ),
            ("GET", format!("/api/v1/products/{name}"), None),
            ("GET", format!("/api/v1/products/{name}/health"), None),
            (
                "PUT",
                format!("/api/v1/streams/{name}/heads"),
                Some(json!([])),
            ),
            ("GET", format!("/schemas/ids/{name}"), None),
            ("GET", format!("/api/v1/search?q={name}"), None),
        ] {
            let (got, _, answer) = call(r, method, &path, body, None).await?;
            assert!(!got.is_server_error(), "{method} {path}: {got} {answer}");
            if !got.is_success() {
                assert!(
                    answer["error_code"].as_i64().is_some(),
                    "{method} {path}: {answer}"
                );
            }
        }
    }
    // The store is intact after all that.
    let (status, _, _) = call(
        r,
        "POST",
        "/subjects/still-value/versions",
        Some(json!({ "schema": PLAYED_V1 })),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = call(r, "GET", "/no/such/route", None, None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    Ok(())
}
