//! Checking a value against a schema, with the field path of every violation.
//!
//! `apache-avro` can tell whether a value is valid but not where it is not; producers need
//! the where (`$.device.os: expected string, found int 3`) to fix their code, so the mesh
//! does its own walk. The walk also returns the value in the exact shape the encoder needs.

use std::collections::HashMap;
use std::fmt::{self, Write as _};

use apache_avro::schema::{
    DecimalSchema, EnumSchema, FixedSchema, InnerDecimalSchema, Name, RecordSchema, UnionSchema,
    UuidSchema,
};
use apache_avro::types::Value;
use apache_avro::{Decimal, Schema};
use serde_json::Value as Json;

use super::AvroSchema;
use super::limits::MAX_VALUE_DEPTH;

/// At most this many violations are collected from one value; the rest are counted.
const MAX_ERRORS: usize = 16;

/// One violation: where in the value, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The path from the root, e.g. `$.items[2].sku` or `$.tags["color"]`; `$` is the root.
    pub path: String,
    /// What is wrong there, e.g. `expected long, found string "abc"`.
    pub reason: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// A value that does not conform to its schema, with every violation found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    /// The full name of the schema checked against.
    pub schema: String,
    /// The violations, in the order of the schema's fields; never empty.
    pub errors: Vec<FieldError>,
    /// Violations found past the first 16, not listed.
    pub more: usize,
}

impl ValidationError {
    /// The path of the first violation.
    pub fn first_path(&self) -> &str {
        self.errors.first().map_or("$", |e| e.path.as_str())
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "value does not conform to schema {}: ", self.schema)?;
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        if self.more > 0 {
            write!(f, "; and {} more", self.more)?;
        }
        Ok(())
    }
}

pub(super) fn conform(schema: &AvroSchema, value: Value) -> Result<Value, ValidationError> {
    run(schema, value, false)
}

/// Like [`conform`], for a value written with another schema: fields this schema does not
/// have are dropped instead of refused.
pub(super) fn resolve(schema: &AvroSchema, value: Value) -> Result<Value, ValidationError> {
    run(schema, value, true)
}

fn run(schema: &AvroSchema, value: Value, drop_unknown: bool) -> Result<Value, ValidationError> {
    let mut walk = Walk {
        root: schema,
        errors: Vec::new(),
        more: 0,
        path: String::from("$"),
        drop_unknown,
        depth: 0,
        steps: 0,
    };
    let out = walk.value(value, schema.schema(), None);
    match out {
        Some(v) if walk.errors.is_empty() => Ok(v),
        _ => Err(ValidationError {
            schema: schema.full_name().to_owned(),
            errors: walk.errors,
            more: walk.more,
        }),
    }
}

struct Walk<'a> {
    root: &'a AvroSchema,
    errors: Vec<FieldError>,
    more: usize,
    path: String,
    /// Resolution: fields the schema lacks are dropped, not refused.
    drop_unknown: bool,
    /// How deep the walk is in the value.
    depth: usize,
    /// Values visited so far, union branches tried included.
    steps: usize,
}

/// Drops a value without recursing: its nested values are taken apart with a worklist.
fn dispose(value: Value) {
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::Record(fields) => pending.extend(fields.into_iter().map(|(_, v)| v)),
            Value::Array(items) => pending.extend(items),
            Value::Map(entries) => pending.extend(entries.into_values()),
            Value::Union(_, inner) => pending.push(*inner),
            _ => {}
        }
    }
}

/// The most values one check visits. Trying the branches of unions of several records at
/// every level of a recursive schema could otherwise take time exponential in the depth.
const MAX_STEPS: usize = 16_000_000;

