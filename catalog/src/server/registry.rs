//! The Confluent schema-registry API, served at the catalog's root so that any Confluent
//! client (serializers, deserializers, `SchemaRegistryClient`) works against the catalog.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use mesh_core::{AvroSchema, Subject};

use super::error::{ApiError, ApiResult};
use super::store::{StoredSchema, StoredVersion, canonical_json};
use super::{Catalog, parse_body, reply};
use crate::model::SchemaId;
use crate::model::registry::{RegisterSchema, RegisteredId, SchemaById, SubjectVersion};

/// The only schema type served so far.
const AVRO: &str = "AVRO";

pub(super) fn routes() -> Router<Catalog> {
    Router::new()
        .route("/subjects", get(list_subjects))
        .route("/subjects/{subject}", post(lookup))
        .route(
            "/subjects/{subject}/versions",
            get(list_versions).post(register),
        )
        .route("/subjects/{subject}/versions/{version}", get(get_version))
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(get_version_schema),
        )
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/schema", get(raw_schema_by_id))
        .route("/schemas/types", get(schema_types))
}

/// A schema from a request, checked and put in canonical form.
struct Candidate {
    text: String,
    canonical: String,
}

fn check_schema(subject: &str, request: &RegisterSchema) -> ApiResult<Candidate> {
    match request.schema_type.as_deref() {
        None | Some(AVRO) => {}
        Some(other) => {
            return Err(ApiError::invalid_schema(format!(
                "Schema type {other} is not supported; this registry serves AVRO"
            )));
        }
    }
    if !request.references.is_empty() {
        return Err(ApiError::invalid_schema(
            "Schema references are not supported by this registry version",
        ));
    }
    let json: serde_json::Value = serde_json::from_str(&request.schema)
        .map_err(|e| ApiError::invalid_schema(format!("Invalid schema: not JSON: {e}")))?;
    AvroSchema::parse(&request.schema, subject)
        .map_err(|e| ApiError::invalid_schema(format!("Invalid schema: {e}")))?;
    Ok(Candidate {
        text: request.schema.clone(),
        canonical: canonical_json(&json),
    })
}

fn schema_type_field(schema: &StoredSchema) -> Option<String> {
    (schema.schema_type != AVRO).then(|| schema.schema_type.clone())
}

fn subject_version(v: StoredVersion) -> SubjectVersion {
    SubjectVersion {
        subject: v.subject,
        version: v.version,
        id: v.schema.id,
        schema_type: schema_type_field(&v.schema),
        schema: v.schema.text,
        references: v.schema.references,
    }
}

/// `latest` and `-1` mean the newest version; anything else must be in `[1, 2^31-1]`.
fn parse_version(version: &str) -> ApiResult<Option<i64>> {
    match version {
        "latest" | "-1" => Ok(None),
        v => match v.parse::<i64>() {
            Ok(n) if (1..=i64::from(i32::MAX)).contains(&n) => Ok(Some(n)),
            _ => Err(ApiError::invalid_version(v)),
        },
    }
}

fn parse_id(id: &str) -> ApiResult<SchemaId> {
    id.parse()
        .map_err(|_| ApiError::schema_not_found(format!("Schema {id} not found")))
}

fn check_subject(subject: &str) -> ApiResult<()> {
    Subject::new(subject)?;
    Ok(())
}

async fn list_subjects(State(catalog): State<Catalog>) -> ApiResult<Response> {
    Ok(reply(StatusCode::OK, &catalog.store().subjects().await?))
}

async fn list_versions(
    State(catalog): State<Catalog>,
    Path(subject): Path<String>,
) -> ApiResult<Response> {
    let versions = catalog.store().versions(&subject).await?;
    if versions.is_empty() {
        return Err(ApiError::subject_not_found(&subject));
    }
    Ok(reply(StatusCode::OK, &versions))
}

async fn register(
    State(catalog): State<Catalog>,
    Path(subject): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    check_subject(&subject)?;
    let request: RegisterSchema = parse_body(&body)?;
    let candidate = check_schema(&subject, &request)?;
    let registered = catalog
        .store()
        .register_schema(
            &subject,
            AVRO,
            &candidate.text,
            &candidate.canonical,
            &request.references,
        )
        .await?;
    if registered.created {
        tracing::info!(%subject, id = registered.id, version = registered.version, "schema registered");
    }
    Ok(reply(StatusCode::OK, &RegisteredId { id: registered.id }))
}

async fn lookup(
    State(catalog): State<Catalog>,
    Path(subject): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let request: RegisterSchema = parse_body(&body)?;
    let candidate = check_schema(&subject, &request)?;
    let store = catalog.store();
    match store
        .lookup(&subject, AVRO, &candidate.canonical, &request.references)
        .await?
    {
        Some(v) => Ok(reply(StatusCode::OK, &subject_version(v))),
        None if store.versions(&subject).await?.is_empty() => {
            Err(ApiError::subject_not_found(&subject))
        }
        None => Err(ApiError::schema_not_found("Schema not found")),
    }
}

async fn find_version(catalog: &Catalog, subject: &str, version: &str) -> ApiResult<StoredVersion> {
    let wanted = parse_version(version)?;
    match catalog.store().version(subject, wanted).await? {
        Some(v) => Ok(v),
        None if catalog.store().versions(subject).await?.is_empty() => {
            Err(ApiError::subject_not_found(subject))
        }
        None => Err(ApiError::version_not_found(subject, version)),
    }
}

async fn get_version(
    State(catalog): State<Catalog>,
    Path((subject, version)): Path<(String, String)>,
) -> ApiResult<Response> {
    let v = find_version(&catalog, &subject, &version).await?;
    Ok(reply(StatusCode::OK, &subject_version(v)))
}

/// The raw schema: the registered text is JSON already, so it is the body as is.
fn raw_schema(text: String) -> Response {
    use axum::response::IntoResponse;
    (
        StatusCode::OK,
        [(
            axum::http::header::CONTENT_TYPE,
            crate::model::registry::CONTENT_TYPE,
        )],
        text,
    )
        .into_response()
}

async fn get_version_schema(
    State(catalog): State<Catalog>,
    Path((subject, version)): Path<(String, String)>,
) -> ApiResult<Response> {
    let v = find_version(&catalog, &subject, &version).await?;
    Ok(raw_schema(v.schema.text))
}

async fn find_schema(catalog: &Catalog, id: &str) -> ApiResult<StoredSchema> {
    let id = parse_id(id)?;
    catalog
        .store()
        .schema_by_id(id)
        .await?
        .ok_or_else(|| ApiError::schema_not_found(format!("Schema {id} not found")))
}

async fn schema_by_id(
    State(catalog): State<Catalog>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let schema = find_schema(&catalog, &id).await?;
    Ok(reply(
        StatusCode::OK,
        &SchemaById {
            schema_type: schema_type_field(&schema),
            schema: schema.text,
            references: schema.references,
        },
    ))
}

async fn raw_schema_by_id(
    State(catalog): State<Catalog>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let schema = find_schema(&catalog, &id).await?;
    Ok(raw_schema(schema.text))
}

async fn schema_types() -> Response {
    reply(StatusCode::OK, &[AVRO])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_as_confluent_does() {
        assert_eq!(parse_version("latest").ok(), Some(None));
        assert_eq!(parse_version("-1").ok(), Some(None));
        assert_eq!(parse_version("3").ok(), Some(Some(3)));
        for bad in ["0", "-2", "x", "2147483648"] {
            assert!(parse_version(bad).is_err(), "{bad}");
        }
    }
}
