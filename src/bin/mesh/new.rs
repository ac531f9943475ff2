//! `mesh new`: a domain team's crate from the templates in `templates/`.
//!
//! The templates are compiled into the binary. The new crate depends on the platform's
//! release this `mesh` belongs to (its repository, by tag), or on a local checkout with
//! `--datamesh-path`; it starts from this workspace's `Cargo.lock`, so it builds with the
//! versions the platform is tested with.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use datamesh::mesh_core::{DomainName, TopicName};

use crate::Context;
use crate::failure::{Failure, Outcome};

/// `mesh new ...`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Kind {
    /// A producer: contract, schema, publishing and snapshotting code, a test, a README.
    Producer(Args),
    /// A consumer: a handler subscribed to a stream, a test with a fixture producer, a README.
    Consumer {
        #[command(flatten)]
        args: Args,
        /// The stream it reads by default.
        #[arg(long, value_name = "TOPIC", default_value = "payments.events")]
        from: TopicName,
    },
}

/// What every template takes.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The domain (lowercase letters, digits and dashes).
    domain: DomainName,
    /// Where to create the crate (default `./<domain>-producer` or `./<domain>-consumer`).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Depend on a local `datamesh` checkout (to develop against it) instead of the
    /// platform's release from its repository.
    #[arg(long, value_name = "PATH")]
    datamesh_path: Option<PathBuf>,
}

/// A template's files: path in the new crate, text with `{{placeholders}}`.
type Files = &'static [(&'static str, &'static str)];

const PRODUCER: Files = &[
    (
        ".gitignore",
        include_str!("../../../templates/producer/.gitignore"),
    ),
    (
        "Cargo.toml",
        include_str!("../../../templates/producer/Cargo.toml"),
    ),
    (
        "README.md",
        include_str!("../../../templates/producer/README.md"),
    ),
    (
        "contract.toml",
        include_str!("../../../templates/producer/contract.toml"),
    ),
    (
        "schemas/Event.avsc",
        include_str!("../../../templates/producer/schemas/Event.avsc"),
    ),
    (
        "src/lib.rs",
        include_str!("../../../templates/producer/src/lib.rs"),
    ),
    (
        "src/main.rs",
        include_str!("../../../templates/producer/src/main.rs"),
    ),
    (
        "tests/publish.rs",
        include_str!("../../../templates/producer/tests/publish.rs"),
    ),
];

const CONSUMER: Files = &[
    (
        ".gitignore",
        include_str!("../../../templates/consumer/.gitignore"),
    ),
    (
        "Cargo.toml",
        include_str!("../../../templates/consumer/Cargo.toml"),
    ),
    (
        "README.md",
        include_str!("../../../templates/consumer/README.md"),
    ),
    (
        "src/lib.rs",
        include_str!("../../../templates/consumer/src/lib.rs"),
    ),
    (
        "src/main.rs",
        include_str!("../../../templates/consumer/src/main.rs"),
    ),
    (
        "tests/tally.rs",
        include_str!("../../../templates/consumer/tests/tally.rs"),
    ),
    (
        "tests/fixture/contract.toml",
        include_str!("../../../templates/consumer/tests/fixture/contract.toml"),
    ),
    (
        "tests/fixture/Ping.avsc",
        include_str!("../../../templates/consumer/tests/fixture/Ping.avsc"),
    ),
];

/// The workspace's lock file: the new crate resolves to the same versions.
const LOCK: &str = include_str!("../../../Cargo.lock");

/// Replaces every `{{name}}` of `vars` in `text`.
fn render(text: &str, vars: &[(&str, String)]) -> String {
    vars.iter().fold(text.to_owned(), |text, (name, value)| {
        text.replace(&format!("{{{{{name}}}}}"), value)
    })
}

fn write(dir: &Path, files: Files, vars: &[(&str, String)]) -> Result<(), Failure> {
    let failed = |path: &Path, e: std::io::Error| {
        Failure::failed(
            format!("cannot write {}: {e}", path.display()),
            "choose another --dir",
        )
    };
    for (relative, text) in files {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| failed(parent, e))?;
        }
        std::fs::write(&path, render(text, vars)).map_err(|e| failed(&path, e))?;
    }
    let lock = dir.join("Cargo.lock");
    std::fs::write(&lock, LOCK).map_err(|e| failed(&lock, e))
}

