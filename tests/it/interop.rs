//! Our events and tables read by clients nobody here wrote: python `confluent-kafka`'s
//! `AvroDeserializer` with a `SchemaRegistryClient` pointed at our catalog, and python
//! `deltalake`.

use datamesh::slice::Slice;
use serde_json::Value as Json;

use crate::support::{TestResult, mesh, python, run_python, table_uri, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_python_decodes_our_events_and_deltalake_reads_our_tables() -> TestResult {
    let Some(python) = python() else {
        return Ok(());
    };
    let (mesh, _dir) = mesh(None).await?;
    let endpoints = mesh.endpoints().clone();
    let report = Slice::new(endpoints.clone())
        .with_suffix(unique())
        .run(|_| {})
        .await?;

    // confluent-kafka consumes the topic from our broker and decodes through our registry.
    let topic = report.received.position.topic.clone();
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
    assert_eq!(event["schema_id"], report.played_schema_id.get());
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
    assert_eq!(
        table["metadata"]["mesh.schema_id"],
        report.song_schema_id.get()
    );
    let rows = table["rows"].as_array().ok_or("no rows")?;
    let ids: Vec<i64> = rows.iter().filter_map(|r| r["song_id"].as_i64()).collect();
    assert_eq!(ids, [7, 42, 99]);
    assert_eq!(rows[1]["title"], "So What");
    assert_eq!(rows[2]["genre"], "trip-hop");
    mesh.shutdown().await?;
    Ok(())
}

const SINK: &str = r#"{"type":"record","name":"Sink","namespace":"mesh.test","fields":[
  {"name":"id","type":"long"},
  {"name":"tags","type":{"type":"array","items":"string"}},
  {"name":"counters","type":{"type":"map","values":"long"}},
  {"name":"hash","type":{"type":"fixed","name":"Hash","size":4}},
  {"name":"day","type":{"type":"int","logicalType":"date"}},
  {"name":"uid","type":{"type":"string","logicalType":"uuid"}},
  {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
  {"name":"ratio","type":"float"},
  {"name":"ok","type":"boolean"},
  {"name":"blob","type":"bytes"}
]}"#;

