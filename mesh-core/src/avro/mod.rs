//! Avro schemas: loading `.avsc` files, checking values against a schema with field paths,
//! and encoding conformed values.
//!
//! An [`AvroSchema`] is parsed once and keeps everything a hot path needs (the parsed
//! schema, its named types, its registry text), so validating and encoding a record never
//! rebuilds schema state.

mod big_decimal;
pub mod compat;
mod conform;
mod decode;
mod encode;
pub mod limits;
mod serde_encode;
pub mod table;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use apache_avro::Schema;
use apache_avro::schema::{Name, ResolvedSchema};
use apache_avro::types::Value;

pub use conform::{FieldError, ValidationError};
pub use decode::DecodeError;
pub use encode::Codec;

use crate::error::{Error, Result};

/// A parsed Avro schema together with the text the registry stores for it.
///
/// Cheap to clone: the parsed parts are shared.
#[derive(Clone)]
pub struct AvroSchema {
    inner: Arc<Inner>,
}

struct Inner {
    schema: Schema,
    /// Every named type reachable from the root, for resolving references.
    names: HashMap<Name, Schema>,
    /// The schema as registered: the source text as the author wrote it, trimmed.
    text: String,
    /// The full name of the root type (`namespace.Name`), or its type for unnamed roots.
    full_name: String,
    /// The schema compiled for encoding and decoding, on first use.
    codec: std::sync::OnceLock<Codec>,
}

impl fmt::Debug for AvroSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AvroSchema")
            .field("name", &self.inner.full_name)
            .finish_non_exhaustive()
    }
}

/// Runs apache-avro's parser, turning a panic inside it into a refusal: schema texts come
/// from outside (the registry, contracts), and apache-avro 0.22 panics on some (an odd
/// attribute beside a default that does not fit: found by the fuzz tests).
fn without_panics<T>(origin: &str, parse: impl FnOnce() -> T) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse)).map_err(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Error::SchemaUnusable {
            origin: origin.to_owned(),
            reason: format!("the Avro parser failed on it ({why})"),
        }
    })
}

