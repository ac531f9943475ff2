//! The templates as a new team meets them: `mesh dev` running, `mesh new producer payments`
//! and `mesh new consumer audit`, each built, linted with `-D warnings` and tested against the
//! dev mesh unchanged; the producer run, its events tailed and its product queried.
//!
//! The generated crates build in their own target directory next to the workspace's
//! (`$DATAMESH_CACHE/target-templates`), so the suite's cargo never waits on itself.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::cli::{Dev, run};
use crate::support::TestResult;

fn cache() -> PathBuf {
    if let Some(dir) = std::env::var_os("DATAMESH_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"),
        PathBuf::from,
    );
    base.join("datamesh")
}

/// `cargo <args>` in `krate`, pointed at `dev`.
fn cargo(dev: &Dev, krate: &Path, args: &[&str]) -> TestResult {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .args(args)
        .current_dir(krate)
        .env("CARGO_TARGET_DIR", cache().join("target-templates"))
        .env("MESH_CONFIG", dev.config());
    let output = run(command, Duration::from_secs(45 * 60))?;
    if output.code != Some(0) {
        return Err(format!(
            "cargo {} in {}: {output:?}",
            args.join(" "),
            krate.display()
        )
        .into());
    }
    Ok(())
}

#[test]
fn generated_crates_build_lint_clean_and_pass_their_tests_on_the_dev_mesh() -> TestResult {
    let dev = Dev::start()?;
    let work = tempfile::tempdir()?;
    let producer = work.path().join("payments-producer");
    let consumer = work.path().join("audit-consumer");
    let status = dev
        .mesh(&["new", "producer", "payments", "--dir"])
        .arg(&producer)
        .args(["--datamesh-path", env!("CARGO_MANIFEST_DIR")])
        .status()?;
    assert!(status.success());
    let status = dev
        .mesh(&[
            "new",
            "consumer",
            "audit",
            "--from",
            "payments.events",
            "--dir",
        ])
        .arg(&consumer)
        .args(["--datamesh-path", env!("CARGO_MANIFEST_DIR")])
        .status()?;
    assert!(status.success());

    for krate in [&producer, &consumer] {
        cargo(
            &dev,
            krate,
            &["clippy", "--all-targets", "--quiet", "--", "-D", "warnings"],
        )?;
    }
    // The producer's README order: `cargo run` (12 events over 4 keys), then `cargo test` on
    // the same mesh.
    cargo(&dev, &producer, &["run", "--quiet"])?;
    cargo(&dev, &producer, &["test", "--quiet"])?;
    cargo(&dev, &consumer, &["test", "--quiet"])?;

    // The binary runs away from its source: copied elsewhere, the crate's folder gone, it
    // publishes with the contract built into it.
    let deployed = work.path().join("deployed");
    std::fs::create_dir(&deployed)?;
    let binary = deployed.join("payments-producer");
    std::fs::copy(
        cache().join("target-templates/debug/payments-producer"),
        &binary,
    )?;
    std::fs::rename(&producer, work.path().join("moved-away"))?;
    let mut command = Command::new(&binary);
    command
        .current_dir(&deployed)
        .env("MESH_CONFIG", dev.config());
    let ran = run(command, Duration::from_secs(120))?;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(
        ran.stdout.contains("payments.latest is at version"),
        "{ran:?}"
    );
    // The command line sees the events and the product.
    let tail = run(
        dev.mesh(&["tail", "payments.events", "--max", "12"]),
        Duration::from_secs(90),
    )?;
    assert_eq!(tail.code, Some(0), "{tail:?}");
    assert_eq!(tail.stdout.lines().count(), 12, "{tail:?}");
    let query = run(
        dev.mesh(&[
            "query",
            "--domain",
            "payments",
            "SELECT key FROM payments.latest ORDER BY key",
        ]),
        Duration::from_secs(90),
    )?;
    assert_eq!(query.code, Some(0), "{query:?}");
    assert!(query.stdout.contains("item-0"), "{query:?}");
    Ok(())
}
