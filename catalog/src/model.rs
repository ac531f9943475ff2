//! The catalog's resources, as the API sends and receives them. Shared by the server and
//! the client, so both sides agree by construction.

use mesh_core::{DomainName, ProductId, Subject, TopicName};
use serde::{Deserialize, Serialize};

pub use mesh_core::SchemaId;

/// The largest schema id the registry hands out or imports: Confluent clients keep ids in a
/// signed 32-bit integer.
pub const MAX_SCHEMA_ID: SchemaId = SchemaId(i32::MAX as u32);

/// A business domain and the team that owns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct Domain {
    /// The domain's name, e.g. `songs`.
    pub name: DomainName,
    /// The owning team, e.g. `team-catalogue@example.com`.
    pub owner: String,
    /// What the domain is about.
    #[serde(default)]
    pub description: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A data product: one governance record for what a domain publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct DataProduct {
    /// `<domain>.<product>`; the domain part is the owner.
    pub id: ProductId,
    /// What the product holds and how to use it.
    #[serde(default)]
    pub description: String,
    /// Free-form tags for search.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The freshness promise, if any.
    #[serde(default)]
    pub sla: Option<Sla>,
    /// The Kafka streams of the product.
    #[serde(default)]
    pub stream_ports: Vec<StreamPort>,
    /// The Delta table of the product, if it has one.
    #[serde(default)]
    pub table_port: Option<TablePort>,
    /// Set in answers to readers without a grant: the product has a table, but its
    /// location is withheld.
    #[serde(default, skip_serializing_if = "is_false")]
    pub table_location_hidden: bool,
}

impl DataProduct {
    /// A product with no ports, tags or SLA yet.
    pub fn new(id: ProductId, description: impl Into<String>) -> Self {
        Self {
            id,
            description: description.into(),
            tags: Vec::new(),
            sla: None,
            stream_ports: Vec::new(),
            table_port: None,
            table_location_hidden: false,
        }
    }
}

/// A freshness promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct Sla {
    /// The oldest the newest data may be, in seconds.
    pub max_staleness_secs: u64,
}

/// A stream of a product: its topic and registry subjects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct StreamPort {
    /// The Kafka topic.
    pub topic: TopicName,
    /// The subject of the value schema (`<topic>-value`).
    pub value_subject: Subject,
    /// The subject of the key schema, when keys are Avro.
    #[serde(default)]
    pub key_subject: Option<Subject>,
}

impl StreamPort {
    /// A port on `topic` with TopicNameStrategy subjects and string keys.
    pub fn new(topic: TopicName) -> Self {
        Self {
            value_subject: Subject::value(&topic),
            key_subject: None,
            topic,
        }
    }
}

/// The Delta table of a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct TablePort {
    /// The table's URL (`file:///...`, `s3://...`).
    pub uri: String,
    /// The table's partition columns, in order.
    #[serde(default)]
    pub partition_columns: Vec<String>,
    /// The stream a sink writes into this table, if one does: new value schemas of that
    /// stream are then also checked against what the table can take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_topic: Option<TopicName>,
    /// How the product's writer changes the table, as its contract declares. Absent for ports
    /// saved before the catalog recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_mode: Option<WriteMode>,
    /// The key columns a `merge` upserts by, in order; empty for the other modes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merge_keys: Vec<String>,
}

/// How a product's writer changes its table. Recorded so that a change to it, which changes
/// what the product's rows mean, shows in `mesh contract diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// Each snapshot replaces the rows.
    Overwrite,
    /// Rows are added.
    Append,
    /// Rows are upserted by the port's `merge_keys`.
    Merge,
}

impl WriteMode {
    /// `overwrite`, `append` or `merge`, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Overwrite => "overwrite",
            Self::Append => "append",
            Self::Merge => "merge",
        }
    }

    /// The mode named `name` on the wire.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Overwrite, Self::Append, Self::Merge]
            .into_iter()
            .find(|mode| mode.as_str() == name)
    }
}

