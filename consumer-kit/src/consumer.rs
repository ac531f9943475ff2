//! The domain consumer: a consumer domain's handle on the mesh.

use std::sync::Arc;

use catalog::CatalogClient;
use mesh_core::{DomainName, Endpoints, ProductId, TopicName};

use crate::context::Context;
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
    inner: Arc<Context>,
}

impl DomainConsumer {
    /// A consumer for `domain` on the mesh at `endpoints`. Checks the catalog answers and,
    /// on a catalog that authenticates, that the configured token is one it knows and acts
    /// for `domain` (or is an admin's): grants are checked for the token's domain, so a
    /// token of another domain would read with that domain's grants under this one's name.
    pub async fn connect(domain: DomainName, endpoints: &Endpoints) -> Result<Self> {
        let catalog = CatalogClient::for_endpoints(endpoints)?;
        match catalog.whoami().await {
            Ok(identity) => {
                if let Some(token_domain) = identity.domain.filter(|d| *d != domain) {
                    return Err(Error::TokenOfAnotherDomain {
                        token_domain,
                        domain,
                    });
                }
            }
            // A catalog older than `whoami`: that it answers is all there is to check.
            Err(e) if e.is_not_found() => catalog.health().await?,
            Err(e) => return Err(e.into()),
        }
        Ok(Self {
            inner: Arc::new(Context {
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
        Subscribe::new(Arc::clone(&self.inner), topics)
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
        Ok(Subscribe::new(Arc::clone(&self.inner), topics))
    }

    /// Fails unless this domain owns `product` or holds a grant on it.
    pub async fn check_grant(&self, product: &ProductId) -> Result<()> {
        self.inner.check_grant(product).await
    }

    /// A sink of `product`'s source stream into its table, exactly once; see [`Sink`].
    pub fn sink(&self, product: ProductId) -> Sink {
        Sink::new(Arc::clone(&self.inner), product)
    }

    /// A fresh SQL session over the products this consumer opens.
    pub fn static_data(&self) -> StaticData {
        StaticData::new(Arc::clone(&self.inner))
    }
}

/// The dead-letter topic of `consumer`'s domain, `<domain>.dlq`: messages its subscriptions
/// and sinks could not handle, kept whole with where they came from and why.
pub fn dead_letter_topic(consumer: &DomainConsumer) -> TopicName {
    consumer.inner.dead_letter_topic()
}
