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

async fn list_subjects(
    State(catalog): State<Catalog>,
    Query(params): Params,
) -> ApiResult<Response> {
    let prefix = params.get("subjectPrefix").map_or("", String::as_str);
    let subjects = catalog
        .store()
        .subjects(flag(&params, "deleted"), prefix)
        .await?;
    Ok(reply(StatusCode::OK, &subjects))
}

async fn list_versions(
    State(catalog): State<Catalog>,
    Path(subject): Path<String>,
    Query(params): Params,
) -> ApiResult<Response> {
    check_subject(&subject)?;
    let versions = catalog
        .store()
        .versions(&subject, flag(&params, "deleted"))
        .await?;
    if versions.is_empty() {
        return Err(ApiError::subject_not_found(&subject));
    }
    Ok(reply(StatusCode::OK, &versions))
}

async fn register(
    State(catalog): State<Catalog>,
    Extension(principal): Extension<Principal>,
    Path(subject): Path<String>,
    JsonBody(request): JsonBody<RegisterSchema>,
) -> ApiResult<Response> {
    check_subject(&subject)?;
    principal.require_subject(&subject)?;
    let import = match (request.id, request.version) {
        (None, None) => None,
        (Some(id), version) => Some((id, version)),
        (None, Some(_)) => {
            return Err(ApiError::unprocessable(
                "A version can be given only together with an id (IMPORT mode).",
            ));
        }
    };
    if let Some((id, version)) = import {
        // Ids are one namespace for every domain: only an admin may choose them.
        principal.require_admin("register a schema with a chosen id (IMPORT)")?;
        if !(SchemaId(1)..=MAX_SCHEMA_ID).contains(&id) {
            return Err(ApiError::unprocessable(format!(
                "Schema id {id} is out of range: ids are in [1, {MAX_SCHEMA_ID}]."
            )));
        }
        if let Some(v) = version.filter(|v| !(1..=MAX_VERSION).contains(v)) {
            return Err(ApiError::invalid_version(&v.to_string()));
        }
    }
    let (candidate, context) = prepared(&catalog, &subject, &request).await?;
    // Checked before the registry's lock is taken, off the async workers: a wide schema's
    // check holds up neither other writers nor anyone's reads. Under the lock the check is
    // redone only if the subject moved on in between.
    let (schema, verdict) = judged(
        &catalog,
        &subject,
        &candidate,
        &context,
        None,
        context.level,
    )
    .await?;
    let actor = principal.actor();
    let audit = Audit {
        actor: &actor,
        action: "schema.register",
        target: &subject,
    };
    let outcome = catalog
        .store()
        .register_schema(&subject, &candidate, import, &audit, move |locked| {
            let found = if *locked == context {
                verdict
            } else {
                reasons(&schema, locked, None, locked.level)
            };
            if found.is_empty() { Ok(()) } else { Err(found) }
        })
        .await?;
    match outcome {
        RegisterOutcome::Registered { id, version } => {
            tracing::info!(%subject, %id, version, actor = %actor, "schema registered");
            Ok(reply(StatusCode::OK, &RegisteredId { id }))
        }
        RegisterOutcome::Existing { id, .. } => Ok(reply(StatusCode::OK, &RegisteredId { id })),
        RegisterOutcome::ReadOnly => Err(ApiError::operation_not_permitted(format!(
            "Subject '{subject}' is in read-only mode."
        ))),
        RegisterOutcome::ImportRefused(why) => Err(ApiError::operation_not_permitted(why)),
        RegisterOutcome::MissingReference(missing) => Err(ApiError::invalid_schema(format!(
            "Invalid schema: {missing}"
        ))),
        RegisterOutcome::Refused(found) => {
            tracing::info!(%subject, reasons = ?found, "incompatible schema refused");
            Err(ApiError::incompatible(&subject, &found))
        }
        RegisterOutcome::Exhausted(why) => Err(ApiError::operation_not_permitted(format!(
            "Cannot register under '{subject}': {why}."
        ))),
    }
}

