//! Schemas by their global id, and the schema types served.

// A part of the registry API: it shares the module's imports and helpers.
use super::*;

pub(super) async fn find_schema(
    catalog: &Catalog,
    id: &str,
) -> ApiResult<std::sync::Arc<StoredSchema>> {
    let id = parse_id(id)?;
    catalog
        .store()
        .schema_by_id(id)
        .await?
        .ok_or_else(|| ApiError::schema_not_found(format!("Schema {id} not found")))
}

pub(super) async fn schema_by_id(
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

pub(super) async fn raw_schema_by_id(
    State(catalog): State<Catalog>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let schema = find_schema(&catalog, &id).await?;
    Ok(raw_schema(schema.text.clone()))
}

pub(super) async fn subjects_of_id(
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

pub(super) async fn versions_of_id(
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

pub(super) async fn schema_types() -> Response {
    reply(StatusCode::OK, &[AVRO])
}
