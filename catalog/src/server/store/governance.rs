//! The governance tables: domains, data products with their ports, table versions, grants
//! and stream heads.

use mesh_core::{DomainName, ProductId, Subject, TopicName};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Audit, Store, Tx, db, from_json_text, get, json_text, now_ms};
use crate::error::{Error, Result};
use crate::model::{
    DataProduct, Domain, Grant, PartitionOffset, SchemaId, Sla, StreamHead, StreamPort, TablePort,
    TableVersion, WriteMode,
};

/// The outcome of recording a table version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VersionOutcome {
    /// Recorded (or already recorded with the same content).
    Recorded(TableVersion),
    /// The product does not exist.
    UnknownProduct,
    /// That Delta version was already recorded with different content.
    Conflict(TableVersion),
    /// A count does not fit the store (request bodies are checked first, so this is a
    /// caller that skipped the checks).
    OutOfRange,
}

const READ: &str = "read the catalog";

fn domain_from_row(row: &AnyRow) -> Result<Domain> {
    Ok(Domain {
        name: DomainName::new(get::<String>(row, "name", READ)?)?,
        owner: get(row, "owner", READ)?,
        description: get(row, "description", READ)?,
    })
}

fn table_version_from_row(row: &AnyRow) -> Result<TableVersion> {
    let rows: i64 = get(row, "row_count", READ)?;
    let bytes: i64 = get(row, "byte_count", READ)?;
    let schema_id: Option<i64> = get(row, "schema_id", READ)?;
    let offsets: Vec<PartitionOffset> = from_json_text(
        &get::<String>(row, "offsets_json", READ)?,
        "table-version offsets",
    )?;
    Ok(TableVersion {
        version: get(row, "delta_version", READ)?,
        rows: u64::try_from(rows).unwrap_or(0),
        bytes: u64::try_from(bytes).unwrap_or(0),
        schema_id: schema_id.map(|s| SchemaId::try_from(s).unwrap_or(SchemaId(u32::MAX))),
        offsets,
        committed_at_ms: get(row, "committed_at", READ)?,
    })
}

const TABLE_VERSION_COLUMNS: &str = "SELECT delta_version, row_count, byte_count, schema_id, \
    offsets_json, committed_at FROM table_versions WHERE product_id = $1";

