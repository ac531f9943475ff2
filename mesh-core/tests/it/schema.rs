//! Guards `AvroSchema::parse` and the limits of `mesh_core::avro::limits`: any JSON, any
//! mutation of a valid schema and any text are parsed or refused without a panic; whatever
//! is accepted compiles for encoding and reads itself (`can_read(s, s)`), on a worker-sized
//! stack at the deepest nesting the limits allow.

use std::time::{Duration, Instant};

use apache_avro::Schema;
use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use mesh_core::AvroSchema;
use mesh_core::avro::limits::{MAX_SCHEMA_DEPTH, MAX_SCHEMA_NODES};
use mesh_core::avro::table;
use proptest::prelude::*;
use serde_json::Value as Json;

use crate::arb;
use crate::support::{cases, no_panic, on_worker_stack};

/// Words a schema is made of, so random JSON often gets past the first checks.
const WORDS: &[&str] = &[
    "record",
    "enum",
    "array",
    "map",
    "fixed",
    "null",
    "boolean",
    "int",
    "long",
    "float",
    "double",
    "bytes",
    "string",
    "decimal",
    "uuid",
    "date",
    "duration",
    "big-decimal",
    "timestamp-millis",
    "time-micros",
    "local-timestamp-nanos",
    "R",
    "R0",
    "E",
    "F",
    "a.R",
    "f",
    "g",
    "A",
    "B",
    "",
    "1x",
    "mesh.test",
];

const KEYS: &[&str] = &[
    "type",
    "name",
    "namespace",
    "fields",
    "items",
    "values",
    "symbols",
    "size",
    "default",
    "logicalType",
    "precision",
    "scale",
    "aliases",
    "doc",
    "order",
];

fn word() -> impl Strategy<Value = Json> {
    prop::sample::select(WORDS).prop_map(Json::from)
}

