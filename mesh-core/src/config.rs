//! Where the mesh's services are: Kafka, the catalog and the lake.
//!
//! Nothing is required. A setting left out means "use the embedded default": the local
//! mesh starts an in-process broker, a catalog on SQLite and a lake directory under
//! [`MeshConfig::data_dir`]. Settings come from a TOML file and from environment
//! variables; a variable wins over the file.
//!
//! | setting | variable | file key |
//! |---|---|---|
//! | config file | `MESH_CONFIG` (default `./mesh.toml` when it exists) | |
//! | Kafka bootstrap servers | `MESH_KAFKA_BOOTSTRAP_SERVERS` | `kafka.bootstrap_servers` |
//! | raw librdkafka options | | `[kafka.options]` |
//! | catalog URL | `MESH_CATALOG_URL` | `catalog.url` |
//! | catalog bearer token | `MESH_CATALOG_TOKEN` | `catalog.token` |
//! | lake root URL (`file://`, `s3://`, ...) | `MESH_LAKE_URL` | `lake.url` |
//! | object-store options | | `[lake.storage_options]` |
//! | data directory (embedded services) | `MESH_DATA_DIR` | `data_dir` (default `./.mesh`) |
//!
//! ```toml
//! data_dir = "/var/lib/mesh"
//!
//! [kafka]
//! bootstrap_servers = "broker-1:9092,broker-2:9092"
//! [kafka.options]
//! "security.protocol" = "SASL_SSL"
//! "sasl.mechanism" = "PLAIN"
//!
//! [catalog]
//! url = "https://catalog.internal:8080"
//!
//! [lake]
//! url = "s3://mesh-lake/products"
//! [lake.storage_options]
//! AWS_REGION = "eu-west-1"
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// The environment variable naming the config file.
pub const CONFIG_FILE_VAR: &str = "MESH_CONFIG";
/// The config file read when [`CONFIG_FILE_VAR`] is not set, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "mesh.toml";
/// The data directory when none is configured.
pub const DEFAULT_DATA_DIR: &str = ".mesh";

/// The whole configuration of a mesh client or local mesh.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MeshConfig {
    /// The Kafka cluster; none means the in-process broker.
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// The catalog service; no URL means an embedded catalog on SQLite.
    #[serde(default)]
    pub catalog: CatalogConfig,
    /// The lake holding data-product tables; no URL means `<data_dir>/lake`.
    #[serde(default)]
    pub lake: LakeConfig,
    /// Where embedded services keep their state. Default `./.mesh`.
    pub data_dir: Option<PathBuf>,
}

/// Kafka settings.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct KafkaConfig {
    /// `host:port[,host:port...]` of an existing cluster.
    pub bootstrap_servers: Option<String>,
    /// Raw librdkafka options, applied after the mesh's own; `bootstrap.servers` is refused
    /// here (use the typed field).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// Catalog settings.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CatalogConfig {
    /// Base URL of the catalog (it also serves the schema registry API at its root).
    pub url: Option<String>,
    /// Bearer token for the catalog; redacted in `Debug`. When no URL is set and the mesh
    /// starts the catalog itself, this is that catalog's admin token.
    pub token: Option<String>,
}

/// Lake settings.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LakeConfig {
    /// Root URL under which data-product tables live: `file:///...`, `s3://bucket/prefix`.
    pub url: Option<String>,
    /// Options for the object store (credentials, region, endpoint); values redacted in
    /// `Debug`.
    #[serde(default)]
    pub storage_options: BTreeMap<String, String>,
}

/// Whether an option's value may be a secret and must not be printed.
fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "key",
        "credential",
        "sasl.oauthbearer",
    ]
    .iter()
    .any(|s| key.contains(s))
}

struct Redacted<'a>(&'a BTreeMap<String, String>);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                let shown = if is_secret(k) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k, shown)
            }))
            .finish()
    }
}

impl fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("options", &Redacted(&self.options))
            .finish()
    }
}

impl fmt::Debug for CatalogConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CatalogConfig")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl fmt::Debug for LakeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LakeConfig")
            .field("url", &self.url)
            .field("storage_options", &Redacted(&self.storage_options))
            .finish()
    }
}

impl MeshConfig {
    /// Reads the config file (from `MESH_CONFIG`, else `./mesh.toml` if present) and applies
    /// the `MESH_*` environment variables on top.
    pub fn load() -> Result<Self> {
        Self::load_with(|name| std::env::var(name).ok())
    }