impl Store {
    /// Creates or updates a domain.
    pub(crate) async fn upsert_domain(&self, domain: &Domain, audit: &Audit<'_>) -> Result<()> {
        let _writer = self.writer().await;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO domains (name, owner, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (name) DO UPDATE \
             SET owner = excluded.owner, description = excluded.description, updated_at = excluded.updated_at",
        )
        .bind(domain.name.as_str())
        .bind(&domain.owner)
        .bind(&domain.description)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db("store a domain"))?;
        Self::audit(&mut tx, audit, &format!("owner {}", domain.owner)).await?;
        tx.commit().await.map_err(db("commit a domain"))?;
        Ok(())
    }

    /// A domain by name.
    pub(crate) async fn domain(&self, name: &DomainName) -> Result<Option<Domain>> {
        sqlx::query("SELECT name, owner, description FROM domains WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(db(READ))?
            .as_ref()
            .map(domain_from_row)
            .transpose()
    }

    /// Every domain, by name.
    pub(crate) async fn domains(&self) -> Result<Vec<Domain>> {
        sqlx::query("SELECT name, owner, description FROM domains ORDER BY name")
            .fetch_all(self.pool())
            .await
            .map_err(db(READ))?
            .iter()
            .map(domain_from_row)
            .collect()
    }

    /// Creates or replaces a product with its ports. Returns false when its domain does not
    /// exist (nothing is written then).
    pub(crate) async fn upsert_product(
        &self,
        product: &DataProduct,
        audit: &Audit<'_>,
    ) -> Result<bool> {
        let id = product.id.as_str();
        let _writer = self.writer().await;
        let mut tx = self.begin_write().await?;
        let domain_exists = sqlx::query("SELECT 1 FROM domains WHERE name = $1")
            .bind(product.id.domain().as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(READ))?
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
        .bind(product.sla.map(|s| i64::try_from(s.max_staleness_secs).unwrap_or(i64::MAX)))
        .bind(now_ms())
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
                "INSERT INTO stream_ports (product_id, topic, value_subject, key_subject) VALUES ($1, $2, $3, $4)",
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
                "INSERT INTO table_ports (product_id, uri, partition_columns_json, source_topic, write_mode, merge_keys_json) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(&table.uri)
            .bind(json_text(&table.partition_columns))
            .bind(table.source_topic.as_ref().map(|t| t.as_str().to_owned()))
            .bind(table.write_mode.map(WriteMode::as_str))
            .bind(json_text(&table.merge_keys))
            .execute(&mut *tx)
            .await
            .map_err(db("store the table port"))?;
        }
        let detail = format!(
            "{} stream ports, table {}",
            product.stream_ports.len(),
            product
                .table_port
                .as_ref()
                .map_or("none", |t| t.uri.as_str())
        );
        Self::audit(&mut tx, audit, &detail).await?;
        tx.commit().await.map_err(db("commit a product"))?;
        Ok(true)
    }

    /// A product with its ports.
    pub(crate) async fn product(&self, id: &ProductId) -> Result<Option<DataProduct>> {
        let row = sqlx::query(
            "SELECT id, description, tags_json, max_staleness_secs FROM products WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(self.pool())
        .await
        .map_err(db(READ))?;
        match row {
            Some(row) => Ok(Some(self.product_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    /// Every product, by id.
    pub(crate) async fn products(&self) -> Result<Vec<DataProduct>> {
        let rows = sqlx::query(
            "SELECT id, description, tags_json, max_staleness_secs FROM products ORDER BY id",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db(READ))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(self.product_from_row(row).await?);
        }
        Ok(out)
    }

    async fn product_from_row(&self, row: &AnyRow) -> Result<DataProduct> {
        let id: String = get(row, "id", READ)?;
        let staleness: Option<i64> = get(row, "max_staleness_secs", READ)?;
        let streams = sqlx::query(
            "SELECT topic, value_subject, key_subject FROM stream_ports WHERE product_id = $1 ORDER BY topic",
        )
        .bind(&id)
        .fetch_all(self.pool())
        .await
        .map_err(db(READ))?;
        let mut stream_ports = Vec::with_capacity(streams.len());
        for s in &streams {
            let key: Option<String> = get(s, "key_subject", READ)?;
            stream_ports.push(StreamPort {
                topic: TopicName::parse(&get::<String>(s, "topic", READ)?)?,
                value_subject: Subject::new(get::<String>(s, "value_subject", READ)?)?,
                key_subject: key.map(Subject::new).transpose()?,
            });
        }
        let table = sqlx::query(
            "SELECT uri, partition_columns_json, source_topic, write_mode, merge_keys_json \
             FROM table_ports WHERE product_id = $1",
        )
        .bind(&id)
        .fetch_optional(self.pool())
        .await
        .map_err(db(READ))?;
        let table_port = match table {
            Some(t) => {
                let source: Option<String> = get(&t, "source_topic", READ)?;
                let mode: Option<String> = get(&t, "write_mode", READ)?;
                let keys: Option<String> = get(&t, "merge_keys_json", READ)?;
                Some(TablePort {
                    uri: get(&t, "uri", READ)?,
                    partition_columns: from_json_text(
                        &get::<String>(&t, "partition_columns_json", READ)?,
                        "partition columns",
                    )?,
                    source_topic: source.as_deref().map(TopicName::parse).transpose()?,
                    write_mode: mode
                        .map(|m| {
                            WriteMode::parse(&m).ok_or_else(|| Error::Corrupt {
                                what: "a table port's write mode",
                                reason: format!("'{m}' is not overwrite, append or merge"),
                            })
                        })
                        .transpose()?,
                    merge_keys: keys
                        .map(|k| from_json_text(&k, "merge keys"))
                        .transpose()?
                        .unwrap_or_default(),
                })
            }
            None => None,
        };
        Ok(DataProduct {
            id: ProductId::parse(&id)?,
            description: get(row, "description", READ)?,
            tags: from_json_text(&get::<String>(row, "tags_json", READ)?, "product tags")?,
            sla: staleness.map(|s| Sla {
                max_staleness_secs: u64::try_from(s).unwrap_or(0),
            }),
            stream_ports,
            table_port,
            table_location_hidden: false,
        })
    }

    /// Records a table version of a product.
    pub(crate) async fn record_table_version(
        &self,
        id: &ProductId,
        version: &TableVersion,
        audit: &Audit<'_>,
    ) -> Result<VersionOutcome> {
        let _writer = self.writer().await;
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT 1 FROM products WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(READ))?
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
        let (Ok(rows), Ok(bytes)) = (i64::try_from(version.rows), i64::try_from(version.bytes))
        else {
            // Request bodies are checked before they get here; never store a clamped count.
            return Ok(VersionOutcome::OutOfRange);
        };
        // Two writers (or a writer's retry) may post the same version at once: on Postgres
        // both can pass the check above, so the insert itself must tolerate the race.
        let inserted = sqlx::query(
            "INSERT INTO table_versions (product_id, delta_version, row_count, byte_count, schema_id, \
             offsets_json, committed_at, registered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (product_id, delta_version) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(version.version)
        .bind(rows)
        .bind(bytes)
        .bind(version.schema_id.map(i64::from))
        .bind(json_text(&version.offsets))
        .bind(version.committed_at_ms)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db("store a table version"))?
        .rows_affected();
        if inserted == 0 {
            let existing = Self::table_version_in(&mut tx, id, Some(version.version)).await?;
            return Ok(match existing {
                Some(existing) if existing == *version => VersionOutcome::Recorded(existing),
                Some(existing) => VersionOutcome::Conflict(existing),
                // The row that stopped the insert is gone again: it cannot be, as versions
                // are never deleted.
                None => return Err(db("store a table version")(sqlx::Error::RowNotFound)),
            });
        }
        Self::audit(
            &mut tx,
            audit,
            &format!("version {}, {} rows", version.version, version.rows),
        )
        .await?;
        tx.commit().await.map_err(db("commit a table version"))?;
        Ok(VersionOutcome::Recorded(version.clone()))
    }

    async fn table_version_in(
        tx: &mut Tx,
        id: &ProductId,
        version: Option<i64>,
    ) -> Result<Option<TableVersion>> {
        let query = match version {
            Some(_) => format!("{TABLE_VERSION_COLUMNS} AND delta_version = $2"),
            None => format!("{TABLE_VERSION_COLUMNS} ORDER BY delta_version DESC LIMIT 1"),
        };
        let mut q = sqlx::query(&query).bind(id.as_str());
        if let Some(v) = version {
            q = q.bind(v);
        }
        q.fetch_optional(&mut **tx)
            .await
            .map_err(db(READ))?
            .as_ref()
            .map(table_version_from_row)
            .transpose()
    }

    /// A recorded table version; `None` asks for the latest.
    pub(crate) async fn table_version(
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
    pub(crate) async fn table_versions(&self, id: &ProductId) -> Result<Vec<TableVersion>> {
        let query = format!("{TABLE_VERSION_COLUMNS} ORDER BY delta_version");
        sqlx::query(&query)
            .bind(id.as_str())
            .fetch_all(self.pool())
            .await
            .map_err(db(READ))?
            .iter()
            .map(table_version_from_row)
            .collect()
    }

    /// Grants `consumer` read access to `product`. Returns false when the consumer domain
    /// does not exist.
    pub(crate) async fn grant(
        &self,
        product: &ProductId,
        consumer: &DomainName,
        audit: &Audit<'_>,
    ) -> Result<Option<Grant>> {
        let _writer = self.writer().await;
        let mut tx = self.begin_write().await?;
        let known = sqlx::query("SELECT 1 FROM domains WHERE name = $1")
            .bind(consumer.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(READ))?
            .is_some();
        if !known {
            return Ok(None);
        }
        let now = now_ms();
        sqlx::query(
            "INSERT INTO grants (product_id, consumer_domain, granted_by, granted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (product_id, consumer_domain) DO NOTHING",
        )
        .bind(product.as_str())
        .bind(consumer.as_str())
        .bind(&audit.actor.0)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db("store a grant"))?;
        Self::audit(&mut tx, audit, &format!("read granted to {consumer}")).await?;
        let grant = Self::grant_in(&mut tx, product, consumer).await?;
        tx.commit().await.map_err(db("commit a grant"))?;
        Ok(grant)
    }

    async fn grant_in(
        tx: &mut Tx,
        product: &ProductId,
        consumer: &DomainName,
    ) -> Result<Option<Grant>> {
        let row = sqlx::query(
            "SELECT granted_by, granted_at FROM grants WHERE product_id = $1 AND consumer_domain = $2",
        )
        .bind(product.as_str())
        .bind(consumer.as_str())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db(READ))?;
        row.map(|r| {
            Ok(Grant {
                product: product.clone(),
                consumer_domain: consumer.clone(),
                granted_by: get(&r, "granted_by", READ)?,
                granted_at_ms: get(&r, "granted_at", READ)?,
            })
        })
        .transpose()
    }

    /// Revokes a grant; returns whether there was one.
    pub(crate) async fn revoke(
        &self,
        product: &ProductId,
        consumer: &DomainName,
        audit: &Audit<'_>,
    ) -> Result<bool> {
        let _writer = self.writer().await;
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM grants WHERE product_id = $1 AND consumer_domain = $2")
            .bind(product.as_str())
            .bind(consumer.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db("revoke a grant"))?
            .rows_affected()
            > 0;
        if done {
            Self::audit(&mut tx, audit, &format!("read revoked from {consumer}")).await?;
        }
        tx.commit().await.map_err(db("commit a revoke"))?;
        Ok(done)
    }

    /// Whether `consumer` may read `product`'s table.
    pub(crate) async fn has_grant(
        &self,
        product: &ProductId,
        consumer: &DomainName,
    ) -> Result<bool> {
        Ok(
            sqlx::query("SELECT 1 FROM grants WHERE product_id = $1 AND consumer_domain = $2")
                .bind(product.as_str())
                .bind(consumer.as_str())
                .fetch_optional(self.pool())
                .await
                .map_err(db(READ))?
                .is_some(),
        )
    }

    /// The grants of a product.
    pub(crate) async fn grants(&self, product: &ProductId) -> Result<Vec<Grant>> {
        let rows = sqlx::query(
            "SELECT consumer_domain, granted_by, granted_at FROM grants WHERE product_id = $1 ORDER BY consumer_domain",
        )
        .bind(product.as_str())
        .fetch_all(self.pool())
        .await
        .map_err(db(READ))?;
        rows.iter()
            .map(|r| {
                Ok(Grant {
                    product: product.clone(),
                    consumer_domain: DomainName::new(get::<String>(r, "consumer_domain", READ)?)?,
                    granted_by: get(r, "granted_by", READ)?,
                    granted_at_ms: get(r, "granted_at", READ)?,
                })
            })
            .collect()
    }

    /// Records the newest offsets of a stream's partitions.
    pub(crate) async fn report_heads(
        &self,
        topic: &TopicName,
        heads: &[StreamHead],
        audit: &Audit<'_>,
    ) -> Result<()> {
        let _writer = self.writer().await;
        let mut tx = self.begin_write().await?;
        let now = now_ms();
        for head in heads {
            sqlx::query(
                "INSERT INTO stream_heads (topic, partition_id, head_offset, reported_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (topic, partition_id) DO UPDATE \
                 SET head_offset = excluded.head_offset, reported_at = excluded.reported_at",
            )
            .bind(topic.as_str())
            .bind(i64::from(head.partition))
            .bind(head.offset)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db("store a stream head"))?;
        }
        Self::audit(&mut tx, audit, &format!("{} partition heads", heads.len())).await?;
        tx.commit().await.map_err(db("commit stream heads"))?;
        Ok(())
    }

    /// The last reported heads of a stream.
    pub(crate) async fn heads(&self, topic: &TopicName) -> Result<Vec<StreamHead>> {
        let rows = sqlx::query(
            "SELECT partition_id, head_offset FROM stream_heads WHERE topic = $1 ORDER BY partition_id",
        )
        .bind(topic.as_str())
        .fetch_all(self.pool())
        .await
        .map_err(db(READ))?;
        rows.iter()
            .map(|r| {
                let partition: i64 = r.try_get("partition_id").map_err(db(READ))?;
                Ok(StreamHead {
                    partition: i32::try_from(partition).unwrap_or(i32::MAX),
                    offset: get(r, "head_offset", READ)?,
                })
            })
            .collect()
    }
}
