//! The first slice: one event and one snapshot through every hop of the mesh, printed as it
//! goes: schema registration, validation, publishing, consuming through the registry, a Delta
//! snapshot registered in the catalog, and a SQL query that finds it through the catalog.
//!
//! Runs on embedded defaults (nothing installed) or against the services that
//! `MESH_KAFKA_BOOTSTRAP_SERVERS`, `MESH_CATALOG_URL`, `MESH_LAKE_URL` or `mesh.toml` name:
//!
//! ```text
//! scripts/run                       # or: cargo run --example first_slice
//! ```

use datamesh::LocalMesh;
use datamesh::mesh_core::MeshConfig;
use datamesh::slice::Slice;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .init();
    let config = MeshConfig::load()?;
    let mesh = LocalMesh::start(&config).await?;
    let endpoints = mesh.endpoints();
    let embedded = |yes: bool| if yes { "in-process" } else { "configured" };
    println!("mesh       data directory {}", mesh.data_dir().display());
    println!(
        "mesh       kafka {} ({}), catalog {} ({}), lake {}",
        endpoints.kafka.bootstrap_servers,
        embedded(mesh.kafka_is_embedded()),
        endpoints.catalog_url,
        embedded(mesh.catalog_is_embedded()),
        endpoints.lake_url
    );
    let outcome = Slice::new(endpoints.clone())
        .run(|hop| println!("{hop}"))
        .await;
    mesh.shutdown().await?;
    outcome?;
    println!("done       every hop of the slice worked");
    Ok(())
}

// The process allocator: see the datamesh crate docs.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: datamesh::Jemalloc = datamesh::Jemalloc;
