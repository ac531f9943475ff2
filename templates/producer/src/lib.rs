//! The {{domain}} domain's producer: its events and how they reach the mesh.
//!
//! [`connect`] applies `contract.toml` (the catalog checks every schema change first) and
//! returns the domain's producer; [`publish`] sends events to the `{{domain}}.events` stream
//! and snapshots the newest event of every key to the `{{domain}}.latest` product.

use std::path::PathBuf;

use datamesh::catalog::TableVersion;
use datamesh::mesh_core::{Contract, Endpoints};
use datamesh::producer_kit::{Delivery, DomainProducer};
use serde::Serialize;

/// One event of the `events` stream; fields as in `schemas/Event.avsc`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Unique per event.
    pub event_id: String,
    /// The item the event is about; the partition key.
    pub key: String,
    /// What happened.
    pub kind: Kind,
    /// An amount.
    pub amount: f64,
    /// A free-form note.
    pub note: Option<String>,
    /// When it happened, in milliseconds since the epoch.
    pub occurred_at: i64,
}

/// The `Kind` enum of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Kind {
    /// The item was created.
    Created,
    /// The item changed.
    Updated,
    /// The item was deleted.
    Deleted,
}

/// The contract this crate was built and tested with, carried in the binary: a deployed
/// binary needs no file beside it.
const CONTRACT: &str = include_str!("../contract.toml");

/// Every schema file `contract.toml` names, under the path it names it by. Add a line here
/// when the contract names a new one.
const SCHEMAS: &[(&str, &str)] = &[("schemas/Event.avsc", include_str!("../schemas/Event.avsc"))];

/// Names a contract file to use instead of the built-in one.
pub const CONTRACT_VAR: &str = "MESH_CONTRACT";

/// The contract: the one built in, or the file `MESH_CONTRACT` names (its schema paths are
/// relative to it).
pub fn contract() -> anyhow::Result<Contract> {
    Ok(match std::env::var_os(CONTRACT_VAR) {
        Some(path) => Contract::load(PathBuf::from(path))?,
        None => Contract::embedded(CONTRACT, SCHEMAS, "contract.toml (built in)")?,
    })
}

/// Applies the contract to the mesh at `endpoints` and connects.
pub async fn connect(endpoints: &Endpoints) -> anyhow::Result<DomainProducer> {
    Ok(DomainProducer::connect(contract()?, endpoints).await?)
}

/// `count` example events over a few keys, each key created and then updated.
pub fn sample_events(count: usize) -> Vec<Event> {
    let now = datamesh::mesh_core::time::now_ms();
    let keys = count.div_ceil(3).max(1);
    (0..count)
        .map(|i| Event {
            event_id: format!("{now}-{i}"),
            key: format!("item-{}", i % keys),
            kind: if i < keys {
                Kind::Created
            } else {
                Kind::Updated
            },
            amount: 10.0 * (i + 1) as f64,
            note: (i % 2 == 0).then(|| format!("event {i}")),
            occurred_at: now + i as i64,
        })
        .collect()
}

/// What [`publish`] did.
#[derive(Debug)]
pub struct Published {
    /// Where each event was stored, in order.
    pub deliveries: Vec<Delivery>,
    /// The version of `{{domain}}.latest` written.
    pub snapshot: TableVersion,
}

/// Sends `events` (each acknowledged by the broker) and merges them into the `latest` product.
pub async fn publish(producer: &DomainProducer, events: &[Event]) -> anyhow::Result<Published> {
    let publisher = producer.publisher::<Event>("events")?;
    let mut deliveries = Vec::with_capacity(events.len());
    for event in events {
        deliveries.push(publisher.send(event).await?);
    }
    let rows = producer.rows("latest", events)?;
    let snapshot = producer.snapshot("latest", rows).await?;
    Ok(Published {
        deliveries,
        snapshot,
    })
}
