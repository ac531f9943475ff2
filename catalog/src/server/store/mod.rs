//! The catalog's storage: one code path over SQLite and Postgres (`sqlx::Any`), chosen by
//! the database URL's scheme. Queries use `$n` placeholders, which both backends accept,
//! and only `TEXT`/`BIGINT` columns; migrations are shared.
//!
//! Every mutation writes its audit row in the same transaction as the change.

mod governance;
pub(crate) mod registry;
mod security;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::error::{Error, Result};

pub(crate) use governance::VersionOutcome;
pub(crate) use registry::{
    Candidate, DeleteOutcome, Mode, RegisterContext, RegisterOutcome, StoredSchema, StoredVersion,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// A SQLite file (or `sqlite::memory:`).
    Sqlite,
    /// A Postgres server.
    Postgres,
}

/// The catalog's database.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    pool: AnyPool,
    backend: Backend,
    schemas: Arc<SchemaCache>,
    /// On SQLite, writers queue here, in order, before they touch the database: SQLite
    /// admits one writer at a time and makes the others poll with sleeps (its busy
    /// handler), which under load lets some wait seconds while holding a pooled connection
    /// readers need. Postgres queues writers itself, on row locks.
    writers: Option<Arc<tokio::sync::Mutex<()>>>,
}

/// Schemas by id. A schema row never changes and is never deleted (ids are never reused),
/// so a cached entry is never stale; the bound keeps memory flat.
#[derive(Debug, Default)]
pub(crate) struct SchemaCache {
    // Read-mostly: deserializers look ids up on every cold start, writers add once per id.
    entries: RwLock<HashMap<crate::model::SchemaId, Arc<registry::StoredSchema>>>,
}

impl SchemaCache {
    /// Entries kept at most; past it the cache starts over (ids in use come back quickly).
    const CAPACITY: usize = 16_384;

    pub(crate) fn get(&self, id: crate::model::SchemaId) -> Option<Arc<registry::StoredSchema>> {
        self.entries.read().ok()?.get(&id).cloned()
    }

    pub(crate) fn put(&self, schema: Arc<registry::StoredSchema>) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= Self::CAPACITY {
                entries.clear();
            }
            entries.insert(schema.id, schema);
        }
    }
}

/// Who made a change, as the audit log names them: `admin`, `domain:<name>`, `dev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Actor(pub String);

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The audit record of one mutation, written with it.
#[derive(Debug, Clone)]
pub(crate) struct Audit<'a> {
    /// Who.
    pub(crate) actor: &'a Actor,
    /// What kind of change, e.g. `schema.register`.
    pub(crate) action: &'static str,
    /// What it changed.
    pub(crate) target: &'a str,
}

pub(crate) use mesh_core::time::now_ms;

pub(crate) fn db(operation: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error::Store { operation, source }
}

pub(crate) fn json_text<T: serde::Serialize>(value: &T) -> String {
    // Serializing plain data (strings, numbers, vectors of them) to JSON cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned())
}

/// A JSON column as the catalog wrote it; anything else is an error, never a silent default.
pub(crate) fn from_json_text<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &'static str,
) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt {
        what,
        reason: e.to_string(),
    })
}

/// Reads column `name` of `row`, naming the operation in the error.
pub(crate) fn get<'r, T>(row: &'r AnyRow, name: &str, operation: &'static str) -> Result<T>
where
    T: sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    row.try_get(name).map_err(db(operation))
}

