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

pub(crate) fn external(var: &str, what: &str) -> Option<String> {
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
    mesh_with(|config| {
        if let Some(servers) = bootstrap {
            config.kafka.bootstrap_servers = Some(servers);
        }
    })
    .await
}

/// A local mesh in a temporary directory, configured further by `configure`.
pub(crate) async fn mesh_with(
    configure: impl FnOnce(&mut MeshConfig),
) -> Result<(LocalMesh, tempfile::TempDir), Box<dyn std::error::Error + Send + Sync>> {
    // `RUST_LOG=consumer_kit=debug cargo test ... -- --nocapture` shows what the kits log.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir()?;
    let mut config = MeshConfig::default();
    config.data_dir = Some(dir.path().to_owned());
    // tansu holds JoinGroup for half the session timeout, and the in-process broker only
    // hands partitions to a new member once the old assignment's session expires: keep it
    // short in tests.
    config
        .kafka
        .options
        .insert("session.timeout.ms".into(), "6000".into());
    configure(&mut config);
    let mesh = LocalMesh::start(&config).await?;
    Ok((mesh, dir))
}

/// Runs a Python interop script from `tests/interop/` and returns its stdout.
pub(crate) fn run_python(
    python: &str,
    script: &str,
    args: &[&str],
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    run_python_with(python, script, args, &[])
}

/// [`run_python`] with `env` set for the script (an object store's settings, say).
pub(crate) fn run_python_with(
    python: &str,
    script: &str,
    args: &[&str],
    env: &[(String, String)],
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(script);
    let output = Command::new(python)
        .arg(&path)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()?;
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

/// Which tansu a test starts for itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Storage {
    /// The prebuilt memory-only broker: a restart loses every topic, offset and group, and
    /// re-created topics get new topic ids.
    Memory,
    /// tansu on SQLite: acknowledged records survive `kill -9`.
    Sqlite,
}

/// A Kafka-protocol broker owned by one test, to kill, pause and restart; killed on drop.
pub(crate) struct Broker {
    binary: String,
    storage: Storage,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl Broker {
    /// Starts one, or `None` (the test skips) when `scripts/test` did not provide tansu.
    pub(crate) async fn start(
        storage: Storage,
    ) -> Result<Option<Self>, Box<dyn std::error::Error + Send + Sync>> {
        let var = match storage {
            Storage::Memory => "MESH_TEST_TANSU",
            Storage::Sqlite => "MESH_TEST_TANSU_PERSISTENT",
        };
        let Some(binary) = external(var, "a tansu binary") else {
            return Ok(None);
        };
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))?
            .local_addr()?
            .port();
        let mut broker = Self {
            binary,
            storage,
            port,
            dir: tempfile::tempdir()?,
            child: None,
        };
        broker.spawn().await?;
        Ok(Some(broker))
    }

    async fn spawn(&mut self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let listener = format!("tcp://127.0.0.1:{}", self.port);
        let engine = match self.storage {
            Storage::Memory => "memory://tansu/",
            // Relative to the working directory: tansu prepends it even to absolute paths.
            Storage::Sqlite => "sqlite://tansu.db",
        };
        // tansu binds without SO_REUSEADDR: right after a kill its port may still be held by
        // connections in TIME_WAIT, and the new broker then runs without listening. Try
        // again until it listens.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
        loop {
            match self.spawn_once(&listener, engine).await? {
                true => return Ok(()),
                false if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                }
                false => return Err(format!("tansu could not listen on port {}", self.port).into()),
            }
        }
    }

    /// Starts tansu once; `false` when it could not take its port.
    async fn spawn_once(
        &mut self,
        listener: &str,
        engine: &str,
    ) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
        let log_path = self.dir.path().join("tansu.log");
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(&self.binary)
            .current_dir(self.dir.path())
            .args([
                "broker",
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
            ])
            .args(["--storage-engine", engine])
            .env_remove("STORAGE_ENGINE")
            .env_remove("SCHEMA_REGISTRY")
            .env_remove("LISTENER_URL")
            .env_remove("ADVERTISED_LISTENER_URL")
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if log.contains("AddrInUse") {
                self.kill()?;
                return Ok(false);
            }
            if log.contains("ready in")
                && tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                    .await
                    .is_ok()
            {
                // The bind fails just after "ready" when it fails: give it that moment.
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                if !std::fs::read_to_string(&log_path)
                    .unwrap_or_default()
                    .contains("AddrInUse")
                {
                    return Ok(true);
                }
                self.kill()?;
                return Ok(false);
            }
            if std::time::Instant::now() > deadline {
                return Err(format!("tansu did not open port {}", self.port).into());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// The broker's SQLite database (on [`Storage::Sqlite`]).
    pub(crate) fn database(&self) -> PathBuf {
        self.dir.path().join("tansu.db")
    }

    /// `host:port`.
    pub(crate) fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn signal(&self, signal: &str) -> std::io::Result<()> {
        if let Some(child) = &self.child {
            Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(child.id().to_string())
                .status()?;
        }
        Ok(())
    }

    /// `kill -9`: no chance to flush or say goodbye.
    pub(crate) fn kill(&mut self) -> std::io::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts it again on the same port (and, on SQLite, the same data).
    pub(crate) async fn restart(&mut self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.kill()?;
        self.spawn().await
    }

    /// Freezes it (SIGSTOP): connections stay open, nothing answers.
    pub(crate) fn pause(&self) -> std::io::Result<()> {
        self.signal("STOP")
    }

    /// Thaws it (SIGCONT).
    pub(crate) fn resume(&self) -> std::io::Result<()> {
        self.signal("CONT")
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.resume();
        let _ = self.kill();
    }
}

/// A catalog served by the test on a fixed loopback port, to stop and start again (the same
/// SQLite database) as an outage.
pub(crate) struct CatalogServer {
    database: String,
    port: u16,
    running: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<datamesh::catalog::Result<()>>,
    )>,
    _dir: tempfile::TempDir,
}

impl CatalogServer {
    pub(crate) async fn start() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let dir = tempfile::tempdir()?;
        let database = format!("sqlite://{}", dir.path().join("catalog.db").display());
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))?
            .local_addr()?
            .port();
        let mut server = Self {
            database,
            port,
            running: None,
            _dir: dir,
        };
        server.resume().await?;
        Ok(server)
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops serving: clients get connection refused.
    pub(crate) async fn stop(&mut self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(());
            task.await??;
        }
        Ok(())
    }

    /// Serves again, on the same port and database.
    pub(crate) async fn resume(&mut self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let catalog = datamesh::catalog::server::Catalog::open(
            &self.database,
            datamesh::catalog::server::Auth::Disabled,
        )
        .await?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(catalog.serve(listener, async {
            let _ = stopped.await;
        }));
        self.running = Some((stop, task));
        Ok(())
    }
}