/// Random JSON in the vocabulary of schemas.
fn schema_like_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        1 => Just(Json::Null),
        1 => any::<bool>().prop_map(Json::from),
        1 => (-3i64..40).prop_map(Json::from),
        1 => any::<i64>().prop_map(Json::from),
        1 => (-1e3f64..1e3).prop_map(Json::from),
        4 => word(),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            1 => prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            3 => prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kv| {
                Json::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

/// Replaces, drops or retypes parts of `json`, one decision per node from `ops`.
fn perturb(json: &mut Json, ops: &mut impl Iterator<Item = (u8, Json)>) {
    let Some((op, replacement)) = ops.next() else {
        return;
    };
    match op % 16 {
        0 => *json = replacement,
        1 => {
            if let Json::Object(map) = json {
                let key = map.keys().nth(usize::from(op / 16)).cloned();
                if let Some(k) = key {
                    map.remove(&k);
                }
            }
        }
        2 => {
            if let Json::Object(map) = json {
                let key = KEYS[usize::from(op / 16) % KEYS.len()];
                map.insert(key.to_owned(), replacement);
            }
        }
        3 => {
            if let Json::Array(items) = json {
                items.push(replacement);
            }
        }
        _ => {}
    }
    match json {
        Json::Object(map) => map.values_mut().for_each(|v| perturb(v, ops)),
        Json::Array(items) => items.iter_mut().for_each(|v| perturb(v, ops)),
        _ => {}
    }
}

/// Bug (`parse_refuses_what_makes_apache_avro_panic`): apache-avro 0.22
/// panics while it describes a field default that does not fit, when the field's type
/// carries an `order` that is not a string, or a `size`, `precision` or `scale` that is not an
/// integer. True for JSON that has a default and such an attribute anywhere.
fn odd_attribute_beside_a_default(json: &Json) -> bool {
    fn any_object(json: &Json, f: &dyn Fn(&serde_json::Map<String, Json>) -> bool) -> bool {
        match json {
            Json::Object(map) => f(map) || map.values().any(|v| any_object(v, f)),
            Json::Array(items) => items.iter().any(|v| any_object(v, f)),
            _ => false,
        }
    }
    let integer =
        |v: &Json| v.as_i64().is_some() || v.as_str().is_some_and(|s| s.parse::<i64>().is_ok());
    any_object(json, &|m| m.contains_key("default"))
        && any_object(json, &|m| {
            m.get("order").is_some_and(|o| !o.is_string())
                || ["size", "precision", "scale"]
                    .iter()
                    .any(|k| m.get(*k).is_some_and(|v| !integer(v)))
        })
}

/// Parses `text`; `None` when it is refused. A panic fails the case, unless it is
/// parse_refuses_what_makes_apache_avro_panic on JSON that has what it takes.
fn parse_or_refuse(text: &str, origin: &str) -> Result<Option<AvroSchema>, TestCaseError> {
    match no_panic(&text, || AvroSchema::parse(text, origin)) {
        Ok(parsed) => Ok(parsed.ok()),
        Err(_)
            if serde_json::from_str::<Json>(text)
                .is_ok_and(|j| odd_attribute_beside_a_default(&j)) =>
        {
            Ok(None)
        }
        Err(panic) => Err(panic),
    }
}

/// What every accepted schema must survive: compiling, reading itself, being a table (or
/// saying why not), and agreeing with apache-avro that it reads itself.
fn accepted_schema_holds(schema: &AvroSchema) -> Result<(), TestCaseError> {
    let encoder = schema.codec();
    prop_assert!(!encoder.schema_name().is_empty());
    let self_check = mesh_core::compat::can_read(schema, schema);
    prop_assert!(
        self_check.is_ok(),
        "{} cannot read itself: {self_check:?}",
        schema.text()
    );
    let _ = table::columns(schema);
    let _ = table::evolution(schema, schema, &[]);
    Ok(())
}

proptest! {
    #![proptest_config(cases(300))]

    #[test]
    fn generated_schemas_parse_and_read_themselves(model in arb::model()) {
        let text = model.text();
        let schema = AvroSchema::parse_record(&text, "generated");
        prop_assert!(schema.is_ok(), "{text}: {schema:?}");
        let schema = schema.expect("checked");
        accepted_schema_holds(&schema)?;
        let apache = Schema::parse_str(&text).expect("apache-avro parses it too");
        prop_assert_eq!(
            SchemaCompatibility::can_read(&apache, &apache).ok(),
            Some(Compatibility::Full)
        );
    }

    #[test]
    fn random_json_is_parsed_or_refused(json in schema_like_json()) {
        let text = json.to_string();
        if let Some(schema) = parse_or_refuse(&text, "random")? {
            accepted_schema_holds(&schema)?;
        }
    }

    #[test]
    fn mutated_schemas_are_parsed_or_refused(
        model in arb::model(),
        ops in prop::collection::vec((any::<u8>(), schema_like_json()), 0..64),
    ) {
        let mut json = model.json();
        perturb(&mut json, &mut ops.into_iter());
        let text = json.to_string();
        if let Some(schema) = parse_or_refuse(&text, "mutated")? {
            accepted_schema_holds(&schema)?;
        }
    }

    #[test]
    fn mangled_text_is_parsed_or_refused(
        model in arb::model(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let mut bytes = model.text().into_bytes();
        for (at, byte, kind) in edits {
            let i = at.index(bytes.len() + 1);
            match kind {
                0 => bytes.insert(i, byte),
                1 if i < bytes.len() => { bytes.remove(i); }
                _ if i < bytes.len() => bytes[i] = byte,
                _ => {}
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Some(schema) = parse_or_refuse(&text, "mangled")? {
            accepted_schema_holds(&schema)?;
        }
    }
}

/// A schema nesting `levels` containers (by `kinds`, cycled) around an `int`.
fn nested(kinds: &[u8], levels: usize) -> String {
    let mut text = String::from("\"int\"");
    for (i, kind) in kinds.iter().cycle().take(levels).enumerate() {
        text = match kind % 4 {
            0 => format!(r#"{{"type":"array","items":{text}}}"#),
            1 => format!(r#"{{"type":"map","values":{text}}}"#),
            2 => format!(r#"["null",{text}]"#),
            _ => format!(
                r#"{{"type":"record","name":"N{i}","fields":[{{"name":"f","type":{text}}}]}}"#
            ),
        };
    }
    text
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn nesting_is_bounded_on_a_worker_stack(
        kinds in prop::collection::vec(any::<u8>(), 1..5),
        levels in 1usize..130,
    ) {
        // A union directly in a union is not Avro: a nullable union never wraps another.
        let kinds: Vec<u8> = kinds.iter().map(|k| if k % 4 == 2 { 0 } else { *k }).collect();
        let mut kinds = kinds;
        kinds.push(2);
        let text = nested(&kinds, levels);
        let outcome = on_worker_stack(move || {
            AvroSchema::parse(&text, "nested").map(|schema| {
                let encoder = schema.codec().schema_name().to_owned();
                let reads_itself = mesh_core::compat::can_read(&schema, &schema).is_ok();
                let _ = table::columns(&schema);
                (encoder, reads_itself)
            })
        });
        match outcome {
            Ok((_, reads_itself)) => {
                prop_assert!(levels <= MAX_SCHEMA_DEPTH, "{levels} levels accepted");
                prop_assert!(reads_itself);
            }
            Err(e) => {
                // Refused for its depth: by our bound, or by the JSON parser's own (128).
                prop_assert!(levels > MAX_SCHEMA_DEPTH / 2, "{levels} levels refused: {e}");
            }
        }
    }
}

/// Each level uses the level below twice: 2^levels nodes written out.
fn doubling(levels: usize) -> String {
    let mut text =
        String::from(r#"{"type":"record","name":"D0","fields":[{"name":"x","type":"int"}]}"#);
    for i in 1..levels {
        text = format!(
            r#"{{"type":"record","name":"D{i}","fields":[{{"name":"a","type":{text}}},{{"name":"b","type":"D{}"}}]}}"#,
            i - 1
        );
    }
    text
}

#[test]
fn expansion_is_bounded_and_quick() {
    // Every size there is (past 40 levels the JSON nests deeper than its parser allows).
    for levels in 1..=40usize {
        let started = Instant::now();
        let parsed = AvroSchema::parse(&doubling(levels), "doubling");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{levels} levels"
        );
        // Level i holds 2^i - 1 records and 2^(i-1) ints: about 3 * 2^(i-1) nodes.
        let nodes = 3u64 << (levels - 1);
        match parsed {
            Ok(schema) => {
                assert!(
                    nodes <= 2 * MAX_SCHEMA_NODES as u64,
                    "{levels} levels accepted"
                );
                assert!(mesh_core::compat::can_read(&schema, &schema).is_ok());
                assert!(table::columns(&schema).is_ok());
            }
            Err(e) => {
                assert!(
                    nodes > MAX_SCHEMA_NODES as u64 / 2,
                    "{levels} levels refused: {e}"
                );
                assert!(e.to_string().contains("nodes"), "{e}");
            }
        }
    }
}

/// Found by `mutated_schemas_are_parsed_or_refused`: schema text from outside (a registry
/// request, a contract's `.avsc`) panics the parser instead of being refused. The panic is in
/// apache-avro 0.22 (`parsing_canonical_form`, reached from `RecordField::resolve_default_value`
/// to word its error); `AvroSchema::parse` does not contain it.
#[test]
fn parse_refuses_what_makes_apache_avro_panic() {
    let texts = [
        // `called Option::unwrap() on a None value`, apache-avro src/schema/mod.rs:1131
        r#"{"type":"record","name":"R","fields":[{"name":"f","type":{"type":"map","values":"int","size":1.5},"default":1}]}"#,
        // `got invalid JSON value for canonical form of schema: false`
        r#"{"type":"record","name":"R","fields":[{"name":"f","type":{"type":"array","items":"null","order":false},"default":1}]}"#,
        // `Only valid schemas are accepted!`
        r#"{"type":"record","name":"R","fields":[{"name":"f","type":{"type":"fixed","name":"F","size":4,"scale":"x"},"default":1}]}"#,
    ];
    for text in texts {
        let outcome = std::panic::catch_unwind(|| AvroSchema::parse(text, "odd").is_err());
        assert_eq!(
            outcome.ok(),
            Some(true),
            "{text} must be refused, not panic"
        );
    }
}
