//! The domain consumer: a consumer domain's handle on the mesh.

use std::sync::Arc;

use catalog::CatalogClient;
use mesh_core::{DomainName, Endpoints, ProductId, TopicName};

use crate::error::{Error, Result};
use crate::metrics::ConsumerMetrics;
use crate::query::StaticData;
use crate::sink::Sink;
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
    metrics: ConsumerMetrics,
}

impl DomainConsumer {
    /// A consumer for `domain` on the mesh at `endpoints`. Checks the catalog answers.
    pub async fn connect(domain: DomainName, endpoints: &Endpoints) -> Result<Self> {
        let catalog = CatalogClient::for_endpoints(endpoints)?;
        catalog.health().await?;
        Ok(Self {
            inner: Arc::new(Inner {
                domain,
                endpoints: endpoints.clone(),
                catalog,
                metrics: ConsumerMetrics::default(),
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

    /// The counters of this consumer's subscriptions.
    pub fn metrics(&self) -> &ConsumerMetrics {
        &self.inner.metrics
    }

    /// A subscription to `topics`, by default as the consumer group `<domain>`; see
    /// [`Subscribe`] for the options, [`Subscribe::run`] and [`Subscribe::start`] to begin.
    pub fn subscribe(&self, topics: Vec<TopicName>) -> Subscribe {
        Subscribe::new(self.clone(), topics)
    }

    /// A subscription to the streams of a data product, found through the catalog. A
    /// product of another domain needs a grant to this consumer's domain.
    pub async fn subscribe_product(&self, product: &ProductId) -> Result<Subscribe> {
        self.check_grant(product).await?;
        let described = self.inner.catalog.product(product).await?;
        let topics = described
            .stream_ports
            .into_iter()
            .map(|p| p.topic)
            .collect::<Vec<_>>();
        if topics.is_empty() {
            return Err(Error::NoStream {
                product: product.clone(),
            });
        }
        Ok(Subscribe::new(self.clone(), topics))
    }

    /// Fails unless this domain owns `product` or holds a grant on it.
    pub async fn check_grant(&self, product: &ProductId) -> Result<()> {
        if product.domain() == self.inner.domain {
            return Ok(());
        }
        match self
            .inner
            .catalog
            .grant_of(product, &self.inner.domain)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Err(Error::NotGranted {
                product: product.clone(),
                domain: self.inner.domain.clone(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// A sink of `product`'s source stream into its table, exactly once; see [`Sink`].
    pub fn sink(&self, product: ProductId) -> Sink {
        Sink::new(self.clone(), product)
    }

    /// A fresh SQL session over the products this consumer opens.
    pub fn static_data(&self) -> StaticData {
        StaticData::new(self.clone())
    }
}