pub(crate) type Tx = Transaction<'static, Any>;

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates the database at `url`:
    /// `sqlite://path/catalog.db`, `sqlite::memory:` or `postgres://user@host/db`.
    pub(crate) async fn open(url: &str) -> Result<Self> {
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
        // While the database is away a request waits this long for a connection, then
        // answers 503: callers hear at once, not after sqlx's default 30 s.
        let mut options = AnyPoolOptions::new().acquire_timeout(std::time::Duration::from_secs(3));
        if url.contains(":memory:") {
            // Each SQLite memory connection is its own database: keep exactly one.
            options = options.max_connections(1).min_connections(1);
        }
        let pool = options
            .connect(&url)
            .await
            .map_err(db("connect to the database"))?;
        MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool,
            backend,
            schemas: Arc::default(),
            writers: (backend == Backend::Sqlite).then(Arc::default),
        })
    }

    /// Checks the database answers.
    pub(crate) async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db("ping the database"))?;
        Ok(())
    }

    /// Closes every connection.
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub(crate) fn schema_cache(&self) -> &SchemaCache {
        &self.schemas
    }

    /// Waits for this process's turn to write (SQLite only; see `writers`). Hold the guard
    /// until the write transaction ends.
    pub(crate) async fn writer(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.writers {
            Some(writers) => Some(Arc::clone(writers).lock_owned().await),
            None => None,
        }
    }

    pub(crate) async fn begin(&self) -> Result<Tx> {
        self.pool.begin().await.map_err(db("begin a transaction"))
    }

    /// Begins a transaction that will write. On SQLite it takes the database's write lock
    /// first: a transaction that reads and then writes fails at once with "database is
    /// locked" when another writer started in between (SQLite cannot upgrade its read lock
    /// then, and does not wait), which two domains registering table versions at the same
    /// moment hit. Postgres needs no such thing.
    pub(crate) async fn begin_write(&self) -> Result<Tx> {
        let mut tx = self.begin().await?;
        if self.backend == Backend::Sqlite {
            Self::lock(&mut tx, "writes").await?;
        }
        Ok(tx)
    }

    /// Takes the named lock for the rest of `tx`. Updating a row first makes SQLite take
    /// its write lock at once (instead of failing a read-to-write upgrade later) and makes
    /// Postgres queue concurrent writers on the row: writers under one lock serialize.
    pub(crate) async fn lock(tx: &mut Tx, name: &str) -> Result<()> {
        sqlx::query("UPDATE locks SET generation = generation + 1 WHERE name = $1")
            .bind(name)
            .execute(&mut **tx)
            .await
            .map_err(db("take a lock"))?;
        Ok(())
    }

    /// Hands out the next value of a sequence; values are never reused.
    pub(crate) async fn next_value(tx: &mut Tx, sequence: &str) -> Result<i64> {
        let next: i64 = sqlx::query(
            "UPDATE sequences SET next_value = next_value + 1 WHERE name = $1 RETURNING next_value",
        )
        .bind(sequence)
        .fetch_one(&mut **tx)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(db("advance a sequence"))?;
        Ok(next - 1)
    }

    /// Writes the audit row of a mutation inside its transaction.
    pub(crate) async fn audit(tx: &mut Tx, audit: &Audit<'_>, detail: &str) -> Result<()> {
        let id = Self::next_value(tx, "audit_id").await?;
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(now_ms())
        .bind(&audit.actor.0)
        .bind(audit.action)
        .bind(audit.target)
        .bind(detail)
        .execute(&mut **tx)
        .await
        .map_err(db("write the audit log"))?;
        Ok(())
    }

    /// The newest audit entries, newest first, at most `limit`.
    pub(crate) async fn audit_log(&self, limit: i64) -> Result<Vec<crate::model::AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, detail FROM audit_log ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db("read the audit log"))?;
        rows.iter()
            .map(|r| {
                let op = "read the audit log";
                Ok(crate::model::AuditEntry {
                    id: get(r, "id", op)?,
                    at_ms: get(r, "at", op)?,
                    actor: get(r, "actor", op)?,
                    action: get(r, "action", op)?,
                    target: get(r, "target", op)?,
                    detail: get(r, "detail", op)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::registry::canonical_json;

    #[test]
    fn canonical_json_ignores_layout_and_key_order() -> Result<(), serde_json::Error> {
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