impl Walk<'_> {
    fn fail(&mut self, reason: String) -> Option<Value> {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(FieldError {
                path: self.path.clone(),
                reason,
            });
        } else {
            self.more += 1;
        }
        None
    }

    fn mismatch(&mut self, schema: &Schema, value: &Value) -> Option<Value> {
        let reason = if matches!(value, Value::Null) {
            format!(
                "null is not allowed here: the field is {} and not nullable",
                describe_schema(schema)
            )
        } else {
            format!(
                "expected {}, found {}",
                describe_schema(schema),
                describe_value(value)
            )
        };
        self.fail(reason)
    }

    /// Runs `f` with `segment` appended to the path.
    fn at<T>(&mut self, segment: fmt::Arguments<'_>, f: impl FnOnce(&mut Self) -> T) -> T {
        let len = self.path.len();
        // Writing into a String cannot fail.
        let _ = self.path.write_fmt(segment);
        let out = f(self);
        self.path.truncate(len);
        out
    }

    fn value(&mut self, value: Value, schema: &Schema, ns: Option<&str>) -> Option<Value> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return self.fail(format!(
                "the value is too intricate to check (more than {MAX_STEPS} steps, counting the union branches tried)"
            ));
        }
        // Only recursive schemas let a value nest deeper than its schema.
        if self.depth >= MAX_VALUE_DEPTH {
            // Dropped here, the rest of the value would recurse as deep again, from a stack
            // already this deep.
            dispose(value);
            return self.fail(format!(
                "the value nests deeper than {MAX_VALUE_DEPTH} levels"
            ));
        }
        self.depth += 1;
        let out = self.nested(value, schema, ns);
        self.depth -= 1;
        out
    }

    fn nested(&mut self, value: Value, schema: &Schema, ns: Option<&str>) -> Option<Value> {
        use Value as V;
        // A writer's union branch index means nothing in the reader's schema: resolution
        // matches branches by the value inside.
        let value = match value {
            V::Union(_, inner) if self.drop_unknown => *inner,
            other => other,
        };
        match (schema, value) {
            (Schema::Ref { name }, value) => {
                let full = name.fully_qualified_name(ns).into_owned();
                match self.root.named(&full) {
                    Some(target) => {
                        let inner_ns = full.namespace().map(str::to_owned);
                        // Following a name is not a level of the value.
                        self.nested(value, target, inner_ns.as_deref())
                    }
                    None => self.fail(format!(
                        "the schema references unknown type {}",
                        full.fullname(None)
                    )),
                }
            }
            (Schema::Union(union), value) => self.union(union, value, ns),
            (Schema::Null, V::Null) => Some(V::Null),
            (Schema::Boolean, v @ V::Boolean(_)) => Some(v),
            (Schema::Int, v @ V::Int(_)) => Some(v),
            (Schema::Int, V::Long(l)) => match i32::try_from(l) {
                Ok(i) => Some(V::Int(i)),
                Err(_) => self.fail(format!("{l} does not fit in an int")),
            },
            (Schema::Long, V::Int(i)) => Some(V::Long(i.into())),
            (Schema::Long, v @ V::Long(_)) => Some(v),
            (Schema::Float, V::Int(i)) => Some(V::Float(i as f32)),
            (Schema::Float, V::Long(l)) => Some(V::Float(l as f32)),
            (Schema::Float, v @ V::Float(_)) => Some(v),
            (Schema::Float, V::Double(d)) => Some(V::Float(d as f32)),
            (Schema::Double, V::Int(i)) => Some(V::Double(i.into())),
            (Schema::Double, V::Long(l)) => Some(V::Double(l as f64)),
            (Schema::Double, V::Float(f)) => Some(V::Double(f.into())),
            (Schema::Double, v @ V::Double(_)) => Some(v),
            (Schema::Bytes, v @ V::Bytes(_)) => Some(v),
            (Schema::String, v @ V::String(_)) => Some(v),
            (Schema::Fixed(fixed), V::Fixed(_, bytes) | V::Bytes(bytes)) => {
                self.fixed(fixed, bytes)
            }
            (Schema::Enum(e), V::Enum(_, symbol) | V::String(symbol)) => self.symbol(e, symbol),
            (Schema::Array(a), V::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    if let Some(v) = self.at(format_args!("[{i}]"), |w| w.value(item, &a.items, ns))
                    {
                        out.push(v);
                    }
                }
                Some(V::Array(out))
            }
            (Schema::Map(m), V::Map(entries)) => {
                let mut out = HashMap::with_capacity(entries.len());
                for (k, item) in entries {
                    let v = self.at(format_args!("[{k:?}]"), |w| w.value(item, &m.types, ns));
                    if let Some(v) = v {
                        out.insert(k, v);
                    }
                }
                Some(V::Map(out))
            }
            (Schema::Record(r), V::Record(fields)) => self.record(r, fields),
            // A map with string keys (a JSON object, say) stands for a record.
            (Schema::Record(r), V::Map(entries)) => self.record(r, entries.into_iter().collect()),
            (Schema::Date, V::Int(d) | V::Date(d)) => Some(V::Date(d)),
            (Schema::TimeMillis, V::Int(t) | V::TimeMillis(t)) => Some(V::TimeMillis(t)),
            (Schema::TimeMicros, V::Long(t) | V::TimeMicros(t)) => Some(V::TimeMicros(t)),
            (Schema::TimeMicros, V::Int(t)) => Some(V::TimeMicros(t.into())),
            (Schema::TimestampMillis, V::Long(t) | V::TimestampMillis(t)) => {
                Some(V::TimestampMillis(t))
            }
            (Schema::TimestampMicros, V::Long(t) | V::TimestampMicros(t)) => {
                Some(V::TimestampMicros(t))
            }
            (Schema::TimestampNanos, V::Long(t) | V::TimestampNanos(t)) => {
                Some(V::TimestampNanos(t))
            }
            (Schema::LocalTimestampMillis, V::Long(t) | V::LocalTimestampMillis(t)) => {
                Some(V::LocalTimestampMillis(t))
            }
            (Schema::LocalTimestampMicros, V::Long(t) | V::LocalTimestampMicros(t)) => {
                Some(V::LocalTimestampMicros(t))
            }
            (Schema::LocalTimestampNanos, V::Long(t) | V::LocalTimestampNanos(t)) => {
                Some(V::LocalTimestampNanos(t))
            }
            (Schema::Uuid(_), v @ V::Uuid(_)) => Some(v),
            (Schema::Uuid(UuidSchema::String), V::String(s)) => match s.parse() {
                Ok(u) => Some(V::Uuid(u)),
                Err(_) => self.fail(format!("{s:?} is not a UUID")),
            },
            (
                Schema::Uuid(UuidSchema::Bytes | UuidSchema::Fixed(_)),
                V::Bytes(b) | V::Fixed(_, b),
            ) => match <[u8; 16]>::try_from(b.as_slice()) {
                Ok(raw) => Some(V::Uuid(uuid::Uuid::from_bytes(raw))),
                Err(_) => self.fail(format!("a UUID has 16 bytes, found {}", b.len())),
            },
            (Schema::Decimal(d), v @ (V::Decimal(_) | V::Bytes(_) | V::Fixed(..))) => {
                self.decimal(d, v)
            }
            (Schema::BigDecimal, V::BigDecimal(d)) => match super::big_decimal::check(&d) {
                Ok(()) => Some(V::BigDecimal(d)),
                Err(reason) => self.fail(reason),
            },
            (Schema::Duration(_), v @ V::Duration(_)) => Some(v),
            (schema, value) => self.mismatch(schema, &value),
        }
    }

    fn fixed(&mut self, fixed: &FixedSchema, bytes: Vec<u8>) -> Option<Value> {
        if bytes.len() == fixed.size {
            Some(Value::Fixed(fixed.size, bytes))
        } else {
            self.fail(format!(
                "{} has {} bytes, found {}",
                fixed.name.fullname(None),
                fixed.size,
                bytes.len()
            ))
        }
    }

    fn symbol(&mut self, e: &EnumSchema, symbol: String) -> Option<Value> {
        match e.symbols.iter().position(|s| *s == symbol) {
            // Avro caps enum symbols far below u32::MAX.
            Some(i) => Some(Value::Enum(u32::try_from(i).unwrap_or(u32::MAX), symbol)),
            None => self.fail(format!(
                "unknown symbol {symbol:?} for enum {}; expected one of {}",
                e.name.fullname(None),
                e.symbols.join(", ")
            )),
        }
    }

    fn decimal(&mut self, d: &DecimalSchema, value: Value) -> Option<Value> {
        let decimal = match value {
            Value::Decimal(dec) => dec,
            Value::Bytes(b) | Value::Fixed(_, b) => Decimal::from(b),
            other => return self.mismatch(&Schema::Decimal(d.clone()), &other),
        };
        // A decimal of no bytes is no number: Java refuses it and no encoder writes it.
        let Ok(len) = Vec::<u8>::try_from(&decimal).map(|b| b.len()) else {
            return self.fail("a decimal of no bytes".into());
        };
        if let InnerDecimalSchema::Fixed(fixed) = &d.inner
            && len > fixed.size
        {
            return self.fail(format!(
                "decimal needs {len} bytes, the fixed type {} holds {}",
                fixed.name.fullname(None),
                fixed.size
            ));
        }
        Some(Value::Decimal(decimal))
    }

    fn union(&mut self, union: &UnionSchema, value: Value, ns: Option<&str>) -> Option<Value> {
        let variants = union.variants();
        if let Value::Union(i, inner) = value {
            let branch = usize::try_from(i).ok().and_then(|i| variants.get(i));
            return match branch {
                Some(b) => self
                    .value(*inner, b, ns)
                    .map(|v| Value::Union(i, Box::new(v))),
                None => self.fail(format!(
                    "union branch {i} does not exist; the union has {}",
                    variants.len()
                )),
            };
        }
        let candidates: Vec<usize> = (0..variants.len())
            .filter(|&i| self.accepts_kind(&variants[i], &value, ns))
            .collect();
        let index = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
        match candidates.as_slice() {
            [] => {
                if matches!(value, Value::Null) {
                    return self.fail(format!(
                        "null is not allowed here: the field is {} and not nullable",
                        describe_schema(&Schema::Union(union.clone()))
                    ));
                }
                self.mismatch(&Schema::Union(union.clone()), &value)
            }
            [only] => self
                .value(value, &variants[*only], ns)
                .map(|v| Value::Union(index(*only), Box::new(v))),
            several => {
                // More than one branch takes this kind of value (two records, say): the
                // first one it conforms to wins; if none, report against the first.
                for &i in several {
                    // A trial in this walk (its depth and step budget carry on), whose
                    // complaints are dropped: they only mean "not this branch".
                    let (errors, more) = (self.errors.len(), self.more);
                    let out = self.value(value.clone(), &variants[i], ns);
                    let clean = self.errors.len() == errors && self.more == more;
                    self.errors.truncate(errors);
                    self.more = more;
                    if let Some(v) = out
                        && clean
                    {
                        return Some(Value::Union(index(i), Box::new(v)));
                    }
                    if self.steps > MAX_STEPS {
                        break;
                    }
                }
                self.value(value, &variants[several[0]], ns)
            }
        }
    }

    /// Whether a value of this kind could belong to `schema`, looking only at the top level.
    fn accepts_kind(&self, schema: &Schema, value: &Value, ns: Option<&str>) -> bool {
        use Value as V;
        match schema {
            Schema::Ref { name } => {
                let full = name.fully_qualified_name(ns);
                self.root
                    .named(&full)
                    .is_some_and(|s| self.accepts_kind(s, value, full.namespace()))
            }
            Schema::Null => matches!(value, V::Null),
            Schema::Boolean => matches!(value, V::Boolean(_)),
            Schema::Int | Schema::Date | Schema::TimeMillis => {
                matches!(value, V::Int(_) | V::Date(_) | V::TimeMillis(_))
            }
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => matches!(
                value,
                V::Int(_)
                    | V::Long(_)
                    | V::TimeMicros(_)
                    | V::TimestampMillis(_)
                    | V::TimestampMicros(_)
                    | V::TimestampNanos(_)
                    | V::LocalTimestampMillis(_)
                    | V::LocalTimestampMicros(_)
                    | V::LocalTimestampNanos(_)
            ),
            Schema::Float | Schema::Double => {
                matches!(value, V::Int(_) | V::Long(_) | V::Float(_) | V::Double(_))
            }
            Schema::Bytes => matches!(value, V::Bytes(_)),
            Schema::String => matches!(value, V::String(_)),
            Schema::Fixed(_) | Schema::Duration(_) => {
                matches!(value, V::Fixed(..) | V::Bytes(_) | V::Duration(_))
            }
            Schema::Enum(_) => matches!(value, V::Enum(..) | V::String(_)),
            Schema::Array(_) => matches!(value, V::Array(_)),
            Schema::Map(_) => matches!(value, V::Map(_)),
            Schema::Record(_) => matches!(value, V::Record(_) | V::Map(_)),
            Schema::Uuid(UuidSchema::String) => matches!(value, V::Uuid(_) | V::String(_)),
            Schema::Uuid(_) => matches!(value, V::Uuid(_) | V::Bytes(_) | V::Fixed(..)),
            Schema::Decimal(_) => matches!(value, V::Decimal(_) | V::Bytes(_) | V::Fixed(..)),
            Schema::BigDecimal => matches!(value, V::BigDecimal(_)),
            Schema::Union(_) => false,
        }
    }

    fn record(&mut self, r: &RecordSchema, fields: Vec<(String, Value)>) -> Option<Value> {
        let ns = r.name.namespace().map(str::to_owned);
        let ns = ns.as_deref();
        let mut given: HashMap<String, Value> = HashMap::with_capacity(fields.len());
        for (name, value) in fields {
            if !r.lookup.contains_key(&name) {
                if self.drop_unknown {
                    continue;
                }
                self.at(format_args!(".{name}"), |w| {
                    w.fail(format!(
                        "unknown field; {} has no field {name:?}",
                        r.name.fullname(None)
                    ))
                });
                continue;
            }
            given.insert(name, value);
        }
        let mut out = Vec::with_capacity(r.fields.len());
        for field in &r.fields {
            let value = self.at(format_args!(".{}", field.name), |w| {
                match given.remove(&field.name) {
                    Some(v) => w.value(v, &field.schema, ns),
                    None => match &field.default {
                        Some(default) => match default_value(w.root, default, &field.schema, ns) {
                            Some(v) => Some(v),
                            None => {
                                w.fail("the field's default does not fit its schema".to_owned())
                            }
                        },
                        None => w.fail(format!(
                            "missing required field of type {}",
                            describe_schema(&field.schema)
                        )),
                    },
                }
            });
            if let Some(v) = value {
                out.push((field.name.clone(), v));
            }
        }
        Some(Value::Record(out))
    }
}

