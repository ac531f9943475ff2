//! Encoding any `Serialize` type straight to Avro binary, checked against a compiled schema.
//!
//! No `apache_avro::types::Value` is built: each serde call is checked against the schema node
//! it lands on and written at once. Records are written in schema order; serde usually hands
//! fields over in that order (derived structs declared like their schema), and fields that come
//! early are parked in small buffers until their turn. Union branches are chosen by the kind of
//! value serde hands over (`None` picks `null`, a string picks `string`, a struct picks the
//! record of the same name, ...).

use std::borrow::Cow;
use std::fmt;

use serde::ser::{self, Serialize};

use super::conform::ValidationError;
use super::encode::{
    Codec, Node, NodeId, Path, RecordNode, Seg, Violation, write_bytes, write_long,
};
use super::limits::MAX_VALUE_DEPTH;

/// An encoding failure as serde sees it.
#[derive(Debug)]
pub(crate) struct SerError(pub(crate) Violation);

impl fmt::Display for SerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0.path, self.0.reason)
    }
}

impl std::error::Error for SerError {}

impl ser::Error for SerError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        // Raised by a type's own Serialize impl: where it happened is not known here.
        SerError(Violation {
            path: "$".to_owned(),
            reason: msg.to_string(),
        })
    }
}

type R<T = ()> = Result<T, SerError>;

/// What kind of value serde handed over, to pick a union branch and describe mismatches.
#[derive(Debug, Clone, Copy)]
enum Kind<'v> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'v str),
    Bytes(usize),
    Seq,
    Map,
    Struct(&'static str),
    Variant(&'static str),
}

impl Kind<'_> {
    fn describe(&self) -> String {
        match self {
            Kind::Null => "null".into(),
            Kind::Bool(b) => format!("boolean {b}"),
            Kind::Int(i) => format!("integer {i}"),
            Kind::Float(f) => format!("number {f}"),
            Kind::Str(s) => {
                let mut shown: String = s.chars().take(40).collect();
                if shown.len() < s.len() {
                    shown.push('…');
                }
                format!("string {shown:?}")
            }
            Kind::Bytes(n) => format!("{n} bytes"),
            Kind::Seq => "a sequence".into(),
            Kind::Map => "a map".into(),
            Kind::Struct(name) => format!("struct {name}"),
            Kind::Variant(name) => format!("enum variant {name}"),
        }
    }
}

impl Codec {
    /// Checks and encodes any `Serialize` value as an Avro binary datum, appending to `out`.
    /// On a violation `out` is left as it was.
    pub fn encode_serde<T: Serialize + ?Sized>(
        &self,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), ValidationError> {
        let start = out.len();
        let mut path = Path::default();
        let ser = Ser {
            enc: self,
            node: self.root,
            out,
            path: &mut path,
        };
        value.serialize(ser).map_err(|e| {
            out.truncate(start);
            self.validation_error(e.0)
        })
    }

    /// Whether a value of `kind` can go to `node`.
    fn takes(&self, node: NodeId, kind: Kind<'_>) -> bool {
        match (&self.nodes[node], kind) {
            (Node::Null, Kind::Null) => true,
            (Node::Boolean, Kind::Bool(_)) => true,
            (Node::Int(_), Kind::Int(i)) => i32::try_from(i).is_ok(),
            (Node::Long(_) | Node::Float | Node::Double, Kind::Int(_)) => true,
            (Node::Float | Node::Double, Kind::Float(_)) => true,
            (Node::String | Node::Bytes | Node::Uuid { .. }, Kind::Str(_)) => true,
            // Avro's JSON encoding writes fixed as a string of code points 0-255.
            (Node::Fixed { size, .. }, Kind::Str(s)) => s.chars().count() == *size,
            // A decimal has at least one byte: "" in a union goes to another branch.
            (Node::Decimal { .. }, Kind::Str(s)) => !s.is_empty(),
            // A big-decimal's serde form is its text (`bigdecimal`'s `Serialize`).
            (Node::BigDecimal, Kind::Str(_)) => true,
            (Node::Enum { index, .. }, Kind::Str(s)) => index.contains_key(s),
            (Node::Enum { index, .. }, Kind::Variant(s)) => index.contains_key(s),
            (Node::String, Kind::Variant(_)) => true,
            (Node::Bytes | Node::String, Kind::Bytes(_)) => true,
            (Node::Decimal { .. }, Kind::Bytes(n)) => n > 0,
            (Node::Fixed { size, .. }, Kind::Bytes(n)) => *size == n,
            (Node::Uuid { .. }, Kind::Bytes(16)) => true,
            (Node::Duration, Kind::Bytes(12)) => true,
            (Node::Array(_), Kind::Seq) => true,
            (Node::Map(_) | Node::Record(_), Kind::Map) => true,
            (Node::Record(r), Kind::Struct(name)) => {
                r.name.rsplit('.').next() == Some(name) || r.name == name
            }
            _ => false,
        }
    }
}

