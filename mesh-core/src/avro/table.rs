//! Avro records as table columns, and which schema changes a Delta table can take.
//!
//! A data product's table holds rows of an Avro record. Delta can evolve a table's schema
//! only in some ways: it can add nullable columns (a new Avro field that is nullable or has
//! a default: rows written before hold null in it), relax a column to nullable and widen
//! some types, but it cannot drop a column that rows must fill, narrow a type, or touch a
//! partition column. The registry's compatibility levels know nothing of this, so a schema
//! change that BACKWARD allows can still break a table; [`evolution`] says why.

use std::collections::{HashMap, HashSet};
use std::fmt;

use apache_avro::Schema;
use apache_avro::schema::{Name, UuidSchema};

use super::AvroSchema;

/// A column's type, as Delta (and Arrow) see it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ColumnType {
    /// `boolean`.
    Boolean,
    /// 32-bit integer (Avro `int`, `time-millis`).
    Int,
    /// 64-bit integer (Avro `long`, `time-micros`).
    Long,
    /// 32-bit float.
    Float,
    /// 64-bit float.
    Double,
    /// UTF-8 text (Avro `string`, `enum`, `uuid`).
    String,
    /// Bytes (Avro `bytes`, `fixed`, `duration`).
    Binary,
    /// Days since the epoch.
    Date,
    /// An instant, UTC (Avro `timestamp-*`).
    Timestamp,
    /// A wall-clock time without zone (Avro `local-timestamp-*`).
    TimestampNtz,
    /// Fixed-point decimal.
    Decimal {
        /// Total digits.
        precision: usize,
        /// Digits after the point.
        scale: usize,
    },
    /// A nested record.
    Struct(Vec<Column>),
    /// A list.
    Array {
        /// The element type.
        element: Box<ColumnType>,
        /// Whether elements may be null.
        contains_null: bool,
    },
    /// A map with string keys.
    Map {
        /// The value type.
        value: Box<ColumnType>,
        /// Whether values may be null.
        contains_null: bool,
    },
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Boolean => f.write_str("boolean"),
            Self::Int => f.write_str("integer"),
            Self::Long => f.write_str("long"),
            Self::Float => f.write_str("float"),
            Self::Double => f.write_str("double"),
            Self::String => f.write_str("string"),
            Self::Binary => f.write_str("binary"),
            Self::Date => f.write_str("date"),
            Self::Timestamp => f.write_str("timestamp"),
            Self::TimestampNtz => f.write_str("timestamp_ntz"),
            Self::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            Self::Struct(_) => f.write_str("struct"),
            Self::Array { element, .. } => write!(f, "array<{element}>"),
            Self::Map { value, .. } => write!(f, "map<string,{value}>"),
        }
    }
}

/// A column: a field of the row record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The field name.
    pub name: String,
    /// Its type.
    pub data_type: ColumnType,
    /// Whether it may be null (an Avro union with `null`).
    pub nullable: bool,
    /// Whether the field declares a default: a reader fills it in for data written without
    /// it, so a table may gain it as a column that rows written before hold as null.
    pub has_default: bool,
}

impl Column {
    /// Whether `self` and `other` hold the same values (type and nullability; a default is
    /// no property of stored values).
    fn holds_same_as(&self, other: &Column) -> bool {
        self.data_type == other.data_type && self.nullable == other.nullable
    }
}

