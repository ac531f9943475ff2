//! Avro → Arrow → Avro gives back what went in, for every shape the mapping covers.

use std::collections::HashMap;

use apache_avro::types::Value;
use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, TimestampMicrosecondType};
use arrow_schema::{DataType, TimeUnit};

use super::*;

const ROW: &str = r#"{
  "type": "record", "name": "Row", "namespace": "mesh.test",
  "fields": [
    {"name": "id", "type": "long"},
    {"name": "name", "type": "string"},
    {"name": "score", "type": ["null", "double"], "default": null},
    {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "counts", "type": {"type": "map", "values": "long"}},
    {"name": "address", "type": ["null", {"type": "record", "name": "Address", "fields": [
        {"name": "city", "type": "string"}, {"name": "zip", "type": ["null", "int"], "default": null}]}], "default": null},
    {"name": "history", "type": {"type": "array", "items": "Address"}},
    {"name": "at_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "at_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
    {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "raw", "type": "bytes"},
    {"name": "ok", "type": "boolean"}
  ]
}"#;

fn schema() -> AvroSchema {
    AvroSchema::parse_record(ROW, "row").expect("row schema")
}

fn address(city: &str, zip: Option<i32>) -> Value {
    Value::Record(vec![
        ("city".into(), Value::String(city.into())),
        ("zip".into(), zip.map_or(Value::Null, Value::Int)),
    ])
}

fn rows() -> Vec<Value> {
    let row = |id: i64, score: Option<f64>, addr: Option<Value>, price: Vec<u8>| {
        Value::Record(vec![
            ("id".into(), Value::Long(id)),
            ("name".into(), Value::String(format!("row {id}"))),
            ("score".into(), score.map_or(Value::Null, Value::Double)),
            (
                "kind".into(),
                Value::String(if id % 2 == 0 { "A" } else { "B" }.into()),
            ),
            (
                "tags".into(),
                Value::Array((0..id).map(|i| Value::String(format!("t{i}"))).collect()),
            ),
            (
                "counts".into(),
                Value::Map(HashMap::from([("plays".to_owned(), Value::Long(id * 10))])),
            ),
            ("address".into(), addr.unwrap_or(Value::Null)),
            (
                "history".into(),
                Value::Array(vec![address("Lyon", Some(69000)), address("Oslo", None)]),
            ),
            ("at_ms".into(), Value::Long(1_700_000_000_123 + id)),
            ("at_us".into(), Value::Long(1_700_000_000_123_456 + id)),
            ("day".into(), Value::Int(19_700)),
            ("price".into(), Value::Bytes(price)),
            (
                "uid".into(),
                Value::String("67e55044-10b1-426f-9247-bb680e5fe0c8".into()),
            ),
            ("raw".into(), Value::Bytes(vec![id as u8, 0xff])),
            ("ok".into(), Value::Boolean(id > 1)),
        ])
    };
    let s = schema();
    vec![
        row(
            1,
            Some(0.5),
            Some(address("Paris", Some(75001))),
            vec![0x30, 0x39],
        ),
        row(2, None, None, vec![0xcf, 0xc7]),
        row(
            3,
            Some(-1.0),
            Some(address("Rome", None)),
            vec![0x01, 0x00, 0x00],
        ),
    ]
    .into_iter()
    .map(|r| s.conform(r).expect("test rows conform"))
    .collect()
}

#[test]
fn the_arrow_schema_follows_the_table() -> Result<()> {
    let arrow = arrow_schema(&schema())?;
    let ty = |name: &str| {
        arrow
            .field_with_name(name)
            .map(|f| (f.data_type().clone(), f.is_nullable()))
    };
    assert_eq!(ty("id").ok(), Some((DataType::Int64, false)));
    assert_eq!(ty("score").ok(), Some((DataType::Float64, true)));
    assert_eq!(ty("kind").ok(), Some((DataType::Utf8, false)));
    assert_eq!(
        ty("at_ms").ok(),
        Some((
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false
        ))
    );
    assert_eq!(ty("day").ok(), Some((DataType::Date32, false)));
    assert_eq!(ty("price").ok(), Some((DataType::Decimal128(10, 2), false)));
    assert!(matches!(
        ty("address").ok(),
        Some((DataType::Struct(_), true))
    ));
    assert!(matches!(
        ty("counts").ok(),
        Some((DataType::Map(..), false))
    ));
    assert!(matches!(
        ty("history").ok(),
        Some((DataType::List(_), false))
    ));
    Ok(())
}

#[test]
fn rows_survive_the_round_trip() -> Result<()> {
    let s = schema();
    let original = rows();
    let batch = to_batch(&s, &original)?;
    assert_eq!(batch.num_rows(), 3);
    // Timestamps are microseconds in Arrow; decimals are integers of cents.
    let at_ms = batch
        .column_by_name("at_ms")
        .expect("at_ms")
        .as_primitive::<TimestampMicrosecondType>();
    assert_eq!(at_ms.value(0), 1_700_000_000_124_000);
    let price = batch
        .column_by_name("price")
        .expect("price")
        .as_primitive::<Decimal128Type>();
    assert_eq!((price.value(0), price.value(1)), (12_345, -12_345));
    assert!(batch.column_by_name("address").expect("address").is_null(1));

    let back = from_batch(&s, &batch)?;
    assert_eq!(back, original);
    Ok(())
}

#[test]
fn mismatched_rows_name_the_column() {
    let s = schema();
    let mut bad = rows();
    if let Value::Record(fields) = &mut bad[1] {
        fields[0].1 = Value::String("two".into());
    }
    let err = to_batch(&s, &bad)
        .expect_err("a string in a long column")
        .to_string();
    assert!(err.contains("column id"), "{err}");
}
