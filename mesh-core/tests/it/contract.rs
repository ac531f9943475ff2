//! Guards `Contract::parse` (what `Contract::load` runs on a domain's `contract.toml`) and
//! `contract::parse_duration`: TOML-ish text, mutated valid contracts and deeply nested TOML
//! are loaded or refused without a panic or a stack overflow; every refusal is a contract
//! error naming the file; every contract accepted keeps the promises `parse` checks.

use std::path::Path;

use mesh_core::contract::parse_duration;
use mesh_core::{Contract, WriteMode};
use proptest::prelude::*;
use tempfile::TempDir;

use crate::support::{cases, no_panic, on_worker_stack};

/// The schemas contracts may name, in one directory per test.
fn schemas() -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = [
        (
            "song.avsc",
            r#"{"type":"record","name":"Song","fields":[{"name":"song_id","type":"long"},{"name":"genre","type":"string"},{"name":"tags","type":{"type":"array","items":"string"}},{"name":"label","type":["null","string"],"default":null}]}"#,
        ),
        (
            "list.avsc",
            r#"{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"],"default":null}]}"#,
        ),
        ("string.avsc", r#""string""#),
        ("broken.avsc", r#"{"type":"record","name":"#),
    ];
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write a schema");
    }
    dir
}

const GOOD: &str = r#"domain = "songs"
owner = "team-songs"
description = "The song catalogue"
[[streams]]
name = "released"
key = "song_id"
schema = "song.avsc"
partitions = 6
retention = "7d"
[[products]]
name = "catalogue"
schema = "song.avsc"
partition_by = ["genre"]
mode = "merge"
keys = ["song_id"]
sla = "1h"
streams = ["released"]
source = "released"
"#;

const KEYS: &[&str] = &[
    "domain",
    "owner",
    "description",
    "name",
    "key",
    "schema",
    "partitions",
    "retention",
    "tags",
    "partition_by",
    "mode",
    "keys",
    "sla",
    "streams",
    "source",
    "colour",
];

const VALUES: &[&str] = &[
    r#""songs""#,
    r#""Songs""#,
    r#""released""#,
    r#""catalogue""#,
    r#""song_id""#,
    r#""genre""#,
    r#""tags""#,
    r#""label""#,
    r#""song.avsc""#,
    r#""list.avsc""#,
    r#""string.avsc""#,
    r#""broken.avsc""#,
    r#""missing.avsc""#,
    r#""""#,
    r#""merge""#,
    r#""append""#,
    r#""overwrite""#,
    r#""7d""#,
    r#""0s""#,
    r#""1500ms""#,
    r#""99999999999999999999d""#,
    r#""18446744073709551615d""#,
    r#""h""#,
    r#""1 h""#,
    "0",
    "-1",
    "6",
    "2147483648",
    "9223372036854775807",
    "1.5",
    "true",
    r#"["genre"]"#,
    r#"["song_id"]"#,
    r#"["label"]"#,
    r#"["released","released"]"#,
    "[]",
    "{}",
    r#"{ a = 1 }"#,
    r#""é\u0000""#,
];

/// A line of TOML-ish text: a key and a value, a table header, or noise.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (prop::sample::select(KEYS), prop::sample::select(VALUES))
            .prop_map(|(k, v)| format!("{k} = {v}")),
        1 => prop::sample::select(vec!["[[streams]]", "[[products]]", "[streams]", "[[x]]"])
            .prop_map(str::to_owned),
        1 => "[ -~]{0,12}",
    ]
}

