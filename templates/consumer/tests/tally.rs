//! The consumer against the local mesh: `mesh dev`'s when `MESH_CONFIG` points at it, an
//! embedded one otherwise. A fixture domain publishes; the consumer's handler counts.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use datamesh::LocalMesh;
use datamesh::consumer_kit::{CancellationToken, DomainConsumer};
use datamesh::mesh_core::{Contract, DomainName, MeshConfig, TopicName};
use datamesh::producer_kit::DomainProducer;
use serde::Serialize;

use {{crate_ident}}::Tally;

#[derive(Serialize)]
struct Ping {
    key: String,
    n: i64,
}

#[tokio::test(flavor = "multi_thread")]
async fn counts_every_event_per_key() -> anyhow::Result<()> {
    let mesh = LocalMesh::start(&MeshConfig::load()?).await?;
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixture/contract.toml");
    let producer = DomainProducer::connect(Contract::load(fixture)?, mesh.endpoints()).await?;

    // Keys of this run only: a local mesh may hold events of earlier runs.
    let run = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let keys: Vec<String> = (0..3).map(|k| format!("{run}-{k}")).collect();
    let pings: Vec<Ping> = (0..12)
        .map(|n| Ping {
            key: keys[n % 3].clone(),
            n: n as i64,
        })
        .collect();
    producer
        .publisher::<Ping>("pings")?
        .send_batch(&pings)
        .await?;

    let consumer =
        DomainConsumer::connect(DomainName::new("{{domain}}")?, mesh.endpoints()).await?;
    let tally = Tally::default();
    let stop = CancellationToken::new();
    let running = tokio::spawn(
        consumer
            .subscribe(vec![TopicName::parse("{{domain}}-fixture.pings")?])
            .with_group(format!("{{domain}}-test-{run}"))
            .run(tally.clone(), stop.clone()),
    );
    let counted = |t: &Tally| -> u64 {
        let counts = t.counts();
        keys.iter().filter_map(|k| counts.get(k)).sum()
    };
    let started = Instant::now();
    while counted(&tally) < 12 && started.elapsed() < Duration::from_secs(60) && !running.is_finished() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    running.await??;

    let counts = tally.counts();
    for key in &keys {
        assert_eq!(counts.get(key), Some(&4), "{key} in {counts:?}");
    }
    drop((producer, consumer));
    mesh.shutdown().await?;
    Ok(())
}