/// Why a schema cannot be a table's row schema; each names the field's path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ColumnError {
    /// The schema is not a record.
    #[error("a table row must be a record, found {0}")]
    NotARecord(ColumnType),
    /// A reference to a type the schema does not define.
    #[error("{path}: unknown type {name}")]
    UnknownType {
        /// The field's path.
        path: String,
        /// The type's full name.
        name: String,
    },
    /// A union of several non-null types.
    #[error(
        "{path}: a union of several types cannot be a table column; use a record with one optional field per type"
    )]
    Union {
        /// The field's path.
        path: String,
    },
    /// A field that can only be null.
    #[error("{path}: a column cannot be always null")]
    AlwaysNull {
        /// The field's path.
        path: String,
    },
    /// A record that contains itself.
    #[error(
        "{path}: type {name} contains itself; a table row cannot be recursive (a Delta table's schema is a tree)"
    )]
    Recursive {
        /// Where the record meets itself again.
        path: String,
        /// The record's full name.
        name: String,
    },
    /// A nested record without fields (Arrow has no struct without fields).
    #[error("{path}: record {name} has no fields; a column must hold something")]
    NoFields {
        /// The field's path.
        path: String,
        /// The record's full name.
        name: String,
    },
}

/// A change of row schema a product's Delta table cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvolutionProblem {
    /// The table's current row schema is no table schema (stored by an older build).
    #[error("the table's current schema cannot be a table: {0}")]
    CurrentNotATable(ColumnError),
    /// The new row schema is no table schema.
    #[error("the new schema cannot be a table: {0}")]
    NewNotATable(ColumnError),
    /// A partition column changes type or nullability.
    #[error("partition column `{column}` changes from {} to {}: partition columns cannot change", described(.from), described(.to))]
    PartitionChanged {
        /// The column.
        column: String,
        /// As it was.
        from: Column,
        /// As it would be.
        to: Column,
    },
    /// A partition column is dropped.
    #[error("partition column `{column}` is dropped: partition columns cannot change")]
    PartitionDropped {
        /// The column.
        column: String,
    },
    /// A column every row holds is dropped.
    #[error(
        "column `{path}` ({data_type}, not null) is dropped: every row must hold it, so Delta cannot write rows without it"
    )]
    RequiredDropped {
        /// The column's path.
        path: String,
        /// Its type.
        data_type: ColumnType,
    },
    /// A nullable column becomes non-null.
    #[error("column `{path}` becomes non-null: rows already in the table may hold nulls")]
    BecomesRequired {
        /// The column's path.
        path: String,
    },
    /// A non-null column is added.
    #[error(
        "column `{path}` ({data_type}) is added as non-null: rows already in the table have no value for it; give it a default or make it nullable (a union with null)"
    )]
    AddedRequired {
        /// The column's path.
        path: String,
        /// Its type.
        data_type: ColumnType,
    },
    /// Elements of an array or values of a map become non-null.
    #[error("elements of `{path}` become non-null: stored elements may be null")]
    ElementsBecomeRequired {
        /// The column's path.
        path: String,
    },
    /// A column's type narrows.
    #[error("column `{path}` narrows from {from} to {to}: values already stored may not fit")]
    Narrows {
        /// The column's path.
        path: String,
        /// The stored type.
        from: ColumnType,
        /// The new type.
        to: ColumnType,
    },
    /// A column's type changes to one Delta cannot convert to.
    #[error("column `{path}` changes type from {from} to {to}: Delta cannot convert stored values")]
    TypeChanged {
        /// The column's path.
        path: String,
        /// The stored type.
        from: ColumnType,
        /// The new type.
        to: ColumnType,
    },
}

/// A column's type and nullability, as evolution problems describe them.
fn described(column: &Column) -> String {
    format!(
        "{}{}",
        column.data_type,
        if column.nullable { " (nullable)" } else { "" }
    )
}

/// The columns of a record schema; an error names the first field no table can hold.
///
/// A table's schema is a tree, so a recursive record (a list, a tree of nodes) cannot be a
/// row: it is refused with the path where the type contains itself.
pub fn columns(schema: &AvroSchema) -> Result<Vec<Column>, ColumnError> {
    let mut walk = Columns {
        root: schema,
        expanding: Vec::new(),
    };
    match walk.column_type(schema.schema(), None, "$")? {
        (ColumnType::Struct(columns), _) => Ok(columns),
        (other, _) => Err(ColumnError::NotARecord(other)),
    }
}

