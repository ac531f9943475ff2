//! The catalog on a real socket: slow clients cannot hold connections or shutdown (probe
//! D9), connections past the limit wait, and HTTPS works for a client that verifies the
//! certificate.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use catalog::server::{Auth, Catalog, ServeOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Error, TestResult};

/// A catalog served on a loopback port until [`Served::stop`].
struct Served {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<catalog::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Served {
    async fn start(options: ServeOptions) -> Result<Self, Error> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("catalog.db").display());
        let catalog = Catalog::open(&url, Auth::Disabled).await?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(catalog.serve_with(listener, options, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            stop,
            task,
            _dir: dir,
        })
    }

    /// Asks for shutdown; the serve task must end within `within`.
    async fn stop(self, within: Duration) -> TestResult {
        let _ = self.stop.send(());
        tokio::time::timeout(within, self.task)
            .await
            .map_err(|_| "the catalog did not stop in time")???;
        Ok(())
    }
}

fn options(header_timeout: Duration, drain: Duration, max_connections: usize) -> ServeOptions {
    let mut options = ServeOptions::default();
    options.header_read_timeout = header_timeout;
    options.drain_timeout = drain;
    options.max_connections = max_connections;
    options
}

/// Sends a whole `GET /healthz` and reads the answer's status line.
async fn healthz(stream: &mut TcpStream) -> Result<String, Error> {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let answer = String::from_utf8_lossy(&answer);
    Ok(answer.lines().next().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_cut_off_and_cannot_hold_up_shutdown() -> TestResult {
    let served = Served::start(options(Duration::from_secs(1), Duration::from_secs(1), 64)).await?;
    // A request whose headers never finish is closed after the header-read timeout.
    let mut slow = TcpStream::connect(served.addr).await?;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await?;
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest))
        .await
        .map_err(|_| "a half-sent request was held open past the header-read timeout")??;
    // Another one is open when shutdown begins: the catalog still stops.
    let mut held = TcpStream::connect(served.addr).await?;
    held.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await?;
    let mut ok = TcpStream::connect(served.addr).await?;
    assert_eq!(healthz(&mut ok).await?, "HTTP/1.1 200 OK");
    served.stop(Duration::from_secs(10)).await?;
    drop(held);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_wait_their_turn() -> TestResult {
    let served = Served::start(options(Duration::from_secs(30), Duration::from_secs(1), 2)).await?;
    let first = TcpStream::connect(served.addr).await?;
    let second = TcpStream::connect(served.addr).await?;
    // Both slots are taken by idle connections: a third is accepted by the kernel but not
    // served...
    let third = tokio::spawn({
        let addr = served.addr;
        async move {
            let mut stream = TcpStream::connect(addr).await?;
            healthz(&mut stream).await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !third.is_finished(),
        "a connection past the limit was served"
    );
    // ...until one slot frees up.
    drop(first);
    let status = tokio::time::timeout(Duration::from_secs(10), third).await???;
    assert_eq!(status, "HTTP/1.1 200 OK");
    drop(second);
    served.stop(Duration::from_secs(10)).await
}

fn python() -> Option<String> {
    match std::env::var("MESH_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var_os("MESH_TEST_REQUIRE_EXTERNAL").is_some() => {
            panic!("Python is required: MESH_TEST_PYTHON is not set (run scripts/test)")
        }
        _ => {
            eprintln!("skipped: no Python (MESH_TEST_PYTHON unset; scripts/test sets it)");
            None
        }
    }
}

/// A self-signed certificate for 127.0.0.1 and its key, made by `openssl`.
fn self_signed(dir: &Path) -> Result<(PathBuf, PathBuf), Error> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()?;
    if !status.status.success() {
        return Err(format!(
            "openssl failed: {}",
            String::from_utf8_lossy(&status.stderr)
        )
        .into());
    }
    Ok((cert, key))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_works_for_a_client_that_verifies_the_certificate() -> TestResult {
    let Some(python) = python() else {
        return Ok(());
    };
    let certs = tempfile::tempdir()?;
    let (cert, key) = self_signed(certs.path())?;
    let served = Served::start(ServeOptions::default().with_tls_files(&cert, &key)?).await?;
    let url = format!("https://127.0.0.1:{}", served.addr.port());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/registry_client.py");
    // Confluent's registry client, trusting only our certificate: the whole client session
    // (register, look up, serialize, deserialize) over HTTPS.
    let trusted = {
        let (python, script, url, cert) =
            (python.clone(), script.clone(), url.clone(), cert.clone());
        tokio::task::spawn_blocking(move || {
            Command::new(python)
                .arg(script)
                .arg(url)
                .arg("tls")
                .arg(cert)
                .output()
        })
        .await??
    };
    assert!(
        trusted.status.success(),
        "registry_client.py over HTTPS failed:\n{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&trusted.stdout)?;
    assert_eq!(seen["versions"], serde_json::json!([1, 2]), "{seen}");
    // A client that does not trust the certificate is refused by its own verification.
    let untrusting = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args([
                "-c",
                "import sys, httpx; httpx.get(sys.argv[1] + '/healthz')",
            ])
            .arg(url)
            .output()
    })
    .await??;
    assert!(!untrusting.status.success());
    assert!(
        String::from_utf8_lossy(&untrusting.stderr).contains("CERTIFICATE_VERIFY_FAILED"),
        "{}",
        String::from_utf8_lossy(&untrusting.stderr)
    );
    served.stop(Duration::from_secs(10)).await
}
