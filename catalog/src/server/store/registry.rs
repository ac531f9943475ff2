//! The schema registry's tables: schemas, subject versions, references, config and mode.

use std::collections::HashSet;
use std::sync::Arc;

use mesh_core::compat::Level;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Audit, Store, Tx, db, from_json_text, get, json_text, now_ms};
use crate::error::Result;
pub(crate) use crate::model::registry::MAX_VERSION;
use crate::model::registry::SchemaReference;
pub(crate) use crate::model::{MAX_SCHEMA_ID, SchemaId};

/// A registry mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Mode {
    /// Schemas can be registered and deleted.
    #[default]
    ReadWrite,
    /// Nothing changes.
    ReadOnly,
    /// Schemas are registered with the ids and versions given (migrating from another
    /// registry).
    Import,
}

impl Mode {
    /// The mode's name as registries spell it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::ReadWrite => "READWRITE",
            Self::ReadOnly => "READONLY",
            Self::Import => "IMPORT",
        }
    }

    /// Parses a mode name, ignoring case.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        [Self::ReadWrite, Self::ReadOnly, Self::Import]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
    }
}

/// A schema offered for registration, checked and in canonical form.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    /// `AVRO`.
    pub(crate) schema_type: String,
    /// The text as given.
    pub(crate) text: String,
    /// The canonical JSON; equal canonical forms (and references) are the same schema.
    pub(crate) canonical: String,
    /// References to other subjects' versions.
    pub(crate) references: Vec<SchemaReference>,
}

/// A schema as the registry stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredSchema {
    /// Global id.
    pub(crate) id: SchemaId,
    /// `AVRO`.
    pub(crate) schema_type: String,
    /// The text as first registered.
    pub(crate) text: String,
    /// References to other subjects' types.
    pub(crate) references: Vec<SchemaReference>,
}

/// A schema under a subject at a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredVersion {
    /// The subject.
    pub(crate) subject: String,
    /// The version, from 1.
    pub(crate) version: i64,
    /// The schema.
    pub(crate) schema: StoredSchema,
    /// Whether the version is soft-deleted.
    pub(crate) deleted: bool,
}

/// A product table that a subject's schemas must fit (cross-surface compatibility).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TableBinding {
    /// The product, `<domain>.<product>`.
    pub(crate) product: String,
    /// Its table's partition columns.
    pub(crate) partition_columns: Vec<String>,
    /// The table's current row schema (the latest version of `<product>-table`) with the
    /// texts of the schemas it references, if one is registered.
    pub(crate) current: Option<(StoredSchema, Vec<String>)>,
}

/// What a registration must be checked against.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RegisterContext {
    /// The level in force for the subject.
    pub(crate) level: Level,
    /// Live versions of the subject, oldest first, with the texts of their references.
    pub(crate) earlier: Vec<(StoredVersion, Vec<String>)>,
    /// The texts of the candidate's references, definitions first.
    pub(crate) candidate_references: Vec<String>,
    /// The tables the subject feeds.
    pub(crate) tables: Vec<TableBinding>,
}

/// What a registration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RegisterOutcome {
    /// A new version was created.
    Registered {
        /// The schema's id.
        id: SchemaId,
        /// The new version.
        version: i64,
    },
    /// The subject already held the schema.
    Existing {
        /// The schema's id.
        id: SchemaId,
        /// The version holding it.
        version: i64,
    },
    /// The subject (or the registry) is read-only.
    ReadOnly,
    /// Ids and versions can be given only in IMPORT mode, or the id is taken.
    ImportRefused(String),
    /// A reference names a subject version that does not exist.
    MissingReference(String),
    /// The checks refused the schema.
    Refused(Vec<String>),
    /// Every schema id up to [`MAX_SCHEMA_ID`] has been handed out (or imported past), or
    /// the subject has used every version number up to [`MAX_VERSION`]: says which.
    Exhausted(String),
}

/// The outcome of a delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeleteOutcome<T> {
    /// Done.
    Deleted(T),
    /// 40401.
    SubjectNotFound,
    /// 40402.
    VersionNotFound,
    /// 40404: soft-deleted already; a permanent delete is needed.
    SubjectSoftDeleted,
    /// 40405: a permanent delete needs a soft delete first.
    SubjectNotSoftDeleted,
    /// 40406.
    VersionSoftDeleted,
    /// 40407.
    VersionNotSoftDeleted,
    /// 42206: another schema references it.
    Referenced(Vec<SchemaId>),
    /// The subject (or the registry) is read-only.
    ReadOnly,
}

