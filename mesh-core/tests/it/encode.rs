//! Guards the validator and the encoders: `AvroSchema::conform`, `resolve`, `encode_into`
//! (apache-avro values) and `encode_serde_into` (any `Serialize`, here JSON). Arbitrary
//! values never panic; what `encode_into` accepts decodes back to what `conform` returns, and
//! what `conform` accepts `encode_into` accepts; a refused value leaves the buffer as it was;
//! values nested deeper than `MAX_VALUE_DEPTH` are refused by every walk, on a worker-sized
//! stack, never overflowing it.

use std::collections::HashMap;
use std::sync::Arc;

use apache_avro::types::Value;
use apache_avro::{Decimal, Duration};
use mesh_core::AvroSchema;
use proptest::prelude::*;
use serde_json::Value as Json;

mod known;

use crate::arb;
use crate::model::{Model, Ty};
use crate::support::{cases, no_panic, on_big_stack, same};

pub(crate) fn parse(model: &Model) -> AvroSchema {
    AvroSchema::parse(&model.text(), "generated").expect("generated schemas parse")
}

/// A value of any kind, with no regard for a schema.
fn stray(op: u8, seed: i64) -> Value {
    let bytes = seed.to_le_bytes().to_vec();
    match op % 24 {
        0 => Value::Null,
        1 => Value::Boolean(seed % 2 == 0),
        2 => Value::Int(seed as i32),
        3 => Value::Long(seed),
        4 => Value::Float(seed as f32),
        5 => Value::Double(seed as f64),
        6 => Value::Bytes(bytes),
        7 => Value::String(format!("{seed}")),
        8 => Value::Fixed(8, bytes),
        9 => Value::Enum(0, "A".into()),
        10 => Value::Date(seed as i32),
        11 => Value::TimeMillis(seed as i32),
        12 => Value::TimeMicros(seed),
        13 => Value::TimestampMillis(seed),
        14 => Value::TimestampMicros(seed),
        15 => Value::TimestampNanos(seed),
        16 => Value::LocalTimestampMillis(seed),
        17 => Value::Uuid(uuid::Uuid::from_u128(seed as u128)),
        18 => Value::Decimal(Decimal::from(bytes)),
        19 => Value::Duration(Duration::from([seed as u8; 12])),
        20 => arb::big_decimal(seed, 2),
        21 => Value::Array(vec![Value::Null]),
        22 => Value::Map(HashMap::from([("k".to_owned(), Value::Int(1))])),
        _ => Value::Record(vec![("f0".into(), Value::Int(1))]),
    }
}

