//! Consumer-kit benchmark: decode+handle, per-key history + CUSUM, produce-to-handler
//! latency at a fixed rate, sink commit latency. One JSON object per measure on stdout, a
//! readable line on stderr.
//!
//! ```text
//! cargo bench --bench consumer                 # in-process broker
//! scripts/bench-consumer                       # on tansu, with the Python peer and ratios
//! ```
//! `BENCH_PAYLOADS` names a file to write the encoded payloads to, for the Python peer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// The process allocator: see the datamesh crate docs.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: datamesh::Jemalloc = datamesh::Jemalloc;

mod common;

use common::{env_usize, percentile, report};
use datamesh::LocalMesh;
use datamesh::consumer_kit::{
    CancellationToken, Cusum, Decoder, Detector, DomainConsumer, Event, FromAvro, Handler,
    HandlerError, History, Keep,
};
use datamesh::mesh_core::apache_avro::types::Value;
use datamesh::mesh_core::{Contract, DomainName, MeshConfig, ProductId, TopicName};
use datamesh::producer_kit::DomainProducer;
use serde::Serialize;

const EVENT: &str = r#"{"type":"record","name":"Played","namespace":"bench","fields":[
  {"name":"user_id","type":"string"},{"name":"song_id","type":"long"},{"name":"ms_played","type":"int"},
  {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"device","type":{"type":"enum","name":"Device","symbols":["MOBILE","DESKTOP","SPEAKER","WEB"]}},
  {"name":"country","type":"string"},{"name":"shuffle","type":"boolean"},{"name":"volume","type":"double"},
  {"name":"session_id","type":"string"},{"name":"sent_us","type":"long"}
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
    sent_us: i64,
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
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
        sent_us: now_us(),
    }
}

fn contract_text(domain: &str) -> String {
    format!(
        "domain = \"{domain}\"\nowner = \"bench\"\n[[streams]]\nname = \"played\"\nkey = \"user_id\"\nschema = \"event.avsc\"\npartitions = 3\n\
         [[products]]\nname = \"history\"\nschema = \"event.avsc\"\nmode = \"append\"\nstreams = [\"played\"]\nsource = \"played\"\n"
    )
}

/// Records produce-to-handler latency.
#[derive(Clone, Default)]
struct Latency {
    samples: Arc<Mutex<Vec<f64>>>,
    handled: Arc<AtomicU64>,
}

impl Handler for Latency {
    type Value = Value;

