//! Kafka keys from the contract's key field: the field's value as text.

use std::fmt::Display;

use mesh_core::apache_avro::types::Value;
use serde::ser::{self, Impossible, Serialize, SerializeMap, SerializeStruct, Serializer};

/// The key field of an Avro record, as text.
pub(crate) fn key_of_value(value: &Value, field: &str) -> Option<String> {
    let Value::Record(fields) = value else {
        return None;
    };
    let v = fields.iter().find(|(n, _)| n == field).map(|(_, v)| v)?;
    scalar_text(v)
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) | Value::Enum(_, s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Long(l) => Some(l.to_string()),
        Value::Uuid(u) => Some(u.to_string()),
        Value::Union(_, inner) => scalar_text(inner),
        _ => None,
    }
}

/// The key field of a serde struct (or map), as text, without serializing other fields.
pub(crate) fn key_of_serde<T: Serialize + ?Sized>(value: &T, field: &str) -> Option<String> {
    value.serialize(Finder { field }).ok().flatten()
}

#[derive(Debug)]
struct NotFound;

impl Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no key")
    }
}

impl std::error::Error for NotFound {}

impl ser::Error for NotFound {
    fn custom<T: Display>(_: T) -> Self {
        NotFound
    }
}

/// Walks a top-level struct or map looking for one field.
struct Finder<'f> {
    field: &'f str,
}

/// Collects the field once found.
struct Found<'f> {
    field: &'f str,
    key: Option<String>,
    /// For maps: whether the last key seen was the field.
    matched: bool,
}

macro_rules! nothing {
    ($($method:ident($($ty:ty),*)),* $(,)?) => {
        $(fn $method(self, $(_: $ty),*) -> Result<Self::Ok, Self::Error> { Err(NotFound) })*
    };
}

impl<'f> Serializer for Finder<'f> {
    type Ok = Option<String>;
    type Error = NotFound;
    type SerializeSeq = Impossible<Option<String>, NotFound>;
    type SerializeTuple = Impossible<Option<String>, NotFound>;
    type SerializeTupleStruct = Impossible<Option<String>, NotFound>;
    type SerializeTupleVariant = Impossible<Option<String>, NotFound>;
    type SerializeMap = Found<'f>;
    type SerializeStruct = Found<'f>;
    type SerializeStructVariant = Impossible<Option<String>, NotFound>;

    nothing!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Self::Ok, NotFound> {
        value.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Self::Ok, NotFound> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Self::Ok, NotFound> {
        Err(NotFound)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotFound> {
        Err(NotFound)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotFound> {
        Err(NotFound)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotFound> {
        Err(NotFound)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotFound> {
        Err(NotFound)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotFound> {
        Ok(Found {
            field: self.field,
            key: None,
            matched: false,
        })
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, NotFound> {
        Ok(Found {
            field: self.field,
            key: None,
            matched: false,
        })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotFound> {
        Err(NotFound)
    }
}

impl SerializeStruct for Found<'_> {
    type Ok = Option<String>;
    type Error = NotFound;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), NotFound> {
        if self.key.is_none() && name == self.field {
            self.key = value.serialize(Text).ok();
        }
        Ok(())
    }

    fn end(self) -> Result<Option<String>, NotFound> {
        Ok(self.key)
    }
}

impl SerializeMap for Found<'_> {
    type Ok = Option<String>;
    type Error = NotFound;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), NotFound> {
        self.matched =
            self.key.is_none() && key.serialize(Text).ok().as_deref() == Some(self.field);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NotFound> {
        if self.matched {
            self.key = value.serialize(Text).ok();
            self.matched = false;
        }
        Ok(())
    }

    fn end(self) -> Result<Option<String>, NotFound> {
        Ok(self.key)
    }
}

/// Renders a scalar as text.
struct Text;

impl Serializer for Text {
    type Ok = String;
    type Error = NotFound;
    type SerializeSeq = Impossible<String, NotFound>;
    type SerializeTuple = Impossible<String, NotFound>;
    type SerializeTupleStruct = Impossible<String, NotFound>;
    type SerializeTupleVariant = Impossible<String, NotFound>;
    type SerializeMap = Impossible<String, NotFound>;
    type SerializeStruct = Impossible<String, NotFound>;
    type SerializeStructVariant = Impossible<String, NotFound>;

    fn serialize_str(self, v: &str) -> Result<String, NotFound> {
        Ok(v.to_owned())
    }
    fn serialize_char(self, v: char) -> Result<String, NotFound> {
        Ok(v.to_string())
    }
    fn serialize_i8(self, v: i8) -> Result<String, NotFound> {
        Ok(v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<String, NotFound> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<String, NotFound> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<String, NotFound> {
        Ok(v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<String, NotFound> {
        Ok(v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<String, NotFound> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<String, NotFound> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<String, NotFound> {
        Ok(v.to_string())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<String, NotFound> {
        Ok(variant.to_owned())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<String, NotFound> {
        value.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<String, NotFound> {
        value.serialize(self)
    }
    nothing!(
        serialize_bool(bool),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
    );
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, NotFound> {
        Err(NotFound)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotFound> {
        Err(NotFound)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotFound> {
        Err(NotFound)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotFound> {
        Err(NotFound)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotFound> {
        Err(NotFound)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotFound> {
        Err(NotFound)
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, NotFound> {
        Err(NotFound)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotFound> {
        Err(NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Played {
        user_id: String,
        song_id: i64,
        at: Option<i64>,
    }

    #[test]
    fn finds_the_key_field() {
        let p = Played {
            user_id: "u-1".into(),
            song_id: 42,
            at: None,
        };
        assert_eq!(key_of_serde(&p, "song_id").as_deref(), Some("42"));
        assert_eq!(key_of_serde(&p, "user_id").as_deref(), Some("u-1"));
        assert_eq!(key_of_serde(&p, "at"), None);
        assert_eq!(key_of_serde(&p, "nope"), None);
        let json = serde_json::json!({ "b": 1, "user_id": "u-2" });
        assert_eq!(key_of_serde(&json, "user_id").as_deref(), Some("u-2"));
        let value = Value::Record(vec![("song_id".into(), Value::Long(7))]);
        assert_eq!(key_of_value(&value, "song_id").as_deref(), Some("7"));
    }
}