struct Columns<'a> {
    root: &'a AvroSchema,
    /// The records being expanded, outermost first: meeting one again is recursion.
    expanding: Vec<Name>,
}

impl Columns<'_> {
    /// The column type of `s` and whether it is nullable. Depth and size are bounded by the
    /// schema's limits ([`super::limits`]), recursion by `expanding`.
    fn column_type(
        &mut self,
        s: &Schema,
        ns: Option<&str>,
        path: &str,
    ) -> Result<(ColumnType, bool), ColumnError> {
        Ok(match s {
            Schema::Ref { name } => {
                let full: Name = name.fully_qualified_name(ns).into_owned();
                if self.expanding.contains(&full) {
                    return Err(recursive(path, &full));
                }
                let root = self.root;
                let target = root.named(&full).ok_or_else(|| ColumnError::UnknownType {
                    path: path.to_owned(),
                    name: full.fullname(None),
                })?;
                return self.column_type(target, full.namespace(), path);
            }
            Schema::Union(u) => {
                let non_null: Vec<&Schema> = u
                    .variants()
                    .iter()
                    .filter(|v| !matches!(v, Schema::Null))
                    .collect();
                match non_null.as_slice() {
                    [only] => (self.column_type(only, ns, path)?.0, true),
                    _ => {
                        return Err(ColumnError::Union {
                            path: path.to_owned(),
                        });
                    }
                }
            }
            Schema::Null => {
                return Err(ColumnError::AlwaysNull {
                    path: path.to_owned(),
                });
            }
            Schema::Boolean => (ColumnType::Boolean, false),
            Schema::Int | Schema::TimeMillis => (ColumnType::Int, false),
            Schema::Long | Schema::TimeMicros => (ColumnType::Long, false),
            Schema::Float => (ColumnType::Float, false),
            Schema::Double => (ColumnType::Double, false),
            // A big-decimal as its text: the number, where its Avro bytes would be opaque.
            Schema::String
            | Schema::Enum(_)
            | Schema::Uuid(UuidSchema::String)
            | Schema::BigDecimal => (ColumnType::String, false),
            Schema::Uuid(_) | Schema::Bytes | Schema::Fixed(_) | Schema::Duration(_) => {
                (ColumnType::Binary, false)
            }
            Schema::Date => (ColumnType::Date, false),
            Schema::TimestampMillis | Schema::TimestampMicros | Schema::TimestampNanos => {
                (ColumnType::Timestamp, false)
            }
            Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => (ColumnType::TimestampNtz, false),
            Schema::Decimal(d) => (
                ColumnType::Decimal {
                    precision: d.precision,
                    scale: d.scale,
                },
                false,
            ),
            Schema::Array(a) => {
                let (element, contains_null) =
                    self.column_type(&a.items, ns, &format!("{path}[]"))?;
                (
                    ColumnType::Array {
                        element: Box::new(element),
                        contains_null,
                    },
                    false,
                )
            }
            Schema::Map(m) => {
                let (value, contains_null) =
                    self.column_type(&m.types, ns, &format!("{path}{{}}"))?;
                (
                    ColumnType::Map {
                        value: Box::new(value),
                        contains_null,
                    },
                    false,
                )
            }
            Schema::Record(r) => {
                if self.expanding.contains(&r.name) {
                    return Err(recursive(path, &r.name));
                }
                if r.fields.is_empty() && path != "$" {
                    // Arrow has no struct without fields.
                    return Err(ColumnError::NoFields {
                        path: path.to_owned(),
                        name: r.name.fullname(None),
                    });
                }
                self.expanding.push(r.name.clone());
                let inner_ns = r.name.namespace().or(ns);
                let mut columns = Vec::with_capacity(r.fields.len());
                for field in &r.fields {
                    let (data_type, nullable) = self.column_type(
                        &field.schema,
                        inner_ns,
                        &format!("{path}.{}", field.name),
                    )?;
                    columns.push(Column {
                        name: field.name.clone(),
                        data_type,
                        nullable,
                        has_default: field.default.is_some(),
                    });
                }
                self.expanding.pop();
                (ColumnType::Struct(columns), false)
            }
        })
    }
}

