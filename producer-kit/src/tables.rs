//! The product tables of a domain producer: one loaded table per product, kept loaded so a
//! commit costs the same at the thousandth version as at the first; writes in each write
//! mode; the catalog kept in step; background compaction of appended products, and
//! maintenance.
//!
//! Opening, writing, compacting and describing a table is [`mesh_core::lake`]'s; what is the
//! producer's is the order of writes (one writer per product per process), which write mode a
//! product takes, and telling the catalog about every version.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use catalog::{CatalogClient, TableVersion};
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::SchemaRef;
use mesh_core::lake::{Commit, Compactor, ProductTable, VersionStats, last_per_key};
use mesh_core::{DomainName, Endpoints, ProductId, ProductSpec, SchemaId, WriteMode};
use tracing::{info, warn};

use crate::error::{Error, Result};

pub use mesh_core::lake::{META_PRODUCER_DOMAIN, META_SCHEMA_ID};

/// One product's loaded table. Writes to a product take its lock for the whole write: one
/// writer per product per process, in order (the lock is async, held across the commit on
/// purpose; other products are not blocked).
type Slot = Arc<tokio::sync::Mutex<Option<Loaded>>>;

/// A loaded table and the newest of its versions the catalog is known to have.
#[derive(Clone)]
struct Loaded {
    table: ProductTable,
    registered: Option<i64>,
}

/// What maintenance did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Maintenance {
    /// Small files rewritten into larger ones.
    pub files_compacted: u64,
    /// Files written by compaction.
    pub files_written: u64,
    /// Files no version needs any more, deleted by vacuum.
    pub files_vacuumed: usize,
    /// The table version after compaction, if it committed one.
    pub version: Option<u64>,
}

/// A domain's product tables: what a snapshot writes through.
pub(crate) struct ProductTables {
    domain: DomainName,
    endpoints: Endpoints,
    catalog: CatalogClient,
    /// The contract's products, by name.
    products: HashMap<String, ProductSpec>,
    /// Registry ids of the products' row schemas, by product.
    schema_ids: HashMap<String, SchemaId>,
    // A plain mutex: held only to find or insert a slot, never across an await.
    slots: Mutex<HashMap<String, Slot>>,
    compactor: Compactor,
}

impl ProductTables {
    pub(crate) fn new(
        domain: DomainName,
        endpoints: Endpoints,
        catalog: CatalogClient,
        products: &[ProductSpec],
        schema_ids: HashMap<String, SchemaId>,
    ) -> Self {
        Self {
            domain,
            endpoints,
            catalog,
            products: products
                .iter()
                .map(|p| (p.name.to_string(), p.clone()))
                .collect(),
            schema_ids,
            slots: Mutex::default(),
            compactor: Compactor::default(),
        }
    }

    /// The contract's product `product`.
    pub(crate) fn spec(&self, product: &str) -> Result<&ProductSpec> {
        self.products
            .get(product)
            .ok_or_else(|| Error::UnknownProduct {
                domain: self.domain.clone(),
                product: product.to_owned(),
            })
    }

    pub(crate) fn id(&self, spec: &ProductSpec) -> ProductId {
        ProductId::new(&self.domain, &spec.name)
    }

    /// The Arrow schema of a product's rows.
    pub(crate) fn arrow_schema(spec: &ProductSpec) -> Result<SchemaRef> {
        Ok(mesh_core::arrow::arrow_schema(&spec.schema)?)
    }

    fn slot(&self, product: &str) -> Slot {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(slots.entry(product.to_owned()).or_default())
    }

    fn commit(&self, spec: &ProductSpec) -> Commit {
        let commit = Commit::by_producer(&self.domain);
        match self.schema_ids.get(spec.name.as_str()) {
            Some(id) => commit.with_schema_id(*id),
            None => commit,
        }
    }

