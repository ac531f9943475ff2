//! The local mesh: every service a domain needs, on one machine, with nothing installed.
//!
//! [`LocalMesh::start`] looks at a [`MeshConfig`] and, for each service it does not name,
//! starts an embedded one:
//!
//! - **Kafka**: an in-process Kafka-protocol broker (librdkafka's mock cluster) on its own
//!   thread, since the mock is not `Send`;
//! - **catalog**: the catalog service on SQLite (`<data_dir>/catalog.db`) on an ephemeral
//!   port of 127.0.0.1, without authentication, or, when a catalog token is configured,
//!   with that token as its admin token (tokens and grants enforced, as on a shared catalog);
//! - **lake**: the directory `<data_dir>/lake/`.
//!
//! Services that are configured (`MESH_KAFKA_BOOTSTRAP_SERVERS`, `MESH_CATALOG_URL`,
//! `MESH_LAKE_URL`, or the config file) are used as they are: the same code path talks to a
//! real cluster, catalog and object store. [`LocalMesh::shutdown`] stops what was started.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use catalog::server::{Auth, Catalog};
use mesh_core::config::with_trailing_slash;
use mesh_core::{Endpoints, KafkaEndpoint, MeshConfig, Secret, TopicCreator};
use rdkafka::mocking::MockCluster;
use tokio::sync::oneshot;
use tracing::info;

use crate::error::{Error, Result};

/// A running mesh: the endpoints to hand to the kits, and the embedded services behind them.
#[derive(Debug)]
pub struct LocalMesh {
    endpoints: Endpoints,
    data_dir: PathBuf,
    broker: Option<EmbeddedBroker>,
    catalog: Option<EmbeddedCatalog>,
}

impl LocalMesh {
    /// Starts whatever `config` does not point at, and connects to the rest.
    pub async fn start(config: &MeshConfig) -> Result<Self> {
        let data_dir = absolute_dir(&config.data_dir())?;

        let (kafka, broker) = match &config.kafka.bootstrap_servers {
            Some(servers) => (
                KafkaEndpoint {
                    bootstrap_servers: servers.clone(),
                    options: config.kafka.options.clone(),
                    topic_creator: None,
                },
                None,
            ),
            None => {
                let broker = EmbeddedBroker::start()?;
                info!(bootstrap = %broker.bootstrap_servers, "in-process Kafka broker started");
                (
                    KafkaEndpoint {
                        bootstrap_servers: broker.bootstrap_servers.clone(),
                        options: config.kafka.options.clone(),
                        topic_creator: Some(broker.topic_creator()),
                    },
                    Some(broker),
                )
            }
        };

        let (catalog_url, catalog_token, catalog) = match &config.catalog.url {
            Some(url) => (
                url.clone(),
                config.catalog.token.clone().map(Secret::new),
                None,
            ),
            None => {
                let database = format!("sqlite://{}", data_dir.join("catalog.db").display());
                // A token configured for a catalog this mesh starts is that catalog's admin
                // token: it authenticates and enforces grants like a shared one (`mesh dev
                // --auth`). Without one, anyone may do anything.
                let auth = match &config.catalog.token {
                    Some(token) => Auth::AdminToken(token.clone()),
                    None => Auth::Disabled,
                };
                let catalog = EmbeddedCatalog::start(&database, auth).await?;
                info!(url = %catalog.url, %database, "embedded catalog started");
                (
                    catalog.url.clone(),
                    config.catalog.token.clone().map(Secret::new),
                    Some(catalog),
                )
            }
        };

        let lake_url = match &config.lake.url {
            Some(url) => {
                check_lake_scheme(url)?;
                with_trailing_slash(url.clone())
            }
            None => {
                let lake = absolute_dir(&data_dir.join("lake"))?;
                let url = url::Url::from_directory_path(&lake).map_err(|()| Error::Io {
                    path: lake.display().to_string(),
                    source: std::io::Error::other("not an absolute path"),
                })?;
                url.to_string()
            }
        };

        Ok(Self {
            endpoints: Endpoints {
                kafka,
                catalog_url,
                catalog_token,
                lake_url,
                storage_options: config.lake.storage_options.clone(),
            },
            data_dir,
            broker,
            catalog,
        })
    }

    /// Where the kits connect.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The data directory of the embedded services.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Whether Kafka is the in-process broker.
    pub fn kafka_is_embedded(&self) -> bool {
        self.broker.is_some()
    }

