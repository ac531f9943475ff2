//! Tokens, domain ownership, grants on table locations and the audit log.

use axum::http::StatusCode;
use catalog::server::Auth;
use serde_json::{Value, json};

use crate::support::{Db, TestResult, call, catalog, on_every_backend};

on_every_backend!(
    every_request_needs_a_token_except_the_probes,
    domains_change_only_what_they_own,
    table_locations_need_a_grant,
    every_mutation_is_audited,
    a_token_learns_who_it_is_and_sees_its_domains_tokens,
);

const ADMIN: &str = "let-me-in";

async fn token(
    router: &axum::Router,
    domain: Option<&str>,
) -> Result<String, crate::support::Error> {
    let (status, _, body) = call(
        router,
        "POST",
        "/api/v1/tokens",
        Some(json!({ "domain": domain, "description": "test" })),
        Some(ADMIN),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Ok(body["token"].as_str().ok_or("no token")?.to_owned())
}

async fn every_request_needs_a_token_except_the_probes(db: Db) -> TestResult {
    let Some(t) = catalog(db, Auth::AdminToken(ADMIN.into())).await? else {
        return Ok(());
    };
    let r = &t.router;
    for (method, path) in [
        ("GET", "/subjects"),
        ("GET", "/api/v1/products"),
        ("PUT", "/api/v1/domains/x"),
    ] {
        // The answer says whether a token is missing or not known: send one, or get another.
        for (bad, says) in [
            (None, "needs a bearer token"),
            (Some("wrong"), "not one this catalog knows"),
        ] {
            let (status, _, body) = call(
                r,
                method,
                path,
                Some(json!({ "name": "x", "owner": "o" })),
                bad,
            )
            .await?;
            assert_eq!(
                (status, body["error_code"].as_i64()),
                (StatusCode::UNAUTHORIZED, Some(40101)),
                "{path}"
            );
            let message = body["message"].as_str().unwrap_or_default();
            assert!(message.contains(says), "{path}: {body}");
        }
    }
    for path in ["/healthz", "/readyz", "/metrics"] {
        let (status, _, _) = call(r, "GET", path, None, None).await?;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    // A revoked token stops working at once.
    let songs = token(r, Some("songs")).await?;
    let (status, _, _) = call(r, "GET", "/subjects", None, Some(&songs)).await?;
    assert_eq!(status, StatusCode::OK);
    let (_, _, tokens) = call(r, "GET", "/api/v1/tokens", None, Some(ADMIN)).await?;
    let listed = tokens.as_array().ok_or("no list")?;
    assert_eq!(listed.len(), 1);
    assert!(
        !tokens.to_string().contains(&songs),
        "secrets are never listed"
    );
    let id = listed[0]["id"].as_str().ok_or("no id")?;
    call(
        r,
        "DELETE",
        &format!("/api/v1/tokens/{id}"),
        None,
        Some(ADMIN),
    )
    .await?;
    let (status, _, _) = call(r, "GET", "/subjects", None, Some(&songs)).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    Ok(())
}

async fn domains_change_only_what_they_own(db: Db) -> TestResult {
    let Some(t) = catalog(db, Auth::AdminToken(ADMIN.into())).await? else {
        return Ok(());
    };
    let r = &t.router;
    let songs = token(r, Some("songs")).await?;
    // A domain token registers its own domain, products and subjects...
    let (status, _, body) = call(
        r,
        "PUT",
        "/api/v1/domains/songs",
        Some(json!({ "name": "songs", "owner": "o" })),
        Some(&songs),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = call(
        r,
        "PUT",
        "/api/v1/products/songs.charts",
        Some(json!({ "id": "songs.charts" })),
        Some(&songs),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    let schema = json!({ "schema": "{\"type\":\"record\",\"name\":\"C\",\"fields\":[]}" });
    let (status, _, _) = call(
        r,
        "POST",
        "/subjects/songs.charts-value/versions",
        Some(schema.clone()),
        Some(&songs),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    // ...and nothing of another domain, nor the global settings or tokens.
    let refused: [(&str, &str, Option<Value>); 6] = [
        (
            "PUT",
            "/api/v1/domains/users",
            Some(json!({ "name": "users", "owner": "o" })),
        ),
        (
            "PUT",
            "/api/v1/products/users.profiles",
            Some(json!({ "id": "users.profiles" })),
        ),
        (
            "POST",
            "/subjects/users.signed-up-value/versions",
            Some(schema.clone()),
        ),
        ("PUT", "/config", Some(json!({ "compatibility": "NONE" }))),
        ("POST", "/api/v1/tokens", Some(json!({ "domain": "songs" }))),
        ("GET", "/api/v1/audit", None),
    ];
    for (method, path, body) in refused {
        let (status, _, answer) = call(r, method, path, body, Some(&songs)).await?;
        assert_eq!(
            (status, answer["error_code"].as_i64()),
            (StatusCode::FORBIDDEN, Some(40301)),
            "{method} {path}: {answer}"
        );
    }
    let (_, _, subjects) = call(r, "GET", "/subjects", None, Some(ADMIN)).await?;
    assert_eq!(subjects, json!(["songs.charts-value"]));
    Ok(())
}

async fn table_locations_need_a_grant(db: Db) -> TestResult {
    let Some(t) = catalog(db, Auth::AdminToken(ADMIN.into())).await? else {
        return Ok(());
    };
    let r = &t.router;
    for d in ["songs", "recommendations"] {
        call(
            r,
            "PUT",
            &format!("/api/v1/domains/{d}"),
            Some(json!({ "name": d, "owner": "o" })),
            Some(ADMIN),
        )
        .await?;
    }
    let product =
        json!({ "id": "songs.catalogue", "table_port": { "uri": "file:///lake/songs/catalogue" } });
    call(
        r,
        "PUT",
        "/api/v1/products/songs.catalogue",
        Some(product),
        Some(ADMIN),
    )
    .await?;
    let songs = token(r, Some("songs")).await?;
    let recs = token(r, Some("recommendations")).await?;

    let (_, _, seen) = call(
        r,
        "GET",
        "/api/v1/products/songs.catalogue",
        None,
        Some(&recs),
    )
    .await?;
    assert_eq!(seen["table_location_hidden"], true, "{seen}");
    assert!(seen["table_port"].is_null());
    let (_, _, listed) = call(r, "GET", "/api/v1/products", None, Some(&recs)).await?;
    assert!(listed[0]["table_port"].is_null());
    let (_, _, own) = call(
        r,
        "GET",
        "/api/v1/products/songs.catalogue",
        None,
        Some(&songs),
    )
    .await?;
    assert_eq!(own["table_port"]["uri"], "file:///lake/songs/catalogue");

    // The owner grants; the consumer sees the location; the owner revokes.
    let (_, _, denied) = call(
        r,
        "POST",
        "/api/v1/products/songs.catalogue/grants",
        Some(json!({ "consumer_domain": "recommendations" })),
        Some(&recs),
    )
    .await?;
    assert_eq!(denied["error_code"], 40301);
    let (status, _, grant) = call(
        r,
        "POST",
        "/api/v1/products/songs.catalogue/grants",
        Some(json!({ "consumer_domain": "recommendations" })),
        Some(&songs),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{grant}");
    assert!(
        grant["granted_by"]
            .as_str()
            .is_some_and(|g| g.starts_with("domain:songs")),
        "{grant}"
    );
    let (_, _, seen) = call(
        r,
        "GET",
        "/api/v1/products/songs.catalogue",
        None,
        Some(&recs),
    )
    .await?;
    assert_eq!(seen["table_port"]["uri"], "file:///lake/songs/catalogue");
    let (_, _, grants) = call(
        r,
        "GET",
        "/api/v1/products/songs.catalogue/grants",
        None,
        Some(&songs),
    )
    .await?;
    assert_eq!(grants[0]["consumer_domain"], "recommendations");
    call(
        r,
        "DELETE",
        "/api/v1/products/songs.catalogue/grants/recommendations",
        None,
        Some(&songs),
    )
    .await?;
    let (_, _, seen) = call(
        r,
        "GET",
        "/api/v1/products/songs.catalogue",
        None,
        Some(&recs),
    )
    .await?;
    assert_eq!(seen["table_location_hidden"], true);
    Ok(())
}

async fn every_mutation_is_audited(db: Db) -> TestResult {
    let Some(t) = catalog(db, Auth::AdminToken(ADMIN.into())).await? else {
        return Ok(());
    };
    let r = &t.router;
    let songs = token(r, Some("songs")).await?;
    call(
        r,
        "PUT",
        "/api/v1/domains/songs",
        Some(json!({ "name": "songs", "owner": "o" })),
        Some(&songs),
    )
    .await?;
    let schema = json!({ "schema": "{\"type\":\"record\",\"name\":\"C\",\"fields\":[]}" });
    call(
        r,
        "POST",
        "/subjects/songs.c-value/versions",
        Some(schema),
        Some(&songs),
    )
    .await?;
    call(
        r,
        "PUT",
        "/config/songs.c-value",
        Some(json!({ "compatibility": "FULL" })),
        Some(&songs),
    )
    .await?;
    // A refused change leaves no trace.
    call(
        r,
        "PUT",
        "/api/v1/domains/users",
        Some(json!({ "name": "users", "owner": "o" })),
        Some(&songs),
    )
    .await?;

    let (_, _, log) = call(r, "GET", "/api/v1/audit?limit=10", None, Some(ADMIN)).await?;
    let entries: Vec<(String, String, String)> = log
        .as_array()
        .ok_or("no log")?
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["target"].as_str().unwrap_or_default().to_owned(),
                e["actor"]
                    .as_str()
                    .unwrap_or_default()
                    .split(':')
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(":"),
            )
        })
        .collect();
    let expected = [
        ("config.set", "songs.c-value", "domain:songs"),
        ("schema.register", "songs.c-value", "domain:songs"),
        ("domain.save", "songs", "domain:songs"),
        ("token.create", "", "admin:bootstrap"),
    ];
    assert_eq!(entries.len(), expected.len(), "{entries:?}");
    for ((action, target, actor), (ea, et, eactor)) in entries.iter().zip(expected) {
        assert_eq!(action, ea);
        if !et.is_empty() {
            assert_eq!(target, et);
        }
        assert_eq!(actor, eactor);
    }
    assert!(log[0]["at_ms"].as_i64().is_some_and(|t| t > 0));
    Ok(())
}

async fn a_token_learns_who_it_is_and_sees_its_domains_tokens(db: Db) -> TestResult {
    let Some(t) = catalog(db, Auth::AdminToken(ADMIN.into())).await? else {
        return Ok(());
    };
    let r = &t.router;
    let songs = token(r, Some("songs")).await?;
    let songs_ci = token(r, Some("songs")).await?;
    let users = token(r, Some("users")).await?;

    let (status, _, me) = call(r, "GET", "/api/v1/whoami", None, Some(&songs)).await?;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        (&me["kind"], &me["domain"]),
        (&json!("domain"), &json!("songs"))
    );
    let (_, _, admin) = call(r, "GET", "/api/v1/whoami", None, Some(ADMIN)).await?;
    assert_eq!(admin, json!({ "kind": "admin", "token": "bootstrap" }));
    let (status, _, _) = call(r, "GET", "/api/v1/whoami", None, None).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A domain lists its own tokens only, and may revoke them, never another domain's.
    let (status, _, listed) = call(r, "GET", "/api/v1/tokens", None, Some(&songs)).await?;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let listed = listed.as_array().ok_or("no list")?;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().all(|t| t["domain"] == "songs"), "{listed:?}");
    let (_, _, all) = call(r, "GET", "/api/v1/tokens", None, Some(ADMIN)).await?;
    let users_id = all
        .as_array()
        .ok_or("no list")?
        .iter()
        .find(|t| t["domain"] == "users")
        .and_then(|t| t["id"].as_str())
        .ok_or("no users token")?
        .to_owned();
    let (status, _, _) = call(
        r,
        "DELETE",
        &format!("/api/v1/tokens/{users_id}"),
        None,
        Some(&songs),
    )
    .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = call(r, "GET", "/subjects", None, Some(&users)).await?;
    assert_eq!(
        status,
        StatusCode::OK,
        "the other domain's token still works"
    );
    let (_, _, me_ci) = call(r, "GET", "/api/v1/whoami", None, Some(&songs_ci)).await?;
    let ci_id = me_ci["token"].as_str().ok_or("no id")?.to_owned();
    let (status, _, _) = call(
        r,
        "DELETE",
        &format!("/api/v1/tokens/{ci_id}"),
        None,
        Some(&songs),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = call(r, "GET", "/subjects", None, Some(&songs_ci)).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // What a domain token may not do says which token it is.
    let (status, _, refused) = call(
        r,
        "POST",
        "/api/v1/tokens",
        Some(json!({ "domain": "songs" })),
        Some(&songs),
    )
    .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("acts for domain 'songs'")),
        "{refused}"
    );
    Ok(())
}
