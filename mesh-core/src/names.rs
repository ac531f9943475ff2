//! The names of the mesh: domains, streams, data products, topics and subjects.
//!
//! Every name is validated when it is built, so a value of one of these types is always
//! usable as a Kafka topic part, a registry subject part and a path segment.
//! The rules: lowercase ASCII letters, digits, `_` and `-`, starting with a letter,
//! at most [`MAX_NAME_LEN`] bytes. The dot is reserved as the separator in
//! `<domain>.<stream>` (topics) and `<domain>.<product>` (product ids).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// The longest domain, stream or product name. Two of them and a dot stay well inside
/// Kafka's 249-byte topic limit.
pub const MAX_NAME_LEN: usize = 64;

/// What a name names; used in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameKind {
    /// A business domain, e.g. `songs`.
    Domain,
    /// A stream of a domain, e.g. `played`.
    Stream,
    /// A data product of a domain, e.g. `catalogue`.
    Product,
    /// A Kafka topic `<domain>.<stream>`.
    Topic,
    /// A data product id `<domain>.<product>`.
    ProductId,
    /// A schema-registry subject.
    Subject,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Domain => "domain",
            Self::Stream => "stream",
            Self::Product => "data product",
            Self::Topic => "topic",
            Self::ProductId => "data product id",
            Self::Subject => "subject",
        })
    }
}

fn check_segment(kind: NameKind, name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("it is empty".to_owned())
    } else if name.len() > MAX_NAME_LEN {
        Some(format!(
            "it is {} bytes long, the limit is {MAX_NAME_LEN}",
            name.len()
        ))
    } else if !name.as_bytes()[0].is_ascii_lowercase() {
        Some("it must start with a lowercase letter".to_owned())
    } else {
        name.chars()
            .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
            .map(|c| format!("{c:?} is not allowed; use lowercase letters, digits, '_' and '-'"))
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(Error::InvalidName {
            kind,
            name: name.to_owned(),
            reason,
        }),
    }
}

/// Splits `<left>.<right>` into two valid segments.
fn split_pair(
    kind: NameKind,
    left: NameKind,
    right: NameKind,
    s: &str,
) -> Result<(String, String)> {
    let invalid = |reason: String| Error::InvalidName {
        kind,
        name: s.to_owned(),
        reason,
    };
    let (a, b) = s
        .split_once('.')
        .ok_or_else(|| invalid(format!("expected `<{left}>.<{right}>`")))?;
    check_segment(left, a).map_err(|e| invalid(e.to_string()))?;
    check_segment(right, b).map_err(|e| invalid(e.to_string()))?;
    Ok((a.to_owned(), b.to_owned()))
}