async fn lookup(
    State(catalog): State<Catalog>,
    Path(subject): Path<String>,
    Query(params): Params,
    JsonBody(request): JsonBody<RegisterSchema>,
) -> ApiResult<Response> {
    check_subject(&subject)?;
    let mut candidate = catalog.blocking(move || candidate(&request)).await??;
    let store = catalog.store();
    if let Err(missing) = store.pin_references(&mut candidate).await? {
        return Err(ApiError::invalid_schema(format!(
            "Invalid schema: {missing}"
        )));
    }
    let deleted = flag(&params, "deleted");
    match store.lookup(&subject, &candidate, deleted).await? {
        Some(v) => Ok(reply(StatusCode::OK, &subject_version(v))),
        None if store.versions(&subject, deleted).await?.is_empty() => {
            Err(ApiError::subject_not_found(&subject))
        }
        None => Err(ApiError::schema_not_found("Schema not found")),
    }
}

async fn find_version(
    catalog: &Catalog,
    subject: &str,
    version: &str,
    deleted: bool,
) -> ApiResult<StoredVersion> {
    let wanted = parse_version(version)?;
    match catalog.store().version(subject, wanted, deleted).await? {
        Some(v) => Ok(v),
        None if catalog.store().versions(subject, true).await?.is_empty() => {
            Err(ApiError::subject_not_found(subject))
        }
        None => Err(ApiError::version_not_found(subject, version)),
    }
}

async fn get_version(
    State(catalog): State<Catalog>,
    Path((subject, version)): Path<(String, String)>,
    Query(params): Params,
) -> ApiResult<Response> {
    check_subject(&subject)?;
    let v = find_version(&catalog, &subject, &version, flag(&params, "deleted")).await?;
    Ok(reply(StatusCode::OK, &subject_version(v)))
}

/// The raw schema: the registered text is JSON already, so it is the body as is.
fn raw_schema(text: String) -> Response {
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)],
        text,
    )
        .into_response()
}

async fn get_version_schema(
    State(catalog): State<Catalog>,
    Path((subject, version)): Path<(String, String)>,
    Query(params): Params,
) -> ApiResult<Response> {
    check_subject(&subject)?;
    let v = find_version(&catalog, &subject, &version, flag(&params, "deleted")).await?;
    Ok(raw_schema(v.schema.text))
}

async fn referenced_by(
    State(catalog): State<Catalog>,
    Path((subject, version)): Path<(String, String)>,
) -> ApiResult<Response> {
    check_subject(&subject)?;
    let v = find_version(&catalog, &subject, &version, true).await?;
    Ok(reply(
        StatusCode::OK,
        &catalog.store().referenced_by(&subject, v.version).await?,
    ))
}

async fn find_schema(catalog: &Catalog, id: &str) -> ApiResult<std::sync::Arc<StoredSchema>> {
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
            schema: schema.text.clone(),
            references: schema.references.clone(),
        },
    ))
}

async fn raw_schema_by_id(
    State(catalog): State<Catalog>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let schema = find_schema(&catalog, &id).await?;
    Ok(raw_schema(schema.text.clone()))
}

async fn subjects_of_id(
    State(catalog): State<Catalog>,
    Path(id): Path<String>,
    Query(params): Params,
) -> ApiResult<Response> {
    let schema = find_schema(&catalog, &id).await?;
    let mut subjects: Vec<String> = catalog
        .store()
        .versions_of_id(schema.id, flag(&params, "deleted"))
        .await?
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    subjects.dedup();
    Ok(reply(StatusCode::OK, &subjects))
}

async fn versions_of_id(
    State(catalog): State<Catalog>,
    Path(id): Path<String>,
    Query(params): Params,
) -> ApiResult<Response> {
    let schema = find_schema(&catalog, &id).await?;
    let versions: Vec<SubjectAndVersion> = catalog
        .store()
        .versions_of_id(schema.id, flag(&params, "deleted"))
        .await?
        .into_iter()
        .map(|(subject, version)| SubjectAndVersion { subject, version })
        .collect();
    Ok(reply(StatusCode::OK, &versions))
}

async fn schema_types() -> Response {
    reply(StatusCode::OK, &[AVRO])
}

