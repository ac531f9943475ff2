//! Crash tests: processes killed with SIGKILL at arbitrary points and restarted.
//!
//! The sink must end with exactly the produced rows (checked by python `deltalake`); an
//! at-least-once handler (`mesh tail`) must miss no event, and the duplicates it saw are
//! reported.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use datamesh::catalog::CatalogClient;
use datamesh::mesh_core::{Endpoints, ProductId};
use datamesh::producer_kit::DomainProducer;

use crate::producer::{PLAYED, contract, played};
use crate::support::{TestResult, mesh, python, run_python, table_uri, unique};

/// A small deterministic generator: the same "random" kill points on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, from: u64, to: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        from + (self.0 >> 33) % (to - from)
    }
}

fn mesh_command(endpoints: &Endpoints, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mesh"));
    command
        .args(args)
        .env(
            "MESH_KAFKA_BOOTSTRAP_SERVERS",
            &endpoints.kafka.bootstrap_servers,
        )
        .env("MESH_CATALOG_URL", &endpoints.catalog_url)
        .env("MESH_LAKE_URL", &endpoints.lake_url)
        .env("MESH_CONFIG", "/dev/null")
        .env("RUST_LOG", "error");
    command
}

/// Reads the child's stderr (to its end, echoing it) and signals once a line contains `line`.
fn said(child: &mut Child, line: &'static str) -> std::sync::mpsc::Receiver<()> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    if let Some(stderr) = child.stderr.take() {
        std::thread::spawn(move || {
            for text in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if text.contains(line) {
                    let _ = tx.send(());
                } else {
                    eprintln!("{text}");
                }
            }
        });
    }
    rx
}

/// Stops a child gracefully (SIGTERM) and waits for it.
fn terminate(mut child: Child) -> std::io::Result<std::process::ExitStatus> {
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()?;
    child.wait()
}

