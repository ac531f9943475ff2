//! The producer kit against a local mesh: contracts, publishing, snapshots, maintenance.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use datamesh::catalog::CatalogClient;
use datamesh::consumer_kit::DomainConsumer;
use datamesh::mesh_core::apache_avro::types::Value;
use datamesh::mesh_core::{Contract, Endpoints, ProductId, Subject, TopicName};
use datamesh::producer_kit::{DomainProducer, Error, Rows};
use deltalake::arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, Schema};
use deltalake::datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use serde::Serialize;

use crate::support::{TestResult, mesh, table_uri, unique};

pub(crate) const PLAYED: &str = r#"{"type":"record","name":"Played","namespace":"mesh.test","fields":[
  {"name":"user_id","type":"string"},
  {"name":"song_id","type":"long"},
  {"name":"device","type":{"type":"enum","name":"Device","symbols":["MOBILE","WEB"]}},
  {"name":"context","type":["null",{"type":"record","name":"Context","fields":[
      {"name":"playlist","type":"string"},{"name":"position","type":"int"}]}],"default":null},
  {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}}
]}"#;

pub(crate) const SONG: &str = r#"{"type":"record","name":"Song","namespace":"mesh.test","fields":[
  {"name":"song_id","type":"long"},
  {"name":"title","type":"string"},
  {"name":"genre","type":"string"},
  {"name":"label","type":["null","string"],"default":null}
]}"#;

/// Writes a contract and its schemas into `dir` and loads it.
pub(crate) fn contract(
    dir: &Path,
    body: &str,
    schemas: &[(&str, &str)],
) -> Result<Contract, datamesh::mesh_core::Error> {
    for (file, text) in schemas {
        std::fs::write(dir.join(file), text).map_err(|source| datamesh::mesh_core::Error::Io {
            path: dir.join(file),
            source,
        })?;
    }
    let path = dir.join("contract.toml");
    std::fs::write(&path, body).map_err(|source| datamesh::mesh_core::Error::Io {
        path: path.clone(),
        source,
    })?;
    Contract::load(path)
}

pub(crate) fn music_contract(
    dir: &Path,
    domain: &str,
    song_mode: &str,
) -> Result<Contract, datamesh::mesh_core::Error> {
    music_contract_with(dir, domain, song_mode, SONG)
}

/// [`music_contract`] with another row schema for `songs`.
pub(crate) fn music_contract_with(
    dir: &Path,
    domain: &str,
    song_mode: &str,
    song: &str,
) -> Result<Contract, datamesh::mesh_core::Error> {
    let keys = if song_mode == "merge" {
        "keys = [\"song_id\"]"
    } else {
        ""
    };
    contract(
        dir,
        &format!(
            r#"
            domain = "{domain}"
            owner = "team-test"
            [[streams]]
            name = "played"
            key = "user_id"
            schema = "played.avsc"
            partitions = 3
            [[products]]
            name = "songs"
            schema = "song.avsc"
            partition_by = ["genre"]
            mode = "{song_mode}"
            {keys}
            sla = "1h"
            streams = ["played"]
            "#
        ),
        &[("played.avsc", PLAYED), ("song.avsc", song)],
    )
}

#[derive(Serialize, Clone)]
pub(crate) struct Played {
    pub(crate) user_id: String,
    pub(crate) song_id: i64,
    pub(crate) device: &'static str,
    pub(crate) context: Option<PlayContext>,
    pub(crate) at: i64,
}

#[derive(Serialize, Clone)]
pub(crate) struct PlayContext {
    pub(crate) playlist: String,
    pub(crate) position: i32,
}

pub(crate) fn played(i: i64) -> Played {
    Played {
        user_id: format!("user-{}", i % 4),
        song_id: i,
        device: if i % 2 == 0 { "MOBILE" } else { "WEB" },
        context: (i % 3 == 0).then(|| PlayContext {
            playlist: "focus".into(),
            position: i32::try_from(i).unwrap_or(0),
        }),
        at: 1_700_000_000_000 + i,
    }
}