/// Changes `v` here and there, one decision per node from `ops` (most keep the node).
fn perturb(v: Value, ops: &mut impl Iterator<Item = (u8, i64)>) -> Value {
    let Some((op, seed)) = ops.next() else {
        return v;
    };
    let v = match (op % 32, v) {
        (0, _) => return stray((op / 32).wrapping_add(seed as u8), seed),
        (1, Value::Union(_, inner)) => *inner,
        (2, v) => Value::Union((op / 32) as u32, Box::new(v)),
        (3, Value::Record(fields)) => Value::Map(fields.into_iter().collect()),
        (4, Value::Record(mut fields)) => {
            fields.pop();
            Value::Record(fields)
        }
        (5, Value::Record(mut fields)) => {
            fields.push(("zz".into(), Value::Null));
            Value::Record(fields)
        }
        (6, Value::Record(mut fields)) => {
            fields.reverse();
            Value::Record(fields)
        }
        (7, Value::Int(i)) => Value::Long(i.into()),
        (7, Value::Long(l)) => Value::Int(l as i32),
        (7, Value::Date(i) | Value::TimeMillis(i)) => Value::Int(i),
        (
            7,
            Value::TimeMicros(l)
            | Value::TimestampMillis(l)
            | Value::TimestampMicros(l)
            | Value::TimestampNanos(l)
            | Value::LocalTimestampMillis(l)
            | Value::LocalTimestampMicros(l)
            | Value::LocalTimestampNanos(l),
        ) => Value::Long(l),
        (8, Value::Long(l)) => Value::TimestampMicros(l),
        (8, Value::TimestampMillis(l)) => Value::TimestampMicros(l),
        (8, Value::Int(i)) => Value::Date(i),
        (9, Value::Bytes(b)) => Value::String(String::from_utf8_lossy(&b).into_owned()),
        (9, Value::String(s)) => Value::Bytes(s.into_bytes()),
        (9, Value::Fixed(_, b)) => Value::Bytes(b),
        (9, Value::Enum(_, s)) => Value::String(s),
        (9, Value::Uuid(u)) => Value::String(u.to_string()),
        (9, Value::Decimal(d)) => Value::Bytes(Vec::<u8>::try_from(&d).unwrap_or_default()),
        (9, Value::Duration(d)) => Value::Fixed(12, <[u8; 12]>::from(d).to_vec()),
        (10, Value::Bytes(mut b)) => {
            b.push(0xff);
            Value::Bytes(b)
        }
        (10, Value::Array(mut items)) => {
            items.push(stray(op / 32, seed));
            Value::Array(items)
        }
        (10, Value::Float(f)) => Value::Double(f.into()),
        (10, Value::Double(d)) => Value::Float(d as f32),
        (10, Value::Enum(i, _)) => Value::Enum(i, "Z".into()),
        (10, Value::Union(i, inner)) => Value::Union(i + 1, inner),
        (_, v) => v,
    };
    match v {
        Value::Record(fields) => Value::Record(
            fields
                .into_iter()
                .map(|(k, v)| (k, perturb(v, ops)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| perturb(v, ops)).collect()),
        Value::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k, perturb(v, ops)))
                .collect(),
        ),
        Value::Union(i, inner) => Value::Union(i, Box::new(perturb(*inner, ops))),
        other => other,
    }
}

/// A schema and a value of it, perturbed.
pub(crate) fn schema_and_stray_value() -> impl Strategy<Value = (Arc<Model>, Value)> {
    (
        arb::model_and_value(),
        prop::collection::vec((any::<u8>(), any::<i64>()), 0..48),
    )
        .prop_map(|((model, value), ops)| (model, perturb(value, &mut ops.into_iter())))
}

/// What `conform`, `resolve` and `encode_into` must agree on for any value. Where they
/// disagree in a way a known bug explains ([`known`]), the case passes.
pub(crate) fn check_value(schema: &AvroSchema, value: &Value) -> Result<(), TestCaseError> {
    let conformed = no_panic(value, || schema.conform(value.clone()))?;
    let _ = no_panic(value, || schema.resolve(value.clone()))?;
    let mut out = vec![0xAB];
    let encoded = no_panic(value, || schema.encode_into(value, &mut out))?;
    match (&encoded, &conformed) {
        (Ok(()), Ok(conformed)) => {
            let decoded = schema.codec().decode(&out[1..]);
            if let Ok(d) = &decoded
                && !same(d, conformed)
                && known::decodes_otherwise(conformed, d).is_some()
            {
                return Ok(());
            }
            prop_assert!(
                decoded.as_ref().is_ok_and(|d| same(d, conformed)),
                "{value:?}\nconforms to {conformed:?}\nbut encodes to {:?}, which decodes to {decoded:?}",
                &out[1..]
            );
        }
        (Ok(()), Err(refused)) => {
            prop_assert!(
                known::accepted_but_not_conforming(refused).is_some(),
                "encode_into accepts {value:?}, which conform refuses: {refused}"
            );
        }
        (Err(refused), Ok(conformed)) => {
            prop_assert!(
                known::refused_but_conforming(refused, conformed).is_some(),
                "encode_into refuses {value:?} ({refused}), which conforms to {conformed:?}"
            );
        }
        (Err(e), Err(_)) => {
            prop_assert_eq!(
                &out,
                &vec![0xAB],
                "a refused value leaves the buffer as it was"
            );
            prop_assert!(!e.errors.is_empty());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(1000))]

    #[test]
    fn valid_values_conform_encode_and_decode_back((model, value) in arb::model_and_value()) {
        let schema = parse(&model);
        prop_assert!(schema.conform(value.clone()).is_ok(), "{value:?}");
        check_value(&schema, &value)?;
        // Read as a value written with the same schema, it resolves to itself.
        let resolved = schema.resolve(value.clone());
        prop_assert!(resolved.is_ok(), "{value:?}: {resolved:?}");
    }

    #[test]
    fn stray_values_are_encoded_or_refused_consistently((model, value) in schema_and_stray_value()) {
        check_value(&parse(&model), &value)?;
    }
}

