//! Faults survived, nothing lost: brokers killed, restarted, paused and topics re-created
//! under running producers, consumers and sinks; the catalog away; the lake refusing
//! writes. Each test runs real parts (tansu brokers of its own, as `scripts/test` provides
//! them) and counts: events produced = events stored, no duplicates where exactly-once is
//! promised. The fault trial (`../shared/reports/fault-trial.md`) found what these guard.
//!
//! Tests named `persistent_broker_*` need tansu with SQLite storage, which `scripts/test`
//! builds from source: it runs them last, once that build is done.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use datamesh::mesh_core::Endpoints;
use datamesh::producer_kit::DomainProducer;
use rdkafka::config::ClientConfig;

use crate::crash::history_contract;
use crate::producer::played;
use crate::support::{Broker, Storage, TestResult, mesh, python, run_python, unique};

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
        .env("RUST_LOG", "warn");
    command
}

/// A child process killed if the test ends (or fails) before stopping it.
struct Guarded(Option<Child>);

impl Guarded {
    fn child(&mut self) -> &mut Child {
        self.0
            .as_mut()
            .unwrap_or_else(|| unreachable!("taken only by stop"))
    }

    fn take(mut self) -> Child {
        self.0
            .take()
            .unwrap_or_else(|| unreachable!("taken only once"))
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits for a child, at most `within`; `None` if it is still running then.
fn wait_for(
    child: &mut Child,
    within: Duration,
) -> std::io::Result<Option<std::process::ExitStatus>> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() > deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_alive(child: &mut Child, what: &str) -> TestResult {
    if let Some(status) = child.try_wait()? {
        use std::os::unix::process::ExitStatusExt;
        return Err(format!("{what} died: {status} (signal {:?})", status.signal()).into());
    }
    Ok(())
}

/// Stops a child with SIGTERM; it must exit cleanly within `within`.
fn stop(mut child: Child, within: Duration, what: &str) -> TestResult {
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()?;
    match wait_for(&mut child, within)? {
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(format!("{what} ended with {status} after SIGTERM").into()),
        None => {
            let _ = child.kill();
            Err(format!("{what} did not stop within {within:?} of SIGTERM").into())
        }
    }
}

/// The event ids `mesh tail` printed so far.
fn printed(path: &std::path::Path) -> HashSet<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["event_id"].as_str().map(str::to_owned))
        .collect()
}

