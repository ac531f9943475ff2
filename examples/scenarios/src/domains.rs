//! The scenarios' domains: their contracts (in `examples/scenarios/contracts/`, schemas in
//! `schemas/`, both built into the program) and the handles that connect them to a mesh.

use std::time::Duration;

use datamesh::catalog::Domain;
use datamesh::consumer_kit::{CancellationToken, DomainConsumer, Sink, SinkSummary};
use datamesh::mesh_core::{Contract, DomainName, Endpoints, ProductId};
use datamesh::producer_kit::DomainProducer;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// The scenarios' contracts, built into the program (a binary runs away from the checkout):
/// each domain's `contracts/<domain>.toml`.
const CONTRACTS: &[(&str, &str)] = &[
    ("analytics", include_str!("../contracts/analytics.toml")),
    ("detection", include_str!("../contracts/detection.toml")),
    ("flows", include_str!("../contracts/flows.toml")),
    (
        "interactions",
        include_str!("../contracts/interactions.toml"),
    ),
    ("podcasts", include_str!("../contracts/podcasts.toml")),
    ("sensors", include_str!("../contracts/sensors.toml")),
    ("songs", include_str!("../contracts/songs.toml")),
    (
        "threat-intel",
        include_str!("../contracts/threat-intel.toml"),
    ),
    ("users", include_str!("../contracts/users.toml")),
];

/// Every schema file the contracts name, under the path they name it by.
const SCHEMAS: &[(&str, &str)] = &[
    (
        "../../../schemas/analytics/PlaysPerMinute.avsc",
        include_str!("../../../schemas/analytics/PlaysPerMinute.avsc"),
    ),
    (
        "../../../schemas/detection/Alert.avsc",
        include_str!("../../../schemas/detection/Alert.avsc"),
    ),
    (
        "../../../schemas/flows/Flow.avsc",
        include_str!("../../../schemas/flows/Flow.avsc"),
    ),
    (
        "../../../schemas/interactions/Interaction.avsc",
        include_str!("../../../schemas/interactions/Interaction.avsc"),
    ),
    (
        "../../../schemas/podcasts/Podcast.avsc",
        include_str!("../../../schemas/podcasts/Podcast.avsc"),
    ),
    (
        "../../../schemas/sensors/Reading.avsc",
        include_str!("../../../schemas/sensors/Reading.avsc"),
    ),
    (
        "../../../schemas/songs/Song.avsc",
        include_str!("../../../schemas/songs/Song.avsc"),
    ),
    (
        "../../../schemas/threat-intel/Reputation.avsc",
        include_str!("../../../schemas/threat-intel/Reputation.avsc"),
    ),
    (
        "../../../schemas/users/User.avsc",
        include_str!("../../../schemas/users/User.avsc"),
    ),
];

/// A mesh the scenarios run on: its endpoints; the contracts of their domains are built in.
#[derive(Debug, Clone)]
pub struct Mesh {
    endpoints: Endpoints,
}

impl Mesh {
    /// The mesh at `endpoints`.
    pub fn new(endpoints: Endpoints) -> Self {
        Self { endpoints }
    }

    /// The endpoints.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// A catalog client with the configured token.
    pub fn catalog(&self) -> Result<datamesh::catalog::CatalogClient> {
        Ok(datamesh::catalog::CatalogClient::for_endpoints(
            &self.endpoints,
        )?)
    }

    /// A domain's contract, `contracts/<domain>.toml` as built in.
    pub fn contract(&self, domain: &str) -> Result<Contract> {
        let text = CONTRACTS
            .iter()
            .find(|(name, _)| *name == domain)
            .map(|(_, text)| *text)
            .ok_or_else(|| Error::UnknownDomain(domain.to_owned()))?;
        Ok(Contract::embedded(
            text,
            SCHEMAS,
            &format!("contracts/{domain}.toml (built in)"),
        )?)
    }

    /// Connects a producer domain: registers its contract in the catalog, creates its topics
    /// and tables.
    pub async fn producer(&self, domain: &str) -> Result<DomainProducer> {
        Ok(DomainProducer::connect(self.contract(domain)?, &self.endpoints).await?)
    }

    /// Connects a consumer domain, registering it in the catalog first (grants name it).
    pub async fn consumer(&self, domain: &str) -> Result<DomainConsumer> {
        let consumer = DomainConsumer::connect(DomainName::new(domain)?, &self.endpoints).await?;
        let registered = consumer.catalog().domain(consumer.domain()).await;
        match registered {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                consumer
                    .catalog()
                    .upsert_domain(&Domain {
                        name: consumer.domain().clone(),
                        owner: format!("team-{domain}@example.com"),
                        description: format!("The {domain} consumer domain of the scenarios"),
                    })
                    .await?;
            }
            Err(e) => return Err(e.into()),
        }
        Ok(consumer)
    }
}

