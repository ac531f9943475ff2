//! Lakes on S3: the kits' product tables on an S3-compatible store (moto, started by
//! `scripts/test`; it honours conditional PUT as AWS S3 does), read back by python
//! `deltalake`, and several processes appending to one product at once without losing or
//! repeating a commit.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use datamesh::catalog::CatalogClient;
use datamesh::consumer_kit::{CancellationToken, DomainConsumer};
use datamesh::mesh_core::lake::table_builder;
use datamesh::mesh_core::{DomainName, Endpoints, MeshConfig, ProductId};
use datamesh::producer_kit::DomainProducer;

use crate::producer::{PLAYED, contract, format_rows, music_contract, played, songs_batch};
use crate::support::{
    TestResult, external, mesh_with, python, real_broker, run_python_with, table_uri, unique,
};

/// The bucket `scripts/test` creates on its S3 server.
const BUCKET: &str = "mesh-test";

/// The S3 endpoint `scripts/test` started.
fn endpoint() -> Option<String> {
    external(
        "MESH_TEST_S3_ENDPOINT",
        "an S3-compatible store honouring conditional PUT (moto)",
    )
}

/// The lake's settings for the test server, named as delta-rs names them.
fn storage_options(endpoint: &str) -> BTreeMap<String, String> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "mesh-test"),
        ("AWS_SECRET_ACCESS_KEY", "mesh-test"),
        ("AWS_REGION", "us-east-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A local mesh whose lake is a fresh prefix of the test bucket, on the real broker when
/// `scripts/test` started one.
async fn s3_mesh(
    endpoint: &str,
) -> Result<(datamesh::LocalMesh, tempfile::TempDir), Box<dyn std::error::Error + Send + Sync>> {
    let options = storage_options(endpoint);
    let broker = real_broker();
    mesh_with(|config| {
        config.kafka.bootstrap_servers = broker;
        config.lake.url = Some(format!("s3://{BUCKET}/lake{}/", unique()));
        config.lake.storage_options = options;
    })
    .await
}

/// `song_id|title` of every row of a table read by python `deltalake`, sorted.
fn read_with_python(
    python: &str,
    uri: &str,
    endpoints: &Endpoints,
) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
    let env: Vec<(String, String)> = endpoints
        .storage_options
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let out = run_python_with(python, "delta_read.py", &[uri], &env)?;
    let read: serde_json::Value = serde_json::from_str(&out)?;
    let mut rows: Vec<String> = read["rows"]
        .as_array()
        .ok_or("no rows")?
        .iter()
        .map(|r| format!("{}|{}", r["song_id"], r["title"].as_str().unwrap_or("null")))
        .collect();
    rows.sort();
    Ok(rows)
}