/// The high watermarks of every partition of a topic: how many events the broker holds.
fn watermarks(
    endpoints: &Endpoints,
    topic: &TopicName,
    partitions: i32,
) -> Result<Vec<i64>, rdkafka::error::KafkaError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &endpoints.kafka.bootstrap_servers)
        .create()?;
    (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(topic.as_str(), p, Duration::from_secs(10))
                .map(|(_, high)| high)
        })
        .collect()
}

/// Every message of a topic, read by assignment (no consumer group).
pub(crate) fn read_topic(
    endpoints: &Endpoints,
    topic: &TopicName,
    partitions: i32,
    expected: usize,
) -> Result<Vec<OwnedMessage>, rdkafka::error::KafkaError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &endpoints.kafka.bootstrap_servers)
        .set("group.id", "test-reader")
        .set("enable.auto.commit", "false")
        .create()?;
    let mut list = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic.as_str(), p, rdkafka::Offset::Beginning)?;
    }
    consumer.assign(&list)?;
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while out.len() < expected && std::time::Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            out.push(message?.detach());
        }
    }
    Ok(out)
}

/// Rows of a product's table through DataFusion, as (song_id, title, genre) ordered by id.
pub(crate) async fn songs_in(
    uri: &str,
) -> Result<Vec<(i64, String, String)>, Box<dyn std::error::Error + Send + Sync>> {
    let table = deltalake::open_table(url::Url::parse(uri)?).await?;
    let ctx = SessionContext::new();
    table.update_datafusion_session(&ctx.state())?;
    ctx.register_table("songs", table.table_provider().await?)?;
    let batches = ctx
        .sql("SELECT song_id, title, genre FROM songs ORDER BY song_id")
        .await?
        .collect()
        .await?;
    let mut out = Vec::new();
    for b in batches {
        let ids = b
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or("song_id")?
            .clone();
        let titles = cast(b.column(1), &DataType::Utf8)?;
        let titles = titles
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or("title")?;
        let genres = cast(b.column(2), &DataType::Utf8)?;
        let genres = genres
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or("genre")?;
        for i in 0..b.num_rows() {
            out.push((
                ids.value(i),
                titles.value(i).to_owned(),
                genres.value(i).to_owned(),
            ));
        }
    }
    Ok(out)
}