struct Ser<'a> {
    enc: &'a Codec,
    node: NodeId,
    out: &'a mut Vec<u8>,
    path: &'a mut Path,
}

impl<'a> Ser<'a> {
    fn fail(&self, reason: String) -> SerError {
        SerError(Violation::new(self.path, reason))
    }

    fn mismatch(&self, node: NodeId, kind: Kind<'_>) -> SerError {
        let expected = self.enc.nodes[node].describe(self.enc);
        if matches!(kind, Kind::Null) {
            self.fail(format!(
                "null is not allowed here: the field is {expected} and not nullable"
            ))
        } else {
            self.fail(format!("expected {expected}, found {}", kind.describe()))
        }
    }

    /// The node the value lands on: for a union, the first branch that takes this kind of
    /// value (its index is written here); otherwise the node itself.
    fn land(&mut self, kind: Kind<'_>) -> R<NodeId> {
        let Node::Union(branches) = &self.enc.nodes[self.node] else {
            return Ok(self.node);
        };
        // A struct prefers the record of its own name; anything else the first fit.
        let named = match kind {
            Kind::Struct(_) => branches.iter().position(|b| self.enc.takes(*b, kind)),
            _ => None,
        };
        let fit = named.or_else(|| {
            branches.iter().position(|b| {
                self.enc.takes(*b, kind)
                    || matches!(
                        (&self.enc.nodes[*b], kind),
                        (Node::Record(_), Kind::Struct(_))
                    )
            })
        });
        match fit {
            Some(i) => {
                write_long(self.out, i as i64);
                Ok(branches[i])
            }
            None => Err(self.mismatch(self.node, kind)),
        }
    }

    fn write_int(mut self, i: i64) -> R {
        let node = self.land(Kind::Int(i))?;
        match &self.enc.nodes[node] {
            Node::Int(_) => match i32::try_from(i) {
                Ok(v) => write_long(self.out, i64::from(v)),
                Err(_) => return Err(self.fail(format!("{i} does not fit in an int"))),
            },
            Node::Long(_) => write_long(self.out, i),
            Node::Float => self.out.extend_from_slice(&(i as f32).to_le_bytes()),
            Node::Double => self.out.extend_from_slice(&(i as f64).to_le_bytes()),
            _ => return Err(self.mismatch(node, Kind::Int(i))),
        }
        Ok(())
    }

    fn write_str(mut self, s: &str) -> R {
        let node = self.land(Kind::Str(s))?;
        match &self.enc.nodes[node] {
            Node::String | Node::Bytes => write_bytes(self.out, s.as_bytes()),
            Node::Enum {
                name,
                symbols,
                index,
            } => match index.get(s) {
                Some(i) => write_long(self.out, i64::from(*i)),
                None => {
                    return Err(self.fail(format!(
                        "unknown symbol {s:?} for enum {name}; expected one of {}",
                        symbols.join(", ")
                    )));
                }
            },
            Node::Fixed { size, name } => match code_points(s) {
                Some(b) if b.len() == *size => self.out.extend_from_slice(&b),
                _ => return Err(self.fail(format!("{name} has {size} bytes, found string {s:?}"))),
            },
            Node::Decimal { fixed, .. } => {
                let Some(bytes) = code_points(s) else {
                    return Err(self.fail(format!(
                        "{s:?} is not a decimal's bytes (code points 0-255)"
                    )));
                };
                let fixed = *fixed;
                return write_decimal(self, fixed, &bytes);
            }
            Node::BigDecimal => return write_big_decimal(self, s),
            Node::Uuid { fixed, bytes } => {
                let u: uuid::Uuid = s
                    .parse()
                    .map_err(|_| self.fail(format!("{s:?} is not a UUID")))?;
                match (fixed, bytes) {
                    (true, _) => self.out.extend_from_slice(u.as_bytes()),
                    (false, true) => write_bytes(self.out, u.as_bytes()),
                    _ => write_bytes(self.out, u.hyphenated().to_string().as_bytes()),
                }
            }
            _ => return Err(self.mismatch(node, Kind::Str(s))),
        }
        Ok(())
    }