impl AvroSchema {
    /// Parses a schema from its JSON text. `origin` names it in errors (a path, a subject).
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let schema = without_panics(origin, || Schema::parse_str(text))?.map_err(|source| {
            Error::SchemaParse {
                origin: origin.to_owned(),
                source: Box::new(source),
            }
        })?;
        Self::from_parsed(schema, text.trim().to_owned(), origin)
    }

    /// Reads and parses an `.avsc` file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses a schema that uses named types defined by other schemas (Confluent schema
    /// references). `references` are the texts of those schemas, each defined before any
    /// schema that uses it.
    pub fn parse_with_references(text: &str, origin: &str, references: &[&str]) -> Result<Self> {
        if references.is_empty() {
            return Self::parse(text, origin);
        }
        let parse_error = |source| Error::SchemaParse {
            origin: origin.to_owned(),
            source: Box::new(source),
        };
        let (schema, dependencies) =
            without_panics(origin, || Schema::parse_str_with_list(text, references))?
                .map_err(parse_error)?;
        // Definitions before their uses: the resolver walks the list in order.
        let mut all: Vec<&Schema> = dependencies.iter().collect();
        all.push(&schema);
        let names = ResolvedSchema::new_with_schemata(all)
            .map_err(parse_error)?
            .get_names()
            .iter()
            .map(|(name, schema)| (name.clone(), (*schema).clone()))
            .collect();
        Self::assemble(schema, names, text.trim().to_owned(), origin)
    }

    fn from_parsed(schema: Schema, text: String, origin: &str) -> Result<Self> {
        let names = ResolvedSchema::try_from(&schema)
            .map_err(|source| Error::SchemaParse {
                origin: origin.to_owned(),
                source: Box::new(source),
            })?
            .get_names()
            .iter()
            .map(|(name, schema)| (name.clone(), (*schema).clone()))
            .collect();
        Self::assemble(schema, names, text, origin)
    }

    fn assemble(
        schema: Schema,
        names: HashMap<Name, Schema>,
        text: String,
        origin: &str,
    ) -> Result<Self> {
        limits::check(&schema, &names).map_err(|reason| Error::SchemaUnusable {
            origin: origin.to_owned(),
            reason,
        })?;
        let full_name = match schema.name() {
            Some(name) => name.fullname(None),
            None => format!("{:?}", apache_avro::schema::SchemaKind::from(&schema)).to_lowercase(),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                schema,
                names,
                text,
                full_name,
                codec: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Like [`AvroSchema::parse`], but refuses anything but a record: events and table rows
    /// are records.
    pub fn parse_record(text: &str, origin: &str) -> Result<Self> {
        let schema = Self::parse(text, origin)?;
        schema.require_record(origin)?;
        Ok(schema)
    }

    /// Like [`AvroSchema::from_file`], but refuses anything but a record.
    pub fn record_from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let schema = Self::from_file(path)?;
        schema.require_record(&path.display().to_string())?;
        Ok(schema)
    }

    fn require_record(&self, origin: &str) -> Result<()> {
        match self.inner.schema {
            Schema::Record(_) => Ok(()),
            _ => Err(Error::SchemaUnusable {
                origin: origin.to_owned(),
                reason: format!("it must be a record, found {}", self.inner.full_name),
            }),
        }
    }

    /// The parsed schema.
    pub fn schema(&self) -> &Schema {
        &self.inner.schema
    }

    /// The schema text, as it is registered.
    pub fn text(&self) -> &str {
        &self.inner.text
    }

    /// The full name of the root type, e.g. `mesh.songs.Played`.
    pub fn full_name(&self) -> &str {
        &self.inner.full_name
    }

    /// Checks `value` against the schema and returns it in the exact shape the encoder needs
    /// (union branches chosen, defaults filled in, ints widened where the schema says long).
    ///
    /// Every violation is reported with its field path, e.g. `$.device.os`.
    pub fn conform(&self, value: Value) -> Result<Value, ValidationError> {
        conform::conform(self, value)
    }

    /// Reads a value written with another (compatible) schema as a value of this one, by
    /// Avro's resolution rules: fields the writer had and this schema lacks are dropped,
    /// fields this schema adds take their defaults, numbers are promoted, enum symbols and
    /// union branches are matched by name.
    pub fn resolve(&self, written: Value) -> Result<Value, ValidationError> {
        conform::resolve(self, written)
    }

    /// The schema compiled for encoding and decoding (compiled once, on first use).
    pub fn codec(&self) -> &Codec {
        self.inner.codec.get_or_init(|| encode::compile(self))
    }

    /// Checks and encodes `value` as an Avro binary datum, appending it to `out`. A value that
    /// does not conform is refused with every violation and `out` is left as it was.
    pub fn encode_into(&self, value: &Value, out: &mut Vec<u8>) -> Result<(), ValidationError> {
        self.codec().encode_value(value, out).map_err(|first| {
            // The fast path stops at the first violation; list them all for the caller.
            match self.conform(value.clone()) {
                Err(all) => all,
                Ok(_) => first,
            }
        })
    }

    /// Checks and encodes any `Serialize` value straight to an Avro binary datum, appending it
    /// to `out`; the first violation is reported with its field path.
    pub fn encode_serde_into<T: serde::Serialize + ?Sized>(
        &self,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), ValidationError> {
        self.codec().encode_serde(value, out)
    }

    /// Decodes an Avro binary datum written with this schema: the compiled decoder the
    /// consumers use, which refuses malformed bodies, lengths past the body, nesting past
    /// [`limits::MAX_VALUE_DEPTH`] and trailing bytes. (apache-avro's own reader recurses
    /// without bound and allocates what a length prefix claims, up to 512 MiB.)
    pub fn decode(&self, datum: &[u8]) -> Result<Value> {
        Ok(self.codec().decode(datum)?)
    }

    pub(crate) fn named(&self, name: &Name) -> Option<&Schema> {
        self.inner.names.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAYED: &str = r#"{
        "type": "record", "name": "Played", "namespace": "mesh.interactions",
        "fields": [
            {"name": "user_id", "type": "string"},
            {"name": "song_id", "type": "long"},
            {"name": "ms_played", "type": "int", "default": 0}
        ]
    }"#;

    #[test]
    fn parses_and_round_trips() -> Result<()> {
        let schema = AvroSchema::parse_record(PLAYED, "played")?;
        assert_eq!(schema.full_name(), "mesh.interactions.Played");
        let mut out = Vec::new();
        schema.encode_into(
            &Value::Record(vec![
                ("user_id".into(), Value::String("u1".into())),
                ("song_id".into(), Value::Int(7)),
            ]),
            &mut out,
        )?;
        let back = schema.decode(&out)?;
        assert_eq!(
            back,
            Value::Record(vec![
                ("user_id".into(), Value::String("u1".into())),
                ("song_id".into(), Value::Long(7)),
                ("ms_played".into(), Value::Int(0)),
            ])
        );
        Ok(())
    }

    #[test]
    fn references_resolve_named_types_of_other_schemas() -> Result<()> {
        let device = r#"{"type":"enum","name":"Device","namespace":"mesh.common","symbols":["MOBILE","WEB"]}"#;
        let event = r#"{"type":"record","name":"Played","namespace":"mesh.interactions",
            "fields":[{"name":"device","type":"mesh.common.Device"}]}"#;
        assert!(AvroSchema::parse(event, "alone").is_err());
        let schema = AvroSchema::parse_with_references(event, "with refs", &[device])?;
        let ok = schema.conform(Value::Record(vec![(
            "device".into(),
            Value::String("WEB".into()),
        )]))?;
        assert_eq!(
            ok,
            Value::Record(vec![("device".into(), Value::Enum(1, "WEB".into()))])
        );
        let err = schema
            .conform(Value::Record(vec![(
                "device".into(),
                Value::String("TV".into()),
            )]))
            .expect_err("unknown symbol");
        assert_eq!(err.errors[0].path, "$.device");
        Ok(())
    }

    #[test]
    fn refuses_bad_schemas_clearly() {
        let err = AvroSchema::parse("{\"type\": \"recrod\"}", "x.avsc").expect_err("bad type");
        assert!(
            err.to_string()
                .starts_with("schema x.avsc is not valid Avro"),
            "{err}"
        );
        let err = AvroSchema::parse_record("\"string\"", "y.avsc").expect_err("not a record");
        assert!(err.to_string().contains("must be a record"), "{err}");
        let err = AvroSchema::from_file("/nonexistent/z.avsc").expect_err("missing");
        assert!(
            err.to_string()
                .starts_with("cannot read /nonexistent/z.avsc"),
            "{err}"
        );
    }
}
