//! Fast, validating Avro binary encoding.
//!
//! A schema is compiled once into an arena of [`Node`]s (named types resolved, defaults
//! pre-encoded, enum symbols indexed); encoding then walks the arena with no schema work per
//! record. Two front ends share it: [`Codec::encode_value`] for `apache_avro` values and
//! [`Codec::encode_serde`] (in `serde_encode`) for any `Serialize` type, written straight to
//! Avro binary without building a `Value`. Both check the data as they go and stop at the
//! first violation with its field path; [`AvroSchema::conform`](super::AvroSchema::conform)
//! lists every violation when a caller wants them all.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};

use apache_avro::Schema;
use apache_avro::schema::{InnerDecimalSchema, Name, UuidSchema};
use apache_avro::types::Value;

use super::AvroSchema;
use super::big_decimal;
use super::conform::{FieldError, ValidationError, default_value};
use super::limits::MAX_VALUE_DEPTH;

/// Index of a node in the arena.
pub(crate) type NodeId = usize;

/// How an `int` or `long` node is labelled, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Logical {
    Plain,
    Date,
    TimeMillis,
    TimeMicros,
    TimestampMillis,
    TimestampMicros,
    TimestampNanos,
    LocalTimestampMillis,
    LocalTimestampMicros,
    LocalTimestampNanos,
}

/// One compiled schema node.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Null,
    Boolean,
    Int(Logical),
    Long(Logical),
    Float,
    Double,
    Bytes,
    String,
    /// A UUID: as a 36-character string, or 16 bytes.
    Uuid {
        fixed: bool,
        bytes: bool,
    },
    Fixed {
        name: String,
        size: usize,
    },
    Enum {
        name: String,
        symbols: Vec<String>,
        index: HashMap<String, u32>,
    },
    Array(NodeId),
    Map(NodeId),
    Record(Box<RecordNode>),
    Union(Vec<NodeId>),
    Decimal {
        precision: usize,
        scale: usize,
        fixed: Option<usize>,
    },
    Duration,
    /// Avro's `big-decimal`: a `bytes` value holding a number and its scale.
    BigDecimal,
}

/// A compiled record.
#[derive(Debug, Clone)]
pub(crate) struct RecordNode {
    pub(crate) name: String,
    pub(crate) fields: Vec<FieldNode>,
    pub(crate) index: HashMap<&'static str, usize>,
}

/// A compiled record field.
#[derive(Debug, Clone)]
pub(crate) struct FieldNode {
    /// Interned (see [`intern`]): a path step is a copy, not an allocation per record.
    pub(crate) name: &'static str,
    pub(crate) node: NodeId,
    /// The default, already encoded, written when a value leaves the field out.
    pub(crate) default: Option<Vec<u8>>,
}

/// A schema compiled for encoding and decoding: one arena of nodes both directions walk.
/// Built once per schema (see [`AvroSchema::codec`]).
#[derive(Debug, Clone)]
pub struct Codec {
    pub(crate) nodes: Vec<Node>,
    pub(crate) root: NodeId,
    pub(crate) schema_name: String,
}

/// Writes `n` zig-zag varint encoded, as Avro `int` and `long` are.
#[inline]
pub(crate) fn write_long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

#[inline]
pub(crate) fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_long(out, bytes.len() as i64);
    out.extend_from_slice(bytes);
}

/// A decimal's two's-complement bytes: as `bytes`, or sign-extended to its fixed size. Both
/// encoders write decimals here.
pub(crate) fn write_decimal(
    fixed: Option<usize>,
    bytes: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    if bytes.is_empty() {
        // No number: Java refuses it ("Zero length BigInteger"), and so does the decoder.
        return Err("a decimal of no bytes".into());
    }
    match fixed {
        None => write_bytes(out, bytes),
        Some(size) => {
            if bytes.len() > size {
                return Err(format!(
                    "decimal needs {} bytes, the fixed type holds {size}",
                    bytes.len()
                ));
            }
            let fill = if bytes[0] & 0x80 != 0 { 0xff } else { 0 };
            out.extend(std::iter::repeat_n(fill, size - bytes.len()));
            out.extend_from_slice(bytes);
        }
    }
    Ok(())
}