    /// Like [`MeshConfig::load`], with the environment given as a function (for tests and
    /// for embedding).
    pub fn load_with(env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        // An empty variable is unset, as every other MESH_* one is.
        let mut config = match env(CONFIG_FILE_VAR).filter(|v| !v.trim().is_empty()) {
            Some(path) => Self::from_file(path)?,
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                Self::from_file(DEFAULT_CONFIG_FILE)?
            }
            None => Self::default(),
        };
        config.apply_env(env);
        config.check()?;
        Ok(config)
    }

    /// Reads a TOML config file, without looking at the environment.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        let config: Self = toml::from_str(&text).map_err(|e| Error::Config {
            origin: Some(path.display().to_string()),
            reason: e.message().to_owned(),
        })?;
        config.check()?;
        Ok(config)
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) {
        let non_empty = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = non_empty("MESH_KAFKA_BOOTSTRAP_SERVERS") {
            self.kafka.bootstrap_servers = Some(v);
        }
        if let Some(v) = non_empty("MESH_CATALOG_URL") {
            self.catalog.url = Some(v);
        }
        if let Some(v) = non_empty("MESH_CATALOG_TOKEN") {
            self.catalog.token = Some(v);
        }
        if let Some(v) = non_empty("MESH_LAKE_URL") {
            self.lake.url = Some(v);
        }
        if let Some(v) = non_empty("MESH_DATA_DIR") {
            self.data_dir = Some(PathBuf::from(v));
        }
    }

    fn check(&self) -> Result<()> {
        if self.kafka.options.contains_key("bootstrap.servers") {
            return Err(Error::Config {
                origin: None,
                reason:
                    "set kafka.bootstrap_servers (or MESH_KAFKA_BOOTSTRAP_SERVERS) rather than \
                         the raw option bootstrap.servers"
                        .to_owned(),
            });
        }
        Ok(())
    }

    /// The data directory of embedded services: the configured one, else `./.mesh`.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn environment_wins_over_the_file() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            path: "tmp".into(),
            source,
        })?;
        let file = dir.path().join("mesh.toml");
        std::fs::write(
            &file,
            "data_dir = \"/srv/mesh\"\n[kafka]\nbootstrap_servers = \"k1:9092\"\n\
             [kafka.options]\n\"sasl.password\" = \"hunter2\"\n[catalog]\nurl = \"http://cat:1\"\n",
        )
        .map_err(|source| Error::Io {
            path: file.clone(),
            source,
        })?;
        let env: HashMap<&str, String> = [
            (CONFIG_FILE_VAR, file.display().to_string()),
            ("MESH_CATALOG_URL", "http://other:2".to_owned()),
            ("MESH_CATALOG_TOKEN", "s3cr3t".to_owned()),
        ]
        .into();
        let config = MeshConfig::load_with(|k| env.get(k).cloned())?;
        assert_eq!(config.kafka.bootstrap_servers.as_deref(), Some("k1:9092"));
        assert_eq!(config.catalog.url.as_deref(), Some("http://other:2"));
        assert_eq!(config.data_dir(), PathBuf::from("/srv/mesh"));
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cr3t"),
            "{shown}"
        );
        Ok(())
    }

    #[test]
    fn endpoints_never_show_the_lake_credentials() -> Result<()> {
        let config = MeshConfig::load_with(|k| {
            match k {
                "MESH_KAFKA_BOOTSTRAP_SERVERS" => Some("k:1"),
                "MESH_CATALOG_URL" => Some("http://cat:1"),
                "MESH_LAKE_URL" => Some("s3://lake/products"),
                _ => None,
            }
            .map(str::to_owned)
        })?;
        let mut endpoints = Endpoints::from_config(&config)?;
        endpoints.storage_options = BTreeMap::from([
            ("AWS_ACCESS_KEY_ID".to_owned(), "AKIAEXAMPLE".to_owned()),
            (
                "AWS_SECRET_ACCESS_KEY".to_owned(),
                "wJalrXUtnFEMI".to_owned(),
            ),
            ("AWS_SESSION_TOKEN".to_owned(), "FwoGZXIvYXdzE".to_owned()),
            ("AWS_REGION".to_owned(), "eu-west-1".to_owned()),
        ]);
        let shown = format!("{endpoints:?}");
        for secret in ["AKIAEXAMPLE", "wJalrXUtnFEMI", "FwoGZXIvYXdzE"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("eu-west-1"), "{shown}");
        Ok(())
    }

    #[test]
    fn nothing_configured_means_embedded_defaults() -> Result<()> {
        let config = MeshConfig::load_with(|_| None)?;
        assert!(config.kafka.bootstrap_servers.is_none());
        assert!(config.catalog.url.is_none());
        assert_eq!(config.data_dir(), PathBuf::from(".mesh"));
        // An empty MESH_CONFIG is unset, like every other variable (it was read as a path).
        let config = MeshConfig::load_with(|k| (k == CONFIG_FILE_VAR).then(String::new))?;
        assert!(config.catalog.url.is_none());
        Ok(())
    }

    #[test]
    fn client_settings_layer_and_pin() -> Result<()> {
        let mut endpoint = KafkaEndpoint {
            bootstrap_servers: "k:1".into(),
            options: BTreeMap::from([("linger.ms".to_owned(), "50".to_owned())]),
            topic_creator: None,
        };
        let pinned = [Pinned {
            key: "acks",
            allowed: &["all", "-1"],
            reason: "no loss",
        }];
        let settings =
            endpoint.client_settings(&[("linger.ms", "5"), ("client.id", "x")], &pinned)?;
        let get = |k: &str| {
            settings
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("bootstrap.servers"), Some("k:1"));
        assert_eq!(get("linger.ms"), Some("50"));
        assert_eq!(get("acks"), Some("all"));
        endpoint.options.insert("acks".into(), "1".into());
        let err = endpoint
            .client_settings(&[], &pinned)
            .expect_err("acks=1")
            .to_string();
        assert!(err.contains("acks=1 is not allowed: no loss"), "{err}");
        Ok(())
    }

    #[test]
    fn bad_files_are_refused_with_their_origin() {
        let err =
            toml::from_str::<MeshConfig>("[kafka]\nbootstrap = 1\n").expect_err("unknown key");
        assert!(err.message().contains("unknown field `bootstrap`"), "{err}");
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "[kafka.options]\n\"bootstrap.servers\" = \"x\"\n").expect("write");
        let err = MeshConfig::from_file(&file)
            .expect_err("raw bootstrap")
            .to_string();
        assert!(err.contains("kafka.bootstrap_servers"), "{err}");
    }
}

