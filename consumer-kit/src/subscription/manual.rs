//! A subscription stepped by hand, for tools that read a stream event by event.

use mesh_core::apache_avro::types::Value;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};

use super::offsets::{MeshContext, offset_list};
use super::{event, position};
use crate::decoder::Decoder;
use crate::error::{Error, Result};
use crate::handler::{Event, Position};

/// A subscription stepped by hand: [`Subscription::next`] and [`Subscription::commit`].
pub struct Subscription {
    kafka: StreamConsumer<MeshContext>,
    decoder: Decoder,
    group: String,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    pub(super) fn new(kafka: StreamConsumer<MeshContext>, decoder: Decoder, group: String) -> Self {
        Self {
            kafka,
            decoder,
            group,
        }
    }

    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The next event. An undecodable message is returned as [`Error::Decode`] naming its
    /// position; the subscription goes on with the next call.
    ///
    /// Cancellation safe: dropping the future loses no message that was not returned.
    pub async fn next(&self) -> Result<Event<Value>> {
        let message: BorrowedMessage<'_> =
            self.kafka.recv().await.map_err(|source| Error::Kafka {
                operation: "receive",
                source,
            })?;
        let (schema_id, value) = self
            .decoder
            .decode(message.payload().unwrap_or_default())
            .await
            .map_err(|e| Error::Decode {
                position: position(&message),
                source: e,
            })?;
        Ok(event(&message, schema_id, value))
    }

    /// Commits `position` as handled: the group resumes after it. Blocks until the broker
    /// answers.
    pub fn commit(&self, position: &Position) -> Result<()> {
        let handled = [(
            (position.topic.clone(), position.partition),
            position.offset + 1,
        )];
        let list = offset_list(&handled).map_err(|source| Error::Kafka {
            operation: "commit",
            source,
        })?;
        self.kafka
            .commit(&list, CommitMode::Sync)
            .map_err(|source| Error::Kafka {
                operation: "commit",
                source,
            })
    }
}
