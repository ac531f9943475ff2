//! Subjects and their versions: listing, registering, looking up, deleting.

// A part of the registry API: it shares the module's imports and helpers.
use super::*;

pub(super) async fn list_subjects(
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

pub(super) async fn list_versions(
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

pub(super) async fn register(
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

pub(super) async fn lookup(
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

pub(super) async fn find_version(
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

pub(super) async fn get_version(
    State(catalog): State<Catalog>,
    Path((subject, version)): Path<(String, String)>,
    Query(params): Params,
) -> ApiResult<Response> {
    check_subject(&subject)?;
    let v = find_version(&catalog, &subject, &version, flag(&params, "deleted")).await?;
    Ok(reply(StatusCode::OK, &subject_version(v)))
}

/// The raw schema: the registered text is JSON already, so it is the body as is.
pub(super) fn raw_schema(text: String) -> Response {
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)],
        text,
    )
        .into_response()
}

pub(super) async fn get_version_schema(
    State(catalog): State<Catalog>,
    Path((subject, version)): Path<(String, String)>,
    Query(params): Params,
) -> ApiResult<Response> {
    check_subject(&subject)?;
    let v = find_version(&catalog, &subject, &version, flag(&params, "deleted")).await?;
    Ok(raw_schema(v.schema.text))
}

pub(super) async fn referenced_by(
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

pub(super) fn delete_error<T>(
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

pub(super) async fn delete_subject(
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

pub(super) async fn delete_version(
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
