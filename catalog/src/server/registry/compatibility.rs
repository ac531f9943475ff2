//! Compatibility checks of a schema against a subject's versions, without registering it.

// A part of the registry API: it shares the module's imports and helpers.
use super::*;

pub(super) fn verdict(reasons: Vec<String>, verbose: bool) -> CompatibilityCheck {
    CompatibilityCheck {
        is_compatible: reasons.is_empty(),
        messages: verbose.then_some(reasons),
    }
}

/// `POST /compatibility/subjects/{s}/versions`: the schema against the versions the
/// subject's level names, as registration would check it.
pub(super) async fn check_all(
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
pub(super) async fn check_version(
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
