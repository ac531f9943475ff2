//! The producer against the local mesh: `mesh dev`'s when `MESH_CONFIG` points at it, an
//! embedded one otherwise.

use datamesh::LocalMesh;
use datamesh::consumer_kit::DomainConsumer;
use datamesh::mesh_core::apache_avro::types::Value;
use datamesh::mesh_core::{DomainName, MeshConfig, ProductId};
use serde::Deserialize;

#[derive(Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
struct Latest {
    key: String,
    event_id: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn publishes_events_and_snapshots_the_latest_of_every_key() -> anyhow::Result<()> {
    let mesh = LocalMesh::start(&MeshConfig::load()?).await?;
    let producer = {{crate_ident}}::connect(mesh.endpoints()).await?;

    let events = {{crate_ident}}::sample_events(9);
    let published = {{crate_ident}}::publish(&producer, &events).await?;
    assert_eq!(published.deliveries.len(), events.len());
    // Merged by key: the table holds one row per key (3 here, more if `cargo run` wrote
    // other keys to the same mesh before).
    assert!(published.snapshot.rows >= 3, "{:?}", published.snapshot);

    // An event that does not fit the schema is refused before it reaches Kafka.
    let invalid = Value::Record(vec![("event_id".into(), Value::Int(1))]);
    let refused = producer.dyn_publisher("events")?.send(&invalid).await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("event_id"), "{message}");

    // The product, read back through the catalog as the domain itself.
    let consumer = DomainConsumer::connect(DomainName::new("{{domain}}")?, mesh.endpoints()).await?;
    let data = consumer.static_data();
    data.open(&ProductId::parse("{{domain}}.latest")?).await?;
    // Each of this run's keys holds its newest event.
    let mut expected: Vec<Latest> = Vec::new();
    for event in events.iter().rev() {
        if !expected.iter().any(|l| l.key == event.key) {
            expected.push(Latest {
                key: event.key.clone(),
                event_id: event.event_id.clone(),
            });
        }
    }
    expected.sort();
    let keys: Vec<String> = expected.iter().map(|l| format!("'{}'", l.key)).collect();
    let latest: Vec<Latest> = data
        .rows(&format!(
            r#"SELECT key, event_id FROM "{{domain}}".latest WHERE key IN ({}) ORDER BY key"#,
            keys.join(", ")
        ))
        .await?;
    assert_eq!(latest, expected);

    drop(producer);
    mesh.shutdown().await?;
    Ok(())
}

/// The Rust `Event` and `schemas/Event.avsc` name the same fields and agree on their types:
/// a field added to one and not the other fails here, before anything is published.
#[test]
fn the_event_type_matches_its_schema() -> anyhow::Result<()> {
    use datamesh::mesh_core::apache_avro::Schema;
    let contract = {{crate_ident}}::contract()?;
    let stream = contract
        .stream("events")
        .ok_or_else(|| anyhow::anyhow!("the contract has no events stream"))?;
    let Schema::Record(record) = stream.schema.schema() else {
        anyhow::bail!("the events schema is not a record");
    };
    let mut in_schema: Vec<&str> = record.fields.iter().map(|f| f.name.as_str()).collect();
    in_schema.sort_unstable();
    let event = &{{crate_ident}}::sample_events(1)[0];
    let as_json = serde_json::to_value(event)?;
    let mut in_type: Vec<&str> = as_json
        .as_object()
        .map(|fields| fields.keys().map(String::as_str).collect())
        .unwrap_or_default();
    in_type.sort_unstable();
    assert_eq!(
        in_type, in_schema,
        "the Event type and schemas/Event.avsc name different fields"
    );
    let mut encoded = Vec::new();
    stream.schema.encode_serde_into(event, &mut encoded)?;
    Ok(())
}
