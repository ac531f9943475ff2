//! The domain producer: one per domain and process, owning the Kafka producer and the
//! catalog client that its publishers and snapshots share.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use catalog::{CatalogClient, Domain};
use deltalake::arrow::record_batch::RecordBatch;
use mesh_core::{
    AvroSchema, Endpoints, Pinned, ProductId, ProductName, StreamName, Subject, TopicName,
};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;
use tracing::{info, instrument};

use crate::error::{Error, Result};
use crate::publisher::Publisher;
use crate::snapshot::Snapshot;

/// Partitions of a stream's topic when none are declared.
pub const DEFAULT_PARTITIONS: i32 = 3;

/// Settings every mesh producer runs with; options may not change them.
const PINNED: &[Pinned] = &[
    Pinned {
        key: "enable.idempotence",
        allowed: &["true"],
        reason: "the mesh publishes with the idempotent producer so retries never duplicate events",
    },
    Pinned {
        key: "acks",
        allowed: &["all", "-1"],
        reason: "an event counts as published only when every in-sync replica has it",
    },
];

/// A domain's handle on the mesh: publishes its streams and snapshots its products.
///
/// Cheap to clone; clones share the Kafka producer and the catalog client.
#[derive(Clone)]
pub struct DomainProducer {
    inner: Arc<Inner>,
}

struct Inner {
    domain: Domain,
    endpoints: Endpoints,
    catalog: CatalogClient,
    producer: FutureProducer,
}

impl std::fmt::Debug for DomainProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DomainProducer")
            .field("domain", &self.inner.domain.name)
            .field("endpoints", &self.inner.endpoints)
            .finish_non_exhaustive()
    }
}

impl DomainProducer {
    /// Registers `domain` in the catalog and connects to the mesh's Kafka.
    #[instrument(skip_all, fields(domain = %domain.name))]
    pub async fn connect(domain: Domain, endpoints: &Endpoints) -> Result<Self> {
        let mut catalog = CatalogClient::new(&endpoints.catalog_url)?;
        if let Some(token) = &endpoints.catalog_token {
            catalog = catalog.with_token(token.expose());
        }
        catalog.upsert_domain(&domain).await?;
        let client_id = format!("mesh-producer-{}", domain.name);
        let settings = endpoints.kafka.client_settings(
            &[
                ("client.id", &client_id),
                ("linger.ms", "5"),
                ("message.timeout.ms", "30000"),
            ],
            PINNED,
        )?;
        let mut config = ClientConfig::new();
        for (k, v) in settings {
            config.set(k, v);
        }
        let producer: FutureProducer = config.create().map_err(|source| Error::Kafka {
            operation: "create the producer",
            topic: "*".into(),
            source,
        })?;
        info!(bootstrap = %endpoints.kafka.bootstrap_servers, "domain producer connected");
        Ok(Self {
            inner: Arc::new(Inner {
                domain,
                endpoints: endpoints.clone(),
                catalog,
                producer,
            }),
        })
    }

    /// The domain this producer publishes for.
    pub fn domain(&self) -> &Domain {
        &self.inner.domain
    }

    /// The catalog client.
    pub fn catalog(&self) -> &CatalogClient {
        &self.inner.catalog
    }

    /// The endpoints this producer connected to.
    pub fn endpoints(&self) -> &Endpoints {
        &self.inner.endpoints
    }

    pub(crate) fn kafka(&self) -> &FutureProducer {
        &self.inner.producer
    }

    /// Opens a stream of this domain for publishing: registers `schema` as the value schema
    /// of `<domain>.<stream>` and makes sure the topic exists.
    ///
    /// ```no_run
    /// # async fn demo(producer: producer_kit::DomainProducer) -> producer_kit::Result<()> {
    /// let schema = mesh_core::AvroSchema::record_from_file("schemas/songs/Played.avsc")?;
    /// let played = producer
    ///     .stream(mesh_core::StreamName::new("played")?, schema)
    ///     .with_partitions(6)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn stream(&self, name: StreamName, schema: AvroSchema) -> OpenStream {
        OpenStream {
            producer: self.clone(),
            name,
            schema,
            partitions: DEFAULT_PARTITIONS,
        }
    }

    /// A snapshot of the product `name` of this domain holding `batches`; it is written
    /// and registered when awaited. See [`Snapshot`] for the options.
    pub fn snapshot(&self, name: ProductName, batches: Vec<RecordBatch>) -> Snapshot {
        Snapshot::new(
            self.clone(),
            ProductId::new(&self.inner.domain.name, &name),
            batches,
        )
    }

    /// Registers `schema` as the row schema of this domain's product `name` (subject
    /// `<domain>.<product>-table`) and returns its id, for [`Snapshot::with_schema_id`].
    pub async fn register_table_schema(
        &self,
        name: &ProductName,
        schema: &AvroSchema,
    ) -> Result<u32> {
        let product = ProductId::new(&self.inner.domain.name, name);
        Ok(self
            .inner
            .catalog
            .register_schema(&Subject::table(&product), schema)
            .await?)
    }

    /// Waits until every message handed to Kafka is acknowledged, or `timeout` passes.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.inner
            .producer
            .flush(timeout)
            .map_err(|source| Error::Kafka {
                operation: "flush",
                topic: "*".into(),
                source,
            })
    }

    async fn ensure_topic(&self, topic: &TopicName, partitions: i32) -> Result<()> {
        if let Some(creator) = &self.inner.endpoints.kafka.topic_creator {
            return creator
                .create(topic.as_str(), partitions)
                .map_err(|reason| Error::TopicCreation {
                    topic: topic.clone(),
                    reason,
                });
        }
        let settings = self.inner.endpoints.kafka.client_settings(&[], &[])?;
        let mut config = ClientConfig::new();
        for (k, v) in settings {
            config.set(k, v);
        }
        let admin: AdminClient<DefaultClientContext> =
            config.create().map_err(|source| Error::Kafka {
                operation: "create an admin client",
                topic: topic.to_string(),
                source,
            })?;
        let new = NewTopic::new(topic.as_str(), partitions, TopicReplication::Fixed(-1));
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = admin
            .create_topics([&new], &options)
            .await
            .map_err(|source| Error::Kafka {
                operation: "create topic",
                topic: topic.to_string(),
                source,
            })?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => {
                    return Err(Error::TopicCreation {
                        topic: topic.clone(),
                        reason: code.to_string(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Opening a stream for publishing; runs on `.await`. See [`DomainProducer::stream`].
#[derive(Debug)]
#[must_use = "a stream is opened only when awaited"]
pub struct OpenStream {
    producer: DomainProducer,
    name: StreamName,
    schema: AvroSchema,
    partitions: i32,
}

impl OpenStream {
    /// Partitions of the topic if it has to be created. Default
    /// [`DEFAULT_PARTITIONS`]; an existing topic keeps its own.
    pub fn with_partitions(mut self, partitions: i32) -> Self {
        self.partitions = partitions;
        self
    }

    async fn open(self) -> Result<Publisher> {
        let topic = TopicName::new(&self.producer.inner.domain.name, &self.name);
        let subject = Subject::value(&topic);
        let schema_id = self
            .producer
            .inner
            .catalog
            .register_schema(&subject, &self.schema)
            .await?;
        self.producer.ensure_topic(&topic, self.partitions).await?;
        info!(%topic, schema_id, "stream open");
        Ok(Publisher::new(self.producer, topic, self.schema, schema_id))
    }
}

impl IntoFuture for OpenStream {
    type Output = Result<Publisher>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.open())
    }
}
