//! Avro ↔ Arrow: the one mapping every part of the mesh uses between Avro records (events,
//! product rows) and Arrow record batches (Delta tables, SQL results).
//!
//! | Avro | Arrow |
//! |---|---|
//! | `boolean`, `int`, `long`, `float`, `double` | `Boolean`, `Int32`, `Int64`, `Float32`, `Float64` |
//! | `string`, `enum`, `uuid`, `big-decimal` | `Utf8` (enum symbols, UUIDs and big-decimals as text) |
//! | `bytes`, `fixed`, `duration` | `Binary` |
//! | `date` | `Date32` |
//! | `timestamp-millis/micros/nanos` | `Timestamp(Microsecond, "UTC")` (Delta's timestamp) |
//! | `local-timestamp-*` | `Timestamp(Microsecond)` (Delta's timestamp_ntz) |
//! | `time-millis`, `time-micros` | `Int32`, `Int64` |
//! | `decimal(p, s)` | `Decimal128(p, s)` |
//! | record | `Struct` |
//! | array | `List` |
//! | map | `Map<Utf8, _>` |
//! | `["null", T]` | `T`, nullable |
//!
//! The column model behind it is [`crate::avro::table`], so what the catalog's cross-surface
//! check says a table can hold is exactly what this mapping writes.

use std::collections::HashMap;
use std::sync::Arc;

use apache_avro::Schema;
use apache_avro::schema::{Name, RecordSchema};
use apache_avro::types::Value;
use arrow_array::builder::{BinaryBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int32Type, Int64Type,
    TimestampMicrosecondType,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
    Int32Array, Int64Array, ListArray, MapArray, RecordBatch, StructArray,
    TimestampMicrosecondArray,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, Field, Fields, SchemaRef, TimeUnit};

use crate::AvroSchema;
use crate::avro::table::{self, Column, ColumnType};
use crate::error::{Error, Result};

/// The time zone Delta timestamps carry.
const UTC: &str = "UTC";

fn fail(schema: &AvroSchema, reason: String) -> Error {
    Error::SchemaUnusable {
        origin: schema.full_name().to_owned(),
        reason,
    }
}

/// The Arrow type of a column type.
pub fn data_type(column: &ColumnType) -> DataType {
    match column {
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Int => DataType::Int32,
        ColumnType::Long => DataType::Int64,
        ColumnType::Float => DataType::Float32,
        ColumnType::Double => DataType::Float64,
        ColumnType::String => DataType::Utf8,
        ColumnType::Binary => DataType::Binary,
        ColumnType::Date => DataType::Date32,
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
        ColumnType::TimestampNtz => DataType::Timestamp(TimeUnit::Microsecond, None),
        ColumnType::Decimal { precision, scale } => DataType::Decimal128(
            u8::try_from(*precision).unwrap_or(u8::MAX),
            i8::try_from(*scale).unwrap_or(i8::MAX),
        ),
        ColumnType::Struct(columns) => DataType::Struct(fields(columns)),
        ColumnType::Array {
            element,
            contains_null,
        } => DataType::List(Arc::new(Field::new(
            "item",
            data_type(element),
            *contains_null,
        ))),
        ColumnType::Map {
            value,
            contains_null,
        } => DataType::Map(
            Arc::new(Field::new(
                "entries",
                DataType::Struct(Fields::from(vec![
                    Field::new("key", DataType::Utf8, false),
                    Field::new("value", data_type(value), *contains_null),
                ])),
                false,
            )),
            false,
        ),
    }
}

fn fields(columns: &[Column]) -> Fields {
    columns
        .iter()
        .map(|c| Field::new(&c.name, data_type(&c.data_type), c.nullable))
        .collect()
}

/// The Arrow schema of a record schema's rows.
pub fn arrow_schema(schema: &AvroSchema) -> Result<SchemaRef> {
    let columns = table::columns(schema).map_err(|e| fail(schema, e.to_string()))?;
    if let Some(path) = wide_decimal(&columns, "") {
        return Err(fail(
            schema,
            format!("column {path}: decimals above 38 digits do not fit Arrow's Decimal128"),
        ));
    }
    Ok(Arc::new(arrow_schema::Schema::new(fields(&columns))))
}

