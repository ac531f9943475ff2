//! The managed loop of a subscription and its partition workers.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mesh_core::apache_avro::types::Value;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::{Message, OwnedMessage};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::offsets::{Done, Live, MeshContext, Partition, commit};
use super::{RunSummary, Subscribe, event, position};
use crate::decoder::Decoder;
use crate::dlq::DeadLetters;
use crate::error::{Error, Result};
use crate::handler::{FromAvro, Handler, Position};
use crate::metrics::ConsumerMetrics;

/// How long events in flight may take to finish once shutdown begins; past it their workers
/// are stopped, and the events, not committed, are read again after a restart.
const DRAIN_GRACE: Duration = Duration::from_secs(30);

/// The managed loop of [`Subscribe::run`]: one worker per partition, fed through a bounded
/// queue, at most `concurrency` handling at once; handled offsets committed on a timer;
/// then the drain.
pub(super) async fn run<H: Handler>(
    subscribe: Subscribe,
    handler: H,
    shutdown: CancellationToken,
) -> Result<RunSummary> {
    let metrics = subscribe.context.metrics.clone();
    let context = MeshContext::new(metrics.clone());
    let done = Arc::clone(&context.done);
    let rebalances = Arc::clone(&context.rebalances);
    let live = Arc::clone(&context.live);
    let kafka = subscribe.consumer(context)?;
    let dead_letters = if subscribe.dead_letters {
        let dead_letters = DeadLetters::open(&subscribe.context).await?;
        Some(dead_letters.with_shutdown(shutdown.clone()))
    } else {
        None
    };
    let shared = Arc::new(Shared {
        handler,
        decoder: subscribe.decoder(),
        dead_letters,
        done: Arc::clone(&done),
        permits: Semaphore::new(subscribe.concurrency),
        retries: subscribe.retries,
        backoff: subscribe.backoff,
        shutdown: shutdown.clone(),
        metrics,
    });
    info!(group = %subscribe.group(), topics = ?subscribe.topics, "subscription running");

    let mut queues: HashMap<Partition, (mpsc::Sender<OwnedMessage>, Live)> = HashMap::new();
    let mut workers: JoinSet<Result<()>> = JoinSet::new();
    let mut commit_tick = tokio::time::interval(subscribe.commit_interval);
    let mut sent = HashMap::new();
    let mut failure = None;
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            Some(finished) = workers.join_next(), if !workers.is_empty() => {
                if let Err(e) = finished.unwrap_or_else(|e| Err(Error::Worker(e.to_string()))) {
                    failure = Some(e);
                    break;
                }
            }
            _ = commit_tick.tick() => {
                commit(&kafka, &done, &mut sent, CommitMode::Async);
                let changes: Vec<_> = rebalances.lock().map(|mut r| std::mem::take(&mut *r)).unwrap_or_default();
                for (assigned, revoked) in changes {
                    for partition in &revoked {
                        queues.remove(partition);
                        sent.remove(partition);
                    }
                    shared.handler.on_rebalance(&assigned, &revoked);
                }
            }
            received = kafka.recv() => {
                let message = match received {
                    Ok(m) => m.detach(),
                    Err(e) => {
                        warn!(error = %e, "kafka receive failed; continuing");
                        continue;
                    }
                };
                let key = (message.topic().to_owned(), message.partition());
                // A partition revoked and assigned again gets a fresh worker.
                if queues.get(&key).is_some_and(|(_, flag)| !flag.load(Ordering::SeqCst)) {
                    queues.remove(&key);
                }
                let (queue, _) = queues.entry(key.clone()).or_insert_with(|| {
                    let flag: Live = Arc::new(AtomicBool::new(true));
                    if let Ok(mut l) = live.lock() {
                        l.insert(key, Arc::clone(&flag));
                    }
                    // Bounded: a slow partition holds up the receive loop rather than
                    // buffering without end.
                    let (tx, rx) = mpsc::channel(1024);
                    workers.spawn(Arc::clone(&shared).work(rx, Arc::clone(&flag)));
                    (tx, flag)
                });
                // A full queue (a slow or stuck partition) must not keep shutdown waiting.
                tokio::select! {
                    sent = queue.send(message) => if sent.is_err() {
                        // The worker ended (its partition failed); the error surfaces above.
                        continue;
                    },
                    () = shutdown.cancelled() => break,
                }
            }
        }
    }
    // Drain: no new event starts; those in flight finish (within DRAIN_GRACE); then a
    // last commit of what was handled.
    drop(queues);
    shutdown.cancel();
    let draining = async {
        while let Some(finished) = workers.join_next().await {
            match finished.unwrap_or_else(|e| Err(Error::Worker(e.to_string()))) {
                // Cut short by shutdown: not handled, read again after a restart.
                Ok(()) | Err(Error::Interrupted) => {}
                Err(e) if failure.is_none() => failure = Some(e),
                Err(_) => {}
            }
        }
    };
    if tokio::time::timeout(DRAIN_GRACE, draining).await.is_err() {
        warn!(
            workers = workers.len(),
            "events in flight did not finish within the drain grace; they are read again after a restart"
        );
        workers.abort_all();
    }
    commit(&kafka, &done, &mut sent, CommitMode::Sync);
    kafka.unsubscribe();
    let summary = shared.metrics.summary();
    info!(
        handled = summary.handled,
        dead_lettered = summary.dead_lettered,
        "subscription stopped"
    );
    match failure {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

struct Shared<H: Handler> {
    handler: H,
    decoder: Decoder,
    /// `None` for a subscription that only reads: what would go there is skipped.
    dead_letters: Option<DeadLetters>,
    done: Done,
    permits: Semaphore,
    retries: u32,
    backoff: Duration,
    shutdown: CancellationToken,
    metrics: ConsumerMetrics,
}

impl<H: Handler> Shared<H> {
    /// Handles one partition's events in order.
    async fn work(
        self: Arc<Self>,
        mut queue: mpsc::Receiver<OwnedMessage>,
        live: Live,
    ) -> Result<()> {
        while let Some(message) = queue.recv().await {
            // Shut down, or the partition went to another member: what is queued is left
            // for whoever owns it next.
            if self.shutdown.is_cancelled() || !live.load(Ordering::SeqCst) {
                break;
            }
            let permit = tokio::select! {
                permit = self.permits.acquire() => permit,
                () = self.shutdown.cancelled() => break,
            };
            let Ok(_permit) = permit else {
                break;
            };
            // Waiting for a handling slot may have outlasted the subscription or the
            // partition: check again before starting.
            if self.shutdown.is_cancelled() || !live.load(Ordering::SeqCst) {
                break;
            }
            let at = position(&message);
            self.process(&message, &at).await?;
            // An event finished after its partition was revoked is not committed: the new
            // owner's commits must not be overwritten with older ones. The flag is read
            // under the lock, which revocation takes after clearing it, so the two cannot
            // interleave.
            if let Ok(mut done) = self.done.lock()
                && live.load(Ordering::SeqCst)
            {
                done.insert((at.topic.clone(), at.partition), at.offset + 1);
            }
        }
        Ok(())
    }

    async fn decode(
        &self,
        message: &OwnedMessage,
        at: &Position,
    ) -> std::result::Result<(mesh_core::SchemaId, Value), crate::decoder::DecodeError> {
        let payload = message.payload().unwrap_or_default();
        let mut wait = self.backoff;
        loop {
            match self.decoder.decode(payload).await {
                // A registry outage is not the event's fault: wait for the registry rather
                // than dead-lettering good events.
                Err(e) if e.is_retriable() && !self.shutdown.is_cancelled() => {
                    warn!(%at, error = %e, "registry unavailable; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(10));
                }
                other => return other,
            }
        }
    }

    async fn process(&self, message: &OwnedMessage, at: &Position) -> Result<()> {
        self.metrics.consumed();
        let (schema_id, value) = match self.decode(message, at).await {
            Ok(decoded) => decoded,
            Err(e) => {
                self.handler.on_decode_error(at, &e);
                self.metrics.decode_error();
                return self
                    .dead_letter(message, at, &e.to_string(), e.cause())
                    .await;
            }
        };
        let mut wait = self.backoff;
        let mut attempt = 0;
        let mut value = Some(value);
        loop {
            // The first attempt takes the decoded value; retries decode again (rare).
            let decoded = match value.take() {
                Some(v) => v,
                None => self
                    .decode(message, at)
                    .await
                    .map(|(_, v)| v)
                    .map_err(|e| Error::Worker(e.to_string()))?,
            };
            let typed = match H::Value::from_avro(decoded) {
                Ok(t) => t,
                Err(reason) => {
                    return self
                        .dead_letter(
                            message,
                            at,
                            &format!("the event does not fit the handler's type: {reason}"),
                            "type-mismatch",
                        )
                        .await;
                }
            };
            let started = Instant::now();
            let outcome = self.handler.handle(event(message, schema_id, typed)).await;
            self.metrics.handled_in(started.elapsed());
            match outcome {
                Ok(()) => {
                    self.metrics.handled();
                    return Ok(());
                }
                Err(e)
                    if e.is_retriable()
                        && attempt < self.retries
                        && !self.shutdown.is_cancelled() =>
                {
                    attempt += 1;
                    debug!(%at, attempt, error = %e, "handler failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Err(e) => {
                    let reason = if e.is_retriable() {
                        format!("the handler failed {} times: {e}", attempt + 1)
                    } else {
                        format!("the handler refused the event: {e}")
                    };
                    return self
                        .dead_letter(message, at, &reason, "handler-failed")
                        .await;
                }
            }
        }
    }

    async fn dead_letter(
        &self,
        message: &OwnedMessage,
        at: &Position,
        reason: &str,
        cause: &str,
    ) -> Result<()> {
        let Some(dead_letters) = &self.dead_letters else {
            self.metrics.skipped();
            self.handler.on_skipped(at, reason);
            warn!(%at, cause, reason, "event skipped (the subscription writes no dead letters)");
            return Ok(());
        };
        dead_letters.send(message, reason, cause).await?;
        self.metrics.dead_lettered();
        self.handler.on_dead_letter(at, reason);
        warn!(%at, cause, reason, "event sent to the dead-letter topic");
        Ok(())
    }
}
