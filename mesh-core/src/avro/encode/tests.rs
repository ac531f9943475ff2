//! The fast encoders against apache-avro: same bytes for the same data, on every shape; and
//! refusals with the field path.

use std::collections::{BTreeMap, HashMap};

use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use serde::Serialize;

use crate::AvroSchema;

const SINK: &str = r#"{
  "type": "record", "name": "Sink", "namespace": "mesh.test",
  "fields": [
    {"name": "id", "type": "long"},
    {"name": "name", "type": "string"},
    {"name": "count", "type": "int"},
    {"name": "ratio", "type": "float"},
    {"name": "score", "type": "double"},
    {"name": "active", "type": "boolean"},
    {"name": "blob", "type": "bytes"},
    {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["PLAY", "SKIP", "LIKE"]}},
    {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item",
        "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}}},
    {"name": "counters", "type": {"type": "map", "values": "long"}},
    {"name": "note", "type": ["null", "string"], "default": null},
    {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 4}},
    {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
    {"name": "device", "type": "string", "default": "web"}
  ]
}"#;

#[derive(Serialize)]
struct Item {
    sku: String,
    qty: i32,
}

#[derive(Serialize)]
enum Kind {
    #[allow(dead_code)]
    Play,
    #[serde(rename = "SKIP")]
    Skip,
}

#[derive(Serialize)]
struct Sink {
    id: i64,
    name: String,
    count: i32,
    ratio: f32,
    score: f64,
    active: bool,
    #[serde(with = "serde_bytes_like")]
    blob: Vec<u8>,
    kind: Kind,
    items: Vec<Item>,
    counters: BTreeMap<String, i64>,
    note: Option<String>,
    #[serde(with = "serde_bytes_like")]
    hash: Vec<u8>,
    at: i64,
    day: i32,
    uid: String,
    #[serde(with = "serde_bytes_like")]
    price: Vec<u8>,
}

/// Serializes a `Vec<u8>` as bytes rather than as a sequence.
mod serde_bytes_like {
    pub(super) fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
}

fn sink() -> Sink {
    Sink {
        id: 7,
        name: "Blue in Green".into(),
        count: -3,
        ratio: 0.5,
        score: 2.25,
        active: true,
        blob: vec![0, 1, 255],
        kind: Kind::Skip,
        items: vec![
            Item {
                sku: "a".into(),
                qty: 1,
            },
            Item {
                sku: "b".into(),
                qty: 2,
            },
        ],
        counters: BTreeMap::from([("plays".to_owned(), 10), ("skips".to_owned(), 2)]),
        note: Some("hi".into()),
        hash: vec![1, 2, 3, 4],
        at: 1_700_000_000_123,
        day: 19_700,
        uid: "67e55044-10b1-426f-9247-bb680e5fe0c8".into(),
        price: vec![0x30, 0x39],
    }
}

fn sink_value() -> Value {
    let item = |sku: &str, qty: i32| {
        Value::Record(vec![
            ("sku".into(), Value::String(sku.into())),
            ("qty".into(), Value::Int(qty)),
        ])
    };
    Value::Record(vec![
        ("id".into(), Value::Long(7)),
        ("name".into(), Value::String("Blue in Green".into())),
        ("count".into(), Value::Int(-3)),
        ("ratio".into(), Value::Float(0.5)),
        ("score".into(), Value::Double(2.25)),
        ("active".into(), Value::Boolean(true)),
        ("blob".into(), Value::Bytes(vec![0, 1, 255])),
        ("kind".into(), Value::Enum(1, "SKIP".into())),
        (
            "items".into(),
            Value::Array(vec![item("a", 1), item("b", 2)]),
        ),
        (
            "counters".into(),
            Value::Map(HashMap::from([
                ("plays".to_owned(), Value::Long(10)),
                ("skips".to_owned(), Value::Long(2)),
            ])),
        ),
        (
            "note".into(),
            Value::Union(1, Box::new(Value::String("hi".into()))),
        ),
        ("hash".into(), Value::Fixed(4, vec![1, 2, 3, 4])),
        ("at".into(), Value::TimestampMillis(1_700_000_000_123)),
        ("day".into(), Value::Date(19_700)),
        (
            "uid".into(),
            Value::Uuid(
                "67e55044-10b1-426f-9247-bb680e5fe0c8"
                    .parse()
                    .expect("uuid"),
            ),
        ),
        (
            "price".into(),
            Value::Decimal(apache_avro::Decimal::from(vec![0x30, 0x39])),
        ),
        ("device".into(), Value::String("web".into())),
    ])
}

fn schema() -> AvroSchema {
    AvroSchema::parse_record(SINK, "sink").expect("the test schema parses")
}

/// apache-avro's own encoding of a value.
fn reference(schema: &AvroSchema, value: Value) -> Vec<u8> {
    GenericDatumWriter::builder(schema.schema())
        .build()
        .and_then(|w| w.write_value_to_vec(value))
        .expect("apache-avro encodes the reference value")
}