fn check(text: &str, dir: &Path) -> Result<(), TestCaseError> {
    let outcome = no_panic(&text, || Contract::parse(text, dir, "fuzz.toml"))?;
    match outcome {
        Err(e) => {
            let shown = e.to_string();
            prop_assert!(shown.starts_with("invalid contract fuzz.toml: "), "{shown}");
        }
        Ok(c) => {
            // What `parse` promises about a contract it returns.
            let mut names: Vec<&str> = c.streams.iter().map(|s| s.name.as_str()).collect();
            names.sort_unstable();
            let before = names.len();
            names.dedup();
            prop_assert_eq!(before, names.len(), "streams are unique");
            for s in &c.streams {
                prop_assert!(s.partitions >= 1);
                prop_assert_eq!(s.schema.full_name().is_empty(), false);
            }
            for p in &c.products {
                let columns = mesh_core::avro::table::columns(&p.schema);
                prop_assert!(columns.is_ok(), "{columns:?}");
                let columns = columns.expect("checked");
                for col in &p.partition_by {
                    prop_assert!(columns.iter().any(|c| &c.name == col), "{col}");
                }
                if let WriteMode::Merge { keys } = &p.mode {
                    prop_assert!(!keys.is_empty());
                }
                for s in p.streams.iter().chain(p.source.iter()) {
                    prop_assert!(c.stream(s.as_str()).is_some(), "{s}");
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(500))]

    #[test]
    fn toml_ish_text_is_loaded_or_refused(lines in prop::collection::vec(line(), 0..24)) {
        let dir = schemas();
        check(&lines.join("\n"), dir.path())?;
    }

    #[test]
    fn mutated_contracts_are_loaded_or_refused(
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, line()), 0..6),
    ) {
        let dir = schemas();
        let mut lines: Vec<String> = GOOD.lines().map(str::to_owned).collect();
        for (at, kind, new) in edits {
            let i = at.index(lines.len() + 1);
            match kind {
                0 => lines.insert(i, new),
                1 if i < lines.len() => {
                    lines.remove(i);
                }
                2 if i < lines.len() => lines[i] = new,
                _ if i < lines.len() => {
                    let copy = lines[i].clone();
                    lines.insert(i, copy);
                }
                _ => {}
            }
        }
        check(&lines.join("\n"), dir.path())?;
    }

    #[test]
    fn mangled_contracts_are_loaded_or_refused(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let dir = schemas();
        let mut bytes = GOOD.as_bytes().to_vec();
        for (at, byte, kind) in edits {
            let i = at.index(bytes.len() + 1);
            match kind {
                0 => bytes.insert(i, byte),
                1 if i < bytes.len() => {
                    bytes.remove(i);
                }
                _ if i < bytes.len() => bytes[i] = byte,
                _ => {}
            }
        }
        check(&String::from_utf8_lossy(&bytes), dir.path())?;
    }

    #[test]
    fn durations_parse_or_not(text in prop_oneof!["[0-9]{0,25} ?(ms|s|m|h|d|w|)", "\\PC{0,8}"]) {
        let parsed = no_panic(&text, || parse_duration(&text))?;
        if let Some(d) = parsed {
            let t = text.trim();
            let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
            let n: u64 = digits.parse().map_err(|_| TestCaseError::fail(format!("{text:?} -> {d:?}")))?;
            let unit = t[digits.len()..].trim();
            let expected = match unit {
                "ms" => std::time::Duration::from_millis(n),
                "s" => std::time::Duration::from_secs(n),
                "m" => std::time::Duration::from_secs(n * 60),
                "h" => std::time::Duration::from_secs(n * 3600),
                "d" => std::time::Duration::from_secs(n * 86_400),
                other => return Err(TestCaseError::fail(format!("{text:?}: unit {other:?} -> {d:?}"))),
            };
            prop_assert_eq!(d, expected);
        }
    }
}

proptest! {
    #![proptest_config(cases(32))]

    #[test]
    fn deeply_nested_toml_is_refused_on_a_worker_stack(levels in 1usize..20_000, table in any::<bool>()) {
        let (open, close) = if table { ("{ a = ", " }") } else { ("[", "]") };
        let text = format!("domain = \"songs\"\nowner = \"x\"\ndescription = {}1{}\n", open.repeat(levels), close.repeat(levels));
        let refused = on_worker_stack(move || {
            Contract::parse(&text, Path::new("."), "deep.toml").is_err()
        });
        prop_assert!(refused);
    }
}