/// Where a running mesh's services are: what the kits connect to. The local mesh hands
/// these out; [`Endpoints::from_config`] builds them from a configuration that names every
/// service.
#[derive(Clone)]
pub struct Endpoints {
    /// The Kafka cluster.
    pub kafka: KafkaEndpoint,
    /// The catalog's base URL (it also serves the schema-registry API).
    pub catalog_url: String,
    /// The catalog bearer token, if the catalog needs one.
    pub catalog_token: Option<Secret>,
    /// The lake root URL, ending with `/`; a product's table lives at
    /// `<lake_url><domain>/<product>`.
    pub lake_url: String,
    /// Object-store options for the lake (credentials, region).
    pub storage_options: BTreeMap<String, String>,
}

impl fmt::Debug for Endpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoints")
            .field("kafka", &self.kafka)
            .field("catalog_url", &self.catalog_url)
            .field("catalog_token", &self.catalog_token)
            .field("lake_url", &self.lake_url)
            .field("storage_options", &Redacted(&self.storage_options))
            .finish()
    }
}

/// A Kafka cluster to connect to.
#[derive(Clone)]
pub struct KafkaEndpoint {
    /// `host:port[,host:port...]`.
    pub bootstrap_servers: String,
    /// Raw librdkafka options applied after the mesh's own.
    pub options: BTreeMap<String, String>,
    /// How to create topics when the cluster has no admin API (the in-process broker);
    /// `None` means use the Kafka admin API.
    pub topic_creator: Option<TopicCreator>,
}

impl fmt::Debug for KafkaEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaEndpoint")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("options", &Redacted(&self.options))
            .field("embedded", &self.topic_creator.is_some())
            .finish()
    }
}

/// A Kafka setting the mesh relies on: a client may not override it with another value.
#[derive(Debug, Clone, Copy)]
pub struct Pinned {
    /// The librdkafka option.
    pub key: &'static str,
    /// The values allowed, the first being the one the mesh sets.
    pub allowed: &'static [&'static str],
    /// Why the mesh needs it, for the error.
    pub reason: &'static str,
}