    fn record(mut self, kind: Kind<'_>) -> R<RecordSer<'a>> {
        let node = self.land(kind)?;
        match &self.enc.nodes[node] {
            Node::Record(r) => Ok(RecordSer {
                enc: self.enc,
                record: r,
                out: self.out,
                path: self.path,
                next: 0,
                parked: Vec::new(),
                pending_key: None,
            }),
            _ => Err(self.mismatch(node, kind)),
        }
    }
}

/// Refuses a value nested deeper than [`MAX_VALUE_DEPTH`] (only recursive schemas let data
/// nest deeper than the schema), before serde recurses into it.
fn within_depth(path: &Path) -> R {
    if path.0.len() >= MAX_VALUE_DEPTH {
        return Err(SerError(Violation::new(
            path,
            format!("the value nests deeper than {MAX_VALUE_DEPTH} levels"),
        )));
    }
    Ok(())
}

/// Bytes for a node that holds more than any bytes: a string (UTF-8 text, or no decoder reads
/// it), a duration (12 bytes) or a UUID (16). Apart from the serializer's hot path.
#[cold]
#[inline(never)]
fn checked_bytes(ser: Ser<'_>, node: NodeId, v: &[u8]) -> R {
    match &ser.enc.nodes[node] {
        Node::String => match std::str::from_utf8(v) {
            Ok(_) => write_bytes(ser.out, v),
            Err(_) => return Err(ser.fail("bytes that are not UTF-8 for a string".into())),
        },
        Node::Duration if v.len() != 12 => {
            return Err(ser.fail(format!("a duration has 12 bytes, found {}", v.len())));
        }
        Node::Duration => ser.out.extend_from_slice(v),
        Node::Uuid { fixed, bytes } => {
            let Ok(raw) = <[u8; 16]>::try_from(v) else {
                return Err(ser.fail(format!("a UUID has 16 bytes, found {}", v.len())));
            };
            let uuid = uuid::Uuid::from_bytes(raw);
            match (fixed, bytes) {
                (true, _) => ser.out.extend_from_slice(uuid.as_bytes()),
                (false, true) => write_bytes(ser.out, uuid.as_bytes()),
                _ => write_bytes(ser.out, uuid.hyphenated().to_string().as_bytes()),
            }
        }
        _ => return Err(ser.mismatch(node, Kind::Bytes(v.len()))),
    }
    Ok(())
}

/// Enters a child value at `node` (its path step pushed already): a union's branch is a
/// level of its own, as the decoder counts levels, so what is written can be read. Returns
/// whether a branch step was pushed, for [`leave`].
fn enter(enc: &Codec, node: NodeId, path: &mut Path) -> R<bool> {
    let branch = matches!(enc.nodes[node], Node::Union(_));
    within_depth(path)?;
    if branch {
        path.0.push(Seg::Branch);
        within_depth(path)?;
    }
    Ok(branch)
}

fn leave(path: &mut Path, branch: bool) {
    if branch {
        path.0.pop();
    }
}

/// A big-decimal from its text, in Avro's big-decimal bytes. Apart from the hot path.
#[cold]
#[inline(never)]
fn write_big_decimal(ser: Ser<'_>, text: &str) -> R {
    let number: bigdecimal::BigDecimal = text
        .parse()
        .map_err(|_| ser.fail(format!("{text:?} is not a decimal number")))?;
    super::big_decimal::check(&number).map_err(|reason| ser.fail(reason))?;
    write_bytes(ser.out, &super::big_decimal::to_bytes(&number));
    Ok(())
}

/// Avro's JSON encoding of bytes: one code point (0-255) per byte.
fn code_points(s: &str) -> Option<Vec<u8>> {
    s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

/// A decimal's bytes, through the encoders' one decimal writer.
fn write_decimal(ser: Ser<'_>, fixed: Option<usize>, v: &[u8]) -> R {
    super::encode::write_decimal(fixed, v, ser.out).map_err(|reason| ser.fail(reason))
}

impl<'a> ser::Serializer for Ser<'a> {
    type Ok = ();
    type Error = SerError;
    type SerializeSeq = SeqSer<'a>;
    type SerializeTuple = SeqSer<'a>;
    type SerializeTupleStruct = SeqSer<'a>;
    type SerializeTupleVariant = ser::Impossible<(), SerError>;
    type SerializeMap = MapOrRecord<'a>;
    type SerializeStruct = RecordSer<'a>;
    type SerializeStructVariant = ser::Impossible<(), SerError>;

    fn serialize_bool(mut self, v: bool) -> R {
        let node = self.land(Kind::Bool(v))?;
        match &self.enc.nodes[node] {
            Node::Boolean => {
                self.out.push(u8::from(v));
                Ok(())
            }
            _ => Err(self.mismatch(node, Kind::Bool(v))),
        }
    }

    fn serialize_i8(self, v: i8) -> R {
        self.write_int(i64::from(v))
    }
    fn serialize_i16(self, v: i16) -> R {
        self.write_int(i64::from(v))
    }
    fn serialize_i32(self, v: i32) -> R {
        self.write_int(i64::from(v))
    }
    fn serialize_i64(self, v: i64) -> R {
        self.write_int(v)
    }
    fn serialize_u8(self, v: u8) -> R {
        self.write_int(i64::from(v))
    }
    fn serialize_u16(self, v: u16) -> R {
        self.write_int(i64::from(v))
    }
    fn serialize_u32(self, v: u32) -> R {
        self.write_int(i64::from(v))
    }
    fn serialize_u64(self, v: u64) -> R {
        match i64::try_from(v) {
            Ok(i) => self.write_int(i),
            Err(_) => Err(self.fail(format!("{v} does not fit in a long"))),
        }
    }

    fn serialize_f32(self, v: f32) -> R {
        self.serialize_f64(f64::from(v))
    }

    fn serialize_f64(mut self, v: f64) -> R {
        let node = self.land(Kind::Float(v))?;
        match &self.enc.nodes[node] {
            Node::Float => self.out.extend_from_slice(&(v as f32).to_le_bytes()),
            Node::Double => self.out.extend_from_slice(&v.to_le_bytes()),
            _ => return Err(self.mismatch(node, Kind::Float(v))),
        }
        Ok(())
    }

    fn serialize_char(self, v: char) -> R {
        let mut buf = [0u8; 4];
        self.write_str(v.encode_utf8(&mut buf))
    }

    fn serialize_str(self, v: &str) -> R {
        self.write_str(v)
    }

    fn serialize_bytes(mut self, v: &[u8]) -> R {
        let kind = Kind::Bytes(v.len());
        let node = self.land(kind)?;
        match &self.enc.nodes[node] {
            Node::Bytes => write_bytes(self.out, v),
            Node::Fixed { size, name } => {
                if v.len() != *size {
                    return Err(self.fail(format!("{name} has {size} bytes, found {}", v.len())));
                }
                self.out.extend_from_slice(v);
            }
            Node::String | Node::Duration | Node::Uuid { .. } => {
                return checked_bytes(self, node, v);
            }
            Node::Decimal { fixed, .. } => {
                let fixed = *fixed;
                return write_decimal(self, fixed, v);
            }
            _ => return Err(self.mismatch(node, kind)),
        }
        Ok(())
    }

    fn serialize_none(mut self) -> R {
        let node = self.land(Kind::Null)?;
        match &self.enc.nodes[node] {
            Node::Null => Ok(()),
            _ => Err(self.mismatch(node, Kind::Null)),
        }
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> R {
        value.serialize(self)
    }

    fn serialize_unit(self) -> R {
        self.serialize_none()
    }

    fn serialize_unit_struct(self, _name: &'static str) -> R {
        self.serialize_none()
    }

    fn serialize_unit_variant(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> R {
        let kind = Kind::Variant(variant);
        let node = self.land(kind)?;
        match &self.enc.nodes[node] {
            Node::Enum {
                name,
                symbols,
                index,
            } => match index.get(variant) {
                Some(i) => {
                    write_long(self.out, i64::from(*i));
                    Ok(())
                }
                None => Err(self.fail(format!(
                    "unknown symbol {variant:?} for enum {name}; expected one of {}",
                    symbols.join(", ")
                ))),
            },
            Node::String => {
                write_bytes(self.out, variant.as_bytes());
                Ok(())
            }
            _ => Err(self.mismatch(node, kind)),
        }
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> R {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _value: &T,
    ) -> R {
        Err(self.fail(format!(
            "enum variant {variant} carries data, which has no Avro form here; use a record with optional fields"
        )))
    }

    fn serialize_seq(mut self, len: Option<usize>) -> R<SeqSer<'a>> {
        let node = self.land(Kind::Seq)?;
        let Node::Array(item) = self.enc.nodes[node] else {
            return Err(self.mismatch(node, Kind::Seq));
        };
        // With the length known the block count goes first; otherwise items are buffered.
        let buffered = match len {
            Some(0) => None,
            Some(n) => {
                write_long(self.out, n as i64);
                None
            }
            None => Some(Vec::new()),
        };
        Ok(SeqSer {
            enc: self.enc,
            item,
            out: self.out,
            path: self.path,
            count: 0,
            buffered,
        })
    }

    fn serialize_tuple(self, len: usize) -> R<SeqSer<'a>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> R<SeqSer<'a>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> R<Self::SerializeTupleVariant> {
        Err(self.fail(format!(
            "enum variant {variant} carries data, which has no Avro form here"
        )))
    }

    fn serialize_map(mut self, len: Option<usize>) -> R<MapOrRecord<'a>> {
        let node = self.land(Kind::Map)?;
        match &self.enc.nodes[node] {
            Node::Map(value) => {
                let value = *value;
                let buffered = match len {
                    Some(0) => None,
                    Some(n) => {
                        write_long(self.out, n as i64);
                        None
                    }
                    None => Some(Vec::new()),
                };
                Ok(MapOrRecord::Map(MapSer {
                    enc: self.enc,
                    value,
                    out: self.out,
                    path: self.path,
                    count: 0,
                    key: None,
                    buffered,
                }))
            }
            // A map with string keys can stand for a record (serde_json objects, say).
            Node::Record(r) => Ok(MapOrRecord::Record(RecordSer {
                enc: self.enc,
                record: r,
                out: self.out,
                path: self.path,
                next: 0,
                parked: Vec::new(),
                pending_key: None,
            })),
            _ => Err(self.mismatch(node, Kind::Map)),
        }
    }

    fn serialize_struct(self, name: &'static str, _len: usize) -> R<RecordSer<'a>> {
        self.record(Kind::Struct(name))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> R<Self::SerializeStructVariant> {
        Err(self.fail(format!(
            "enum variant {variant} carries data, which has no Avro form here"
        )))
    }
}

/// An array being written.
pub(crate) struct SeqSer<'a> {
    enc: &'a Codec,
    item: NodeId,
    out: &'a mut Vec<u8>,
    path: &'a mut Path,
    count: usize,
    /// Items written so far when the length was not known up front.
    buffered: Option<Vec<u8>>,
}

impl SeqSer<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> R {
        self.path.0.push(Seg::Index(self.count));
        let branch = enter(self.enc, self.item, self.path)?;
        let out = self.buffered.as_mut().unwrap_or(&mut *self.out);
        value.serialize(Ser {
            enc: self.enc,
            node: self.item,
            out,
            path: self.path,
        })?;
        leave(self.path, branch);
        self.path.0.pop();
        self.count += 1;
        Ok(())
    }

    fn finish(self) -> R {
        if let Some(items) = self.buffered
            && self.count > 0
        {
            write_long(self.out, self.count as i64);
            self.out.extend_from_slice(&items);
        }
        self.out.push(0);
        Ok(())
    }
}

impl ser::SerializeSeq for SeqSer<'_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> R {
        self.element(value)
    }
    fn end(self) -> R {
        self.finish()
    }
}

impl ser::SerializeTuple for SeqSer<'_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> R {
        self.element(value)
    }
    fn end(self) -> R {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for SeqSer<'_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> R {
        self.element(value)
    }
    fn end(self) -> R {
        self.finish()
    }
}

