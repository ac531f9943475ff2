//! The governance API under `/api/v1`: domains, data products with their ports, and the
//! versions of their tables.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use mesh_core::{DomainName, ProductId};

use super::error::{ApiError, ApiResult};
use super::store::VersionOutcome;
use super::{Catalog, parse_body, reply};
use crate::model::{DataProduct, Domain, TableVersion};

/// Catalog error codes, in Confluent's style (HTTP status, then a detail pair).
mod code {
    pub(super) const DOMAIN_NOT_FOUND: i64 = 40410;
    pub(super) const PRODUCT_NOT_FOUND: i64 = 40411;
    pub(super) const TABLE_VERSION_NOT_FOUND: i64 = 40412;
    pub(super) const TABLE_VERSION_CONFLICT: i64 = 40910;
    pub(super) const NAME_MISMATCH: i64 = 42210;
}

pub(super) fn routes() -> Router<Catalog> {
    Router::new()
        .route("/domains", get(list_domains))
        .route("/domains/{name}", get(get_domain).put(put_domain))
        .route("/products", get(list_products))
        .route("/products/{id}", get(get_product).put(put_product))
        .route(
            "/products/{id}/versions",
            get(list_versions).post(post_version),
        )
        .route("/products/{id}/versions/{version}", get(get_version))
}

fn domain_name(name: &str) -> ApiResult<DomainName> {
    Ok(DomainName::new(name)?)
}

fn product_id(id: &str) -> ApiResult<ProductId> {
    Ok(ProductId::parse(id)?)
}

fn product_not_found(id: &ProductId) -> ApiError {
    ApiError::not_found(
        code::PRODUCT_NOT_FOUND,
        format!("Data product '{id}' not found."),
    )
}

async fn list_domains(State(catalog): State<Catalog>) -> ApiResult<Response> {
    Ok(reply(StatusCode::OK, &catalog.store().domains().await?))
}

async fn get_domain(
    State(catalog): State<Catalog>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let name = domain_name(&name)?;
    match catalog.store().domain(&name).await? {
        Some(d) => Ok(reply(StatusCode::OK, &d)),
        None => Err(ApiError::not_found(
            code::DOMAIN_NOT_FOUND,
            format!("Domain '{name}' not found."),
        )),
    }
}

async fn put_domain(
    State(catalog): State<Catalog>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let name = domain_name(&name)?;
    let domain: Domain = parse_body(&body)?;
    if domain.name != name {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            code::NAME_MISMATCH,
            format!(
                "The body names domain '{}' but the path names '{name}'.",
                domain.name
            ),
        ));
    }
    catalog.store().upsert_domain(&domain).await?;
    tracing::info!(domain = %name, "domain saved");
    Ok(reply(StatusCode::OK, &domain))
}

async fn list_products(State(catalog): State<Catalog>) -> ApiResult<Response> {
    Ok(reply(StatusCode::OK, &catalog.store().products().await?))
}

async fn get_product(
    State(catalog): State<Catalog>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = product_id(&id)?;
    match catalog.store().product(&id).await? {
        Some(p) => Ok(reply(StatusCode::OK, &p)),
        None => Err(product_not_found(&id)),
    }
}

async fn put_product(
    State(catalog): State<Catalog>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let id = product_id(&id)?;
    let product: DataProduct = parse_body(&body)?;
    if product.id != id {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            code::NAME_MISMATCH,
            format!(
                "The body names product '{}' but the path names '{id}'.",
                product.id
            ),
        ));
    }
    if let Some(port) = product
        .stream_ports
        .iter()
        .find(|p| p.topic.domain() != id.domain())
    {
        return Err(ApiError::unprocessable(format!(
            "Stream port topic '{}' belongs to another domain than '{}'.",
            port.topic,
            id.domain()
        )));
    }
    if !catalog.store().upsert_product(&product).await? {
        return Err(ApiError::not_found(
            code::DOMAIN_NOT_FOUND,
            format!(
                "Domain '{}' not found; register the domain before its products.",
                id.domain()
            ),
        ));
    }
    tracing::info!(product = %id, "data product saved");
    Ok(reply(StatusCode::OK, &product))
}

async fn list_versions(
    State(catalog): State<Catalog>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = product_id(&id)?;
    if catalog.store().product(&id).await?.is_none() {
        return Err(product_not_found(&id));
    }
    Ok(reply(
        StatusCode::OK,
        &catalog.store().table_versions(&id).await?,
    ))
}

async fn post_version(
    State(catalog): State<Catalog>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let id = product_id(&id)?;
    let version: TableVersion = parse_body(&body)?;
    match catalog.store().record_table_version(&id, &version).await? {
        VersionOutcome::Recorded(v) => {
            tracing::info!(product = %id, version = v.version, rows = v.rows, "table version registered");
            Ok(reply(StatusCode::OK, &v))
        }
        VersionOutcome::UnknownProduct => Err(product_not_found(&id)),
        VersionOutcome::Conflict(existing) => Err(ApiError::conflict(
            code::TABLE_VERSION_CONFLICT,
            format!(
                "Version {} of '{id}' is already registered with other content ({} rows, schema id {:?}).",
                existing.version, existing.rows, existing.schema_id
            ),
        )),
    }
}

async fn get_version(
    State(catalog): State<Catalog>,
    Path((id, version)): Path<(String, String)>,
) -> ApiResult<Response> {
    let id = product_id(&id)?;
    let wanted = match version.as_str() {
        "latest" => None,
        v => Some(v.parse::<i64>().map_err(|_| {
            ApiError::unprocessable(format!(
                "'{v}' is not a table version; use a number or 'latest'."
            ))
        })?),
    };
    match catalog.store().table_version(&id, wanted).await? {
        Some(v) => Ok(reply(StatusCode::OK, &v)),
        None if catalog.store().product(&id).await?.is_none() => Err(product_not_found(&id)),
        None => Err(ApiError::not_found(
            code::TABLE_VERSION_NOT_FOUND,
            format!("Data product '{id}' has no table version {version}."),
        )),
    }
}