/// Whether `value` takes a branch of a union with more than one non-null branch: there the
/// serde encoder picks the branch by the kind of JSON value, as JSON cannot say which.
fn takes_an_ambiguous_branch(model: &Model, ty: &Ty, value: &Value) -> bool {
    use crate::model::Def;
    match (ty, value) {
        (Ty::Union(branches), Value::Union(i, inner)) => {
            branches.iter().filter(|b| **b != Ty::Null).count() > 1
                || branches
                    .get(*i as usize)
                    .is_some_and(|b| takes_an_ambiguous_branch(model, b, inner))
        }
        (Ty::Array(items), Value::Array(vs)) => vs
            .iter()
            .any(|v| takes_an_ambiguous_branch(model, items, v)),
        (Ty::Map(values), Value::Map(vs)) => vs
            .values()
            .any(|v| takes_an_ambiguous_branch(model, values, v)),
        (Ty::Named(i), Value::Record(vs)) => match &model.defs[*i] {
            Def::Record { fields, .. } => fields
                .iter()
                .zip(vs)
                .any(|(f, (_, v))| takes_an_ambiguous_branch(model, &f.ty, v)),
            _ => false,
        },
        _ => false,
    }
}

/// `value` with every `bytes` value as the serde encoder writes the JSON string that Avro's
/// JSON encoding gives it (code points 0-255): as the string's UTF-8.
fn bytes_as_serde_writes_them(value: Value) -> Value {
    match value {
        Value::Bytes(b) => Value::Bytes(
            b.iter()
                .map(|&c| char::from(c))
                .collect::<String>()
                .into_bytes(),
        ),
        Value::Record(fields) => Value::Record(
            fields
                .into_iter()
                .map(|(k, v)| (k, bytes_as_serde_writes_them(v)))
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(bytes_as_serde_writes_them).collect())
        }
        Value::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k, bytes_as_serde_writes_them(v)))
                .collect(),
        ),
        Value::Union(i, inner) => Value::Union(i, Box::new(bytes_as_serde_writes_them(*inner))),
        other => other,
    }
}

/// What `encode_serde_into` must satisfy for any JSON: a refusal leaves the buffer as it
/// was; an acceptance decodes (ours and apache-avro alike) to a value that conforms unchanged.
fn check_json(schema: &AvroSchema, json: &Json) -> Result<Option<Value>, TestCaseError> {
    let mut out = vec![0xAB];
    let encoded = no_panic(json, || schema.encode_serde_into(json, &mut out))?;
    if encoded.is_err() {
        prop_assert_eq!(
            &out,
            &vec![0xAB],
            "a refused value leaves the buffer as it was"
        );
        return Ok(None);
    }
    let body = &out[1..];
    let decoded = schema.codec().decode(body);
    let decoded = decoded.map_err(|e| {
        TestCaseError::fail(format!(
            "{json} encodes to {body:?}, which does not decode: {e}"
        ))
    })?;
    let apache = on_big_stack(|| crate::support::apache_decode(schema, body));
    prop_assert!(
        apache.as_ref().is_ok_and(|a| same(a, &decoded)),
        "{json}: ours {decoded:?}, apache-avro {apache:?}"
    );
    {
        let conformed = schema.conform(decoded.clone());
        prop_assert!(
            conformed.as_ref().is_ok_and(|c| same(c, &decoded)),
            "{json} decodes to {decoded:?}, which conforms to {conformed:?}"
        );
    }
    Ok(Some(decoded))
}

