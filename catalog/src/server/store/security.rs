//! Bearer tokens, stored as hashes.

use mesh_core::DomainName;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;

use super::{Audit, Store, db, get, now_ms};
use crate::error::Result;
use crate::model::TokenInfo;

/// A token found by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenRecord {
    /// The token's id.
    pub(crate) id: String,
    /// The domain it acts for; none for admin tokens.
    pub(crate) domain: Option<DomainName>,
}

/// The stored form of a token: its sha256, hex. Tokens carry 244 random bits, so a fast
/// hash is enough; no salt is needed against guessing.
pub(super) fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const READ: &str = "read tokens";

fn info_from_row(row: &AnyRow) -> Result<TokenInfo> {
    let domain: Option<String> = get(row, "domain", READ)?;
    let revoked: Option<i64> = get(row, "revoked_at", READ)?;
    Ok(TokenInfo {
        id: get(row, "id", READ)?,
        domain: domain.map(DomainName::new).transpose()?,
        description: get(row, "description", READ)?,
        created_by: get(row, "created_by", READ)?,
        created_at_ms: get(row, "created_at", READ)?,
        revoked: revoked.is_some(),
    })
}

impl Store {
    /// Stores a new token by its hash.
    pub(crate) async fn create_token(
        &self,
        id: &str,
        token: &str,
        domain: Option<&DomainName>,
        description: &str,
        audit: &Audit<'_>,
    ) -> Result<TokenInfo> {
        let _writer = self.writer().await;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO tokens (id, token_hash, domain, description, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(token_hash(token))
        .bind(domain.map(|d| d.as_str().to_owned()))
        .bind(description)
        .bind(&audit.actor.0)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db("store a token"))?;
        let scope = domain.map_or_else(|| "admin".to_owned(), |d| format!("domain {d}"));
        Self::audit(&mut tx, audit, &format!("{scope} token created")).await?;
        let row = sqlx::query(
            "SELECT id, domain, description, created_by, created_at, revoked_at FROM tokens WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db(READ))?;
        let info = info_from_row(&row)?;
        tx.commit().await.map_err(db("commit a token"))?;
        Ok(info)
    }

    /// The live token with this secret, if any.
    pub(crate) async fn find_token(&self, token: &str) -> Result<Option<TokenRecord>> {
        let row = sqlx::query(
            "SELECT id, domain FROM tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash(token))
        .fetch_optional(self.pool())
        .await
        .map_err(db(READ))?;
        row.map(|r| {
            let domain: Option<String> = get(&r, "domain", READ)?;
            Ok(TokenRecord {
                id: get(&r, "id", READ)?,
                domain: domain.map(DomainName::new).transpose()?,
            })
        })
        .transpose()
    }

    /// Every token, newest first.
    pub(crate) async fn tokens(&self) -> Result<Vec<TokenInfo>> {
        sqlx::query(
            "SELECT id, domain, description, created_by, created_at, revoked_at FROM tokens ORDER BY created_at DESC, id",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db(READ))?
        .iter()
        .map(info_from_row)
        .collect()
    }

    /// Revokes a token; returns whether a live token had that id.
    pub(crate) async fn revoke_token(&self, id: &str, audit: &Audit<'_>) -> Result<bool> {
        let _writer = self.writer().await;
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db("revoke a token"))?
                .rows_affected()
                > 0;
        if done {
            Self::audit(&mut tx, audit, "token revoked").await?;
        }
        tx.commit().await.map_err(db("commit a revoke"))?;
        Ok(done)
    }
}