#[test]
fn serde_and_value_paths_match_apache_avro_byte_for_byte() -> Result<(), Box<dyn std::error::Error>>
{
    let schema = schema();
    let expected = reference(&schema, sink_value());
    let mut from_serde = Vec::new();
    schema.encode_serde_into(&sink(), &mut from_serde)?;
    // Map entries may be written in any order; compare after decoding where they differ.
    let mut from_value = Vec::new();
    schema.encode_into(&sink_value(), &mut from_value)?;
    assert_eq!(schema.decode(&from_serde)?, schema.decode(&expected)?);
    assert_eq!(schema.decode(&from_value)?, schema.decode(&expected)?);
    assert_eq!(from_serde.len(), expected.len());
    Ok(())
}

#[test]
fn fields_out_of_schema_order_and_json_objects_encode_the_same()
-> Result<(), Box<dyn std::error::Error>> {
    let schema = AvroSchema::parse_record(
        r#"{"type":"record","name":"P","fields":[{"name":"a","type":"long"},{"name":"b","type":"string"},{"name":"c","type":["null","int"],"default":null},{"name":"d","type":"boolean","default":true}]}"#,
        "p",
    )?;
    #[derive(Serialize)]
    struct Reordered {
        d: bool,
        b: String,
        a: i64,
    }
    let mut direct = Vec::new();
    schema.encode_serde_into(
        &Reordered {
            d: false,
            b: "x".into(),
            a: 5,
        },
        &mut direct,
    )?;
    let value = Value::Record(vec![
        ("a".into(), Value::Long(5)),
        ("b".into(), Value::String("x".into())),
        ("c".into(), Value::Union(0, Box::new(Value::Null))),
        ("d".into(), Value::Boolean(false)),
    ]);
    assert_eq!(direct, reference(&schema, value.clone()));
    let json = serde_json::json!({ "b": "x", "a": 5, "d": false });
    let mut from_json = Vec::new();
    schema.encode_serde_into(&json, &mut from_json)?;
    assert_eq!(from_json, direct);
    Ok(())
}

fn refusal<T: Serialize>(schema: &AvroSchema, value: &T) -> (String, String) {
    let mut out = vec![9];
    let err = schema
        .encode_serde_into(value, &mut out)
        .expect_err("must be refused");
    assert_eq!(out, [9], "nothing is written on a refusal");
    (err.errors[0].path.clone(), err.errors[0].reason.clone())
}

#[test]
fn serde_refusals_name_the_path_and_the_reason() {
    let schema = schema();
    let mut json = serde_json::to_value(sink_value_json()).expect("json");
    json["id"] = serde_json::json!("seven");
    assert_eq!(
        refusal(&schema, &json),
        (
            "$.id".into(),
            "expected long, found string \"seven\"".into()
        )
    );

    let mut json = sink_value_json();
    json.as_object_mut().map(|o| o.remove("name"));
    assert_eq!(
        refusal(&schema, &json),
        (
            "$.name".into(),
            "missing required field of type string".into()
        )
    );

    let mut json = sink_value_json();
    json["kind"] = serde_json::json!("PAUSE");
    let (path, reason) = refusal(&schema, &json);
    assert_eq!(path, "$.kind");
    assert_eq!(
        reason,
        "unknown symbol \"PAUSE\" for enum mesh.test.Kind; expected one of PLAY, SKIP, LIKE"
    );

    let mut json = sink_value_json();
    json["name"] = serde_json::Value::Null;
    let (path, reason) = refusal(&schema, &json);
    assert_eq!(path, "$.name");
    assert!(reason.starts_with("null is not allowed here"), "{reason}");

    let mut json = sink_value_json();
    json["items"][1]["qty"] = serde_json::json!(3_000_000_000_i64);
    assert_eq!(
        refusal(&schema, &json),
        (
            "$.items[1].qty".into(),
            "3000000000 does not fit in an int".into()
        )
    );

    let mut json = sink_value_json();
    json["colour"] = serde_json::json!("red");
    assert_eq!(
        refusal(&schema, &json),
        (
            "$.colour".into(),
            "unknown field; mesh.test.Sink has no field \"colour\"".into()
        )
    );

    let mut json = sink_value_json();
    json["counters"]["plays"] = serde_json::json!(1.5);
    assert_eq!(
        refusal(&schema, &json),
        (
            "$.counters[\"plays\"]".into(),
            "expected long, found number 1.5".into()
        )
    );
}

/// The sink as JSON, with bytes as arrays the JSON way would not work: only the fields that
/// JSON can carry are set; bytes-like fields use strings, which Avro accepts for bytes.
fn sink_value_json() -> serde_json::Value {
    serde_json::json!({
        "id": 7, "name": "n", "count": 1, "ratio": 0.5, "score": 1.0, "active": true,
        "blob": "raw", "kind": "PLAY", "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}],
        "counters": {"plays": 1}, "note": null,
        "hash": "abcd", "at": 1, "day": 2, "uid": "67e55044-10b1-426f-9247-bb680e5fe0c8", "price": "01"
    })
}

#[test]
fn value_refusals_list_every_violation() {
    let schema = schema();
    let mut fields = match sink_value() {
        Value::Record(f) => f,
        _ => unreachable!("the sink is a record"),
    };
    fields[0].1 = Value::String("seven".into());
    fields[7].1 = Value::String("PAUSE".into());
    let mut out = Vec::new();
    let err = schema
        .encode_into(&Value::Record(fields), &mut out)
        .expect_err("two violations");
    let paths: Vec<&str> = err.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["$.id", "$.kind"]);
    assert!(out.is_empty());
}
