//! Our events and tables read by clients nobody here wrote: python `confluent-kafka`'s
//! `AvroDeserializer` with a `SchemaRegistryClient` pointed at our catalog, and python
//! `deltalake`.

use datamesh::slice::Slice;
use serde_json::Value as Json;

use crate::support::{TestResult, contracts, mesh, python, run_python, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_python_decodes_our_events_and_deltalake_reads_our_tables() -> TestResult {
    let Some(python) = python() else {
        return Ok(());
    };
    let (mesh, _dir) = mesh(None).await?;
    let endpoints = mesh.endpoints().clone();
    let report = Slice::new(endpoints.clone(), contracts())
        .with_suffix(unique())
        .run(|_| {})
        .await?;

    // confluent-kafka consumes the topic from our broker and decodes through our registry.
    let topic = report.received.topic.clone();
    let bootstrap = endpoints.kafka.bootstrap_servers.clone();
    let registry = endpoints.catalog_url.clone();
    let out = tokio::task::spawn_blocking(move || {
        run_python(
            &python,
            "confluent_consume.py",
            &[&bootstrap, &registry, &topic, "1"],
        )
        .map(|out| (out, python))
    })
    .await??;
    let (out, python) = out;
    let events: Vec<Json> = out
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(events.len(), 1, "{out}");
    let event = &events[0];
    assert_eq!(event["value"]["user_id"], "user-1");
    assert_eq!(event["value"]["song_id"], 42);
    assert_eq!(event["value"]["device"], "MOBILE");
    assert_eq!(event["value"]["context"], "playlist:focus");
    assert_eq!(event["key"], "user-1");
    assert_eq!(event["schema_id"], report.played_schema_id);
    assert_eq!(
        event["headers"]["mesh-event-id"],
        report.delivery.event_id.to_string()
    );

    // python deltalake reads the snapshot the catalog knows, and sees the same rows.
    let client = datamesh::catalog::CatalogClient::new(&endpoints.catalog_url)?;
    let uri = client
        .product(&report.product)
        .await?
        .table_port
        .ok_or("no table port")?
        .uri;
    let out = tokio::task::spawn_blocking(move || run_python(&python, "delta_read.py", &[&uri]))
        .await??;
    let table: Json = serde_json::from_str(&out)?;
    assert_eq!(table["version"], 1);
    assert_eq!(table["metadata"]["mesh.schema_id"], report.song_schema_id);
    let rows = table["rows"].as_array().ok_or("no rows")?;
    let ids: Vec<i64> = rows.iter().filter_map(|r| r["song_id"].as_i64()).collect();
    assert_eq!(ids, [7, 42, 99]);
    assert_eq!(rows[1]["title"], "So What");
    assert_eq!(rows[2]["genre"], "trip-hop");
    mesh.shutdown().await?;
    Ok(())
}