macro_rules! segment_name {
    ($(#[$doc:meta])* $ty:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $ty(String);

        impl $ty {
            /// Validates `name` and wraps it.
            pub fn new(name: impl Into<String>) -> Result<Self> {
                let name = name.into();
                check_segment($kind, &name)?;
                Ok(Self(name))
            }

            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $ty {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// JSON Schemas of the names: strings with the naming rules as patterns.
#[cfg(feature = "schemars")]
mod json_schema {
    use std::borrow::Cow;

    use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

    use super::{DomainName, MAX_NAME_LEN, ProductId, ProductName, StreamName, Subject, TopicName};

    const SEGMENT: &str = "[a-z][a-z0-9_-]*";

    macro_rules! string_schema {
        ($ty:ty, $name:literal, $pattern:expr, $max:expr, $description:literal) => {
            impl JsonSchema for $ty {
                fn schema_name() -> Cow<'static, str> {
                    Cow::Borrowed($name)
                }

                fn json_schema(_: &mut SchemaGenerator) -> Schema {
                    json_schema!({
                        "type": "string",
                        "pattern": $pattern,
                        "maxLength": $max,
                        "description": $description,
                    })
                }
            }
        };
    }

    string_schema!(
        DomainName,
        "DomainName",
        format!("^{SEGMENT}$"),
        MAX_NAME_LEN,
        "A business domain."
    );
    string_schema!(
        StreamName,
        "StreamName",
        format!("^{SEGMENT}$"),
        MAX_NAME_LEN,
        "A stream of a domain."
    );
    string_schema!(
        ProductName,
        "ProductName",
        format!("^{SEGMENT}$"),
        MAX_NAME_LEN,
        "A data product of a domain."
    );
    string_schema!(
        TopicName,
        "TopicName",
        format!("^{SEGMENT}\\.{SEGMENT}$"),
        2 * MAX_NAME_LEN + 1,
        "A Kafka topic: `<domain>.<stream>`."
    );
    string_schema!(
        ProductId,
        "ProductId",
        format!("^{SEGMENT}\\.{SEGMENT}$"),
        2 * MAX_NAME_LEN + 1,
        "A data product id: `<domain>.<product>`."
    );
    string_schema!(
        Subject,
        "Subject",
        "^[^\\u0000-\\u001f]+$".to_owned(),
        Subject::MAX_LEN,
        "A schema-registry subject."
    );
}

segment_name!(
    /// A business domain that owns streams and data products, e.g. `songs`.
    DomainName,
    NameKind::Domain
);
segment_name!(
    /// A stream of a domain, e.g. `played`; its topic is `<domain>.<stream>`.
    StreamName,
    NameKind::Stream
);
segment_name!(
    /// A data product of a domain, e.g. `catalogue`; its id is `<domain>.<product>`.
    ProductName,
    NameKind::Product
);

macro_rules! pair_name {
    ($(#[$doc:meta])* $ty:ident, $kind:expr, $right_ty:ident, $right_kind:expr, $right_fn:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $ty {
            full: String,
            dot: usize,
        }

        impl $ty {
            /// Joins a domain and a name of that domain.
            pub fn new(domain: &DomainName, name: &$right_ty) -> Self {
                let full = format!("{domain}.{name}");
                Self { dot: domain.as_str().len(), full }
            }

            /// Parses `<domain>.<name>`.
            pub fn parse(s: &str) -> Result<Self> {
                let (a, _) = split_pair($kind, NameKind::Domain, $right_kind, s)?;
                Ok(Self { dot: a.len(), full: s.to_owned() })
            }

            /// The owning domain.
            pub fn domain(&self) -> DomainName {
                DomainName(self.full[..self.dot].to_owned())
            }

            /// The part after the domain.
            pub fn $right_fn(&self) -> $right_ty {
                $right_ty(self.full[self.dot + 1..].to_owned())
            }

            /// The full name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.full
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.full)
            }
        }

        impl FromStr for $ty {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.full
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(&self.full)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

pair_name!(
    /// A Kafka topic: `<domain>.<stream>`.
    TopicName,
    NameKind::Topic,
    StreamName,
    NameKind::Stream,
    stream
);
pair_name!(
    /// The mesh-wide id of a data product: `<domain>.<product>`.
    ProductId,
    NameKind::ProductId,
    ProductName,
    NameKind::Product,
    product
);

/// A schema-registry subject.
///
/// The mesh names subjects by Confluent's TopicNameStrategy (`<topic>-value`,
/// `<topic>-key`), but the registry accepts any subject a Confluent client may use, so
/// this type only refuses what no registry accepts: empty names, control characters and
/// names longer than 255 bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Subject(String);

impl Subject {
    /// The longest subject accepted.
    pub const MAX_LEN: usize = 255;

    /// Validates and wraps any subject name.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let reason = if name.trim().is_empty() {
            Some("it is empty".to_owned())
        } else if name.len() > Self::MAX_LEN {
            Some(format!(
                "it is {} bytes long, the limit is {}",
                name.len(),
                Self::MAX_LEN
            ))
        } else if name.chars().any(char::is_control) {
            Some("it contains a control character".to_owned())
        } else {
            None
        };
        match reason {
            None => Ok(Self(name)),
            Some(reason) => Err(Error::InvalidName {
                kind: NameKind::Subject,
                name,
                reason,
            }),
        }
    }

    /// The subject holding the value schema of a topic: `<topic>-value`.
    pub fn value(topic: &TopicName) -> Self {
        Self(format!("{topic}-value"))
    }

    /// The subject holding the key schema of a topic: `<topic>-key`.
    pub fn key(topic: &TopicName) -> Self {
        Self(format!("{topic}-key"))
    }

    /// The subject holding the row schema of a data product's table: `<product id>-table`.
    pub fn table(product: &ProductId) -> Self {
        Self(format!("{product}-table"))
    }

    /// The subject as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Subject {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::new(s)
    }
}

impl<'de> Deserialize<'de> for Subject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_build_topics_and_subjects() -> Result<()> {
        let domain = DomainName::new("songs")?;
        let stream = StreamName::new("played_v2")?;
        let topic = TopicName::new(&domain, &stream);
        assert_eq!(topic.as_str(), "songs.played_v2");
        assert_eq!(topic.domain(), domain);
        assert_eq!(topic.stream(), stream);
        assert_eq!(Subject::value(&topic).as_str(), "songs.played_v2-value");
        assert_eq!(Subject::key(&topic).as_str(), "songs.played_v2-key");
        let product = ProductId::new(&domain, &ProductName::new("catalogue")?);
        assert_eq!(Subject::table(&product).as_str(), "songs.catalogue-table");
        Ok(())
    }

    #[test]
    fn invalid_names_say_why() {
        let cases = [
            ("", "empty"),
            ("Songs", "lowercase letter"),
            ("9songs", "lowercase letter"),
            ("so.ngs", "'.' is not allowed"),
            ("so ngs", "' ' is not allowed"),
        ];
        for (name, why) in cases {
            let err = DomainName::new(name).expect_err(name).to_string();
            assert!(err.contains(why), "{name:?}: {err}");
            assert!(err.contains("domain"), "{err}");
        }
        let long = "a".repeat(MAX_NAME_LEN + 1);
        assert!(StreamName::new(long).is_err());
    }

    #[test]
    fn pairs_parse_and_refuse() -> Result<()> {
        let topic = TopicName::parse("users.signed-up")?;
        assert_eq!(topic.domain().as_str(), "users");
        assert_eq!(topic.stream().as_str(), "signed-up");
        let id: ProductId = "songs.catalogue".parse()?;
        assert_eq!(id.product().as_str(), "catalogue");
        for bad in ["users", "users.", ".x", "a.b.c", "A.b"] {
            let err = TopicName::parse(bad).expect_err(bad).to_string();
            assert!(err.starts_with("invalid topic name"), "{err}");
        }
        Ok(())
    }

    #[test]
    fn names_round_trip_through_serde() -> Result<()> {
        let id = ProductId::parse("songs.catalogue")?;
        let json = serde_json::to_string(&id).map_err(|e| Error::Json {
            what: "product id".into(),
            source: e,
        })?;
        assert_eq!(json, "\"songs.catalogue\"");
        assert!(serde_json::from_str::<DomainName>("\"Bad\"").is_err());
        assert!(serde_json::from_str::<Subject>("\"\"").is_err());
        Ok(())
    }
}