/// The Kafka position a table version contains up to: offsets are next-to-read, as Kafka
/// commits them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct PartitionOffset {
    /// The topic.
    pub topic: TopicName,
    /// The partition.
    pub partition: i32,
    /// The next offset to read: every offset below it is in the table.
    pub offset: i64,
}

/// One committed version of a product's table, as registered by its writer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct TableVersion {
    /// The Delta version.
    pub version: i64,
    /// Rows in the table at this version.
    pub rows: u64,
    /// Bytes of data files in the table at this version.
    pub bytes: u64,
    /// The registry id of the schema the rows were written with.
    #[serde(default)]
    pub schema_id: Option<SchemaId>,
    /// The Kafka offsets this version holds, when a stream sink wrote it.
    #[serde(default)]
    pub offsets: Vec<PartitionOffset>,
    /// When Delta committed the version, in milliseconds since the Unix epoch.
    pub committed_at_ms: i64,
}

/// A consumer domain's read access to a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct Grant {
    /// The product.
    pub product: ProductId,
    /// The consumer domain that may read it.
    pub consumer_domain: DomainName,
    /// Who granted it.
    pub granted_by: String,
    /// When, in milliseconds since the Unix epoch.
    pub granted_at_ms: i64,
}

/// A request for a new bearer token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct NewToken {
    /// The domain the token acts for; none makes an admin token.
    #[serde(default)]
    pub domain: Option<DomainName>,
    /// What the token is for.
    #[serde(default)]
    pub description: String,
}

/// Who a request acts as: what `GET /api/v1/whoami` answers for the token it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct Identity {
    /// `dev` (the catalog does not authenticate: anyone may do anything), `admin` or
    /// `domain`.
    pub kind: IdentityKind,
    /// The domain a domain token acts for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainName>,
    /// The token's id (`bootstrap` for the admin token the catalog was started with); none
    /// when the catalog does not authenticate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// What kind of caller an [`Identity`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum IdentityKind {
    /// The catalog does not authenticate (`mesh-catalog serve --dev`, `mesh dev`).
    Dev,
    /// An admin token.
    Admin,
    /// A token acting for one domain.
    Domain,
}

/// A bearer token as the catalog lists it (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct TokenInfo {
    /// The token's id, for revoking it.
    pub id: String,
    /// The domain it acts for; none for admin tokens.
    pub domain: Option<DomainName>,
    /// What it is for.
    pub description: String,
    /// Who created it.
    pub created_by: String,
    /// When, in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// A token just created: the secret is in this answer only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct CreatedToken {
    /// The token's description.
    pub info: TokenInfo,
    /// The bearer token; store it now, the catalog keeps only its hash.
    pub token: String,
}

impl std::fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedToken")
            .field("info", &self.info)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// One audited mutation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct AuditEntry {
    /// Increasing id.
    pub id: i64,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Who: `admin`, `domain:<name>`, `dev` (authentication off).
    pub actor: String,
    /// What kind of change, e.g. `schema.register`.
    pub action: String,
    /// What it changed, e.g. a subject or product id.
    pub target: String,
    /// Details, e.g. the schema id registered.
    pub detail: String,
}

/// The newest offset of one partition of a stream: the next offset to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct StreamHead {
    /// The partition.
    pub partition: i32,
    /// The next offset to be written.
    pub offset: i64,
}

/// How fresh a product is, from both planes, against its SLA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct ProductHealth {
    /// The product.
    pub product: ProductId,
    /// `fresh`, `stale` or `unknown` (no SLA, or nothing to measure yet).
    pub status: String,
    /// The SLA, if any.
    pub sla: Option<Sla>,
    /// The newest table version, if any.
    pub table_version: Option<i64>,
    /// Seconds since the newest table version was committed.
    pub table_age_secs: Option<f64>,
    /// Per stream port fed into the table: how far the table is behind the stream head.
    pub streams: Vec<StreamLag>,
    /// Why the status is what it is, for people.
    pub reasons: Vec<String>,
}