/// Each write mode on S3: snapshots land, `StaticData` queries them, the catalog records the
/// versions, compaction and vacuum keep the rows, and python `deltalake` reads the same rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_on_s3_in_every_mode_read_back_by_python_deltalake() -> TestResult {
    let Some(endpoint) = endpoint() else {
        return Ok(());
    };
    let python = python();
    let (mesh, dir) = s3_mesh(&endpoint).await?;
    let endpoints = mesh.endpoints().clone();
    let catalog = CatalogClient::new(&endpoints.catalog_url)?;
    for mode in ["append", "merge", "overwrite"] {
        let domain = format!("s3{mode}{}", unique());
        let contract_dir = dir.path().join(mode);
        std::fs::create_dir_all(&contract_dir)?;
        let producer =
            DomainProducer::connect(music_contract(&contract_dir, &domain, mode)?, &endpoints)
                .await?;
        producer
            .snapshot(
                "songs",
                songs_batch(&[(1, "One", "rock"), (2, "Two", "jazz")])?,
            )
            .await?;
        producer
            .snapshot(
                "songs",
                songs_batch(&[(2, "Deux", "jazz"), (3, "Three", "pop")])?,
            )
            .await?;
        let id: ProductId = format!("{domain}.songs").parse()?;
        let uri = table_uri(&catalog, &id).await?;
        assert!(uri.starts_with(&format!("s3://{BUCKET}/")), "{uri}");
        let expected: &[&str] = match mode {
            "append" => &["1|One", "2|Deux", "2|Two", "3|Three"],
            "merge" => &["1|One", "2|Deux", "3|Three"],
            _ => &["2|Deux", "3|Three"],
        };

        let consumer = DomainConsumer::connect(id.domain(), &endpoints).await?;
        let data = consumer.static_data();
        let query = format!("SELECT song_id, title FROM {id} ORDER BY song_id, title");
        data.open(&id).await?;
        assert_eq!(format_rows(&data.sql(&query).await?)?, expected, "{mode}");
        let latest = catalog.latest_table_version(&id).await?;
        assert_eq!(latest.rows, expected.len() as u64, "{mode}: {latest:?}");

        // Maintenance on the store: compaction rewrites the appends' small files (the other
        // modes leave one file per partition), vacuum deletes the files no version needs,
        // and the rows stay.
        let done = producer.maintain("songs", Duration::ZERO).await?;
        if mode == "append" {
            assert!(done.files_compacted > 0, "{mode}: {done:?}");
        }
        assert!(done.files_vacuumed > 0, "{mode}: {done:?}");
        data.open(&id).await?;
        assert_eq!(format_rows(&data.sql(&query).await?)?, expected, "{mode}");
        let after = catalog.latest_table_version(&id).await?;
        assert!(
            after.version > latest.version && after.rows == latest.rows,
            "{mode}: the catalog records the maintained table: {after:?}"
        );

        if let Some(python) = &python {
            let (python, uri, e) = (python.clone(), uri.clone(), endpoints.clone());
            let read =
                tokio::task::spawn_blocking(move || read_with_python(&python, &uri, &e)).await??;
            assert_eq!(read, expected, "{mode}: python deltalake");
        }
        producer.close(Duration::from_secs(10)).await?;
    }
    mesh.shutdown().await?;
    Ok(())
}

