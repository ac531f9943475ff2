//! Lakes on object storage: S3 and the stores that speak its API (MinIO, Cloudflare R2, Ceph,
//! moto), compiled in always; Google Cloud Storage (`gs://`) with the `gcs` feature and Azure
//! (`az://`, `abfss://`, `azure://`) with the `azure` feature, configured the same way under
//! their own names (`GOOGLE_*`, `AZURE_*`) and committing with their own conditional writes.
//!
//! A product table at `s3://bucket/prefix/<domain>/<product>` is opened through
//! `object_store`'s S3 client and written through Delta's default log store, which commits a
//! version by creating its log file with a conditional PUT (`If-None-Match: *`): of two
//! writers racing for one version, the store lets one create it and tells the other it
//! exists, so that writer re-reads the log and retries on top. No lock service (DynamoDB) is
//! involved, so any store that honours `If-None-Match` on PUT is safe for concurrent writers,
//! and one that ignores it is not (it would let the second writer overwrite the first's
//! commit).
//!
//! Settings come from the lake's storage options (`[lake.storage_options]` in `mesh.toml`),
//! then from the environment, under the names delta-rs and the AWS tools use
//! (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION`, `AWS_ALLOW_HTTP`, ...; any `object_store` S3 key, in either case), plus
//! Delta's own `SSL_CERT_FILE`/`certificate_path` and concurrency limit. An option no S3
//! client knows is refused by name rather than ignored, so a misspelt endpoint cannot send a
//! team's tables to AWS. Values are never logged.
//!
//! Credentials: keys in the options or the environment, a web identity
//! (`AWS_WEB_IDENTITY_TOKEN_FILE` with `AWS_ROLE_ARN`, as on EKS), ECS container credentials,
//! or else the instance metadata service. Profiles in `~/.aws` and SSO are not read (python
//! `deltalake` reads them): export the keys, or run where a role provides them.

use std::str::FromStr;
use std::sync::{Arc, Once};

use deltalake::logstore::{
    DeltaIOStorageBackend, LogStore, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef,
    StorageConfig, client_options_from_certificate, default_logstore, logstore_factories,
    object_store_factories,
};
use deltalake::{DeltaResult, DeltaTableError};
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::limit::LimitStore;
use object_store::path::Path;
use url::Url;

/// An object store a lake can live on, with the URL schemes it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cloud {
    /// S3 and the stores that speak its API.
    S3,
    /// Google Cloud Storage (feature `gcs`).
    #[cfg(feature = "gcs")]
    Gcs,
    /// Azure Blob Storage and ADLS Gen2 (feature `azure`).
    #[cfg(feature = "azure")]
    Azure,
}

/// Each URL scheme this build stores tables under, and its store.
const SCHEMES: &[(&str, Cloud)] = &[
    ("s3", Cloud::S3),
    ("s3a", Cloud::S3),
    #[cfg(feature = "gcs")]
    ("gs", Cloud::Gcs),
    #[cfg(feature = "azure")]
    ("az", Cloud::Azure),
    #[cfg(feature = "azure")]
    ("abfs", Cloud::Azure),
    #[cfg(feature = "azure")]
    ("abfss", Cloud::Azure),
    #[cfg(feature = "azure")]
    ("azure", Cloud::Azure),
];

/// Registers the object-store lakes with Delta, once per process.
pub(crate) fn register() {
    static REGISTERED: Once = Once::new();
    REGISTERED.call_once(|| {
        for (scheme, cloud) in SCHEMES {
            let Ok(url) = Url::parse(&format!("{scheme}://")) else {
                continue;
            };
            object_store_factories().insert(url.clone(), Arc::new(*cloud));
            logstore_factories().insert(url, Arc::new(ConditionalPut));
        }
    });
}

/// Whether this build can store tables under `url`'s scheme.
pub fn supports(url: &str) -> bool {
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    scheme == "file" || SCHEMES.iter().any(|(s, _)| *s == scheme)
}

impl ObjectStoreFactory for Cloud {
    fn parse_url_opts(
        &self,
        url: &Url,
        config: &StorageConfig,
    ) -> DeltaResult<(ObjectStoreRef, Path)> {
        let certificate = config
            .certificate
            .as_ref()
            .and_then(|c| c.certificate_path.as_deref())
            .map(client_options_from_certificate)
            .transpose()?;
        let options = &config.unknown_properties;
        let built = match self {
            Self::S3 => {
                let builder = certificate.map_or_else(AmazonS3Builder::new, |client| {
                    AmazonS3Builder::new().with_client_options(client)
                });
                configured(
                    builder,
                    url,
                    "AWS_",
                    options,
                    S3_HINT,
                    |b, k: AmazonS3ConfigKey, v| b.with_config(k, v),
                )?
                .with_url(url.as_str())
                .build()
                .map(|store| Arc::new(store) as Arc<dyn ObjectStore>)
            }
            #[cfg(feature = "gcs")]
            Self::Gcs => {
                use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
                let builder = certificate.map_or_else(GoogleCloudStorageBuilder::new, |client| {
                    GoogleCloudStorageBuilder::new().with_client_options(client)
                });
                configured(
                    builder,
                    url,
                    "GOOGLE_",
                    options,
                    GCS_HINT,
                    |b, k: GoogleConfigKey, v| b.with_config(k, v),
                )?
                .with_url(url.as_str())
                .build()
                .map(|store| Arc::new(store) as Arc<dyn ObjectStore>)
            }
            #[cfg(feature = "azure")]
            Self::Azure => {
                use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
                let builder = certificate.map_or_else(MicrosoftAzureBuilder::new, |client| {
                    MicrosoftAzureBuilder::new().with_client_options(client)
                });
                configured(
                    builder,
                    url,
                    "AZURE_",
                    options,
                    AZURE_HINT,
                    |b, k: AzureConfigKey, v| b.with_config(k, v),
                )?
                .with_url(url.as_str())
                .build()
                .map(|store| Arc::new(store) as Arc<dyn ObjectStore>)
            }
        };
        let store = built.map_err(|e| DeltaTableError::Generic(format!("{url}: {e}")))?;
        // Delta takes its own settings (a concurrency limit, a separate IO runtime) out of the
        // options before a factory sees them; apply them as its built-in stores do.
        let limit = config.limit.as_ref().and_then(|l| l.max_concurrency);
        let mut store: ObjectStoreRef = match limit {
            Some(limit) => Arc::new(LimitStore::new(store, limit)),
            None => store,
        };
        if let Some(runtime) = &config.runtime {
            store = Arc::new(DeltaIOStorageBackend::new(store, runtime.clone()));
        }
        let prefix = Path::parse(url.path())
            .map_err(|e| DeltaTableError::InvalidTableLocation(format!("{url}: {e}")))?;
        Ok((store, prefix))
    }
}

