//! Producer-kit benchmark: validate+encode, publish throughput, bulk snapshot, commit
//! latency over many appends. Prints one JSON object per measure on stdout (the comparison
//! script reads them) and a readable line on stderr.
//!
//! ```text
//! cargo bench --bench producer                    # in-process broker
//! MESH_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 cargo bench --bench producer
//! scripts/bench-producer                          # this and the Python peer, with ratios
//! ```
//! Sizes: `BENCH_EVENTS` (default 1000000), `BENCH_ROWS` (1000000), `BENCH_APPENDS` (300);
//! publishing: `BENCH_LANES` concurrent tasks (2) sending batches of `BENCH_BATCH` (10000);
//! `BENCH_RAW=1` adds librdkafka alone (unkeyed, no headers) as a floor.

use std::sync::Arc;
use std::time::{Duration, Instant};

// The process allocator: see the datamesh crate docs.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: datamesh::Jemalloc = datamesh::Jemalloc;

mod common;

use common::{env_usize, percentile, report};
use datamesh::LocalMesh;
use datamesh::mesh_core::apache_avro::types::Value;
use datamesh::mesh_core::{AvroSchema, Contract, MeshConfig};
use datamesh::producer_kit::DomainProducer;
use deltalake::arrow::array::{Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema};
use serde::Serialize;

const EVENT: &str = r#"{"type":"record","name":"Played","namespace":"bench","fields":[
  {"name":"user_id","type":"string"},{"name":"song_id","type":"long"},{"name":"ms_played","type":"int"},
  {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"device","type":{"type":"enum","name":"Device","symbols":["MOBILE","DESKTOP","SPEAKER","WEB"]}},
  {"name":"country","type":"string"},{"name":"shuffle","type":"boolean"},{"name":"volume","type":"double"},
  {"name":"session_id","type":"string"},{"name":"context","type":["null","string"],"default":null}
]}"#;

const ROW: &str = r#"{"type":"record","name":"Play","namespace":"bench","fields":[
  {"name":"user_id","type":"string"},{"name":"song_id","type":"long"},{"name":"ms_played","type":"int"},
  {"name":"at","type":"long"},{"name":"country","type":"string"},{"name":"volume","type":"double"}
]}"#;

#[derive(Serialize, Clone)]
struct Played {
    user_id: String,
    song_id: i64,
    ms_played: i32,
    at: i64,
    device: &'static str,
    country: &'static str,
    shuffle: bool,
    volume: f64,
    session_id: String,
    context: Option<String>,
}

fn event(i: i64) -> Played {
    Played {
        user_id: format!("user-{}", i % 10_000),
        song_id: i % 50_000,
        ms_played: i32::try_from(i % 300_000).unwrap_or(0),
        at: 1_700_000_000_000 + i,
        device: ["MOBILE", "DESKTOP", "SPEAKER", "WEB"][(i % 4) as usize],
        country: "FR",
        shuffle: i % 2 == 0,
        volume: 0.75,
        session_id: format!("s-{}", i / 20),
        context: (i % 3 == 0).then(|| "playlist:focus".to_owned()),
    }
}

fn event_value(i: i64) -> Value {
    let e = event(i);
    Value::Record(vec![
        ("user_id".into(), Value::String(e.user_id)),
        ("song_id".into(), Value::Long(e.song_id)),
        ("ms_played".into(), Value::Int(e.ms_played)),
        ("at".into(), Value::TimestampMillis(e.at)),
        ("device".into(), Value::String(e.device.into())),
        ("country".into(), Value::String(e.country.into())),
        ("shuffle".into(), Value::Boolean(e.shuffle)),
        ("volume".into(), Value::Double(e.volume)),
        ("session_id".into(), Value::String(e.session_id)),
        (
            "context".into(),
            e.context.map_or(Value::Null, Value::String),
        ),
    ])
}

/// CPU time this process has used so far (user + system, all threads), where the platform
/// tells (Linux `/proc/self/stat`, in clock ticks of 10 ms).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name and state.
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