pub(crate) fn history_contract(
    dir: &std::path::Path,
    domain: &str,
) -> Result<datamesh::mesh_core::Contract, datamesh::mesh_core::Error> {
    contract(
        dir,
        &format!(
            "domain = \"{domain}\"\nowner = \"o\"\n[[streams]]\nname = \"played\"\nkey = \"user_id\"\nschema = \"played.avsc\"\npartitions = 3\n\
             [[products]]\nname = \"history\"\nschema = \"played.avsc\"\nmode = \"append\"\nstreams = [\"played\"]\nsource = \"played\"\n"
        ),
        &[("played.avsc", PLAYED)],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_killed_twenty_times_ends_with_exactly_the_produced_rows() -> TestResult {
    let Some(python) = python() else {
        return Ok(());
    };
    let (mesh, dir) = mesh(None).await?;
    let endpoints = mesh.endpoints().clone();
    let domain = format!("crash{}", unique());
    let producer =
        DomainProducer::connect(history_contract(dir.path(), &domain)?, &endpoints).await?;
    let publisher = producer.publisher("played")?;
    const EVENTS: i64 = 3_000;
    // Events keep coming while the sink is killed and restarted.
    let feeding = tokio::spawn(async move {
        for chunk in (0..EVENTS).collect::<Vec<_>>().chunks(100) {
            publisher
                .send_batch(&chunk.iter().map(|i| played(*i)).collect::<Vec<_>>())
                .await?;
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        Ok::<_, datamesh::producer_kit::Error>(())
    });

    let product = format!("{domain}.history");
    let mut rng = Lcg(0x5eed);
    for _ in 0..20 {
        let mut child = mesh_command(
            &endpoints,
            &["sink", &product, "--rows", "40", "--wait-ms", "50"],
        )
        .stdout(Stdio::null())
        .spawn()?;
        tokio::time::sleep(Duration::from_millis(rng.next(150, 900))).await;
        child.kill()?; // SIGKILL: no chance to finish the batch or say goodbye
        child.wait()?;
    }
    feeding.await??;

    // A last run, stopped gracefully once the table holds every event.
    let id: ProductId = product.parse()?;
    let catalog = CatalogClient::new(&endpoints.catalog_url)?;
    let mut child = mesh_command(
        &endpoints,
        &["sink", &product, "--rows", "500", "--wait-ms", "100"],
    )
    .env("RUST_LOG", "error,consumer_kit::sink=info")
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()?;
    // SIGTERM only once the sink is up: the killed runs may already have committed every
    // event, and a signal before the process reaches its handlers kills any program.
    let up = said(&mut child, "sink resuming from the table's offsets");
    let deadline = Instant::now() + Duration::from_secs(60);
    while catalog
        .latest_table_version(&id)
        .await
        .map(|v| v.rows)
        .unwrap_or(0)
        < EVENTS as u64
    {
        if Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    up.recv_timeout(Duration::from_secs(60))
        .map_err(|_| "the last sink never started")?;
    assert!(
        terminate(child)?.success(),
        "the sink stops cleanly on SIGTERM"
    );

    let uri = table_uri(&catalog, &id).await?;
    let apps: Vec<String> = (0..3)
        .map(|p| format!("mesh-sink:{domain}.played:{p}"))
        .collect();
    let mut args: Vec<String> = vec![uri, "song_id".to_owned()];
    args.extend(apps.iter().cloned());
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_python(&python, "delta_keys.py", &args)
    })
    .await??;
    let seen: serde_json::Value = serde_json::from_str(&out)?;
    assert_eq!(
        seen["rows"], EVENTS,
        "no row twice, none lost: {}",
        seen["transactions"]
    );
    assert_eq!(seen["distinct"], EVENTS);
    let keys: Vec<i64> = seen["keys"]
        .as_array()
        .ok_or("keys")?
        .iter()
        .filter_map(|k| k.as_i64())
        .collect();
    assert_eq!(keys, (0..EVENTS).collect::<Vec<_>>());
    let offsets: i64 = apps
        .iter()
        .map(|a| seen["transactions"][a].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(
        offsets, EVENTS,
        "the table's offsets cover every event exactly"
    );
    eprintln!(
        "sink crash test: 20 SIGKILLs, {EVENTS} rows exactly, table version {}",
        seen["version"]
    );
    mesh.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_at_least_once_handler_killed_twenty_times_misses_nothing() -> TestResult {
    let (mesh, dir) = mesh(None).await?;
    let endpoints = mesh.endpoints().clone();
    let domain = format!("alo{}", unique());
    let producer =
        DomainProducer::connect(history_contract(dir.path(), &domain)?, &endpoints).await?;
    const EVENTS: i64 = 2_000;
    let publisher = producer.publisher("played")?;
    // Events keep coming while the handler is killed and restarted.
    let feeding = tokio::spawn(async move {
        let mut deliveries = Vec::new();
        for chunk in (0..EVENTS).collect::<Vec<_>>().chunks(20) {
            deliveries.extend(
                publisher
                    .send_batch(&chunk.iter().map(|i| played(*i)).collect::<Vec<_>>())
                    .await?,
            );
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        Ok::<_, datamesh::producer_kit::Error>(deliveries)
    });
    let topic = format!("{domain}.played");
    let group = format!("alo{}", unique());
    let log = dir.path().join("seen.jsonl");
    let mut rng = Lcg(0xa10);
    let open_log = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
    };
    // A killed member holds its partitions until its session expires. A static member (the
    // same group.instance.id) that comes back takes them over at once instead.
    let config = dir.path().join("mesh.toml");
    std::fs::write(
        &config,
        "[kafka.options]\n\"session.timeout.ms\" = \"6000\"\n\"group.instance.id\" = \"tailer-1\"\n",
    )?;
    for _ in 0..20 {
        let mut child = mesh_command(
            &endpoints,
            &["tail", &topic, "--domain", "tailer", "--group", &group],
        )
        .env("MESH_CONFIG", &config)
        .stdout(open_log()?)
        .spawn()?;
        // The in-process broker assigns partitions ~3 s after a group (re)joins, once the
        // killed member's session has expired; kill at some point after that, while events
        // arrive.
        tokio::time::sleep(Duration::from_millis(rng.next(3_500, 5_500))).await;
        child.kill()?;
        child.wait()?;
    }
    let deliveries = feeding.await??;
    let ids = |text: &str| -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for line in text.lines() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
                && let Some(id) = v["event_id"].as_str()
            {
                *counts.entry(id.to_owned()).or_insert(0) += 1;
            }
        }
        counts
    };
    let child = mesh_command(
        &endpoints,
        &["tail", &topic, "--domain", "tailer", "--group", &group],
    )
    .env("MESH_CONFIG", &config)
    .stdout(open_log()?)
    .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while ids(&std::fs::read_to_string(&log)?).len() < EVENTS as usize && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    terminate(child)?;
    let counts = ids(&std::fs::read_to_string(&log)?);
    let missing = deliveries
        .iter()
        .filter(|d| !counts.contains_key(&d.event_id.to_string()))
        .count();
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    eprintln!(
        "at-least-once crash test: 20 SIGKILLs, {EVENTS} events, {missing} missing, {duplicates} handled twice or more"
    );
    assert_eq!(missing, 0);
    assert_eq!(counts.len(), EVENTS as usize);
    mesh.shutdown().await?;
    Ok(())
}
