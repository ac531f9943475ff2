//! Delivery reports without a channel per event.
//!
//! rdkafka's `FutureProducer` gives every message a oneshot channel and a future. A batch of
//! the mesh's publisher is acknowledged as a whole, so one [`Acks`] tracks a whole slice: the
//! broker's report for each event fills its slot, and the last one wakes the sender once.

use std::sync::atomic::{AtomicI32, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use std::time::{Duration, Instant};

use mesh_core::DomainName;
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{Message, ToBytes};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// The producer the kit sends with: a polling thread calls [`Reports::delivery`].
pub(crate) type Kafka = ThreadedProducer<Reports>;

/// How long a send waits for room in librdkafka's own bounded queue before giving up.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a producer going away waits for Kafka to acknowledge what it still holds.
const DROP_FLUSH: Duration = Duration::from_secs(5);

/// The domain's Kafka producer and its bound on unacknowledged events: what every publisher
/// of the domain sends through.
pub(crate) struct Sender {
    kafka: Kafka,
    domain: DomainName,
    in_flight: Arc<Semaphore>,
    /// The bound the semaphore was made with.
    max_in_flight: usize,
}

impl Sender {
    pub(crate) fn new(kafka: Kafka, domain: DomainName, max_in_flight: usize) -> Self {
        let max_in_flight = max_in_flight.max(1);
        Self {
            kafka,
            domain,
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
        }
    }

    /// The domain the events are published for.
    pub(crate) fn domain(&self) -> &str {
        self.domain.as_str()
    }

    /// How many events may wait for acknowledgement at once.
    pub(crate) fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// Waits until `events` more may wait for acknowledgement; `None` once closed.
    pub(crate) async fn room_for(&self, events: usize) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.in_flight)
            .acquire_many_owned(u32::try_from(events).unwrap_or(u32::MAX))
            .await
            .ok()
    }

    /// Hands `record` to librdkafka (which copies it); the broker's report goes to its slot.
    /// The in-flight bound keeps librdkafka's queue from filling; if its byte bound is
    /// reached anyway, this waits for room, up to [`QUEUE_TIMEOUT`].
    pub(crate) async fn enqueue<K, P>(
        &self,
        mut record: BaseRecord<'_, K, P, Box<Slot>>,
    ) -> Result<(), KafkaError>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        let started = Instant::now();
        loop {
            match self.kafka.send(record) {
                Ok(()) => return Ok(()),
                Err((e, back))
                    if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull)
                        && started.elapsed() < QUEUE_TIMEOUT =>
                {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err((source, _)) => return Err(source),
            }
        }
    }

    /// Waits until Kafka acknowledged every event handed to it, or `timeout` passes; blocks.
    pub(crate) fn flush(&self, timeout: Duration) -> KafkaResult<()> {
        self.kafka.flush(timeout)
    }
}

impl Drop for Sender {
    /// The last publisher of a producer going away flushes what Kafka still holds, so a
    /// process that forgets `close` loses nothing it was told was sent... within a bound.
    fn drop(&mut self) {
        if let Err(e) = self.kafka.flush(DROP_FLUSH) {
            tracing::warn!(error = %e, "events may be lost: Kafka did not acknowledge them within 5 s of shutdown");
        }
    }
}

/// Where one event was stored, or why not.
pub(crate) type Outcome = Result<(i32, i64), KafkaError>;

/// The producer's context: routes each delivery report to its slot.
#[derive(Debug, Default)]
pub(crate) struct Reports;

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = Box<Slot>;

    fn delivery(&self, result: &DeliveryResult<'_>, slot: Box<Slot>) {
        let outcome = match result {
            Ok(message) => Ok((message.partition(), message.offset())),
            Err((error, _)) => Err(error.clone()),
        };
        slot.acks.record(slot.index, outcome);
    }
}

/// One event's place in its slice.
#[derive(Debug)]
pub(crate) struct Slot {
    acks: Arc<Acks>,
    index: usize,
}

/// The delivery reports of a slice of events, in the order they were sent.
///
/// Where each event was stored takes 12 bytes per event, written once by the reporting
/// thread; failures, rare, go to a list. The last report's release and the sender's acquire
/// of `remaining` order every write before the read.
#[derive(Debug)]
pub(crate) struct Acks {
    partitions: Box<[AtomicI32]>,
    offsets: Box<[AtomicI64]>,
    failures: Mutex<Vec<(usize, KafkaError)>>,
    remaining: AtomicUsize,
    done: Notify,
}