/// Turns a field's JSON default into a value of its schema (for a union: of the first branch,
/// as the Avro specification says; other branches are tried for lenience).
pub(crate) fn default_value(
    root: &AvroSchema,
    json: &Json,
    schema: &Schema,
    ns: Option<&str>,
) -> Option<Value> {
    default_at(root, json, schema, ns, 0)
}

/// [`default_value`] at `depth` levels into the default: a record default may leave out a
/// field whose own default is a record, and so on, so a recursive schema could otherwise
/// expand a default without end.
fn default_at(
    root: &AvroSchema,
    json: &Json,
    schema: &Schema,
    ns: Option<&str>,
    depth: usize,
) -> Option<Value> {
    use Value as V;
    if depth > MAX_VALUE_DEPTH {
        return None;
    }
    let default_value = |root, json, schema, ns| default_at(root, json, schema, ns, depth + 1);
    let bytes = |s: &str| -> Option<Vec<u8>> {
        s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
    };
    Some(match (schema, json) {
        (Schema::Ref { name }, _) => {
            let full: Name = name.fully_qualified_name(ns).into_owned();
            let target = root.named(&full)?;
            return default_value(root, json, target, full.namespace());
        }
        (Schema::Union(u), _) => {
            return u.variants().iter().enumerate().find_map(|(i, branch)| {
                default_value(root, json, branch, ns)
                    .map(|v| V::Union(u32::try_from(i).unwrap_or(u32::MAX), Box::new(v)))
            });
        }
        (Schema::Null, Json::Null) => V::Null,
        (Schema::Boolean, Json::Bool(b)) => V::Boolean(*b),
        (Schema::Int, Json::Number(n)) => V::Int(i32::try_from(n.as_i64()?).ok()?),
        (Schema::Long, Json::Number(n)) => V::Long(n.as_i64()?),
        (Schema::Float, Json::Number(n)) => V::Float(n.as_f64()? as f32),
        (Schema::Double, Json::Number(n)) => V::Double(n.as_f64()?),
        (Schema::Bytes, Json::String(s)) => V::Bytes(bytes(s)?),
        (Schema::String, Json::String(s)) => V::String(s.clone()),
        (Schema::Fixed(f), Json::String(s)) => {
            let b = bytes(s)?;
            (b.len() == f.size).then_some(V::Fixed(f.size, b))?
        }
        (Schema::Enum(e), Json::String(s)) => {
            let i = e.symbols.iter().position(|x| x == s)?;
            V::Enum(u32::try_from(i).ok()?, s.clone())
        }
        (Schema::Array(a), Json::Array(items)) => V::Array(
            items
                .iter()
                .map(|j| default_value(root, j, &a.items, ns))
                .collect::<Option<_>>()?,
        ),
        (Schema::Map(m), Json::Object(obj)) => V::Map(
            obj.iter()
                .map(|(k, j)| default_value(root, j, &m.types, ns).map(|v| (k.clone(), v)))
                .collect::<Option<_>>()?,
        ),
        (Schema::Record(r), Json::Object(obj)) => {
            let inner_ns = r.name.namespace();
            V::Record(
                r.fields
                    .iter()
                    .map(|f| {
                        let j = obj.get(&f.name).or(f.default.as_ref())?;
                        default_value(root, j, &f.schema, inner_ns).map(|v| (f.name.clone(), v))
                    })
                    .collect::<Option<_>>()?,
            )
        }
        (Schema::Date, Json::Number(n)) => V::Date(i32::try_from(n.as_i64()?).ok()?),
        (Schema::TimeMillis, Json::Number(n)) => V::TimeMillis(i32::try_from(n.as_i64()?).ok()?),
        (Schema::TimeMicros, Json::Number(n)) => V::TimeMicros(n.as_i64()?),
        (Schema::TimestampMillis, Json::Number(n)) => V::TimestampMillis(n.as_i64()?),
        (Schema::TimestampMicros, Json::Number(n)) => V::TimestampMicros(n.as_i64()?),
        (Schema::TimestampNanos, Json::Number(n)) => V::TimestampNanos(n.as_i64()?),
        (Schema::LocalTimestampMillis, Json::Number(n)) => V::LocalTimestampMillis(n.as_i64()?),
        (Schema::LocalTimestampMicros, Json::Number(n)) => V::LocalTimestampMicros(n.as_i64()?),
        (Schema::LocalTimestampNanos, Json::Number(n)) => V::LocalTimestampNanos(n.as_i64()?),
        (Schema::Uuid(UuidSchema::String), Json::String(s)) => V::Uuid(s.parse().ok()?),
        (Schema::Decimal(_), Json::String(s)) => V::Decimal(Decimal::from(bytes(s)?)),
        _ => return None,
    })
}