impl Node {
    /// A short description for messages, without following children.
    pub(crate) fn describe(&self, enc: &Codec) -> String {
        match self {
            Node::Null => "null".into(),
            Node::Boolean => "boolean".into(),
            Node::Int(l) | Node::Long(l) => match l {
                Logical::Plain => if matches!(self, Node::Int(_)) {
                    "int"
                } else {
                    "long"
                }
                .into(),
                Logical::Date => "date (an int of days since 1970-01-01)".into(),
                Logical::TimeMillis => "time-millis".into(),
                Logical::TimeMicros => "time-micros".into(),
                Logical::TimestampMillis => {
                    "timestamp-millis (a long of milliseconds since the epoch)".into()
                }
                Logical::TimestampMicros => {
                    "timestamp-micros (a long of microseconds since the epoch)".into()
                }
                Logical::TimestampNanos => "timestamp-nanos".into(),
                Logical::LocalTimestampMillis => "local-timestamp-millis".into(),
                Logical::LocalTimestampMicros => "local-timestamp-micros".into(),
                Logical::LocalTimestampNanos => "local-timestamp-nanos".into(),
            },
            Node::Float => "float".into(),
            Node::Double => "double".into(),
            Node::Bytes => "bytes".into(),
            Node::String => "string".into(),
            Node::Uuid { .. } => "uuid".into(),
            Node::Fixed { name, size } => format!("fixed {name} ({size} bytes)"),
            Node::Enum { name, .. } => format!("enum {name}"),
            Node::Array(item) => format!("array of {}", enc.nodes[*item].describe(enc)),
            Node::Map(value) => format!("map of {}", enc.nodes[*value].describe(enc)),
            Node::Record(r) => format!("record {}", r.name),
            Node::Union(branches) => format!(
                "union [{}]",
                branches
                    .iter()
                    .map(|b| enc.nodes[*b].describe(enc))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Node::Decimal {
                precision, scale, ..
            } => format!("decimal({precision}, {scale})"),
            Node::Duration => "duration".into(),
            Node::BigDecimal => "big-decimal".into(),
        }
    }
}

/// Compiles `schema` into an encoder.
pub(crate) fn compile(schema: &AvroSchema) -> Codec {
    let mut compiler = Compiler {
        root: schema,
        nodes: Vec::new(),
        named: HashMap::new(),
        pending_defaults: Vec::new(),
    };
    let root = compiler.node(schema.schema(), None);
    let mut enc = Codec {
        nodes: compiler.nodes,
        root,
        schema_name: schema.full_name().to_owned(),
    };
    // Defaults are encoded once the whole arena exists (a default may be a record).
    for (record, field, json, field_schema, ns) in compiler.pending_defaults {
        let encoded =
            default_value(schema, &json, &field_schema, ns.as_deref()).and_then(|value| {
                let node = match &enc.nodes[record] {
                    Node::Record(r) => r.fields[field].node,
                    _ => return None,
                };
                let mut out = Vec::new();
                enc.write_value(node, &value, &mut Path::default(), &mut out)
                    .ok()?;
                Some(out)
            });
        if let Node::Record(r) = &mut enc.nodes[record] {
            r.fields[field].default = encoded;
        }
    }
    enc
}

type PendingDefault = (NodeId, usize, serde_json::Value, Schema, Option<String>);

struct Compiler<'a> {
    root: &'a AvroSchema,
    nodes: Vec<Node>,
    named: HashMap<Name, NodeId>,
    pending_defaults: Vec<PendingDefault>,
}