/// JSON in the shape of the generated schemas' records: fields `f0`-`f3`, symbols, numbers.
fn json_like_records() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::from),
        any::<i64>().prop_map(Json::from),
        any::<u64>().prop_map(Json::from),
        any::<f64>().prop_map(Json::from),
        prop::sample::select(vec![
            "A",
            "B",
            "Z",
            "",
            "00000000-0000-0000-0000-000000000001"
        ])
        .prop_map(Json::from),
        arb::text().prop_map(Json::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Json::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec!["f0", "f1", "f2", "f3", "a", ""]),
                    inner
                ),
                0..5
            )
            .prop_map(|kv| Json::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

proptest! {
    #![proptest_config(cases(500))]

    #[test]
    fn json_of_valid_values_encodes_to_them((model, value) in arb::model_and_value()) {
        let root = Ty::Named(model.root);
        let json = arb::json_of(&model, &root, &value);
        prop_assume!(json.is_some());
        let json = json.expect("checked");
        let schema = parse(&model);
        let decoded = check_json(&schema, &json)?;
        if takes_an_ambiguous_branch(&model, &root, &value) {
            return Ok(());
        }
        let decoded = decoded.ok_or_else(|| TestCaseError::fail(format!("{json} is refused")))?;
        let expected = bytes_as_serde_writes_them(schema.conform(value).expect("generated values conform"));
        prop_assert!(same(&decoded, &expected), "{json}: {decoded:?}, expected {expected:?}");
    }

    #[test]
    fn arbitrary_json_is_encoded_or_refused(model in arb::model(), json in json_like_records()) {
        check_json(&parse(&model), &json)?;
    }
}

fn record_of(fields: &str) -> AvroSchema {
    let text = format!(r#"{{"type":"record","name":"R","fields":[{fields}]}}"#);
    AvroSchema::parse(&text, "bug").expect("parses")
}

/// Found by `stray_values_are_encoded_or_refused_consistently`: the encoder took any int or
/// long value for any int or long type, whatever its logical type said. A
/// `TimestampMicros` given to a `timestamp-millis` field was written as it was, so it read
/// back a thousand times too far in the future; `conform` refuses it. (Likewise a `Date`
/// for an `int`, a `Fixed` of 12 bytes for a `duration`, a UUID string for a bytes `uuid`.)
#[test]
fn encode_into_follows_logical_types() {
    let schema =
        record_of(r#"{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}}"#);
    let micros = Value::Record(vec![(
        "at".into(),
        Value::TimestampMicros(1_700_000_000_000_000),
    )]);
    assert!(
        schema.conform(micros.clone()).is_err(),
        "conform refuses it"
    );
    let mut body = Vec::new();
    let encoded = schema.encode_into(&micros, &mut body);
    let read = schema.codec().decode(&body);
    assert!(
        encoded.is_err(),
        "encode_into must refuse (or convert) it too; it wrote {body:?}, read back as {read:?}"
    );
}

/// Found by `stray_values_are_encoded_or_refused_consistently`: the encoder wrote a
/// `Value::Bytes` into a `string` field without checking it is UTF-8 (and a `Value::String`
/// into a `bytes` field), both of which `conform` refuses. The body it wrote for bytes that
/// are not UTF-8 is refused by every decoder: a producer could publish an event no consumer
/// reads.
#[test]
fn encode_into_keeps_bytes_and_strings_apart() {
    let schema = record_of(r#"{"name":"s","type":"string"}"#);
    let value = Value::Record(vec![("s".into(), Value::Bytes(vec![0xff, 0xfe]))]);
    assert!(schema.conform(value.clone()).is_err(), "conform refuses it");
    let mut body = Vec::new();
    let encoded = schema.encode_into(&value, &mut body);
    let read = schema.codec().decode(&body);
    assert!(
        encoded.is_err() || read.is_ok(),
        "encode_into wrote {body:?}, which does not decode: {read:?}"
    );
    assert!(
        encoded.is_err(),
        "encode_into must refuse what conform refuses"
    );
}

/// Found by `stray_values_are_encoded_or_refused_consistently`: `conform` takes a map with
/// string keys for a record (a JSON object turned into an apache-avro value is one);
/// `encode_into` refused it, reporting a violation `conform` says is not there.
#[test]
fn encode_into_takes_maps_standing_for_records() {
    let schema = record_of(r#"{"name":"a","type":"int"}"#);
    let value = Value::Map(HashMap::from([("a".to_owned(), Value::Int(1))]));
    assert!(schema.conform(value.clone()).is_ok(), "conform accepts it");
    let mut body = Vec::new();
    let encoded = schema.encode_into(&value, &mut body);
    assert!(
        encoded.is_ok(),
        "encode_into must accept what conform accepts: {encoded:?}"
    );
}

/// Found by `stray_values_are_encoded_or_refused_consistently`: given a value without a
/// branch index, the encoder took the first union branch whose kind fits and never tried
/// another; `conform` takes the first branch the value conforms to. So a symbol the enum
/// lacks was refused for `[enum, string]`, and an `Int` given to `[timestamp-millis, int]`
/// was written as a timestamp where `conform` says int.
#[test]
fn encode_into_picks_union_branches_as_conform_does() {
    let schema =
        record_of(r#"{"name":"u","type":[{"type":"enum","name":"E","symbols":["A"]},"string"]}"#);
    let value = Value::Record(vec![("u".into(), Value::String("B".into()))]);
    assert!(
        schema.conform(value.clone()).is_ok(),
        "conform places it in the string branch"
    );
    let mut body = Vec::new();
    let encoded = schema.encode_into(&value, &mut body);
    assert!(
        encoded.is_ok(),
        "encode_into must accept what conform accepts: {encoded:?}"
    );

    let schema = record_of(
        r#"{"name":"u","type":[{"type":"long","logicalType":"timestamp-millis"},"int"]}"#,
    );
    let value = Value::Record(vec![("u".into(), Value::Int(5))]);
    let conformed = schema
        .conform(value.clone())
        .expect("conforms, to the int branch");
    let mut body = Vec::new();
    schema.encode_into(&value, &mut body).expect("encodes");
    assert_eq!(schema.codec().decode(&body).ok(), Some(conformed));
}

/// Found in review: a union branch tried and failed left its path steps behind, and the path
/// is also the depth check, so an array of a few hundred items whose value fits the second
/// of two record branches was refused as nesting "deeper than 128 levels".
#[test]
fn failed_union_tries_leave_no_path_behind() {
    let schema = record_of(
        r#"{"name":"events","type":{"type":"array","items":[
            {"type":"record","name":"Click","fields":[{"name":"id","type":"long"},{"name":"url","type":"string"}]},
            {"type":"record","name":"View","fields":[{"name":"id","type":"long"}]}]}}"#,
    );
    let views: Vec<Value> = (0..300)
        .map(|i| Value::Record(vec![("id".into(), Value::Long(i))]))
        .collect();
    let value = Value::Record(vec![("events".into(), Value::Array(views))]);
    let conformed = schema
        .conform(value.clone())
        .expect("conform places each in View");
    let mut body = Vec::new();
    schema
        .encode_into(&value, &mut body)
        .expect("encode_into takes what conform takes");
    assert_eq!(schema.codec().decode(&body).ok(), Some(conformed));
}