const S3_HINT: &str = "an S3 setting (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, \
                       AWS_SECRET_ACCESS_KEY, AWS_ALLOW_HTTP, ...)";
#[cfg(feature = "gcs")]
const GCS_HINT: &str =
    "a Google Cloud Storage setting (GOOGLE_SERVICE_ACCOUNT, GOOGLE_APPLICATION_CREDENTIALS, ...)";
#[cfg(feature = "azure")]
const AZURE_HINT: &str = "an Azure setting (AZURE_STORAGE_ACCOUNT_NAME, \
                          AZURE_STORAGE_ACCOUNT_KEY, AZURE_STORAGE_CLIENT_ID, ...)";

/// `builder` with the environment's settings under `env_prefix`, then `options` over them,
/// through `set`. Keys are matched without regard to case; an option that is not a setting
/// of this store is an error naming it (never its value) and saying what would be
/// (`expected`); environment variables the store does not know are left alone, as its own
/// `from_env` leaves them.
fn configured<'a, B, K: FromStr>(
    mut builder: B,
    url: &Url,
    env_prefix: &str,
    options: impl IntoIterator<Item = (&'a String, &'a String)>,
    expected: &str,
    set: impl Fn(B, K, &str) -> B,
) -> DeltaResult<B> {
    for (key, value) in std::env::vars_os() {
        if let (Some(key), Some(value)) = (key.to_str(), value.to_str())
            && key.starts_with(env_prefix)
            && let Ok(parsed) = K::from_str(&key.to_ascii_lowercase())
        {
            builder = set(builder, parsed, value);
        }
    }
    for (key, value) in options {
        let parsed = K::from_str(&key.to_ascii_lowercase()).map_err(|_| {
            DeltaTableError::Generic(format!(
                "{url}: lake storage option {key} is not {expected}"
            ))
        })?;
        builder = set(builder, parsed, value);
    }
    Ok(builder)
}

/// Delta's default log store: commits are conditional PUTs of the version's log file.
struct ConditionalPut;

impl LogStoreFactory for ConditionalPut {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn builder(options: &[(&str, &str)]) -> DeltaResult<AmazonS3Builder> {
        let options: HashMap<String, String> = options
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let url = Url::parse("s3://lake/products/songs/catalogue")
            .map_err(|e| DeltaTableError::Generic(e.to_string()))?;
        Ok(configured(
            AmazonS3Builder::new(),
            &url,
            "AWS_",
            &options,
            S3_HINT,
            |b, k: AmazonS3ConfigKey, v| b.with_config(k, v),
        )?
        .with_url(url.as_str()))
    }

    #[test]
    fn options_are_named_as_delta_rs_names_them_in_either_case() -> DeltaResult<()> {
        let built = builder(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
            ("aws_region", "eu-west-1"),
            ("AWS_ALLOW_HTTP", "true"),
        ])?;
        assert_eq!(
            built
                .get_config_value(&AmazonS3ConfigKey::Endpoint)
                .as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(
            built
                .get_config_value(&AmazonS3ConfigKey::Region)
                .as_deref(),
            Some("eu-west-1")
        );
        // The bucket comes from the table's URL.
        let store = built
            .build()
            .map_err(|e| DeltaTableError::Generic(e.to_string()))?;
        assert_eq!(store.to_string(), "AmazonS3(lake)");
        Ok(())
    }

    #[test]
    fn a_misspelt_option_is_refused_by_name_without_its_value() {
        let refused = builder(&[("AWS_ENDPIONT_URL", "http://secret.example")]);
        let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("AWS_ENDPIONT_URL"), "{message}");
        assert!(!message.contains("secret.example"), "{message}");
    }

    #[test]
    fn file_and_s3_lakes_are_supported() {
        assert!(supports("file:///var/lib/mesh/lake/"));
        assert!(supports("s3://lake/products/"));
        assert!(supports("s3a://lake/"));
        assert_eq!(supports("gs://lake/"), cfg!(feature = "gcs"));
        assert_eq!(
            supports("abfss://lake@account.dfs.core.windows.net/"),
            cfg!(feature = "azure")
        );
        assert!(!supports("lake"));
    }
}
