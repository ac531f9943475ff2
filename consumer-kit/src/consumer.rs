//! The domain consumer: a consumer domain's handle on the mesh.

use std::sync::Arc;

use catalog::CatalogClient;
use mesh_core::{DomainName, Endpoints, TopicName};

use crate::error::Result;
use crate::query::StaticData;
use crate::subscription::Subscribe;

/// A consumer domain's handle on the mesh: subscribes to streams and queries products.
///
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct DomainConsumer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    domain: DomainName,
    endpoints: Endpoints,
    catalog: CatalogClient,
}

impl DomainConsumer {
    /// A consumer for `domain` on the mesh at `endpoints`. Checks the catalog answers.
    pub async fn connect(domain: DomainName, endpoints: &Endpoints) -> Result<Self> {
        let mut catalog = CatalogClient::new(&endpoints.catalog_url)?;
        if let Some(token) = &endpoints.catalog_token {
            catalog = catalog.with_token(token.expose());
        }
        catalog.health().await?;
        Ok(Self {
            inner: Arc::new(Inner {
                domain,
                endpoints: endpoints.clone(),
                catalog,
            }),
        })
    }

    /// The consumer domain.
    pub fn domain(&self) -> &DomainName {
        &self.inner.domain
    }

    /// The catalog client.
    pub fn catalog(&self) -> &CatalogClient {
        &self.inner.catalog
    }

    /// The endpoints this consumer connected to.
    pub fn endpoints(&self) -> &Endpoints {
        &self.inner.endpoints
    }

    /// A subscription to `topics`, by default as the consumer group `<domain>`; see
    /// [`Subscribe`] for the options and [`Subscribe::start`] to begin.
    pub fn subscribe(&self, topics: Vec<TopicName>) -> Subscribe {
        Subscribe::new(self.clone(), topics)
    }

    /// A fresh SQL session over the products this consumer opens.
    pub fn static_data(&self) -> StaticData {
        StaticData::new(self.clone())
    }
}