fn delete_error<T>(
    subject: &str,
    version: Option<&str>,
    outcome: DeleteOutcome<T>,
) -> ApiResult<T> {
    let v = version.unwrap_or("latest");
    match outcome {
        DeleteOutcome::Deleted(t) => Ok(t),
        DeleteOutcome::SubjectNotFound => Err(ApiError::subject_not_found(subject)),
        DeleteOutcome::VersionNotFound => Err(ApiError::version_not_found(subject, v)),
        DeleteOutcome::SubjectSoftDeleted => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            40404,
            format!(
                "Subject '{subject}' was soft deleted. Set permanent=true to delete permanently"
            ),
        )),
        DeleteOutcome::SubjectNotSoftDeleted => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            40405,
            format!("Subject '{subject}' was not deleted first before being permanently deleted"),
        )),
        DeleteOutcome::VersionSoftDeleted => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            40406,
            format!(
                "Subject '{subject}' Version {v} was soft deleted. Set permanent=true to delete permanently"
            ),
        )),
        DeleteOutcome::VersionNotSoftDeleted => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            40407,
            format!(
                "Subject '{subject}' Version {v} was not deleted first before being permanently deleted"
            ),
        )),
        DeleteOutcome::Referenced(ids) => Err(ApiError::referenced(&ids)),
        DeleteOutcome::ReadOnly => Err(ApiError::operation_not_permitted(format!(
            "Subject '{subject}' is in read-only mode."
        ))),
    }
}

async fn delete_subject(
    State(catalog): State<Catalog>,
    Extension(principal): Extension<Principal>,
    Path(subject): Path<String>,
    Query(params): Params,
) -> ApiResult<Response> {
    check_subject(&subject)?;
    principal.require_subject(&subject)?;
    let actor = principal.actor();
    let permanent = flag(&params, "permanent");
    let audit = Audit {
        actor: &actor,
        action: if permanent {
            "subject.delete.permanent"
        } else {
            "subject.delete"
        },
        target: &subject,
    };
    let outcome = catalog
        .store()
        .delete_subject(&subject, permanent, &audit)
        .await?;
    Ok(reply(
        StatusCode::OK,
        &delete_error(&subject, None, outcome)?,
    ))
}

async fn delete_version(
    State(catalog): State<Catalog>,
    Extension(principal): Extension<Principal>,
    Path((subject, version)): Path<(String, String)>,
    Query(params): Params,
) -> ApiResult<Response> {
    check_subject(&subject)?;
    principal.require_subject(&subject)?;
    let wanted = parse_version(&version)?;
    let actor = principal.actor();
    let permanent = flag(&params, "permanent");
    let audit = Audit {
        actor: &actor,
        action: if permanent {
            "version.delete.permanent"
        } else {
            "version.delete"
        },
        target: &subject,
    };
    let outcome = catalog
        .store()
        .delete_version(&subject, wanted, permanent, &audit)
        .await?;
    Ok(reply(
        StatusCode::OK,
        &delete_error(&subject, Some(&version), outcome)?,
    ))
}

fn verdict(reasons: Vec<String>, verbose: bool) -> CompatibilityCheck {
    CompatibilityCheck {
        is_compatible: reasons.is_empty(),
        messages: verbose.then_some(reasons),
    }
}

/// `POST /compatibility/subjects/{s}/versions`: the schema against the versions the
/// subject's level names, as registration would check it.
async fn check_all(
    State(catalog): State<Catalog>,
    Path(subject): Path<String>,
    Query(params): Params,
    JsonBody(request): JsonBody<RegisterSchema>,
) -> ApiResult<Response> {
    check_subject(&subject)?;
    let (candidate, context) = prepared(&catalog, &subject, &request).await?;
    let (_, found) = judged(
        &catalog,
        &subject,
        &candidate,
        &context,
        None,
        context.level,
    )
    .await?;
    Ok(reply(
        StatusCode::OK,
        &verdict(found, flag(&params, "verbose")),
    ))
}