/// The path of the first decimal column wider than Arrow's Decimal128, nested ones included.
fn wide_decimal(columns: &[Column], prefix: &str) -> Option<String> {
    fn within(t: &ColumnType, path: String) -> Option<String> {
        match t {
            ColumnType::Decimal { precision, .. } if *precision > 38 => Some(path),
            ColumnType::Struct(fields) => wide_decimal(fields, &format!("{path}.")),
            ColumnType::Array { element, .. } => within(element, format!("{path}[]")),
            ColumnType::Map { value, .. } => within(value, format!("{path}{{}}")),
            _ => None,
        }
    }
    columns
        .iter()
        .find_map(|c| within(&c.data_type, format!("{prefix}{}", c.name)))
}

/// Follows references and nullable unions to the schema of a column's values.
struct Resolver<'a> {
    root: &'a AvroSchema,
}

impl<'a> Resolver<'a> {
    fn resolve(&self, schema: &'a Schema, ns: Option<&str>) -> (&'a Schema, Option<String>) {
        match schema {
            Schema::Ref { name } => {
                let full: Name = name.fully_qualified_name(ns).into_owned();
                match self.root.named(&full) {
                    Some(target) => self.resolve(target, full.namespace()),
                    None => (schema, ns.map(str::to_owned)),
                }
            }
            Schema::Union(u) => match u.variants().iter().find(|v| !matches!(v, Schema::Null)) {
                Some(inner) => self.resolve(inner, ns),
                None => (schema, ns.map(str::to_owned)),
            },
            Schema::Record(r) => (schema, r.name.namespace().or(ns).map(str::to_owned)),
            other => (other, ns.map(str::to_owned)),
        }
    }
}

/// The value inside a nullable union, or `None` for null.
fn present(value: &Value) -> Option<&Value> {
    match value {
        Value::Null => None,
        Value::Union(_, inner) => present(inner),
        other => Some(other),
    }
}

fn record_fields(value: &Value) -> Option<&[(String, Value)]> {
    match value {
        Value::Record(fields) => Some(fields),
        _ => None,
    }
}

fn field<'v>(fields: &'v [(String, Value)], name: &str, position: usize) -> Option<&'v Value> {
    match fields.get(position) {
        Some((n, v)) if n == name => Some(v),
        _ => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
    }
}

/// Avro records (conformed to `schema`) as one record batch.
pub fn to_batch(schema: &AvroSchema, rows: &[Value]) -> Result<RecordBatch> {
    let arrow = arrow_schema(schema)?;
    let Schema::Record(record) = schema.schema() else {
        return Err(fail(schema, "a table row must be a record".into()));
    };
    let resolver = Resolver { root: schema };
    let ns = record.name.namespace();
    let mut columns = Vec::with_capacity(record.fields.len());
    for (i, (f, arrow_field)) in record.fields.iter().zip(arrow.fields()).enumerate() {
        let values: Vec<Option<&Value>> = rows
            .iter()
            .map(|row| {
                record_fields(row)
                    .and_then(|fs| field(fs, &f.name, i))
                    .and_then(present)
            })
            .collect();
        let array = build(&resolver, &f.schema, ns, &values, arrow_field.data_type())
            .map_err(|e| fail(schema, format!("column {}: {e}", f.name)))?;
        columns.push(array);
    }
    RecordBatch::try_new(arrow, columns).map_err(|e| fail(schema, e.to_string()))
}

fn nulls(values: &[Option<&Value>]) -> Option<NullBuffer> {
    let buffer = NullBuffer::from_iter(values.iter().map(Option::is_some));
    (buffer.null_count() > 0).then_some(buffer)
}

fn micros(schema: &Schema, value: &Value) -> Option<i64> {
    match (schema, value) {
        (_, Value::TimestampMillis(ms) | Value::LocalTimestampMillis(ms)) => ms.checked_mul(1000),
        (_, Value::TimestampMicros(us) | Value::LocalTimestampMicros(us)) => Some(*us),
        (_, Value::TimestampNanos(ns) | Value::LocalTimestampNanos(ns)) => Some(ns / 1000),
        (Schema::TimestampMillis | Schema::LocalTimestampMillis, Value::Long(ms)) => {
            ms.checked_mul(1000)
        }
        (Schema::TimestampNanos | Schema::LocalTimestampNanos, Value::Long(ns)) => Some(ns / 1000),
        (_, Value::Long(us)) => Some(*us),
        _ => None,
    }
}