impl Compiler<'_> {
    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn node(&mut self, schema: &Schema, ns: Option<&str>) -> NodeId {
        match schema {
            Schema::Ref { name } => {
                let full = name.fully_qualified_name(ns).into_owned();
                if let Some(id) = self.named.get(&full) {
                    return *id;
                }
                match self.root.named(&full) {
                    Some(target) => {
                        let target = target.clone();
                        let inner_ns = full.namespace().map(str::to_owned);
                        self.node(&target, inner_ns.as_deref())
                    }
                    // Parsing resolved every reference; an unknown one cannot reach here.
                    None => self.push(Node::Null),
                }
            }
            Schema::Null => self.push(Node::Null),
            Schema::Boolean => self.push(Node::Boolean),
            Schema::Int => self.push(Node::Int(Logical::Plain)),
            Schema::Date => self.push(Node::Int(Logical::Date)),
            Schema::TimeMillis => self.push(Node::Int(Logical::TimeMillis)),
            Schema::Long => self.push(Node::Long(Logical::Plain)),
            Schema::TimeMicros => self.push(Node::Long(Logical::TimeMicros)),
            Schema::TimestampMillis => self.push(Node::Long(Logical::TimestampMillis)),
            Schema::TimestampMicros => self.push(Node::Long(Logical::TimestampMicros)),
            Schema::TimestampNanos => self.push(Node::Long(Logical::TimestampNanos)),
            Schema::LocalTimestampMillis => self.push(Node::Long(Logical::LocalTimestampMillis)),
            Schema::LocalTimestampMicros => self.push(Node::Long(Logical::LocalTimestampMicros)),
            Schema::LocalTimestampNanos => self.push(Node::Long(Logical::LocalTimestampNanos)),
            Schema::Float => self.push(Node::Float),
            Schema::Double => self.push(Node::Double),
            Schema::Bytes => self.push(Node::Bytes),
            Schema::BigDecimal => self.push(Node::BigDecimal),
            Schema::String => self.push(Node::String),
            Schema::Uuid(u) => self.push(Node::Uuid {
                fixed: matches!(u, UuidSchema::Fixed(_)),
                bytes: matches!(u, UuidSchema::Bytes),
            }),
            Schema::Duration(_) => self.push(Node::Duration),
            Schema::Decimal(d) => self.push(Node::Decimal {
                precision: d.precision,
                scale: d.scale,
                fixed: match &d.inner {
                    InnerDecimalSchema::Fixed(f) => Some(f.size),
                    InnerDecimalSchema::Bytes => None,
                },
            }),
            Schema::Fixed(f) => {
                let id = self.push(Node::Fixed {
                    name: f.name.fullname(None),
                    size: f.size,
                });
                self.named.insert(f.name.clone(), id);
                id
            }
            Schema::Enum(e) => {
                let index = e
                    .symbols
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (s.clone(), u32::try_from(i).unwrap_or(u32::MAX)))
                    .collect();
                let id = self.push(Node::Enum {
                    name: e.name.fullname(None),
                    symbols: e.symbols.clone(),
                    index,
                });
                self.named.insert(e.name.clone(), id);
                id
            }
            Schema::Array(a) => {
                let id = self.push(Node::Null);
                let item = self.node(&a.items, ns);
                self.nodes[id] = Node::Array(item);
                id
            }
            Schema::Map(m) => {
                let id = self.push(Node::Null);
                let value = self.node(&m.types, ns);
                self.nodes[id] = Node::Map(value);
                id
            }
            Schema::Union(u) => {
                let id = self.push(Node::Null);
                let branches = u.variants().iter().map(|b| self.node(b, ns)).collect();
                self.nodes[id] = Node::Union(branches);
                id
            }
            Schema::Record(r) => {
                // Registered before its fields so recursive references find it.
                let id = self.push(Node::Null);
                self.named.insert(r.name.clone(), id);
                let inner_ns = r.name.namespace().or(ns).map(str::to_owned);
                let mut fields = Vec::with_capacity(r.fields.len());
                for (i, f) in r.fields.iter().enumerate() {
                    let node = self.node(&f.schema, inner_ns.as_deref());
                    if let Some(default) = &f.default {
                        self.pending_defaults.push((
                            id,
                            i,
                            default.clone(),
                            f.schema.clone(),
                            inner_ns.clone(),
                        ));
                    }
                    fields.push(FieldNode {
                        name: intern(&f.name),
                        node,
                        default: None,
                    });
                }
                let index = fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (f.name, i))
                    .collect();
                self.nodes[id] = Node::Record(Box::new(RecordNode {
                    name: r.name.fullname(None),
                    fields,
                    index,
                }));
                id
            }
        }
    }
}

