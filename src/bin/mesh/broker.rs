//! The broker as the command line meets it: reached within a bound, or one line and exit 4,
//! the way an unreachable catalog already fails.

use std::time::Duration;

use datamesh::mesh_core::{Endpoints, TopicName};
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::failure::Failure;

/// Names how long a command waits for the broker, in milliseconds (default 10 s).
pub(crate) const TIMEOUT_VAR: &str = "MESH_KAFKA_TIMEOUT_MS";

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a command waits for the broker before it says it cannot reach it.
fn timeout() -> Duration {
    std::env::var(TIMEOUT_VAR)
        .ok()
        .and_then(|ms| ms.trim().parse::<u64>().ok())
        .map_or(DEFAULT_TIMEOUT, Duration::from_millis)
}

/// Asks the broker at `endpoints` for its metadata (of `topic`, when given) within
/// [`timeout`]. An unreachable broker is [`Failure::unreachable`] (exit 4), a topic it does
/// not have [`Failure::failed`], each one line with a hint.
pub(crate) async fn reach(endpoints: &Endpoints, topic: Option<&TopicName>) -> Result<(), Failure> {
    let bootstrap = endpoints.kafka.bootstrap_servers.clone();
    let unreachable = |cause: String| {
        Failure::unreachable(
            format!("cannot reach the Kafka broker at {bootstrap}: {cause}"),
            format!(
                "start a local mesh with `mesh dev` and export the MESH_CONFIG it prints, or set MESH_KAFKA_BOOTSTRAP_SERVERS (waited {} ms; {TIMEOUT_VAR} changes that)",
                timeout().as_millis()
            ),
        )
    };
    let client: BaseConsumer = datamesh::mesh_core::kafka::client_config(
        &endpoints.kafka,
        &[
            ("group.id", "mesh-cli"),
            ("client.id", "mesh-cli"),
            ("allow.auto.create.topics", "false"),
        ],
        &[],
    )
    .map_err(|e| {
        Failure::invalid(
            e.to_string(),
            "check the kafka options of the configuration",
        )
    })?
    .create()
    .map_err(|e| unreachable(e.to_string()))?;
    let wanted = topic.map(|t| t.as_str().to_owned());
    let limit = timeout();
    let answer = datamesh::mesh_core::kafka::blocking(move || {
        client
            .fetch_metadata(wanted.as_deref(), limit)
            .map(|metadata| {
                metadata
                    .topics()
                    .first()
                    .and_then(|t| t.error())
                    .map(|e| format!("{e:?}"))
            })
    })
    .await
    .ok_or_else(|| unreachable("the command is stopping".to_owned()))?;
    match (answer, topic) {
        (Ok(None), _) | (Ok(Some(_)), None) => Ok(()),
        (Ok(Some(_)), Some(topic)) => Err(Failure::failed(
            format!("the broker has no topic {topic}"),
            "`mesh catalog streams` lists the mesh's streams; a producer creates its topics when it connects",
        )),
        (Err(e), _) => Err(unreachable(e.to_string())),
    }
}