pub(crate) fn songs_batch(
    rows: &[(i64, &str, &str)],
) -> Result<RecordBatch, deltalake::arrow::error::ArrowError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("song_id", DataType::Int64, false),
        Field::new("title", DataType::Utf8, false),
        Field::new("genre", DataType::Utf8, false),
        Field::new("label", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(vec![None::<&str>; rows.len()])),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contract_provisions_the_mesh_and_refuses_breaking_changes() -> TestResult {
    let (mesh, dir) = mesh(None).await?;
    let domain = format!("music{}", unique());
    let producer = DomainProducer::connect(
        music_contract(dir.path(), &domain, "overwrite")?,
        mesh.endpoints(),
    )
    .await?;
    let catalog = CatalogClient::new(&mesh.endpoints().catalog_url)?;
    let id: ProductId = format!("{domain}.songs").parse()?;
    let product = catalog.product(&id).await?;
    assert_eq!(
        product.stream_ports[0].topic.as_str(),
        format!("{domain}.played")
    );
    assert_eq!(product.sla.map(|s| s.max_staleness_secs), Some(3600));
    let port = product.table_port.ok_or("no table port")?;
    assert_eq!(port.partition_columns, ["genre"]);
    // The table exists (empty, version 0) and the catalog knows it.
    assert_eq!(catalog.latest_table_version(&id).await?.version, 0);
    assert!(songs_in(&port.uri).await?.is_empty());
    let topic: TopicName = format!("{domain}.played").parse()?;
    assert_eq!(
        watermarks(mesh.endpoints(), &topic, 3)?,
        [0, 0, 0],
        "three partitions, empty"
    );
    producer.flush(Duration::from_secs(5))?;

    // Narrowing song_id breaks BACKWARD readers and the table: refused, nothing changes.
    let breaking = SONG.replace(
        r#"{"name":"song_id","type":"long"}"#,
        r#"{"name":"song_id","type":"int"}"#,
    );
    let dir2 = tempfile::tempdir()?;
    let mut changed = music_contract(dir2.path(), &domain, "overwrite")?;
    changed.products[0].schema =
        datamesh::mesh_core::AvroSchema::parse_record(&breaking, "song.avsc")?;
    changed.products[0].description = "changed".into();
    let err = DomainProducer::connect(changed, mesh.endpoints())
        .await
        .expect_err("must be refused");
    let text = err.to_string();
    assert!(matches!(err, Error::ContractRefused { .. }), "{text}");
    assert!(text.contains(&format!("{domain}.songs-table")), "{text}");
    assert!(text.contains("song_id"), "{text}");
    let after = catalog.product(&id).await?;
    assert_eq!(after.description, "", "a refused contract changes nothing");
    let latest = catalog.latest_version(&Subject::table(&id)).await?;
    assert_eq!(latest.version, 1);
    mesh.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_events_are_refused_with_their_path_and_never_reach_the_broker() -> TestResult {
    let (mesh, dir) = mesh(None).await?;
    let domain = format!("music{}", unique());
    let producer = DomainProducer::connect(
        music_contract(dir.path(), &domain, "overwrite")?,
        mesh.endpoints(),
    )
    .await?;
    let typed = producer.publisher::<serde_json::Value>("played")?;
    let good = serde_json::json!({ "user_id": "u", "song_id": 1, "device": "WEB", "at": 5 });
    let cases = [
        (
            "song_id",
            serde_json::json!("one"),
            "$.song_id",
            "expected long, found string \"one\"",
        ),
        (
            "device",
            serde_json::json!("TOASTER"),
            "$.device",
            "unknown symbol \"TOASTER\"",
        ),
        (
            "user_id",
            serde_json::Value::Null,
            "$.user_id",
            "null is not allowed here",
        ),
        (
            "context",
            serde_json::json!({ "playlist": "p", "position": "first" }),
            "$.context.position",
            "expected int, found string \"first\"",
        ),
    ];
    for (field, bad, path, reason) in cases {
        let mut event = good.clone();
        event[field] = bad;
        let err = typed.send(&event).await.expect_err(path);
        let v = err.validation().ok_or("not a validation error")?;
        assert_eq!(v.errors[0].path, path, "{err}");
        assert!(v.errors[0].reason.starts_with(reason), "{err}");
    }
    let mut missing = good.clone();
    missing.as_object_mut().map(|o| o.remove("at"));
    let err = typed.send(&missing).await.expect_err("missing");
    assert_eq!(
        err.validation().map(|v| v.errors[0].path.as_str()),
        Some("$.at")
    );

    // A batch with one bad event sends nothing at all.
    let mut bad = good.clone();
    bad["song_id"] = serde_json::json!(1.5);
    let err = typed
        .send_batch(&[good.clone(), good.clone(), bad])
        .await
        .expect_err("batch");
    assert!(err.to_string().contains("$.song_id"), "{err}");

    // The dynamic path lists every violation at once.
    let dynamic = producer.dyn_publisher("played")?;
    let err = dynamic
        .send(&Value::Record(vec![
            ("user_id".into(), Value::Int(1)),
            ("song_id".into(), Value::Long(1)),
            ("device".into(), Value::String("TV".into())),
        ]))
        .await
        .expect_err("dynamic");
    let paths: Vec<&str> = err
        .validation()
        .map(|v| v.errors.iter().map(|e| e.path.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(paths, ["$.user_id", "$.device", "$.at"]);

    let topic: TopicName = format!("{domain}.played").parse()?;
    assert_eq!(
        watermarks(mesh.endpoints(), &topic, 3)?,
        [0, 0, 0],
        "the broker received nothing"
    );
    mesh.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_carry_their_key_and_the_mesh_headers() -> TestResult {
    let (mesh, dir) = mesh(None).await?;
    let domain = format!("music{}", unique());
    let producer = DomainProducer::connect(
        music_contract(dir.path(), &domain, "overwrite")?,
        mesh.endpoints(),
    )
    .await?;
    let publisher = producer.publisher::<Played>("played")?;
    let events: Vec<Played> = (0..40).map(played).collect();
    let deliveries = publisher.send_batch(&events).await?;
    assert_eq!(deliveries.len(), 40);
    let single = publisher
        .send_traced(
            &played(40),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .await?;
    let topic = publisher.topic().clone();
    let messages = read_topic(mesh.endpoints(), &topic, 3, 41)?;
    assert_eq!(messages.len(), 41);
    // One user's events share a partition (keyed by user_id).
    let mut partition_of: BTreeMap<String, i32> = BTreeMap::new();
    for m in &messages {
        let key = String::from_utf8(m.key().ok_or("no key")?.to_vec())?;
        assert_eq!(
            *partition_of.entry(key).or_insert(m.partition()),
            m.partition()
        );
        let payload = m.payload().ok_or("no payload")?;
        assert_eq!(payload[0], 0, "Confluent magic byte");
        assert_eq!(
            u32::from_be_bytes([payload[1], payload[2], payload[3], payload[4]]),
            publisher.schema_id().get()
        );
        let headers = m.headers().ok_or("no headers")?;
        let names: Vec<&str> = headers.iter().map(|h| h.key).collect();
        if m.offset() == single.offset && m.partition() == single.partition {
            assert_eq!(names.get(4), Some(&"traceparent"), "the traced event");
        }
        assert_eq!(
            names[..4],
            [
                "mesh-event-id",
                "mesh-producer-domain",
                "mesh-schema-id",
                "mesh-produced-at"
            ]
        );
    }
    assert_eq!(partition_of.len(), 4);
    assert!(
        messages
            .iter()
            .any(|m| m.offset() == single.offset && m.partition() == single.partition)
    );
    mesh.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_follow_each_write_mode() -> TestResult {
    let (mesh, dir) = mesh(None).await?;
    let catalog = CatalogClient::new(&mesh.endpoints().catalog_url)?;
    for mode in ["overwrite", "append", "merge"] {
        let domain = format!("{mode}{}", unique());
        let sub = dir.path().join(mode);
        std::fs::create_dir_all(&sub)?;
        let producer =
            DomainProducer::connect(music_contract(&sub, &domain, mode)?, mesh.endpoints()).await?;
        producer
            .snapshot(
                "songs",
                songs_batch(&[
                    (1, "One", "rock"),
                    (2, "Two", "jazz"),
                    (2, "Two again", "jazz"),
                ])?,
            )
            .await?;
        let second = producer
            .snapshot(
                "songs",
                Rows::Values(vec![
                    Value::Record(vec![
                        ("song_id".into(), Value::Long(2)),
                        ("title".into(), Value::String("Two, remastered".into())),
                        ("genre".into(), Value::String("jazz".into())),
                    ]),
                    Value::Record(vec![
                        ("song_id".into(), Value::Long(3)),
                        ("title".into(), Value::String("Three".into())),
                        ("genre".into(), Value::String("pop".into())),
                    ]),
                ]),
            )
            .await?;
        assert_eq!(second.version, 2, "{mode}");
        let id: ProductId = format!("{domain}.songs").parse()?;
        let uri = table_uri(&catalog, &id).await?;
        let rows = songs_in(&uri).await?;
        let titles: Vec<(i64, &str)> = rows.iter().map(|(id, t, _)| (*id, t.as_str())).collect();
        match mode {
            "overwrite" => assert_eq!(titles, [(2, "Two, remastered"), (3, "Three")]),
            "append" => assert_eq!(titles.len(), 5, "{titles:?}"),
            _ => assert_eq!(
                titles,
                [(1, "One"), (2, "Two, remastered"), (3, "Three")],
                "merge: keys unique, last write wins"
            ),
        }
        assert_eq!(
            second.rows,
            rows.len() as u64,
            "{mode}: the catalog's row count"
        );
        assert!(second.schema_id.is_some());
        producer.flush(Duration::from_secs(5))?;
    }
    mesh.shutdown().await?;
    Ok(())
}

/// [`SONG`] after a change the catalog accepts: a field with a default (the canonical
/// compatible change), a nullable one, and `title` relaxed to nullable.
const SONG_V2: &str = r#"{"type":"record","name":"Song","namespace":"mesh.test","fields":[
  {"name":"song_id","type":"long"},
  {"name":"title","type":["null","string"],"default":null},
  {"name":"genre","type":"string"},
  {"name":"label","type":["null","string"],"default":null},
  {"name":"plays","type":"long","default":0},
  {"name":"mood","type":["null","string"],"default":null}
]}"#;

/// An accepted schema change reaches the table in every write mode: applying it (a producer
/// of the new contract connecting, as `mesh contract apply` does) adds the columns and
/// relaxes `title` before any row of the new schema, so a query selects the new columns at
/// once with nulls for rows written before; a producer of the new contract stores them (and
/// a null title); a producer built before the change keeps writing, its rows null in the new
/// columns. python `deltalake` reads it all back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_changes_reach_the_table_for_old_and_new_writers() -> TestResult {
    let python = crate::support::python();
    let (mesh, dir) = mesh(None).await?;
    let catalog = CatalogClient::new(&mesh.endpoints().catalog_url)?;
    for mode in ["append", "merge", "overwrite"] {
        let domain = format!("evolve{mode}{}", unique());
        let (before, after) = (
            dir.path().join(format!("{mode}-v1")),
            dir.path().join(format!("{mode}-v2")),
        );
        std::fs::create_dir_all(&before)?;
        std::fs::create_dir_all(&after)?;
        let old =
            DomainProducer::connect(music_contract(&before, &domain, mode)?, mesh.endpoints())
                .await?;
        old.snapshot("songs", songs_batch(&[(1, "One", "rock")])?)
            .await?;

        let new = DomainProducer::connect(
            music_contract_with(&after, &domain, mode, SONG_V2)?,
            mesh.endpoints(),
        )
        .await?;
        let id: ProductId = format!("{domain}.songs").parse()?;
        let query = format!("SELECT song_id, title, plays, mood FROM {id} ORDER BY song_id");
        let consumer = DomainConsumer::connect(id.domain(), mesh.endpoints()).await?;
        let data = consumer.static_data();
        data.open(&id).await?;
        let rows = format_rows(&data.sql(&query).await?)?;
        assert_eq!(
            rows,
            ["1|One|null|null"],
            "{mode}: the applied change is visible at once"
        );

        new.snapshot(
            "songs",
            Rows::Values(vec![Value::Record(vec![
                ("song_id".into(), Value::Long(2)),
                ("title".into(), Value::Union(0, Box::new(Value::Null))),
                ("genre".into(), Value::String("jazz".into())),
                ("plays".into(), Value::Long(7)),
                (
                    "mood".into(),
                    Value::Union(1, Box::new(Value::String("calm".into()))),
                ),
            ])]),
        )
        .await?;
        // The producer built before the change writes on.
        old.snapshot("songs", songs_batch(&[(3, "Three", "pop")])?)
            .await?;

        data.open(&id).await?;
        let rows = format_rows(&data.sql(&query).await?)?;
        let expected: &[&str] = match mode {
            "overwrite" => &["3|Three|null|null"],
            _ => &["1|One|null|null", "2|null|7|calm", "3|Three|null|null"],
        };
        assert_eq!(rows, expected, "{mode}");

        if let Some(python) = &python {
            let uri = table_uri(&catalog, &id).await?;
            let (python, script_uri) = (python.clone(), uri.clone());
            let out = tokio::task::spawn_blocking(move || {
                crate::support::run_python(&python, "delta_read.py", &[&script_uri])
            })
            .await??;
            let read: serde_json::Value = serde_json::from_str(&out)?;
            let seen: Vec<String> = read["rows"]
                .as_array()
                .ok_or("no rows")?
                .iter()
                .map(|r| {
                    let text = |v: &serde_json::Value| v.as_str().unwrap_or("null").to_owned();
                    format!(
                        "{}|{}|{}|{}",
                        r["song_id"],
                        text(&r["title"]),
                        r["plays"],
                        text(&r["mood"])
                    )
                })
                .collect();
            assert_eq!(seen, expected, "{mode}: python deltalake");
        }
        old.flush(Duration::from_secs(5))?;
        new.flush(Duration::from_secs(5))?;
    }
    mesh.shutdown().await?;
    Ok(())
}

/// Rows as `a|b|c` lines, nulls as `null`.
pub(crate) fn format_rows(
    batches: &[RecordBatch],
) -> Result<Vec<String>, deltalake::arrow::error::ArrowError> {
    use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
    let options = FormatOptions::default().with_null("null");
    let mut out = Vec::new();
    for batch in batches {
        let columns = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            out.push(
                columns
                    .iter()
                    .map(|c| c.value(row).to_string())
                    .collect::<Vec<_>>()
                    .join("|"),
            );
        }
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_snapshot_leaves_table_and_catalog_as_they_were() -> TestResult {
    let (mesh, dir) = mesh(None).await?;
    let domain = format!("music{}", unique());
    let producer = DomainProducer::connect(
        music_contract(dir.path(), &domain, "overwrite")?,
        mesh.endpoints(),
    )
    .await?;
    producer
        .snapshot("songs", songs_batch(&[(1, "One", "rock")])?)
        .await?;
    let id: ProductId = format!("{domain}.songs").parse()?;
    let catalog = CatalogClient::new(&mesh.endpoints().catalog_url)?;
    let uri = table_uri(&catalog, &id).await?;

    // Rows that do not fit: a missing column, a wrong type, a null in a non-null column.
    let missing = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "song_id",
            DataType::Int64,
            false,
        )])),
        vec![Arc::new(Int64Array::from(vec![9]))],
    )?;
    let err = producer
        .snapshot("songs", missing)
        .await
        .expect_err("missing columns");
    assert!(err.to_string().contains("no column title"), "{err}");
    let err = producer
        .snapshot(
            "songs",
            Rows::Values(vec![Value::Record(vec![(
                "song_id".into(),
                Value::String("x".into()),
            )])]),
        )
        .await
        .expect_err("wrong type");
    assert!(err.to_string().contains("$.song_id"), "{err}");
    // Merge keys in a non-merge product do not apply; an unknown product is refused.
    assert!(matches!(
        producer.snapshot("albums", songs_batch(&[])?).await,
        Err(Error::UnknownProduct { .. })
    ));
    assert_eq!(
        songs_in(&uri).await?,
        [(1, "One".to_owned(), "rock".to_owned())]
    );
    assert_eq!(catalog.latest_table_version(&id).await?.version, 1);
    let table = deltalake::open_table(url::Url::parse(&uri)?).await?;
    assert_eq!(table.version(), Some(1), "no commit was made");
    mesh.shutdown().await?;
    Ok(())
}

