//! python `confluent-kafka`'s `SchemaRegistryClient`, `AvroSerializer` and
//! `AvroDeserializer` against a served catalog: a registry client nobody here wrote.

use std::path::Path;
use std::process::Command;

use catalog::server::{Auth, Catalog};
use serde_json::{Value, json};

use crate::support::TestResult;

fn python() -> Option<String> {
    match std::env::var("MESH_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var_os("MESH_TEST_REQUIRE_EXTERNAL").is_some() => {
            panic!(
                "Python with confluent-kafka is required: MESH_TEST_PYTHON is not set (run scripts/test)"
            )
        }
        _ => {
            eprintln!(
                "skipped: no Python with confluent-kafka (MESH_TEST_PYTHON unset; scripts/test sets it)"
            );
            None
        }
    }
}

/// A catalog served on a loopback port, stopped by [`Served::stop`].
struct Served {
    url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<catalog::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Served {
    async fn start() -> Result<Self, crate::support::Error> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("catalog.db").display());
        let catalog = Catalog::open(&url, Auth::Disabled).await?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(catalog.serve(listener, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            url: format!("http://{addr}"),
            stop,
            task,
            _dir: dir,
        })
    }

    async fn stop(self) -> TestResult {
        let _ = self.stop.send(());
        self.task.await??;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_python_client_works_against_the_catalog() -> TestResult {
    let Some(python) = python() else {
        return Ok(());
    };
    let served = Served::start().await?;

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/registry_client.py");
    let registry = served.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(registry)
            .arg("py")
            .output()
    })
    .await??;
    served.stop().await?;
    assert!(
        output.status.success(),
        "registry_client.py failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout)?;

    let id1 = seen["id1"].as_u64().ok_or("no id1")?;
    assert_eq!(
        seen["id1_again"].as_u64(),
        Some(id1),
        "re-registering keeps the id"
    );
    assert_eq!(
        seen["lookup"],
        json!({ "id": id1, "version": 1, "subject": "py.played-value" })
    );
    assert_eq!(seen["compatible_v2"], true);
    let id2 = seen["id2"].as_u64().ok_or("no id2")?;
    assert!(id2 > id1);
    assert_eq!(seen["latest"], json!({ "id": id2, "version": 2 }));
    assert_eq!(seen["versions"], json!([1, 2]));
    assert_eq!(seen["subjects"], json!(["py.played-value"]));
    assert_eq!(seen["subject_level"], "FULL");
    assert_eq!(seen["compatible_breaking"], false);
    assert_eq!(seen["register_breaking"]["http"], 409, "{seen}");
    assert_eq!(seen["register_breaking"]["code"], 409);
    assert_eq!(seen["unknown_id"]["code"], 40403);
    assert_eq!(seen["unknown_subject"]["code"], 40401);
    assert_eq!(
        seen["wire_schema_id"].as_u64(),
        Some(id2),
        "the serializer found v2's id"
    );
    assert_eq!(
        seen["round_trip"],
        json!({ "user_id": "u-7", "song_id": 42, "device": "speaker" })
    );
    Ok(())
}

/// schemathesis generates requests from the OpenAPI document (valid and invalid ones, and
/// stateful sequences) and checks that none gets a 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_errors() -> TestResult {
    let Some(python) = python() else {
        return Ok(());
    };
    let schemathesis = Path::new(&python).with_file_name("schemathesis");
    let served = Served::start().await?;
    let spec = format!("{}/openapi.json", served.url);
    // schemathesis keeps a cache in its working directory: give it a throw-away one.
    let scratch = tempfile::tempdir()?;
    let cwd = scratch.path().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(schemathesis)
            .current_dir(cwd)
            .args([
                "run",
                &spec,
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "25",
                "--seed",
                "1",
                // Stateful: sequences of calls along the document's links (register a
                // schema, then read it by id, check against it, delete it...).
                "--phases",
                "examples,coverage,fuzzing,stateful",
            ])
            .env("NO_COLOR", "1")
            .output()
    })
    .await??;
    served.stop().await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let operations = Catalog::openapi()["paths"].as_object().map_or(0, |paths| {
        paths
            .values()
            .filter_map(|p| p.as_object())
            .map(|p| p.len())
            .sum::<usize>()
    });
    assert!(
        stdout.contains(&format!("Tested: {operations}")),
        "not every one of the {operations} operations was tested:\n{stdout}"
    );
    assert!(
        stdout.contains("Stateful (in") && stdout.contains("API Links:"),
        "the stateful phase did not run:\n{stdout}"
    );
    Ok(())
}
