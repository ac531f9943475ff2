//! Domain contracts: the manifest a domain team keeps in its repository, saying what the
//! domain publishes.
//!
//! ```toml
//! domain = "songs"
//! owner = "team-songs@example.com"
//! description = "The song catalogue"
//!
//! [[streams]]
//! name = "released"
//! key = "song_id"                      # the value field the Kafka key comes from
//! schema = "schemas/songs/Released.avsc"   # relative to this file
//! partitions = 6
//! retention = "7d"
//!
//! [[products]]
//! name = "catalogue"
//! description = "Every song that can be played"
//! tags = ["music"]
//! schema = "schemas/songs/Song.avsc"   # the table's rows
//! partition_by = ["genre"]
//! mode = "merge"                       # append | overwrite | merge
//! keys = ["song_id"]                   # merge keys
//! sla = "1h"                           # the newest data is never older than this
//! streams = ["released"]               # stream ports of the product
//! ```
//!
//! [`Contract::load`] reads the file, loads every schema and checks the whole contract
//! (names, key fields, partition columns, merge keys, references between entries) before
//! anything reaches a catalog or a broker.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::AvroSchema;
use crate::avro::table::{self, ColumnType};
use crate::error::{Error, Result};
use crate::names::{DomainName, ProductName, StreamName};

/// How a snapshot changes a product's table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// A snapshot replaces the table's rows.
    #[default]
    Overwrite,
    /// A snapshot's rows are added to the table's rows.
    Append,
    /// A snapshot upserts by the key columns: rows with a key already in the table replace
    /// it, new keys are added; within one snapshot the last row of a key wins.
    Merge {
        /// The key columns.
        keys: Vec<String>,
    },
}

impl WriteMode {
    /// `overwrite`, `append` or `merge`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Overwrite => "overwrite",
            Self::Append => "append",
            Self::Merge { .. } => "merge",
        }
    }
}

/// A stream the domain publishes.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    /// The stream's name; its topic is `<domain>.<name>`.
    pub name: StreamName,
    /// The value field the Kafka key is taken from, if any.
    pub key: Option<String>,
    /// The value schema.
    pub schema: AvroSchema,
    /// Partitions of the topic when it is created.
    pub partitions: i32,
    /// How long the topic keeps events, when it is created.
    pub retention: Option<Duration>,
    /// What the stream carries.
    pub description: String,
}

/// A data product the domain publishes.
#[derive(Debug, Clone)]
pub struct ProductSpec {
    /// The product's name; its id is `<domain>.<name>`.
    pub name: ProductName,
    /// What the product holds.
    pub description: String,
    /// Tags for search.
    pub tags: Vec<String>,
    /// The schema of the table's rows.
    pub schema: AvroSchema,
    /// The table's partition columns.
    pub partition_by: Vec<String>,
    /// How snapshots change the table.
    pub mode: WriteMode,
    /// The freshness promise.
    pub sla: Option<Duration>,
    /// The domain's streams that are ports of this product.
    pub streams: Vec<StreamName>,
    /// The stream a sink writes into this table, if one does.
    pub source: Option<StreamName>,
}