fn recursive(path: &str, name: &Name) -> ColumnError {
    ColumnError::Recursive {
        path: path.to_owned(),
        name: name.fullname(None),
    }
}

/// Whether Delta can widen `old` to `new` in place (the type-widening table feature).
fn widens(old: &ColumnType, new: &ColumnType) -> bool {
    use ColumnType as T;
    matches!(
        (old, new),
        (T::Int, T::Long | T::Double) | (T::Float, T::Double) | (T::Date, T::TimestampNtz)
    ) || matches!(
        (old, new),
        (T::Decimal { precision: p1, scale: s1 }, T::Decimal { precision: p2, scale: s2 })
            if p2 >= p1 && s2 >= s1 && p2 - s2 >= p1 - s1
    )
}

/// Every reason a table holding rows of `old` cannot take rows of `new`; empty when Delta
/// can evolve the table. `partition_columns` may not change at all.
pub fn evolution(
    old: &AvroSchema,
    new: &AvroSchema,
    partition_columns: &[String],
) -> Vec<EvolutionProblem> {
    let (old_columns, new_columns) = match (columns(old), columns(new)) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) => return vec![EvolutionProblem::CurrentNotATable(e)],
        (_, Err(e)) => return vec![EvolutionProblem::NewNotATable(e)],
    };
    let mut problems = Vec::new();
    let old_by_name: HashMap<&str, &Column> =
        old_columns.iter().map(|c| (c.name.as_str(), c)).collect();
    let new_by_name: HashMap<&str, &Column> =
        new_columns.iter().map(|c| (c.name.as_str(), c)).collect();
    for partition in partition_columns {
        let old_col = old_by_name.get(partition.as_str());
        let new_col = new_by_name.get(partition.as_str());
        match (old_col, new_col) {
            (Some(o), Some(n)) if !o.holds_same_as(n) => {
                problems.push(EvolutionProblem::PartitionChanged {
                    column: partition.clone(),
                    from: (*o).clone(),
                    to: (*n).clone(),
                })
            }
            (Some(_), None) => problems.push(EvolutionProblem::PartitionDropped {
                column: partition.clone(),
            }),
            _ => {}
        }
    }
    compare(
        &old_columns,
        &new_columns,
        "",
        partition_columns,
        &mut problems,
    );
    problems
}

fn compare(
    old: &[Column],
    new: &[Column],
    prefix: &str,
    partitions: &[String],
    problems: &mut Vec<EvolutionProblem>,
) {
    let partitions: HashSet<&str> = partitions.iter().map(String::as_str).collect();
    let is_partition = |name: &str| prefix.is_empty() && partitions.contains(name);
    // Looked up by name: records may have tens of thousands of columns.
    let new_by_name: HashMap<&str, &Column> = new.iter().map(|n| (n.name.as_str(), n)).collect();
    let old_names: HashSet<&str> = old.iter().map(|o| o.name.as_str()).collect();
    for o in old {
        let path = format!("{prefix}{}", o.name);
        if is_partition(&o.name) {
            continue;
        }
        match new_by_name.get(o.name.as_str()) {
            None if !o.nullable => problems.push(EvolutionProblem::RequiredDropped {
                path,
                data_type: o.data_type.clone(),
            }),
            None => {}
            Some(n) => {
                if o.nullable && !n.nullable {
                    problems.push(EvolutionProblem::BecomesRequired { path: path.clone() });
                }
                compare_types(&o.data_type, &n.data_type, &path, problems);
            }
        }
    }
    for n in new {
        // A new field with a default is the canonical compatible change: Delta adds its
        // column as nullable, and rows written before the change hold null in it.
        if !old_names.contains(n.name.as_str()) && !n.nullable && !n.has_default {
            problems.push(EvolutionProblem::AddedRequired {
                path: format!("{prefix}{}", n.name),
                data_type: n.data_type.clone(),
            });
        }
    }
}