    async fn handle(&self, event: Event<Value>) -> Result<(), HandlerError> {
        if let Value::Record(fields) = &event.value
            && let Some((_, Value::Long(sent))) = fields.iter().find(|(n, _)| n == "sent_us")
        {
            let took = (now_us() - sent) as f64 / 1000.0;
            if let Ok(mut s) = self.samples.lock() {
                s.push(took);
            }
        }
        self.handled.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let events = env_usize("BENCH_EVENTS", 300_000);
    let dir = tempfile::tempdir()?;
    let mut config = MeshConfig::load()?;
    config.data_dir = Some(dir.path().to_owned());
    if config.kafka.bootstrap_servers.is_some() {
        // A real broker holds JoinGroup for half the session timeout.
        config
            .kafka
            .options
            .insert("session.timeout.ms".into(), "6000".into());
    }
    let mesh = LocalMesh::start(&config).await?;
    let broker = if mesh.kafka_is_embedded() {
        "in-process"
    } else {
        "external"
    };
    std::fs::write(dir.path().join("event.avsc"), EVENT)?;
    let domain = format!("cbench{}", std::process::id());
    std::fs::write(dir.path().join("contract.toml"), contract_text(&domain))?;
    let producer = DomainProducer::connect(
        Contract::load(dir.path().join("contract.toml"))?,
        mesh.endpoints(),
    )
    .await?;
    let publisher = producer.publisher::<Played>("played")?;

    // 1. Decode + a no-op handler, one core: payloads as they come off Kafka.
    let payloads: Vec<Vec<u8>> = (0..events as i64)
        .map(|i| publisher.encode(&event(i)))
        .collect::<Result<_, _>>()?;
    if let Ok(path) = std::env::var("BENCH_PAYLOADS") {
        let mut out = Vec::new();
        for p in &payloads {
            out.extend_from_slice(&(p.len() as u32).to_be_bytes());
            out.extend_from_slice(p);
        }
        std::fs::write(path, out)?;
    }
    let consumer = DomainConsumer::connect(
        DomainName::new(format!("{domain}-reader"))?,
        mesh.endpoints(),
    )
    .await?;
    let decoder = Decoder::new(consumer.catalog().clone());
    decoder.decode(&payloads[0]).await?;
    let noop = |v: Value| std::hint::black_box(v);
    let started = Instant::now();
    for p in &payloads {
        let (_, value) = decoder.decode(p).await?;
        noop(Value::from_avro(value)?);
    }
    let rate = events as f64 / started.elapsed().as_secs_f64();
    report(
        "decode_handle",
        rate,
        "events/s",
        serde_json::json!({ "threads": 1, "into": "avro value" }),
    );

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Typed {
        user_id: String,
        song_id: i64,
        ms_played: i32,
        volume: f64,
    }
    let started = Instant::now();
    for p in &payloads {
        let (_, value) = decoder.decode(p).await?;
        std::hint::black_box(datamesh::consumer_kit::Serde::<Typed>::from_avro(value)?);
    }
    let rate = events as f64 / started.elapsed().as_secs_f64();
    report(
        "decode_handle_typed",
        rate,
        "events/s",
        serde_json::json!({ "threads": 1, "into": "serde struct" }),
    );

    // 2. Per-key history (last 50) + CUSUM, 100,000 keys, one core.
    let checks = env_usize("BENCH_CHECKS", 2_000_000);
    let mut history: History<u32, f64> = History::new(Keep::Last(50), 100_000);
    let cusum = Cusum::default();
    let mut window = Vec::with_capacity(50);
    let mut anomalies = 0u64;
    let mut x = 0x9e37_79b9_u32;
    let started = Instant::now();
    for i in 0..checks {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let key = x % 100_000;
        let value = 10.0 + f64::from(x % 1000) / 1000.0 + if i % 10_007 == 0 { 50.0 } else { 0.0 };
        let values = history.record(&key, i as i64, value);
        window.clear();
        window.extend(values.iter().map(|(_, v)| *v));
        if cusum.is_anomaly(&window) {
            anomalies += 1;
        }
    }
    let rate = checks as f64 / started.elapsed().as_secs_f64();
    report(
        "history50_cusum",
        rate,
        "checks/s",
        serde_json::json!({ "keys": 100_000, "threads": 1, "anomalies": anomalies }),
    );

    // 3. Sink commit latency over 300 commits of 100 rows.
    let commits = env_usize("BENCH_COMMITS", 300);
    let rows = (commits * 100) as i64;
    let sink_events: Vec<Played> = (0..rows).map(event).collect();
    for chunk in sink_events.chunks(10_000) {
        publisher.send_batch(chunk).await?;
    }
    let owner = DomainConsumer::connect(DomainName::new(domain.clone())?, mesh.endpoints()).await?;
    let product: ProductId = format!("{domain}.history").parse()?;
    let shutdown = CancellationToken::new();
    let sink = tokio::spawn(
        owner
            .sink(product.clone())
            .with_batch(100, 64 << 20, Duration::from_secs(5))
            .run(shutdown.clone()),
    );
    let catalog = owner.catalog().clone();
    let total_rows = rows as u64;
    let deadline = Instant::now() + Duration::from_secs(300);
    while catalog
        .latest_table_version(&product)
        .await
        .map(|v| v.rows)
        .unwrap_or(0)
        < total_rows
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shutdown.cancel();
    let summary = sink.await??;
    let window = (summary.first_commit_millis.len() / 6).max(1);
    let mut first: Vec<f64> = summary
        .first_commit_millis
        .iter()
        .take(window)
        .copied()
        .collect();
    let mut last: Vec<f64> = summary
        .last_commit_millis
        .iter()
        .rev()
        .take(window)
        .copied()
        .collect();
    first.sort_by(f64::total_cmp);
    last.sort_by(f64::total_cmp);
    report(
        "sink_commit_latency",
        percentile(&last, 50.0),
        "ms (p50, last commits)",
        serde_json::json!({
            "commits": summary.commits, "rows": summary.rows, "window": window,
            "first_p50_ms": percentile(&first, 50.0), "first_p99_ms": percentile(&first, 99.0),
            "last_p50_ms": percentile(&last, 50.0), "last_p99_ms": percentile(&last, 99.0),
        }),
    );
    // 4. Produce -> handler latency at a fixed rate, through the broker.
    let rate_per_s = env_usize("BENCH_RATE", 200_000);
    let seconds = env_usize("BENCH_SECONDS", 3);
    let topic: TopicName = format!("{domain}.played").parse()?;
    let handler = Latency::default();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(
        consumer
            .subscribe(vec![topic])
            .with_start_from(datamesh::consumer_kit::StartFrom::Latest)
            .run(handler.clone(), shutdown.clone()),
    );
    // Wait for the group to form (about 3 s on either broker) before timing.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let per_tick = (rate_per_s / 100).max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut sent = 0usize;
    // Two seconds of warm-up at the rate (the group settles, caches fill), not measured.
    let warm_up = rate_per_s * 2;
    while sent < warm_up + rate_per_s * seconds {
        tick.tick().await;
        if sent == warm_up {
            let deadline = Instant::now() + Duration::from_secs(30);
            while handler.handled.load(Ordering::Relaxed) < sent as u64 && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if let Ok(mut s) = handler.samples.lock() {
                s.clear();
            }
        }
        let batch: Vec<Played> = (0..per_tick).map(|i| event((sent + i) as i64)).collect();
        publisher.send_batch(&batch).await?;
        sent += per_tick;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while handler.handled.load(Ordering::Relaxed) < sent as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    running.await??;
    let mut samples = handler
        .samples
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default();
    samples.sort_by(f64::total_cmp);
    report(
        "produce_to_handler_p99",
        percentile(&samples, 99.0),
        "ms",
        serde_json::json!({ "broker": broker, "rate": rate_per_s, "events": samples.len(), "p50_ms": percentile(&samples, 50.0), "p99_ms": percentile(&samples, 99.0) }),
    );

    producer.flush(Duration::from_secs(10))?;
    mesh.shutdown().await?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run())
}