/// Every event shape we publish decodes in python `confluent-kafka`, and python `deltalake`
/// reads the product table of every write mode with the rows the mode promises.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_reads_every_event_type_and_every_write_mode() -> TestResult {
    use crate::producer::{contract, music_contract, played, songs_batch};
    use datamesh::mesh_core::apache_avro::types::Value;
    use datamesh::producer_kit::DomainProducer;

    let Some(python) = python() else {
        return Ok(());
    };
    let (mesh, dir) = mesh(None).await?;
    let endpoints = mesh.endpoints().clone();
    let domain = format!("py{}", unique());
    let sink_dir = dir.path().join("sink");
    std::fs::create_dir_all(&sink_dir)?;
    let sink_contract = contract(
        &sink_dir,
        &format!(
            "domain = \"{domain}\"\nowner = \"o\"\n[[streams]]\nname = \"sink\"\nschema = \"sink.avsc\"\npartitions = 1\n"
        ),
        &[("sink.avsc", SINK)],
    )?;
    let producer = DomainProducer::connect(sink_contract, &endpoints).await?;
    let sink = producer.dyn_publisher("sink")?;
    sink.send(&Value::Record(vec![
        ("id".into(), Value::Long(1)),
        (
            "tags".into(),
            Value::Array(vec![Value::String("a".into()), Value::String("b".into())]),
        ),
        (
            "counters".into(),
            Value::Map([("plays".to_owned(), Value::Long(3))].into()),
        ),
        ("hash".into(), Value::Fixed(4, vec![1, 2, 3, 4])),
        ("day".into(), Value::Date(19_700)),
        (
            "uid".into(),
            Value::String("67e55044-10b1-426f-9247-bb680e5fe0c8".into()),
        ),
        ("price".into(), Value::Decimal(vec![0x30, 0x39].into())),
        ("ratio".into(), Value::Float(0.5)),
        ("ok".into(), Value::Boolean(true)),
        ("blob".into(), Value::Bytes(b"raw".to_vec())),
    ]))
    .await?;

    let music = format!("pymusic{}", unique());
    let music_dir = dir.path().join("music");
    std::fs::create_dir_all(&music_dir)?;
    let music_producer =
        DomainProducer::connect(music_contract(&music_dir, &music, "merge")?, &endpoints).await?;
    let plays = music_producer.publisher("played")?;
    plays.send_batch(&[played(3), played(4)]).await?;

    let bootstrap = endpoints.kafka.bootstrap_servers.clone();
    let registry = endpoints.catalog_url.clone();
    let (sink_topic, played_topic) = (format!("{domain}.sink"), format!("{music}.played"));
    let py = python.clone();
    let (sinks, plays_out) = tokio::task::spawn_blocking(
        move || -> Result<(String, String), Box<dyn std::error::Error + Send + Sync>> {
            Ok((
                run_python(
                    &py,
                    "confluent_consume.py",
                    &[&bootstrap, &registry, &sink_topic, "1"],
                )?,
                run_python(
                    &py,
                    "confluent_consume.py",
                    &[&bootstrap, &registry, &played_topic, "2"],
                )?,
            ))
        },
    )
    .await??;
    let sink_event: Json = serde_json::from_str(sinks.lines().next().ok_or("no sink event")?)?;
    let v = &sink_event["value"];
    assert_eq!(v["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(v["counters"]["plays"], 3);
    assert_eq!(v["day"], "2023-12-09");
    assert_eq!(v["uid"], "67e55044-10b1-426f-9247-bb680e5fe0c8");
    assert_eq!(v["price"], "123.45");
    assert_eq!(v["ok"], true);
    let plays_json: Vec<Json> = plays_out
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let mut by_song: Vec<(i64, Json)> = plays_json
        .iter()
        .map(|e| {
            (
                e["value"]["song_id"].as_i64().unwrap_or(-1),
                e["value"].clone(),
            )
        })
        .collect();
    by_song.sort_by_key(|(id, _)| *id);
    assert_eq!(by_song[0].1["context"]["playlist"], "focus", "{by_song:?}");
    assert_eq!(by_song[1].1["context"], Json::Null);
    assert_eq!(by_song[1].1["device"], "MOBILE");
    assert!(
        by_song[0].1["at"]
            .as_str()
            .is_some_and(|t| t.starts_with("2023-11-14 22:13:20.003")),
        "{by_song:?}"
    );

    // Tables of every write mode, read back by python deltalake.
    let catalog = datamesh::catalog::CatalogClient::new(&endpoints.catalog_url)?;
    for mode in ["overwrite", "append", "merge"] {
        let d = format!("{mode}{}", unique());
        let sub = dir.path().join(mode);
        std::fs::create_dir_all(&sub)?;
        let p = DomainProducer::connect(music_contract(&sub, &d, mode)?, &endpoints).await?;
        p.snapshot(
            "songs",
            songs_batch(&[(1, "One", "rock"), (2, "Two", "jazz")])?,
        )
        .await?;
        let rows = p.rows(
            "songs",
            &[serde_json::json!({ "song_id": 2, "title": "Two!", "genre": "jazz" })],
        )?;
        p.snapshot("songs", rows).await?;
        let id: datamesh::mesh_core::ProductId = format!("{d}.songs").parse()?;
        let uri = table_uri(&catalog, &id).await?;
        let py = python.clone();
        let out = tokio::task::spawn_blocking(move || run_python(&py, "delta_read.py", &[&uri]))
            .await??;
        let table: Json = serde_json::from_str(&out)?;
        let rows: Vec<(i64, String)> = table["rows"]
            .as_array()
            .ok_or("no rows")?
            .iter()
            .map(|r| {
                (
                    r["song_id"].as_i64().unwrap_or(-1),
                    r["title"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let expected: Vec<(i64, &str)> = match mode {
            "overwrite" => vec![(2, "Two!")],
            "append" => vec![(1, "One"), (2, "Two"), (2, "Two!")],
            _ => vec![(1, "One"), (2, "Two!")],
        };
        let got: Vec<(i64, &str)> = rows.iter().map(|(i, t)| (*i, t.as_str())).collect();
        let mut got_sorted = got.clone();
        got_sorted.sort();
        assert_eq!(got_sorted, expected, "{mode}");
        assert_eq!(table["version"], 2, "{mode}");
        assert_eq!(table["metadata"]["mesh.producer_domain"], d.as_str());
    }
    mesh.shutdown().await?;
    Ok(())
}
