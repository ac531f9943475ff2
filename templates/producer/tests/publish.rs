//! The producer against the local mesh: `mesh dev`'s when `MESH_CONFIG` points at it, an
//! embedded one otherwise.

use datamesh::LocalMesh;
use datamesh::consumer_kit::DomainConsumer;
use datamesh::mesh_core::apache_avro::types::Value;
use datamesh::mesh_core::{DomainName, MeshConfig, ProductId};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Count {
    keys: i64,
}

#[tokio::test(flavor = "multi_thread")]
async fn publishes_events_and_snapshots_the_latest_of_every_key() -> anyhow::Result<()> {
    let mesh = LocalMesh::start(&MeshConfig::load()?).await?;
    let producer = {{crate_ident}}::connect(mesh.endpoints()).await?;

    let events = {{crate_ident}}::sample_events(9);
    let published = {{crate_ident}}::publish(&producer, &events).await?;
    assert_eq!(published.deliveries.len(), events.len());
    // Merged by key: the table holds the newest event of each of the 3 keys.
    assert_eq!(published.snapshot.rows, 3);

    // An event that does not fit the schema is refused before it reaches Kafka.
    let invalid = Value::Record(vec![("event_id".into(), Value::Int(1))]);
    let refused = producer.dyn_publisher("events")?.send(&invalid).await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("event_id"), "{message}");

    // The product, read back through the catalog as the domain itself.
    let consumer = DomainConsumer::connect(DomainName::new("{{domain}}")?, mesh.endpoints()).await?;
    let data = consumer.static_data();
    data.open(&ProductId::parse("{{domain}}.latest")?).await?;
    let counted: Vec<Count> = data
        .rows(r#"SELECT count(DISTINCT key) AS keys FROM "{{domain}}".latest"#)
        .await?;
    assert_eq!(counted.first().map(|c| c.keys), Some(3));

    drop(producer);
    mesh.shutdown().await?;
    Ok(())
}