/// `POST /compatibility/subjects/{s}/versions/{v}`: the schema against one version, in the
/// directions of the subject's level.
async fn check_version(
    State(catalog): State<Catalog>,
    Path((subject, version)): Path<(String, String)>,
    Query(params): Params,
    JsonBody(request): JsonBody<RegisterSchema>,
) -> ApiResult<Response> {
    check_subject(&subject)?;
    let target = find_version(&catalog, &subject, &version, false).await?;
    let (candidate, context) = prepared(&catalog, &subject, &request).await?;
    let one: Vec<(StoredVersion, Vec<String>)> = context
        .earlier
        .iter()
        .filter(|(v, _)| v.version == target.version)
        .cloned()
        .collect();
    // One version: the level's directions without its transitivity.
    let level = match context.level {
        Level::BackwardTransitive => Level::Backward,
        Level::ForwardTransitive => Level::Forward,
        Level::FullTransitive => Level::Full,
        other => other,
    };
    let (_, found) = judged(&catalog, &subject, &candidate, &context, Some(one), level).await?;
    Ok(reply(
        StatusCode::OK,
        &verdict(found, flag(&params, "verbose")),
    ))
}

fn parse_level(level: &str) -> ApiResult<Level> {
    level
        .parse()
        .map_err(|_| ApiError::invalid_compatibility(level))
}

async fn get_global_config(State(catalog): State<Catalog>) -> ApiResult<Response> {
    let level = catalog.store().compatibility("").await?;
    Ok(reply(
        StatusCode::OK,
        &ConfigAnswer {
            compatibility_level: level.unwrap_or_else(|| Level::default().to_string()),
        },
    ))
}

async fn set_config(
    catalog: &Catalog,
    principal: &Principal,
    scope: &str,
    level: Option<Level>,
) -> ApiResult<Option<String>> {
    let actor = principal.actor();
    let target = if scope.is_empty() { "(global)" } else { scope };
    let audit = Audit {
        actor: &actor,
        action: "config.set",
        target,
    };
    Ok(catalog
        .store()
        .set_setting(
            scope,
            Setting::Compatibility,
            level.map(Level::as_str),
            &audit,
        )
        .await?)
}

async fn put_global_config(
    State(catalog): State<Catalog>,
    Extension(principal): Extension<Principal>,
    JsonBody(update): JsonBody<ConfigUpdate>,
) -> ApiResult<Response> {
    principal.require_admin("change the global compatibility level")?;
    let level = parse_level(&update.compatibility)?;
    set_config(&catalog, &principal, "", Some(level)).await?;
    Ok(reply(
        StatusCode::OK,
        &ConfigUpdate {
            compatibility: level.to_string(),
        },
    ))
}

async fn delete_global_config(
    State(catalog): State<Catalog>,
    Extension(principal): Extension<Principal>,
) -> ApiResult<Response> {
    principal.require_admin("change the global compatibility level")?;
    let previous = set_config(&catalog, &principal, "", None).await?;
    Ok(reply(
        StatusCode::OK,
        &ConfigAnswer {
            compatibility_level: previous.unwrap_or_else(|| Level::default().to_string()),
        },
    ))
}

async fn get_config(
    State(catalog): State<Catalog>,
    Path(subject): Path<String>,
    Query(params): Params,
) -> ApiResult<Response> {
    check_subject(&subject)?;
    let store = catalog.store();
    let level = match store.compatibility(&subject).await? {
        Some(level) => level,
        None if flag(&params, "defaultToGlobal") => store
            .compatibility("")
            .await?
            .unwrap_or_else(|| Level::default().to_string()),
        None => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                40408,
                format!("Subject '{subject}' does not have subject-level compatibility configured"),
            ));
        }
    };
    Ok(reply(
        StatusCode::OK,
        &ConfigAnswer {
            compatibility_level: level,
        },
    ))
}

async fn put_config(
    State(catalog): State<Catalog>,
    Extension(principal): Extension<Principal>,
    Path(subject): Path<String>,
    JsonBody(update): JsonBody<ConfigUpdate>,
) -> ApiResult<Response> {
    check_subject(&subject)?;
    principal.require_subject(&subject)?;
    let level = parse_level(&update.compatibility)?;
    set_config(&catalog, &principal, &subject, Some(level)).await?;
    Ok(reply(
        StatusCode::OK,
        &ConfigUpdate {
            compatibility: level.to_string(),
        },
    ))
}