fn encode_benchmarks(events: usize) -> Result<(), Box<dyn std::error::Error>> {
    let schema = AvroSchema::parse_record(EVENT, "bench")?;
    let typed: Vec<Played> = (0..events as i64).map(event).collect();
    let values: Vec<Value> = (0..events as i64).map(event_value).collect();
    let mut buf = Vec::with_capacity(256);

    // Warm up (compiles the schema once).
    schema.encode_serde_into(&typed[0], &mut buf)?;
    let started = Instant::now();
    let mut bytes = 0usize;
    for e in &typed {
        buf.clear();
        schema.encode_serde_into(e, &mut buf)?;
        bytes += buf.len();
    }
    let rate = events as f64 / started.elapsed().as_secs_f64();
    report(
        "validate_encode_serde",
        rate,
        "records/s",
        serde_json::json!({ "bytes": bytes, "threads": 1 }),
    );

    let started = Instant::now();
    for v in &values {
        buf.clear();
        schema.encode_into(v, &mut buf)?;
    }
    let rate = events as f64 / started.elapsed().as_secs_f64();
    report(
        "validate_encode_value",
        rate,
        "records/s",
        serde_json::json!({ "threads": 1 }),
    );

    // apache-avro's own Value path, for reference: a writer built once, values validated.
    let writer = datamesh::mesh_core::apache_avro::writer::datum::GenericDatumWriter::builder(
        schema.schema(),
    )
    .build()?;
    let conformed: Vec<Value> = values
        .iter()
        .map(|v| schema.conform(v.clone()))
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    for v in &conformed {
        buf.clear();
        writer.write_value_ref(&mut buf, v)?;
    }
    let rate = events as f64 / started.elapsed().as_secs_f64();
    report(
        "apache_avro_value_reference",
        rate,
        "records/s",
        serde_json::json!({ "threads": 1 }),
    );
    Ok(())
}

fn contract_text(domain: &str) -> String {
    format!(
        "domain = \"{domain}\"\nowner = \"bench\"\n[[streams]]\nname = \"played\"\nkey = \"user_id\"\nschema = \"event.avsc\"\npartitions = 3\n\
         [[products]]\nname = \"plays\"\nschema = \"row.avsc\"\nmode = \"overwrite\"\n\
         [[products]]\nname = \"appends\"\nschema = \"row.avsc\"\nmode = \"append\"\n"
    )
}

fn rows_batch(
    rows: usize,
    offset: usize,
) -> Result<RecordBatch, deltalake::arrow::error::ArrowError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("song_id", DataType::Int64, false),
        Field::new("ms_played", DataType::Int32, false),
        Field::new("at", DataType::Int64, false),
        Field::new("country", DataType::Utf8, false),
        Field::new("volume", DataType::Float64, false),
    ]));
    let ids = (offset..offset + rows).map(|i| i as i64);
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                ids.clone().map(|i| format!("user-{}", i % 10_000)),
            )),
            Arc::new(Int64Array::from_iter_values(
                ids.clone().map(|i| i % 50_000),
            )),
            Arc::new(Int32Array::from_iter_values(
                ids.clone().map(|i| (i % 300_000) as i32),
            )),
            Arc::new(Int64Array::from_iter_values(
                ids.clone().map(|i| 1_700_000_000_000 + i),
            )),
            Arc::new(StringArray::from_iter_values(ids.clone().map(|_| "FR"))),
            Arc::new(Float64Array::from_iter_values(ids.map(|_| 0.75))),
        ],
    )
}

