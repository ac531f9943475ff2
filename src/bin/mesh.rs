//! `mesh`: the data mesh from the command line.
//!
//! ```text
//! mesh tail interactions.played            # decoded events as JSON lines
//! mesh sink interactions.history           # a product's source stream into its table, exactly once
//! ```
//!
//! Services come from `mesh.toml` or `MESH_*` variables (see the README); every one must be
//! configured (`mesh dev` will start a local mesh).

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::{Parser, Subcommand};
use datamesh::consumer_kit::{
    CancellationToken, DomainConsumer, Event, Handler, HandlerError, StartFrom,
};
use datamesh::mesh_core::apache_avro::types::Value;
use datamesh::mesh_core::{DomainName, Endpoints, MeshConfig, ProductId, TopicName};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "mesh", version, about = "The data mesh from the command line")]
struct Cli {
    /// Print results as JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a stream's events as JSON lines, decoded through the registry.
    Tail {
        /// The stream's topic, `<domain>.<stream>`.
        topic: TopicName,
        /// The consumer domain reading (default `mesh-cli`).
        #[arg(long, default_value = "mesh-cli")]
        domain: DomainName,
        /// The consumer group (default: a fresh one, reading from the start).
        #[arg(long)]
        group: Option<String>,
        /// Only events produced from now on.
        #[arg(long)]
        latest: bool,
    },
    /// Sink a product's source stream into its Delta table, exactly once, until interrupted.
    Sink {
        /// The product, `<domain>.<product>`.
        product: ProductId,
        /// Rows per micro-batch.
        #[arg(long, default_value_t = 10_000)]
        rows: usize,
        /// Milliseconds a micro-batch may wait for more rows.
        #[arg(long, default_value_t = 1_000)]
        wait_ms: u64,
    },
}

/// Writes each event as one JSON line and flushes it before the event counts as handled.
struct Print;

fn json_of(value: Value) -> serde_json::Value {
    serde_json::Value::try_from(value).unwrap_or(serde_json::Value::Null)
}

impl Handler for Print {
    type Value = Value;

    async fn handle(&self, event: Event<Value>) -> Result<(), HandlerError> {
        let line = serde_json::json!({
            "topic": event.position.topic,
            "partition": event.position.partition,
            "offset": event.position.offset,
            "key": event.key_str(),
            "schema_id": event.schema_id,
            "event_id": event.meta.event_id,
            "value": json_of(event.value),
        });
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| HandlerError::poison(format!("cannot write stdout: {e}")))
    }
}

fn endpoints() -> anyhow::Result<Endpoints> {
    let config = MeshConfig::load().context("cannot read the mesh configuration")?;
    Endpoints::from_config(&config).map_err(|e| anyhow!("{e}"))
}

/// Cancelled on Ctrl-C or SIGTERM.
fn interrupted() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => {
                        let _ = tokio::signal::ctrl_c().await;
                        cancel.cancel();
                        return;
                    }
                };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        cancel.cancel();
    });
    token
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Tail {
            topic,
            domain,
            group,
            latest,
        } => {
            let consumer = DomainConsumer::connect(domain, &endpoints()?).await?;
            let group =
                group.unwrap_or_else(|| format!("mesh-tail-{}", uuid::Uuid::new_v4().simple()));
            let start = if latest {
                StartFrom::Latest
            } else {
                StartFrom::Earliest
            };
            consumer
                .subscribe(vec![topic])
                .with_group(group)
                .with_start_from(start)
                .with_concurrency(1)
                .run(Print, interrupted())
                .await?;
        }
        Command::Sink {
            product,
            rows,
            wait_ms,
        } => {
            let consumer = DomainConsumer::connect(product.domain(), &endpoints()?).await?;
            let summary = consumer
                .sink(product.clone())
                .with_batch(rows, 64 << 20, std::time::Duration::from_millis(wait_ms))
                .run(interrupted())
                .await?;
            if cli.json {
                println!(
                    "{}",
                    serde_json::json!({ "product": product, "commits": summary.commits, "rows": summary.rows, "version": summary.last_version })
                );
            } else {
                println!(
                    "{product}: {} commits, {} rows, now at version {:?}",
                    summary.commits, summary.rows, summary.last_version
                );
            }
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mesh: {e:#}");
            ExitCode::FAILURE
        }
    }
}
