//! The dead-letter topic `<consumer-domain>.dlq`: messages a consumer could not handle,
//! kept whole with where they came from and why.

use std::time::Duration;

use mesh_core::wire::headers;
use mesh_core::{Pinned, StreamName, TopicName};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;

use crate::consumer::DomainConsumer;
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
    kafka: FutureProducer,
    endpoints: mesh_core::Endpoints,
    config: ClientConfig,
    created: tokio::sync::OnceCell<()>,
}

/// The dead-letter topic of `consumer`'s domain.
pub fn dead_letter_topic(consumer: &DomainConsumer) -> TopicName {
    // "dlq" is a valid stream name: this cannot fail.
    let stream =
        StreamName::new("dlq").unwrap_or_else(|_| unreachable!("dlq is a valid stream name"));
    TopicName::new(consumer.domain(), &stream)
}

impl DeadLetters {
    /// Connects a producer for the dead-letter topic.
    pub(crate) async fn open(consumer: &DomainConsumer) -> Result<Self> {
        let endpoints = consumer.endpoints();
        let topic = dead_letter_topic(consumer);
        let settings = endpoints
            .kafka
            .client_settings(&[("client.id", "mesh-dlq")], PINNED)?;
        let mut config = ClientConfig::new();
        for (k, v) in &settings {
            config.set(k, v);
        }
        let kafka: FutureProducer = config.create().map_err(|source| Error::Kafka {
            operation: "create the dead-letter producer",
            source,
        })?;
        Ok(Self {
            topic,
            kafka,
            endpoints: endpoints.clone(),
            config,
            created: tokio::sync::OnceCell::new(),
        })
    }

    /// Creates the topic if it does not exist (once per consumer).
    async fn ensure_topic(&self) -> Result<()> {
        self.created
            .get_or_try_init(|| async {
                let topic = &self.topic;
                match &self.endpoints.kafka.topic_creator {
                    Some(creator) => {
                        creator
                            .create(topic.as_str(), 1)
                            .map_err(|reason| Error::DeadLetter {
                                topic: topic.to_string(),
                                reason,
                            })
                    }
                    None => {
                        let admin: AdminClient<DefaultClientContext> =
                            self.config.create().map_err(|source| Error::Kafka {
                                operation: "create an admin client",
                                source,
                            })?;
                        let new = NewTopic::new(topic.as_str(), 1, TopicReplication::Fixed(-1));
                        let options =
                            AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
                        let results =
                            admin
                                .create_topics([&new], &options)
                                .await
                                .map_err(|source| Error::Kafka {
                                    operation: "create the dead-letter topic",
                                    source,
                                })?;
                        for r in results {
                            match r {
                                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                                Err((_, code)) => {
                                    return Err(Error::DeadLetter {
                                        topic: topic.to_string(),
                                        reason: code.to_string(),
                                    });
                                }
                            }
                        }
                        Ok(())
                    }
                }
            })
            .await
            .map(|_| ())
    }

    /// Keeps `message` in the dead-letter topic; resolves when the broker has it.
    pub(crate) async fn send(
        &self,
        message: &OwnedMessage,
        reason: &str,
        cause: &str,
    ) -> Result<()> {
        self.ensure_topic().await?;
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
        let mut record = FutureRecord::to(self.topic.as_str())
            .payload(message.payload().unwrap_or_default())
            .headers(headers);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        self.kafka
            .send(record, Duration::from_secs(30))
            .await
            .map_err(|(source, _)| Error::Kafka {
                operation: "write the dead-letter topic",
                source,
            })?;
        Ok(())
    }
}
