//! Delivery reports without a channel per event.
//!
//! rdkafka's `FutureProducer` gives every message a oneshot channel and a future. A batch of
//! the mesh's publisher is acknowledged as a whole, so one [`Acks`] tracks a whole slice: the
//! broker's report for each event fills its slot, and the last one wakes the sender once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryResult, ProducerContext, ThreadedProducer};
use tokio::sync::Notify;

/// The producer the kit sends with: a polling thread calls [`Reports::delivery`].
pub(crate) type Kafka = ThreadedProducer<Reports>;

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
#[derive(Debug)]
pub(crate) struct Acks {
    outcomes: Box<[OnceLock<Outcome>]>,
    remaining: AtomicUsize,
    done: Notify,
}

impl Acks {
    /// Tracks `events` events.
    pub(crate) fn new(events: usize) -> Arc<Self> {
        Arc::new(Self {
            outcomes: (0..events).map(|_| OnceLock::new()).collect(),
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
        if let Some(slot) = self.outcomes.get(index) {
            let _ = slot.set(outcome);
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
        self.outcomes
            .iter()
            .map(|slot| slot.get().cloned().unwrap_or(Err(KafkaError::Canceled)))
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
    async fn a_slice_acknowledged_before_the_wait_does_not_block() {
        let acks = Acks::new(1);
        acks.slot(0).acks.record(0, Err(KafkaError::Canceled));
        let outcomes: Vec<Outcome> = acks.outcomes().await.collect();
        assert!(matches!(outcomes.as_slice(), [Err(KafkaError::Canceled)]));
    }
}