/// A field name kept for the life of the process. Schemas name few distinct fields and
/// compiled schemas are cached, so the set stays small; in exchange the encoders' field
/// paths cost nothing until an error is rendered.
pub(crate) fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(known) = names.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

/// One step of a field path.
#[derive(Debug, Clone)]
pub(crate) enum Seg {
    /// A field: borrowed for the schema's own (interned) names, owned only for a field the
    /// data has and the schema does not, on the way to an error.
    Field(Cow<'static, str>),
    Index(usize),
    Key(String),
    /// A union's branch: a level of the value, not shown in the path.
    Branch,
}

/// The path from the root to where the encoder is (formatted only on error), and how many
/// union branches this value has tried so far (see [`MAX_BRANCH_TRIALS`]).
#[derive(Debug, Default, Clone)]
pub(crate) struct Path(pub(crate) Vec<Seg>, pub(crate) usize);

/// The most union branches one value may try before it is refused: unions of records inside
/// recursive types would otherwise let a hostile value take exponential time, as `conform`'s
/// step budget prevents on its side.
const MAX_BRANCH_TRIALS: usize = 100_000;

impl Path {
    pub(crate) fn render(&self) -> String {
        let mut out = String::from("$");
        for seg in &self.0 {
            match seg {
                Seg::Field(f) => {
                    out.push('.');
                    out.push_str(f);
                }
                Seg::Index(i) => out.push_str(&format!("[{i}]")),
                Seg::Key(k) => out.push_str(&format!("[{k:?}]")),
                Seg::Branch => {}
            }
        }
        out
    }
}

/// The first violation found while encoding.
#[derive(Debug, Clone)]
pub(crate) struct Violation {
    pub(crate) path: String,
    pub(crate) reason: String,
}

impl Violation {
    pub(crate) fn new(path: &Path, reason: impl Into<String>) -> Self {
        Self {
            path: path.render(),
            reason: reason.into(),
        }
    }
}

impl Codec {
    /// The schema's full name.
    pub fn schema_name(&self) -> &str {
        &self.schema_name
    }

    pub(crate) fn validation_error(&self, v: Violation) -> ValidationError {
        ValidationError {
            schema: self.schema_name.clone(),
            errors: vec![FieldError {
                path: v.path,
                reason: v.reason,
            }],
            more: 0,
        }
    }

    /// Checks and encodes an `apache_avro` value as an Avro binary datum, appending to `out`.
    /// On a violation `out` is left as it was.
    pub fn encode_value(&self, value: &Value, out: &mut Vec<u8>) -> Result<(), ValidationError> {
        let start = out.len();
        self.write_value(self.root, value, &mut Path::default(), out)
            .map_err(|v| {
                out.truncate(start);
                self.validation_error(v)
            })
    }

    fn mismatch(&self, node: NodeId, value: &Value, path: &Path) -> Violation {
        let expected = self.nodes[node].describe(self);
        if matches!(value, Value::Null) {
            Violation::new(
                path,
                format!("null is not allowed here: the field is {expected} and not nullable"),
            )
        } else {
            Violation::new(
                path,
                format!(
                    "expected {expected}, found {}",
                    super::conform::describe_value(value)
                ),
            )
        }
    }