fn decimal_i128(value: &Value) -> Option<i128> {
    let bytes = match value {
        Value::Decimal(d) => Vec::<u8>::try_from(d).ok()?,
        Value::Bytes(b) | Value::Fixed(_, b) => b.clone(),
        _ => return None,
    };
    if bytes.len() > 16 {
        return None;
    }
    let fill = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        0xff
    } else {
        0
    };
    let mut full = [fill; 16];
    full[16 - bytes.len()..].copy_from_slice(&bytes);
    Some(i128::from_be_bytes(full))
}

fn build(
    resolver: &Resolver<'_>,
    schema: &Schema,
    ns: Option<&str>,
    values: &[Option<&Value>],
    data_type: &DataType,
) -> std::result::Result<ArrayRef, String> {
    let (schema, inner_ns) = resolver.resolve(schema, ns);
    let ns = inner_ns.as_deref();
    let wrong = |v: &Value| format!("a {v:?} does not fit {data_type}");
    macro_rules! primitive {
        ($array:ty, $pattern:pat => $out:expr) => {{
            let mut out = Vec::with_capacity(values.len());
            for v in values {
                out.push(match v {
                    None => None,
                    Some($pattern) => Some($out),
                    Some(other) => return Err(wrong(other)),
                });
            }
            Arc::new(<$array>::from(out)) as ArrayRef
        }};
    }
    Ok(match data_type {
        DataType::Boolean => primitive!(BooleanArray, Value::Boolean(b) => *b),
        DataType::Int32 => {
            primitive!(Int32Array, Value::Int(i) | Value::Date(i) | Value::TimeMillis(i) => *i)
        }
        DataType::Int64 => primitive!(Int64Array, Value::Long(l) | Value::TimeMicros(l) => *l),
        DataType::Float32 => primitive!(Float32Array, Value::Float(f) => *f),
        DataType::Float64 => primitive!(Float64Array, Value::Double(d) => *d),
        DataType::Date32 => primitive!(Date32Array, Value::Date(d) | Value::Int(d) => *d),
        DataType::Timestamp(_, tz) => {
            let mut out = Vec::with_capacity(values.len());
            for v in values {
                out.push(match v {
                    None => None,
                    Some(v) => Some(micros(schema, v).ok_or_else(|| wrong(v))?),
                });
            }
            let array = TimestampMicrosecondArray::from(out);
            Arc::new(match tz {
                Some(tz) => array.with_timezone(tz.as_ref()),
                None => array,
            })
        }
        DataType::Decimal128(p, s) => {
            let mut out = Vec::with_capacity(values.len());
            for v in values {
                out.push(match v {
                    None => None,
                    Some(v) => Some(decimal_i128(v).ok_or_else(|| wrong(v))?),
                });
            }
            Arc::new(
                Decimal128Array::from(out)
                    .with_precision_and_scale(*p, *s)
                    .map_err(|e| e.to_string())?,
            )
        }
        DataType::Utf8 => {
            let mut b = StringBuilder::with_capacity(values.len(), values.len() * 16);
            for v in values {
                match v {
                    None => b.append_null(),
                    Some(Value::String(s) | Value::Enum(_, s)) => b.append_value(s),
                    Some(Value::Uuid(u)) => b.append_value(u.hyphenated().to_string()),
                    // Exponent notation past 15 zeros: the text stays as long as the number.
                    Some(Value::BigDecimal(d)) => b.append_value(d.to_string()),
                    Some(other) => return Err(wrong(other)),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Binary => {
            let mut b = BinaryBuilder::with_capacity(values.len(), values.len() * 16);
            for v in values {
                match v {
                    None => b.append_null(),
                    Some(Value::Bytes(x) | Value::Fixed(_, x)) => b.append_value(x),
                    Some(Value::Uuid(u)) => b.append_value(u.as_bytes()),
                    Some(Value::Duration(d)) => b.append_value(<[u8; 12]>::from(*d)),
                    Some(other) => return Err(wrong(other)),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Struct(children) => {
            let Schema::Record(RecordSchema {
                fields: avro_fields,
                ..
            }) = schema
            else {
                return Err(format!("{data_type} needs a record schema"));
            };
            let mut arrays = Vec::with_capacity(children.len());
            for (i, (f, child)) in avro_fields.iter().zip(children.iter()).enumerate() {
                let child_values: Vec<Option<&Value>> = values
                    .iter()
                    .map(|v| {
                        v.and_then(record_fields)
                            .and_then(|fs| field(fs, &f.name, i))
                            .and_then(present)
                    })
                    .collect();
                arrays.push(
                    build(resolver, &f.schema, ns, &child_values, child.data_type())
                        .map_err(|e| format!("{}.{e}", f.name))?,
                );
            }
            Arc::new(
                StructArray::try_new(children.clone(), arrays, nulls(values))
                    .map_err(|e| e.to_string())?,
            )
        }
        DataType::List(item) => {
            let Schema::Array(a) = schema else {
                return Err(format!("{data_type} needs an array schema"));
            };
            let mut offsets = Vec::with_capacity(values.len() + 1);
            offsets.push(0i32);
            let mut items: Vec<Option<&Value>> = Vec::new();
            for v in values {
                if let Some(Value::Array(xs)) = v {
                    items.extend(xs.iter().map(present));
                }
                offsets.push(
                    i32::try_from(items.len())
                        .map_err(|_| "a list column over 2^31 items".to_owned())?,
                );
            }
            let child = build(resolver, &a.items, ns, &items, item.data_type())?;
            Arc::new(
                ListArray::try_new(
                    item.clone(),
                    OffsetBuffer::new(offsets.into()),
                    child,
                    nulls(values),
                )
                .map_err(|e| e.to_string())?,
            )
        }
        DataType::Map(entries, sorted) => {
            let Schema::Map(m) = schema else {
                return Err(format!("{data_type} needs a map schema"));
            };
            let DataType::Struct(entry_fields) = entries.data_type() else {
                return Err("map entries must be a struct".into());
            };
            let mut offsets = Vec::with_capacity(values.len() + 1);
            offsets.push(0i32);
            let mut keys = StringBuilder::new();
            let mut items: Vec<Option<&Value>> = Vec::new();
            for v in values {
                if let Some(Value::Map(kv)) = v {
                    // Sorted keys: the same map always becomes the same row.
                    let mut pairs: Vec<(&String, &Value)> = kv.iter().collect();
                    pairs.sort_by(|a, b| a.0.cmp(b.0));
                    for (k, x) in pairs {
                        keys.append_value(k);
                        items.push(present(x));
                    }
                }
                offsets.push(
                    i32::try_from(items.len())
                        .map_err(|_| "a map column over 2^31 entries".to_owned())?,
                );
            }
            let value_type = entry_fields[1].data_type();
            let child = build(resolver, &m.types, ns, &items, value_type)?;
            let entries_array = StructArray::try_new(
                entry_fields.clone(),
                vec![Arc::new(keys.finish()) as ArrayRef, child],
                None,
            )
            .map_err(|e| e.to_string())?;
            Arc::new(
                MapArray::try_new(
                    entries.clone(),
                    OffsetBuffer::new(offsets.into()),
                    entries_array,
                    nulls(values),
                    *sorted,
                )
                .map_err(|e| e.to_string())?,
            )
        }
        other => return Err(format!("Arrow type {other} has no Avro mapping")),
    })
}

/// The rows of a record batch as Avro records of `schema` (conformed: union branches,
/// enum symbols and logical types as the schema says). Columns are found by name; a column
/// the batch lacks takes the field's default.
pub fn from_batch(schema: &AvroSchema, batch: &RecordBatch) -> Result<Vec<Value>> {
    let Schema::Record(record) = schema.schema() else {
        return Err(fail(schema, "a table row must be a record".into()));
    };
    let resolver = Resolver { root: schema };
    let ns = record.name.namespace();
    let rows = batch.num_rows();
    let mut columns: Vec<(String, Vec<Value>)> = Vec::with_capacity(record.fields.len());
    for f in &record.fields {
        let Some(array) = batch.column_by_name(&f.name) else {
            continue;
        };
        let values = read(&resolver, &f.schema, ns, array.as_ref())
            .map_err(|e| fail(schema, format!("column {}: {e}", f.name)))?;
        columns.push((f.name.clone(), values));
    }
    let mut out = Vec::with_capacity(rows);
    let mut iters: Vec<(String, std::vec::IntoIter<Value>)> = columns
        .into_iter()
        .map(|(n, v)| (n, v.into_iter()))
        .collect();
    for _ in 0..rows {
        let fields: Vec<(String, Value)> = iters
            .iter_mut()
            .map(|(n, it)| (n.clone(), it.next().unwrap_or(Value::Null)))
            .collect();
        out.push(schema.conform(Value::Record(fields))?);
    }
    Ok(out)
}

fn read(
    resolver: &Resolver<'_>,
    schema: &Schema,
    ns: Option<&str>,
    array: &dyn Array,
) -> std::result::Result<Vec<Value>, String> {
    let (schema, inner_ns) = resolver.resolve(schema, ns);
    let ns = inner_ns.as_deref();
    let len = array.len();
    let valid = |i: usize| array.is_valid(i);
    macro_rules! each {
        ($typed:expr, |$v:ident| $out:expr) => {{
            let typed = $typed;
            (0..len)
                .map(|i| {
                    if valid(i) {
                        let $v = typed.value(i);
                        $out
                    } else {
                        Value::Null
                    }
                })
                .collect()
        }};
    }
    Ok(match array.data_type() {
        DataType::Boolean => each!(array.as_boolean(), |v| Value::Boolean(v)),
        DataType::Int32 => match schema {
            Schema::Date => each!(array.as_primitive::<Int32Type>(), |v| Value::Date(v)),
            Schema::TimeMillis => {
                each!(array.as_primitive::<Int32Type>(), |v| Value::TimeMillis(v))
            }
            _ => each!(array.as_primitive::<Int32Type>(), |v| Value::Int(v)),
        },
        DataType::Int64 => match schema {
            Schema::TimeMicros => {
                each!(array.as_primitive::<Int64Type>(), |v| Value::TimeMicros(v))
            }
            _ => each!(array.as_primitive::<Int64Type>(), |v| Value::Long(v)),
        },
        DataType::Float32 => each!(array.as_primitive::<Float32Type>(), |v| Value::Float(v)),
        DataType::Float64 => each!(array.as_primitive::<Float64Type>(), |v| Value::Double(v)),
        DataType::Date32 => each!(array.as_primitive::<Date32Type>(), |v| Value::Date(v)),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let typed = array.as_primitive::<TimestampMicrosecondType>();
            (0..len)
                .map(|i| {
                    if !valid(i) {
                        return Value::Null;
                    }
                    let us = typed.value(i);
                    match schema {
                        Schema::TimestampMillis => Value::TimestampMillis(us.div_euclid(1000)),
                        Schema::TimestampNanos => Value::TimestampNanos(us.saturating_mul(1000)),
                        Schema::LocalTimestampMillis => {
                            Value::LocalTimestampMillis(us.div_euclid(1000))
                        }
                        Schema::LocalTimestampMicros => Value::LocalTimestampMicros(us),
                        Schema::LocalTimestampNanos => {
                            Value::LocalTimestampNanos(us.saturating_mul(1000))
                        }
                        _ => Value::TimestampMicros(us),
                    }
                })
                .collect()
        }
        DataType::Decimal128(..) => {
            let typed = array.as_primitive::<Decimal128Type>();
            let size = match schema {
                Schema::Decimal(d) => match &d.inner {
                    apache_avro::schema::InnerDecimalSchema::Fixed(f) => Some(f.size),
                    apache_avro::schema::InnerDecimalSchema::Bytes => None,
                },
                _ => None,
            };
            (0..len)
                .map(|i| {
                    if !valid(i) {
                        return Value::Null;
                    }
                    let full = typed.value(i).to_be_bytes();
                    let bytes = match size {
                        Some(n) => full[16 - n.min(16)..].to_vec(),
                        None => minimal_twos_complement(&full),
                    };
                    Value::Decimal(apache_avro::Decimal::from(bytes))
                })
                .collect()
        }
        DataType::Utf8 if matches!(schema, Schema::BigDecimal) => {
            let typed = array.as_string::<i32>();
            (0..len)
                .map(|i| {
                    if !valid(i) {
                        return Ok(Value::Null);
                    }
                    let text = typed.value(i);
                    text.parse()
                        .map(Value::BigDecimal)
                        .map_err(|_| format!("{text:?} is not a big-decimal"))
                })
                .collect::<std::result::Result<_, _>>()?
        }
        DataType::Utf8 => each!(array.as_string::<i32>(), |v| Value::String(v.to_owned())),
        DataType::LargeUtf8 => each!(array.as_string::<i64>(), |v| Value::String(v.to_owned())),
        DataType::Utf8View => each!(array.as_string_view(), |v| Value::String(v.to_owned())),
        DataType::Binary => match schema {
            Schema::Fixed(f) => each!(array.as_binary::<i32>(), |v| Value::Fixed(
                f.size,
                v.to_vec()
            )),
            Schema::Duration(_) => {
                let typed = array.as_binary::<i32>();
                (0..len)
                    .map(|i| {
                        if !valid(i) {
                            return Ok(Value::Null);
                        }
                        let bytes = typed.value(i);
                        <[u8; 12]>::try_from(bytes)
                            .map(|b| Value::Duration(apache_avro::Duration::from(b)))
                            .map_err(|_| format!("a duration has 12 bytes, found {}", bytes.len()))
                    })
                    .collect::<std::result::Result<_, _>>()?
            }
            _ => each!(array.as_binary::<i32>(), |v| Value::Bytes(v.to_vec())),
        },
        DataType::BinaryView => each!(array.as_binary_view(), |v| Value::Bytes(v.to_vec())),
        DataType::Struct(_) => {
            let Schema::Record(r) = schema else {
                return Err(format!("{} needs a record schema", array.data_type()));
            };
            let s = array.as_struct();
            let mut children = Vec::with_capacity(r.fields.len());
            for f in &r.fields {
                let child = match s.column_by_name(&f.name) {
                    Some(c) => read(resolver, &f.schema, ns, c.as_ref())
                        .map_err(|e| format!("{}.{e}", f.name))?,
                    None => vec![Value::Null; len],
                };
                children.push((f.name.clone(), child));
            }
            (0..len)
                .map(|i| {
                    if !valid(i) {
                        return Value::Null;
                    }
                    Value::Record(
                        children
                            .iter()
                            .map(|(n, c)| (n.clone(), c[i].clone()))
                            .collect(),
                    )
                })
                .collect()
        }
        DataType::List(_) => {
            let Schema::Array(a) = schema else {
                return Err(format!("{} needs an array schema", array.data_type()));
            };
            let list = array.as_list::<i32>();
            let items = read(resolver, &a.items, ns, list.values().as_ref())?;
            let offsets = list.value_offsets();
            (0..len)
                .map(|i| {
                    if !valid(i) {
                        return Value::Null;
                    }
                    let (from, to) = (offsets[i] as usize, offsets[i + 1] as usize);
                    Value::Array(items[from..to].to_vec())
                })
                .collect()
        }
        DataType::Map(..) => {
            let Schema::Map(m) = schema else {
                return Err(format!("{} needs a map schema", array.data_type()));
            };
            let map = array.as_map();
            let keys = read(resolver, &Schema::String, ns, map.keys().as_ref())?;
            let values = read(resolver, &m.types, ns, map.values().as_ref())?;
            let offsets = map.value_offsets();
            (0..len)
                .map(|i| {
                    if !valid(i) {
                        return Value::Null;
                    }
                    let (from, to) = (offsets[i] as usize, offsets[i + 1] as usize);
                    let entries: HashMap<String, Value> = (from..to)
                        .map(|j| {
                            let k = match &keys[j] {
                                Value::String(s) => s.clone(),
                                _ => String::new(),
                            };
                            (k, values[j].clone())
                        })
                        .collect();
                    Value::Map(entries)
                })
                .collect()
        }
        other => return Err(format!("Arrow type {other} has no Avro mapping")),
    })
}

/// The shortest big-endian two's-complement form of a 16-byte integer, as Avro decimals are.
fn minimal_twos_complement(full: &[u8; 16]) -> Vec<u8> {
    let negative = full[0] & 0x80 != 0;
    let fill = if negative { 0xff } else { 0 };
    let mut start = 0;
    while start < 15 && full[start] == fill && (full[start + 1] & 0x80 != 0) == negative {
        start += 1;
    }
    full[start..].to_vec()
}

#[cfg(test)]
mod tests;
