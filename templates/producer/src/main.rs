//! Publishes a few events of the {{domain}} domain and snapshots its `latest` product.
//!
//! With `mesh dev` running and its `MESH_CONFIG` exported, everything goes to that local mesh
//! (`mesh tail {{domain}}.events` shows the events). With nothing configured, it starts an
//! embedded mesh of its own for the run. `MESH_*` variables or `mesh.toml` point it at real
//! services.

use std::time::Duration;

use datamesh::LocalMesh;
use datamesh::mesh_core::MeshConfig;

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
    let mesh = LocalMesh::start(&MeshConfig::load()?).await?;
    let producer = {{crate_ident}}::connect(mesh.endpoints()).await?;
    let events = {{crate_ident}}::sample_events(12);
    let published = {{crate_ident}}::publish(&producer, &events).await?;
    for (event, at) in events.iter().zip(&published.deliveries) {
        println!(
            "published {} {:?} for {} at {{domain}}.events[{}]@{}",
            event.event_id, event.kind, event.key, at.partition, at.offset
        );
    }
    println!(
        "{{domain}}.latest is at version {} ({} rows: the newest event of every key)",
        published.snapshot.version, published.snapshot.rows
    );
    producer.close(Duration::from_secs(10)).await?;
    drop(producer);
    mesh.shutdown().await?;
    Ok(())
}

// The process allocator: see the datamesh crate docs.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: datamesh::Jemalloc = datamesh::Jemalloc;
