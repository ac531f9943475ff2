//! What the workspace ships runs away from its source tree: no program reads a file through
//! `env!("CARGO_MANIFEST_DIR")` at run time (contracts, schemas and the NAB corpus are built
//! in with `include_str!`). Tests may: they run in the checkout.

use std::path::{Path, PathBuf};

use crate::support::TestResult;

/// Every `.rs` file under `dir`, skipping build output and integration-test folders.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if !matches!(
                name,
                "target" | "tests" | "vendor" | ".git" | "node_modules"
            ) {
                sources(&path, out)?;
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
    Ok(())
}

#[test]
fn no_program_reads_the_checkout_at_run_time() -> TestResult {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(root, &mut files)?;
    assert!(files.len() > 50, "found only {} sources", files.len());
    let needle = concat!("env!(\"CARGO_", "MANIFEST_DIR\")");
    let mut offenders = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        // Unit tests sit at the end of a file, after `#[cfg(test)]`.
        let shipped = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in shipped.lines().enumerate() {
            if line.contains(needle) {
                offenders.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "read at run time from the checkout:\n{}",
        offenders.join("\n")
    );
    Ok(())
}