    /// The product's table out of its slot, loaded, with the catalog's last known version.
    /// `fresh` reads commits other writers made since our last one: writes that read the
    /// table (overwrite, merge) need it; appends do not (Delta retries an append whose version
    /// was taken), and skipping it keeps an append's cost flat as the log grows.
    async fn current(
        &self,
        spec: &ProductSpec,
        slot: &mut Option<Loaded>,
        fresh: bool,
    ) -> Result<Loaded> {
        match slot.take() {
            Some(mut loaded) => {
                if fresh {
                    loaded.table.update().await?;
                }
                Ok(loaded)
            }
            None => Ok(Loaded {
                table: ProductTable::open(self.id(spec), &self.endpoints).await?,
                registered: None,
            }),
        }
    }

    /// Creates the product's table if it does not exist, and registers its first version.
    pub(crate) async fn ensure(&self, spec: &ProductSpec) -> Result<()> {
        let slot = self.slot(spec.name.as_str());
        let mut guard = slot.lock().await;
        let mut loaded = self.current(spec, &mut guard, true).await?;
        let mut created = false;
        if loaded.table.version().is_none() {
            let creating = loaded
                .table
                .create(
                    Self::arrow_schema(spec)?,
                    &spec.partition_by,
                    &spec.description,
                    &self.commit(spec),
                )
                .await;
            match creating {
                Ok(()) => {
                    info!(product = %self.id(spec), "table created");
                    created = true;
                }
                Err(e) => {
                    // Producers of one product starting together race to create its table:
                    // the store lets one commit version 0, and the others take that table
                    // (Delta logs their lost commit as an error on its way here).
                    let theirs = ProductTable::open(self.id(spec), &self.endpoints).await?;
                    if theirs.version().is_none() {
                        return Err(e.into());
                    }
                    loaded.table = theirs;
                }
            }
        }
        if !created {
            // A schema change the catalog accepted reaches the table now, not with the
            // first rows of the new schema: queries see the new columns at once.
            let evolved = loaded
                .table
                .evolve(Self::arrow_schema(spec)?, &self.commit(spec))
                .await?;
            if !evolved.is_empty() {
                info!(product = %self.id(spec), added = ?evolved.added, relaxed = ?evolved.relaxed, "table schema evolved");
            }
        }
        let (_, registered) = self.register(&loaded).await?;
        loaded.registered = registered;
        *guard = Some(loaded);
        Ok(())
    }

