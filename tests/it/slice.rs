//! The first slice through every hop, on the in-process broker and on a real one.

use datamesh::mesh_core::apache_avro::types::Value;
use datamesh::slice::{Slice, SliceReport};
use deltalake::arrow::array::{Array, Int64Array, StringArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::DataType;

use crate::support::{TestResult, mesh, real_broker, unique};

fn check(report: &SliceReport) -> TestResult {
    // The invalid event was refused with both field paths, before reaching Kafka: the valid
    // event is the first message of the topic.
    let refusal = report
        .refusal
        .validation()
        .ok_or("not a validation error")?;
    let paths: Vec<&str> = refusal.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["$.song_id", "$.device"], "{refusal}");
    assert!(
        refusal.errors[1]
            .reason
            .contains("unknown symbol \"TOASTER\""),
        "{refusal}"
    );
    assert_eq!(report.delivery.offset, 0);

    // The consumer decoded exactly what was sent, through the registry.
    let got = &report.received;
    assert_eq!(got.schema_id, report.played_schema_id);
    assert_eq!(got.position.offset, report.delivery.offset);
    assert_eq!(got.key_str(), Some("user-1"));
    assert_eq!(got.field("song_id"), Some(&Value::Long(42)));
    assert_eq!(got.field("device"), Some(&Value::Enum(0, "MOBILE".into())));
    assert_eq!(
        got.field("context"),
        Some(&Value::Union(
            1,
            Box::new(Value::String("playlist:focus".into()))
        ))
    );
    assert_eq!(
        got.meta.event_id,
        Some(report.delivery.event_id.to_string())
    );
    assert!(
        got.meta
            .producer_domain
            .as_deref()
            .is_some_and(|d| d.starts_with("interactions"))
    );

    // The snapshot was registered and read back through the catalog.
    // Version 0 is the empty table the contract created; the snapshot is version 1.
    assert_eq!(report.table_version.version, 1);
    assert_eq!(report.table_version.rows, 3);
    assert_eq!(report.table_version.schema_id, Some(report.song_schema_id));
    assert!(report.table_version.bytes > 0);
    let batch = report.rows.first().ok_or("no rows")?;
    assert_eq!(report.rows.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
    let ids = batch
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or("song_id is not Int64")?;
    assert_eq!(ids.values().to_vec(), [7, 42, 99]);
    // DataFusion may hand strings out as Utf8View: compare them as plain strings.
    let titles = cast(batch.column(1), &DataType::Utf8)?;
    let titles = titles
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or("title is not a string")?;
    assert_eq!(titles.value(1), "So What");
    assert_eq!(titles.len(), 3);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slice_runs_on_the_in_process_broker() -> TestResult {
    let (mesh, _dir) = mesh(None).await?;
    assert!(mesh.kafka_is_embedded() && mesh.catalog_is_embedded());
    let mut hops = Vec::new();
    let report = Slice::new(mesh.endpoints().clone())
        .with_suffix(unique())
        .run(|hop| hops.push(hop))
        .await?;
    check(&report)?;
    assert_eq!(hops.len(), 6, "{hops:#?}");
    mesh.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slice_runs_on_a_real_broker() -> TestResult {
    let Some(bootstrap) = real_broker() else {
        return Ok(());
    };
    let (mesh, _dir) = mesh(Some(bootstrap)).await?;
    assert!(!mesh.kafka_is_embedded());
    let report = Slice::new(mesh.endpoints().clone())
        .with_suffix(unique())
        .run(|_| {})
        .await?;
    check(&report)?;
    mesh.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_lake_this_build_cannot_reach_is_refused_clearly() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut config = datamesh::mesh_core::MeshConfig::default();
    config.data_dir = Some(dir.path().to_owned());
    config.lake.url = Some("gs://bucket/products".into());
    let err = datamesh::LocalMesh::start(&config)
        .await
        .expect_err("gs without a backend");
    let text = err.to_string();
    assert!(
        text.contains("lake.url") && text.contains("gs://bucket/products"),
        "{text}"
    );
    Ok(())
}