async fn delete_config(
    State(catalog): State<Catalog>,
    Extension(principal): Extension<Principal>,
    Path(subject): Path<String>,
) -> ApiResult<Response> {
    check_subject(&subject)?;
    principal.require_subject(&subject)?;
    match set_config(&catalog, &principal, &subject, None).await? {
        Some(previous) => Ok(reply(
            StatusCode::OK,
            &ConfigAnswer {
                compatibility_level: previous,
            },
        )),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            40408,
            format!("Subject '{subject}' does not have subject-level compatibility configured"),
        )),
    }
}

fn parse_mode(mode: &str) -> ApiResult<Mode> {
    Mode::parse(mode).ok_or_else(|| ApiError::invalid_mode(mode))
}

async fn set_mode(
    catalog: &Catalog,
    principal: &Principal,
    scope: &str,
    mode: Option<Mode>,
) -> ApiResult<Option<String>> {
    let actor = principal.actor();
    let target = if scope.is_empty() { "(global)" } else { scope };
    let audit = Audit {
        actor: &actor,
        action: "mode.set",
        target,
    };
    Ok(catalog
        .store()
        .set_setting(scope, Setting::Mode, mode.map(Mode::as_str), &audit)
        .await?)
}

async fn get_global_mode(State(catalog): State<Catalog>) -> ApiResult<Response> {
    let mode = catalog.store().mode("").await?;
    Ok(reply(
        StatusCode::OK,
        &ModeBody {
            mode: mode.unwrap_or_else(|| Mode::default().as_str().to_owned()),
        },
    ))
}

async fn put_global_mode(
    State(catalog): State<Catalog>,
    Extension(principal): Extension<Principal>,
    JsonBody(body): JsonBody<ModeBody>,
) -> ApiResult<Response> {
    principal.require_admin("change the global mode")?;
    let mode = parse_mode(&body.mode)?;
    set_mode(&catalog, &principal, "", Some(mode)).await?;
    Ok(reply(
        StatusCode::OK,
        &ModeBody {
            mode: mode.as_str().to_owned(),
        },
    ))
}

async fn get_mode(
    State(catalog): State<Catalog>,
    Path(subject): Path<String>,
    Query(params): Params,
) -> ApiResult<Response> {
    check_subject(&subject)?;
    let store = catalog.store();
    let mode = match store.mode(&subject).await? {
        Some(mode) => mode,
        None if flag(&params, "defaultToGlobal") => store
            .mode("")
            .await?
            .unwrap_or_else(|| Mode::default().as_str().to_owned()),
        None => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                40409,
                format!("Subject '{subject}' does not have subject-level mode configured"),
            ));
        }
    };
    Ok(reply(StatusCode::OK, &ModeBody { mode }))
}

async fn put_mode(
    State(catalog): State<Catalog>,
    Extension(principal): Extension<Principal>,
    Path(subject): Path<String>,
    JsonBody(body): JsonBody<ModeBody>,
) -> ApiResult<Response> {
    check_subject(&subject)?;
    principal.require_subject(&subject)?;
    let mode = parse_mode(&body.mode)?;
    if mode == Mode::Import {
        // IMPORT lets registrations choose ids, which are one namespace for every domain.
        principal.require_admin("put a subject in IMPORT mode")?;
    }
    set_mode(&catalog, &principal, &subject, Some(mode)).await?;
    Ok(reply(
        StatusCode::OK,
        &ModeBody {
            mode: mode.as_str().to_owned(),
        },
    ))
}

async fn delete_mode(
    State(catalog): State<Catalog>,
    Extension(principal): Extension<Principal>,
    Path(subject): Path<String>,
) -> ApiResult<Response> {
    check_subject(&subject)?;
    principal.require_subject(&subject)?;
    match set_mode(&catalog, &principal, &subject, None).await? {
        Some(previous) => Ok(reply(StatusCode::OK, &ModeBody { mode: previous })),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            40409,
            format!("Subject '{subject}' does not have subject-level mode configured"),
        )),
    }
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
