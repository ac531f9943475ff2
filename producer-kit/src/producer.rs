//! The domain producer: one per domain and process. Connecting applies the domain's
//! contract to the mesh; the producer then owns the Kafka producer, the catalog client and the
//! product tables that its publishers and snapshots share.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use catalog::{CatalogClient, Domain};
use mesh_core::kafka::NewTopicSpec;
use mesh_core::{Contract, Endpoints, Pinned, ProductId, Subject, TopicName};
use serde::Serialize;
use tracing::{info, instrument};

use crate::delivery::{Kafka, Reports, Sender};
use crate::error::{Error, Result};
use crate::plan::refusals;
use crate::publisher::{DynPublisher, Publisher, StreamHandle};
use crate::records;
use crate::snapshot::{Rows, Snapshot};
use crate::tables::{Maintenance, ProductTables};

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

/// How many events may be handed to Kafka and not yet acknowledged, per domain producer.
/// Past it, `send` waits: memory stays bounded whatever the callers do.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 50_000;

/// A domain's handle on the mesh: publishes its streams and snapshots its products.
///
/// Cheap to clone; clones share the Kafka producer, the catalog client and the tables.
#[derive(Clone)]
pub struct DomainProducer {
    inner: Arc<Inner>,
}

struct Inner {
    contract: Contract,
    endpoints: Endpoints,
    catalog: CatalogClient,
    sender: Arc<Sender>,
    /// The stream handles publishers share, by stream name.
    streams: HashMap<String, StreamHandle>,
    tables: Arc<ProductTables>,
}

impl std::fmt::Debug for DomainProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DomainProducer")
            .field("domain", &self.inner.contract.domain)
            .field("endpoints", &self.inner.endpoints)
            .finish_non_exhaustive()
    }
}

/// Maps a catalog refusal of a schema to [`Error::Incompatible`].
fn schema_refusal(subject: &Subject, e: catalog::Error) -> Error {
    match e.error_code() {
        Some(409) => Error::Incompatible {
            subject: subject.clone(),
            reasons: vec![e.to_string()],
        },
        _ => Error::Catalog(e),
    }
}

impl DomainProducer {
    /// Applies `contract` to the mesh at `endpoints` and connects: checks every schema change
    /// against the catalog first (nothing changes if one is refused), then registers the
    /// domain, its products and schemas, creates missing topics with the declared partitions
    /// and missing product tables, and registers new table versions.
    #[instrument(skip_all, fields(domain = %contract.domain))]
    pub async fn connect(contract: Contract, endpoints: &Endpoints) -> Result<Self> {
        Self::connect_with(contract, endpoints, DEFAULT_MAX_IN_FLIGHT).await
    }

    /// Like [`DomainProducer::connect`], with a bound on unacknowledged events other than
    /// [`DEFAULT_MAX_IN_FLIGHT`].
    pub async fn connect_with(
        contract: Contract,
        endpoints: &Endpoints,
        max_in_flight: usize,
    ) -> Result<Self> {
        let catalog = CatalogClient::for_endpoints(endpoints)?;
        let domain = &contract.domain;

        // 1. Every schema against what the catalog holds, before changing anything.
        let mut refused = Vec::new();
        for (subject, schema) in records::subjects(&contract) {
            if let Some(reasons) = refusals(&catalog, &subject, schema).await? {
                refused.extend(reasons.into_iter().map(|r| format!("{subject}: {r}")));
            }
        }
        if !refused.is_empty() {
            return Err(Error::ContractRefused {
                domain: domain.clone(),
                reasons: refused,
            });
        }

        // 2. The domain, its products with their ports, then the schemas.
        catalog
            .upsert_domain(&Domain {
                name: domain.clone(),
                owner: contract.owner.clone(),
                description: contract.description.clone(),
            })
            .await?;
        for product in &contract.products {
            catalog
                .upsert_product(&records::describe(&contract, product, endpoints))
                .await?;
        }
        let mut table_schema_ids = HashMap::new();
        for product in &contract.products {
            let id = ProductId::new(domain, &product.name);
            let subject = Subject::table(&id);
            let schema_id = catalog
                .register_schema(&subject, &product.schema)
                .await
                .map_err(|e| schema_refusal(&subject, e))?;
            table_schema_ids.insert(product.name.to_string(), schema_id);
        }
        let mut stream_schema_ids = Vec::with_capacity(contract.streams.len());
        for stream in &contract.streams {
            let subject = Subject::value(&TopicName::new(domain, &stream.name));
            let schema_id = catalog
                .register_schema(&subject, &stream.schema)
                .await
                .map_err(|e| schema_refusal(&subject, e))?;
            stream_schema_ids.push(schema_id);
        }

        // 3. Kafka.
        let client_id = format!("mesh-producer-{domain}");
        let settings = mesh_core::kafka::client_config(
            &endpoints.kafka,
            &[
                ("client.id", &client_id),
                ("linger.ms", "5"),
                ("message.timeout.ms", mesh_core::config::DELIVERY_TIMEOUT_MS),
                ("compression.type", "lz4"),
            ],
            PINNED,
        )?;
        let kafka: Kafka =
            settings
                .create_with_context(Reports)
                .map_err(|source| Error::Kafka {
                    operation: "create the producer",
                    topic: "*".into(),
                    source,
                })?;
        let sender = Arc::new(Sender::new(kafka, domain.clone(), max_in_flight));
        let mut streams = HashMap::new();
        for (stream, schema_id) in contract.streams.iter().zip(stream_schema_ids) {
            let topic = TopicName::new(domain, &stream.name);
            let spec = NewTopicSpec {
                topic: &topic,
                partitions: stream.partitions,
                retention: stream.retention,
            };
            mesh_core::kafka::ensure_topic(&endpoints.kafka, spec)
                .await
                .map_err(|source| Error::TopicCreation {
                    topic: topic.clone(),
                    source: Box::new(source),
                })?;
            streams.insert(
                stream.name.to_string(),
                StreamHandle::new(
                    Arc::clone(&sender),
                    topic,
                    stream.key.clone(),
                    stream.schema.clone(),
                    schema_id,
                ),
            );
        }

        // 4. The product tables.
        let tables = ProductTables::new(
            domain.clone(),
            endpoints.clone(),
            catalog.clone(),
            &contract.products,
            table_schema_ids,
        );
        for product in &contract.products {
            tables.ensure(product).await?;
        }

        let producer = Self {
            inner: Arc::new(Inner {
                endpoints: endpoints.clone(),
                catalog,
                sender,
                streams,
                tables: Arc::new(tables),
                contract,
            }),
        };
        info!(bootstrap = %endpoints.kafka.bootstrap_servers, "domain producer connected");
        Ok(producer)
    }