/// The owner of `product` grants `consumer` read access to it (idempotent).
pub async fn grant(
    owner: &DomainProducer,
    product: &str,
    consumer: &DomainConsumer,
) -> Result<ProductId> {
    let id = ProductId::new(
        owner.domain(),
        &datamesh::mesh_core::ProductName::new(product)?,
    );
    owner.catalog().grant(&id, consumer.domain()).await?;
    Ok(id)
}

/// Runs a product's stream-to-table sink in the background until [`Running::stop`].
pub fn sink(sink: Sink) -> Running<SinkSummary> {
    let shutdown = CancellationToken::new();
    let run = sink.run(shutdown.clone());
    Running::spawn(shutdown, run)
}

/// A background task with its shutdown switch. If it ends by itself (with an error, or a
/// panic) the cause is kept, so whatever waits on its progress can say why at once.
#[derive(Debug)]
pub struct Running<T> {
    /// Cancels the task.
    pub shutdown: CancellationToken,
    task: JoinHandle<datamesh::consumer_kit::Result<T>>,
    failure: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl<T: Send + 'static> Running<T> {
    /// Spawns `work` with its shutdown switch.
    pub fn spawn(
        shutdown: CancellationToken,
        work: impl std::future::Future<Output = datamesh::consumer_kit::Result<T>> + Send + 'static,
    ) -> Self {
        use futures::FutureExt;
        let failure = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
        let record = std::sync::Arc::clone(&failure);
        let task = tokio::spawn(async move {
            let outcome = std::panic::AssertUnwindSafe(work).catch_unwind().await;
            let cause = match &outcome {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(panic) => Some(format!(
                    "it panicked: {}",
                    panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default()
                )),
            };
            if let Some(cause) = cause {
                *record
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(cause);
            }
            outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        Self {
            shutdown,
            task,
            failure,
        }
    }
}

impl<T> Running<T> {
    /// Whether the task ended (by itself: an error, as nothing else stops it).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Why the task ended by itself, if it did.
    pub fn failure(&self) -> Option<String> {
        if !self.task.is_finished() {
            return None;
        }
        Some(
            self.failure
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
                .unwrap_or_else(|| "it stopped without an error".to_owned()),
        )
    }

    /// Stops the task and waits for it to drain.
    pub async fn stop(self, name: &str) -> Result<T> {
        self.shutdown.cancel();
        match tokio::time::timeout(Duration::from_secs(60), self.task).await {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(e))) => Err(Error::Consumer(e)),
            Ok(Err(e)) => Err(Error::Task {
                task: name.to_owned(),
                reason: e.to_string(),
            }),
            Err(_) => Err(Error::Timeout {
                stage: format!("stopping {name}"),
                seconds: 60,
                progress: "still draining".into(),
            }),
        }
    }
}

/// Waits until `done()` is true, checking every 20 ms, for at most `limit`. Fails with what
/// `progress()` says if it is not, or as soon as one of `tasks` ended early.
pub async fn until(
    stage: &str,
    limit: Duration,
    tasks: &[&dyn Finished],
    mut done: impl FnMut() -> bool,
    progress: impl Fn() -> String,
) -> Result<()> {
    let started = std::time::Instant::now();
    while !done() {
        if let Some(cause) = tasks.iter().find_map(|t| t.failure()) {
            return Err(Error::Task {
                task: stage.to_owned(),
                reason: format!("a consumer stopped: {cause} ({})", progress()),
            });
        }
        if started.elapsed() > limit {
            return Err(Error::Timeout {
                stage: stage.to_owned(),
                seconds: limit.as_secs(),
                progress: progress(),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Something that may have ended.
pub trait Finished {
    /// Why it ended by itself, if it did.
    fn failure(&self) -> Option<String>;
}

impl<T> Finished for Running<T> {
    fn failure(&self) -> Option<String> {
        Running::failure(self)
    }
}

/// Set once a subscription has been assigned partitions: publishing before that would
/// measure the group's join (seconds) as event latency.
#[derive(Debug, Clone, Default)]
pub struct Joined(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Joined {
    /// Call from [`datamesh::consumer_kit::Handler::on_rebalance`].
    pub fn rebalanced(&self, assigned: &[(String, i32)]) {
        if !assigned.is_empty() {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Whether partitions were assigned.
    pub fn is_joined(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}
