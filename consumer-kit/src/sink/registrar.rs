//! The sink's background registrar: tells the catalog about the sink's versions and the
//! stream's heads while the sink goes on committing.

use std::sync::Arc;
use std::time::Duration;

use catalog::{CatalogClient, StreamHead, TableVersion};
use mesh_core::{ProductId, TopicName};
use rdkafka::consumer::{BaseConsumer, Consumer};
use tracing::warn;

/// Tells the catalog about the sink's versions and, every [`HEADS_EVERY`], the stream's
/// heads, in the background: the sink keeps committing while the catalog is away, and the
/// newest version (which holds every offset so far) is registered when it returns. Versions
/// committed meanwhile and superseded are not registered one by one.
pub(super) struct Registrar {
    versions: tokio::sync::watch::Sender<Option<TableVersion>>,
    task: tokio::task::JoinHandle<()>,
}

/// How long a stopping sink waits for the catalog to take its last version.
const LAST_REGISTRATION: Duration = Duration::from_secs(15);

/// How long a stopping sink waits to read the stream's heads a last time.
const FINAL_HEADS: Duration = Duration::from_secs(5);

/// How often the stream's heads are reported.
const HEADS_EVERY: Duration = Duration::from_secs(5);

impl Registrar {
    /// Starts the registrar. `kafka` reads the stream's heads: a client of its own, not the
    /// sink's consumer, because a watermark query waits behind the consumer's fetch on the
    /// same connection; a broker slow to answer fetches (tansu after a restart holds them for
    /// seconds) then times the query out, librdkafka drops the connection with the fetch in
    /// it, and the sink never reads on.
    pub(super) fn start(
        catalog: CatalogClient,
        product: ProductId,
        topic: TopicName,
        kafka: BaseConsumer,
        partitions: Vec<i32>,
    ) -> Self {
        let kafka = Arc::new(kafka);
        let (versions, mut version_rx) = tokio::sync::watch::channel(None::<TableVersion>);
        let task = tokio::spawn(async move {
            let read_heads = || {
                let (kafka, topic, partitions) =
                    (Arc::clone(&kafka), topic.clone(), partitions.clone());
                mesh_core::kafka::blocking(move || heads(&kafka, &topic, &partitions))
            };
            let mut heads_tick = tokio::time::interval(HEADS_EVERY);
            heads_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut backoff = Duration::from_millis(500);
            let mut version_due = false;
            let mut pending_heads: Option<Vec<StreamHead>> = None;
            loop {
                if !version_due && pending_heads.is_none() {
                    tokio::select! {
                        changed = version_rx.changed() => match changed {
                            Ok(()) => version_due = true,
                            Err(_) => break,
                        },
                        _ = heads_tick.tick() => pending_heads = read_heads().await,
                    }
                }
                let mut failed = false;
                if version_due {
                    let record = version_rx.borrow_and_update().clone();
                    match record {
                        Some(record) => {
                            match catalog.register_table_version(&product, &record).await {
                                Ok(_) => version_due = false,
                                Err(e) => {
                                    warn!(%product, version = record.version, error = %e,
                                    "catalog not told about the version yet; the sink carries on and tries again");
                                    failed = true;
                                }
                            }
                        }
                        None => version_due = false,
                    }
                }
                if let Some(heads) = &pending_heads {
                    match catalog.report_heads(&topic, heads).await {
                        Ok(()) => pending_heads = None,
                        Err(e) => {
                            warn!(%topic, error = %e, "stream heads not reported yet");
                            failed = true;
                        }
                    }
                }
                if failed {
                    // Newer values may arrive meanwhile; the newest is what gets sent.
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                } else {
                    backoff = Duration::from_millis(500);
                }
            }
            // Stopping: one last try for the newest version, then the heads as they are now
            // (within a bound: a struggling broker must not cost the version its turn).
            let last = version_rx.borrow().clone();
            if version_due && let Some(record) = last {
                let _ = catalog.register_table_version(&product, &record).await;
            }
            if let Ok(Some(heads)) = tokio::time::timeout(FINAL_HEADS, read_heads()).await {
                let _ = catalog.report_heads(&topic, &heads).await;
            }
        });
        Self { versions, task }
    }

    pub(super) fn version(&self, record: TableVersion) {
        self.versions.send_replace(Some(record));
    }

    /// Stops, giving the catalog [`LAST_REGISTRATION`] to take the last version.
    pub(super) async fn finish(self) {
        let Self { versions, task } = self;
        drop(versions);
        let abort = task.abort_handle();
        if tokio::time::timeout(LAST_REGISTRATION, task).await.is_err() {
            abort.abort();
            warn!(
                "the catalog did not take the sink's last version before it stopped; the next run registers it"
            );
        }
    }
}

/// The stream's heads, for the catalog to compute the table's lag; a blocking call.
fn heads(kafka: &BaseConsumer, topic: &TopicName, partitions: &[i32]) -> Vec<StreamHead> {
    partitions
        .iter()
        .filter_map(|p| {
            kafka
                .fetch_watermarks(topic.as_str(), *p, Duration::from_secs(2))
                .ok()
                .map(|(_, high)| StreamHead {
                    partition: *p,
                    offset: high,
                })
        })
        .collect()
}