/// A canonical JSON rendering: object keys sorted, no whitespace. Two schema texts that
/// differ only in layout or key order get the same rendering, hence the same id.
pub(crate) fn canonical_json(value: &serde_json::Value) -> String {
    fn write(value: &serde_json::Value, out: &mut String) {
        match value {
            serde_json::Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::String(k.clone()).to_string());
                    out.push(':');
                    write(&map[k], out);
                }
                out.push('}');
            }
            serde_json::Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn fingerprint(candidate: &Candidate) -> String {
    let mut hash = Sha256::new();
    hash.update(candidate.schema_type.as_bytes());
    hash.update([0]);
    hash.update(candidate.canonical.as_bytes());
    hash.update([0]);
    hash.update(json_text(&candidate.references).as_bytes());
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A stored id as the API hands it out. Ids are handed out and imported only in
/// `[1, MAX_SCHEMA_ID]`; a row outside it is refused, never clamped onto another schema's id.
fn schema_id(id: i64) -> Result<SchemaId> {
    SchemaId::try_from(id)
        .ok()
        .filter(|id| (SchemaId(1)..=MAX_SCHEMA_ID).contains(id))
        .ok_or_else(|| crate::Error::Store {
            operation: READ,
            source: sqlx::Error::Decode(format!("schema id {id} is out of range").into()),
        })
}

const READ: &str = "read the registry";

fn schema_from_row(row: &AnyRow) -> Result<StoredSchema> {
    Ok(StoredSchema {
        id: schema_id(get(row, "id", READ)?)?,
        schema_type: get(row, "schema_type", READ)?,
        text: get(row, "schema_text", READ)?,
        references: from_json_text(
            &get::<String>(row, "references_json", READ)?,
            "schema references",
        )?,
    })
}

fn version_from_row(row: &AnyRow) -> Result<StoredVersion> {
    Ok(StoredVersion {
        subject: get(row, "subject", READ)?,
        version: get(row, "version", READ)?,
        deleted: get::<i64>(row, "deleted", READ)? != 0,
        schema: schema_from_row(row)?,
    })
}

/// The longest chain of references resolved (a schema referencing one referencing one ...).
const MAX_REFERENCE_DEPTH: usize = 32;
/// The most schemas one schema may reference, directly or through theirs.
const MAX_REFERENCED_SCHEMAS: usize = 1_000;

const VERSION_COLUMNS: &str = "SELECT v.subject, v.version, v.deleted, s.id, s.schema_type, \
    s.schema_text, s.references_json FROM subject_versions v JOIN schemas s ON s.id = v.schema_id";

/// The subject whose latest version holds a product's row schema.
fn table_subject(product: &str) -> String {
    format!("{product}-table")
}

impl Store {
    async fn versions_in(
        tx: &mut Tx,
        subject: &str,
        include_deleted: bool,
    ) -> Result<Vec<StoredVersion>> {
        let query = if include_deleted {
            format!("{VERSION_COLUMNS} WHERE v.subject = $1 ORDER BY v.version")
        } else {
            format!("{VERSION_COLUMNS} WHERE v.subject = $1 AND v.deleted = 0 ORDER BY v.version")
        };
        sqlx::query(&query)
            .bind(subject)
            .fetch_all(&mut **tx)
            .await
            .map_err(db(READ))?
            .iter()
            .map(version_from_row)
            .collect()
    }

    /// The version a reference names; `None` if there is none. `-1` (in references stored
    /// before they were pinned at registration) means the newest live version.
    async fn referenced_version(tx: &mut Tx, r: &SchemaReference) -> Result<Option<StoredVersion>> {
        let query = if r.version == -1 {
            format!(
                "{VERSION_COLUMNS} WHERE v.subject = $1 AND v.deleted = 0 ORDER BY v.version DESC LIMIT 1"
            )
        } else {
            format!("{VERSION_COLUMNS} WHERE v.subject = $1 AND v.version = $2")
        };
        let mut q = sqlx::query(&query).bind(&r.subject);
        if r.version != -1 {
            q = q.bind(r.version);
        }
        q.fetch_optional(&mut **tx)
            .await
            .map_err(db(READ))?
            .as_ref()
            .map(version_from_row)
            .transpose()
    }

    /// The texts of the schemas `references` name, directly or through their own references,
    /// each once, definitions before uses; `Err` says why they cannot be resolved (a missing
    /// version, a cycle, too deep or too many).
    ///
    /// One walk with one visited set: a schema reached twice is resolved once, and a schema
    /// reached again while its own references are being resolved is a cycle (possible only
    /// through `-1` references stored before registration pinned them).
    async fn reference_texts(
        tx: &mut Tx,
        references: &[SchemaReference],
    ) -> Result<Result<Vec<String>, String>> {
        struct Frame {
            /// The schema whose references these are; `None` for the caller's own.
            schema: Option<(SchemaId, String)>,
            references: Vec<SchemaReference>,
            next: usize,
        }
        let mut done: HashSet<SchemaId> = HashSet::new();
        let mut resolving: HashSet<SchemaId> = HashSet::new();
        let mut out = Vec::new();
        let mut stack = vec![Frame {
            schema: None,
            references: references.to_vec(),
            next: 0,
        }];
        while let Some(top) = stack.last_mut() {
            let Some(r) = top.references.get(top.next).cloned() else {
                if let Some(Frame {
                    schema: Some((id, text)),
                    ..
                }) = stack.pop()
                {
                    resolving.remove(&id);
                    done.insert(id);
                    out.push(text);
                }
                continue;
            };
            top.next += 1;
            let Some(version) = Self::referenced_version(tx, &r).await? else {
                return Ok(Err(format!(
                    "reference {} points at subject '{}' version {}, which does not exist",
                    r.name, r.subject, r.version
                )));
            };
            let id = version.schema.id;
            if done.contains(&id) {
                continue;
            }
            if resolving.contains(&id) {
                return Ok(Err(format!(
                    "reference {} (subject '{}' version {}) leads back to a schema that references it; references cannot form a cycle",
                    r.name, r.subject, r.version
                )));
            }
            if stack.len() > MAX_REFERENCE_DEPTH {
                return Ok(Err(format!(
                    "references nest more than {MAX_REFERENCE_DEPTH} deep (at {} in subject '{}')",
                    r.name, r.subject
                )));
            }
            if done.len() + resolving.len() >= MAX_REFERENCED_SCHEMAS {
                return Ok(Err(format!(
                    "the schema references more than {MAX_REFERENCED_SCHEMAS} schemas, directly or through theirs"
                )));
            }
            resolving.insert(id);
            stack.push(Frame {
                schema: Some((id, version.schema.text)),
                references: version.schema.references,
                next: 0,
            });
        }
        Ok(Ok(out))
    }

    /// Pins every `-1` ("latest") reference of `candidate` to the version that is newest
    /// now, so that what a schema id stands for never changes when a referenced subject moves
    /// on (and references cannot form cycles); `Err` names one that does not resolve.
    pub(crate) async fn pin_references(
        &self,
        candidate: &mut Candidate,
    ) -> Result<Result<(), String>> {
        if candidate.references.iter().all(|r| r.version != -1) {
            return Ok(Ok(()));
        }
        let mut tx = self.begin().await?;
        for r in &mut candidate.references {
            if r.version != -1 {
                continue;
            }
            match Self::referenced_version(&mut tx, r).await? {
                Some(v) => r.version = v.version,
                None => {
                    return Ok(Err(format!(
                        "reference {} points at subject '{}', which has no live version",
                        r.name, r.subject
                    )));
                }
            }
        }
        tx.commit().await.map_err(db("finish a read"))?;
        Ok(Ok(()))
    }

    async fn setting(tx: &mut Tx, scope: &str, column: &str) -> Result<Option<String>> {
        let query = format!("SELECT {column} FROM registry_config WHERE scope = $1");
        let row = sqlx::query(&query)
            .bind(scope)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db(READ))?;
        match row {
            Some(row) => row.try_get::<Option<String>, _>(0).map_err(db(READ)),
            None => Ok(None),
        }
    }

    async fn level_in(tx: &mut Tx, subject: &str) -> Result<Level> {
        let value = match Self::setting(tx, subject, "compatibility").await? {
            Some(v) => Some(v),
            None => Self::setting(tx, "", "compatibility").await?,
        };
        Ok(value.and_then(|v| v.parse().ok()).unwrap_or_default())
    }

    async fn mode_in(tx: &mut Tx, subject: &str) -> Result<Mode> {
        let value = match Self::setting(tx, subject, "mode").await? {
            Some(v) => Some(v),
            None => Self::setting(tx, "", "mode").await?,
        };
        Ok(value.and_then(|v| Mode::parse(&v)).unwrap_or_default())
    }

    /// The product tables a subject's schemas must fit: a `<product>-table` subject is the
    /// table's own row schema; the `<topic>-value` subject of a stream that sinks write into
    /// tables must fit each of those tables. Only the topic's own domain can feed a table
    /// from it: a binding another domain declared (refused since, but possibly stored) is
    /// ignored, so no domain has a say over another's schemas.
    async fn table_bindings(tx: &mut Tx, subject: &str) -> Result<Vec<TableBinding>> {
        let ports = if let Some(product) = subject.strip_suffix("-table") {
            sqlx::query(
                "SELECT product_id, partition_columns_json FROM table_ports WHERE product_id = $1",
            )
            .bind(product)
            .fetch_all(&mut **tx)
            .await
            .map_err(db(READ))?
        } else if let Some(topic) = subject.strip_suffix("-value") {
            let domain = topic.split_once('.').map_or(topic, |(d, _)| d);
            let rows = sqlx::query(
                "SELECT product_id, partition_columns_json FROM table_ports WHERE source_topic = $1 \
                 ORDER BY product_id",
            )
            .bind(topic)
            .fetch_all(&mut **tx)
            .await
            .map_err(db(READ))?;
            let mut own = Vec::with_capacity(rows.len());
            for row in rows {
                let product: String = get(&row, "product_id", READ)?;
                if product.split_once('.').is_some_and(|(d, _)| d == domain) {
                    own.push(row);
                }
            }
            own
        } else {
            Vec::new()
        };
        let mut bindings = Vec::with_capacity(ports.len());
        for port in ports {
            let product: String = get(&port, "product_id", READ)?;
            let partition_columns = from_json_text(
                &get::<String>(&port, "partition_columns_json", READ)?,
                "partition columns",
            )?;
            let current = match Self::versions_in(tx, &table_subject(&product), false)
                .await?
                .pop()
            {
                Some(v) => {
                    let refs = Self::reference_texts(tx, &v.schema.references)
                        .await?
                        .unwrap_or_default();
                    Some((v.schema, refs))
                }
                None => None,
            };
            bindings.push(TableBinding {
                product,
                partition_columns,
                current,
            });
        }
        Ok(bindings)
    }

    async fn context_in(
        tx: &mut Tx,
        subject: &str,
        candidate: &Candidate,
    ) -> Result<Result<RegisterContext, String>> {
        let candidate_references = match Self::reference_texts(tx, &candidate.references).await? {
            Ok(texts) => texts,
            Err(missing) => return Ok(Err(missing)),
        };
        let mut earlier = Vec::new();
        for v in Self::versions_in(tx, subject, false).await? {
            let refs = Self::reference_texts(tx, &v.schema.references)
                .await?
                .unwrap_or_default();
            earlier.push((v, refs));
        }
        Ok(Ok(RegisterContext {
            level: Self::level_in(tx, subject).await?,
            earlier,
            candidate_references,
            tables: Self::table_bindings(tx, subject).await?,
        }))
    }

    /// What registering `candidate` under `subject` would be checked against, without
    /// registering; `Err` names a reference that does not resolve.
    pub(crate) async fn register_context(
        &self,
        subject: &str,
        candidate: &Candidate,
    ) -> Result<Result<RegisterContext, String>> {
        let mut tx = self.begin().await?;
        let context = Self::context_in(&mut tx, subject, candidate).await?;
        tx.commit().await.map_err(db("finish a read"))?;
        Ok(context)
    }

    /// Registers `candidate` under `subject`, unless the subject already holds it. `check`
    /// sees what the schema must be compatible with and returns the reasons to refuse it.
    /// `import` carries the id (and version) given in IMPORT mode.
    pub(crate) async fn register_schema(
        &self,
        subject: &str,
        candidate: &Candidate,
        import: Option<(SchemaId, Option<i64>)>,
        audit: &Audit<'_>,
        check: impl FnOnce(&RegisterContext) -> std::result::Result<(), Vec<String>> + Send,
    ) -> Result<RegisterOutcome> {
        let print = fingerprint(candidate);
        let _writer = self.writer().await;
        let mut tx = self.begin().await?;
        Self::lock(&mut tx, "registry").await?;
        let existing: Option<i64> = sqlx::query("SELECT id FROM schemas WHERE fingerprint = $1")
            .bind(&print)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(READ))?
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(db(READ))?;
        if let Some(id) = existing {
            let held: Option<i64> = sqlx::query(
                "SELECT version FROM subject_versions WHERE subject = $1 AND schema_id = $2 AND deleted = 0",
            )
            .bind(subject)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(READ))?
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(db(READ))?;
            if let Some(version) = held {
                return Ok(RegisterOutcome::Existing {
                    id: schema_id(id)?,
                    version,
                });
            }
        }
        let mode = Self::mode_in(&mut tx, subject).await?;
        match (mode, import) {
            (Mode::ReadOnly, _) => return Ok(RegisterOutcome::ReadOnly),
            (Mode::ReadWrite, Some(_)) => {
                return Ok(RegisterOutcome::ImportRefused(
                    "an id or version can be given only when the subject is in IMPORT mode".into(),
                ));
            }
            _ => {}
        }
        let context = match Self::context_in(&mut tx, subject, candidate).await? {
            Ok(c) => c,
            Err(missing) => return Ok(RegisterOutcome::MissingReference(missing)),
        };
        // Imports bring history as it was: no compatibility check.
        if mode != Mode::Import
            && let Err(reasons) = check(&context)
        {
            return Ok(RegisterOutcome::Refused(reasons));
        }
        let id = match (existing, import) {
            (Some(id), Some((wanted, _))) if schema_id(id)? != wanted => {
                return Ok(RegisterOutcome::ImportRefused(format!(
                    "this schema is registered with id {id} already, not {wanted}"
                )));
            }
            (Some(id), _) => id,
            (None, Some((wanted, _))) => {
                if !(SchemaId(1)..=MAX_SCHEMA_ID).contains(&wanted) {
                    return Ok(RegisterOutcome::ImportRefused(format!(
                        "schema id {wanted} is out of range: ids are in [1, {MAX_SCHEMA_ID}]"
                    )));
                }
                let wanted = i64::from(wanted);
                let taken = sqlx::query("SELECT 1 FROM schemas WHERE id = $1")
                    .bind(wanted)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db(READ))?
                    .is_some();
                if taken {
                    return Ok(RegisterOutcome::ImportRefused(format!(
                        "schema id {wanted} is taken by another schema"
                    )));
                }
                // Keep the sequence past every imported id so it never hands one out again.
                sqlx::query(
                    "UPDATE sequences SET next_value = $1 WHERE name = 'schema_id' AND next_value <= $2",
                )
                .bind(wanted + 1)
                .bind(wanted)
                .execute(&mut *tx)
                .await
                .map_err(db("advance a sequence"))?;
                Self::insert_schema(&mut tx, wanted, candidate, &print).await?;
                wanted
            }
            (None, None) => {
                let id = Self::next_value(&mut tx, "schema_id").await?;
                if id > i64::from(MAX_SCHEMA_ID) {
                    return Ok(RegisterOutcome::Exhausted(format!(
                        "every schema id up to {MAX_SCHEMA_ID} has been handed out"
                    )));
                }
                Self::insert_schema(&mut tx, id, candidate, &print).await?;
                id
            }
        };
        let version = match import.and_then(|(_, v)| v) {
            Some(v) if !(1..=MAX_VERSION).contains(&v) => {
                return Ok(RegisterOutcome::ImportRefused(format!(
                    "version {v} is out of range: versions are in [1, {MAX_VERSION}]"
                )));
            }
            Some(v) => {
                let taken = sqlx::query(
                    "SELECT 1 FROM subject_versions WHERE subject = $1 AND version = $2",
                )
                .bind(subject)
                .bind(v)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db(READ))?
                .is_some();
                if taken {
                    return Ok(RegisterOutcome::ImportRefused(format!(
                        "version {v} of '{subject}' exists already"
                    )));
                }
                v
            }
            None => sqlx::query(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM subject_versions WHERE subject = $1",
            )
            .bind(subject)
            .fetch_one(&mut *tx)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(db("number a subject version"))?,
        };
        if version > MAX_VERSION {
            return Ok(RegisterOutcome::Exhausted(format!(
                "subject '{subject}' has used every version number up to {MAX_VERSION}"
            )));
        }
        sqlx::query(
            "INSERT INTO subject_versions (subject, version, schema_id, deleted, created_at) \
             VALUES ($1, $2, $3, 0, $4)",
        )
        .bind(subject)
        .bind(version)
        .bind(id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db("store a subject version"))?;
        Self::audit(
            &mut tx,
            audit,
            &format!("version {version}, schema id {id}"),
        )
        .await?;
        tx.commit().await.map_err(db("commit a registration"))?;
        Ok(RegisterOutcome::Registered {
            id: schema_id(id)?,
            version,
        })
    }

    async fn insert_schema(tx: &mut Tx, id: i64, candidate: &Candidate, print: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO schemas (id, schema_type, schema_text, fingerprint, references_json, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(&candidate.schema_type)
        .bind(&candidate.text)
        .bind(print)
        .bind(json_text(&candidate.references))
        .bind(now_ms())
        .execute(&mut **tx)
        .await
        .map_err(db("store a schema"))?;
        for r in &candidate.references {
            sqlx::query(
                "INSERT INTO schema_references (schema_id, name, subject, version) VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(&r.name)
            .bind(&r.subject)
            .bind(r.version)
            .execute(&mut **tx)
            .await
            .map_err(db("store a schema reference"))?;
        }
        Ok(())
    }

    /// The schema with `id`, if any subject ever registered it.
    pub(crate) async fn schema_by_id(&self, id: SchemaId) -> Result<Option<Arc<StoredSchema>>> {
        if let Some(hit) = self.schema_cache().get(id) {
            return Ok(Some(hit));
        }
        let found = sqlx::query(
            "SELECT id, schema_type, schema_text, references_json FROM schemas WHERE id = $1",
        )
        .bind(i64::from(id))
        .fetch_optional(self.pool())
        .await
        .map_err(db(READ))?
        .as_ref()
        .map(schema_from_row)
        .transpose()?
        .map(Arc::new);
        if let Some(schema) = &found {
            self.schema_cache().put(Arc::clone(schema));
        }
        Ok(found)
    }

    /// Subjects with a live version (or any version, with `include_deleted`), sorted.
    pub(crate) async fn subjects(
        &self,
        include_deleted: bool,
        prefix: &str,
    ) -> Result<Vec<String>> {
        let query = if include_deleted {
            "SELECT DISTINCT subject FROM subject_versions ORDER BY subject"
        } else {
            "SELECT DISTINCT subject FROM subject_versions WHERE deleted = 0 ORDER BY subject"
        };
        let rows = sqlx::query(query)
            .fetch_all(self.pool())
            .await
            .map_err(db(READ))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let s: String = r.try_get(0).map_err(db(READ))?;
            if s.starts_with(prefix) {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// The versions of `subject`, ascending; empty when the subject is unknown.
    pub(crate) async fn versions(&self, subject: &str, include_deleted: bool) -> Result<Vec<i64>> {
        let mut tx = self.begin().await?;
        let versions = Self::versions_in(&mut tx, subject, include_deleted).await?;
        tx.commit().await.map_err(db("finish a read"))?;
        Ok(versions.into_iter().map(|v| v.version).collect())
    }

    /// A version of `subject`; `None` asks for the latest.
    pub(crate) async fn version(
        &self,
        subject: &str,
        version: Option<i64>,
        include_deleted: bool,
    ) -> Result<Option<StoredVersion>> {
        let mut tx = self.begin().await?;
        let versions = Self::versions_in(&mut tx, subject, include_deleted).await?;
        tx.commit().await.map_err(db("finish a read"))?;
        Ok(match version {
            None => versions.into_iter().last(),
            Some(n) => versions.into_iter().find(|v| v.version == n),
        })
    }

    /// The version of `subject` holding `candidate`, if any.
    pub(crate) async fn lookup(
        &self,
        subject: &str,
        candidate: &Candidate,
        include_deleted: bool,
    ) -> Result<Option<StoredVersion>> {
        let print = fingerprint(candidate);
        let mut query = format!("{VERSION_COLUMNS} WHERE v.subject = $1 AND s.fingerprint = $2");
        if !include_deleted {
            query.push_str(" AND v.deleted = 0");
        }
        query.push_str(" ORDER BY v.version DESC LIMIT 1");
        sqlx::query(&query)
            .bind(subject)
            .bind(&print)
            .fetch_optional(self.pool())
            .await
            .map_err(db(READ))?
            .as_ref()
            .map(version_from_row)
            .transpose()
    }

    /// The subject versions holding schema `id`.
    pub(crate) async fn versions_of_id(
        &self,
        id: SchemaId,
        include_deleted: bool,
    ) -> Result<Vec<(String, i64)>> {
        let mut query =
            String::from("SELECT subject, version FROM subject_versions WHERE schema_id = $1");
        if !include_deleted {
            query.push_str(" AND deleted = 0");
        }
        query.push_str(" ORDER BY subject, version");
        let rows = sqlx::query(&query)
            .bind(i64::from(id))
            .fetch_all(self.pool())
            .await
            .map_err(db(READ))?;
        rows.iter()
            .map(|r| Ok((get(r, "subject", READ)?, get(r, "version", READ)?)))
            .collect()
    }

    async fn referenced_by_in(
        tx: &mut Tx,
        subject: &str,
        version: Option<i64>,
    ) -> Result<Vec<SchemaId>> {
        // Only schemas still live under some subject hold a reference open.
        let mut query = String::from(
            "SELECT DISTINCT r.schema_id FROM schema_references r \
             JOIN subject_versions v ON v.schema_id = r.schema_id AND v.deleted = 0 \
             WHERE r.subject = $1",
        );
        if version.is_some() {
            query.push_str(" AND r.version = $2");
        }
        query.push_str(" ORDER BY r.schema_id");
        let mut q = sqlx::query(&query).bind(subject);
        if let Some(v) = version {
            q = q.bind(v);
        }
        let rows = q.fetch_all(&mut **tx).await.map_err(db(READ))?;
        rows.iter()
            .map(|r| schema_id(r.try_get(0).map_err(db(READ))?))
            .collect()
    }

    /// Ids of live schemas that reference `subject` at `version`.
    pub(crate) async fn referenced_by(&self, subject: &str, version: i64) -> Result<Vec<SchemaId>> {
        let mut tx = self.begin().await?;
        let ids = Self::referenced_by_in(&mut tx, subject, Some(version)).await?;
        tx.commit().await.map_err(db("finish a read"))?;
        Ok(ids)
    }

    /// Deletes a whole subject: soft (versions hidden, numbers kept) or, after a soft
    /// delete, permanent. Returns the versions deleted.
    pub(crate) async fn delete_subject(
        &self,
        subject: &str,
        permanent: bool,
        audit: &Audit<'_>,
    ) -> Result<DeleteOutcome<Vec<i64>>> {
        let _writer = self.writer().await;
        let mut tx = self.begin().await?;
        Self::lock(&mut tx, "registry").await?;
        if Self::mode_in(&mut tx, subject).await? == Mode::ReadOnly {
            return Ok(DeleteOutcome::ReadOnly);
        }
        let all = Self::versions_in(&mut tx, subject, true).await?;
        if all.is_empty() {
            return Ok(DeleteOutcome::SubjectNotFound);
        }
        let live: Vec<i64> = all
            .iter()
            .filter(|v| !v.deleted)
            .map(|v| v.version)
            .collect();
        let referenced = Self::referenced_by_in(&mut tx, subject, None).await?;
        let versions = if permanent {
            if !live.is_empty() {
                return Ok(DeleteOutcome::SubjectNotSoftDeleted);
            }
            if !referenced.is_empty() {
                return Ok(DeleteOutcome::Referenced(referenced));
            }
            sqlx::query("DELETE FROM subject_versions WHERE subject = $1")
                .bind(subject)
                .execute(&mut *tx)
                .await
                .map_err(db("delete a subject"))?;
            sqlx::query("DELETE FROM registry_config WHERE scope = $1")
                .bind(subject)
                .execute(&mut *tx)
                .await
                .map_err(db("delete a subject"))?;
            all.iter().map(|v| v.version).collect()
        } else {
            if live.is_empty() {
                return Ok(DeleteOutcome::SubjectSoftDeleted);
            }
            if !referenced.is_empty() {
                return Ok(DeleteOutcome::Referenced(referenced));
            }
            sqlx::query("UPDATE subject_versions SET deleted = 1 WHERE subject = $1")
                .bind(subject)
                .execute(&mut *tx)
                .await
                .map_err(db("delete a subject"))?;
            live
        };
        let kind = if permanent { "permanently" } else { "softly" };
        Self::audit(
            &mut tx,
            audit,
            &format!("versions {versions:?} deleted {kind}"),
        )
        .await?;
        tx.commit().await.map_err(db("commit a delete"))?;
        Ok(DeleteOutcome::Deleted(versions))
    }

    /// Deletes one version (`None`: the latest live one): soft, or permanent after soft.
    pub(crate) async fn delete_version(
        &self,
        subject: &str,
        version: Option<i64>,
        permanent: bool,
        audit: &Audit<'_>,
    ) -> Result<DeleteOutcome<i64>> {
        let _writer = self.writer().await;
        let mut tx = self.begin().await?;
        Self::lock(&mut tx, "registry").await?;
        if Self::mode_in(&mut tx, subject).await? == Mode::ReadOnly {
            return Ok(DeleteOutcome::ReadOnly);
        }
        let all = Self::versions_in(&mut tx, subject, true).await?;
        if all.is_empty() {
            return Ok(DeleteOutcome::SubjectNotFound);
        }
        let target = match version {
            Some(n) => all.iter().find(|v| v.version == n),
            None => all.iter().rev().find(|v| !v.deleted),
        };
        let Some(target) = target else {
            return Ok(DeleteOutcome::VersionNotFound);
        };
        let n = target.version;
        match (permanent, target.deleted) {
            (false, true) => return Ok(DeleteOutcome::VersionSoftDeleted),
            (true, false) => return Ok(DeleteOutcome::VersionNotSoftDeleted),
            _ => {}
        }
        let referenced = Self::referenced_by_in(&mut tx, subject, Some(n)).await?;
        if !referenced.is_empty() {
            return Ok(DeleteOutcome::Referenced(referenced));
        }
        let statement = if permanent {
            "DELETE FROM subject_versions WHERE subject = $1 AND version = $2"
        } else {
            "UPDATE subject_versions SET deleted = 1 WHERE subject = $1 AND version = $2"
        };
        sqlx::query(statement)
            .bind(subject)
            .bind(n)
            .execute(&mut *tx)
            .await
            .map_err(db("delete a version"))?;
        let kind = if permanent { "permanently" } else { "softly" };
        Self::audit(&mut tx, audit, &format!("version {n} deleted {kind}")).await?;
        tx.commit().await.map_err(db("commit a delete"))?;
        Ok(DeleteOutcome::Deleted(n))
    }

    /// The compatibility level set at `scope` (`""` is global), if set there.
    pub(crate) async fn compatibility(&self, scope: &str) -> Result<Option<String>> {
        let mut tx = self.begin().await?;
        let v = Self::setting(&mut tx, scope, "compatibility").await?;
        tx.commit().await.map_err(db("finish a read"))?;
        Ok(v)
    }

    /// The mode set at `scope` (`""` is global), if set there.
    pub(crate) async fn mode(&self, scope: &str) -> Result<Option<String>> {
        let mut tx = self.begin().await?;
        let v = Self::setting(&mut tx, scope, "mode").await?;
        tx.commit().await.map_err(db("finish a read"))?;
        Ok(v)
    }

    /// Sets (or with `None` clears) the compatibility level or mode at `scope`.
    /// Returns the previous value.
    pub(crate) async fn set_setting(
        &self,
        scope: &str,
        column: Setting,
        value: Option<&str>,
        audit: &Audit<'_>,
    ) -> Result<Option<String>> {
        let column_name = column.column();
        let _writer = self.writer().await;
        let mut tx = self.begin().await?;
        // Read, then write: take the registry's lock first (SQLite cannot upgrade a read
        // lock while another writer holds the database, and modes decide registrations).
        Self::lock(&mut tx, "registry").await?;
        let previous = Self::setting(&mut tx, scope, column_name).await?;
        let statement = format!(
            "INSERT INTO registry_config (scope, {column_name}) VALUES ($1, $2) \
             ON CONFLICT (scope) DO UPDATE SET {column_name} = excluded.{column_name}"
        );
        sqlx::query(&statement)
            .bind(scope)
            .bind(value.map(str::to_owned))
            .execute(&mut *tx)
            .await
            .map_err(db("store a registry setting"))?;
        Self::audit(
            &mut tx,
            audit,
            &format!("{column_name} = {}", value.unwrap_or("(cleared)")),
        )
        .await?;
        tx.commit().await.map_err(db("commit a registry setting"))?;
        Ok(previous)
    }
}

/// A registry setting stored per scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setting {
    /// The compatibility level.
    Compatibility,
    /// The mode.
    Mode,
}

impl Setting {
    fn column(self) -> &'static str {
        match self {
            Self::Compatibility => "compatibility",
            Self::Mode => "mode",
        }
    }
}
