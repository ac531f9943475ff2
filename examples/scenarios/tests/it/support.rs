//! A local mesh per test.

use datamesh::LocalMesh;
use datamesh::mesh_core::MeshConfig;
use scenarios::domains::Mesh;

pub(crate) type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A local mesh on embedded defaults in its own temporary directory.
pub(crate) async fn local_mesh()
-> Result<(LocalMesh, Mesh, tempfile::TempDir), Box<dyn std::error::Error + Send + Sync>> {
    // `RUST_LOG=scenarios=debug cargo test -p mesh-scenarios -- --nocapture` shows the logs.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir()?;
    let mut config = MeshConfig::default();
    config.data_dir = Some(dir.path().to_owned());
    let local = LocalMesh::start(&config).await?;
    let mesh = Mesh::new(local.endpoints().clone());
    Ok((local, mesh, dir))
}
