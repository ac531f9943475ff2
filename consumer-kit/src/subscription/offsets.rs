//! What a subscription commits, and when: the offsets its workers handled, committed on a
//! timer and synchronously before partitions are revoked, by the consumer's context.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::{ClientContext, Offset, Statistics, TopicPartitionList};
use tracing::{debug, warn};

use crate::metrics::ConsumerMetrics;

/// Offsets handled per partition: the next offset to read, as Kafka commits them.
pub(super) type Done = Arc<Mutex<HashMap<Partition, i64>>>;

/// A topic partition, as [`Handler::on_rebalance`](crate::Handler::on_rebalance) names it.
pub(super) type Partition = (String, i32);

/// Rebalances seen by the consumer's thread, for the handler: (assigned, revoked).
pub(super) type Rebalances = Arc<Mutex<Vec<(Vec<Partition>, Vec<Partition>)>>>;

/// Whether this member still owns a partition: set false the moment it is revoked, so its
/// worker stops before handling (and committing) events that are now another member's.
pub(super) type Live = Arc<AtomicBool>;
pub(super) type LiveMap = Arc<Mutex<HashMap<Partition, Live>>>;

/// Commits the handled offsets that moved since the last commit (`sent`). The handled map is
/// never drained here: the revocation callback commits from it synchronously, so an
/// asynchronous commit lost to a rebalance cannot send the partition's next owner back.
pub(super) fn commit<C: Consumer<MeshContext>>(
    kafka: &C,
    done: &Done,
    sent: &mut HashMap<Partition, i64>,
    mode: CommitMode,
) {
    let all = matches!(mode, CommitMode::Sync);
    let offsets: Vec<(Partition, i64)> = match done.lock() {
        Ok(d) => d
            .iter()
            .filter(|(k, next)| all || sent.get(*k) != Some(*next))
            .map(|(k, next)| (k.clone(), *next))
            .collect(),
        Err(_) => return,
    };
    if offsets.is_empty() {
        return;
    }
    let Ok(list) = offset_list(&offsets) else {
        return;
    };
    match kafka.commit(&list, mode) {
        Ok(()) => sent.extend(offsets),
        // Not lost: the offsets stay in the handled map and go with the next commit; at
        // worst the events are handled again (at-least-once).
        Err(e) => debug!(error = %e, "commit failed; will retry"),
    }
}

/// The offsets to commit, as rdkafka takes them: each partition's next offset to read.
pub(super) fn offset_list(
    offsets: &[(Partition, i64)],
) -> std::result::Result<TopicPartitionList, KafkaError> {
    let mut list = TopicPartitionList::new();
    for ((topic, partition), next) in offsets {
        list.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
    }
    Ok(list)
}

/// The consumer's context: commits handled offsets before partitions are revoked, records
/// rebalances for the handler, and reads the lag from librdkafka's statistics.
pub(crate) struct MeshContext {
    pub(super) done: Done,
    pub(super) rebalances: Rebalances,
    pub(super) live: LiveMap,
    metrics: ConsumerMetrics,
}

impl MeshContext {
    pub(super) fn new(metrics: ConsumerMetrics) -> Self {
        Self {
            done: Arc::default(),
            rebalances: Arc::default(),
            live: Arc::default(),
            metrics,
        }
    }
}

fn partitions(list: &TopicPartitionList) -> Vec<Partition> {
    list.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

impl ClientContext for MeshContext {
    fn stats(&self, statistics: Statistics) {
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    self.metrics.lag(topic, *partition, p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for MeshContext {
    fn pre_rebalance(
        &self,
        consumer: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &Rebalance<'_>,
    ) {
        if let Rebalance::Revoke(revoked) = rebalance {
            // Stop the workers of the partitions about to go, then commit what they handled,
            // so their next owner starts right after it.
            let revoked = partitions(revoked);
            if let Ok(mut live) = self.live.lock() {
                for partition in &revoked {
                    if let Some(flag) = live.remove(partition) {
                        flag.store(false, Ordering::SeqCst);
                    }
                }
            }
            let offsets: Vec<(Partition, i64)> = match self.done.lock() {
                Ok(mut d) => revoked
                    .iter()
                    .filter_map(|k| d.remove(k).map(|o| (k.clone(), o)))
                    .collect(),
                Err(_) => Vec::new(),
            };
            if !offsets.is_empty() {
                let committed =
                    offset_list(&offsets).and_then(|list| consumer.commit(&list, CommitMode::Sync));
                if let Err(e) = committed {
                    warn!(error = %e, "commit before revocation failed; events may be handled again");
                }
            }
            if let Ok(mut r) = self.rebalances.lock() {
                r.push((Vec::new(), revoked));
            }
        }
    }

    fn post_rebalance(
        &self,
        _consumer: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &Rebalance<'_>,
    ) {
        if let Rebalance::Assign(assigned) = rebalance
            && let Ok(mut r) = self.rebalances.lock()
        {
            r.push((partitions(assigned), Vec::new()));
        }
    }
}
