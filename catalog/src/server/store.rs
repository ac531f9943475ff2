//! The catalog's storage: one code path over SQLite and Postgres (`sqlx::Any`), chosen by
//! the database URL's scheme. Queries use `$n` placeholders, which both backends accept,
//! and only `TEXT`/`BIGINT` columns.

use std::time::{SystemTime, UNIX_EPOCH};

use mesh_core::{DomainName, ProductId, Subject};
use sha2::{Digest, Sha256};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::error::{Error, Result};
use crate::model::registry::SchemaReference;
use crate::model::{
    DataProduct, Domain, PartitionOffset, SchemaId, Sla, StreamPort, TablePort, TableVersion,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (or `sqlite::memory:`).
    Sqlite,
    /// A Postgres server.
    Postgres,
}

/// The catalog's database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// A schema as the registry stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSchema {
    /// Global id.
    pub id: SchemaId,
    /// `AVRO`.
    pub schema_type: String,
    /// The text as first registered.
    pub text: String,
    /// References to other subjects' types.
    pub references: Vec<SchemaReference>,
}

/// A schema under a subject at a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    /// The subject.
    pub subject: String,
    /// The version, from 1.
    pub version: i64,
    /// The schema.
    pub schema: StoredSchema,
}

/// What a registration did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered {
    /// The schema's id.
    pub id: SchemaId,
    /// The subject version holding it.
    pub version: i64,
    /// False when the subject already held this schema and nothing changed.
    pub created: bool,
}

/// The outcome of recording a table version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionOutcome {
    /// Recorded (or already recorded with the same content).
    Recorded(TableVersion),
    /// The product does not exist.
    UnknownProduct,
    /// That Delta version was already recorded with different content.
    Conflict(TableVersion),
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn db(operation: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error::Store { operation, source }
}

fn json_text<T: serde::Serialize>(value: &T) -> String {
    // Serializing plain data structs (strings, numbers, vectors) to JSON cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned())
}

fn from_json_text<T: serde::de::DeserializeOwned + Default>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_default()
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

