//! Compatibility levels and modes: global and per subject.

// A part of the registry API: it shares the module's imports and helpers.
use super::*;

pub(super) fn parse_level(level: &str) -> ApiResult<Level> {
    level
        .parse()
        .map_err(|_| ApiError::invalid_compatibility(level))
}

pub(super) async fn get_global_config(State(catalog): State<Catalog>) -> ApiResult<Response> {
    let level = catalog.store().compatibility("").await?;
    Ok(reply(
        StatusCode::OK,
        &ConfigAnswer {
            compatibility_level: level.unwrap_or_else(|| Level::default().to_string()),
        },
    ))
}

/// Sets a setting of `scope` (`""` for the global one), or removes it with `None`, with an
/// audit record; returns the value it had.
async fn set(
    catalog: &Catalog,
    principal: &Principal,
    scope: &str,
    setting: Setting,
    value: Option<&str>,
) -> ApiResult<Option<String>> {
    let actor = principal.actor();
    let audit = Audit {
        actor: &actor,
        action: match setting {
            Setting::Compatibility => "config.set",
            Setting::Mode => "mode.set",
        },
        target: if scope.is_empty() { "(global)" } else { scope },
    };
    Ok(catalog
        .store()
        .set_setting(scope, setting, value, &audit)
        .await?)
}

async fn set_config(
    catalog: &Catalog,
    principal: &Principal,
    scope: &str,
    level: Option<Level>,
) -> ApiResult<Option<String>> {
    let level = level.map(Level::as_str);
    set(catalog, principal, scope, Setting::Compatibility, level).await
}

pub(super) async fn put_global_config(
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

pub(super) async fn delete_global_config(
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

pub(super) async fn get_config(
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

pub(super) async fn put_config(
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

pub(super) async fn delete_config(
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

pub(super) fn parse_mode(mode: &str) -> ApiResult<Mode> {
    Mode::parse(mode).ok_or_else(|| ApiError::invalid_mode(mode))
}

async fn set_mode(
    catalog: &Catalog,
    principal: &Principal,
    scope: &str,
    mode: Option<Mode>,
) -> ApiResult<Option<String>> {
    set(
        catalog,
        principal,
        scope,
        Setting::Mode,
        mode.map(Mode::as_str),
    )
    .await
}

pub(super) async fn get_global_mode(State(catalog): State<Catalog>) -> ApiResult<Response> {
    let mode = catalog.store().mode("").await?;
    Ok(reply(
        StatusCode::OK,
        &ModeBody {
            mode: mode.unwrap_or_else(|| Mode::default().as_str().to_owned()),
        },
    ))
}

pub(super) async fn put_global_mode(
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

pub(super) async fn get_mode(
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

pub(super) async fn put_mode(
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

pub(super) async fn delete_mode(
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
