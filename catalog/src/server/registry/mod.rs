//! The Confluent schema-registry API, served at the catalog's root so that any Confluent
//! client (serializers, deserializers, `SchemaRegistryClient`) works against the catalog.
//!
//! Registration checks a schema twice: against the subject's earlier versions at its
//! compatibility level, and, when the subject feeds a data product's table, against what
//! that Delta table can take (cross-surface compatibility).

use std::collections::HashMap;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mesh_core::compat::{self, Level};
use mesh_core::{AvroSchema, Subject, avro};

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::openapi::{Api, Doc};
use super::store::registry::{MAX_SCHEMA_ID, MAX_VERSION, Setting};
use super::store::{
    Audit, Candidate, DeleteOutcome, Mode, RegisterContext, RegisterOutcome, StoredSchema,
    StoredVersion,
};
use super::{Catalog, JsonBody, MAX_SCHEMA_BYTES, reply};
use crate::model::SchemaId;
use crate::model::registry::{
    CONTENT_TYPE, CompatibilityCheck, ConfigAnswer, ConfigUpdate, ModeBody, RegisterSchema,
    RegisteredId, SchemaById, SubjectAndVersion, SubjectVersion,
};

mod compatibility;
mod config;
mod schemas;
mod subjects;

use compatibility::*;
use config::*;
use schemas::*;
use subjects::*;

/// The only schema type served so far.
const AVRO: &str = "AVRO";

type Params = Query<HashMap<String, String>>;

