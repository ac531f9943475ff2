//! The `mesh` command line as a domain team uses it: `mesh dev` in the background, a crate
//! from a template, contracts diffed and applied, events tailed, products queried, the
//! catalog read and changed, and errors as one line with a hint and an exit code.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use datamesh::consumer_kit::{
    CancellationToken, DomainConsumer, Event as ConsumedEvent, Handler, HandlerError,
    dead_letter_topic,
};
use datamesh::mesh_core::apache_avro::types::Value;
use datamesh::mesh_core::{Contract, DomainName, Endpoints, MeshConfig, TopicName};
use datamesh::producer_kit::DomainProducer;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Serialize;

use crate::support::TestResult;

const MESH: &str = env!("CARGO_BIN_EXE_mesh");

/// What a finished command printed.
pub(crate) struct Output {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `command`, killing it after `limit`.
pub(crate) fn run(
    mut command: Command,
    limit: Duration,
) -> Result<Output, Box<dyn std::error::Error + Send + Sync>> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut out = child.stdout.take().ok_or("no stdout")?;
    let mut err = child.stderr.take().ok_or("no stderr")?;
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Ok(Output {
        code: status.and_then(|s| s.code()),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// A `mesh dev` running in the background, stopped on drop.
pub(crate) struct Dev {
    child: Child,
    config: PathBuf,
    endpoints: serde_json::Value,
    _dir: tempfile::TempDir,
}

impl Dev {
    pub(crate) fn start() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Self::start_with(&[])
    }

    /// `mesh dev` with more arguments (`--auth`).
    pub(crate) fn start_with(
        extra: &[&str],
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let dir = tempfile::tempdir()?;
        let mut child = Command::new(MESH)
            .args(["dev", "--json", "--data-dir"])
            .arg(dir.path().join("dev"))
            .args(extra)
            .env_remove("MESH_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
        let endpoints: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| format!("mesh dev printed {line:?}: {e}"))?;
        let config = PathBuf::from(endpoints["config"].as_str().ok_or("no config path")?);
        Ok(Self {
            child,
            config,
            endpoints,
            _dir: dir,
        })
    }

    /// `mesh <args>` pointed at this mesh through `MESH_CONFIG`, as `mesh dev` says to.
    pub(crate) fn mesh(&self, args: &[&str]) -> Command {
        let mut command = Command::new(MESH);
        command
            .args(args)
            .env("MESH_CONFIG", &self.config)
            .env_remove("MESH_CATALOG_TOKEN")
            .env_remove("MESH_KAFKA_BOOTSTRAP_SERVERS")
            .env_remove("MESH_CATALOG_URL")
            .env_remove("MESH_LAKE_URL");
        command
    }

    pub(crate) fn config(&self) -> &Path {
        &self.config
    }

    fn endpoints(&self) -> Result<Endpoints, Box<dyn std::error::Error + Send + Sync>> {
        let mut config = MeshConfig::default();
        config.kafka.bootstrap_servers = self.endpoints["kafka"].as_str().map(str::to_owned);
        config.catalog.url = self.endpoints["catalog"].as_str().map(str::to_owned);
        config.lake.url = self.endpoints["lake"].as_str().map(str::to_owned);
        Ok(Endpoints::from_config(&config)?)
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `mesh <args>` against `dev` and checks its exit code.
fn mesh(
    dev: &Dev,
    args: &[&str],
    expect: i32,
) -> Result<Output, Box<dyn std::error::Error + Send + Sync>> {
    let output = run(dev.mesh(args), Duration::from_secs(90))?;
    if output.code != Some(expect) {
        return Err(format!(
            "mesh {} (expected exit {expect}): {output:?}",
            args.join(" ")
        )
        .into());
    }
    Ok(output)
}

/// A failure is one line on stderr, with a hint.
fn one_line_with_hint(output: &Output) {
    let lines: Vec<&str> = output.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{output:?}");
    assert!(lines[0].starts_with("mesh: "), "{output:?}");
    assert!(lines[0].contains("(hint: "), "{output:?}");
}

#[derive(Serialize)]
struct Event {
    event_id: String,
    key: String,
    kind: &'static str,
    amount: f64,
    note: Option<String>,
    occurred_at: i64,
}

#[test]
fn every_command_has_help_and_usage_errors_exit_2() -> TestResult {
    let commands: &[&[&str]] = &[
        &[],
        &["dev"],
        &["new", "producer"],
        &["new", "consumer"],
        &["contract", "validate"],
        &["contract", "diff"],
        &["contract", "apply"],
        &["catalog", "domains"],
        &["catalog", "products"],
        &["catalog", "grant"],
        &["catalog", "token", "create"],
        &["tail"],
        &["sink"],
        &["query"],
        &["completions"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let output = run(
            {
                let mut c = Command::new(MESH);
                c.args(&args);
                c
            },
            Duration::from_secs(30),
        )?;
        assert_eq!(output.code, Some(0), "mesh {}: {output:?}", args.join(" "));
        assert!(
            output.stdout.contains("Usage: mesh"),
            "mesh {}: {output:?}",
            args.join(" ")
        );
    }
    let mut missing = Command::new(MESH);
    missing.args(["contract"]);
    let output = run(missing, Duration::from_secs(30))?;
    assert_eq!(output.code, Some(2), "{output:?}");
    let mut bad_name = Command::new(MESH);
    bad_name.args(["catalog", "grant", "Not.A.Product", "x"]);
    let output = run(bad_name, Duration::from_secs(30))?;
    assert_eq!(output.code, Some(2), "{output:?}");
    // Completion scripts for the shells, one that bash itself parses.
    for shell in ["bash", "zsh", "fish"] {
        let mut command = Command::new(MESH);
        command.args(["completions", shell]);
        let output = run(command, Duration::from_secs(30))?;
        assert_eq!(output.code, Some(0), "{shell}: {output:?}");
        assert!(output.stdout.contains("tail"), "{shell}: {output:?}");
    }
    let script = tempfile::NamedTempFile::new()?;
    std::fs::write(script.path(), {
        let mut command = Command::new(MESH);
        command.args(["completions", "bash"]);
        run(command, Duration::from_secs(30))?.stdout
    })?;
    let parsed = Command::new("bash").arg("-n").arg(script.path()).status()?;
    assert!(parsed.success(), "bash -n refuses the completion script");
    // With --json, a usage error is the same JSON object as every other failure.
    for args in [
        &["--json", "tail"][..],
        &["tail", "--json", "--no-such-flag", "a.b"][..],
        &["--json", "contract"][..],
        &["--json", "catalog", "grant", "Not.A.Product", "x"][..],
    ] {
        let mut command = Command::new(MESH);
        command.args(args);
        let output = run(command, Duration::from_secs(30))?;
        assert_eq!(output.code, Some(2), "mesh {args:?}: {output:?}");
        assert_eq!(
            output.stderr.lines().count(),
            1,
            "mesh {args:?}: {output:?}"
        );
        let error: serde_json::Value = serde_json::from_str(&output.stderr)
            .map_err(|e| format!("mesh {args:?}: {e}: {output:?}"))?;
        assert_eq!(error["exit_code"], 2, "{error}");
        assert!(
            error["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{error}"
        );
        assert!(error["hint"].as_str().is_some(), "{error}");
    }
    Ok(())
}

#[test]
fn a_domain_team_works_through_the_command_line() -> TestResult {
    let dev = Dev::start()?;
    let work = tempfile::tempdir()?;
    let krate = work.path().join("payments-producer");
    let krate_arg = krate.to_str().ok_or("path")?;
    mesh(
        &dev,
        &["new", "producer", "payments", "--dir", krate_arg],
        0,
    )?;
    // The crate names no path of this machine: it depends on the release by git tag, and
    // ignores its build output.
    let cargo_toml = std::fs::read_to_string(krate.join("Cargo.toml"))?;
    let release = format!(
        "{{ git = \"https://github.com/datamesh-rs/datamesh\", tag = \"v{}\" }}",
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        cargo_toml.contains(&format!("datamesh = {release}")),
        "{cargo_toml}"
    );
    assert!(
        cargo_toml.contains(&format!("rdkafka-sys = {release}")),
        "{cargo_toml}"
    );
    assert!(
        !cargo_toml.contains(env!("CARGO_MANIFEST_DIR")),
        "{cargo_toml}"
    );
    let ignored = std::fs::read_to_string(krate.join(".gitignore"))?;
    assert!(ignored.lines().any(|l| l == "/target/"), "{ignored}");
    let manifest = krate.join("contract.toml");
    let manifest = manifest.to_str().ok_or("path")?;

    // Validate locally, see what applying would do, apply, and see nothing left to do.
    let valid = mesh(&dev, &["contract", "validate", manifest], 0)?;
    assert!(valid.stdout.contains("payments.events"), "{valid:?}");
    let diff = mesh(&dev, &["contract", "diff", manifest], 0)?;
    assert!(diff.stdout.contains("domain payments: create"), "{diff:?}");
    assert!(diff.stdout.contains("payments.events-value"), "{diff:?}");
    assert!(diff.stdout.contains("new subject"), "{diff:?}");
    mesh(&dev, &["contract", "apply", manifest], 0)?;
    let again = mesh(&dev, &["--json", "contract", "diff", manifest], 0)?;
    let plan: serde_json::Value = serde_json::from_str(&again.stdout)?;
    assert_eq!(plan["refused"], false, "{again:?}");
    assert_eq!(plan["domain_change"]["change"], "unchanged", "{again:?}");
    assert_eq!(
        plan["subjects"][0]["verdict"]["verdict"], "unchanged",
        "{again:?}"
    );

    // Events and a snapshot, from a producer in another process than the broker.
    tokio::runtime::Runtime::new()?.block_on(async {
        let producer =
            DomainProducer::connect(Contract::load(manifest)?, &dev.endpoints()?).await?;
        let events: Vec<Event> = (0..5)
            .map(|i| Event {
                event_id: format!("e-{i}"),
                key: format!("account-{}", i % 2),
                kind: "CREATED",
                amount: f64::from(i),
                note: None,
                occurred_at: 1_700_000_000_000 + i64::from(i),
            })
            .collect();
        producer
            .publisher::<Event>("events")?
            .send_batch(&events)
            .await?;
        let rows = producer.rows("latest", &events)?;
        producer.snapshot("latest", rows).await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    })?;

    let tail = mesh(&dev, &["tail", "payments.events", "--max", "5"], 0)?;
    let lines: Vec<serde_json::Value> = tail
        .stdout
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines.len(), 5, "{tail:?}");
    assert!(
        lines.iter().all(|l| l["value"]["kind"] == "CREATED"),
        "{tail:?}"
    );

    let query = mesh(
        &dev,
        &[
            "query",
            "--domain",
            "payments",
            "SELECT key, amount FROM payments.latest ORDER BY key",
        ],
        0,
    )?;
    assert!(query.stdout.contains("account-0"), "{query:?}");
    assert!(
        query
            .stdout
            .contains("2 row(s); read payments.latest at version"),
        "{query:?}"
    );
    let json = mesh(
        &dev,
        &[
            "--json",
            "query",
            "--domain",
            "payments",
            "SELECT count(*) AS n FROM payments.latest",
        ],
        0,
    )?;
    assert_eq!(json.stdout.trim(), r#"{"n":2}"#, "{json:?}");

    // The catalog.
    let domains = mesh(&dev, &["--json", "catalog", "domains"], 0)?;
    assert!(
        domains.stdout.contains(r#""name":"payments""#),
        "{domains:?}"
    );
    let products = mesh(&dev, &["catalog", "products"], 0)?;
    assert!(products.stdout.contains("payments.latest"), "{products:?}");
    mesh(
        &dev,
        &[
            "catalog",
            "register-domain",
            "audit",
            "--owner",
            "team-audit",
        ],
        0,
    )?;
    mesh(&dev, &["catalog", "grant", "payments.latest", "audit"], 0)?;
    let grants = mesh(&dev, &["--json", "catalog", "grants", "payments.latest"], 0)?;
    assert!(
        grants.stdout.contains(r#""consumer_domain":"audit""#),
        "{grants:?}"
    );
    let found = mesh(&dev, &["catalog", "search", "newest"], 0)?;
    assert!(found.stdout.contains("payments.latest"), "{found:?}");
    let health = mesh(&dev, &["--json", "catalog", "health", "payments.latest"], 0)?;
    let health: serde_json::Value = serde_json::from_str(&health.stdout)?;
    assert_eq!(health["product"], "payments.latest");
    let health = mesh(&dev, &["catalog", "health", "payments.latest"], 0)?;
    assert!(health.stdout.starts_with("payments.latest: "), "{health:?}");
    let product = mesh(&dev, &["catalog", "product", "payments.latest"], 0)?;
    assert!(product.stdout.contains("version"), "{product:?}");

    // An incompatible change: a new field without a default would break older consumers.
    let schema = krate.join("schemas/Event.avsc");
    let text = std::fs::read_to_string(&schema)?.replace(
        r#"{"name": "amount", "type": "double"},"#,
        r#"{"name": "amount", "type": "double"}, {"name": "currency", "type": "string"},"#,
    );
    std::fs::write(&schema, text)?;
    let refused = mesh(&dev, &["contract", "diff", manifest], 3)?;
    assert!(refused.stdout.contains("REFUSED"), "{refused:?}");
    assert!(refused.stdout.contains("currency"), "{refused:?}");
    assert!(
        refused
            .stdout
            .contains("the catalog would refuse this contract"),
        "{refused:?}"
    );
    let apply = mesh(&dev, &["contract", "apply", manifest], 3)?;
    one_line_with_hint(&apply);
    assert!(apply.stderr.contains("currency"), "{apply:?}");

    // The compatible forms of that change (a default, or nullable) are accepted on both the
    // stream and the table, and reach the table on apply: a query selects the new columns
    // at once, null in the rows written before.
    let text = std::fs::read_to_string(&schema)?.replace(
        r#"{"name": "currency", "type": "string"},"#,
        r#"{"name": "currency", "type": "string", "default": "EUR"}, {"name": "channel", "type": ["null", "string"], "default": null},"#,
    );
    std::fs::write(&schema, text)?;
    let accepted = mesh(&dev, &["contract", "diff", manifest], 0)?;
    assert!(accepted.stdout.contains("compatible"), "{accepted:?}");
    mesh(&dev, &["contract", "apply", manifest], 0)?;
    let query = mesh(
        &dev,
        &[
            "--json",
            "query",
            "SELECT key, currency, channel FROM payments.latest ORDER BY key",
        ],
        0,
    )?;
    let rows: Vec<serde_json::Value> = query
        .stdout
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(rows.len(), 2, "{query:?}");
    assert!(
        rows.iter()
            .all(|r| r.get("currency").is_none_or(serde_json::Value::is_null)),
        "rows written before the change hold null: {query:?}"
    );

    // A contract that renames the stream and the product: the diff names what the mesh
    // still holds under the old names.
    let renamed = krate.join("renamed.toml");
    std::fs::write(
        &renamed,
        std::fs::read_to_string(manifest)?
            .replace(r#"name = "events""#, r#"name = "entries""#)
            .replace(r#"streams = ["events"]"#, r#"streams = ["entries"]"#)
            .replace(r#"name = "latest""#, r#"name = "newest""#),
    )?;
    let renamed = mesh(
        &dev,
        &["contract", "diff", renamed.to_str().ok_or("path")?],
        0,
    )?;
    for expected in [
        "payments.latest",
        "not in the contract",
        "payments.events",
        "payments.events-value",
    ] {
        assert!(renamed.stdout.contains(expected), "{expected}: {renamed:?}");
    }

    // What a row means changes with the write mode and the merge keys: the diff shows both,
    // and the product page says how the table is written.
    let product = mesh(&dev, &["catalog", "product", "payments.latest"], 0)?;
    assert!(
        product.stdout.contains("written by merge on key"),
        "{product:?}"
    );
    let declared = std::fs::read_to_string(manifest)?;
    let merge_on_key = "mode = \"merge\"\nkeys = [\"key\"]\n";
    assert!(
        declared.contains(merge_on_key),
        "the template merges on key"
    );
    for (writes, expected) in [
        (
            "mode = \"append\"\n",
            r#"write mode: "merge on key" -> "append""#,
        ),
        (
            "mode = \"merge\"\nkeys = [\"event_id\"]\n",
            r#"write mode: "merge on key" -> "merge on event_id""#,
        ),
    ] {
        let changed = krate.join("changed.toml");
        std::fs::write(&changed, declared.replace(merge_on_key, writes))?;
        let diff = mesh(
            &dev,
            &["contract", "diff", changed.to_str().ok_or("path")?],
            0,
        )?;
        assert!(diff.stdout.contains(expected), "{expected}: {diff:?}");
        assert!(!diff.stdout.contains("nothing to change"), "{diff:?}");
    }

    // Errors: one line, a hint, an exit code a script can test.
    let unreachable = mesh(
        &dev,
        &["catalog", "domains", "--catalog-url", "http://127.0.0.1:9"],
        4,
    )?;
    one_line_with_hint(&unreachable);
    assert!(
        unreachable.stderr.contains("cannot reach the catalog"),
        "{unreachable:?}"
    );
    let bad_sql = mesh(&dev, &["query", "SELECT * FROM nowhere"], 2)?;
    one_line_with_hint(&bad_sql);
    let missing = mesh(&dev, &["catalog", "product", "payments.nothing"], 1)?;
    one_line_with_hint(&missing);
    let as_json = mesh(
        &dev,
        &["--json", "catalog", "product", "payments.nothing"],
        1,
    )?;
    let error: serde_json::Value = serde_json::from_str(as_json.stderr.trim())?;
    assert_eq!(error["exit_code"], 1);
    assert!(error["hint"].is_string());
    let broken = krate.join("broken.toml");
    std::fs::write(&broken, "domain = \"Not A Name\"\n")?;
    let invalid = mesh(
        &dev,
        &["contract", "validate", broken.to_str().ok_or("path")?],
        2,
    )?;
    one_line_with_hint(&invalid);
    Ok(())
}

/// SIGTERM while `mesh sink` or `mesh tail` is still connecting (here to a broker and a
/// catalog that take connections and never answer) stops it cleanly, exit 0 within a
/// second: the handlers are in place before the first request.
#[test]
fn a_signal_while_connecting_stops_sink_and_tail_cleanly() -> TestResult {
    // Both take connections and never answer.
    let silent = std::net::TcpListener::bind("127.0.0.1:0")?;
    let catalog = format!("http://{}", silent.local_addr()?);
    let silent_broker = std::net::TcpListener::bind("127.0.0.1:0")?;
    let broker = silent_broker.local_addr()?.to_string();
    for args in [
        &["sink", "silent.history"][..],
        &["tail", "silent.played"][..],
    ] {
        let mut child = Command::new(MESH)
            .args(args)
            .env("MESH_CONFIG", "/dev/null")
            .env("MESH_KAFKA_BOOTSTRAP_SERVERS", &broker)
            .env("MESH_CATALOG_URL", &catalog)
            .env("MESH_LAKE_URL", "file:///nonexistent")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            child.try_wait()?.is_none(),
            "mesh {args:?} still connecting"
        );
        Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()?;
        let stopped = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if stopped.elapsed() > Duration::from_secs(5) {
                let _ = child.kill();
                return Err(format!("mesh {args:?} ignored SIGTERM while connecting").into());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .ok_or("no stderr")?
            .read_to_string(&mut stderr)?;
        assert!(status.success(), "mesh {args:?}: {status:?} {stderr}");
        assert!(
            stopped.elapsed() < Duration::from_secs(1),
            "mesh {args:?} took {:?} to stop",
            stopped.elapsed()
        );
    }
    Ok(())
}

/// An unreachable broker is one line with a hint, exit 4, within `MESH_KAFKA_TIMEOUT_MS`:
/// no librdkafka lines, no colour codes (stderr is not a terminal here).
#[test]
fn an_unreachable_broker_is_one_line_and_exit_4() -> TestResult {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dir = tempfile::tempdir()?;
    let contract = dir.path().join("contract.toml");
    std::fs::write(
        &contract,
        "domain = \"payments\"\nowner = \"team\"\n[[streams]]\nname = \"events\"\nschema = \"Event.avsc\"\n",
    )?;
    std::fs::write(
        dir.path().join("Event.avsc"),
        r#"{"type": "record", "name": "Event", "fields": [{"name": "id", "type": "string"}]}"#,
    )?;
    let contract = contract.to_str().ok_or("path")?;
    for args in [
        &["tail", "payments.events"][..],
        &["sink", "payments.latest"][..],
        &["contract", "diff", contract][..],
    ] {
        let mut command = Command::new(MESH);
        command
            .args(args)
            .env("MESH_CONFIG", "/dev/null")
            .env("MESH_KAFKA_BOOTSTRAP_SERVERS", format!("127.0.0.1:{port}"))
            .env("MESH_CATALOG_URL", "http://127.0.0.1:9")
            .env("MESH_LAKE_URL", "file:///nonexistent")
            .env("MESH_KAFKA_TIMEOUT_MS", "2000")
            .env_remove("RUST_LOG");
        let started = Instant::now();
        let out = run(command, Duration::from_secs(30))?;
        assert_eq!(out.code, Some(4), "mesh {args:?}: {out:?}");
        one_line_with_hint(&out);
        assert!(
            out.stderr.contains("cannot reach the Kafka broker"),
            "{out:?}"
        );
        assert!(!out.stderr.contains('\u{1b}'), "colour codes: {out:?}");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "mesh {args:?} took {:?}",
            started.elapsed()
        );
    }
    Ok(())
}

/// A second `mesh dev` on the folder of a running one refuses (exit 1, one line) and leaves
/// the first one's catalog serving; `mesh tail` of a topic the broker does not have says so.
#[test]
fn a_second_mesh_dev_on_the_same_folder_refuses() -> TestResult {
    let dev = Dev::start()?;
    let unknown = mesh(&dev, &["tail", "nosuch.events"], 1)?;
    one_line_with_hint(&unknown);
    assert!(
        unknown.stderr.contains("has no topic nosuch.events"),
        "{unknown:?}"
    );
    let data_dir = dev.config().parent().ok_or("no data dir")?.to_owned();
    let second = run(
        {
            let mut command = Command::new(MESH);
            command
                .args(["dev", "--data-dir"])
                .arg(&data_dir)
                .env_remove("MESH_CONFIG");
            command
        },
        Duration::from_secs(30),
    )?;
    assert_eq!(second.code, Some(1), "{second:?}");
    one_line_with_hint(&second);
    assert!(
        second.stderr.contains("another `mesh dev` is running"),
        "{second:?}"
    );
    assert!(
        dev.config().exists(),
        "the first one's files are still there"
    );
    mesh(&dev, &["catalog", "domains"], 0)?;
    Ok(())
}

/// `mesh dev --auth` enforces tokens and grants, so a team rehearses them before the shared
/// catalog: the CLI acts as the token's domain, refuses a `--domain` its token does not act
/// for, says whether a token is missing, unknown or lacks a right, and a domain sees who it
/// is, its own tokens and its subjects' versions.
#[test]
fn mesh_dev_with_auth_rehearses_tokens_and_grants() -> TestResult {
    let dev = Dev::start_with(&["--auth"])?;
    let admin = dev.endpoints["admin_token"]
        .as_str()
        .ok_or("no admin token")?
        .to_owned();
    let kept = std::fs::read_to_string(dev.config().with_file_name("admin-token"))?;
    assert_eq!(kept.trim(), admin);
    let as_token = |token: &str, args: &[&str], expect: i32| {
        let mut command = dev.mesh(args);
        command.env("MESH_CATALOG_TOKEN", token);
        let output = run(command, Duration::from_secs(90))?;
        if output.code == Some(expect) {
            Ok(output)
        } else {
            Err::<_, Box<dyn std::error::Error + Send + Sync>>(
                format!(
                    "mesh {} (expected exit {expect}): {output:?}",
                    args.join(" ")
                )
                .into(),
            )
        }
    };

    // Without a token, and with one the catalog does not know: exit 3, and which it is.
    let missing = mesh(&dev, &["catalog", "products"], 3)?;
    one_line_with_hint(&missing);
    assert!(
        missing.stderr.contains("needs a bearer token"),
        "{missing:?}"
    );
    let unknown = as_token("nonsense", &["catalog", "products"], 3)?;
    assert!(
        unknown.stderr.contains("not one this catalog knows"),
        "{unknown:?}"
    );

    // The admin gives each domain a token.
    let who = as_token(&admin, &["--json", "catalog", "whoami"], 0)?;
    let who: serde_json::Value = serde_json::from_str(&who.stdout)?;
    assert_eq!(who["kind"], "admin", "{who}");
    for domain in ["payments", "audit"] {
        as_token(
            &admin,
            &["catalog", "register-domain", domain, "--owner", "team"],
            0,
        )?;
    }
    let mut tokens = std::collections::HashMap::new();
    for domain in ["payments", "audit"] {
        let created = as_token(&admin, &["--json", "catalog", "token", "create", domain], 0)?;
        let created: serde_json::Value = serde_json::from_str(&created.stdout)?;
        tokens.insert(
            domain,
            created["token"].as_str().ok_or("no secret")?.to_owned(),
        );
    }
    let (payments, audit) = (&tokens["payments"], &tokens["audit"]);

    // Payments applies its contract with its own token.
    let work = tempfile::tempdir()?;
    let krate = work.path().join("payments-producer");
    mesh(
        &dev,
        &[
            "new",
            "producer",
            "payments",
            "--dir",
            krate.to_str().ok_or("path")?,
        ],
        0,
    )?;
    let manifest = krate.join("contract.toml");
    let manifest = manifest.to_str().ok_or("path")?;
    as_token(payments, &["contract", "apply", manifest], 0)?;

    // Audit is who its token says, sees only its own tokens, and reads as audit.
    let me = as_token(audit, &["catalog", "whoami"], 0)?;
    assert!(me.stdout.starts_with("domain audit (token "), "{me:?}");
    let own = as_token(audit, &["--json", "catalog", "token", "list"], 0)?;
    let own: serde_json::Value = serde_json::from_str(&own.stdout)?;
    let own = own.as_array().ok_or("no list")?;
    assert_eq!(own.len(), 1, "{own:?}");
    assert_eq!(own[0]["domain"], "audit");
    let query = ["query", "SELECT * FROM payments.latest"];
    let denied = as_token(audit, &query, 3)?;
    one_line_with_hint(&denied);
    assert!(
        denied.stderr.contains("domain audit holds no grant"),
        "{denied:?}"
    );
    let posing = as_token(
        audit,
        &[
            "query",
            "--domain",
            "payments",
            "SELECT * FROM payments.latest",
        ],
        3,
    )?;
    assert!(
        posing
            .stderr
            .contains("the catalog token acts for domain audit, not payments"),
        "{posing:?}"
    );
    // A right that is missing is named, with the token's domain, and the hint is not "send
    // a token".
    let not_owner = as_token(audit, &["catalog", "grant", "payments.latest", "audit"], 3)?;
    assert!(
        not_owner.stderr.contains("belongs to domain 'payments'")
            && not_owner.stderr.contains("mesh catalog whoami"),
        "{not_owner:?}"
    );
    let not_admin = as_token(audit, &["catalog", "token", "create", "audit"], 3)?;
    assert!(
        not_admin.stderr.contains("acts for domain 'audit'"),
        "{not_admin:?}"
    );

    // The owner grants; audit reads.
    as_token(
        payments,
        &["catalog", "grant", "payments.latest", "audit"],
        0,
    )?;
    as_token(audit, &query, 0)?;

    // The registered versions of a domain's subjects.
    let subjects = as_token(
        audit,
        &["--json", "catalog", "subjects", "--domain", "payments"],
        0,
    )?;
    let subjects: serde_json::Value = serde_json::from_str(&subjects.stdout)?;
    let names: Vec<&str> = subjects
        .as_array()
        .ok_or("no list")?
        .iter()
        .filter_map(|s| s["subject"].as_str())
        .collect();
    assert!(names.contains(&"payments.events-value"), "{subjects}");
    assert!(
        names.iter().all(|n| n.starts_with("payments.")),
        "{subjects}"
    );
    let versions = as_token(audit, &["catalog", "versions", "payments.events-value"], 0)?;
    assert!(versions.stdout.contains("event_id"), "{versions:?}");
    Ok(())
}

/// Takes every event and does nothing with it.
struct Ignore;

impl Handler for Ignore {
    type Value = Value;

    async fn handle(&self, _event: ConsumedEvent<Value>) -> Result<(), HandlerError> {
        Ok(())
    }
}

/// On `mesh dev`'s broker (librdkafka's mock cluster, which has no admin API) a consumer's
/// dead-letter path works: it used to wait a minute for the admin API and die. `mesh tail`
/// only reads: it says on stderr what it passed over, writes no dead letter, and stops at
/// once on Ctrl-C.
#[test]
fn on_mesh_dev_consumers_dead_letter_and_tail_only_reads() -> TestResult {
    let dev = Dev::start()?;
    let endpoints = dev.endpoints()?;
    let topic: TopicName = "scratch.raw".parse()?;
    let consumer_dlq = tokio::runtime::Runtime::new()?.block_on(async {
        let raw: FutureProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &endpoints.kafka.bootstrap_servers)
            .create()?;
        raw.send(
            FutureRecord::<(), _>::to(topic.as_str()).payload(b"not avro".as_slice()),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)?;
        let consumer = DomainConsumer::connect(DomainName::new("audit")?, &endpoints).await?;
        let shutdown = CancellationToken::new();
        let run = tokio::spawn(
            consumer
                .subscribe(vec![topic.clone()])
                .run(Ignore, shutdown.clone()),
        );
        let metrics = consumer.metrics().clone();
        let deadline = Instant::now() + Duration::from_secs(30);
        while metrics.summary().dead_lettered == 0 {
            if Instant::now() > deadline || run.is_finished() {
                return Err("the consumer did not dead-letter the message".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        shutdown.cancel();
        let summary = run.await??;
        assert_eq!((summary.handled, summary.dead_lettered), (0, 1));
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(dead_letter_topic(&consumer))
    })?;

    let mut tail = dev
        .mesh(&["tail", topic.as_str()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = tail.stderr.take().ok_or("no stderr")?;
    let (lines, said) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let line = said.recv_timeout(Duration::from_secs(30));
    Command::new("kill")
        .arg("-INT")
        .arg(tail.id().to_string())
        .status()?;
    let stopped = Instant::now();
    let status = loop {
        if let Some(status) = tail.try_wait()? {
            break status;
        }
        if stopped.elapsed() > Duration::from_secs(5) {
            let _ = tail.kill();
            return Err("mesh tail ignored Ctrl-C".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let line = line?;
    // The mock cluster gives a topic several partitions: the message is at offset 0 of one.
    assert!(
        line.starts_with("mesh: skipped the message at scratch.raw[")
            && line.contains("]@0: not Confluent wire format: the first byte is 0x6e"),
        "{line}"
    );
    assert!(status.success(), "{status:?}");
    assert!(
        stopped.elapsed() < Duration::from_secs(1),
        "mesh tail took {:?} to stop",
        stopped.elapsed()
    );

    let client: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &endpoints.kafka.bootstrap_servers)
        .create()?;
    let metadata = client.fetch_metadata(None, Duration::from_secs(10))?;
    let topics: Vec<&str> = metadata.topics().iter().map(|t| t.name()).collect();
    assert!(topics.contains(&consumer_dlq.as_str()), "{topics:?}");
    assert!(
        !topics.iter().any(|t| t.starts_with("mesh-cli")),
        "mesh tail wrote a dead letter: {topics:?}"
    );
    Ok(())
}