    /// The contract this producer applied.
    pub fn contract(&self) -> &Contract {
        &self.inner.contract
    }

    /// The domain this producer publishes for.
    pub fn domain(&self) -> &mesh_core::DomainName {
        &self.inner.contract.domain
    }

    /// The catalog client.
    pub fn catalog(&self) -> &CatalogClient {
        &self.inner.catalog
    }

    /// The endpoints this producer connected to.
    pub fn endpoints(&self) -> &Endpoints {
        &self.inner.endpoints
    }

    fn stream_handle(&self, stream: &str) -> Result<StreamHandle> {
        self.inner
            .streams
            .get(stream)
            .cloned()
            .ok_or_else(|| Error::UnknownStream {
                domain: self.domain().clone(),
                stream: stream.to_owned(),
            })
    }

    /// A publisher of serde values to the contract's stream `stream`; each value is checked
    /// against the stream's schema as it is encoded.
    pub fn publisher<T: Serialize>(&self, stream: &str) -> Result<Publisher<T>> {
        Ok(Publisher::new(self.stream_handle(stream)?))
    }

    /// A publisher of Avro values to the contract's stream `stream`.
    pub fn dyn_publisher(&self, stream: &str) -> Result<DynPublisher> {
        Ok(DynPublisher::new(self.stream_handle(stream)?))
    }

    /// A snapshot of the contract's product `product` holding `rows`; it is written in the
    /// product's write mode and registered when awaited. See [`Snapshot`].
    pub fn snapshot(&self, product: &str, rows: impl Into<Rows>) -> Snapshot {
        Snapshot::new(
            Arc::clone(&self.inner.tables),
            product.to_owned(),
            rows.into(),
        )
    }

    /// Serde rows for a snapshot of `product`, checked against its row schema.
    pub fn rows<T: Serialize>(&self, product: &str, rows: &[T]) -> Result<Rows> {
        Rows::from_serde(&self.inner.tables.spec(product)?.schema, rows)
    }

    /// Compacts the product table's small files, then deletes files no version newer than
    /// `retention` needs. Safe next to writers: compaction commits like any writer (appends
    /// in between are kept), and vacuum only deletes files older than `retention` that no
    /// current version references.
    pub async fn maintain(&self, product: &str, retention: Duration) -> Result<Maintenance> {
        self.inner.tables.maintain(product, retention).await
    }

    /// Waits for the work the producer does in the background (compaction of appended
    /// products' tables), then for Kafka to acknowledge every event handed to it, within
    /// `timeout` in all. Call it before the process exits: a compaction cut short commits
    /// nothing, and an event not acknowledged may be lost.
    pub async fn close(&self, timeout: Duration) -> Result<()> {
        let started = std::time::Instant::now();
        if tokio::time::timeout(timeout, self.inner.tables.drain())
            .await
            .is_err()
        {
            tracing::warn!(
                "background compaction still running at shutdown; it commits nothing if cut short"
            );
        }
        let left = timeout.saturating_sub(started.elapsed());
        let producer = self.clone();
        mesh_core::kafka::blocking(move || producer.flush(left))
            .await
            .ok_or(Error::Closed)?
    }

    /// Waits until every event handed to Kafka is acknowledged, or `timeout` passes; blocks
    /// the thread (from async code, [`DomainProducer::close`] waits without blocking and
    /// also waits for background work).
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.inner
            .sender
            .flush(timeout)
            .map_err(|source| Error::Kafka {
                operation: "flush",
                topic: "*".into(),
                source,
            })
    }
}
