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
        .env("CARGO_PROFILE_DEV_DEBUG", "line-tables-only")
        .env("CARGO_PROFILE_TEST_DEBUG", "line-tables-only")
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
        .status()?;
    assert!(status.success());

    for krate in [&producer, &consumer] {
        cargo(
            &dev,
            krate,
            &["clippy", "--all-targets", "--quiet", "--", "-D", "warnings"],
        )?;
        cargo(&dev, krate, &["test", "--quiet"])?;
    }

    // The producer's binary publishes 12 events; the command line sees them and the product.
    cargo(&dev, &producer, &["run", "--quiet"])?;
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