fn compare_types(
    old: &ColumnType,
    new: &ColumnType,
    path: &str,
    problems: &mut Vec<EvolutionProblem>,
) {
    use ColumnType as T;
    match (old, new) {
        (T::Struct(o), T::Struct(n)) => compare(o, n, &format!("{path}."), &[], problems),
        (
            T::Array {
                element: o,
                contains_null: on,
            },
            T::Array {
                element: n,
                contains_null: nn,
            },
        )
        | (
            T::Map {
                value: o,
                contains_null: on,
            },
            T::Map {
                value: n,
                contains_null: nn,
            },
        ) => {
            if *on && !*nn {
                problems.push(EvolutionProblem::ElementsBecomeRequired {
                    path: path.to_owned(),
                });
            }
            compare_types(o, n, &format!("{path}[]"), problems);
        }
        (o, n) if o == n || widens(o, n) => {}
        (o, n) if widens(n, o) => problems.push(EvolutionProblem::Narrows {
            path: path.to_owned(),
            from: o.clone(),
            to: n.clone(),
        }),
        (o, n) => problems.push(EvolutionProblem::TypeChanged {
            path: path.to_owned(),
            from: o.clone(),
            to: n.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fields: &str) -> AvroSchema {
        let text = format!(r#"{{"type":"record","name":"Row","fields":[{fields}]}}"#);
        AvroSchema::parse(&text, "test").unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    const BASE: &str = r#"{"name":"id","type":"long"},{"name":"genre","type":"string"},{"name":"plays","type":"int"},{"name":"note","type":["null","string"],"default":null}"#;

    fn problems(new_fields: &str) -> Vec<String> {
        evolution(&record(BASE), &record(new_fields), &["genre".to_owned()])
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn maps_avro_to_columns() -> Result<(), ColumnError> {
        let cols = columns(&record(
            r#"{"name":"a","type":["null",{"type":"long","logicalType":"timestamp-millis"}]},
               {"name":"e","type":{"type":"enum","name":"E","symbols":["X"]}},
               {"name":"xs","type":{"type":"array","items":["null","int"]}},
               {"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}}"#,
        ))?;
        assert_eq!(cols[0].data_type, ColumnType::Timestamp);
        assert!(cols[0].nullable);
        assert_eq!(cols[1].data_type, ColumnType::String);
        assert_eq!(
            cols[2].data_type,
            ColumnType::Array {
                element: Box::new(ColumnType::Int),
                contains_null: true
            }
        );
        assert_eq!(
            cols[3].data_type,
            ColumnType::Decimal {
                precision: 10,
                scale: 2
            }
        );
        let err = columns(&record(r#"{"name":"u","type":["int","string"]}"#)).expect_err("union");
        assert_eq!(err, ColumnError::Union { path: "$.u".into() });
        assert!(
            err.to_string().starts_with("$.u: a union of several types"),
            "{err}"
        );
        Ok(())
    }

    #[test]
    fn recursive_rows_are_refused_with_the_path() {
        // D1 of the catalog probe: this used to overflow the stack and abort the process.
        let list = record(
            r#"{"name":"v","type":"int"},{"name":"next","type":["null","Row"],"default":null}"#,
        );
        let err = columns(&list).expect_err("recursive").to_string();
        assert!(
            err.starts_with("$.next: type Row contains itself; a table row cannot be recursive"),
            "{err}"
        );
        let nested = AvroSchema::parse(
            r#"{"type":"record","name":"Tree","fields":[{"name":"root","type":{"type":"record","name":"Node",
                "fields":[{"name":"children","type":{"type":"array","items":"Node"}}]}}]}"#,
            "tree",
        )
        .expect("parses");
        let err = columns(&nested).expect_err("recursive").to_string();
        assert!(
            err.starts_with("$.root.children[]: type Node contains itself"),
            "{err}"
        );
        // Checked against a table, as the registry does: a reason, not a crash.
        let found = evolution(&record(BASE), &list, &[]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .to_string()
                .starts_with("the new schema cannot be a table: $.next"),
            "{found:?}"
        );
        // A type used twice without recursion is fine.
        let twice = AvroSchema::parse(
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"record","name":"P","fields":[{"name":"x","type":"int"}]}},
                {"name":"b","type":"P"}]}"#,
            "twice",
        )
        .expect("parses");
        assert_eq!(columns(&twice).map(|c| c.len()), Ok(2));
    }

    #[test]
    fn legal_evolutions_pass() {
        // A nullable column added, a nullable column dropped, int widened to long,
        // a non-null column relaxed to nullable.
        let fine = r#"{"name":"id","type":["null","long"]},{"name":"genre","type":"string"},{"name":"plays","type":"long"},{"name":"device","type":["null","string"],"default":null}"#;
        assert_eq!(problems(fine), Vec::<String>::new());
    }

    #[test]
    fn a_field_added_with_a_default_is_a_column_the_table_can_gain() {
        // The canonical compatible Avro change: the reader's default fills in old data; in
        // the table, rows written before hold null in the new column.
        assert_eq!(
            problems(&format!(
                r#"{BASE},{{"name":"device","type":"string","default":"web"}}"#
            )),
            Vec::<String>::new()
        );
        // Nested too, and a default changes nothing about a partition column.
        let old = record(
            r#"{"name":"id","type":"long"},{"name":"where","type":{"type":"record","name":"Where","fields":[{"name":"city","type":"string"}]}}"#,
        );
        let new = record(
            r#"{"name":"id","type":"long","default":0},{"name":"where","type":{"type":"record","name":"Where","fields":[{"name":"city","type":"string"},{"name":"zip","type":"string","default":""}]}}"#,
        );
        assert_eq!(evolution(&old, &new, &["id".to_owned()]), Vec::new());
    }

    #[test]
    fn illegal_evolutions_say_why() {
        let cases = [
            (
                r#"{"name":"id","type":"int"},{"name":"genre","type":"string"},{"name":"plays","type":"int"}"#,
                "column `id` narrows from long to integer",
            ),
            (
                r#"{"name":"genre","type":"string"},{"name":"plays","type":"int"}"#,
                "column `id` (long, not null) is dropped",
            ),
            (
                r#"{"name":"id","type":"long"},{"name":"genre","type":["null","string"]},{"name":"plays","type":"int"}"#,
                "partition column `genre` changes from string to string (nullable)",
            ),
            (
                r#"{"name":"id","type":"long"},{"name":"plays","type":"int"}"#,
                "partition column `genre` is dropped",
            ),
            (
                &format!(r#"{BASE},{{"name":"device","type":"string"}}"#),
                "column `device` (string) is added as non-null",
            ),
            (
                r#"{"name":"id","type":"long"},{"name":"genre","type":"string"},{"name":"plays","type":"string"},{"name":"note","type":"string"}"#,
                "column `plays` changes type from integer to string",
            ),
        ];
        for (new, expected) in cases {
            let found = problems(new);
            assert!(
                found.iter().any(|p| p.starts_with(expected)),
                "{expected}: {found:?}"
            );
        }
        let found = problems(
            r#"{"name":"id","type":"long"},{"name":"genre","type":"string"},{"name":"plays","type":"int"},{"name":"note","type":"string"}"#,
        );
        assert_eq!(
            found,
            ["column `note` becomes non-null: rows already in the table may hold nulls"]
        );
    }
}