/// How long a producer keeps trying to deliver an event (librdkafka's `message.timeout.ms`,
/// Kafka's `delivery.timeout.ms`) before it reports it undelivered: Kafka's own default,
/// so an outage shorter than two minutes (a broker restart, a partition leader moving)
/// loses nothing. Override it with `[kafka.options] "message.timeout.ms"`.
pub const DELIVERY_TIMEOUT_MS: &str = "120000";

impl KafkaEndpoint {
    /// The librdkafka settings of a client: bootstrap servers, then the client's own
    /// `defaults`, then `pinned` settings, then the raw options, which may override defaults
    /// but not pinned settings.
    pub fn client_settings(
        &self,
        defaults: &[(&str, &str)],
        pinned: &[Pinned],
    ) -> Result<Vec<(String, String)>> {
        let mut settings: BTreeMap<String, String> = BTreeMap::new();
        settings.insert("bootstrap.servers".into(), self.bootstrap_servers.clone());
        for (k, v) in defaults {
            settings.insert((*k).into(), (*v).into());
        }
        for p in pinned {
            settings.insert(p.key.into(), p.allowed[0].into());
        }
        for (k, v) in &self.options {
            if let Some(p) = pinned.iter().find(|p| p.key == k)
                && !p.allowed.contains(&v.as_str())
            {
                return Err(Error::Config {
                    origin: Some(format!("kafka option {k}")),
                    reason: format!("{k}={v} is not allowed: {}", p.reason),
                });
            }
            settings.insert(k.clone(), v.clone());
        }
        Ok(settings.into_iter().collect())
    }
}

/// Why a [`TopicCreator`] could not create a topic: whatever error its broker gives.
pub type CreateTopicError = Box<dyn std::error::Error + Send + Sync>;

/// The function behind a [`TopicCreator`].
type CreateTopicFn = dyn Fn(&str, i32) -> std::result::Result<(), CreateTopicError> + Send + Sync;

/// Creates a topic with a number of partitions on a broker without an admin API.
#[derive(Clone)]
pub struct TopicCreator(std::sync::Arc<CreateTopicFn>);

impl TopicCreator {
    /// Wraps a function creating `topic` with `partitions` partitions.
    pub fn new(
        f: impl Fn(&str, i32) -> std::result::Result<(), CreateTopicError> + Send + Sync + 'static,
    ) -> Self {
        Self(std::sync::Arc::new(f))
    }

    /// Creates the topic; creating an existing topic is not an error.
    pub fn create(
        &self,
        topic: &str,
        partitions: i32,
    ) -> std::result::Result<(), CreateTopicError> {
        (self.0)(topic, partitions)
    }
}

impl fmt::Debug for TopicCreator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TopicCreator")
    }
}

/// A secret string: shown as `<redacted>` by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself; do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Endpoints {
    /// Endpoints of an existing mesh: every service must be configured.
    pub fn from_config(config: &MeshConfig) -> Result<Self> {
        let missing = |what: &str, var: &str| Error::Config {
            origin: None,
            reason: format!("{what} is not configured: set {var} or start a local mesh"),
        };
        let bootstrap = config
            .kafka
            .bootstrap_servers
            .clone()
            .ok_or_else(|| missing("Kafka", "MESH_KAFKA_BOOTSTRAP_SERVERS"))?;
        let catalog_url = config
            .catalog
            .url
            .clone()
            .ok_or_else(|| missing("the catalog", "MESH_CATALOG_URL"))?;
        let lake_url = config
            .lake
            .url
            .clone()
            .ok_or_else(|| missing("the lake", "MESH_LAKE_URL"))?;
        Ok(Self {
            kafka: KafkaEndpoint {
                bootstrap_servers: bootstrap,
                options: config.kafka.options.clone(),
                topic_creator: None,
            },
            catalog_url,
            catalog_token: config.catalog.token.clone().map(Secret::new),
            lake_url: with_trailing_slash(lake_url),
            storage_options: config.lake.storage_options.clone(),
        })
    }

    /// The URL of a product's table under the lake root: `<lake>/<domain>/<product>`.
    pub fn table_url(&self, product: &crate::ProductId) -> String {
        format!(
            "{}{}/{}",
            self.lake_url,
            product.domain(),
            product.product()
        )
    }
}

/// Lake roots are directories: joining a relative path onto them needs the slash.
pub fn with_trailing_slash(mut url: String) -> String {
    if !url.ends_with('/') {
        url.push('/');
    }
    url
}
