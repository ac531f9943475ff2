//! The catalog's HTTP client, used by the kits. It needs none of the server's dependencies.

use std::fmt;
use std::time::Duration;

use mesh_core::{AvroSchema, DomainName, ProductId, Subject, TopicName};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::{Error, Result};
use crate::model::registry::{
    CONTENT_TYPE, CompatibilityCheck, ConfigUpdate, ErrorBody, RegisterSchema, RegisteredId,
    SchemaById, SubjectVersion,
};
use crate::model::{
    AuditEntry, CreatedToken, DataProduct, Domain, Grant, Identity, NewToken, ProductHealth,
    SchemaId, StreamHead, TableVersion, TokenInfo,
};

/// A client of one catalog. Cheap to clone: clones share the connection pool.
///
/// Requests that are safe to repeat (all but creating and revoking tokens) are retried when
/// the catalog cannot be reached or answers 5xx or 429, with backoff from 100 ms to 5 s, for
/// at most [`CatalogClient::with_retry_for`] (default [`DEFAULT_RETRY_FOR`]): a catalog
/// restart or a network blip does not fail a producer, a sink or a snapshot. Past that budget
/// the last error is returned.
#[derive(Clone)]
pub struct CatalogClient {
    base: Url,
    http: reqwest::Client,
    token: Option<String>,
    retry_for: Duration,
}

/// How long a client keeps retrying a request by default.
pub const DEFAULT_RETRY_FOR: Duration = Duration::from_secs(60);

/// The first pause between retries; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl fmt::Debug for CatalogClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CatalogClient")
            .field("base", &self.base.as_str())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("retry_for", &self.retry_for)
            .finish()
    }
}

impl CatalogClient {
    /// A client of the catalog at `base_url` (e.g. `http://127.0.0.1:8081`), without a token.
    pub fn new(base_url: &str) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidUrl {
            url: base_url.to_owned(),
            reason,
        };
        let base = Url::parse(base_url).map_err(|e| invalid(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https".to_owned()));
        }
        if base.cannot_be_a_base() {
            return Err(invalid("it cannot be a base URL".to_owned()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            // The catalog is named explicitly; a system proxy must not reroute it.
            .no_proxy()
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            base,
            http,
            token: None,
            retry_for: DEFAULT_RETRY_FOR,
        })
    }

    /// The same client, retrying failed requests for at most `budget` (zero: never).
    /// Default: [`DEFAULT_RETRY_FOR`].
    #[must_use]
    pub fn with_retry_for(mut self, budget: Duration) -> Self {
        self.retry_for = budget;
        self
    }

    /// A client of the mesh's catalog: `endpoints`' URL, with its token if one is configured.
    pub fn for_endpoints(endpoints: &mesh_core::Endpoints) -> Result<Self> {
        let client = Self::new(&endpoints.catalog_url)?;
        Ok(match &endpoints.catalog_token {
            Some(token) => client.with_token(token.expose()),
            None => client,
        })
    }

    /// The same client, sending `token` as a bearer token. Default: no token.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The catalog's base URL; the schema registry API is served at its root.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&B>,
    ) -> Result<T> {
        self.call_url(method, self.url(segments), body).await
    }