/// Background compaction of an appender is size-tiered: each run merges what was appended since
/// the one before and leaves earlier runs' files alone, so its work stays the same however
/// large the table grows (merging everything each time made appends slower with every run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_compaction_leaves_earlier_runs_alone() -> TestResult {
    const RUNS: usize = 3;
    const APPENDS: i64 = 25; // the producer compacts after every 25 appends
    const ROWS: i64 = 200;
    let (mesh, dir) = mesh(None).await?;
    let domain = format!("music{}", unique());
    let writer = DomainProducer::connect(
        music_contract(dir.path(), &domain, "append")?,
        mesh.endpoints(),
    )
    .await?;
    let id: ProductId = format!("{domain}.songs").parse()?;
    let catalog = CatalogClient::new(&mesh.endpoints().catalog_url)?;
    let uri = table_uri(&catalog, &id).await?;
    // Rows that compress like real ones: a run's output is not much smaller than its inputs.
    let titles: Vec<String> = (0..RUNS as i64 * APPENDS * ROWS)
        .map(|i| format!("{:x}", (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)))
        .collect();
    let mut id = 0;
    for run in 1..=RUNS {
        for _ in 0..APPENDS {
            let rows: Vec<(i64, &str, &str)> = (id..id + ROWS)
                .map(|i| (i, titles[i as usize].as_str(), "rock"))
                .collect();
            id += ROWS;
            writer.snapshot("songs", songs_batch(&rows)?).await?;
        }
        if run == RUNS {
            // Closing waits for the background compaction: it is in the table at once.
            writer.close(Duration::from_secs(60)).await?;
            let table = deltalake::open_table(url::Url::parse(&uri)?).await?;
            let history: Vec<_> = table.history(None).try_collect().await?;
            let optimized = history
                .iter()
                .filter(|c| c.operation.as_deref() == Some("OPTIMIZE"))
                .count();
            assert_eq!(
                optimized, run,
                "close returned before compaction {run} committed"
            );
        }
        let mut compactions = 0;
        for _ in 0..600 {
            let table = deltalake::open_table(url::Url::parse(&uri)?).await?;
            let history: Vec<_> = table.history(None).try_collect().await?;
            compactions = history
                .iter()
                .filter(|c| c.operation.as_deref() == Some("OPTIMIZE"))
                .count();
            if compactions == run {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(compactions, run, "compaction {run} did not finish in 60 s");
    }
    let table = deltalake::open_table(url::Url::parse(&uri)?).await?;
    let files: Vec<usize> = table
        .snapshot()?
        .log_data()
        .iter()
        .map(|f| f.num_records().unwrap_or(0))
        .collect();
    let per_run = (APPENDS * ROWS) as usize;
    // Each run wrote its own file (it may have folded a leftover append into the previous
    // run's); no file holds two runs' rows, as one that merged everything would.
    assert!(files.len() >= RUNS, "{files:?}");
    assert!(files.iter().all(|&n| n < 2 * per_run), "{files:?}");
    let rows = songs_in(&uri).await?;
    assert_eq!(
        rows.len(),
        RUNS * per_run,
        "every appended row is there once"
    );
    mesh.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_compacts_next_to_an_appending_writer() -> TestResult {
    let (mesh, dir) = mesh(None).await?;
    let domain = format!("music{}", unique());
    let contract = music_contract(dir.path(), &domain, "append")?;
    let writer = DomainProducer::connect(contract.clone(), mesh.endpoints()).await?;
    // A second producer of the same domain: its own table handle, as another process would.
    let maintainer = DomainProducer::connect(contract, mesh.endpoints()).await?;
    for i in 0..12 {
        writer
            .snapshot(
                "songs",
                songs_batch(&[(i, "t", "rock"), (100 + i, "u", "pop")])?,
            )
            .await?;
    }
    let appending = tokio::spawn({
        let writer = writer.clone();
        async move {
            for i in 12..24 {
                let batch = songs_batch(&[(i, "t", "rock"), (100 + i, "u", "pop")])
                    .map_err(|e| e.to_string())?;
                writer
                    .snapshot("songs", batch)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(())
        }
    });
    let done = maintainer.maintain("songs", Duration::from_secs(0)).await?;
    appending.await??;
    assert!(done.files_compacted >= 12, "{done:?}");
    let id: ProductId = format!("{domain}.songs").parse()?;
    let catalog = CatalogClient::new(&mesh.endpoints().catalog_url)?;
    let uri = table_uri(&catalog, &id).await?;
    let rows = songs_in(&uri).await?;
    assert_eq!(rows.len(), 48, "every appended row is there once");
    mesh.shutdown().await?;
    Ok(())
}