async fn until<F: Fn() -> bool>(what: &str, within: Duration, done: F) -> TestResult {
    let deadline = Instant::now() + within;
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting until {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Sends `count` messages that are not in the Confluent wire format: a consumer puts them in
/// its dead-letter topic, which takes its own producer through the fault too.
async fn garbage(bootstrap: &str, topic: &str, count: usize) -> TestResult {
    let producer: rdkafka::producer::FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    for i in 0..count {
        let payload = format!("not avro {i}");
        producer
            .send(
                rdkafka::producer::FutureRecord::<(), _>::to(topic).payload(&payload),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)?;
    }
    Ok(())
}

/// The fault trial's critical finding: `kill -9` of a memory broker under a running consumer
/// made the process die by SIGSEGV (librdkafka, `rd_kafka_metadata_cache_find` with a NULL
/// topic name; see vendor/README.md). The restarted broker has no topics; they come back
/// with new topic ids. A consumer process must carry on and read what is published after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_survives_a_broker_restart_and_reads_on() -> TestResult {
    let Some(mut broker) = Broker::start(Storage::Memory).await? else {
        return Ok(());
    };
    let (mesh, dir) = mesh(Some(broker.bootstrap())).await?;
    let endpoints = mesh.endpoints().clone();
    let domain = format!("restart{}", unique());
    let contract = history_contract(dir.path(), &domain)?;
    let producer = DomainProducer::connect(contract.clone(), &endpoints).await?;
    let topic = format!("{domain}.played");
    producer
        .publisher("played")?
        .send_batch(&(0..50).map(played).collect::<Vec<_>>())
        .await?;
    garbage(&broker.bootstrap(), &topic, 5).await?;

    let out = dir.path().join("tail.jsonl");
    // A short delivery timeout: the restarted memory broker has forgotten the dead-letter
    // producer's id, and librdkafka retries a write it had in flight until that timeout
    // (two minutes by default), then the kit writes it again with a fresh id.
    let config = dir.path().join("mesh.toml");
    std::fs::write(
        &config,
        "[kafka.options]\n\"message.timeout.ms\" = \"5000\"\n",
    )?;
    let mut tail = Guarded(Some(
        mesh_command(&endpoints, &["tail", &topic])
            .env("MESH_CONFIG", &config)
            .stdout(std::fs::File::create(&out)?)
            .stderr(std::fs::File::create(dir.path().join("tail.log"))?)
            .spawn()?,
    ));
    until("the tail prints", Duration::from_secs(60), || {
        printed(&out).len() >= 50
    })
    .await?;

    // Fetching when the broker dies and comes back empty: the crash window.
    broker.kill()?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    broker.restart().await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_alive(tail.child(), "mesh tail")?;

    // The topic comes back (the contract is applied again) and new events are read.
    let producer = DomainProducer::connect(contract, &endpoints).await?;
    let after = producer
        .publisher("played")?
        .send_batch(&(1000..1050).map(played).collect::<Vec<_>>())
        .await?;
    let wanted: HashSet<String> = after.iter().map(|d| d.event_id.to_string()).collect();
    garbage(&broker.bootstrap(), &topic, 5).await?;
    until(
        "the tail prints events published after the restart",
        Duration::from_secs(90),
        || printed(&out).is_superset(&wanted),
    )
    .await
    .map_err(|e| {
        format!(
            "{e}; its log:\n{}",
            std::fs::read_to_string(dir.path().join("tail.log")).unwrap_or_default()
        )
    })?;
    assert_alive(tail.child(), "mesh tail")?;
    // Its dead-letter writes went through the restart too; SIGTERM still stops it promptly
    // (it used to wait out librdkafka's five-minute delivery timeout, per dead letter).
    stop(tail.take(), Duration::from_secs(30), "mesh tail")?;
    mesh.shutdown().await?;
    Ok(())
}

/// A topic deleted and created again (a new topic id) under a running consumer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_survives_its_topic_being_re_created() -> TestResult {
    let Some(broker) = Broker::start(Storage::Memory).await? else {
        return Ok(());
    };
    let (mesh, dir) = mesh(Some(broker.bootstrap())).await?;
    let endpoints = mesh.endpoints().clone();
    let domain = format!("recreate{}", unique());
    let contract = history_contract(dir.path(), &domain)?;
    let producer = DomainProducer::connect(contract.clone(), &endpoints).await?;
    let topic = format!("{domain}.played");
    producer
        .publisher("played")?
        .send_batch(&(0..20).map(played).collect::<Vec<_>>())
        .await?;
    let out = dir.path().join("tail.jsonl");
    let mut tail = Guarded(Some(
        mesh_command(&endpoints, &["tail", &topic])
            .env("RUST_LOG", "info,librdkafka=info")
            .stdout(std::fs::File::create(&out)?)
            .stderr(std::fs::File::create(dir.path().join("tail.log"))?)
            .spawn()?,
    ));
    until("the tail prints", Duration::from_secs(60), || {
        printed(&out).len() >= 20
    })
    .await?;

    let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        ClientConfig::new()
            .set("bootstrap.servers", broker.bootstrap())
            .create()?;
    let deleted = admin
        .delete_topics(&[&topic], &rdkafka::admin::AdminOptions::new())
        .await?;
    assert!(deleted.iter().all(Result::is_ok), "{deleted:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_alive(tail.child(), "mesh tail")?;
    let producer2 = DomainProducer::connect(contract, &endpoints).await?;
    drop(producer);
    // The group's committed offsets outlive the topic on tansu, and it does not answer a
    // fetch past the new topic's end as out of range: the tail carries on from where it was,
    // so the new topic must grow past that before it has something to print.
    let after = producer2
        .publisher("played")?
        .send_batch(&(500..700).map(played).collect::<Vec<_>>())
        .await?;
    let new_ids: HashSet<String> = after.iter().map(|d| d.event_id.to_string()).collect();
    until(
        "the tail prints events of the new topic",
        Duration::from_secs(90),
        || !printed(&out).is_disjoint(&new_ids),
    )
    .await
    .map_err(|e| {
        format!(
            "{e}; its log:\n{}",
            std::fs::read_to_string(dir.path().join("tail.log")).unwrap_or_default()
        )
    })?;
    assert_alive(tail.child(), "mesh tail")?;
    stop(tail.take(), Duration::from_secs(30), "mesh tail")?;
    mesh.shutdown().await?;
    Ok(())
}

/// A broker that keeps its data is killed and restarted while a producer publishes 200,000
/// events with acks=all and idempotence: every event is in the topic exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_broker_killed_mid_publish_loses_and_duplicates_nothing() -> TestResult {
    let Some(mut broker) = Broker::start(Storage::Sqlite).await? else {
        return Ok(());
    };
    let (mesh, dir) = mesh(Some(broker.bootstrap())).await?;
    let endpoints = mesh.endpoints().clone();
    let domain = format!("kill{}", unique());
    let producer =
        DomainProducer::connect(history_contract(dir.path(), &domain)?, &endpoints).await?;
    let publisher = producer.publisher("played")?;
    const EVENTS: i64 = 200_000;
    let publishing = tokio::spawn(async move {
        let mut delivered = 0usize;
        for chunk in (0..EVENTS).collect::<Vec<_>>().chunks(5_000) {
            delivered += publisher
                .send_batch(&chunk.iter().map(|i| played(*i)).collect::<Vec<_>>())
                .await?
                .len();
        }
        Ok::<_, datamesh::producer_kit::Error>(delivered)
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    broker.kill()?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    broker.restart().await?;
    let delivered = tokio::time::timeout(Duration::from_secs(300), publishing).await???;
    assert_eq!(delivered, EVENTS as usize, "every send was acknowledged");
    // What the broker stored, from its own database (tansu 0.6 does not serve records written
    // before a restart to new readers: see tansu_stored.py).
    let topic = format!("{domain}.played");
    broker.kill()?;
    let Some(python) = python() else {
        return Ok(());
    };
    let database = broker.database().display().to_string();
    let out = tokio::task::spawn_blocking(move || {
        run_python(&python, "tansu_stored.py", &[&database, &topic])
    })
    .await??;
    let stored: serde_json::Value = serde_json::from_str(&out)?;
    let (total, distinct) = (stored["messages"].as_i64(), stored["distinct"].as_i64());
    assert_eq!(
        (total, distinct),
        (Some(EVENTS), Some(EVENTS)),
        "stored once each"
    );
    eprintln!(
        "broker killed mid-publish: {EVENTS} events sent, {total:?} stored, {distinct:?} distinct"
    );
    mesh.shutdown().await?;
    Ok(())
}

/// An outage past the delivery timeout is one clear error naming what was not delivered,
/// and the publisher works again once the broker is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_past_the_delivery_timeout_is_one_clear_error() -> TestResult {
    let Some(broker) = Broker::start(Storage::Memory).await? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let mut config = datamesh::mesh_core::MeshConfig::default();
    config.data_dir = Some(dir.path().to_owned());
    config.kafka.bootstrap_servers = Some(broker.bootstrap());
    config
        .kafka
        .options
        .insert("message.timeout.ms".into(), "3000".into());
    let mesh = datamesh::LocalMesh::start(&config).await?;
    let endpoints = mesh.endpoints().clone();
    let domain = format!("timeout{}", unique());
    let producer =
        DomainProducer::connect(history_contract(dir.path(), &domain)?, &endpoints).await?;
    let publisher = producer.publisher("played")?;
    publisher.send(&played(0)).await?;
    broker.pause()?;
    let started = Instant::now();
    let err = publisher
        .send_batch(&(1..101).map(played).collect::<Vec<_>>())
        .await
        .expect_err("the broker is frozen");
    broker.resume()?;
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "100 of 100 events to {domain}.played were not delivered"
        )),
        "{text}"
    );
    assert!(text.contains("delivery timeout"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    match &err {
        datamesh::producer_kit::Error::Undelivered(u) => assert_eq!(u.undelivered.len(), 100),
        other => return Err(format!("not Undelivered: {other:?}").into()),
    }
    // tansu fences the idempotent producer once its messages timed out (real Kafka bumps
    // the producer's epoch instead): connecting again is what an application does then.
    let again = DomainProducer::connect(history_contract(dir.path(), &domain)?, &endpoints).await?;
    again.publisher("played")?.send(&played(200)).await?;
    mesh.shutdown().await?;
    Ok(())
}

/// The sink keeps exactly-once across a restart of a broker that keeps its data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_broker_restart_the_sink_resumes_exactly_once() -> TestResult {
    let Some(mut broker) = Broker::start(Storage::Sqlite).await? else {
        return Ok(());
    };
    let (mesh, dir) = mesh(Some(broker.bootstrap())).await?;
    let endpoints = mesh.endpoints().clone();
    let domain = format!("sinkrestart{}", unique());
    let producer =
        DomainProducer::connect(history_contract(dir.path(), &domain)?, &endpoints).await?;
    let publisher = producer.publisher("played")?;
    let product = format!("{domain}.history");
    let mut sink = Guarded(Some(
        mesh_command(
            &endpoints,
            &["sink", &product, "--rows", "500", "--wait-ms", "100"],
        )
        .stdout(Stdio::null())
        .spawn()?,
    ));
    const EVENTS: i64 = 6_000;
    let catalog = datamesh::catalog::CatalogClient::new(&endpoints.catalog_url)?;
    let id: datamesh::mesh_core::ProductId = product.parse()?;
    for chunk in (0..EVENTS / 2).collect::<Vec<_>>().chunks(500) {
        publisher
            .send_batch(&chunk.iter().map(|i| played(*i)).collect::<Vec<_>>())
            .await?;
    }
    broker.kill()?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    broker.restart().await?;
    for chunk in (EVENTS / 2..EVENTS).collect::<Vec<_>>().chunks(500) {
        publisher
            .send_batch(&chunk.iter().map(|i| played(*i)).collect::<Vec<_>>())
            .await?;
    }
    wait_for_rows(&catalog, &id, EVENTS as u64, sink.child()).await?;
    stop(sink.take(), Duration::from_secs(30), "mesh sink")?;
    let version = catalog.latest_table_version(&id).await?;
    assert_eq!(version.rows, EVENTS as u64, "no row lost or written twice");
    assert_eq!(
        version.offsets.iter().map(|o| o.offset).sum::<i64>(),
        EVENTS
    );
    mesh.shutdown().await?;
    Ok(())
}

