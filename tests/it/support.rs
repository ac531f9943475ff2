//! Shared fixtures: a local mesh per test (own data directory, own names), and the
//! external parts (a real broker, Python clients) that `scripts/test` provides.

use std::path::{Path, PathBuf};
use std::process::Command;

use datamesh::LocalMesh;
use datamesh::mesh_core::MeshConfig;

pub(crate) type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Where the catalog says a product's table is.
pub(crate) async fn table_uri(
    catalog: &datamesh::catalog::CatalogClient,
    id: &datamesh::mesh_core::ProductId,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    Ok(catalog.product(id).await?.table_port.ok_or("no table")?.uri)
}

/// The repository's example contracts.
pub(crate) fn contracts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/contracts")
}

/// A short random suffix for names, so tests sharing a broker never meet.
pub(crate) fn unique() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("_{}", &id[..8])
}

/// Whether external parts must be present (set by `scripts/test`): then a missing part fails
/// the test instead of skipping it.
fn required() -> bool {
    std::env::var_os("MESH_TEST_REQUIRE_EXTERNAL").is_some()
}

fn external(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if required() => panic!("{what} is required: {var} is not set (run scripts/test)"),
        _ => {
            eprintln!("skipped: {what} not available ({var} unset; scripts/test sets it)");
            None
        }
    }
}

/// The real Kafka-protocol broker started by `scripts/test`.
pub(crate) fn real_broker() -> Option<String> {
    external("MESH_TEST_KAFKA", "a real Kafka-protocol broker")
}

/// The Python with the interop clients installed by `scripts/test`.
pub(crate) fn python() -> Option<String> {
    external(
        "MESH_TEST_PYTHON",
        "Python with confluent-kafka and deltalake",
    )
}

/// A local mesh in a temporary directory; Kafka is the in-process broker unless
/// `bootstrap` names one.
pub(crate) async fn mesh(
    bootstrap: Option<String>,
) -> Result<(LocalMesh, tempfile::TempDir), Box<dyn std::error::Error + Send + Sync>> {
    // `RUST_LOG=consumer_kit=debug cargo test ... -- --nocapture` shows what the kits log.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir()?;
    let mut config = MeshConfig::default();
    config.data_dir = Some(dir.path().to_owned());
    if let Some(servers) = bootstrap {
        config.kafka.bootstrap_servers = Some(servers);
    }
    // tansu holds JoinGroup for half the session timeout, and the in-process broker only
    // hands partitions to a new member once the old assignment's session expires: keep it
    // short in tests.
    config
        .kafka
        .options
        .insert("session.timeout.ms".into(), "6000".into());
    let mesh = LocalMesh::start(&config).await?;
    Ok((mesh, dir))
}

/// Runs a Python interop script from `tests/interop/` and returns its stdout.
pub(crate) fn run_python(
    python: &str,
    script: &str,
    args: &[&str],
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(script);
    let output = Command::new(python).arg(&path).args(args).output()?;
    if !output.status.success() {
        return Err(format!(
            "{script} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(output.stdout)?)
}