    pub(crate) fn write_value(
        &self,
        node: NodeId,
        value: &Value,
        path: &mut Path,
        out: &mut Vec<u8>,
    ) -> Result<(), Violation> {
        use Value as V;
        // Every level adds a path step (a union's branch an unnamed one), as the decoder
        // counts levels: what the encoders write, the decoder reads. Only recursive schemas
        // let a value nest deeper than its schema.
        if path.0.len() >= MAX_VALUE_DEPTH {
            return Err(Violation::new(
                path,
                format!("the value nests deeper than {MAX_VALUE_DEPTH} levels"),
            ));
        }
        match (&self.nodes[node], value) {
            (Node::Union(branches), V::Union(i, inner)) => {
                let Some(branch) = branches.get(*i as usize) else {
                    return Err(Violation::new(
                        path,
                        format!("union branch {i} does not exist"),
                    ));
                };
                write_long(out, i64::from(*i));
                path.0.push(Seg::Branch);
                self.write_value(*branch, inner, path, out)?;
                path.0.pop();
                Ok(())
            }
            (Node::Union(branches), v) => {
                // The branch `conform` would choose: the only one that takes this kind of
                // value, or the first of several the value fits (trying each in turn).
                let mut candidates = branches
                    .iter()
                    .copied()
                    .enumerate()
                    .filter(|(_, b)| self.accepts(*b, v));
                let Some((first, first_branch)) = candidates.next() else {
                    return Err(self.mismatch(node, v, path));
                };
                if let Some(second) = candidates.next() {
                    // A failed try may leave output and path steps behind: both are put back
                    // as they were before the next try.
                    let (start, depth) = (out.len(), path.0.len());
                    for (i, branch) in [(first, first_branch), second]
                        .into_iter()
                        .chain(candidates)
                    {
                        path.1 += 1;
                        if path.1 > MAX_BRANCH_TRIALS {
                            return Err(Violation::new(
                                path,
                                format!(
                                    "the value is too intricate to encode (more than {MAX_BRANCH_TRIALS} union branches tried)"
                                ),
                            ));
                        }
                        write_long(out, i as i64);
                        path.0.push(Seg::Branch);
                        if self.write_value(branch, v, path, out).is_ok() {
                            path.0.pop();
                            return Ok(());
                        }
                        out.truncate(start);
                        path.0.truncate(depth);
                    }
                }
                // One candidate, or none of several fits: the first one says why.
                write_long(out, first as i64);
                path.0.push(Seg::Branch);
                self.write_value(first_branch, v, path, out)?;
                path.0.pop();
                Ok(())
            }
            (Node::Null, V::Null) => Ok(()),
            (Node::Boolean, V::Boolean(b)) => {
                out.push(u8::from(*b));
                Ok(())
            }
            (Node::Int(_), V::Int(i))
            | (Node::Int(Logical::Date), V::Date(i))
            | (Node::Int(Logical::TimeMillis), V::TimeMillis(i)) => {
                write_long(out, i64::from(*i));
                Ok(())
            }
            (Node::Int(Logical::Plain), V::Long(l)) => match i32::try_from(*l) {
                Ok(i) => {
                    write_long(out, i64::from(i));
                    Ok(())
                }
                Err(_) => Err(Violation::new(path, format!("{l} does not fit in an int"))),
            },
            // A long of any logical type takes a plain long; a logical value only its own type.
            (Node::Long(_), V::Long(l))
            | (Node::Long(Logical::TimeMicros), V::TimeMicros(l))
            | (Node::Long(Logical::TimestampMillis), V::TimestampMillis(l))
            | (Node::Long(Logical::TimestampMicros), V::TimestampMicros(l))
            | (Node::Long(Logical::TimestampNanos), V::TimestampNanos(l))
            | (Node::Long(Logical::LocalTimestampMillis), V::LocalTimestampMillis(l))
            | (Node::Long(Logical::LocalTimestampMicros), V::LocalTimestampMicros(l))
            | (Node::Long(Logical::LocalTimestampNanos), V::LocalTimestampNanos(l)) => {
                write_long(out, *l);
                Ok(())
            }
            (Node::Long(Logical::Plain | Logical::TimeMicros), V::Int(i)) => {
                write_long(out, i64::from(*i));
                Ok(())
            }
            (Node::Float, V::Float(f)) => {
                out.extend_from_slice(&f.to_le_bytes());
                Ok(())
            }
            (Node::Float, V::Double(d)) => {
                out.extend_from_slice(&(*d as f32).to_le_bytes());
                Ok(())
            }
            (Node::Float, V::Int(i)) => {
                out.extend_from_slice(&(*i as f32).to_le_bytes());
                Ok(())
            }
            (Node::Float, V::Long(l)) => {
                out.extend_from_slice(&(*l as f32).to_le_bytes());
                Ok(())
            }
            (Node::Double, V::Double(d)) => {
                out.extend_from_slice(&d.to_le_bytes());
                Ok(())
            }
            (Node::Double, V::Float(f)) => {
                out.extend_from_slice(&f64::from(*f).to_le_bytes());
                Ok(())
            }
            (Node::Double, V::Int(i)) => {
                out.extend_from_slice(&f64::from(*i).to_le_bytes());
                Ok(())
            }
            (Node::Double, V::Long(l)) => {
                out.extend_from_slice(&(*l as f64).to_le_bytes());
                Ok(())
            }
            (Node::Bytes, V::Bytes(b)) => {
                write_bytes(out, b);
                Ok(())
            }
            (Node::String, V::String(s)) => {
                write_bytes(out, s.as_bytes());
                Ok(())
            }
            (Node::Uuid { fixed, bytes }, V::Uuid(u)) => {
                match (fixed, bytes) {
                    (true, _) => out.extend_from_slice(u.as_bytes()),
                    (false, true) => write_bytes(out, u.as_bytes()),
                    _ => write_bytes(out, u.hyphenated().to_string().as_bytes()),
                }
                Ok(())
            }
            (
                Node::Uuid {
                    fixed: false,
                    bytes: false,
                },
                V::String(s),
            ) => {
                let u: uuid::Uuid = s
                    .parse()
                    .map_err(|_| Violation::new(path, format!("{s:?} is not a UUID")))?;
                self.write_value(node, &V::Uuid(u), path, out)
            }
            (Node::Uuid { fixed, bytes }, V::Bytes(b) | V::Fixed(_, b)) if *fixed || *bytes => {
                let raw = <[u8; 16]>::try_from(b.as_slice()).map_err(|_| {
                    Violation::new(path, format!("a UUID has 16 bytes, found {}", b.len()))
                })?;
                self.write_value(node, &V::Uuid(uuid::Uuid::from_bytes(raw)), path, out)
            }
            (Node::Fixed { size, name }, V::Fixed(_, b) | V::Bytes(b)) => {
                if b.len() != *size {
                    return Err(Violation::new(
                        path,
                        format!("{name} has {size} bytes, found {}", b.len()),
                    ));
                }
                out.extend_from_slice(b);
                Ok(())
            }
            (
                Node::Enum {
                    name,
                    symbols,
                    index,
                },
                V::Enum(_, s) | V::String(s),
            ) => match index.get(s) {
                Some(i) => {
                    write_long(out, i64::from(*i));
                    Ok(())
                }
                None => Err(Violation::new(
                    path,
                    format!(
                        "unknown symbol {s:?} for enum {name}; expected one of {}",
                        symbols.join(", ")
                    ),
                )),
            },
            (Node::Array(item), V::Array(items)) => {
                if !items.is_empty() {
                    write_long(out, items.len() as i64);
                    for (i, v) in items.iter().enumerate() {
                        path.0.push(Seg::Index(i));
                        self.write_value(*item, v, path, out)?;
                        path.0.pop();
                    }
                }
                out.push(0);
                Ok(())
            }
            (Node::Map(value_node), V::Map(entries)) => {
                if !entries.is_empty() {
                    write_long(out, entries.len() as i64);
                    for (k, v) in entries {
                        write_bytes(out, k.as_bytes());
                        path.0.push(Seg::Key(k.clone()));
                        self.write_value(*value_node, v, path, out)?;
                        path.0.pop();
                    }
                }
                out.push(0);
                Ok(())
            }
            (Node::Record(r), V::Record(fields)) => self.write_record(r, fields, path, out),
            // A map with string keys stands for a record (a JSON object made a value is one).
            (Node::Record(r), V::Map(entries)) => {
                let fields: Vec<(String, Value)> = entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                self.write_record(r, &fields, path, out)
            }
            (Node::Decimal { fixed, .. }, V::Decimal(d)) => {
                let bytes = Vec::<u8>::try_from(d)
                    .map_err(|e| Violation::new(path, format!("cannot encode the decimal: {e}")))?;
                write_decimal(*fixed, &bytes, out).map_err(|reason| Violation::new(path, reason))
            }
            (Node::Decimal { fixed, .. }, V::Bytes(b) | V::Fixed(_, b)) => {
                write_decimal(*fixed, b, out).map_err(|reason| Violation::new(path, reason))
            }
            (Node::Duration, V::Duration(d)) => {
                let bytes: [u8; 12] = (*d).into();
                out.extend_from_slice(&bytes);
                Ok(())
            }
            (Node::BigDecimal, V::BigDecimal(d)) => {
                big_decimal::check(d).map_err(|reason| Violation::new(path, reason))?;
                write_bytes(out, &big_decimal::to_bytes(d));
                Ok(())
            }
            (_, v) => Err(self.mismatch(node, v, path)),
        }
    }

