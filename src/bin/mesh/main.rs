//! `mesh`: the data mesh from the command line.
//!
//! ```text
//! mesh dev                                   # a local mesh in the foreground
//! mesh new producer payments                 # a producer crate from the template
//! mesh contract diff payments/contract.toml  # what applying it would change, with verdicts
//! mesh tail payments.events                  # decoded events as JSON lines
//! mesh query 'SELECT * FROM payments.latest' # SQL over products, as a table
//! mesh catalog products                      # the catalog's records
//! ```
//!
//! Services come from `mesh.toml` (or `MESH_CONFIG`) and `MESH_*` variables, as for the kits;
//! `mesh dev` prints the one variable that points everything at it.

mod broker;
mod catalog;
mod contract;
mod dev;
mod failure;
mod new;
mod output;
mod query;
mod stream;

// The process allocator: see the datamesh crate docs.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: datamesh::Jemalloc = datamesh::Jemalloc;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use datamesh::mesh_core::{Endpoints, MeshConfig};
use tracing_subscriber::EnvFilter;

use crate::failure::{Failure, Outcome};

#[derive(Debug, Parser)]
#[command(
    name = "mesh",
    version,
    about = "The data mesh from the command line",
    after_help = "Services come from mesh.toml (or MESH_CONFIG) and MESH_* variables; `mesh dev` \
                  starts a local mesh and prints how to point at it.\n\n\
                  Exit codes: 0 done; 1 failed; 2 invalid input (usage, contract, SQL); \
                  3 refused (incompatible contract, missing grant); 4 a service is unreachable."
)]
struct Cli {
    /// Print results as JSON (one object, or JSON lines for streams); errors as JSON on stderr.
    #[arg(long, global = true)]
    json: bool,
    /// The catalog's URL (overrides MESH_CATALOG_URL and mesh.toml).
    #[arg(long, global = true, value_name = "URL")]
    catalog_url: Option<String>,
    /// The catalog token to send (overrides MESH_CATALOG_TOKEN).
    #[arg(long, global = true, value_name = "TOKEN", hide_env_values = true)]
    catalog_token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a local mesh (broker, catalog, lake) in the foreground.
    Dev(dev::Args),
    /// Create a domain team's crate from a template.
    #[command(subcommand)]
    New(new::Kind),
    /// Check, compare and apply a domain contract.
    #[command(subcommand)]
    Contract(contract::Command),
    /// Read and change the catalog: domains, products, grants, tokens, search, health.
    #[command(subcommand)]
    Catalog(catalog::Command),
    /// Print a stream's events as JSON lines, decoded through the registry.
    Tail(stream::TailArgs),
    /// Sink a product's source stream into its Delta table, exactly once, until interrupted.
    Sink(stream::SinkArgs),
    /// Run SQL over data products (`<domain>.<product>` tables), printed as a table.
    Query(query::Args),
    /// Print a completion script for a shell, e.g. `mesh completions bash >
    /// ~/.local/share/bash-completion/completions/mesh`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// What every command gets: the output mode and the configuration, loaded on first use.
pub(crate) struct Context {
    pub(crate) json: bool,
    catalog_url: Option<String>,
    catalog_token: Option<String>,
}

impl Context {
    /// The configuration, with the command line's overrides.
    pub(crate) fn config(&self) -> Result<MeshConfig, Failure> {
        let mut config = MeshConfig::load().map_err(|e| {
            Failure::invalid(
                format!("cannot read the mesh configuration: {e}"),
                "check mesh.toml, MESH_CONFIG and the MESH_* variables",
            )
        })?;
        if let Some(url) = &self.catalog_url {
            config.catalog.url = Some(url.clone());
        }
        if let Some(token) = &self.catalog_token {
            config.catalog.token = Some(token.clone());
        }
        Ok(config)
    }

    /// Every service's endpoint; all must be configured.
    pub(crate) fn endpoints(&self) -> Result<Endpoints, Failure> {
        let config = self.config()?;
        Endpoints::from_config(&config).map_err(|e| {
            Failure::unreachable(
                e.to_string(),
                "start a local mesh with `mesh dev` and export the MESH_CONFIG it prints",
            )
        })
    }

    /// A client of the catalog; only the catalog must be configured.
    pub(crate) fn catalog(&self) -> Result<datamesh::catalog::CatalogClient, Failure> {
        let config = self.config()?;
        let url = config.catalog.url.ok_or_else(|| {
            Failure::unreachable(
                "no catalog is configured",
                "pass --catalog-url, set MESH_CATALOG_URL, or export the MESH_CONFIG `mesh dev` prints",
            )
        })?;
        // A person waits at the prompt: a catalog that is down is said at once (exit 4),
        // past a blip of a few seconds.
        let client = datamesh::catalog::CatalogClient::new(&url)
            .map_err(Failure::from)?
            .with_retry_for(std::time::Duration::from_secs(3));
        Ok(match config.catalog.token {
            Some(token) => client.with_token(token),
            None => client,
        })
    }
}

async fn run(cli: Cli) -> Outcome {
    let ctx = Context {
        json: cli.json,
        catalog_url: cli.catalog_url,
        catalog_token: cli.catalog_token,
    };
    match cli.command {
        Command::Dev(args) => dev::run(&ctx, args).await,
        Command::New(kind) => new::run(&ctx, kind),
        Command::Contract(command) => contract::run(&ctx, command).await,
        Command::Catalog(command) => catalog::run(&ctx, command).await,
        Command::Tail(args) => stream::tail(&ctx, args).await,
        Command::Sink(args) => stream::sink(&ctx, args).await,
        Command::Query(args) => query::run(&ctx, args).await,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            use std::io::Write;
            // Into a buffer first: clap_complete panics on a failed write (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "mesh", &mut script);
            match std::io::stdout().write_all(&script) {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
                Err(e) => Err(Failure::failed(
                    format!("cannot write the completion script: {e}"),
                    "redirect it to a file",
                )),
            }
        }
    }
}

/// A command line clap cannot take. Help and version are printed as clap prints them; a
/// usage error too, unless `--json` is among the arguments: then it is the one JSON object
/// every other failure is, exit 2.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let json = std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json");
    if !json || matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        e.exit();
    }
    let text = e.render().to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let usage = lines.iter().find(|l| l.starts_with("Usage: "));
    let message = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        // clap prints the help here; its first line is the command's description.
        "a command is missing".to_owned()
    } else {
        // The error and what it names (a missing argument is on the next lines), up to
        // the usage and clap's tips.
        lines
            .iter()
            .take_while(|l| !l.starts_with("Usage: ") && !l.starts_with("tip: "))
            .map(|l| l.strip_prefix("error: ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let hint = match usage {
        Some(usage) => format!("{usage}; `--help` says more"),
        None => "`mesh --help` lists the commands".to_owned(),
    };
    Failure::invalid(message, hint).report(true)
}

fn main() -> ExitCode {
    use std::io::IsTerminal;
    // librdkafka's own lines (a retry loop logs every reconnect) stay out of a command's
    // output: broker faults come back as one line with a hint. RUST_LOG brings them back.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("error,librdkafka=off,rdkafka::client=off")),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let json = cli.json;
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            return Failure::failed(
                format!("cannot start the async runtime: {e}"),
                "check the process limits (threads, open files)",
            )
            .report(json);
        }
    };
    let code = runtime.block_on(async {
        match run(cli).await {
            Ok(code) => code,
            Err(failure) => failure.report(json),
        }
    });
    // A blocking librdkafka call still waiting out its own timeout (a metadata request to a
    // broker that does not answer) must not hold the exit: Ctrl-C stops within a second.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    code
}