/// The exactly-once sink on S3: a stream's events land in the table once each, across a
/// restart of the sink, with the offsets in the table's transactions, and python `deltalake`
/// reads the same rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sink_appends_a_stream_to_s3_exactly_once() -> TestResult {
    let Some(endpoint) = endpoint() else {
        return Ok(());
    };
    let python = python();
    let (mesh, dir) = s3_mesh(&endpoint).await?;
    let endpoints = mesh.endpoints().clone();
    let domain = format!("s3sink{}", unique());
    let body = format!(
        "domain = \"{domain}\"\nowner = \"o\"\n[[streams]]\nname = \"played\"\nkey = \"user_id\"\nschema = \"played.avsc\"\npartitions = 3\n\
         [[products]]\nname = \"history\"\nschema = \"played.avsc\"\nmode = \"append\"\nstreams = [\"played\"]\nsource = \"played\"\n"
    );
    let producer = DomainProducer::connect(
        contract(dir.path(), &body, &[("played.avsc", PLAYED)])?,
        &endpoints,
    )
    .await?;
    let publisher = producer.publisher("played")?;
    let product: ProductId = format!("{domain}.history").parse()?;
    let consumer = DomainConsumer::connect(DomainName::new(domain.clone())?, &endpoints).await?;
    let catalog = CatalogClient::new(&endpoints.catalog_url)?;
    for (round, events) in [(0, 0..60), (1, 60..100)] {
        publisher
            .send_batch(&events.clone().map(played).collect::<Vec<_>>())
            .await?;
        let shutdown = CancellationToken::new();
        let sink = tokio::spawn(
            consumer
                .sink(product.clone())
                .with_batch(25, 1 << 20, Duration::from_millis(200))
                .run(shutdown.clone()),
        );
        let want = u64::try_from(events.end)?;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while catalog
            .latest_table_version(&product)
            .await
            .map(|v| v.rows)
            .ok()
            != Some(want)
        {
            if std::time::Instant::now() > deadline {
                return Err(
                    format!("round {round}: the table never reached {} rows", events.end).into(),
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        shutdown.cancel();
        sink.await??;
    }
    assert_eq!(
        rows_and_songs(&consumer, &product).await?,
        (100, 100),
        "every event once"
    );
    let latest = catalog.latest_table_version(&product).await?;
    let held: i64 = latest.offsets.iter().map(|o| o.offset).sum();
    assert_eq!(held, 100, "{:?}", latest.offsets);
    if let Some(python) = python {
        let uri = table_uri(&catalog, &product).await?;
        let e = endpoints.clone();
        let read =
            tokio::task::spawn_blocking(move || read_with_python(&python, &uri, &e)).await??;
        assert_eq!(read.len(), 100, "python deltalake: {read:?}");
    }
    producer.close(Duration::from_secs(10)).await?;
    mesh.shutdown().await?;
    Ok(())
}

/// The rows of a product's table and its distinct `song_id`s, as `StaticData` counts them.
async fn rows_and_songs(
    consumer: &DomainConsumer,
    product: &ProductId,
) -> Result<(u64, u64), Box<dyn std::error::Error + Send + Sync>> {
    let data = consumer.static_data();
    data.open(product).await?;
    let counted: Vec<serde_json::Value> = data
        .rows(&format!(
            "SELECT count(*) AS n, count(DISTINCT song_id) AS d FROM {product}"
        ))
        .await?;
    let count = |column: &str| {
        counted
            .first()
            .and_then(|row| row[column].as_u64())
            .ok_or("no count")
    };
    Ok((count("n")?, count("d")?))
}

/// Appends each worker process makes.
const APPENDS: usize = 8;

/// Three processes start on one new product on S3 at once and append to it: one creates
/// the table and the others take it, every commit lands once (as many write commits as
/// appends), every row once, and the catalog's newest version holds them all. Delta commits by creating the version's log file with a conditional PUT, so writers
/// that race for a version are told and retry on top; a store that ignored it would let one
/// overwrite another's commit and this would count fewer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_append_to_one_product_on_s3_and_lose_no_commit() -> TestResult {
    let Some(endpoint) = endpoint() else {
        return Ok(());
    };
    let (mesh, dir) = s3_mesh(&endpoint).await?;
    let endpoints = mesh.endpoints().clone();
    let domain = format!("s3race{}", unique());
    let id: ProductId = format!("{domain}.songs").parse()?;

    // The workers reach this mesh through a config file, as a deployed producer would.
    let config = dir.path().join("mesh.toml");
    let mut file = MeshConfig::default();
    file.kafka.bootstrap_servers = Some(endpoints.kafka.bootstrap_servers.clone());
    file.catalog.url = Some(endpoints.catalog_url.clone());
    file.lake.url = Some(endpoints.lake_url.clone());
    file.lake.storage_options = endpoints.storage_options.clone();
    std::fs::write(&config, config_toml(&file))?;
    let workers: Vec<std::process::Child> = (0..3)
        .map(|worker| {
            std::process::Command::new(std::env::current_exe()?)
                .args(["s3::append_worker", "--exact", "--ignored", "--nocapture"])
                .env("MESH_CONFIG", &config)
                .env(
                    "MESH_TEST_S3_WORKER",
                    format!("{domain},{worker},{}", dir.path().display()),
                )
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    // Let them all reach `connect` before any starts it, so they race for the table.
    let ready = |worker: usize| dir.path().join(format!("ready-{worker}"));
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !(0..3).all(|w| ready(w).exists()) {
        if std::time::Instant::now() > deadline {
            return Err("the workers never got ready".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    std::fs::write(dir.path().join("go"), "")?;
    for child in workers {
        let output = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "a worker failed: {}\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let uri = table_uri(&mesh_catalog(&endpoints)?, &id).await?;
    let table = table_builder(url::Url::parse(&uri)?, &endpoints)?
        .load()
        .await?;
    let history: Vec<_> = futures::TryStreamExt::try_collect(table.history(None)).await?;
    let writes = history
        .iter()
        .filter(|c| c.operation.as_deref() == Some("WRITE"))
        .count();
    // Version 0 is the table's creation, an empty write (the three raced for it: one won,
    // two took its table), then one version per append.
    assert_eq!(writes, 1 + 3 * APPENDS, "write commits in {history:?}");
    assert_eq!(table.version(), Some(3 * APPENDS as u64), "{history:?}");
    let rows = 3 * APPENDS * 2;
    let consumer = DomainConsumer::connect(id.domain(), &endpoints).await?;
    assert_eq!(
        rows_and_songs(&consumer, &id).await?,
        (rows as u64, rows as u64),
        "every row once"
    );
    let latest = mesh_catalog(&endpoints)?.latest_table_version(&id).await?;
    assert_eq!(latest.rows, rows as u64, "{latest:?}");
    mesh.shutdown().await?;
    Ok(())
}

fn mesh_catalog(endpoints: &Endpoints) -> Result<CatalogClient, datamesh::catalog::Error> {
    CatalogClient::new(&endpoints.catalog_url)
}

/// `config` as the `mesh.toml` a deployment would write.
fn config_toml(config: &MeshConfig) -> String {
    let quote = |s: &str| format!("{s:?}");
    let mut text = format!(
        "[kafka]\nbootstrap_servers = {}\n[catalog]\nurl = {}\n[lake]\nurl = {}\n[lake.storage_options]\n",
        quote(
            config
                .kafka
                .bootstrap_servers
                .as_deref()
                .unwrap_or_default()
        ),
        quote(config.catalog.url.as_deref().unwrap_or_default()),
        quote(config.lake.url.as_deref().unwrap_or_default()),
    );
    for (key, value) in &config.lake.storage_options {
        text.push_str(&format!("{key} = {}\n", quote(value)));
    }
    text
}

/// One of [`three_processes_append_to_one_product_on_s3_and_lose_no_commit`]'s processes:
/// that test starts it with `MESH_TEST_S3_WORKER=<domain>,<worker>,<dir>` and tells it to go
/// by creating `<dir>/go` once every worker has created `<dir>/ready-<worker>`; on its own it
/// does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a worker process of three_processes_append_to_one_product_on_s3_and_lose_no_commit, which starts it"]
async fn append_worker() -> TestResult {
    let Ok(job) = std::env::var("MESH_TEST_S3_WORKER") else {
        return Ok(());
    };
    let mut parts = job.splitn(3, ',');
    let (Some(domain), Some(worker), Some(dir)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("MESH_TEST_S3_WORKER={job}").into());
    };
    let worker: i64 = worker.parse()?;
    let endpoints = Endpoints::from_config(&MeshConfig::load()?)?;
    let contract_dir = Path::new(dir).join(format!("worker-{worker}"));
    std::fs::create_dir_all(&contract_dir)?;
    let contract = music_contract(&contract_dir, domain, "append")?;
    std::fs::write(Path::new(dir).join(format!("ready-{worker}")), "")?;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !Path::new(dir).join("go").exists() {
        if std::time::Instant::now() > deadline {
            return Err("never told to go".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let producer = DomainProducer::connect(contract, &endpoints).await?;
    for append in 0..APPENDS as i64 {
        let id = (worker * 1000 + append) * 2;
        producer
            .snapshot(
                "songs",
                songs_batch(&[(id, "a", "rock"), (id + 1, "b", "pop")])?,
            )
            .await?;
    }
    producer.close(Duration::from_secs(30)).await?;
    Ok(())
}