/// Formats the new crate's Rust files as `cargo fmt` would: names of any length change where
/// rustfmt breaks lines. Best effort: without rustfmt the files are still valid.
fn format(dir: &Path, files: Files) {
    let sources: Vec<PathBuf> = files
        .iter()
        .filter(|(path, _)| path.ends_with(".rs"))
        .map(|(path, _)| dir.join(path))
        .collect();
    let _ = std::process::Command::new("rustfmt")
        .args(["--edition", "2024"])
        .args(&sources)
        .stderr(std::process::Stdio::null())
        .status();
}

/// How the new crate depends on the platform (`datamesh` and its patched `rdkafka-sys`): by
/// default the release this `mesh` belongs to, from the repository by its tag, so the crate
/// builds on a teammate's machine and in CI; with `--datamesh-path`, a local checkout.
fn dependency(path: Option<PathBuf>) -> Result<(String, String), Failure> {
    let Some(path) = path else {
        let source = format!(
            "git = {:?}, tag = \"v{}\"",
            env!("CARGO_PKG_REPOSITORY"),
            env!("CARGO_PKG_VERSION")
        );
        return Ok((format!("{{ {source} }}"), format!("{{ {source} }}")));
    };
    let checkout = std::path::absolute(&path).unwrap_or(path);
    if !checkout.join("Cargo.toml").exists() {
        return Err(Failure::invalid(
            format!("no datamesh checkout at {}", checkout.display()),
            "pass --datamesh-path <a datamesh repository>, or leave it out to use the release",
        ));
    }
    let quoted = |p: &Path| format!("{{ path = {:?} }}", p.display().to_string());
    Ok((
        quoted(&checkout),
        quoted(&checkout.join("vendor/rdkafka-sys")),
    ))
}

/// Creates the crate.
pub(crate) fn run(ctx: &Context, kind: Kind) -> Outcome {
    let (args, files, suffix, source) = match kind {
        Kind::Producer(args) => (args, PRODUCER, "producer", None),
        Kind::Consumer { args, from } => (args, CONSUMER, "consumer", Some(from)),
    };
    let domain = args.domain;
    let krate = format!("{domain}-{suffix}");
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(&krate));
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(Failure::invalid(
            format!("{} already exists and is not empty", dir.display()),
            "choose another --dir",
        ));
    }
    let (datamesh, rdkafka_sys) = dependency(args.datamesh_path)?;
    let vars = [
        ("domain", domain.to_string()),
        ("namespace", domain.as_str().replace('-', "_")),
        ("crate", krate.clone()),
        ("crate_ident", krate.replace('-', "_")),
        ("datamesh", datamesh),
        ("rdkafka_sys", rdkafka_sys),
        (
            "source",
            source.map_or_else(String::new, |topic| topic.to_string()),
        ),
    ];
    write(&dir, files, &vars)?;
    format(&dir, files);

    if ctx.json {
        println!(
            "{}",
            serde_json::json!({ "crate": krate, "dir": dir, "domain": domain, "kind": suffix })
        );
    } else {
        println!("created {krate} in {}", dir.display());
        println!("  cd {} && cargo test", dir.display());
        println!("  with `mesh dev` running, export its MESH_CONFIG first: the crate then uses it");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_placeholder() {
        let vars = [
            ("domain", "pay-ments".to_owned()),
            ("namespace", "pay_ments".to_owned()),
            ("crate", "pay-ments-producer".to_owned()),
            ("crate_ident", "pay_ments_producer".to_owned()),
            ("datamesh", "{ path = \"/x\" }".to_owned()),
            (
                "rdkafka_sys",
                "{ path = \"/x/vendor/rdkafka-sys\" }".to_owned(),
            ),
            ("source", "a.b".to_owned()),
        ];
        for (path, text) in PRODUCER.iter().chain(CONSUMER) {
            let rendered = render(text, &vars);
            assert!(!rendered.contains("{{"), "{path} keeps a placeholder");
        }
        assert_eq!(render("x {{domain}} y", &vars), "x pay-ments y");
    }
}