    fn write_record(
        &self,
        r: &RecordNode,
        fields: &[(String, Value)],
        path: &mut Path,
        out: &mut Vec<u8>,
    ) -> Result<(), Violation> {
        // Values usually list fields in schema order: match them in one pass, fall back to a
        // lookup when they do not.
        for (name, _) in fields {
            if !r.index.contains_key(name.as_str()) {
                path.0.push(Seg::Field(Cow::Owned(name.clone())));
                let v = Violation::new(
                    path,
                    format!("unknown field; {} has no field {name:?}", r.name),
                );
                path.0.pop();
                return Err(v);
            }
        }
        for (i, f) in r.fields.iter().enumerate() {
            let given = match fields.get(i) {
                Some((name, v)) if *name == f.name => Some(v),
                _ => fields
                    .iter()
                    .find(|(name, _)| *name == f.name)
                    .map(|(_, v)| v),
            };
            path.0.push(Seg::Field(Cow::Borrowed(f.name)));
            match (given, &f.default) {
                (Some(v), _) => self.write_value(f.node, v, path, out)?,
                (None, Some(default)) => out.extend_from_slice(default),
                (None, None) => {
                    let what = self.nodes[f.node].describe(self);
                    return Err(Violation::new(
                        path,
                        format!("missing required field of type {what}"),
                    ));
                }
            }
            path.0.pop();
        }
        Ok(())
    }

