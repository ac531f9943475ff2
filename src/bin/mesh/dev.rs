//! `mesh dev`: a local mesh in the foreground, for a domain team's machine.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use datamesh::LocalMesh;
use datamesh::mesh_core::MeshConfig;

use crate::Context;
use crate::failure::{Failure, Outcome};
use crate::stream::interrupted;

/// `mesh dev`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where the catalog database, the lake and the client configuration go.
    #[arg(long, default_value = ".mesh/dev")]
    data_dir: PathBuf,
    /// Keep the catalog and the lake of the previous run. The in-process broker keeps nothing,
    /// so by default everything starts empty and the catalog never names topics that are gone.
    /// A folder a running `mesh dev` uses is never emptied: a second one there refuses.
    #[arg(long)]
    keep: bool,
    /// Enforce tokens and grants, as a shared catalog does, to rehearse them: the catalog
    /// gets a fresh admin token (printed, and kept in `<data-dir>/admin-token`); every client
    /// then needs a token, and a domain's token reads other domains' tables only with a grant.
    #[arg(long)]
    auth: bool,
}

/// Holds `<data-dir>.lock` for as long as this `mesh dev` runs, so a second one in the same
/// folder refuses instead of emptying the catalog and lake the first is serving. The lock
/// goes with the process, however it ends.
fn claim(data_dir: &Path) -> Result<std::fs::File, Failure> {
    let path = PathBuf::from(format!("{}.lock", data_dir.display()));
    let cannot = |e: std::io::Error| {
        Failure::failed(
            format!("cannot lock {}: {e}", path.display()),
            "pass another --data-dir",
        )
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(cannot)?;
    }
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(cannot)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Failure::failed(
            format!("another `mesh dev` is running on {}", data_dir.display()),
            "use that one (export the MESH_CONFIG it printed), stop it first, or pass another --data-dir",
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(cannot(e)),
    }
}

/// Writes a secret readable by its owner only.
fn write_secret(path: &Path, secret: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut options = std::fs::File::options();
    options.create(true).truncate(true).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut file| writeln!(file, "{secret}"))
        .map_err(|e| {
            Failure::failed(
                format!("cannot write {}: {e}", path.display()),
                "pass another --data-dir",
            )
        })
}

/// Starts the mesh, writes `<data-dir>/mesh.toml` for clients (without a token: with
/// `--auth` each client brings its own), and waits for Ctrl-C.
pub(crate) async fn run(ctx: &Context, args: Args) -> Outcome {
    let _running = claim(&args.data_dir)?;
    if !args.keep && args.data_dir.exists() {
        std::fs::remove_dir_all(&args.data_dir).map_err(|e| {
            Failure::failed(
                format!("cannot empty {}: {e}", args.data_dir.display()),
                "pass another --data-dir",
            )
        })?;
    }
    let admin_token = args
        .auth
        .then(|| format!("mesh_admin_{}", uuid::Uuid::new_v4().simple()));
    let mut config = MeshConfig::default();
    config.data_dir = Some(args.data_dir);
    config.catalog.token.clone_from(&admin_token);
    let mesh = LocalMesh::start(&config).await?;
    if let Some(token) = &admin_token {
        write_secret(&mesh.data_dir().join("admin-token"), token)?;
    }
    let endpoints = mesh.endpoints().clone();
    let client_config = mesh.data_dir().join("mesh.toml");
    let toml = format!(
        "# Written by `mesh dev`: clients of the local mesh read it through MESH_CONFIG.\n\
         data_dir = {data_dir:?}\n\n[kafka]\nbootstrap_servers = {kafka:?}\n\n\
         [catalog]\nurl = {catalog:?}\n\n[lake]\nurl = {lake:?}\n",
        data_dir = mesh.data_dir().display().to_string(),
        kafka = endpoints.kafka.bootstrap_servers,
        catalog = endpoints.catalog_url,
        lake = endpoints.lake_url,
    );
    std::fs::write(&client_config, toml).map_err(|e| {
        Failure::failed(
            format!("cannot write {}: {e}", client_config.display()),
            "pass another --data-dir",
        )
    })?;

    if ctx.json {
        println!(
            "{}",
            serde_json::json!({
                "kafka": endpoints.kafka.bootstrap_servers,
                "catalog": endpoints.catalog_url,
                "lake": endpoints.lake_url,
                "config": client_config,
                "admin_token": admin_token,
            })
        );
    } else {
        println!("mesh dev: a local mesh is running; Ctrl-C stops it");
        println!(
            "  kafka    {}  (in-process broker; topics it creates get 4 partitions)",
            endpoints.kafka.bootstrap_servers
        );
        println!(
            "  catalog  {}  (schema registry at the root, governance under /api/v1, {})",
            endpoints.catalog_url,
            if admin_token.is_some() {
                "tokens and grants enforced"
            } else {
                "no authentication"
            }
        );
        println!("  lake     {}", endpoints.lake_url);
        println!();
        println!("Point clients (mesh, the kits, your crate's tests) at it:");
        println!("  export MESH_CONFIG={}", client_config.display());
        println!("or, one by one:");
        println!(
            "  export MESH_KAFKA_BOOTSTRAP_SERVERS={} MESH_CATALOG_URL={} MESH_LAKE_URL={}",
            endpoints.kafka.bootstrap_servers, endpoints.catalog_url, endpoints.lake_url
        );
        println!(
            "Confluent clients: SchemaRegistryClient({{\"url\": \"{}\"}}), bootstrap.servers={}",
            endpoints.catalog_url.trim_end_matches('/'),
            endpoints.kafka.bootstrap_servers
        );
        if let Some(token) = &admin_token {
            println!();
            println!(
                "Every client needs a token. The admin token (also in {}):",
                mesh.data_dir().join("admin-token").display()
            );
            println!("  export MESH_CATALOG_TOKEN={token}");
            println!("then give each domain its own:");
            println!("  mesh catalog register-domain payments --owner <team>");
            println!("  mesh catalog token create payments");
        }
    }
    interrupted().cancelled().await;
    mesh.shutdown().await?;
    if !ctx.json {
        println!("mesh dev: stopped");
    }
    Ok(ExitCode::SUCCESS)
}