pub(super) fn routes() -> Api {
    const TAG: &str = "schema registry";
    let deleted = ("deleted", "true to include soft-deleted versions");
    Api::new()
        .get("/", root, Doc::new(TAG, "Registry root (a liveness answer for Confluent clients)"))
        .get(
            "/subjects",
            list_subjects,
            Doc::new(TAG, "List subjects")
                .query(deleted.0, deleted.1)
                .query("subjectPrefix", "only subjects starting with this")
                .answers::<Vec<String>>(),
        )
        .post(
            "/subjects/{subject}",
            lookup,
            Doc::new(TAG, "Find the version of a subject holding a schema")
                .query(deleted.0, deleted.1)
                .body::<RegisterSchema>()
                .answers::<SubjectVersion>(),
        )
        .delete(
            "/subjects/{subject}",
            delete_subject,
            Doc::new(TAG, "Delete a subject (soft, or permanent after soft)")
                .query("permanent", "true for a permanent delete")
                .answers::<Vec<i64>>(),
        )
        .get(
            "/subjects/{subject}/versions",
            list_versions,
            Doc::new(TAG, "List a subject's versions").query(deleted.0, deleted.1).answers::<Vec<i64>>(),
        )
        .post(
            "/subjects/{subject}/versions",
            register,
            Doc::new(TAG, "Register a schema under a subject")
                .query("normalize", "accepted for compatibility; schemas are always compared in canonical form")
                .body::<RegisterSchema>()
                .answers::<RegisteredId>()
                .link("schema", "get", "/schemas/ids/{id}", &[("id", "$response.body#/id")])
                .link("subjects_of_schema", "get", "/schemas/ids/{id}/subjects", &[("id", "$response.body#/id")])
                .link("versions", "get", "/subjects/{subject}/versions", &[("subject", "$request.path.subject")])
                .link(
                    "latest",
                    "get",
                    "/subjects/{subject}/versions/{version}",
                    &[("subject", "$request.path.subject"), ("version", "latest")],
                )
                .link(
                    "compatibility",
                    "post",
                    "/compatibility/subjects/{subject}/versions",
                    &[("subject", "$request.path.subject")],
                )
                .link("config", "put", "/config/{subject}", &[("subject", "$request.path.subject")])
                .link(
                    "delete_latest",
                    "delete",
                    "/subjects/{subject}/versions/{version}",
                    &[("subject", "$request.path.subject"), ("version", "latest")],
                ),
        )
        .get(
            "/subjects/{subject}/versions/{version}",
            get_version,
            Doc::new(TAG, "A version of a subject (`latest` for the newest)")
                .query(deleted.0, deleted.1)
                .answers::<SubjectVersion>(),
        )
        .delete(
            "/subjects/{subject}/versions/{version}",
            delete_version,
            Doc::new(TAG, "Delete a version (soft, or permanent after soft)")
                .query("permanent", "true for a permanent delete")
                .answers::<i64>(),
        )
        .get(
            "/subjects/{subject}/versions/{version}/schema",
            get_version_schema,
            Doc::new(TAG, "The raw schema of a version").query(deleted.0, deleted.1),
        )
        .get(
            "/subjects/{subject}/versions/{version}/referencedby",
            referenced_by,
            Doc::new(TAG, "Ids of schemas referencing a version").answers::<Vec<u32>>(),
        )
        .get(
            "/schemas/ids/{id}",
            schema_by_id,
            Doc::new(TAG, "A schema by its global id")
                .query("subject", "accepted for compatibility")
                .query("format", "accepted for compatibility")
                .answers::<SchemaById>(),
        )
        .get("/schemas/ids/{id}/schema", raw_schema_by_id, Doc::new(TAG, "The raw schema with an id"))
        .get(
            "/schemas/ids/{id}/subjects",
            subjects_of_id,
            Doc::new(TAG, "Subjects holding a schema id").query(deleted.0, deleted.1).answers::<Vec<String>>(),
        )
        .get(
            "/schemas/ids/{id}/versions",
            versions_of_id,
            Doc::new(TAG, "Subject versions holding a schema id")
                .query(deleted.0, deleted.1)
                .answers::<Vec<SubjectAndVersion>>(),
        )
        .get("/schemas/types", schema_types, Doc::new(TAG, "Schema types served").answers::<Vec<String>>())
        .post(
            "/compatibility/subjects/{subject}/versions",
            check_all,
            Doc::new(TAG, "Test a schema against the versions the subject's level names (and its product's table)")
                .query("verbose", "true for the reasons")
                .body::<RegisterSchema>()
                .answers::<CompatibilityCheck>(),
        )
        .post(
            "/compatibility/subjects/{subject}/versions/{version}",
            check_version,
            Doc::new(TAG, "Test a schema against one version")
                .query("verbose", "true for the reasons")
                .body::<RegisterSchema>()
                .answers::<CompatibilityCheck>(),
        )
        .get("/config", get_global_config, Doc::new(TAG, "The global compatibility level").answers::<ConfigAnswer>())
        .put(
            "/config",
            put_global_config,
            Doc::new(TAG, "Set the global compatibility level").body::<ConfigUpdate>().answers::<ConfigUpdate>(),
        )
        .delete(
            "/config",
            delete_global_config,
            Doc::new(TAG, "Reset the global compatibility level").answers::<ConfigAnswer>(),
        )
        .get(
            "/config/{subject}",
            get_config,
            Doc::new(TAG, "A subject's compatibility level")
                .query("defaultToGlobal", "true to fall back to the global level")
                .answers::<ConfigAnswer>(),
        )
        .put(
            "/config/{subject}",
            put_config,
            Doc::new(TAG, "Set a subject's compatibility level").body::<ConfigUpdate>().answers::<ConfigUpdate>(),
        )
        .delete(
            "/config/{subject}",
            delete_config,
            Doc::new(TAG, "Remove a subject's compatibility level").answers::<ConfigAnswer>(),
        )
        .get("/mode", get_global_mode, Doc::new(TAG, "The global mode").answers::<ModeBody>())
        .put("/mode", put_global_mode, Doc::new(TAG, "Set the global mode").body::<ModeBody>().answers::<ModeBody>())
        .get(
            "/mode/{subject}",
            get_mode,
            Doc::new(TAG, "A subject's mode")
                .query("defaultToGlobal", "true to fall back to the global mode")
                .answers::<ModeBody>(),
        )
        .put("/mode/{subject}", put_mode, Doc::new(TAG, "Set a subject's mode").body::<ModeBody>().answers::<ModeBody>())
        .delete("/mode/{subject}", delete_mode, Doc::new(TAG, "Remove a subject's mode").answers::<ModeBody>())
}

