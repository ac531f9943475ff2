//! Static data: querying data products' Delta tables with SQL.

use std::sync::Arc;

use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::catalog::MemorySchemaProvider;
use deltalake::datafusion::common::TableReference;
use deltalake::datafusion::prelude::SessionContext;
use mesh_core::ProductId;
use tracing::info;
use url::Url;

use crate::consumer::DomainConsumer;
use crate::error::{Error, Result};

/// The DataFusion catalog products are registered in.
const CATALOG: &str = "datafusion";

/// A SQL session over data products. Each opened product is a table named like its id,
/// `<domain>.<product>`, so `SELECT * FROM songs.catalogue` reads the `songs` domain's
/// `catalogue` product.
pub struct StaticData {
    consumer: DomainConsumer,
    ctx: SessionContext,
}

impl std::fmt::Debug for StaticData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticData")
            .field("domain", self.consumer.domain())
            .finish_non_exhaustive()
    }
}

impl StaticData {
    pub(crate) fn new(consumer: DomainConsumer) -> Self {
        Self {
            consumer,
            ctx: SessionContext::new(),
        }
    }

    /// Finds `product` in the catalog and opens the latest version of its table for SQL.
    /// Returns the Delta version opened.
    pub async fn open(&self, product: &ProductId) -> Result<u64> {
        let described = self.consumer.catalog().product(product).await?;
        if described.table_location_hidden {
            return Err(Error::NotGranted {
                product: product.clone(),
                domain: self.consumer.domain().clone(),
            });
        }
        let port = described.table_port.ok_or_else(|| Error::NoTable {
            product: product.clone(),
        })?;
        let delta_error = |source| Error::Delta {
            product: product.clone(),
            uri: port.uri.clone(),
            source: Box::new(source),
        };
        let url = Url::parse(&port.uri).map_err(|e| {
            delta_error(deltalake::DeltaTableError::InvalidTableLocation(format!(
                "{}: {e}",
                port.uri
            )))
        })?;
        let options = self
            .consumer
            .endpoints()
            .storage_options
            .clone()
            .into_iter()
            .collect();
        let table = deltalake::open_table_with_storage_options(url, options)
            .await
            .map_err(delta_error)?;
        let version = table.version().unwrap_or_default();
        table
            .update_datafusion_session(&self.ctx.state())
            .map_err(delta_error)?;
        let provider = table.table_provider().await?;
        let domain = product.domain();
        let catalog = self.ctx.catalog(CATALOG).ok_or_else(|| {
            deltalake::datafusion::error::DataFusionError::Plan(format!("no catalog {CATALOG}"))
        })?;
        if catalog.schema(domain.as_str()).is_none() {
            catalog.register_schema(domain.as_str(), Arc::new(MemorySchemaProvider::new()))?;
        }
        let name = TableReference::partial(domain.as_str(), product.product().as_str());
        self.ctx.deregister_table(name.clone())?;
        self.ctx.register_table(name, provider)?;
        info!(%product, version, "product opened");
        Ok(version)
    }

    /// Runs a SQL query and collects its result.
    pub async fn sql(&self, query: &str) -> Result<Vec<RecordBatch>> {
        Ok(self.ctx.sql(query).await?.collect().await?)
    }

    /// The DataFusion session, for anything SQL strings do not cover.
    pub fn session(&self) -> &SessionContext {
        &self.ctx
    }
}
