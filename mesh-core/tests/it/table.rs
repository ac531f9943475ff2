//! Guards the table side of a schema: `avro::table::columns`, `table::evolution` and the
//! Arrow mapping (`arrow_schema`, `to_batch`, `from_batch`). On random schemas none of them
//! panics; `columns` takes exactly the schemas a table can hold and refuses recursive ones
//! with the path where the type contains itself; a table can always evolve to its own
//! schema; what `arrow_schema` accepts, batches can be built for; rows go to a batch and come
//! back as the rows they were.

use std::sync::Arc;

use apache_avro::types::Value;
use mesh_core::AvroSchema;
use mesh_core::arrow::{arrow_schema, from_batch, to_batch};
use mesh_core::avro::table::{columns, evolution};
use proptest::prelude::*;

use crate::arb;
use crate::model::{Def, Logical, Model, Ty};
use crate::mutate;
use crate::support::{cases, no_panic, same};

/// What keeps a schema from being a table, found by walking the model.
#[derive(Debug, Default)]
struct Problems {
    recursive: bool,
    other: bool,
    /// A decimal past Arrow's 38 digits inside a nested type (not a top-level column).
    nested_wide_decimal: bool,
    top_level_wide_decimal: bool,
    /// A nested record without fields.
    empty_struct: bool,
}

fn problems(model: &Model) -> Problems {
    fn walk(m: &Model, t: &Ty, expanding: &mut Vec<usize>, top: bool, p: &mut Problems) {
        match t {
            Ty::Null => p.other = true,
            Ty::Union(branches) => {
                let non_null: Vec<&Ty> = branches.iter().filter(|b| **b != Ty::Null).collect();
                match non_null.as_slice() {
                    [only] => walk(m, only, expanding, top, p),
                    _ => p.other = true,
                }
            }
            Ty::Array(i) | Ty::Map(i) => walk(m, i, expanding, false, p),
            Ty::Logical(Logical::Decimal { precision, .. }) if *precision > 38 => {
                if top {
                    p.top_level_wide_decimal = true;
                } else {
                    p.nested_wide_decimal = true;
                }
            }
            Ty::Named(i) => match &m.defs[*i] {
                Def::Record { fields, .. } => {
                    if expanding.contains(i) {
                        p.recursive = true;
                        return;
                    }
                    expanding.push(*i);
                    let root = expanding.len() == 1;
                    p.empty_struct |= !root && fields.is_empty();
                    for f in fields {
                        walk(m, &f.ty, expanding, root, p);
                    }
                    expanding.pop();
                }
                Def::Fixed {
                    kind: crate::model::FixedKind::Decimal { precision, .. },
                    ..
                } if *precision > 38 => {
                    if top {
                        p.top_level_wide_decimal = true;
                    } else {
                        p.nested_wide_decimal = true;
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
    let mut p = Problems::default();
    walk(
        model,
        &Ty::Named(model.root),
        &mut Vec::new(),
        false,
        &mut p,
    );
    p
}

fn parse(model: &Model) -> AvroSchema {
    AvroSchema::parse(&model.text(), "table").expect("generated schemas parse")
}

/// The top-level field names of the root record.
fn top_level(model: &Model) -> Vec<String> {
    match &model.defs[model.root] {
        Def::Record { fields, .. } => fields.iter().map(|f| f.name.clone()).collect(),
        _ => Vec::new(),
    }
}

/// `v` as it comes back from a table: Delta stores timestamps in microseconds.
fn as_stored(v: Value) -> Value {
    match v {
        Value::TimestampNanos(n) => Value::TimestampNanos((n / 1000).saturating_mul(1000)),
        Value::LocalTimestampNanos(n) => {
            Value::LocalTimestampNanos((n / 1000).saturating_mul(1000))
        }
        Value::Record(fields) => {
            Value::Record(fields.into_iter().map(|(k, v)| (k, as_stored(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(as_stored).collect()),
        Value::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k, as_stored(v)))
                .collect(),
        ),
        Value::Union(i, inner) => Value::Union(i, Box::new(as_stored(*inner))),
        other => other,
    }
}

proptest! {
    #![proptest_config(cases(500))]

    #[test]
    fn columns_take_exactly_what_a_table_holds(model in arb::model()) {
        let schema = parse(&model);
        let found = problems(&model);
        let cols = no_panic(&model.text(), || columns(&schema))?;
        // A nested record without fields is refused too: Arrow has no empty struct.
        prop_assert_eq!(cols.is_ok(), !found.recursive && !found.other && !found.empty_struct, "{}: {:?} {:?}", model.text(), found, cols);
        if found.recursive && !found.other && !found.empty_struct {
            let err = cols.expect_err("checked");
            prop_assert!(err.to_string().contains("contains itself"), "{err}");
        }
        // A table can always take its own schema, whatever columns it partitions by.
        let parts = top_level(&model);
        let same_schema = evolution(&schema, &schema, &parts);
        if !found.recursive && !found.other && !found.empty_struct {
            prop_assert!(same_schema.is_empty(), "{same_schema:?}");
        } else {
            prop_assert_eq!(same_schema.len(), 1, "{:?}", same_schema);
            prop_assert!(same_schema[0].to_string().starts_with("the table's current schema cannot be a table"));
        }
        let arrow = no_panic(&model.text(), || arrow_schema(&schema))?;
        if arrow.is_ok() {
            prop_assert!(!found.recursive && !found.other && !found.top_level_wide_decimal);
            prop_assert!(!found.nested_wide_decimal && !found.empty_struct, "{}", model.text());
            let empty = to_batch(&schema, &[]);
            prop_assert!(empty.is_ok(), "{}: {:?}", model.text(), empty.err());
        }
    }

    #[test]
    fn evolution_of_changed_schemas_says_why_or_nothing(
        base in arb::model(),
        changes in mutate::changes(),
        parts in prop::collection::vec(any::<prop::sample::Index>(), 0..3),
    ) {
        let (changed, _) = mutate::apply(&base, &changes);
        let Ok(new) = AvroSchema::parse(&changed.text(), "changed") else {
            return Ok(());
        };
        let old = parse(&base);
        let names = top_level(&base);
        let parts: Vec<String> = parts.iter().filter(|_| !names.is_empty()).map(|i| names[i.index(names.len())].clone()).collect();
        let found = no_panic(&(base.text(), changed.text()), || evolution(&old, &new, &parts))?;
        let (old_ok, new_ok) = (columns(&old).is_ok(), columns(&new).is_ok());
        if !old_ok || !new_ok {
            prop_assert_eq!(found.len(), 1, "{:?}", found);
        }
        for p in &found {
            prop_assert!(!p.to_string().is_empty());
        }
    }
}

/// Rows of a schema a table can hold: random valid values of its root.
fn table_rows() -> impl Strategy<Value = (Arc<Model>, Vec<Value>)> {
    arb::model()
        .prop_filter("a table schema", |m| {
            let p = problems(m);
            !p.recursive
                && !p.other
                && !p.nested_wide_decimal
                && !p.top_level_wide_decimal
                && !p.empty_struct
        })
        .prop_flat_map(|m| {
            let m = Arc::new(m);
            let root = Ty::Named(m.root);
            (
                Just(m.clone()),
                prop::collection::vec(arb::value_of(&m, &root, 3), 0..4),
            )
        })
}

proptest! {
    #![proptest_config(cases(300))]

    #[test]
    fn rows_go_to_a_batch_and_come_back((model, rows) in table_rows()) {
        let schema = parse(&model);
        let conformed: Vec<Value> = rows
            .into_iter()
            .map(|r| schema.conform(r).expect("generated values conform"))
            .collect();
        let batch = no_panic(&conformed, || to_batch(&schema, &conformed))?;
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                // Milliseconds past what microseconds hold cannot be stored.
                prop_assert!(e.to_string().contains("does not fit"), "{e}");
                return Ok(());
            }
        };
        prop_assert_eq!(batch.num_rows(), conformed.len());
        let back = no_panic(&conformed, || from_batch(&schema, &batch))?;
        let back = back.map_err(|e| TestCaseError::fail(format!("{}: {e}", model.text())))?;
        for (b, c) in back.iter().zip(conformed) {
            let expected = as_stored(c);
            prop_assert!(same(b, &expected), "{}\nwrote {expected:?}\nread {b:?}", model.text());
        }
    }
}

/// Found by `columns_take_exactly_what_a_table_holds`: `arrow_schema` refuses a decimal
/// column past Arrow's 38 digits only at the top level. Inside a record, an array or a map it
/// maps `decimal(40, 2)` to `Decimal128(40, 2)`, a type Arrow refuses: no batch of the schema
/// can be built, not even an empty one.
#[test]
fn arrow_schema_refuses_nested_decimals_past_38_digits() {
    let schema = AvroSchema::parse(
        r#"{"type":"record","name":"R","fields":[{"name":"xs","type":{"type":"array","items":
            {"type":"bytes","logicalType":"decimal","precision":40,"scale":2}}}]}"#,
        "wide",
    )
    .expect("parses");
    let arrow = arrow_schema(&schema);
    let batch = to_batch(&schema, &[]);
    assert!(
        arrow.is_err() || batch.is_ok(),
        "arrow_schema accepted it ({arrow:?}) but to_batch fails: {:?}",
        batch.err()
    );
}

