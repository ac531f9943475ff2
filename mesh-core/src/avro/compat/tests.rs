//! The verdict table: schema pairs and triples, the verdict at each level, and agreement with
//! `apache-avro`'s own checker.

use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};

use super::*;

fn record(fields: &str) -> AvroSchema {
    record_named("Event", fields)
}

fn record_named(name: &str, fields: &str) -> AvroSchema {
    let text = format!(
        r#"{{"type":"record","name":"{name}","namespace":"mesh.test","fields":[{fields}]}}"#
    );
    AvroSchema::parse(&text, "test").unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// apache-avro's verdict: only full compatibility counts (partial fails at read time for
/// some data, which a registry refuses).
fn avro_can_read(writer: &AvroSchema, reader: &AvroSchema) -> bool {
    matches!(
        SchemaCompatibility::can_read(writer.schema(), reader.schema()),
        Ok(Compatibility::Full)
    )
}

struct Pair {
    what: &'static str,
    old: AvroSchema,
    new: AvroSchema,
    /// Can the new schema read old data?
    backward: bool,
    /// Can the old schema read new data?
    forward: bool,
}

fn pair(what: &'static str, old: &str, new: &str, backward: bool, forward: bool) -> Pair {
    Pair {
        what,
        old: record(old),
        new: record(new),
        backward,
        forward,
    }
}

fn pairs() -> Vec<Pair> {
    let a = r#"{"name":"a","type":"int"}"#;
    vec![
        pair(
            "field added with default",
            a,
            &format!(r#"{a},{{"name":"b","type":"string","default":""}}"#),
            true,
            true,
        ),
        pair(
            "field added without default",
            a,
            &format!(r#"{a},{{"name":"b","type":"string"}}"#),
            false,
            true,
        ),
        pair(
            "field removed with default",
            &format!(r#"{a},{{"name":"b","type":"string","default":""}}"#),
            a,
            true,
            true,
        ),
        pair(
            "field removed without default",
            &format!(r#"{a},{{"name":"b","type":"string"}}"#),
            a,
            true,
            false,
        ),
        pair(
            "int to long",
            a,
            r#"{"name":"a","type":"long"}"#,
            true,
            false,
        ),
        pair(
            "long to int",
            r#"{"name":"a","type":"long"}"#,
            a,
            false,
            true,
        ),
        pair(
            "float to double",
            r#"{"name":"a","type":"float"}"#,
            r#"{"name":"a","type":"double"}"#,
            true,
            false,
        ),
        pair(
            "string to bytes",
            r#"{"name":"a","type":"string"}"#,
            r#"{"name":"a","type":"bytes"}"#,
            true,
            true,
        ),
        pair(
            "bytes to string",
            r#"{"name":"a","type":"bytes"}"#,
            r#"{"name":"a","type":"string"}"#,
            true,
            true,
        ),
        pair(
            "string to int",
            r#"{"name":"a","type":"string"}"#,
            a,
            false,
            false,
        ),
        pair(
            "enum symbol added",
            r#"{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}}"#,
            r#"{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}}"#,
            true,
            false,
        ),
        pair(
            "enum symbol removed",
            r#"{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}}"#,
            r#"{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}}"#,
            false,
            true,
        ),
        pair(
            "enum symbol added, readers with a default",
            r#"{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}}"#,
            r#"{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"],"default":"A"}}"#,
            true,
            true,
        ),
        pair(
            "union widened",
            r#"{"name":"u","type":["null","string"]}"#,
            r#"{"name":"u","type":["null","string","int"]}"#,
            true,
            false,
        ),
        pair(
            "union narrowed",
            r#"{"name":"u","type":["null","string","int"]}"#,
            r#"{"name":"u","type":["null","string"]}"#,
            false,
            true,
        ),
        pair(
            "made nullable",
            r#"{"name":"u","type":"string"}"#,
            r#"{"name":"u","type":["null","string"]}"#,
            true,
            false,
        ),
        pair(
            "nested field added without default",
            r#"{"name":"n","type":{"type":"record","name":"Inner","fields":[{"name":"x","type":"int"}]}}"#,
            r#"{"name":"n","type":{"type":"record","name":"Inner","fields":[{"name":"x","type":"int"},{"name":"y","type":"int"}]}}"#,
            false,
            true,
        ),
        pair(
            "nested field widened",
            r#"{"name":"n","type":{"type":"record","name":"Inner","fields":[{"name":"x","type":"int"}]}}"#,
            r#"{"name":"n","type":{"type":"record","name":"Inner","fields":[{"name":"x","type":"long"}]}}"#,
            true,
            false,
        ),
        pair(
            "fixed size changed",
            r#"{"name":"f","type":{"type":"fixed","name":"F","size":4}}"#,
            r#"{"name":"f","type":{"type":"fixed","name":"F","size":8}}"#,
            false,
            false,
        ),
        pair(
            "array items widened",
            r#"{"name":"xs","type":{"type":"array","items":"int"}}"#,
            r#"{"name":"xs","type":{"type":"array","items":"long"}}"#,
            true,
            false,
        ),
        pair(
            "map values changed",
            r#"{"name":"m","type":{"type":"map","values":"string"}}"#,
            r#"{"name":"m","type":{"type":"map","values":"int"}}"#,
            false,
            false,
        ),
    ]
}

#[test]
fn pairs_get_avro_resolution_verdicts_at_every_level() {
    for p in pairs() {
        assert_eq!(
            can_read(&p.old, &p.new).is_ok(),
            p.backward,
            "{}: backward",
            p.what
        );
        assert_eq!(
            can_read(&p.new, &p.old).is_ok(),
            p.forward,
            "{}: forward",
            p.what
        );
        // apache-avro agrees.
        assert_eq!(
            avro_can_read(&p.old, &p.new),
            p.backward,
            "{}: apache-avro backward",
            p.what
        );
        assert_eq!(
            avro_can_read(&p.new, &p.old),
            p.forward,
            "{}: apache-avro forward",
            p.what
        );
        let earlier = [(1, p.old.clone())];
        for level in Level::ALL {
            let expected = match level {
                Level::None => true,
                Level::Backward | Level::BackwardTransitive => p.backward,
                Level::Forward | Level::ForwardTransitive => p.forward,
                Level::Full | Level::FullTransitive => p.backward && p.forward,
            };
            let messages = check(level, &p.new, &earlier);
            assert_eq!(
                messages.is_empty(),
                expected,
                "{} at {level}: {messages:?}",
                p.what
            );
        }
    }
}

#[test]
fn renaming_a_record_breaks_both_ways_unless_aliased() {
    let old = record_named("Played", r#"{"name":"a","type":"int"}"#);
    let renamed = record_named("Listened", r#"{"name":"a","type":"int"}"#);
    assert!(can_read(&old, &renamed).is_err() && can_read(&renamed, &old).is_err());
    assert!(!avro_can_read(&old, &renamed));
    let aliased = AvroSchema::parse(
        r#"{"type":"record","name":"Listened","namespace":"mesh.test","aliases":["Played"],"fields":[{"name":"a","type":"int"}]}"#,
        "aliased",
    )
    .expect("aliased schema");
    assert!(can_read(&old, &aliased).is_ok());
}

#[test]
fn triples_separate_transitive_levels() {
    // v3 reads v2 (b is present) but not v1 (b is missing and v3 has no default for it).
    let v1 = record(r#"{"name":"a","type":"int"}"#);
    let v2 = record(r#"{"name":"a","type":"int"},{"name":"b","type":"string","default":"x"}"#);
    let v3 = record(r#"{"name":"a","type":"int"},{"name":"b","type":"string"}"#);
    let earlier = [(1, v1), (2, v2)];
    let verdicts: Vec<(Level, bool)> = Level::ALL
        .into_iter()
        .map(|l| (l, check(l, &v3, &earlier).is_empty()))
        .collect();
    assert_eq!(
        verdicts,
        [
            (Level::Backward, true),
            (Level::BackwardTransitive, false),
            (Level::Forward, true),
            (Level::ForwardTransitive, true),
            (Level::Full, true),
            (Level::FullTransitive, false),
            (Level::None, true),
        ]
    );
    let messages: Vec<String> = check(Level::BackwardTransitive, &v3, &earlier)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        messages,
        [
            "the new schema cannot read data written with version 1: $.b: the reader's field has no default and the writer does not write it"
        ]
    );
}

#[test]
fn messages_name_the_path_and_the_reason() {
    let old = record(
        r#"{"name":"n","type":{"type":"record","name":"Inner","fields":[{"name":"x","type":"long"}]}}"#,
    );
    let new = record(
        r#"{"name":"n","type":{"type":"record","name":"Inner","fields":[{"name":"x","type":"int"}]}}"#,
    );
    let found = can_read(&old, &new).expect_err("narrowing");
    assert_eq!(
        found[0].to_string(),
        "$.n.x: a long cannot be read as an int"
    );
}

#[test]
fn levels_parse_by_name() -> Result<()> {
    assert_eq!("full_transitive".parse::<Level>()?, Level::FullTransitive);
    assert_eq!(Level::default(), Level::Backward);
    let err = "SIDEWAYS"
        .parse::<Level>()
        .expect_err("not a level")
        .to_string();
    assert!(err.contains("BACKWARD_TRANSITIVE"), "{err}");
    Ok(())
}

/// A record of `n` int fields named `f00000`..., plus `extra` optional ones.
fn wide(n: usize, extra: usize) -> AvroSchema {
    let mut fields: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"name":"f{i:05}","type":"int"}}"#))
        .collect();
    fields.extend(
        (0..extra).map(|j| format!(r#"{{"name":"e{j}","type":["null","int"],"default":null}}"#)),
    );
    record_named("Wide", &fields.join(","))
}

#[test]
fn wide_records_check_in_linear_time() {
    // D5 of the catalog probe: 30,000 fields took seconds (each field found by a scan of
    // the other side's fields). The walk now takes a step per field; the reference to time
    // is the old quadratic walk, which a debug build would take minutes over.
    let (v1, v2) = (wide(30_000, 0), wide(30_000, 1));
    let started = std::time::Instant::now();
    assert_eq!(check(Level::FullTransitive, &v2, &[(1, v1)]), Vec::new());
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(steps(&wide(30_000, 1), &wide(30_000, 0)) <= 30_002);
}

fn steps(writer: &AvroSchema, reader: &AvroSchema) -> usize {
    let mut walk = Walk {
        writer,
        reader,
        path: String::from("$"),
        found: Vec::new(),
        recording: true,
        records: HashMap::new(),
        checking: 0,
        lowest: usize::MAX,
        steps: 0,
    };
    walk.check(writer.schema(), None, reader.schema(), None);
    walk.steps
}

/// Each level uses the level below twice, both times through a union with null.
fn doubling(levels: usize, leaf: &str) -> AvroSchema {
    let mut text =
        format!(r#"{{"type":"record","name":"D0","fields":[{{"name":"x","type":"{leaf}"}}]}}"#);
    for i in 1..levels {
        let below = i - 1;
        text = format!(
            r#"{{"type":"record","name":"D{i}","fields":[{{"name":"a","type":["null",{text}]}},{{"name":"b","type":["null","D{below}"]}}]}}"#
        );
    }
    AvroSchema::parse(&text, "doubling").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn named_types_used_twice_per_level_are_checked_once() {
    // 2^14 records written out; each pair of records is checked once, union trials included.
    let (int, long) = (doubling(14, "int"), doubling(14, "long"));
    assert!(can_read(&int, &long).is_ok());
    assert!(steps(&int, &long) < 1_000, "{}", steps(&int, &long));
    let found = can_read(&long, &int).expect_err("a long cannot be read as an int");
    assert!(!found.is_empty());
    assert!(!avro_can_read(&long, &int));
    assert!(avro_can_read(&int, &long));
}

#[test]
fn recursive_types_agree_with_apache_avro() {
    let list = |value: &str, extra: &str| {
        record_named(
            "Node",
            &format!(
                r#"{{"name":"v","type":"{value}"}},{{"name":"next","type":["null","Node"],"default":null}}{extra}"#
            ),
        )
    };
    let cases = [
        (list("int", ""), list("long", "")),
        (list("long", ""), list("int", "")),
        (
            list("int", ""),
            list("int", r#",{"name":"w","type":"int","default":0}"#),
        ),
        (
            list("int", ""),
            list("int", r#",{"name":"w","type":"int"}"#),
        ),
    ];
    for (writer, reader) in cases {
        assert_eq!(
            can_read(&writer, &reader).is_ok(),
            avro_can_read(&writer, &reader),
            "{} -> {}",
            writer.text(),
            reader.text()
        );
    }
    // A tree whose nodes refer to the outermost type from inside nested records: verdicts
    // that rest on a pair still being checked are not kept, and the answer is right.
    let tree = |leaf: &str| {
        AvroSchema::parse(
            &format!(
                r#"{{"type":"record","name":"T","namespace":"mesh.test","fields":[
                    {{"name":"inner","type":{{"type":"record","name":"I","fields":[
                        {{"name":"up","type":["null","T"],"default":null}},
                        {{"name":"leaf","type":"{leaf}"}}]}}}},
                    {{"name":"again","type":["null","I"],"default":null}}]}}"#
            ),
            "tree",
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };
    assert!(can_read(&tree("int"), &tree("long")).is_ok());
    let found = can_read(&tree("long"), &tree("int")).expect_err("narrowing");
    assert_eq!(found[0].path, "$.inner.leaf", "{found:?}");
    assert!(avro_can_read(&tree("int"), &tree("long")));
    assert!(!avro_can_read(&tree("long"), &tree("int")));
}
