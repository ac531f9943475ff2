//! Subscribes the {{domain}} domain to a stream and keeps a tally per key until Ctrl-C.
//!
//! `cargo run -- <domain>.<stream>` (default `{{source}}`). With `mesh dev` running and its
//! `MESH_CONFIG` exported, it reads that local mesh; `MESH_*` variables or `mesh.toml` point it
//! at real services; with nothing configured it starts an embedded mesh of its own.

use datamesh::LocalMesh;
use datamesh::consumer_kit::{CancellationToken, DomainConsumer};
use datamesh::mesh_core::{DomainName, MeshConfig, TopicName};

use {{crate_ident}}::{DEFAULT_SOURCE, Tally};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // A failure is one line, its causes joined, like the `mesh` command line's.
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{{crate}}: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let source = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_SOURCE.to_owned());
    let topic = TopicName::parse(&source)?;
    let mesh = LocalMesh::start(&MeshConfig::load()?).await?;
    let consumer = DomainConsumer::connect(DomainName::new("{{domain}}")?, mesh.endpoints()).await?;

    let stop = CancellationToken::new();
    let on_ctrl_c = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_ctrl_c.cancel();
    });
    println!("{{domain}} reads {topic}; Ctrl-C stops");
    let tally = Tally::printing();
    let summary = consumer
        .subscribe(vec![topic])
        .run(tally.clone(), stop)
        .await?;
    println!(
        "handled {} events ({} to the dead-letter topic)",
        summary.handled, summary.dead_lettered
    );
    for (key, count) in tally.counts() {
        println!("  {key}: {count}");
    }
    drop(consumer);
    mesh.shutdown().await?;
    Ok(())
}

// The process allocator: see the datamesh crate docs.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: datamesh::Jemalloc = datamesh::Jemalloc;
