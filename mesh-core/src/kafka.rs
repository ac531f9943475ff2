//! Kafka clients as every kit makes them (feature `kafka`): one configuration builder, one
//! way to create a topic on any broker the mesh runs on, and rdkafka's blocking calls kept off
//! the async runtime.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;

use crate::config::{KafkaEndpoint, Pinned};
use crate::names::TopicName;

/// How long a metadata or cluster-id request may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// The librdkafka configuration of a client of `endpoint`: bootstrap servers, the client's
/// `defaults`, its `pinned` settings, then the endpoint's raw options, which may override
/// defaults but not pinned settings (see [`KafkaEndpoint::client_settings`]).
pub fn client_config(
    endpoint: &KafkaEndpoint,
    defaults: &[(&str, &str)],
    pinned: &[Pinned],
) -> crate::Result<ClientConfig> {
    Ok(endpoint
        .client_settings(defaults, pinned)?
        .into_iter()
        .collect())
}

/// Runs a blocking rdkafka call (metadata, watermarks, committed offsets, flush) on Tokio's
/// blocking pool, so it never holds an async worker. `None` if the runtime shut down first;
/// a panic in `call` is resumed here.
pub async fn blocking<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    match tokio::task::spawn_blocking(call).await {
        Ok(value) => Some(value),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => None,
    }
}

/// A topic could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// A client could not be made or the broker could not be asked.
    #[error("kafka {operation} failed: {source}")]
    Kafka {
        /// What was being done.
        operation: &'static str,
        /// The cause.
        source: KafkaError,
    },
    /// The broker refused to create the topic.
    #[error("the broker refused: {0}")]
    Refused(RDKafkaErrorCode),
    /// The endpoint's own topic creator failed (the in-process broker).
    #[error("{0}")]
    Creator(crate::config::CreateTopicError),
    /// The endpoint's configuration is not usable.
    #[error(transparent)]
    Config(Box<crate::Error>),
    /// The runtime shut down while the topic was being created.
    #[error("shutting down")]
    ShuttingDown,
}

/// A topic to create if it does not exist.
#[derive(Debug, Clone, Copy)]
pub struct NewTopicSpec<'a> {
    /// The topic.
    pub topic: &'a TopicName,
    /// Its partitions.
    pub partitions: i32,
    /// How long the broker keeps its records; the broker's default if `None`.
    pub retention: Option<Duration>,
}

/// Creates `spec`'s topic unless it exists, whichever broker the mesh runs on: the endpoint's
/// own creator (the in-process broker), a `mesh dev` broker in another process (librdkafka's
/// mock cluster, which has no admin API and creates a topic, with its own partition count,
/// when a producer asks about it), or any other broker through the admin API.
pub async fn ensure_topic(
    endpoint: &KafkaEndpoint,
    spec: NewTopicSpec<'_>,
) -> Result<(), TopicError> {
    if let Some(creator) = &endpoint.topic_creator {
        return creator
            .create(spec.topic.as_str(), spec.partitions)
            .map_err(TopicError::Creator);
    }
    let config = client_config(endpoint, &[], &[]).map_err(|e| TopicError::Config(Box::new(e)))?;
    let probe: BaseProducer = config.create().map_err(|source| TopicError::Kafka {
        operation: "create a client",
        source,
    })?;
    let name = spec.topic.to_string();
    let dev = blocking(move || {
        let mock = probe
            .client()
            .fetch_cluster_id(METADATA_TIMEOUT)
            .is_some_and(|id| id.starts_with("mockCluster"));
        if !mock {
            return Ok(None);
        }
        probe
            .client()
            .fetch_metadata(Some(&name), METADATA_TIMEOUT)
            .map(|m| Some(m.topics().first().map_or(0, |t| t.partitions().len())))
    })
    .await
    .ok_or(TopicError::ShuttingDown)?
    .map_err(|source| TopicError::Kafka {
        operation: "create topic",
        source,
    })?;
    if let Some(partitions) = dev {
        if partitions != usize::try_from(spec.partitions).unwrap_or_default() {
            tracing::warn!(
                topic = %spec.topic,
                partitions,
                declared = spec.partitions,
                "the development broker created the topic with its own partition count"
            );
        }
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> =
        config.create().map_err(|source| TopicError::Kafka {
            operation: "create an admin client",
            source,
        })?;
    let retention = spec.retention.map(|r| r.as_millis().to_string());
    let mut new = NewTopic::new(
        spec.topic.as_str(),
        spec.partitions,
        TopicReplication::Fixed(-1),
    );
    if let Some(ms) = &retention {
        new = new.set("retention.ms", ms);
    }
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics([&new], &options)
        .await
        .map_err(|source| TopicError::Kafka {
            operation: "create topic",
            source,
        })?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(TopicError::Refused(code)),
        }
    }
    Ok(())
}