    async fn call_url<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<T> {
        let method_name = method_name(&method);
        let body = body
            .map(|b| {
                serde_json::to_vec(b).map_err(|e| Error::Decode {
                    method: method_name,
                    path: url.path().to_owned(),
                    reason: format!("cannot encode the request: {e}"),
                })
            })
            .transpose()?;
        // Tokens are the only resources whose creation or revocation repeated would not be
        // the same as done once.
        let repeatable = !url.path().contains("/api/v1/tokens");
        let deadline = tokio::time::Instant::now() + self.retry_for;
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self
                .attempt(method.clone(), url.clone(), body.clone())
                .await
            {
                Err(e)
                    if repeatable
                        && e.is_retriable()
                        && tokio::time::Instant::now() + backoff < deadline =>
                {
                    tracing::warn!(method = method_name, path = url.path(), error = %e,
                        retry_in_ms = backoff.as_millis() as u64, "catalog request failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                outcome => return outcome,
            }
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<T> {
        let path = url.path().to_owned();
        let method_name = method_name(&method);
        let mut request = self
            .http
            .request(method, url)
            .header(reqwest::header::ACCEPT, CONTENT_TYPE);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(json) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
                .body(json);
        }
        let response = request.send().await.map_err(|source| Error::Transport {
            method: method_name,
            path: path.clone(),
            source,
        })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|source| Error::Transport {
            method: method_name,
            path: path.clone(),
            source,
        })?;
        if !status.is_success() {
            return Err(api_error(method_name, path, status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| Error::Decode {
            method: method_name,
            path,
            reason: e.to_string(),
        })
    }

    async fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T> {
        self.call::<(), T>(Method::GET, segments, None).await
    }

    /// Checks that the catalog is up.
    pub async fn health(&self) -> Result<()> {
        let _: serde_json::Value = self.get(&["healthz"]).await?;
        Ok(())
    }

    // --- schema registry -------------------------------------------------------------

    /// Registers `schema` under `subject` and returns its id; registering the same schema
    /// again returns the same id.
    pub async fn register_schema(
        &self,
        subject: &Subject,
        schema: &AvroSchema,
    ) -> Result<SchemaId> {
        let body = avro_body(schema);
        let id: RegisteredId = self
            .call(
                Method::POST,
                &["subjects", subject.as_str(), "versions"],
                Some(&body),
            )
            .await?;
        Ok(id.id)
    }

    /// The version of `subject` holding `schema` (compared in canonical form), or `None` when
    /// the subject does not hold it or does not exist.
    pub async fn lookup_schema(
        &self,
        subject: &Subject,
        schema: &AvroSchema,
    ) -> Result<Option<SubjectVersion>> {
        let body = avro_body(schema);
        match self
            .call(Method::POST, &["subjects", subject.as_str()], Some(&body))
            .await
        {
            Ok(found) => Ok(Some(found)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The schema registered with `id`.
    pub async fn schema_by_id(&self, id: SchemaId) -> Result<SchemaById> {
        self.get(&["schemas", "ids", &id.to_string()]).await
    }

    /// Whether `schema` could be registered under `subject` now: the subject's compatibility
    /// level and, when the subject feeds a product's table, what the table can take. Returns
    /// the reasons it could not (empty when it could).
    pub async fn check_compatibility(
        &self,
        subject: &Subject,
        schema: &AvroSchema,
    ) -> Result<Vec<String>> {
        let body = avro_body(schema);
        let mut url = self.url(&["compatibility", "subjects", subject.as_str(), "versions"]);
        url.set_query(Some("verbose=true"));
        let check: CompatibilityCheck = self.call_url(Method::POST, url, Some(&body)).await?;
        Ok(if check.is_compatible {
            Vec::new()
        } else {
            check
                .messages
                .unwrap_or_else(|| vec!["incompatible".to_owned()])
        })
    }

    /// Sets the compatibility level of `subject`.
    pub async fn set_compatibility(
        &self,
        subject: &Subject,
        level: mesh_core::Level,
    ) -> Result<()> {
        let body = ConfigUpdate {
            compatibility: level.to_string(),
        };
        let _: ConfigUpdate = self
            .call(Method::PUT, &["config", subject.as_str()], Some(&body))
            .await?;
        Ok(())
    }

    /// The newest live version of `subject`.
    pub async fn latest_version(&self, subject: &Subject) -> Result<SubjectVersion> {
        self.get(&["subjects", subject.as_str(), "versions", "latest"])
            .await
    }

    /// One version of `subject`.
    pub async fn version(&self, subject: &Subject, version: i64) -> Result<SubjectVersion> {
        self.get(&[
            "subjects",
            subject.as_str(),
            "versions",
            &version.to_string(),
        ])
        .await
    }

    /// The live version numbers of `subject`, oldest first.
    pub async fn versions(&self, subject: &Subject) -> Result<Vec<i64>> {
        self.get(&["subjects", subject.as_str(), "versions"]).await
    }

    /// Every subject with a live version.
    pub async fn subjects(&self) -> Result<Vec<String>> {
        self.get(&["subjects"]).await
    }

    // --- governance ------------------------------------------------------------------

    /// Creates or updates a domain.
    pub async fn upsert_domain(&self, domain: &Domain) -> Result<Domain> {
        self.call(
            Method::PUT,
            &["api", "v1", "domains", domain.name.as_str()],
            Some(domain),
        )
        .await
    }

    /// Every domain.
    pub async fn domains(&self) -> Result<Vec<Domain>> {
        self.get(&["api", "v1", "domains"]).await
    }

    /// A domain by name.
    pub async fn domain(&self, name: &DomainName) -> Result<Domain> {
        self.get(&["api", "v1", "domains", name.as_str()]).await
    }

    /// Creates or updates a data product; its domain must exist.
    pub async fn upsert_product(&self, product: &DataProduct) -> Result<DataProduct> {
        self.call(
            Method::PUT,
            &["api", "v1", "products", product.id.as_str()],
            Some(product),
        )
        .await
    }

    /// A data product by id.
    pub async fn product(&self, id: &ProductId) -> Result<DataProduct> {
        self.get(&["api", "v1", "products", id.as_str()]).await
    }

    /// Every data product.
    pub async fn products(&self) -> Result<Vec<DataProduct>> {
        self.get(&["api", "v1", "products"]).await
    }

    /// Products whose id, description or tags contain every word of `query`.
    pub async fn search(&self, query: &str) -> Result<Vec<DataProduct>> {
        let mut url = self.url(&["api", "v1", "search"]);
        url.query_pairs_mut().append_pair("q", query);
        self.call_url::<(), _>(Method::GET, url, None).await
    }

    /// Freshness of a product from both planes, against its SLA.
    pub async fn product_health(&self, id: &ProductId) -> Result<ProductHealth> {
        self.get(&["api", "v1", "products", id.as_str(), "health"])
            .await
    }

    /// Lets `consumer` read `product`'s table.
    pub async fn grant(&self, product: &ProductId, consumer: &DomainName) -> Result<Grant> {
        let body = serde_json::json!({ "consumer_domain": consumer });
        self.call(
            Method::POST,
            &["api", "v1", "products", product.as_str(), "grants"],
            Some(&body),
        )
        .await
    }

    /// Every grant on `product`.
    pub async fn grants(&self, product: &ProductId) -> Result<Vec<Grant>> {
        self.get(&["api", "v1", "products", product.as_str(), "grants"])
            .await
    }

    /// `consumer`'s grant on `product`; not found when it holds none.
    pub async fn grant_of(&self, product: &ProductId, consumer: &DomainName) -> Result<Grant> {
        self.get(&[
            "api",
            "v1",
            "products",
            product.as_str(),
            "grants",
            consumer.as_str(),
        ])
        .await
    }

    /// Withdraws `consumer`'s read access to `product`.
    pub async fn revoke(&self, product: &ProductId, consumer: &DomainName) -> Result<()> {
        let _: serde_json::Value = self
            .call::<(), _>(
                Method::DELETE,
                &[
                    "api",
                    "v1",
                    "products",
                    product.as_str(),
                    "grants",
                    consumer.as_str(),
                ],
                None,
            )
            .await?;
        Ok(())
    }

    /// Reports the newest offsets of a stream's partitions (next offsets to be written).
    pub async fn report_heads(&self, topic: &TopicName, heads: &[StreamHead]) -> Result<()> {
        let _: Vec<StreamHead> = self
            .call(
                Method::PUT,
                &["api", "v1", "streams", topic.as_str(), "heads"],
                Some(heads),
            )
            .await?;
        Ok(())
    }

    /// Creates a token (admin only); the answer holds the secret, once.
    pub async fn create_token(&self, request: &NewToken) -> Result<CreatedToken> {
        self.call(Method::POST, &["api", "v1", "tokens"], Some(request))
            .await
    }

    /// Who this client's token acts as. A catalog older than this route answers 404.
    pub async fn whoami(&self) -> Result<Identity> {
        self.get(&["api", "v1", "whoami"]).await
    }

    /// The tokens this client may see, without secrets: every token for an admin, its own
    /// domain's for a domain token.
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>> {
        self.get(&["api", "v1", "tokens"]).await
    }

    /// Revokes the token `id` (an admin any, a domain token its own domain's).
    pub async fn revoke_token(&self, id: &str) -> Result<()> {
        let _: serde_json::Value = self
            .call::<(), _>(Method::DELETE, &["api", "v1", "tokens", id], None)
            .await?;
        Ok(())
    }

    /// The newest audit entries (admin only).
    pub async fn audit(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        let mut url = self.url(&["api", "v1", "audit"]);
        url.query_pairs_mut()
            .append_pair("limit", &limit.to_string());
        self.call_url::<(), _>(Method::GET, url, None).await
    }

    /// Records a new version of a product's table.
    pub async fn register_table_version(
        &self,
        id: &ProductId,
        version: &TableVersion,
    ) -> Result<TableVersion> {
        self.call(
            Method::POST,
            &["api", "v1", "products", id.as_str(), "versions"],
            Some(version),
        )
        .await
    }

    /// The registered versions of a product's table, oldest first.
    pub async fn table_versions(&self, id: &ProductId) -> Result<Vec<TableVersion>> {
        self.get(&["api", "v1", "products", id.as_str(), "versions"])
            .await
    }

    /// The newest registered version of a product's table.
    pub async fn latest_table_version(&self, id: &ProductId) -> Result<TableVersion> {
        self.get(&["api", "v1", "products", id.as_str(), "versions", "latest"])
            .await
    }
}

/// The registry's request body for an Avro schema without references.
fn avro_body(schema: &AvroSchema) -> RegisterSchema {
    RegisterSchema {
        schema: schema.text().to_owned(),
        schema_type: None,
        references: Vec::new(),
        id: None,
        version: None,
    }
}

fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => "HTTP",
    }
}

fn api_error(method: &'static str, path: String, status: StatusCode, body: &[u8]) -> Error {
    let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => (e.error_code, e.message),
        Err(_) => (
            i64::from(status.as_u16()),
            String::from_utf8_lossy(body).chars().take(200).collect(),
        ),
    };
    Error::Api {
        method,
        path,
        status: status.as_u16(),
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_escaped_urls_and_hides_the_token() -> Result<()> {
        let client = CatalogClient::new("http://127.0.0.1:8081/")?.with_token("s3cr3t");
        let url = client.url(&["subjects", "a b/c-value", "versions"]);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8081/subjects/a%20b%2Fc-value/versions"
        );
        assert!(!format!("{client:?}").contains("s3cr3t"));
        let prefixed = CatalogClient::new("http://h:1/catalog")?;
        assert_eq!(
            prefixed.url(&["healthz"]).as_str(),
            "http://h:1/catalog/healthz"
        );
        Ok(())
    }

    #[test]
    fn refuses_unusable_urls() {
        for bad in ["not a url", "ftp://h/", "mailto:x@y"] {
            let err = CatalogClient::new(bad).expect_err(bad);
            assert!(err.to_string().starts_with("invalid catalog URL"), "{err}");
        }
    }

    #[test]
    fn error_bodies_become_codes() {
        let err = api_error(
            "GET",
            "/subjects/x/versions/latest".into(),
            StatusCode::NOT_FOUND,
            br#"{"error_code":40401,"message":"Subject 'x' not found."}"#,
        );
        assert_eq!(err.error_code(), Some(40401));
        assert!(err.is_not_found() && !err.is_retriable());
        let err = api_error("GET", "/".into(), StatusCode::BAD_GATEWAY, b"<html>");
        assert_eq!(err.error_code(), Some(502));
        assert!(err.is_retriable());
    }
}