/// Waits (up to two minutes) until the product's newest registered version holds `rows`
/// rows, the sink staying alive meanwhile.
async fn wait_for_rows(
    catalog: &datamesh::catalog::CatalogClient,
    id: &datamesh::mesh_core::ProductId,
    rows: u64,
    sink: &mut std::process::Child,
) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert_alive(sink, "mesh sink")?;
        let seen = catalog
            .latest_table_version(id)
            .await
            .map(|v| v.rows)
            .unwrap_or(0);
        if seen >= rows {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("the sink did not catch up: {seen} of {rows} rows").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn outage_contract(
    dir: &std::path::Path,
    domain: &str,
) -> Result<datamesh::mesh_core::Contract, datamesh::mesh_core::Error> {
    crate::producer::contract(
        dir,
        &format!(
            "domain = \"{domain}\"\nowner = \"o\"\n[[streams]]\nname = \"played\"\nkey = \"user_id\"\nschema = \"played.avsc\"\npartitions = 3\n\
             [[products]]\nname = \"history\"\nschema = \"played.avsc\"\nmode = \"append\"\nstreams = [\"played\"]\nsource = \"played\"\n\
             [[products]]\nname = \"daily\"\nschema = \"played.avsc\"\nmode = \"append\"\n"
        ),
        &[("played.avsc", crate::producer::PLAYED)],
    )
}

/// The catalog away for a while: publishing goes on, a snapshot commits and registers its
/// version once the catalog is back, the sink keeps committing and registers the newest
/// version after, a subscription keeps decoding the schema ids it has seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_outage_loses_nothing() -> TestResult {
    use datamesh::consumer_kit::{CancellationToken, DomainConsumer, Event, Handler, HandlerError};
    use datamesh::mesh_core::{DomainName, ProductId};
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(std::sync::Arc<AtomicUsize>);
    impl Handler for Counting {
        type Value = datamesh::mesh_core::apache_avro::types::Value;
        async fn handle(&self, _event: Event<Self::Value>) -> Result<(), HandlerError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    let mut server = crate::support::CatalogServer::start().await?;
    let dir = tempfile::tempdir()?;
    let mut config = datamesh::mesh_core::MeshConfig::default();
    config.data_dir = Some(dir.path().to_owned());
    config.catalog.url = Some(server.url());
    config
        .kafka
        .options
        .insert("session.timeout.ms".into(), "6000".into());
    let mesh = datamesh::LocalMesh::start(&config).await?;
    let endpoints = mesh.endpoints().clone();
    let domain = format!("outage{}", unique());
    let producer =
        DomainProducer::connect(outage_contract(dir.path(), &domain)?, &endpoints).await?;
    let publisher = producer.publisher("played")?;
    let catalog = datamesh::catalog::CatalogClient::new(&endpoints.catalog_url)?;
    let history: ProductId = format!("{domain}.history").parse()?;
    let daily: ProductId = format!("{domain}.daily").parse()?;

    let consumer = DomainConsumer::connect(DomainName::new(&domain)?, &endpoints).await?;
    let stop = CancellationToken::new();
    let sinking = tokio::spawn(
        consumer
            .sink(history.clone())
            .with_batch(200, 1 << 20, Duration::from_millis(100))
            .run(stop.clone()),
    );
    let handled = std::sync::Arc::new(AtomicUsize::new(0));
    let subscribed = tokio::spawn(
        consumer
            .subscribe(vec![format!("{domain}.played").parse()?])
            .with_group(format!("outage{}", unique()))
            .run(Counting(std::sync::Arc::clone(&handled)), stop.clone()),
    );
    publisher
        .send_batch(&(0..1000).map(played).collect::<Vec<_>>())
        .await?;
    let rows = |catalog: datamesh::catalog::CatalogClient, id: ProductId| async move {
        catalog
            .latest_table_version(&id)
            .await
            .map(|v| v.rows)
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while rows(catalog.clone(), history.clone()).await < 1000
        || handled.load(Ordering::SeqCst) < 1000
    {
        assert!(
            Instant::now() < deadline,
            "the sink and the subscription did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The outage.
    server.stop().await?;
    publisher
        .send_batch(&(1000..2000).map(played).collect::<Vec<_>>())
        .await?;
    let snapshot = {
        let producer = producer.clone();
        tokio::spawn(async move {
            let rows = producer.rows("daily", &(0..10).map(played).collect::<Vec<_>>())?;
            producer.snapshot("daily", rows).await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while handled.load(Ordering::SeqCst) < 2000 {
        assert!(
            Instant::now() < deadline,
            "the subscription stopped decoding while the catalog was away"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !sinking.is_finished(),
        "the sink stopped while the catalog was away"
    );
    server.resume().await?;

    let recorded = tokio::time::timeout(Duration::from_secs(60), snapshot).await???;
    assert_eq!(recorded.rows, 10);
    assert_eq!(
        catalog.latest_table_version(&daily).await?.version,
        recorded.version
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while rows(catalog.clone(), history.clone()).await < 2000 {
        assert!(
            Instant::now() < deadline,
            "the sink's newest version was not registered after the outage"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    let summary = sinking.await??;
    subscribed.await??;
    let version = catalog.latest_table_version(&history).await?;
    assert_eq!(
        (version.rows, summary.rows),
        (2000, 2000),
        "every event sunk once"
    );
    assert_eq!(version.offsets.iter().map(|o| o.offset).sum::<i64>(), 2000);
    mesh.shutdown().await?;
    Ok(())
}

/// Makes a directory tree unwritable, even for root (`chattr +i`), or with `chmod` where
/// `chattr` cannot (not root, or a file system without the attribute); undone on drop.
struct Unwritable {
    dir: std::path::PathBuf,
    chattr: bool,
}

impl Unwritable {
    fn new(dir: &std::path::Path) -> std::io::Result<Self> {
        let chattr = Command::new("chattr")
            .arg("-R")
            .arg("+i")
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !chattr {
            Command::new("chmod")
                .arg("-R")
                .arg("a-w")
                .arg(dir)
                .status()?;
        }
        Ok(Self {
            dir: dir.to_owned(),
            chattr,
        })
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        let _ = if self.chattr {
            Command::new("chattr")
                .arg("-R")
                .arg("-i")
                .arg(&self.dir)
                .status()
        } else {
            Command::new("chmod")
                .arg("-R")
                .arg("u+w")
                .arg(&self.dir)
                .status()
        };
    }
}

/// The table directory cannot be written for a while: the sink retries (it does not commit
/// offsets it did not write), and once the lake takes writes again it carries on with every
/// event exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sink_rides_out_a_lake_that_refuses_writes() -> TestResult {
    use datamesh::consumer_kit::{CancellationToken, DomainConsumer};
    use datamesh::mesh_core::{DomainName, ProductId};

    let (mesh, dir) = mesh(None).await?;
    let endpoints = mesh.endpoints().clone();
    let domain = format!("lake{}", unique());
    let producer =
        DomainProducer::connect(history_contract(dir.path(), &domain)?, &endpoints).await?;
    let publisher = producer.publisher("played")?;
    let catalog = datamesh::catalog::CatalogClient::new(&endpoints.catalog_url)?;
    let history: ProductId = format!("{domain}.history").parse()?;
    let consumer = DomainConsumer::connect(DomainName::new(&domain)?, &endpoints).await?;
    let stop = CancellationToken::new();
    let sinking = tokio::spawn(
        consumer
            .sink(history.clone())
            .with_batch(100, 1 << 20, Duration::from_millis(100))
            .run(stop.clone()),
    );
    publisher
        .send_batch(&(0..500).map(played).collect::<Vec<_>>())
        .await?;
    let rows = || async {
        catalog
            .latest_table_version(&history)
            .await
            .map(|v| v.rows)
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while rows().await < 500 {
        assert!(Instant::now() < deadline, "the sink did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let uri = crate::support::table_uri(&catalog, &history).await?;
    let table_dir = url::Url::parse(&uri)?
        .to_file_path()
        .map_err(|()| "not a file URL")?;
    let before = catalog.latest_table_version(&history).await?;
    {
        let _frozen = Unwritable::new(&table_dir)?;
        publisher
            .send_batch(&(500..1000).map(played).collect::<Vec<_>>())
            .await?;
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert!(!sinking.is_finished(), "the sink gave up within seconds");
        let during = catalog.latest_table_version(&history).await?;
        assert_eq!(
            during.version, before.version,
            "nothing was committed while unwritable"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    while rows().await < 1000 {
        assert!(
            Instant::now() < deadline && !sinking.is_finished(),
            "the sink did not carry on once the lake took writes again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    sinking.await??;
    let version = catalog.latest_table_version(&history).await?;
    assert_eq!(version.rows, 1000, "no row lost or written twice");
    assert_eq!(version.offsets.iter().map(|o| o.offset).sum::<i64>(), 1000);
    mesh.shutdown().await?;
    Ok(())
}

/// The fault trial's 45 s pause (SIGSTOP) of the broker mid-publish used to fail the job at
/// the kit's old 30 s delivery timeout. Within the default timeout nothing is lost: every
/// send is acknowledged once the broker is back, each event at its own offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_45_second_broker_pause_loses_nothing() -> TestResult {
    let Some(broker) = Broker::start(Storage::Memory).await? else {
        return Ok(());
    };
    let (mesh, dir) = mesh(Some(broker.bootstrap())).await?;
    let endpoints = mesh.endpoints().clone();
    let domain = format!("pause{}", unique());
    let producer =
        DomainProducer::connect(history_contract(dir.path(), &domain)?, &endpoints).await?;
    let publisher = producer.publisher("played")?;
    const EVENTS: i64 = 20_000;
    let publishing = tokio::spawn(async move {
        let mut deliveries = Vec::new();
        for chunk in (0..EVENTS).collect::<Vec<_>>().chunks(500) {
            deliveries.extend(
                publisher
                    .send_batch(&chunk.iter().map(|i| played(*i)).collect::<Vec<_>>())
                    .await?,
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok::<_, datamesh::producer_kit::Error>(deliveries)
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    broker.pause()?;
    tokio::time::sleep(Duration::from_secs(45)).await;
    broker.resume()?;
    let deliveries = tokio::time::timeout(Duration::from_secs(120), publishing).await???;
    assert_eq!(deliveries.len(), EVENTS as usize);
    let positions: HashSet<(i32, i64)> =
        deliveries.iter().map(|d| (d.partition, d.offset)).collect();
    assert_eq!(
        positions.len(),
        EVENTS as usize,
        "each event stored once, at its own offset"
    );
    mesh.shutdown().await?;
    Ok(())
}
