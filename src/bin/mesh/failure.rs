//! How a command fails: one line with the cause, a hint, and an exit code a script can test.

use std::process::ExitCode;

use datamesh::{catalog, consumer_kit, mesh_core, producer_kit};

/// What a command returns: its exit code, or why it failed.
pub(crate) type Outcome = Result<ExitCode, Failure>;

/// Exit code: the command failed.
pub(crate) const FAILED: u8 = 1;
/// Exit code: the input is invalid (usage, contract, SQL, names).
pub(crate) const INVALID: u8 = 2;
/// Exit code: the mesh refused (an incompatible contract, a missing grant, no permission).
pub(crate) const REFUSED: u8 = 3;
/// Exit code: a service could not be reached or is not configured.
pub(crate) const UNREACHABLE: u8 = 4;

/// A failed command.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    message: String,
    hint: Option<String>,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>, hint: Option<String>) -> Self {
        Self {
            code,
            message: one_line(&message.into()),
            hint,
        }
    }

    /// The command failed.
    pub(crate) fn failed(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(FAILED, message, Some(hint.into()))
    }

    /// The input is invalid.
    pub(crate) fn invalid(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(INVALID, message, Some(hint.into()))
    }

    /// The mesh refused.
    pub(crate) fn refused(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(REFUSED, message, Some(hint.into()))
    }

    /// A service is unreachable or not configured.
    pub(crate) fn unreachable(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(UNREACHABLE, message, Some(hint.into()))
    }

    /// Writes the failure to stderr (one line, or one JSON object) and gives the exit code.
    pub(crate) fn report(&self, json: bool) -> ExitCode {
        if json {
            eprintln!(
                "{}",
                serde_json::json!({
                    "error": self.message,
                    "hint": self.hint,
                    "exit_code": self.code,
                })
            );
        } else {
            match &self.hint {
                Some(hint) => eprintln!("mesh: {} (hint: {hint})", self.message),
                None => eprintln!("mesh: {}", self.message),
            }
        }
        ExitCode::from(self.code)
    }
}

/// Joins a message's lines, so every failure is one line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The innermost cause of an error (a socket's "Connection refused" under an HTTP error).
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

impl From<catalog::Error> for Failure {
    fn from(e: catalog::Error) -> Self {
        match &e {
            catalog::Error::Transport { source, .. } => Self::unreachable(
                format!("cannot reach the catalog: {}", root_cause(source)),
                "is it running? `mesh dev` starts one; --catalog-url or MESH_CATALOG_URL points elsewhere",
            ),
            catalog::Error::InvalidUrl { .. } => Self::invalid(
                e.to_string(),
                "a catalog URL looks like http://127.0.0.1:8081",
            ),
            catalog::Error::Api { status: 401, .. } => Self::refused(
                e.to_string(),
                "send a token the catalog knows with --catalog-token or MESH_CATALOG_TOKEN; an admin creates one with `mesh catalog token create <domain>`",
            ),
            // The token was accepted: what is missing is a right, and the message names it.
            catalog::Error::Api { status: 403, .. } => Self::refused(
                e.to_string(),
                "`mesh catalog whoami` shows who the token acts for; a domain's own token or an admin's may change it",
            ),
            catalog::Error::Api { status: 404, .. } => Self::failed(
                e.to_string(),
                "`mesh catalog domains` and `mesh catalog products` list what exists",
            ),
            catalog::Error::Api { status: 409, .. } | catalog::Error::Api { status: 422, .. } => {
                Self::refused(
                    e.to_string(),
                    "`mesh contract diff <manifest>` explains each verdict",
                )
            }
            _ => Self::failed(e.to_string(), "the catalog's log may say more"),
        }
    }
}

impl From<mesh_core::Error> for Failure {
    fn from(e: mesh_core::Error) -> Self {
        match &e {
            mesh_core::Error::Io { .. } => Self::invalid(e.to_string(), "check the path"),
            mesh_core::Error::Config { .. } => Self::invalid(
                e.to_string(),
                "check mesh.toml, MESH_CONFIG and the MESH_* variables",
            ),
            _ => Self::invalid(
                e.to_string(),
                "`mesh contract validate <manifest>` checks a contract and its schemas",
            ),
        }
    }
}

impl From<producer_kit::Error> for Failure {
    fn from(e: producer_kit::Error) -> Self {
        match e {
            producer_kit::Error::Catalog(e) => e.into(),
            producer_kit::Error::Core(e) => e.into(),
            e @ (producer_kit::Error::ContractRefused { .. }
            | producer_kit::Error::Incompatible { .. }) => Self::refused(
                e.to_string(),
                "`mesh contract diff <manifest>` shows every subject's verdict; add defaults or make fields optional to stay compatible",
            ),
            e @ (producer_kit::Error::Kafka { .. } | producer_kit::Error::TopicCreation { .. }) => {
                Self::failed(
                    e.to_string(),
                    "is the broker running? MESH_KAFKA_BOOTSTRAP_SERVERS points at it",
                )
            }
            e => Self::failed(e.to_string(), "RUST_LOG=info shows what led to it"),
        }
    }
}

impl From<consumer_kit::Error> for Failure {
    fn from(e: consumer_kit::Error) -> Self {
        match e {
            consumer_kit::Error::Catalog(e) => e.into(),
            consumer_kit::Error::Core(e) => e.into(),
            consumer_kit::Error::NotGranted {
                ref product,
                ref domain,
            } => {
                let hint = format!(
                    "the owner of {product} grants it: `mesh catalog grant {product} {domain}` \
                     (once {domain} is registered: `mesh catalog register-domain {domain} --owner <team>`)"
                );
                Self::refused(e.to_string(), hint)
            }
            consumer_kit::Error::TokenOfAnotherDomain {
                ref token_domain,
                ref domain,
            } => {
                let hint = format!(
                    "send {domain}'s token; `mesh query` and `mesh tail` act as {token_domain} when --domain is left out"
                );
                Self::refused(e.to_string(), hint)
            }
            e @ consumer_kit::Error::Query(_) => {
                Self::invalid(e.to_string(), "tables are products: \"<domain>\".<product>")
            }
            e @ consumer_kit::Error::Kafka { .. } => Self::failed(
                e.to_string(),
                "is the broker running? MESH_KAFKA_BOOTSTRAP_SERVERS points at it",
            ),
            e => Self::failed(e.to_string(), "RUST_LOG=info shows what led to it"),
        }
    }
}

impl From<datamesh::Error> for Failure {
    fn from(e: datamesh::Error) -> Self {
        match e {
            datamesh::Error::Catalog(e) => e.into(),
            datamesh::Error::Core(e) => e.into(),
            datamesh::Error::Producer(e) => e.into(),
            datamesh::Error::Consumer(e) => e.into(),
            e => Self::failed(e.to_string(), "RUST_LOG=info shows what led to it"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_one_line() {
        let f = Failure::failed("first\n  second\n\nthird", "a hint");
        assert_eq!(f.message, "first second third");
        assert_eq!(f.code, FAILED);
    }

    #[test]
    fn a_refused_grant_names_the_command_that_fixes_it() {
        let product = mesh_core::ProductId::parse("songs.catalogue").unwrap();
        let domain = mesh_core::DomainName::new("radio").unwrap();
        let f = Failure::from(consumer_kit::Error::NotGranted { product, domain });
        assert_eq!(f.code, REFUSED);
        assert_eq!(
            f.hint.as_deref(),
            Some(
                "the owner of songs.catalogue grants it: `mesh catalog grant songs.catalogue radio` \
                 (once radio is registered: `mesh catalog register-domain radio --owner <team>`)"
            )
        );
    }
}