impl Acks {
    /// Tracks `events` events.
    pub(crate) fn new(events: usize) -> Arc<Self> {
        Arc::new(Self {
            partitions: (0..events).map(|_| AtomicI32::new(-1)).collect(),
            offsets: (0..events).map(|_| AtomicI64::new(-1)).collect(),
            failures: Mutex::default(),
            remaining: AtomicUsize::new(events),
            done: Notify::new(),
        })
    }

    /// The opaque to send event `index` with.
    pub(crate) fn slot(self: &Arc<Self>, index: usize) -> Box<Slot> {
        Box::new(Slot {
            acks: Arc::clone(self),
            index,
        })
    }

    fn record(&self, index: usize, outcome: Outcome) {
        match outcome {
            Ok((partition, offset)) => {
                if let (Some(p), Some(o)) = (self.partitions.get(index), self.offsets.get(index)) {
                    p.store(partition, Ordering::Relaxed);
                    o.store(offset, Ordering::Relaxed);
                }
            }
            Err(error) => self
                .failures
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((index, error)),
        }
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Stores a permit if the sender is not waiting yet.
            self.done.notify_one();
        }
    }

    /// Waits until every event has its report, then gives them in order.
    pub(crate) async fn outcomes(&self) -> impl Iterator<Item = Outcome> + '_ {
        if self.remaining.load(Ordering::Acquire) > 0 {
            self.done.notified().await;
        }
        // Pairs with the last report's release even when the wait above took a stored permit.
        let _ = self.remaining.load(Ordering::Acquire);
        let mut failures =
            std::mem::take(&mut *self.failures.lock().unwrap_or_else(PoisonError::into_inner));
        failures.sort_unstable_by_key(|(index, _)| *index);
        let mut failures = failures.into_iter().peekable();
        self.partitions
            .iter()
            .zip(self.offsets.iter())
            .enumerate()
            .map(move |(index, (partition, offset))| {
                if let Some((_, error)) = failures.next_if(|(i, _)| *i == index) {
                    return Err(error);
                }
                match (
                    partition.load(Ordering::Relaxed),
                    offset.load(Ordering::Relaxed),
                ) {
                    (-1, _) => Err(KafkaError::Canceled),
                    stored => Ok(stored),
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_arrive_in_any_order_and_come_back_in_send_order() {
        let acks = Acks::new(3);
        let waiter = {
            let acks = Arc::clone(&acks);
            tokio::spawn(async move { acks.outcomes().await.collect::<Vec<_>>() })
        };
        for (index, offset) in [(2, 12), (0, 10), (1, 11)] {
            let slot = acks.slot(index);
            slot.acks.record(slot.index, Ok((0, offset)));
        }
        let outcomes = waiter.await.unwrap_or_default();
        let offsets: Vec<i64> = outcomes.into_iter().flatten().map(|(_, o)| o).collect();
        assert_eq!(offsets, vec![10, 11, 12]);
    }

    #[tokio::test]
    async fn failures_keep_their_place() {
        let acks = Acks::new(4);
        for (index, outcome) in [
            (3, Err(KafkaError::Canceled)),
            (0, Ok((1, 5))),
            (2, Ok((0, 9))),
            (1, Err(KafkaError::NoMessageReceived)),
        ] {
            acks.record(index, outcome);
        }
        let outcomes: Vec<Outcome> = acks.outcomes().await.collect();
        assert!(matches!(
            outcomes.as_slice(),
            [
                Ok((1, 5)),
                Err(KafkaError::NoMessageReceived),
                Ok((0, 9)),
                Err(KafkaError::Canceled)
            ]
        ));
    }

    #[tokio::test]
    async fn a_slice_acknowledged_before_the_wait_does_not_block() {
        let acks = Acks::new(1);
        acks.slot(0).acks.record(0, Err(KafkaError::Canceled));
        let outcomes: Vec<Outcome> = acks.outcomes().await.collect();
        assert!(matches!(outcomes.as_slice(), [Err(KafkaError::Canceled)]));
    }
}