/// A short description of a schema for error messages: `long`, `record mesh.x.Y`, ...
pub(crate) fn describe_schema(schema: &Schema) -> String {
    match schema {
        Schema::Null => "null".into(),
        Schema::Boolean => "boolean".into(),
        Schema::Int => "int".into(),
        Schema::Long => "long".into(),
        Schema::Float => "float".into(),
        Schema::Double => "double".into(),
        Schema::Bytes => "bytes".into(),
        Schema::String => "string".into(),
        Schema::Array(a) => format!("array of {}", describe_schema(&a.items)),
        Schema::Map(m) => format!("map of {}", describe_schema(&m.types)),
        Schema::Union(u) => format!(
            "union [{}]",
            u.variants()
                .iter()
                .map(describe_schema)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Schema::Record(r) => format!("record {}", r.name.fullname(None)),
        Schema::Enum(e) => format!("enum {}", e.name.fullname(None)),
        Schema::Fixed(f) => format!("fixed {}", f.name.fullname(None)),
        Schema::Decimal(d) => format!("decimal({}, {})", d.precision, d.scale),
        Schema::BigDecimal => "big-decimal".into(),
        Schema::Uuid(_) => "uuid".into(),
        Schema::Date => "date".into(),
        Schema::TimeMillis => "time-millis".into(),
        Schema::TimeMicros => "time-micros".into(),
        Schema::TimestampMillis => "timestamp-millis".into(),
        Schema::TimestampMicros => "timestamp-micros".into(),
        Schema::TimestampNanos => "timestamp-nanos".into(),
        Schema::LocalTimestampMillis => "local-timestamp-millis".into(),
        Schema::LocalTimestampMicros => "local-timestamp-micros".into(),
        Schema::LocalTimestampNanos => "local-timestamp-nanos".into(),
        Schema::Duration(_) => "duration".into(),
        Schema::Ref { name } => name.fullname(None),
    }
}

/// A short description of a value for error messages: `int 3`, `string "abc"`, ...
pub(crate) fn describe_value(value: &Value) -> String {
    use Value as V;
    match value {
        V::Null => "null".into(),
        V::Boolean(b) => format!("boolean {b}"),
        V::Int(i) => format!("int {i}"),
        V::Long(l) => format!("long {l}"),
        V::Float(x) => format!("float {x}"),
        V::Double(x) => format!("double {x}"),
        V::Bytes(b) => format!("{} bytes", b.len()),
        V::String(s) => {
            let mut shown: String = s.chars().take(40).collect();
            if shown.len() < s.len() {
                shown.push('…');
            }
            format!("string {shown:?}")
        }
        V::Fixed(n, _) => format!("fixed of {n} bytes"),
        V::Enum(_, s) => format!("enum symbol {s:?}"),
        V::Union(_, v) => describe_value(v),
        V::Array(a) => format!("array of {} items", a.len()),
        V::Map(m) => format!("map of {} entries", m.len()),
        V::Record(f) => format!("record with {} fields", f.len()),
        V::Date(_) => "date".into(),
        V::Decimal(_) => "decimal".into(),
        V::BigDecimal(_) => "big-decimal".into(),
        V::TimeMillis(_) => "time-millis".into(),
        V::TimeMicros(_) => "time-micros".into(),
        V::TimestampMillis(_) => "timestamp-millis".into(),
        V::TimestampMicros(_) => "timestamp-micros".into(),
        V::TimestampNanos(_) => "timestamp-nanos".into(),
        V::LocalTimestampMillis(_) => "local-timestamp-millis".into(),
        V::LocalTimestampMicros(_) => "local-timestamp-micros".into(),
        V::LocalTimestampNanos(_) => "local-timestamp-nanos".into(),
        V::Duration(_) => "duration".into(),
        V::Uuid(u) => format!("uuid {u}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Result;

    const DEVICE_EVENT: &str = r#"{
        "type": "record", "name": "Played", "namespace": "mesh.test",
        "fields": [
            {"name": "user_id", "type": "string"},
            {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["PLAY", "SKIP"]}},
            {"name": "device", "type": {"type": "record", "name": "Device", "fields": [
                {"name": "os", "type": "string"},
                {"name": "version", "type": ["null", "int"], "default": null}
            ]}},
            {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "ref", "type": ["null", "Device"], "default": null}
        ]
    }"#;

    fn schema() -> Result<AvroSchema> {
        AvroSchema::parse_record(DEVICE_EVENT, "test")
    }

    fn device(os: Value) -> Value {
        Value::Record(vec![("os".into(), os)])
    }

    fn event(fields: Vec<(&str, Value)>) -> Value {
        Value::Record(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    fn errors(schema: &AvroSchema, value: Value) -> Vec<(String, String)> {
        match schema.conform(value) {
            Ok(v) => panic!("expected a violation, conformed to {v:?}"),
            Err(e) => e.errors.into_iter().map(|e| (e.path, e.reason)).collect(),
        }
    }

    #[test]
    fn conforms_and_fills_defaults() -> Result<()> {
        let s = schema()?;
        let v = s.conform(event(vec![
            ("user_id", Value::String("u1".into())),
            ("kind", Value::String("SKIP".into())),
            ("device", device(Value::String("ios".into()))),
            ("at", Value::Long(1_700_000_000_000)),
        ]))?;
        let Value::Record(fields) = v else {
            panic!("not a record")
        };
        assert_eq!(fields[1].1, Value::Enum(1, "SKIP".into()));
        assert_eq!(
            fields[2].1,
            Value::Record(vec![
                ("os".into(), Value::String("ios".into())),
                ("version".into(), Value::Union(0, Box::new(Value::Null))),
            ])
        );
        assert_eq!(fields[3].1, Value::Array(vec![]));
        assert_eq!(fields[4].1, Value::TimestampMillis(1_700_000_000_000));
        assert_eq!(fields[5].1, Value::Union(0, Box::new(Value::Null)));
        Ok(())
    }

    #[test]
    fn reports_each_violation_with_its_path() -> Result<()> {
        let s = schema()?;
        let got = errors(
            &s,
            event(vec![
                ("user_id", Value::Int(5)),
                ("kind", Value::String("PAUSE".into())),
                ("device", device(Value::Null)),
                (
                    "tags",
                    Value::Array(vec![Value::String("a".into()), Value::Long(2)]),
                ),
                ("colour", Value::String("red".into())),
            ]),
        );
        let paths: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "$.colour",
                "$.user_id",
                "$.kind",
                "$.device.os",
                "$.tags[1]",
                "$.at"
            ]
        );
        assert_eq!(
            got[0].1,
            "unknown field; mesh.test.Played has no field \"colour\""
        );
        assert_eq!(got[1].1, "expected string, found int 5");
        assert!(
            got[2].1.starts_with("unknown symbol \"PAUSE\""),
            "{}",
            got[2].1
        );
        assert!(
            got[2].1.ends_with("expected one of PLAY, SKIP"),
            "{}",
            got[2].1
        );
        assert!(
            got[3].1.starts_with("null is not allowed here"),
            "{}",
            got[3].1
        );
        assert_eq!(got[5].1, "missing required field of type timestamp-millis");
        Ok(())
    }

    #[test]
    fn union_branches_are_chosen_and_checked() -> Result<()> {
        let s = schema()?;
        let base = |r: Value| {
            event(vec![
                ("user_id", Value::String("u".into())),
                ("kind", Value::String("PLAY".into())),
                ("device", device(Value::String("x".into()))),
                ("at", Value::Long(0)),
                ("ref", r),
            ])
        };
        let ok = s.conform(base(device(Value::String("android".into()))))?;
        let Value::Record(fields) = ok else {
            panic!("not a record")
        };
        assert!(
            matches!(&fields[5].1, Value::Union(1, _)),
            "{:?}",
            fields[5].1
        );
        let got = errors(&s, base(device(Value::Boolean(true))));
        assert_eq!(
            got,
            [(
                "$.ref.os".to_owned(),
                "expected string, found boolean true".to_owned()
            )]
        );
        let got = errors(&s, base(Value::String("no".into())));
        assert_eq!(
            got[0].1,
            "expected union [null, mesh.test.Device], found string \"no\""
        );
        Ok(())
    }

    #[test]
    fn the_display_lists_violations() -> Result<()> {
        let s = schema()?;
        let err = s.conform(event(vec![])).expect_err("empty record");
        let text = err.to_string();
        assert!(text.starts_with("value does not conform to schema mesh.test.Played: $.user_id: missing required field"), "{text}");
        assert_eq!(err.first_path(), "$.user_id");
        Ok(())
    }
}