fn flag(params: &HashMap<String, String>, name: &str) -> bool {
    params
        .get(name)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn check_subject(subject: &str) -> ApiResult<()> {
    Subject::new(subject)?;
    Ok(())
}

async fn root() -> Response {
    reply(StatusCode::OK, &serde_json::json!({}))
}

/// A schema from a request, checked as JSON and put in canonical form.
fn candidate(request: &RegisterSchema) -> ApiResult<Candidate> {
    match request.schema_type.as_deref() {
        None => {}
        Some(t) if t.eq_ignore_ascii_case(AVRO) => {}
        Some(other) => {
            return Err(ApiError::invalid_schema(format!(
                "Schema type {other} is not supported; this registry serves AVRO"
            )));
        }
    }
    if request.schema.len() > MAX_SCHEMA_BYTES {
        return Err(ApiError::invalid_schema(format!(
            "Invalid schema: it has {} bytes, the limit is {MAX_SCHEMA_BYTES}",
            request.schema.len()
        )));
    }
    let json: serde_json::Value = serde_json::from_str(&request.schema)
        .map_err(|e| ApiError::invalid_schema(format!("Invalid schema: not JSON: {e}")))?;
    Ok(Candidate {
        schema_type: AVRO.to_owned(),
        text: request.schema.clone(),
        canonical: super::store::registry::canonical_json(&json),
        references: request.references.clone(),
    })
}

fn parse_candidate(
    candidate: &Candidate,
    subject: &str,
    references: &[String],
) -> ApiResult<AvroSchema> {
    let refs: Vec<&str> = references.iter().map(String::as_str).collect();
    AvroSchema::parse_with_references(&candidate.text, subject, &refs)
        .map_err(|e| ApiError::invalid_schema(format!("Invalid schema: {e}")))
}

/// A candidate ready to check: its `-1` references pinned to versions, what it must be
/// checked against read from the store.
async fn prepared(
    catalog: &Catalog,
    subject: &str,
    request: &RegisterSchema,
) -> ApiResult<(Candidate, RegisterContext)> {
    // Canonicalizing a schema of a megabyte is CPU work too.
    let request = request.clone();
    let mut candidate = catalog.blocking(move || candidate(&request)).await??;
    let store = catalog.store();
    if let Err(missing) = store.pin_references(&mut candidate).await? {
        return Err(ApiError::invalid_schema(format!(
            "Invalid schema: {missing}"
        )));
    }
    match store.register_context(subject, &candidate).await? {
        Ok(context) => Ok((candidate, context)),
        Err(missing) => Err(ApiError::invalid_schema(format!(
            "Invalid schema: {missing}"
        ))),
    }
}

/// Parses `candidate` and finds every reason it may not follow `context` (against the
/// versions `against` names, or those the level names), off the async workers.
async fn judged(
    catalog: &Catalog,
    subject: &str,
    candidate: &Candidate,
    context: &RegisterContext,
    against: Option<Vec<(StoredVersion, Vec<String>)>>,
    level: Level,
) -> ApiResult<(AvroSchema, Vec<String>)> {
    let (subject, candidate, context) = (subject.to_owned(), candidate.clone(), context.clone());
    catalog
        .blocking(move || {
            let schema = parse_candidate(&candidate, &subject, &context.candidate_references)?;
            let found = reasons(&schema, &context, against.as_deref(), level);
            Ok((schema, found))
        })
        .await?
}

fn stored(version: &StoredVersion, references: &[String]) -> Option<AvroSchema> {
    let refs: Vec<&str> = references.iter().map(String::as_str).collect();
    match AvroSchema::parse_with_references(&version.schema.text, &version.subject, &refs) {
        Ok(schema) => Some(schema),
        Err(e) => {
            // Stored before a check this build makes (a limit, a reference cycle): it cannot
            // take part in checks, which must not fail every later registration.
            tracing::warn!(subject = %version.subject, version = version.version, error = %e,
                "a stored schema no longer parses; it is left out of compatibility checks");
            None
        }
    }
}

/// Every reason `new` may not follow `context.earlier` under `subject`: the level's
/// checks against earlier versions, then what the product's table can take.
fn reasons(
    new: &AvroSchema,
    context: &RegisterContext,
    against: Option<&[(StoredVersion, Vec<String>)]>,
    level: Level,
) -> Vec<String> {
    let earlier: Vec<(i64, AvroSchema)> = against
        .unwrap_or(&context.earlier)
        .iter()
        .filter_map(|(v, refs)| stored(v, refs).map(|s| (v.version, s)))
        .collect();
    let mut reasons: Vec<String> = compat::check(level, new, &earlier)
        .iter()
        .map(ToString::to_string)
        .collect();
    for table in &context.tables {
        let current = table.current.as_ref().and_then(|(current, refs)| {
            let current = StoredVersion {
                subject: format!("{}-table", table.product),
                version: 0,
                schema: current.clone(),
                deleted: false,
            };
            stored(&current, refs)
        });
        let problems = match current {
            Some(current) => avro::table::evolution(&current, new, &table.partition_columns),
            // The table's first row schema: it must at least be one a table can hold.
            None => match avro::table::columns(new) {
                Ok(_) => Vec::new(),
                Err(e) => vec![avro::table::EvolutionProblem::NewNotATable(e)],
            },
        };
        for problem in problems {
            reasons.push(format!(
                "data product {}'s table cannot take it: {problem}",
                table.product
            ));
        }
    }
    reasons
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
