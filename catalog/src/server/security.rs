//! Who the caller is, tokens and the audit log, under `/api/v1`. Any token may ask who it
//! is; a domain token lists and revokes its own domain's tokens; the rest is for admins.

use std::collections::HashMap;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::openapi::{Api, Doc};
use super::store::Audit;
use super::{Catalog, JsonBody, reply};
use crate::model::{AuditEntry, CreatedToken, Identity, IdentityKind, NewToken, TokenInfo};

pub(super) fn routes() -> Api {
    const TAG: &str = "security";
    Api::new()
        .get(
            "/whoami",
            whoami,
            Doc::new(TAG, "Who the request's token acts as").answers::<Identity>(),
        )
        .get(
            "/tokens",
            list_tokens,
            Doc::new(
                TAG,
                "List tokens (admin: all; a domain token: its domain's)",
            )
            .answers::<Vec<TokenInfo>>(),
        )
        .post(
            "/tokens",
            create_token,
            Doc::new(
                TAG,
                "Create a token (admin); the answer holds the secret, once",
            )
            .body::<NewToken>()
            .answers::<CreatedToken>()
            .status(201)
            .link(
                "revoke",
                "delete",
                "/api/v1/tokens/{id}",
                &[("id", "$response.body#/info/id")],
            ),
        )
        .delete(
            "/tokens/{id}",
            revoke_token,
            Doc::new(TAG, "Revoke a token (admin, or a token of the same domain)"),
        )
        .get(
            "/audit",
            audit_log,
            Doc::new(TAG, "The newest audited mutations (admin)")
                .query("limit", "how many, at most 10000 (default 100)")
                .answers::<Vec<AuditEntry>>(),
        )
}

/// A new secret: `mesh_` and 244 random bits from the OS generator, as hex.
fn new_secret() -> String {
    format!(
        "mesh_{}{}",
        Uuid::new_v4().simple(),
        Uuid::new_v4().simple()
    )
}

async fn create_token(
    State(catalog): State<Catalog>,
    Extension(principal): Extension<Principal>,
    JsonBody(request): JsonBody<NewToken>,
) -> ApiResult<Response> {
    principal.require_admin("create tokens")?;
    let id = Uuid::new_v4().simple().to_string()[..12].to_owned();
    let token = new_secret();
    let actor = principal.actor();
    let audit = Audit {
        actor: &actor,
        action: "token.create",
        target: &id,
    };
    let info = catalog
        .store()
        .create_token(
            &id,
            &token,
            request.domain.as_ref(),
            &request.description,
            &audit,
        )
        .await?;
    Ok(reply(StatusCode::CREATED, &CreatedToken { info, token }))
}

async fn whoami(Extension(principal): Extension<Principal>) -> ApiResult<Response> {
    let identity = match principal {
        Principal::Dev => Identity {
            kind: IdentityKind::Dev,
            domain: None,
            token: None,
        },
        Principal::Admin { token } => Identity {
            kind: IdentityKind::Admin,
            domain: None,
            token: Some(token),
        },
        Principal::Domain { domain, token } => Identity {
            kind: IdentityKind::Domain,
            domain: Some(domain),
            token: Some(token),
        },
    };
    Ok(reply(StatusCode::OK, &identity))
}

/// The tokens the caller may see: all for an admin, its own domain's for a domain token.
async fn visible_tokens(catalog: &Catalog, principal: &Principal) -> ApiResult<Vec<TokenInfo>> {
    let tokens = catalog.store().tokens().await?;
    Ok(match principal {
        Principal::Domain { domain, .. } => tokens
            .into_iter()
            .filter(|t| t.domain.as_ref() == Some(domain))
            .collect(),
        Principal::Dev | Principal::Admin { .. } => tokens,
    })
}

async fn list_tokens(
    State(catalog): State<Catalog>,
    Extension(principal): Extension<Principal>,
) -> ApiResult<Response> {
    Ok(reply(
        StatusCode::OK,
        &visible_tokens(&catalog, &principal).await?,
    ))
}

async fn revoke_token(
    State(catalog): State<Catalog>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    if !principal.is_admin() {
        // A domain may revoke its own tokens (a leaked CI token, say), never another's; to it
        // another domain's token does not exist.
        let own = visible_tokens(&catalog, &principal).await?;
        if !own.iter().any(|t| t.id == id && !t.revoked) {
            return Err(ApiError::not_found(
                40414,
                format!("No live token of your domain has id '{id}'."),
            ));
        }
    }
    let actor = principal.actor();
    let audit = Audit {
        actor: &actor,
        action: "token.revoke",
        target: &id,
    };
    if catalog.store().revoke_token(&id, &audit).await? {
        Ok(reply(StatusCode::OK, &serde_json::json!({ "revoked": id })))
    } else {
        Err(ApiError::not_found(
            40414,
            format!("No live token has id '{id}'."),
        ))
    }
}

async fn audit_log(
    State(catalog): State<Catalog>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    principal.require_admin("read the audit log")?;
    let limit = params
        .get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .unwrap_or(100)
        .clamp(1, 10_000);
    Ok(reply(
        StatusCode::OK,
        &catalog.store().audit_log(limit).await?,
    ))
}