async fn mesh_benchmarks(
    events: usize,
    rows: usize,
    appends: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut config = MeshConfig::load()?;
    config.data_dir = Some(dir.path().to_owned());
    let mesh = LocalMesh::start(&config).await?;
    let broker = if mesh.kafka_is_embedded() {
        "in-process"
    } else {
        "external"
    };
    std::fs::write(dir.path().join("event.avsc"), EVENT)?;
    std::fs::write(dir.path().join("row.avsc"), ROW)?;
    let domain = format!("bench{}", std::process::id());
    let contract_path = dir.path().join("contract.toml");
    std::fs::write(&contract_path, contract_text(&domain))?;
    let producer =
        DomainProducer::connect(Contract::load(&contract_path)?, mesh.endpoints()).await?;

    // Publish: batches of 10,000 events from two tasks (one validates and encodes while the
    // other's batch is in flight), each batch resolved when the broker acknowledged all.
    let publisher = producer.publisher::<Played>("played")?;
    let typed: Arc<Vec<Played>> = Arc::new((0..events as i64).map(event).collect());
    publisher.send_batch(&typed[..1000.min(events)]).await?;
    let lanes = env_usize("BENCH_LANES", 2).max(1);
    let batch = env_usize("BENCH_BATCH", 10_000).max(1);
    let (started, cpu_before) = (Instant::now(), cpu_seconds());
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..lanes {
        let (publisher, typed) = (publisher.clone(), Arc::clone(&typed));
        tasks.spawn(async move {
            for chunk in typed.chunks(batch).skip(lane).step_by(lanes) {
                publisher.send_batch(chunk).await?;
            }
            Ok::<_, datamesh::producer_kit::Error>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // CPU of this process (publishing threads, librdkafka's threads) per event, and how many
    // of the machine's cores it kept busy; the broker's own CPU is not in it.
    let cpu = cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    report(
        "publish_acknowledged",
        events as f64 / elapsed,
        "events/s",
        serde_json::json!({
            "broker": broker, "batch": batch, "tasks": lanes,
            "cpu_us_per_event": cpu.map(|c| c * 1e6 / events as f64),
            "cores_busy": cpu.map(|c| c / elapsed),
        }),
    );

    // The floor: librdkafka alone, with the producer's settings, pre-encoded payloads, no
    // headers and one delivery future per message.
    if std::env::var_os("BENCH_RAW").is_some() {
        use rdkafka::producer::{FutureProducer, FutureRecord};
        let mut cfg = rdkafka::ClientConfig::new();
        for (k, v) in mesh.endpoints().kafka.client_settings(
            &[
                ("linger.ms", "5"),
                (
                    "compression.type",
                    std::env::var("BENCH_COMPRESSION")
                        .as_deref()
                        .unwrap_or("lz4"),
                ),
            ],
            &[],
        )? {
            cfg.set(k, v);
        }
        cfg.set("enable.idempotence", "true").set("acks", "all");
        let raw: FutureProducer = cfg.create()?;
        let payloads: Vec<Vec<u8>> = typed
            .iter()
            .map(|e| publisher.encode(e))
            .collect::<Result<_, _>>()?;
        let topic = publisher.topic().to_string();
        let started = Instant::now();
        for chunk in payloads.chunks(10_000) {
            let mut futures = Vec::with_capacity(chunk.len());
            for p in chunk {
                match raw.send_result(FutureRecord::<(), _>::to(&topic).payload(p)) {
                    Ok(f) => futures.push(f),
                    Err((e, _)) => return Err(e.into()),
                }
            }
            for f in futures {
                let _ = f.await;
            }
        }
        let rate = events as f64 / started.elapsed().as_secs_f64();
        report(
            "publish_raw_librdkafka",
            rate,
            "events/s",
            serde_json::json!({ "broker": broker }),
        );
    }

    // Bulk snapshot: one overwrite of `rows` rows.
    let batch = rows_batch(rows, 0)?;
    let started = Instant::now();
    producer.snapshot("plays", batch).await?;
    let rate = rows as f64 / started.elapsed().as_secs_f64();
    report(
        "snapshot_bulk",
        rate,
        "rows/s",
        serde_json::json!({ "rows": rows }),
    );

    // Many appends of 1,000 rows: commit latency at the start and at the end.
    let mut latencies = Vec::with_capacity(appends);
    for i in 0..appends {
        let batch = rows_batch(1000, i * 1000)?;
        let started = Instant::now();
        producer.snapshot("appends", batch).await?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let window = (appends / 6).max(1);
    // The p50 of each sixth: the shape between the first and the last.
    let windows: Vec<f64> = latencies
        .chunks_exact(window)
        .take(6)
        .map(|chunk| {
            let mut chunk = chunk.to_vec();
            chunk.sort_by(f64::total_cmp);
            percentile(&chunk, 50.0)
        })
        .collect();
    let mut first: Vec<f64> = latencies[..window].to_vec();
    let mut last: Vec<f64> = latencies[appends - window..].to_vec();
    first.sort_by(f64::total_cmp);
    last.sort_by(f64::total_cmp);
    report(
        "append_commit_latency",
        percentile(&last, 50.0),
        "ms (p50, last commits)",
        serde_json::json!({
            "appends": appends, "window": window,
            "first_p50_ms": percentile(&first, 50.0), "first_p99_ms": percentile(&first, 99.0),
            "last_p50_ms": percentile(&last, 50.0), "last_p99_ms": percentile(&last, 99.0),
            "window_p50_ms": windows,
        }),
    );
    producer.flush(Duration::from_secs(10))?;
    mesh.shutdown().await?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events = env_usize("BENCH_EVENTS", 1_000_000);
    let rows = env_usize("BENCH_ROWS", 1_000_000);
    let appends = env_usize("BENCH_APPENDS", 300);
    encode_benchmarks(events)?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(mesh_benchmarks(events, rows, appends))
}
