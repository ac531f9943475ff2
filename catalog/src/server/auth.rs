//! Who is calling, and what they may do.
//!
//! With authentication on, every request but the operational ones (`/healthz`, `/readyz`,
//! `/metrics`, `/openapi.json`) needs `Authorization: Bearer <token>`. Admin tokens may do
//! anything. A domain token may change only its own domain, its products, its subjects
//! (`<domain>.`-prefixed) and its streams' heads; it may read everything except the table
//! location of another domain's product that its domain holds no grant for.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mesh_core::{DomainName, ProductId};

use super::Catalog;
use super::error::{ApiError, ApiResult};
use super::store::Actor;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principal {
    /// Authentication is off: every request may do anything.
    Dev,
    /// An admin token.
    Admin {
        /// The token's id (`bootstrap` for the one given at start-up).
        token: String,
    },
    /// A token acting for one domain.
    Domain {
        /// The domain.
        domain: DomainName,
        /// The token's id.
        token: String,
    },
}

impl Principal {
    /// How the audit log names the caller.
    pub(crate) fn actor(&self) -> Actor {
        Actor(match self {
            Self::Dev => "dev".to_owned(),
            Self::Admin { token } => format!("admin:{token}"),
            Self::Domain { domain, token } => format!("domain:{domain}:{token}"),
        })
    }

    pub(crate) fn is_admin(&self) -> bool {
        matches!(self, Self::Dev | Self::Admin { .. })
    }

    pub(crate) fn require_admin(&self, what: &str) -> ApiResult<()> {
        match self {
            Self::Dev | Self::Admin { .. } => Ok(()),
            Self::Domain { domain, .. } => Err(ApiError::forbidden(format!(
                "Only an admin token may {what}; the token sent acts for domain '{domain}'."
            ))),
        }
    }

    /// Whether the caller may change `domain` and what it owns.
    pub(crate) fn owns(&self, domain: &DomainName) -> bool {
        match self {
            Self::Dev | Self::Admin { .. } => true,
            Self::Domain { domain: mine, .. } => mine == domain,
        }
    }

    pub(crate) fn require_owner(&self, domain: &DomainName, what: &str) -> ApiResult<()> {
        if self.owns(domain) {
            return Ok(());
        }
        let caller = match self {
            Self::Domain { domain, .. } => domain.as_str(),
            _ => "?",
        };
        Err(ApiError::forbidden(format!(
            "Domain '{caller}' may not {what}: it belongs to domain '{domain}'."
        )))
    }

    /// Whether the caller may change `subject`: admins any; a domain the subjects named
    /// after its topics and products (`<domain>.…`).
    pub(crate) fn require_subject(&self, subject: &str) -> ApiResult<()> {
        match self {
            Self::Dev | Self::Admin { .. } => Ok(()),
            Self::Domain { domain, .. } => {
                let owned = subject
                    .strip_prefix(domain.as_str())
                    .is_some_and(|rest| rest.starts_with('.'));
                if owned {
                    Ok(())
                } else {
                    Err(ApiError::forbidden(format!(
                        "Domain '{domain}' may change only subjects of its own topics and products ('{domain}.…'), not '{subject}'."
                    )))
                }
            }
        }
    }

    /// The domain to check grants for; `None` when the caller sees everything.
    pub(crate) fn reader_domain(&self, product: &ProductId) -> Option<DomainName> {
        match self {
            Self::Domain { domain, .. } if *domain != product.domain() => Some(domain.clone()),
            _ => None,
        }
    }
}

/// Paths anyone may call: probes, metrics and the API description.
fn public(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics" | "/openapi.json")
}

/// Finds the caller and stores it in the request for the handlers.
pub(crate) async fn authenticate(
    State(catalog): State<Catalog>,
    mut request: Request,
    next: Next,
) -> Response {
    let principal = match catalog.auth() {
        super::Auth::Disabled => Some(Principal::Dev),
        super::Auth::AdminToken(admin) => {
            let given = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(bearer);
            match given {
                None => None,
                Some(token) if same_token(token, admin) => Some(Principal::Admin {
                    token: "bootstrap".to_owned(),
                }),
                Some(token) => match catalog.store().find_token(token).await {
                    Ok(Some(record)) => Some(match record.domain {
                        Some(domain) => Principal::Domain {
                            domain,
                            token: record.id,
                        },
                        None => Principal::Admin { token: record.id },
                    }),
                    Ok(None) => None,
                    Err(e) => return ApiError::from(e).into_response(),
                },
            }
        }
    };
    match principal {
        Some(p) => {
            request.extensions_mut().insert(p);
        }
        None if public(request.uri().path()) => {}
        None => {
            let sent = request.headers().contains_key(header::AUTHORIZATION);
            return ApiError::unauthorized(sent).into_response();
        }
    }
    next.run(request).await
}

/// The token of an `Authorization: Bearer <token>` value. The scheme's case does not matter
/// (RFC 9110 makes it case-insensitive; some clients send `bearer`).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Compares without leaking where two tokens differ.
pub(crate) fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in [
            "Bearer abc",
            "bearer abc",
            "BEARER abc",
            "Bearer  abc",
            "Bearer abc\t",
        ] {
            assert_eq!(bearer(value), Some("abc"), "{value:?}");
        }
        for value in ["Basic abc", "Bearer", "Bearer ", "abc", "Bearerabc"] {
            assert_eq!(bearer(value), None, "{value:?}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "abcd"));
        assert!(!same_token("", "a"));
    }

    #[test]
    fn domains_own_their_prefixed_subjects_only() -> Result<(), mesh_core::Error> {
        let songs = Principal::Domain {
            domain: DomainName::new("songs")?,
            token: "t".into(),
        };
        assert!(songs.require_subject("songs.played-value").is_ok());
        assert!(songs.require_subject("songs.catalogue-table").is_ok());
        for other in ["songsx.played-value", "users.x-value", "songs", "free-form"] {
            assert!(songs.require_subject(other).is_err(), "{other}");
        }
        assert!(Principal::Dev.require_subject("anything").is_ok());
        Ok(())
    }
}
