//! The dead-letter topic `<consumer-domain>.dlq`: messages a consumer could not handle,
//! kept whole with where they came from and why.

use std::time::Duration;

use mesh_core::kafka::NewTopicSpec;
use mesh_core::wire::headers;
use mesh_core::{Pinned, TopicName};
use rdkafka::ClientConfig;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::context::Context;
use crate::error::{Error, Result};

const PINNED: &[Pinned] = &[
    Pinned {
        key: "enable.idempotence",
        allowed: &["true"],
        reason: "a dead letter must not be written twice",
    },
    Pinned {
        key: "acks",
        allowed: &["all", "-1"],
        reason: "a dead letter counts as kept only when every in-sync replica has it",
    },
];

/// The dead-letter topic of a consumer domain. The topic is created on the first dead
/// letter: consumers that never set anything aside never create one.
pub(crate) struct DeadLetters {
    topic: TopicName,
    // Replaced when librdkafka declares it unusable (a fatal error of the idempotent
    // producer, e.g. a restarted broker that forgot its producer id while a batch was in
    // flight). Held only to clone it.
    kafka: std::sync::Mutex<FutureProducer>,
    endpoints: mesh_core::Endpoints,
    config: ClientConfig,
    /// Whether the topic is known to exist; cleared when a write fails (a restarted broker
    /// may have lost it), so the next write makes sure again.
    created: std::sync::atomic::AtomicBool,
    /// Once cancelled, a write still waiting for the broker gets [`SHUTDOWN_GRACE`], then
    /// gives up: the event is not marked handled and is read again after a restart.
    shutdown: Option<tokio_util::sync::CancellationToken>,
}

/// How many times a dead letter is written before the consumer gives up on it (each attempt
/// waits up to the delivery timeout).
const WRITE_ATTEMPTS: u32 = 5;

/// How long a dead-letter write may still wait for the broker once shutdown began.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

impl DeadLetters {
    /// Connects a producer for the dead-letter topic.
    pub(crate) async fn open(context: &Context) -> Result<Self> {
        let endpoints = &context.endpoints;
        let topic = context.dead_letter_topic();
        let config = mesh_core::kafka::client_config(
            &endpoints.kafka,
            &[
                ("client.id", "mesh-dlq"),
                ("message.timeout.ms", mesh_core::config::DELIVERY_TIMEOUT_MS),
            ],
            PINNED,
        )?;
        let kafka: FutureProducer = config.create().map_err(|source| Error::Kafka {
            operation: "create the dead-letter producer",
            source,
        })?;
        Ok(Self {
            topic,
            kafka: std::sync::Mutex::new(kafka),
            endpoints: endpoints.clone(),
            config,
            created: std::sync::atomic::AtomicBool::new(false),
            shutdown: None,
        })
    }

    /// The same dead-letter writer, giving up a write `SHUTDOWN_GRACE` after `shutdown`.
    pub(crate) fn with_shutdown(mut self, shutdown: tokio_util::sync::CancellationToken) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    fn producer(&self) -> FutureProducer {
        self.kafka
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Starts over after a failed write: a new producer (librdkafka's idempotent producer
    /// keeps its producer id across a delivery timeout, and a broker that lost it, restarted,
    /// keeps refusing it; a fatal error makes it unusable anyway) and a new check that the
    /// topic exists.
    fn renew(&self) {
        self.created
            .store(false, std::sync::atomic::Ordering::Release);
        match self.config.create::<FutureProducer>() {
            Ok(fresh) => {
                *self
                    .kafka
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
            }
            Err(e) => tracing::warn!(error = %e, "cannot start a new dead-letter producer"),
        }
    }

    /// Creates the topic if it does not exist (once per consumer, and again after a failed
    /// write).
    async fn ensure_topic(&self) -> Result<()> {
        use std::sync::atomic::Ordering;
        if self.created.load(Ordering::Acquire) {
            return Ok(());
        }
        self.create_topic().await?;
        self.created.store(true, Ordering::Release);
        Ok(())
    }

    async fn create_topic(&self) -> Result<()> {
        let spec = NewTopicSpec {
            topic: &self.topic,
            partitions: 1,
            retention: None,
        };
        mesh_core::kafka::ensure_topic(&self.endpoints.kafka, spec)
            .await
            .map_err(|source| Error::DeadLetter {
                topic: self.topic.clone(),
                source: Box::new(source),
            })
    }

    /// [`DeadLetters::ensure_topic`]; a failure once shutdown began (a broker still away) is
    /// [`Error::Interrupted`]: the event is not marked handled and is read again after a
    /// restart, rather than failing the consumer on its way out.
    async fn ensure_topic_or_stop(&self) -> Result<()> {
        match self.ensure_topic().await {
            Err(_) if self.shutdown.as_ref().is_some_and(|s| s.is_cancelled()) => {
                Err(Error::Interrupted)
            }
            other => other,
        }
    }

    /// Keeps `message` in the dead-letter topic; resolves when the broker has it.
    pub(crate) async fn send(
        &self,
        message: &OwnedMessage,
        reason: &str,
        cause: &str,
    ) -> Result<()> {
        self.ensure_topic_or_stop().await?;
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let mut headers = OwnedHeaders::new_with_capacity(8)
            .insert(Header {
                key: headers::DLQ_SOURCE_TOPIC,
                value: Some(message.topic()),
            })
            .insert(Header {
                key: headers::DLQ_SOURCE_PARTITION,
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: headers::DLQ_SOURCE_OFFSET,
                value: Some(offset.as_str()),
            })
            .insert(Header {
                key: headers::DLQ_CAUSE,
                value: Some(cause),
            })
            .insert(Header {
                key: headers::DLQ_ERROR,
                value: Some(reason),
            });
        // The original headers travel along, so the event id and producer stay known.
        if let Some(original) = message.headers() {
            for h in original.iter() {
                headers = headers.insert(Header {
                    key: h.key,
                    value: h.value,
                });
            }
        }
        // A dead letter must be kept or the consumer must stop: a failed write (the broker
        // away past the delivery timeout, a producer librdkafka declared unusable and that
        // is replaced) is tried again a few times before the consumer gives up.
        let mut backoff = Duration::from_millis(500);
        for attempt in 1..=WRITE_ATTEMPTS {
            let mut record = FutureRecord::to(self.topic.as_str())
                .payload(message.payload().unwrap_or_default())
                .headers(headers.clone());
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            let producer = self.producer();
            let sending = producer.send(record, Duration::from_secs(30));
            let outcome = match &self.shutdown {
                None => sending.await,
                Some(shutdown) => {
                    tokio::pin!(sending);
                    tokio::select! {
                        outcome = &mut sending => outcome,
                        () = shutdown.cancelled() => {
                            match tokio::time::timeout(SHUTDOWN_GRACE, &mut sending).await {
                                Ok(outcome) => outcome,
                                Err(_) => return Err(Error::Interrupted),
                            }
                        }
                    }
                }
            };
            match outcome {
                Ok(_) => return Ok(()),
                Err((source, _))
                    if attempt < WRITE_ATTEMPTS
                        && !self.shutdown.as_ref().is_some_and(|s| s.is_cancelled()) =>
                {
                    tracing::warn!(error = %source, attempt, "dead-letter write failed; trying again");
                    drop(producer);
                    self.renew();
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    self.ensure_topic_or_stop().await?;
                }
                Err((source, _)) => {
                    return Err(Error::Kafka {
                        operation: "write the dead-letter topic",
                        source,
                    });
                }
            }
        }
        Err(Error::Interrupted)
    }
}
