//! `mesh-catalog`: the data-mesh catalog and schema registry as a service.
//!
//! ```text
//! mesh-catalog serve --listen 127.0.0.1:8081 --database sqlite://catalog.db --dev
//! MESH_CATALOG_DATABASE=postgres://mesh@db/mesh MESH_CATALOG_ADMIN_TOKEN=... mesh-catalog serve
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use catalog::server::{Auth, Catalog, RateLimit, ServeOptions};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

// The service's allocator; the catalog library never chooses one.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(
    name = "mesh-catalog",
    version,
    about = "The data-mesh catalog and schema registry"
)]
struct Cli {
    /// Log lines as text or as one JSON object each (level from RUST_LOG, default info).
    #[arg(long, env = "MESH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the catalog API, the schema-registry API, probes, metrics and /openapi.json.
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the address is printed).
    #[arg(long, env = "MESH_CATALOG_LISTEN", default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// Database URL: sqlite://FILE (created if missing) or postgres://USER@HOST/DB.
    #[arg(
        long,
        env = "MESH_CATALOG_DATABASE",
        default_value = "sqlite://mesh-catalog.db"
    )]
    database: String,
    /// Turn authentication off, for local development.
    #[arg(long)]
    dev: bool,
    /// Bearer token that may change the catalog (required unless --dev).
    #[arg(long, env = "MESH_CATALOG_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long, env = "MESH_CATALOG_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "MESH_CATALOG_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Connections served at once; more wait in the accept queue.
    #[arg(long, env = "MESH_CATALOG_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// Seconds a client may take to send a request's headers (or finish a TLS handshake).
    #[arg(long, env = "MESH_CATALOG_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    header_timeout_secs: u64,
    /// Seconds in-flight requests get to finish once shutdown begins.
    #[arg(long, env = "MESH_CATALOG_DRAIN_TIMEOUT_SECS", default_value_t = 10)]
    drain_timeout_secs: u64,
    /// Requests per second each caller (bearer token, or address without one) may make;
    /// past it requests get 429 with Retry-After. Unlimited when absent.
    #[arg(long, env = "MESH_CATALOG_RATE_LIMIT")]
    rate_limit: Option<f64>,
    /// Requests a caller may make at once after being idle (default: the rate limit).
    #[arg(long, env = "MESH_CATALOG_RATE_BURST", requires = "rate_limit")]
    rate_burst: Option<u32>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    match cli.log_format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init(),
    }
    let Command::Serve(args) = cli.command;
    let auth = match (args.dev, args.admin_token) {
        (true, _) => Auth::Disabled,
        (false, Some(token)) if !token.is_empty() => Auth::AdminToken(token),
        (false, _) => bail!(
            "refusing to serve without authentication: set --admin-token (or MESH_CATALOG_ADMIN_TOKEN), \
             or pass --dev for local use"
        ),
    };
    let catalog = Catalog::open(&args.database, auth).await.with_context(|| {
        format!(
            "cannot open the catalog database {}",
            redact(&args.database)
        )
    })?;
    let catalog = match args.rate_limit {
        Some(rate) if rate > 0.0 && rate.is_finite() => {
            let mut limit = RateLimit::per_second(rate);
            if let Some(burst) = args.rate_burst {
                limit.burst = burst.max(1);
            }
            catalog.with_rate_limit(limit)
        }
        Some(rate) => {
            bail!("--rate-limit must be a positive number of requests per second, not {rate}")
        }
        None => catalog,
    };
    let mut options = ServeOptions::default();
    options.max_connections = args.max_connections;
    options.header_read_timeout = Duration::from_secs(args.header_timeout_secs);
    options.drain_timeout = Duration::from_secs(args.drain_timeout_secs);
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        options = options.with_tls_files(cert, key)?;
    }
    let scheme = if options.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, dev = args.dev, tls = options.tls.is_some(), "catalog listening");
    println!("mesh-catalog listening on {scheme}://{addr}");
    catalog
        .serve_with(listener, options, shutdown_signal())
        .await?;
    tracing::info!("catalog stopped");
    Ok(())
}

/// Hides a password in a database URL.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