    /// Whether the catalog was started by this mesh.
    pub fn catalog_is_embedded(&self) -> bool {
        self.catalog.is_some()
    }

    /// Stops the embedded services: the catalog finishes in-flight requests and closes its
    /// database; the broker thread exits.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(catalog) = self.catalog.take() {
            catalog.stop().await?;
        }
        if let Some(broker) = self.broker.take() {
            broker.stop()?;
        }
        info!("local mesh stopped");
        Ok(())
    }
}

fn check_lake_scheme(url: &str) -> Result<()> {
    if mesh_core::lake::supports(url) {
        return Ok(());
    }
    Err(Error::Core(mesh_core::Error::Config {
        origin: Some("lake.url".into()),
        reason: format!(
            "{url}: this build stores tables on the local filesystem (file://) and on S3 or an \
             S3-compatible store (s3://bucket/prefix); Google Cloud Storage (gs://) and Azure \
             (az://, abfss://) need the datamesh crate's gcs and azure features"
        ),
    }))
}

fn absolute_dir(path: &Path) -> Result<PathBuf> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(path).map_err(io)?;
    path.canonicalize().map_err(io)
}

enum BrokerCommand {
    CreateTopic {
        topic: String,
        partitions: i32,
        reply: mpsc::Sender<Result<(), String>>,
    },
    Stop,
}

/// The in-process broker, on its own thread because `MockCluster` is not `Send`.
#[derive(Debug)]
struct EmbeddedBroker {
    bootstrap_servers: String,
    commands: mpsc::Sender<BrokerCommand>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedBroker {
    fn start() -> Result<Self> {
        let (commands, inbox) = mpsc::channel::<BrokerCommand>();
        let (ready, started) = mpsc::channel::<Result<String, String>>();
        let thread = std::thread::Builder::new()
            .name("mesh-broker".into())
            .spawn(move || {
                let cluster = match MockCluster::new(1) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = ready.send(Ok(cluster.bootstrap_servers()));
                // The cluster lives until Stop or until every sender is gone.
                while let Ok(command) = inbox.recv() {
                    match command {
                        BrokerCommand::CreateTopic {
                            topic,
                            partitions,
                            reply,
                        } => {
                            let result = cluster.create_topic(&topic, partitions, 1).or_else(|e| {
                                match e.rdkafka_error_code() {
                                    Some(rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists) => {
                                        Ok(())
                                    }
                                    _ => Err(e.to_string()),
                                }
                            });
                            let _ = reply.send(result);
                        }
                        BrokerCommand::Stop => break,
                    }
                }
            })
            .map_err(|e| Error::Broker(format!("cannot start its thread: {e}")))?;
        let bootstrap_servers = started
            .recv()
            .map_err(|_| Error::Broker("its thread exited before starting".into()))?
            .map_err(Error::Broker)?;
        Ok(Self {
            bootstrap_servers,
            commands,
            thread: Some(thread),
        })
    }

    fn topic_creator(&self) -> TopicCreator {
        let commands = self.commands.clone();
        TopicCreator::new(move |topic, partitions| {
            let (reply, answer) = mpsc::channel();
            commands
                .send(BrokerCommand::CreateTopic {
                    topic: topic.to_owned(),
                    partitions,
                    reply,
                })
                .map_err(|_| "the in-process broker has stopped")?;
            answer
                .recv()
                .map_err(|_| "the in-process broker has stopped")??;
            Ok(())
        })
    }

    fn stop(mut self) -> Result<()> {
        let _ = self.commands.send(BrokerCommand::Stop);
        if let Some(thread) = self.thread.take() {
            thread
                .join()
                .map_err(|_| Error::Broker("its thread panicked".into()))?;
        }
        Ok(())
    }
}

/// The catalog service on a task of the current runtime.
#[derive(Debug)]
struct EmbeddedCatalog {
    url: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<catalog::Result<()>>,
}

impl EmbeddedCatalog {
    async fn start(database: &str, auth: Auth) -> Result<Self> {
        let catalog = Catalog::open(database, auth).await?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(catalog::Error::Io)?;
        let addr = listener.local_addr().map_err(catalog::Error::Io)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(catalog.serve(listener, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            url: format!("http://{addr}"),
            stop,
            task,
        })
    }

    async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(result) => Ok(result?),
            Err(e) => Err(Error::Catalog(catalog::Error::Io(std::io::Error::other(
                e.to_string(),
            )))),
        }
    }
}