/// How far a table is behind a stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct StreamLag {
    /// The stream's topic.
    pub topic: TopicName,
    /// Events in the stream but not yet in the table, summed over partitions with a known
    /// head; none when no head was reported.
    pub lag: Option<i64>,
}

/// Confluent's registry resources, in its own JSON shapes (camelCase where it uses them).
pub mod registry {
    use super::SchemaId;
    use serde::{Deserialize, Serialize};

    /// The media type of every registry response.
    pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

    /// The largest subject version, as Confluent numbers them (`[1, 2^31-1]`).
    pub const MAX_VERSION: i64 = i32::MAX as i64;

    /// A reference from one schema to a named type registered under another subject.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
    pub struct SchemaReference {
        /// The referenced type's full name.
        pub name: String,
        /// The subject it is registered under.
        pub subject: String,
        /// The version of that subject.
        pub version: i64,
    }

    /// `POST /subjects/{subject}/versions` and `POST /subjects/{subject}` bodies.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
    #[cfg_attr(feature = "server", schemars(example = register_example()))]
    #[serde(rename_all = "camelCase")]
    pub struct RegisterSchema {
        /// The schema text.
        pub schema: String,
        /// `AVRO` when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub schema_type: Option<String>,
        /// Named types this schema uses from other subjects.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub references: Vec<SchemaReference>,
        /// The id to register under; only in IMPORT mode.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub id: Option<SchemaId>,
        /// The version to register as; only in IMPORT mode.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub version: Option<i64>,
    }

    /// A registration body that works, for the API description (and the testers that
    /// generate requests from it).
    #[cfg(feature = "server")]
    fn register_example() -> serde_json::Value {
        serde_json::json!({
            "schema": r#"{"type":"record","name":"Played","namespace":"mesh.songs","fields":[{"name":"song_id","type":"long"}]}"#
        })
    }

    /// `POST /compatibility/...` answer.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
    pub struct CompatibilityCheck {
        /// The verdict.
        pub is_compatible: bool,
        /// Why not, when asked with `verbose=true`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub messages: Option<Vec<String>>,
    }

    /// `GET /config` answer.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
    #[serde(rename_all = "camelCase")]
    pub struct ConfigAnswer {
        /// The level in force.
        pub compatibility_level: String,
    }

    /// `PUT /config` body and answer.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
    pub struct ConfigUpdate {
        /// The level to set.
        pub compatibility: String,
    }

    /// `GET/PUT /mode` body and answer.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
    pub struct ModeBody {
        /// `READWRITE`, `READONLY` or `IMPORT`.
        pub mode: String,
    }

    /// A subject and version, as `GET /schemas/ids/{id}/versions` lists them.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
    pub struct SubjectAndVersion {
        /// The subject.
        pub subject: String,
        /// The version.
        pub version: i64,
    }

    /// `POST /subjects/{subject}/versions` answer.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
    pub struct RegisteredId {
        /// The schema's global id.
        pub id: SchemaId,
    }

    /// `GET /schemas/ids/{id}` answer.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
    #[serde(rename_all = "camelCase")]
    pub struct SchemaById {
        /// The schema text.
        pub schema: String,
        /// Omitted for Avro, as Confluent does.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub schema_type: Option<String>,
        /// References, omitted when none.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub references: Vec<SchemaReference>,
    }

    /// A schema as registered under a subject at a version.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
    #[serde(rename_all = "camelCase")]
    pub struct SubjectVersion {
        /// The subject.
        pub subject: String,
        /// The version within the subject, from 1.
        pub version: i64,
        /// The schema's global id.
        pub id: SchemaId,
        /// The schema text.
        pub schema: String,
        /// Omitted for Avro, as Confluent does.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub schema_type: Option<String>,
        /// References, omitted when none.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub references: Vec<SchemaReference>,
    }

    /// The error body of every registry (and catalog) error.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
    pub struct ErrorBody {
        /// Confluent's code: the HTTP status followed by a detail digit pair, e.g. `40401`.
        pub error_code: i64,
        /// What went wrong, for people.
        pub message: String,
    }
}
