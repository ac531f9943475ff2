//! The main job: the reference scenarios of the data mesh, end to end, on embedded defaults
//! or on the services `mesh.toml` / `MESH_*` name.
//!
//! ```text
//! scripts/run                          # both meshes and the NAB corpus, then a summary
//! scripts/run --serve                  # ... and keep the recommendations API running
//! scripts/run --only music --size small
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use datamesh::LocalMesh;
use datamesh::mesh_core::MeshConfig;
use scenarios::domains::Mesh;
use scenarios::job::{self, Job, Scenario, Size};
use scenarios::progress::Progress;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "mesh-scenarios",
    version,
    about = "Runs the reference scenarios of the data mesh end to end and prints a summary"
)]
struct Cli {
    /// World sizes.
    #[arg(long, value_enum, default_value_t = Size::Demo)]
    size: Size,
    /// Run only these scenarios (repeatable; default: all).
    #[arg(long, value_enum)]
    only: Vec<Scenario>,
    /// Seed of the generators.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Events published per second per stream (0: as fast as the broker takes them).
    #[arg(long, default_value_t = 50_000)]
    rate: u64,
    /// Keep the mesh and the recommendations API running after the summary.
    #[arg(long)]
    serve: bool,
    /// Where the API listens with --serve.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The local mesh's state (catalog, lake) when no data directory is configured; emptied
    /// at start, since every run generates its data anew.
    #[arg(long, default_value = ".mesh/scenarios")]
    data_dir: PathBuf,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                // delta-rs warns about merge metrics it derives itself: noise here.
                .unwrap_or_else(|_| EnvFilter::new("warn,deltalake_core=error")),
        )
        .with_writer(std::io::stderr)
        .init();

    let mut config = MeshConfig::load()?;
    if config.data_dir.is_none() {
        if cli.data_dir.exists() {
            std::fs::remove_dir_all(&cli.data_dir)
                .with_context(|| format!("emptying {}", cli.data_dir.display()))?;
        }
        config.data_dir = Some(cli.data_dir.clone());
    }
    let local = LocalMesh::start(&config).await?;
    let endpoints = local.endpoints().clone();
    let origin = |embedded: bool| if embedded { "in-process" } else { "configured" };
    println!(
        "mesh       kafka {} ({}), catalog {} ({}), lake {}",
        endpoints.kafka.bootstrap_servers,
        origin(local.kafka_is_embedded()),
        endpoints.catalog_url,
        origin(local.catalog_is_embedded()),
        endpoints.lake_url
    );
    let mesh = Mesh::new(endpoints);
    let job = Job {
        size: cli.size,
        seed: cli.seed,
        only: cli.only.clone(),
        rate: cli.rate,
        ..Job::default()
    };
    let progress = Progress::new(!cli.quiet);
    let summary = job::run(&mesh, &job, &progress).await;
    let summary = match summary {
        Ok(s) => s,
        Err(e) => {
            local.shutdown().await?;
            return Err(e.into());
        }
    };
    println!("{summary}");

    if cli.serve {
        if let Some(music) = &summary.music {
            let listener = tokio::net::TcpListener::bind(cli.listen)
                .await
                .with_context(|| format!("listening on {}", cli.listen))?;
            let shutdown = CancellationToken::new();
            let server = tokio::spawn(scenarios::serve::serve(
                listener,
                music.state.clone(),
                shutdown.clone(),
            ));
            let user = music.samples.first().map_or(1, |s| s.user_id);
            println!(
                "serving    http://{}/recommendations/{user}?k=10",
                cli.listen
            );
            println!("serving    http://{}/trends?dimension=genre", cli.listen);
            println!("serving    the mesh stays up; Ctrl-C stops it");
            tokio::signal::ctrl_c().await?;
            shutdown.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        } else {
            println!("serving    nothing to serve: the music scenario did not run");
        }
    }
    local.shutdown().await?;
    Ok(())
}

// The process allocator: see the datamesh crate docs.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: datamesh::Jemalloc = datamesh::Jemalloc;