/// A map being written.
pub(crate) struct MapSer<'a> {
    enc: &'a Codec,
    value: NodeId,
    out: &'a mut Vec<u8>,
    path: &'a mut Path,
    count: usize,
    key: Option<String>,
    buffered: Option<Vec<u8>>,
}

/// A serde map lands on an Avro map, or on a record when the schema says record.
pub(crate) enum MapOrRecord<'a> {
    Map(MapSer<'a>),
    Record(RecordSer<'a>),
}

/// Captures a map key, which Avro requires to be a string.
struct KeySer;

impl KeySer {
    fn refuse<T>(what: &str) -> R<T> {
        Err(SerError(Violation {
            path: "$".into(),
            reason: format!("map keys must be strings, found {what}"),
        }))
    }
}

impl ser::Serializer for KeySer {
    type Ok = String;
    type Error = SerError;
    type SerializeSeq = ser::Impossible<String, SerError>;
    type SerializeTuple = ser::Impossible<String, SerError>;
    type SerializeTupleStruct = ser::Impossible<String, SerError>;
    type SerializeTupleVariant = ser::Impossible<String, SerError>;
    type SerializeMap = ser::Impossible<String, SerError>;
    type SerializeStruct = ser::Impossible<String, SerError>;
    type SerializeStructVariant = ser::Impossible<String, SerError>;

    fn serialize_str(self, v: &str) -> R<String> {
        Ok(v.to_owned())
    }
    fn serialize_char(self, v: char) -> R<String> {
        Ok(v.to_string())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> R<String> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> R<String> {
        value.serialize(self)
    }
    fn serialize_bool(self, _: bool) -> R<String> {
        Self::refuse("a boolean")
    }
    fn serialize_i8(self, v: i8) -> R<String> {
        Ok(v.to_string())
    }
    fn serialize_i16(self, v: i16) -> R<String> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> R<String> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> R<String> {
        Ok(v.to_string())
    }
    fn serialize_u8(self, v: u8) -> R<String> {
        Ok(v.to_string())
    }
    fn serialize_u16(self, v: u16) -> R<String> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> R<String> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> R<String> {
        Ok(v.to_string())
    }
    fn serialize_f32(self, _: f32) -> R<String> {
        Self::refuse("a number")
    }
    fn serialize_f64(self, _: f64) -> R<String> {
        Self::refuse("a number")
    }
    fn serialize_bytes(self, _: &[u8]) -> R<String> {
        Self::refuse("bytes")
    }
    fn serialize_none(self) -> R<String> {
        Self::refuse("null")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> R<String> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> R<String> {
        Self::refuse("null")
    }
    fn serialize_unit_struct(self, _: &'static str) -> R<String> {
        Self::refuse("null")
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> R<String> {
        Self::refuse("an enum variant with data")
    }
    fn serialize_seq(self, _: Option<usize>) -> R<Self::SerializeSeq> {
        Self::refuse("a sequence")
    }
    fn serialize_tuple(self, _: usize) -> R<Self::SerializeTuple> {
        Self::refuse("a tuple")
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> R<Self::SerializeTupleStruct> {
        Self::refuse("a tuple")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> R<Self::SerializeTupleVariant> {
        Self::refuse("an enum variant with data")
    }
    fn serialize_map(self, _: Option<usize>) -> R<Self::SerializeMap> {
        Self::refuse("a map")
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> R<Self::SerializeStruct> {
        Self::refuse("a struct")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> R<Self::SerializeStructVariant> {
        Self::refuse("an enum variant with data")
    }
}

impl ser::SerializeMap for MapOrRecord<'_> {
    type Ok = ();
    type Error = SerError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> R {
        let key = key.serialize(KeySer)?;
        match self {
            MapOrRecord::Map(m) => m.key = Some(key),
            MapOrRecord::Record(r) => r.pending_key = Some(key),
        }
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> R {
        match self {
            MapOrRecord::Map(m) => {
                let key = m.key.take().unwrap_or_default();
                let out = m.buffered.as_mut().unwrap_or(&mut *m.out);
                write_bytes(out, key.as_bytes());
                m.path.0.push(Seg::Key(key));
                let branch = enter(m.enc, m.value, m.path)?;
                value.serialize(Ser {
                    enc: m.enc,
                    node: m.value,
                    out,
                    path: m.path,
                })?;
                leave(m.path, branch);
                m.path.0.pop();
                m.count += 1;
                Ok(())
            }
            MapOrRecord::Record(r) => {
                let key = r.pending_key.take().unwrap_or_default();
                r.field(&key, value)
            }
        }
    }

    fn end(self) -> R {
        match self {
            MapOrRecord::Map(m) => {
                if let Some(entries) = m.buffered
                    && m.count > 0
                {
                    write_long(m.out, m.count as i64);
                    m.out.extend_from_slice(&entries);
                }
                m.out.push(0);
                Ok(())
            }
            MapOrRecord::Record(r) => r.finish(),
        }
    }
}

/// A record being written, in schema order.
pub(crate) struct RecordSer<'a> {
    enc: &'a Codec,
    record: &'a RecordNode,
    out: &'a mut Vec<u8>,
    path: &'a mut Path,
    /// Every field before this index is written.
    next: usize,
    /// Fields that arrived before their turn, by index.
    parked: Vec<Option<Vec<u8>>>,
    pending_key: Option<String>,
}

impl RecordSer<'_> {
    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> R {
        // Serde types usually give their fields in schema order: check the expected one
        // before looking the name up.
        let expected = self.record.fields.get(self.next).filter(|f| f.name == key);
        let Some(index) = expected
            .map(|_| self.next)
            .or_else(|| self.record.index.get(key).copied())
        else {
            self.path.0.push(Seg::Field(Cow::Owned(key.to_owned())));
            let err = SerError(Violation::new(
                self.path,
                format!("unknown field; {} has no field {key:?}", self.record.name),
            ));
            self.path.0.pop();
            return Err(err);
        };
        let f = &self.record.fields[index];
        if index < self.next || self.parked.get(index).is_some_and(Option::is_some) {
            self.path.0.push(Seg::Field(Cow::Borrowed(f.name)));
            let err = SerError(Violation::new(self.path, "the field is given twice"));
            self.path.0.pop();
            return Err(err);
        }
        self.path.0.push(Seg::Field(Cow::Borrowed(f.name)));
        let branch = enter(self.enc, f.node, self.path)?;
        if index == self.next {
            value.serialize(Ser {
                enc: self.enc,
                node: f.node,
                out: self.out,
                path: self.path,
            })?;
            leave(self.path, branch);
            self.next += 1;
            self.path.0.pop();
            self.drain();
        } else {
            let mut buf = Vec::new();
            value.serialize(Ser {
                enc: self.enc,
                node: f.node,
                out: &mut buf,
                path: self.path,
            })?;
            leave(self.path, branch);
            self.path.0.pop();
            if self.parked.len() <= index {
                self.parked.resize(self.record.fields.len(), None);
            }
            self.parked[index] = Some(buf);
        }
        Ok(())
    }

    /// Writes parked fields whose turn has come.
    fn drain(&mut self) {
        while let Some(Some(buf)) = self.parked.get_mut(self.next).map(Option::take) {
            self.out.extend_from_slice(&buf);
            self.next += 1;
        }
    }

    fn finish(mut self) -> R {
        while self.next < self.record.fields.len() {
            let f = &self.record.fields[self.next];
            match (
                self.parked.get_mut(self.next).and_then(Option::take),
                &f.default,
            ) {
                (Some(buf), _) => self.out.extend_from_slice(&buf),
                (None, Some(default)) => self.out.extend_from_slice(default),
                (None, None) => {
                    self.path.0.push(Seg::Field(Cow::Borrowed(f.name)));
                    let what = self.enc.nodes[f.node].describe(self.enc);
                    return Err(SerError(Violation::new(
                        self.path,
                        format!("missing required field of type {what}"),
                    )));
                }
            }
            self.next += 1;
        }
        Ok(())
    }
}

impl ser::SerializeStruct for RecordSer<'_> {
    type Ok = ();
    type Error = SerError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> R {
        self.field(key, value)
    }

    fn skip_field(&mut self, _key: &'static str) -> R {
        // A skipped field takes its default when its turn comes, or is reported missing.
        Ok(())
    }

    fn end(self) -> R {
        self.finish()
    }
}