    /// Whether a value of this kind can go to `node` (top level only), to pick union branches:
    /// the same test as `conform`'s, so both choose the same branch.
    fn accepts(&self, node: NodeId, value: &Value) -> bool {
        use Value as V;
        match &self.nodes[node] {
            Node::Null => matches!(value, V::Null),
            Node::Boolean => matches!(value, V::Boolean(_)),
            Node::Int(_) => matches!(value, V::Int(_) | V::Date(_) | V::TimeMillis(_)),
            Node::Long(_) => matches!(
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
            Node::Float | Node::Double => {
                matches!(value, V::Int(_) | V::Long(_) | V::Float(_) | V::Double(_))
            }
            Node::Bytes => matches!(value, V::Bytes(_)),
            Node::String => matches!(value, V::String(_)),
            Node::Uuid {
                fixed: false,
                bytes: false,
            } => matches!(value, V::Uuid(_) | V::String(_)),
            Node::Uuid { .. } => matches!(value, V::Uuid(_) | V::Bytes(_) | V::Fixed(..)),
            Node::Fixed { .. } | Node::Duration => {
                matches!(value, V::Fixed(..) | V::Bytes(_) | V::Duration(_))
            }
            Node::Enum { .. } => matches!(value, V::Enum(..) | V::String(_)),
            Node::Array(_) => matches!(value, V::Array(_)),
            Node::Map(_) => matches!(value, V::Map(_)),
            Node::Record(_) => matches!(value, V::Record(_) | V::Map(_)),
            Node::Union(_) => false,
            Node::Decimal { .. } => matches!(value, V::Decimal(_) | V::Bytes(_) | V::Fixed(..)),
            Node::BigDecimal => matches!(value, V::BigDecimal(_)),
        }
    }
}

#[cfg(test)]
mod tests;
