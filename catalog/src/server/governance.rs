//! The governance API under `/api/v1`: domains, data products with their ports, the
//! versions of their tables, grants, stream heads, search and health.

use std::collections::HashMap;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use mesh_core::{DomainName, ProductId, TopicName};
use serde::Deserialize;

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::openapi::{Api, Doc};
use super::store::{Audit, VersionOutcome, now_ms};
use super::{Catalog, JsonBody, reply};
use crate::model::{
    DataProduct, Domain, Grant, ProductHealth, StreamHead, StreamLag, TableVersion,
};

/// Catalog error codes, in Confluent's style (HTTP status, then a detail pair).
mod code {
    pub(super) const DOMAIN_NOT_FOUND: i64 = 40410;
    pub(super) const PRODUCT_NOT_FOUND: i64 = 40411;
    pub(super) const TABLE_VERSION_NOT_FOUND: i64 = 40412;
    pub(super) const GRANT_NOT_FOUND: i64 = 40413;
    pub(super) const TABLE_VERSION_CONFLICT: i64 = 40910;
    pub(super) const NAME_MISMATCH: i64 = 42210;
}

pub(super) fn routes() -> Api {
    const TAG: &str = "governance";
    Api::new()
        .get(
            "/domains",
            list_domains,
            Doc::new(TAG, "List domains").answers::<Vec<Domain>>(),
        )
        .get(
            "/domains/{name}",
            get_domain,
            Doc::new(TAG, "A domain").answers::<Domain>(),
        )
        .put(
            "/domains/{name}",
            put_domain,
            Doc::new(
                TAG,
                "Create or update a domain (admin, or the domain's own token)",
            )
            .body::<Domain>()
            .answers::<Domain>()
            .link(
                "domain",
                "get",
                "/api/v1/domains/{name}",
                &[("name", "$request.path.name")],
            ),
        )
        .get(
            "/products",
            list_products,
            Doc::new(
                TAG,
                "List data products (table locations only where granted)",
            )
            .answers::<Vec<DataProduct>>(),
        )
        .get(
            "/products/{id}",
            get_product,
            Doc::new(TAG, "A data product").answers::<DataProduct>(),
        )
        .put(
            "/products/{id}",
            put_product,
            Doc::new(TAG, "Create or replace a data product with its ports")
                .body::<DataProduct>()
                .answers::<DataProduct>()
                .link(
                    "product",
                    "get",
                    "/api/v1/products/{id}",
                    &[("id", "$request.path.id")],
                )
                .link(
                    "register_version",
                    "post",
                    "/api/v1/products/{id}/versions",
                    &[("id", "$request.path.id")],
                )
                .link(
                    "versions",
                    "get",
                    "/api/v1/products/{id}/versions",
                    &[("id", "$request.path.id")],
                )
                .link(
                    "grant",
                    "post",
                    "/api/v1/products/{id}/grants",
                    &[("id", "$request.path.id")],
                )
                .link(
                    "health",
                    "get",
                    "/api/v1/products/{id}/health",
                    &[("id", "$request.path.id")],
                ),
        )
        .get(
            "/products/{id}/versions",
            list_versions,
            Doc::new(TAG, "The registered versions of a product's table")
                .answers::<Vec<TableVersion>>(),
        )
        .post(
            "/products/{id}/versions",
            post_version,
            Doc::new(TAG, "Register a version of a product's table")
                .body::<TableVersion>()
                .answers::<TableVersion>()
                .link(
                    "version",
                    "get",
                    "/api/v1/products/{id}/versions/{version}",
                    &[
                        ("id", "$request.path.id"),
                        ("version", "$response.body#/version"),
                    ],
                )
                .link(
                    "health",
                    "get",
                    "/api/v1/products/{id}/health",
                    &[("id", "$request.path.id")],
                ),
        )
        .get(
            "/products/{id}/versions/{version}",
            get_version,
            Doc::new(
                TAG,
                "One version of a product's table (`latest` for the newest)",
            )
            .answers::<TableVersion>(),
        )
        .get(
            "/products/{id}/grants",
            list_grants,
            Doc::new(TAG, "A product's grants").answers::<Vec<Grant>>(),
        )
        .post(
            "/products/{id}/grants",
            post_grant,
            Doc::new(TAG, "Grant a consumer domain read access to a product")
                .body::<GrantRequest>()
                .answers::<Grant>()
                .link(
                    "grant",
                    "get",
                    "/api/v1/products/{id}/grants/{domain}",
                    &[
                        ("id", "$request.path.id"),
                        ("domain", "$response.body#/consumer_domain"),
                    ],
                )
                .link(
                    "revoke",
                    "delete",
                    "/api/v1/products/{id}/grants/{domain}",
                    &[
                        ("id", "$request.path.id"),
                        ("domain", "$response.body#/consumer_domain"),
                    ],
                ),
        )
        .get(
            "/products/{id}/grants/{domain}",
            get_grant,
            Doc::new(
                TAG,
                "A consumer domain's grant (the owner, admins and that domain may ask)",
            )
            .answers::<Grant>(),
        )
        .delete(
            "/products/{id}/grants/{domain}",
            delete_grant,
            Doc::new(TAG, "Revoke a grant"),
        )
        .get(
            "/products/{id}/health",
            health,
            Doc::new(
                TAG,
                "Freshness of a product from both planes, against its SLA",
            )
            .answers::<ProductHealth>(),
        )
        .put(
            "/streams/{topic}/heads",
            put_heads,
            Doc::new(TAG, "Report the newest offsets of a stream's partitions")
                .body::<Vec<StreamHead>>()
                .answers::<Vec<StreamHead>>()
                .link(
                    "heads",
                    "get",
                    "/api/v1/streams/{topic}/heads",
                    &[("topic", "$request.path.topic")],
                ),
        )
        .get(
            "/streams/{topic}/heads",
            get_heads,
            Doc::new(TAG, "The last reported heads of a stream").answers::<Vec<StreamHead>>(),
        )
        .get(
            "/search",
            search,
            Doc::new(
                TAG,
                "Products whose id, description or tags contain every word",
            )
            .query("q", "the words to look for")
            .answers::<Vec<DataProduct>>(),
        )
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

/// Hides the table location from readers whose domain holds no grant.
async fn visible(
    catalog: &Catalog,
    principal: &Principal,
    mut product: DataProduct,
) -> ApiResult<DataProduct> {
    if let Some(reader) = principal.reader_domain(&product.id)
        && product.table_port.is_some()
        && !catalog.store().has_grant(&product.id, &reader).await?
    {
        product.table_port = None;
        product.table_location_hidden = true;
    }
    Ok(product)
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
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    JsonBody(domain): JsonBody<Domain>,
) -> ApiResult<Response> {
    let name = domain_name(&name)?;
    principal.require_owner(&name, "change this domain")?;
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
    let actor = principal.actor();
    let audit = Audit {
        actor: &actor,
        action: "domain.save",
        target: name.as_str(),
    };
    catalog.store().upsert_domain(&domain, &audit).await?;
    tracing::info!(domain = %name, actor = %actor, "domain saved");
    Ok(reply(StatusCode::OK, &domain))
}

async fn list_products(
    State(catalog): State<Catalog>,
    Extension(principal): Extension<Principal>,
) -> ApiResult<Response> {
    let mut out = Vec::new();
    for product in catalog.store().products().await? {
        out.push(visible(&catalog, &principal, product).await?);
    }
    Ok(reply(StatusCode::OK, &out))
}

async fn get_product(
    State(catalog): State<Catalog>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = product_id(&id)?;
    match catalog.store().product(&id).await? {
        Some(p) => Ok(reply(
            StatusCode::OK,
            &visible(&catalog, &principal, p).await?,
        )),
        None => Err(product_not_found(&id)),
    }
}

async fn put_product(
    State(catalog): State<Catalog>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(product): JsonBody<DataProduct>,
) -> ApiResult<Response> {
    let id = product_id(&id)?;
    principal.require_owner(&id.domain(), "change this data product")?;
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
    if let Some(topic) = product
        .table_port
        .as_ref()
        .and_then(|t| t.source_topic.as_ref())
        .filter(|topic| topic.domain() != id.domain())
    {
        // A table fed by a stream constrains the stream's schemas: only the stream's own
        // domain may set up that constraint.
        return Err(ApiError::unprocessable(format!(
            "The table's source topic '{topic}' belongs to another domain than '{}'.",
            id.domain()
        )));
    }
    let actor = principal.actor();
    let audit = Audit {
        actor: &actor,
        action: "product.save",
        target: id.as_str(),
    };
    if !catalog.store().upsert_product(&product, &audit).await? {
        return Err(ApiError::not_found(
            code::DOMAIN_NOT_FOUND,
            format!(
                "Domain '{}' not found; register the domain before its products.",
                id.domain()
            ),
        ));
    }
    tracing::info!(product = %id, actor = %actor, "data product saved");
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
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(version): JsonBody<TableVersion>,
) -> ApiResult<Response> {
    let id = product_id(&id)?;
    principal.require_owner(&id.domain(), "register versions of this product's table")?;
    let actor = principal.actor();
    let audit = Audit {
        actor: &actor,
        action: "table.version",
        target: id.as_str(),
    };
    match catalog
        .store()
        .record_table_version(&id, &version, &audit)
        .await?
    {
        VersionOutcome::Recorded(v) => {
            tracing::info!(product = %id, version = v.version, rows = v.rows, "table version registered");
            Ok(reply(StatusCode::OK, &v))
        }
        VersionOutcome::UnknownProduct => Err(product_not_found(&id)),
        VersionOutcome::OutOfRange => Err(ApiError::unprocessable(format!(
            "Rows and bytes of a table version must be at most {}.",
            i64::MAX
        ))),
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

/// `POST /products/{id}/grants` body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct GrantRequest {
    /// The consumer domain to let read the product.
    consumer_domain: DomainName,
}

impl super::validate::Validate for GrantRequest {
    fn validate(&self) -> Result<(), String> {
        // The only field is a checked domain name.
        Ok(())
    }
}

async fn require_product(catalog: &Catalog, id: &ProductId) -> ApiResult<DataProduct> {
    catalog
        .store()
        .product(id)
        .await?
        .ok_or_else(|| product_not_found(id))
}

async fn list_grants(
    State(catalog): State<Catalog>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = product_id(&id)?;
    principal.require_owner(&id.domain(), "list this product's grants")?;
    require_product(&catalog, &id).await?;
    Ok(reply(StatusCode::OK, &catalog.store().grants(&id).await?))
}

async fn post_grant(
    State(catalog): State<Catalog>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<GrantRequest>,
) -> ApiResult<Response> {
    let id = product_id(&id)?;
    principal.require_owner(&id.domain(), "grant access to this product")?;
    require_product(&catalog, &id).await?;
    let actor = principal.actor();
    let audit = Audit {
        actor: &actor,
        action: "grant.add",
        target: id.as_str(),
    };
    match catalog
        .store()
        .grant(&id, &request.consumer_domain, &audit)
        .await?
    {
        Some(grant) => Ok(reply(StatusCode::OK, &grant)),
        None => Err(ApiError::not_found(
            code::DOMAIN_NOT_FOUND,
            format!("Domain '{}' not found.", request.consumer_domain),
        )),
    }
}

async fn get_grant(
    State(catalog): State<Catalog>,
    Extension(principal): Extension<Principal>,
    Path((id, domain)): Path<(String, String)>,
) -> ApiResult<Response> {
    let id = product_id(&id)?;
    let consumer = domain_name(&domain)?;
    if !principal.owns(&consumer) {
        principal.require_owner(&id.domain(), "see this product's grants")?;
    }
    require_product(&catalog, &id).await?;
    match catalog
        .store()
        .grants(&id)
        .await?
        .into_iter()
        .find(|g| g.consumer_domain == consumer)
    {
        Some(grant) => Ok(reply(StatusCode::OK, &grant)),
        None => Err(ApiError::not_found(
            code::GRANT_NOT_FOUND,
            format!("Domain '{consumer}' holds no grant on '{id}'."),
        )),
    }
}

async fn delete_grant(
    State(catalog): State<Catalog>,
    Extension(principal): Extension<Principal>,
    Path((id, domain)): Path<(String, String)>,
) -> ApiResult<Response> {
    let id = product_id(&id)?;
    let consumer = domain_name(&domain)?;
    principal.require_owner(&id.domain(), "revoke access to this product")?;
    let actor = principal.actor();
    let audit = Audit {
        actor: &actor,
        action: "grant.revoke",
        target: id.as_str(),
    };
    if catalog.store().revoke(&id, &consumer, &audit).await? {
        Ok(reply(
            StatusCode::OK,
            &serde_json::json!({ "revoked": consumer }),
        ))
    } else {
        Err(ApiError::not_found(
            code::GRANT_NOT_FOUND,
            format!("Domain '{consumer}' holds no grant on '{id}'."),
        ))
    }
}

async fn put_heads(
    State(catalog): State<Catalog>,
    Extension(principal): Extension<Principal>,
    Path(topic): Path<String>,
    JsonBody(heads): JsonBody<Vec<StreamHead>>,
) -> ApiResult<Response> {
    let topic = TopicName::parse(&topic)?;
    principal.require_owner(&topic.domain(), "report this stream's heads")?;
    let actor = principal.actor();
    let audit = Audit {
        actor: &actor,
        action: "stream.heads",
        target: topic.as_str(),
    };
    catalog.store().report_heads(&topic, &heads, &audit).await?;
    Ok(reply(StatusCode::OK, &heads))
}

async fn get_heads(
    State(catalog): State<Catalog>,
    Path(topic): Path<String>,
) -> ApiResult<Response> {
    let topic = TopicName::parse(&topic)?;
    Ok(reply(StatusCode::OK, &catalog.store().heads(&topic).await?))
}

/// Freshness from both planes: the age of the newest table version against the SLA, and
/// for each stream the table is fed from, the events reported in the stream but not yet in
/// the table.
async fn health(State(catalog): State<Catalog>, Path(id): Path<String>) -> ApiResult<Response> {
    let id = product_id(&id)?;
    let product = require_product(&catalog, &id).await?;
    let latest = catalog.store().table_version(&id, None).await?;
    let age = latest
        .as_ref()
        .map(|v| now_ms().saturating_sub(v.committed_at_ms).max(0) as f64 / 1000.0);
    let mut reasons = Vec::new();
    let mut streams = Vec::new();
    let fed_by = product
        .table_port
        .as_ref()
        .and_then(|t| t.source_topic.clone());
    for port in &product.stream_ports {
        if Some(&port.topic) != fed_by.as_ref() {
            continue;
        }
        let heads = catalog.store().heads(&port.topic).await?;
        let lag = (!heads.is_empty()).then(|| {
            heads
                .iter()
                .map(|h| {
                    let in_table = latest
                        .as_ref()
                        .and_then(|v| {
                            v.offsets
                                .iter()
                                .find(|o| o.topic == port.topic && o.partition == h.partition)
                        })
                        .map_or(0, |o| o.offset);
                    h.offset.saturating_sub(in_table).max(0)
                })
                .fold(0i64, i64::saturating_add)
        });
        if let Some(lag) = lag {
            reasons.push(format!(
                "{lag} events of {} are not in the table yet",
                port.topic
            ));
        }
        streams.push(StreamLag {
            topic: port.topic.clone(),
            lag,
        });
    }
    let status = match (product.sla, age) {
        (None, _) => {
            reasons.push("no SLA is declared".to_owned());
            "unknown"
        }
        (Some(_), None) => {
            reasons.push("no table version is registered yet".to_owned());
            "unknown"
        }
        (Some(sla), Some(age)) if age > sla.max_staleness_secs as f64 => {
            reasons.push(format!(
                "the newest table version is {age:.0} s old, the SLA allows {} s",
                sla.max_staleness_secs
            ));
            "stale"
        }
        (Some(sla), Some(age)) => {
            reasons.push(format!(
                "the newest table version is {age:.0} s old, within the SLA's {} s",
                sla.max_staleness_secs
            ));
            "fresh"
        }
    };
    Ok(reply(
        StatusCode::OK,
        &ProductHealth {
            product: id,
            status: status.to_owned(),
            sla: product.sla,
            table_version: latest.map(|v| v.version),
            table_age_secs: age,
            streams,
            reasons,
        },
    ))
}

/// Products whose id, domain, description or tags contain every word of `q`, best
/// matches (most words in the id and tags) first.
async fn search(
    State(catalog): State<Catalog>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let query = params
        .get("q")
        .map(String::as_str)
        .unwrap_or_default()
        .to_lowercase();
    let words: Vec<&str> = query.split_whitespace().collect();
    let mut hits = Vec::new();
    for product in catalog.store().products().await? {
        let id = product.id.as_str().to_lowercase();
        let tags = product.tags.join(" ").to_lowercase();
        let description = product.description.to_lowercase();
        let matches = |w: &&str| id.contains(*w) || tags.contains(*w) || description.contains(*w);
        if words.iter().all(matches) {
            let score = words
                .iter()
                .filter(|w| id.contains(**w) || tags.contains(**w))
                .count();
            hits.push((score, product));
        }
    }
    hits.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
    let mut out = Vec::with_capacity(hits.len());
    for (_, product) in hits {
        out.push(visible(&catalog, &principal, product).await?);
    }
    Ok(reply(StatusCode::OK, &out))
}