fn fingerprint(schema_type: &str, canonical: &str, references: &[SchemaReference]) -> String {
    let mut hash = Sha256::new();
    hash.update(schema_type.as_bytes());
    hash.update([0]);
    hash.update(canonical.as_bytes());
    hash.update([0]);
    hash.update(json_text(&references).as_bytes());
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates the database at `url`:
    /// `sqlite://path/catalog.db`, `sqlite::memory:` or `postgres://user@host/db`.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if url.starts_with("sqlite:") {
            let url = if url.contains("mode=") || url.contains(":memory:") {
                url.to_owned()
            } else if url.contains('?') {
                format!("{url}&mode=rwc")
            } else {
                format!("{url}?mode=rwc")
            };
            (Backend::Sqlite, url)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(Error::InvalidUrl {
                url: url.to_owned(),
                reason: "the catalog database must be sqlite://... or postgres://...".to_owned(),
            });
        };
        let mut options = AnyPoolOptions::new();
        if url.contains(":memory:") {
            // Each SQLite memory connection is its own database: keep exactly one.
            options = options.max_connections(1).min_connections(1);
        }
        let pool = options
            .connect(&url)
            .await
            .map_err(db("connect to the database"))?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool, backend })
    }

    /// The database this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db("ping the database"))?;
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin(&self) -> Result<Transaction<'static, Any>> {
        self.pool.begin().await.map_err(db("begin a transaction"))
    }

    /// Takes the named lock for the rest of `tx`. Updating a row first makes SQLite take
    /// its write lock at once (instead of failing a read-to-write upgrade later) and makes
    /// Postgres queue concurrent writers on the row: registrations serialize on both.
    async fn lock(tx: &mut Transaction<'static, Any>, name: &str) -> Result<()> {
        sqlx::query("UPDATE locks SET generation = generation + 1 WHERE name = $1")
            .bind(name)
            .execute(&mut **tx)
            .await
            .map_err(db("take the registry lock"))?;
        Ok(())
    }

    // --- registry ---------------------------------------------------------------------

    /// Registers `text` under `subject`. The caller has checked the schema parses.
    pub async fn register_schema(
        &self,
        subject: &str,
        schema_type: &str,
        text: &str,
        canonical: &str,
        references: &[SchemaReference],
    ) -> Result<Registered> {
        let print = fingerprint(schema_type, canonical, references);
        let mut tx = self.begin().await?;
        Self::lock(&mut tx, "registry").await?;
        let existing: Option<i64> = sqlx::query("SELECT id FROM schemas WHERE fingerprint = $1")
            .bind(&print)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("look up a schema"))?
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(db("read a schema id"))?;
        let id = match existing {
            Some(id) => id,
            None => {
                let next: i64 = sqlx::query(
                    "UPDATE sequences SET next_value = next_value + 1 WHERE name = 'schema_id' \
                     RETURNING next_value",
                )
                .fetch_one(&mut *tx)
                .await
                .and_then(|row| row.try_get(0))
                .map_err(db("allocate a schema id"))?;
                let id = next - 1;
                sqlx::query(
                    "INSERT INTO schemas (id, schema_type, schema_text, fingerprint, \
                     references_json, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(schema_type)
                .bind(text)
                .bind(&print)
                .bind(json_text(&references))
                .bind(now_ms())
                .execute(&mut *tx)
                .await
                .map_err(db("store a schema"))?;
                id
            }
        };
        let schema_id = SchemaId::try_from(id).unwrap_or(SchemaId::MAX);
        let current: Option<i64> = sqlx::query(
            "SELECT version FROM subject_versions WHERE subject = $1 AND schema_id = $2 AND deleted = 0",
        )
        .bind(subject)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("look up a subject version"))?
        .map(|row| row.try_get(0))
        .transpose()
        .map_err(db("read a subject version"))?;
        if let Some(version) = current {
            tx.commit().await.map_err(db("commit a registration"))?;
            return Ok(Registered {
                id: schema_id,
                version,
                created: false,
            });
        }
        let version: i64 = sqlx::query(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM subject_versions WHERE subject = $1",
        )
        .bind(subject)
        .fetch_one(&mut *tx)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(db("number a subject version"))?;
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
        tx.commit().await.map_err(db("commit a registration"))?;
        Ok(Registered {
            id: schema_id,
            version,
            created: true,
        })
    }

    fn schema_from_row(row: &AnyRow) -> Result<StoredSchema> {
        let id: i64 = row.try_get("id").map_err(db("read a schema"))?;
        Ok(StoredSchema {
            id: SchemaId::try_from(id).unwrap_or(SchemaId::MAX),
            schema_type: row.try_get("schema_type").map_err(db("read a schema"))?,
            text: row.try_get("schema_text").map_err(db("read a schema"))?,
            references: from_json_text(
                &row.try_get::<String, _>("references_json")
                    .map_err(db("read a schema"))?,
            ),
        })
    }

    /// The schema with `id`, if any subject ever registered it.
    pub async fn schema_by_id(&self, id: SchemaId) -> Result<Option<StoredSchema>> {
        sqlx::query(
            "SELECT id, schema_type, schema_text, references_json FROM schemas WHERE id = $1",
        )
        .bind(i64::from(id))
        .fetch_optional(&self.pool)
        .await
        .map_err(db("read a schema"))?
        .as_ref()
        .map(Self::schema_from_row)
        .transpose()
    }

    /// Subjects with at least one live version, sorted.
    pub async fn subjects(&self) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT subject FROM subject_versions WHERE deleted = 0 ORDER BY subject",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("list subjects"))?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(db("read a subject")))
            .collect()
    }

    /// The live versions of `subject`, ascending; empty when the subject is unknown.
    pub async fn versions(&self, subject: &str) -> Result<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT version FROM subject_versions WHERE subject = $1 AND deleted = 0 ORDER BY version",
        )
        .bind(subject)
        .fetch_all(&self.pool)
        .await
        .map_err(db("list versions"))?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(db("read a version")))
            .collect()
    }

    /// A live version of `subject`; `None` asks for the latest.
    pub async fn version(
        &self,
        subject: &str,
        version: Option<i64>,
    ) -> Result<Option<StoredVersion>> {
        const COLUMNS: &str = "SELECT v.subject, v.version, s.id, s.schema_type, s.schema_text, \
            s.references_json FROM subject_versions v JOIN schemas s ON s.id = v.schema_id \
            WHERE v.subject = $1 AND v.deleted = 0";
        let query = match version {
            Some(_) => format!("{COLUMNS} AND v.version = $2"),
            None => format!("{COLUMNS} ORDER BY v.version DESC LIMIT 1"),
        };
        let mut q = sqlx::query(&query).bind(subject);
        if let Some(v) = version {
            q = q.bind(v);
        }
        let row = q
            .fetch_optional(&self.pool)
            .await
            .map_err(db("read a subject version"))?;
        row.map(|row| {
            Ok(StoredVersion {
                subject: row
                    .try_get("subject")
                    .map_err(db("read a subject version"))?,
                version: row
                    .try_get("version")
                    .map_err(db("read a subject version"))?,
                schema: Self::schema_from_row(&row)?,
            })
        })
        .transpose()
    }

    /// The live version of `subject` holding the schema with this canonical form, if any.
    pub async fn lookup(
        &self,
        subject: &str,
        schema_type: &str,
        canonical: &str,
        references: &[SchemaReference],
    ) -> Result<Option<StoredVersion>> {
        let print = fingerprint(schema_type, canonical, references);
        let version: Option<i64> = sqlx::query(
            "SELECT v.version FROM subject_versions v JOIN schemas s ON s.id = v.schema_id \
             WHERE v.subject = $1 AND v.deleted = 0 AND s.fingerprint = $2",
        )
        .bind(subject)
        .bind(&print)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("look up a schema"))?
        .map(|row| row.try_get(0))
        .transpose()
        .map_err(db("read a version"))?;
        match version {
            Some(v) => self.version(subject, Some(v)).await,
            None => Ok(None),
        }
    }

    // --- governance -------------------------------------------------------------------

    /// Creates or updates a domain.
    pub async fn upsert_domain(&self, domain: &Domain) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO domains (name, owner, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (name) DO UPDATE \
             SET owner = excluded.owner, description = excluded.description, updated_at = excluded.updated_at",
        )
        .bind(domain.name.as_str())
        .bind(&domain.owner)
        .bind(&domain.description)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db("store a domain"))?;
        Ok(())
    }

    fn domain_from_row(row: &AnyRow) -> Result<Domain> {
        let name: String = row.try_get("name").map_err(db("read a domain"))?;
        Ok(Domain {
            name: DomainName::new(name)?,
            owner: row.try_get("owner").map_err(db("read a domain"))?,
            description: row.try_get("description").map_err(db("read a domain"))?,
        })
    }

    /// A domain by name.
    pub async fn domain(&self, name: &DomainName) -> Result<Option<Domain>> {
        sqlx::query("SELECT name, owner, description FROM domains WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db("read a domain"))?
            .as_ref()
            .map(Self::domain_from_row)
            .transpose()
    }

    /// Every domain, by name.
    pub async fn domains(&self) -> Result<Vec<Domain>> {
        sqlx::query("SELECT name, owner, description FROM domains ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(db("list domains"))?
            .iter()
            .map(Self::domain_from_row)
            .collect()
    }

    /// Creates or replaces a product with its ports. Returns false when its domain does not
    /// exist (nothing is written then).
    pub async fn upsert_product(&self, product: &DataProduct) -> Result<bool> {
        let id = product.id.as_str();
        let now = now_ms();
        let mut tx = self.begin().await?;
        let domain_exists = sqlx::query("SELECT 1 FROM domains WHERE name = $1")
            .bind(product.id.domain().as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("look up a domain"))?
            .is_some();
        if !domain_exists {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO products (id, domain, description, tags_json, max_staleness_secs, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (id) DO UPDATE \
             SET description = excluded.description, tags_json = excluded.tags_json, \
             max_staleness_secs = excluded.max_staleness_secs, updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(product.id.domain().as_str())
        .bind(&product.description)
        .bind(json_text(&product.tags))
        .bind(
            product
                .sla
                .map(|s| i64::try_from(s.max_staleness_secs).unwrap_or(i64::MAX)),
        )
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db("store a product"))?;
        sqlx::query("DELETE FROM stream_ports WHERE product_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db("replace stream ports"))?;
        for port in &product.stream_ports {
            sqlx::query(
                "INSERT INTO stream_ports (product_id, topic, value_subject, key_subject) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(port.topic.as_str())
            .bind(port.value_subject.as_str())
            .bind(port.key_subject.as_ref().map(|s| s.as_str().to_owned()))
            .execute(&mut *tx)
            .await
            .map_err(db("store a stream port"))?;
        }
        sqlx::query("DELETE FROM table_ports WHERE product_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db("replace the table port"))?;
        if let Some(table) = &product.table_port {
            sqlx::query(
                "INSERT INTO table_ports (product_id, uri, partition_columns_json) VALUES ($1, $2, $3)",
            )
            .bind(id)
            .bind(&table.uri)
            .bind(json_text(&table.partition_columns))
            .execute(&mut *tx)
            .await
            .map_err(db("store the table port"))?;
        }
        tx.commit().await.map_err(db("commit a product"))?;
        Ok(true)
    }

    /// A product with its ports.
    pub async fn product(&self, id: &ProductId) -> Result<Option<DataProduct>> {
        let row = sqlx::query(
            "SELECT id, description, tags_json, max_staleness_secs FROM products WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db("read a product"))?;
        match row {
            Some(row) => Ok(Some(self.product_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    /// Every product, by id.
    pub async fn products(&self) -> Result<Vec<DataProduct>> {
        let rows = sqlx::query(
            "SELECT id, description, tags_json, max_staleness_secs FROM products ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("list products"))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(self.product_from_row(row).await?);
        }
        Ok(out)
    }

    async fn product_from_row(&self, row: &AnyRow) -> Result<DataProduct> {
        let read = || db("read a product");
        let id: String = row.try_get("id").map_err(read())?;
        let description: String = row.try_get("description").map_err(read())?;
        let tags: String = row.try_get("tags_json").map_err(read())?;
        let staleness: Option<i64> = row.try_get("max_staleness_secs").map_err(read())?;
        let streams = sqlx::query(
            "SELECT topic, value_subject, key_subject FROM stream_ports WHERE product_id = $1 ORDER BY topic",
        )
        .bind(&id)
        .fetch_all(&self.pool)
        .await
        .map_err(db("read stream ports"))?;
        let mut stream_ports = Vec::with_capacity(streams.len());
        for s in &streams {
            let topic: String = s.try_get("topic").map_err(db("read a stream port"))?;
            let value: String = s
                .try_get("value_subject")
                .map_err(db("read a stream port"))?;
            let key: Option<String> = s.try_get("key_subject").map_err(db("read a stream port"))?;
            stream_ports.push(StreamPort {
                topic: topic.parse()?,
                value_subject: Subject::new(value)?,
                key_subject: key.map(Subject::new).transpose()?,
            });
        }
        let table_port = sqlx::query(
            "SELECT uri, partition_columns_json FROM table_ports WHERE product_id = $1",
        )
        .bind(&id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("read the table port"))?
        .map(|t| -> Result<TablePort> {
            Ok(TablePort {
                uri: t.try_get("uri").map_err(db("read the table port"))?,
                partition_columns: from_json_text(
                    &t.try_get::<String, _>("partition_columns_json")
                        .map_err(db("read the table port"))?,
                ),
            })
        })
        .transpose()?;
        Ok(DataProduct {
            id: ProductId::parse(&id)?,
            description,
            tags: from_json_text(&tags),
            sla: staleness.map(|s| Sla {
                max_staleness_secs: u64::try_from(s).unwrap_or(0),
            }),
            stream_ports,
            table_port,
        })
    }

    /// Records a table version of a product.
    pub async fn record_table_version(
        &self,
        id: &ProductId,
        version: &TableVersion,
    ) -> Result<VersionOutcome> {
        let mut tx = self.begin().await?;
        let exists = sqlx::query("SELECT 1 FROM products WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("look up a product"))?
            .is_some();
        if !exists {
            return Ok(VersionOutcome::UnknownProduct);
        }
        if let Some(existing) = Self::table_version_in(&mut tx, id, Some(version.version)).await? {
            return Ok(if existing == *version {
                VersionOutcome::Recorded(existing)
            } else {
                VersionOutcome::Conflict(existing)
            });
        }
        sqlx::query(
            "INSERT INTO table_versions (product_id, delta_version, row_count, byte_count, schema_id, \
             offsets_json, committed_at, registered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id.as_str())
        .bind(version.version)
        .bind(i64::try_from(version.rows).unwrap_or(i64::MAX))
        .bind(i64::try_from(version.bytes).unwrap_or(i64::MAX))
        .bind(version.schema_id.map(i64::from))
        .bind(json_text(&version.offsets))
        .bind(version.committed_at_ms)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db("store a table version"))?;
        tx.commit().await.map_err(db("commit a table version"))?;
        Ok(VersionOutcome::Recorded(version.clone()))
    }

    fn table_version_from_row(row: &AnyRow) -> Result<TableVersion> {
        let read = || db("read a table version");
        let rows: i64 = row.try_get("row_count").map_err(read())?;
        let bytes: i64 = row.try_get("byte_count").map_err(read())?;
        let schema_id: Option<i64> = row.try_get("schema_id").map_err(read())?;
        let offsets: String = row.try_get("offsets_json").map_err(read())?;
        let offsets: Vec<PartitionOffset> = from_json_text(&offsets);
        Ok(TableVersion {
            version: row.try_get("delta_version").map_err(read())?,
            rows: u64::try_from(rows).unwrap_or(0),
            bytes: u64::try_from(bytes).unwrap_or(0),
            schema_id: schema_id.map(|s| SchemaId::try_from(s).unwrap_or(SchemaId::MAX)),
            offsets,
            committed_at_ms: row.try_get("committed_at").map_err(read())?,
        })
    }

    async fn table_version_in(
        tx: &mut Transaction<'static, Any>,
        id: &ProductId,
        version: Option<i64>,
    ) -> Result<Option<TableVersion>> {
        const COLUMNS: &str = "SELECT delta_version, row_count, byte_count, schema_id, offsets_json, \
            committed_at FROM table_versions WHERE product_id = $1";
        let query = match version {
            Some(_) => format!("{COLUMNS} AND delta_version = $2"),
            None => format!("{COLUMNS} ORDER BY delta_version DESC LIMIT 1"),
        };
        let mut q = sqlx::query(&query).bind(id.as_str());
        if let Some(v) = version {
            q = q.bind(v);
        }
        q.fetch_optional(&mut **tx)
            .await
            .map_err(db("read a table version"))?
            .as_ref()
            .map(Self::table_version_from_row)
            .transpose()
    }

    /// A recorded table version; `None` asks for the latest.
    pub async fn table_version(
        &self,
        id: &ProductId,
        version: Option<i64>,
    ) -> Result<Option<TableVersion>> {
        let mut tx = self.begin().await?;
        let out = Self::table_version_in(&mut tx, id, version).await?;
        tx.commit().await.map_err(db("finish a read"))?;
        Ok(out)
    }

    /// Every recorded version of a product's table, oldest first.
    pub async fn table_versions(&self, id: &ProductId) -> Result<Vec<TableVersion>> {
        sqlx::query(
            "SELECT delta_version, row_count, byte_count, schema_id, offsets_json, committed_at \
             FROM table_versions WHERE product_id = $1 ORDER BY delta_version",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db("list table versions"))?
        .iter()
        .map(Self::table_version_from_row)
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_ignores_layout_and_key_order() -> std::result::Result<(), serde_json::Error> {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"type": "record", "name": "A", "fields": []}"#)?;
        let b: serde_json::Value =
            serde_json::from_str("{\"fields\":[],\n \"name\":\"A\",\"type\":\"record\"}")?;
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            canonical_json(&a),
            r#"{"fields":[],"name":"A","type":"record"}"#
        );
        Ok(())
    }
}