    /// Registers the table's current version in the catalog unless the catalog has it (it
    /// catches up with commits whose registration failed earlier). `loaded.registered` is the
    /// newest version the catalog is known to have; without it the catalog is asked. Returns
    /// the version recorded now, if one was, and the newest version the catalog has.
    async fn register(&self, loaded: &Loaded) -> Result<(Option<TableVersion>, Option<i64>)> {
        let Some(version) = loaded.table.version() else {
            return Ok((None, loaded.registered));
        };
        let id = loaded.table.product();
        let known = match loaded.registered {
            Some(k) => Some(k),
            None => match self.catalog.latest_table_version(id).await {
                Ok(latest) => Some(latest.version),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e.into()),
            },
        };
        if known.is_some_and(|k| k >= version) {
            return Ok((None, known));
        }
        let Some(VersionStats {
            version,
            rows,
            bytes,
            committed_at_ms,
        }) = loaded.table.stats()?
        else {
            return Ok((None, known));
        };
        let registered = self
            .catalog
            .register_table_version(
                id,
                &TableVersion {
                    version,
                    rows,
                    bytes,
                    schema_id: self.schema_ids.get(id.product().as_str()).copied(),
                    offsets: Vec::new(),
                    committed_at_ms,
                },
            )
            .await?;
        Ok((Some(registered), Some(version)))
    }

    /// Writes `batches` (already in the product's schema) in the product's write mode and
    /// registers the new version. Nothing is committed if the write fails.
    pub(crate) async fn write(
        &self,
        spec: &ProductSpec,
        batches: Vec<RecordBatch>,
    ) -> Result<TableVersion> {
        let id = self.id(spec);
        let slot = self.slot(spec.name.as_str());
        let mut guard = slot.lock().await;
        let mut loaded = self
            .current(spec, &mut guard, spec.mode != WriteMode::Append)
            .await?;
        // A copy stays in the slot across every await: a caller that drops this future
        // leaves the table loaded as it was, not an empty slot.
        *guard = Some(loaded.clone());
        match self.register(&loaded).await {
            Ok((_, known)) => loaded.registered = known,
            Err(e) => {
                warn!(product = %id, error = %e, "catalog behind the table; continuing");
            }
        }
        // The slot keeps the table as the write leaves it, committed or not: a failed write
        // leaves the table as it was, and the next write starts from the same loaded state.
        let written = self.write_in_mode(spec, &mut loaded.table, batches).await;
        let registration = match written {
            Ok(()) => self.register(&loaded).await,
            Err(e) => {
                *guard = Some(loaded);
                return Err(e);
            }
        };
        let (recorded, known) = match registration {
            Ok(registered) => registered,
            // Committed, not registered: the write must not be repeated (it is in the table);
            // the next write registers this version too.
            Err(source) => {
                let version = loaded.table.version().unwrap_or(-1);
                *guard = Some(loaded);
                return Err(Error::Unregistered {
                    product: id,
                    version,
                    source: Box::new(source),
                });
            }
        };
        loaded.registered = known;
        if spec.mode == WriteMode::Append && recorded.is_some() {
            self.compactor.committed(&loaded.table, &self.commit(spec));
        }
        *guard = Some(loaded);
        let recorded = recorded.ok_or_else(|| Error::NoNewVersion {
            product: id.clone(),
        })?;
        info!(product = %id, version = recorded.version, rows = recorded.rows, "snapshot committed");
        Ok(recorded)
    }

    async fn write_in_mode(
        &self,
        spec: &ProductSpec,
        table: &mut ProductTable,
        batches: Vec<RecordBatch>,
    ) -> Result<()> {
        let commit = self.commit(spec);
        match &spec.mode {
            WriteMode::Append => {
                table
                    .append(batches, &spec.partition_by, &commit.keeping_expired_logs())
                    .await?;
            }
            WriteMode::Overwrite => {
                table
                    .overwrite(batches, &spec.partition_by, &commit)
                    .await?;
            }
            WriteMode::Merge { keys } => {
                let rows = last_per_key(&batches, keys).map_err(|e| Error::InvalidRows {
                    product: self.id(spec),
                    reason: e.to_string(),
                })?;
                let merged = table.merge(rows, keys, &commit).await?;
                info!(product = %self.id(spec), inserted = merged.inserted, updated = merged.updated, "merged");
            }
        }
        Ok(())
    }

    /// Compacts the product table's small files, then deletes files no version newer than
    /// `retention` needs.
    pub(crate) async fn maintain(&self, product: &str, retention: Duration) -> Result<Maintenance> {
        let spec = self.spec(product)?;
        let slot = self.slot(spec.name.as_str());
        let mut guard = slot.lock().await;
        let mut loaded = self.current(spec, &mut guard, true).await?;
        *guard = Some(loaded.clone());
        let commit = self.commit(spec);
        let outcome = async {
            let metrics = loaded.table.compact(None, None, &commit).await?;
            let compacted = (metrics.num_files_removed > 0)
                .then(|| loaded.table.version())
                .flatten()
                .map(|v| u64::try_from(v).unwrap_or(0));
            let vacuumed = loaded.table.vacuum(retention, &commit).await?;
            Ok::<_, Error>(Maintenance {
                files_compacted: metrics.num_files_removed,
                files_written: metrics.num_files_added,
                files_vacuumed: vacuumed,
                version: compacted,
            })
        }
        .await;
        if outcome.is_ok() {
            match self.register(&loaded).await {
                Ok((_, known)) => loaded.registered = known,
                Err(e) => {
                    warn!(product = %self.id(spec), error = %e, "catalog behind the table after maintenance");
                }
            }
        }
        *guard = Some(loaded);
        outcome
    }

    /// Waits for background compactions in flight.
    pub(crate) async fn drain(&self) {
        self.compactor.drain().await;
    }
}