/// A whole domain contract, loaded and checked.
#[derive(Debug, Clone)]
pub struct Contract {
    /// The domain.
    pub domain: DomainName,
    /// The owning team.
    pub owner: String,
    /// What the domain is about.
    pub description: String,
    /// The streams it publishes.
    pub streams: Vec<StreamSpec>,
    /// The data products it publishes.
    pub products: Vec<ProductSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContract {
    domain: DomainName,
    owner: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    streams: Vec<RawStream>,
    #[serde(default)]
    products: Vec<RawProduct>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStream {
    name: StreamName,
    #[serde(default)]
    key: Option<String>,
    schema: PathBuf,
    #[serde(default = "default_partitions")]
    partitions: i32,
    #[serde(default)]
    retention: Option<String>,
    #[serde(default)]
    description: String,
}

fn default_partitions() -> i32 {
    3
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProduct {
    name: ProductName,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: Vec<String>,
    schema: PathBuf,
    #[serde(default)]
    partition_by: Vec<String>,
    #[serde(default = "default_mode")]
    mode: String,
    #[serde(default)]
    keys: Vec<String>,
    #[serde(default)]
    sla: Option<String>,
    #[serde(default)]
    streams: Vec<StreamName>,
    #[serde(default)]
    source: Option<StreamName>,
}

fn default_mode() -> String {
    "overwrite".to_owned()
}

/// Parses `7d`, `12h`, `30m`, `45s` or `1500ms`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => return Some(Duration::from_millis(n)),
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

impl Contract {
    /// Reads and checks a contract file; schema paths are relative to the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        Self::parse(&text, base, &path.display().to_string())
    }

    /// Parses and checks a contract's text; schema paths are relative to `base`. `origin`
    /// names the contract in errors.
    pub fn parse(text: &str, base: &Path, origin: &str) -> Result<Self> {
        Self::parse_from(text, origin, &|path| {
            AvroSchema::record_from_file(base.join(path)).map_err(|e| e.to_string())
        })
    }

    /// Parses and checks a contract carried in the program (`include_str!`), so a deployed
    /// binary needs no file beside it and runs with the contract it was built and tested
    /// with. `schemas` holds each schema file's text under the path the contract names it by
    /// (`("schemas/Event.avsc", include_str!("../schemas/Event.avsc"))`).
    ///
    /// ```
    /// use mesh_core::Contract;
    ///
    /// let contract = Contract::embedded(
    ///     "domain = \"payments\"\nowner = \"team\"\n\
    ///      [[streams]]\nname = \"events\"\nschema = \"schemas/Event.avsc\"\n",
    ///     &[(
    ///         "schemas/Event.avsc",
    ///         r#"{"type": "record", "name": "Event", "fields": [{"name": "id", "type": "string"}]}"#,
    ///     )],
    ///     "contract.toml (built in)",
    /// )?;
    /// assert_eq!(contract.streams[0].name.as_str(), "events");
    /// # Ok::<(), mesh_core::Error>(())
    /// ```
    pub fn embedded(text: &str, schemas: &[(&str, &str)], origin: &str) -> Result<Self> {
        Self::parse_from(text, origin, &|path| {
            let text = schemas
                .iter()
                .find(|(name, _)| Path::new(name) == path)
                .map(|(_, text)| *text)
                .ok_or_else(|| {
                    format!(
                        "{} is not built into the program (add it to the embedded schemas)",
                        path.display()
                    )
                })?;
            AvroSchema::parse_record(text, &path.display().to_string()).map_err(|e| e.to_string())
        })
    }

    /// Parses and checks a contract's text, reading each schema it names with `read_schema`.
    fn parse_from(
        text: &str,
        origin: &str,
        read_schema: &dyn Fn(&Path) -> std::result::Result<AvroSchema, String>,
    ) -> Result<Self> {
        let fail = |reason: String| Error::Contract {
            origin: origin.to_owned(),
            reason,
        };
        let raw: RawContract =
            toml::from_str(text).map_err(|e| fail(e.to_string().trim().to_owned()))?;
        let mut streams = Vec::with_capacity(raw.streams.len());
        let mut seen = HashSet::new();
        for s in raw.streams {
            if !seen.insert(s.name.clone()) {
                return Err(fail(format!("stream {} is declared twice", s.name)));
            }
            let schema =
                read_schema(&s.schema).map_err(|e| fail(format!("stream {}: {e}", s.name)))?;
            if let Some(key) = &s.key {
                check_key_field(&schema, key).map_err(|reason| {
                    fail(format!("stream {}: key field {key:?} {reason}", s.name))
                })?;
            }
            if s.partitions < 1 {
                return Err(fail(format!(
                    "stream {}: partitions must be at least 1, not {}",
                    s.name, s.partitions
                )));
            }
            let retention = s
                .retention
                .as_deref()
                .map(|r| {
                    parse_duration(r).ok_or_else(|| {
                        fail(format!(
                            "stream {}: retention {r:?} is not a duration like 7d, 12h, 30m",
                            s.name
                        ))
                    })
                })
                .transpose()?;
            streams.push(StreamSpec {
                name: s.name,
                key: s.key,
                schema,
                partitions: s.partitions,
                retention,
                description: s.description,
            });
        }
        let mut products = Vec::with_capacity(raw.products.len());
        let mut seen = HashSet::new();
        for p in raw.products {
            let at = |reason: String| fail(format!("product {}: {reason}", p.name));
            if !seen.insert(p.name.clone()) {
                return Err(fail(format!("product {} is declared twice", p.name)));
            }
            let schema = read_schema(&p.schema).map_err(at)?;
            let columns = table::columns(&schema)
                .map_err(|e| at(format!("its schema cannot be a table: {e}")))?;
            for c in &p.partition_by {
                match columns.iter().find(|col| &col.name == c) {
                    None => {
                        return Err(at(format!(
                            "partition column {c:?} is not a field of its schema"
                        )));
                    }
                    Some(col)
                        if matches!(
                            col.data_type,
                            ColumnType::Struct(_)
                                | ColumnType::Array { .. }
                                | ColumnType::Map { .. }
                        ) =>
                    {
                        return Err(at(format!(
                            "partition column {c:?} is a {}, which cannot partition a table",
                            col.data_type
                        )));
                    }
                    Some(_) => {}
                }
            }
            let mode = match p.mode.as_str() {
                "overwrite" => WriteMode::Overwrite,
                "append" => WriteMode::Append,
                "merge" => {
                    if p.keys.is_empty() {
                        return Err(at("merge needs key columns: set keys = [...]".into()));
                    }
                    for k in &p.keys {
                        match columns.iter().find(|col| &col.name == k) {
                            None => {
                                return Err(at(format!(
                                    "merge key {k:?} is not a field of its schema"
                                )));
                            }
                            Some(col) if col.nullable => {
                                return Err(at(format!(
                                    "merge key {k:?} is nullable; keys must always be set"
                                )));
                            }
                            Some(_) => {}
                        }
                    }
                    WriteMode::Merge {
                        keys: p.keys.clone(),
                    }
                }
                other => {
                    return Err(at(format!(
                        "mode {other:?} is not one of append, overwrite, merge"
                    )));
                }
            };
            if !p.keys.is_empty() && !matches!(mode, WriteMode::Merge { .. }) {
                return Err(at(format!(
                    "keys are set but the mode is {}; keys apply to merge only",
                    mode.name()
                )));
            }
            for s in p.streams.iter().chain(p.source.iter()) {
                if !streams.iter().any(|d| &d.name == s) {
                    return Err(at(format!("stream {s} is not declared in this contract")));
                }
            }
            let sla = p
                .sla
                .as_deref()
                .map(|r| {
                    parse_duration(r)
                        .ok_or_else(|| at(format!("sla {r:?} is not a duration like 1h, 15m")))
                })
                .transpose()?;
            products.push(ProductSpec {
                name: p.name,
                description: p.description,
                tags: p.tags,
                schema,
                partition_by: p.partition_by,
                mode,
                sla,
                streams: p.streams,
                source: p.source,
            });
        }
        Ok(Self {
            domain: raw.domain,
            owner: raw.owner,
            description: raw.description,
            streams,
            products,
        })
    }

    /// The stream called `name`.
    pub fn stream(&self, name: &str) -> Option<&StreamSpec> {
        self.streams.iter().find(|s| s.name.as_str() == name)
    }

    /// The product called `name`.
    pub fn product(&self, name: &str) -> Option<&ProductSpec> {
        self.products.iter().find(|p| p.name.as_str() == name)
    }
}

/// Why a stream's key field cannot be its key.
#[derive(Debug, thiserror::Error)]
enum KeyFieldError {
    #[error("cannot be checked: {0}")]
    Unchecked(table::ColumnError),
    #[error("is not a top-level field of the value schema")]
    NotTopLevel,
    #[error("is nullable; a key must always be set")]
    Nullable,
    #[error("is a {0}; keys must be strings, ints or longs")]
    NotText(ColumnType),
}

/// A key field must be a top-level field that is always set and can be rendered as text.
fn check_key_field(schema: &AvroSchema, key: &str) -> std::result::Result<(), KeyFieldError> {
    let columns = table::columns(schema).map_err(KeyFieldError::Unchecked)?;
    match columns.iter().find(|c| c.name == key) {
        None => Err(KeyFieldError::NotTopLevel),
        Some(c) if c.nullable => Err(KeyFieldError::Nullable),
        Some(c)
            if matches!(
                c.data_type,
                ColumnType::String | ColumnType::Int | ColumnType::Long
            ) =>
        {
            Ok(())
        }
        Some(c) => Err(KeyFieldError::NotText(c.data_type.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with_schemas() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("released.avsc"),
            r#"{"type":"record","name":"Released","fields":[{"name":"song_id","type":"long"},{"name":"title","type":"string"},{"name":"note","type":["null","string"],"default":null}]}"#,
        )
        .expect("write");
        std::fs::write(
            dir.path().join("song.avsc"),
            r#"{"type":"record","name":"Song","fields":[{"name":"song_id","type":"long"},{"name":"genre","type":"string"},{"name":"tags","type":{"type":"array","items":"string"}},{"name":"label","type":["null","string"],"default":null}]}"#,
        )
        .expect("write");
        dir
    }

    const GOOD: &str = r#"
        domain = "songs"
        owner = "team-songs"
        [[streams]]
        name = "released"
        key = "song_id"
        schema = "released.avsc"
        partitions = 6
        retention = "7d"
        [[products]]
        name = "catalogue"
        schema = "song.avsc"
        partition_by = ["genre"]
        mode = "merge"
        keys = ["song_id"]
        sla = "1h"
        streams = ["released"]
    "#;

    #[test]
    fn loads_a_whole_contract() -> Result<()> {
        let dir = dir_with_schemas();
        let c = Contract::parse(GOOD, dir.path(), "songs.toml")?;
        assert_eq!(c.domain.as_str(), "songs");
        let s = c.stream("released").expect("stream");
        assert_eq!(
            (s.partitions, s.retention),
            (6, Some(Duration::from_secs(7 * 86_400)))
        );
        let p = c.product("catalogue").expect("product");
        assert_eq!(
            p.mode,
            WriteMode::Merge {
                keys: vec!["song_id".into()]
            }
        );
        assert_eq!(p.sla, Some(Duration::from_secs(3600)));
        assert_eq!(p.streams[0].as_str(), "released");
        Ok(())
    }

    #[test]
    fn mistakes_are_refused_with_the_entry_and_the_reason() {
        let dir = dir_with_schemas();
        let cases = [
            (
                GOOD.replace("key = \"song_id\"", "key = \"note\""),
                "stream released: key field \"note\" is nullable",
            ),
            (
                GOOD.replace("key = \"song_id\"", "key = \"nope\""),
                "key field \"nope\" is not a top-level field",
            ),
            (
                GOOD.replace("partition_by = [\"genre\"]", "partition_by = [\"tags\"]"),
                "partition column \"tags\" is a array<string>",
            ),
            (
                GOOD.replace("keys = [\"song_id\"]", "keys = [\"label\"]"),
                "merge key \"label\" is nullable",
            ),
            (
                GOOD.replace("mode = \"merge\"", "mode = \"upsert\""),
                "mode \"upsert\" is not one of",
            ),
            (
                GOOD.replace("streams = [\"released\"]", "streams = [\"played\"]"),
                "stream played is not declared",
            ),
            (
                GOOD.replace("retention = \"7d\"", "retention = \"a week\""),
                "retention \"a week\" is not a duration",
            ),
            (
                GOOD.replace("schema = \"song.avsc\"", "schema = \"missing.avsc\""),
                "product catalogue: cannot read",
            ),
            (
                GOOD.replace("domain = \"songs\"", "domain = \"Songs\""),
                "invalid domain name \"Songs\"",
            ),
            (
                GOOD.replace("owner = \"team-songs\"", "owner = \"x\"\ncolour = \"red\""),
                "unknown field `colour`",
            ),
        ];
        for (text, expected) in cases {
            let err = Contract::parse(&text, dir.path(), "songs.toml")
                .expect_err(expected)
                .to_string();
            assert!(err.starts_with("invalid contract songs.toml: "), "{err}");
            assert!(err.contains(expected), "expected {expected:?} in {err}");
        }
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2w"), None);
        assert_eq!(parse_duration("h"), None);
    }
}