/// Found by `rows_go_to_a_batch_and_come_back`: a `duration` column went to Arrow as binary
/// and came back as `Value::Bytes`, which `conform` refuses for a duration: `from_batch`
/// failed on every table with a duration column.
#[test]
fn duration_columns_come_back() {
    let schema = AvroSchema::parse(
        r#"{"type":"record","name":"R","fields":[{"name":"d","type":{"type":"fixed","name":"D","size":12,"logicalType":"duration"}}]}"#,
        "duration",
    )
    .expect("parses");
    let row = schema
        .conform(Value::Record(vec![(
            "d".into(),
            Value::Duration(apache_avro::Duration::from([1u8; 12])),
        )]))
        .expect("conforms");
    let batch = to_batch(&schema, std::slice::from_ref(&row)).expect("a batch");
    let back = from_batch(&schema, &batch);
    assert_eq!(back.ok(), Some(vec![row]));
}

/// Found by `columns_take_exactly_what_a_table_holds`: a field whose type is a record with
/// no fields is a column for `columns` and `arrow_schema` (an empty struct), but `to_batch`
/// fails on it with Arrow's "use StructArray::try_new_with_length or
/// StructArray::new_empty_fields", even for no rows. (Parquet cannot store an empty group
/// either: `columns` could refuse it with a reason.)
#[test]
fn empty_records_are_not_columns() {
    let schema = AvroSchema::parse(
        r#"{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"record","name":"Empty","fields":[]}}]}"#,
        "empty",
    )
    .expect("parses");
    let arrow = arrow_schema(&schema);
    let batch = to_batch(&schema, &[]);
    assert!(
        arrow.is_err() || batch.is_ok(),
        "arrow_schema accepted it ({arrow:?}) but to_batch fails: {:?}",
        batch.err()
    );
}
