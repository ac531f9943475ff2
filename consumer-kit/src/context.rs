//! What a consumer domain's subscriptions, sinks and queries share: the domain, the mesh's
//! endpoints, the catalog client and the counters. [`DomainConsumer`](crate::DomainConsumer)
//! hands it to each of them; none of them reaches back into the facade.

use catalog::CatalogClient;
use mesh_core::{DomainName, Endpoints, ProductId, StreamName, TopicName};

use crate::error::{Error, Result};
use crate::metrics::ConsumerMetrics;

#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) domain: DomainName,
    pub(crate) endpoints: Endpoints,
    pub(crate) catalog: CatalogClient,
    pub(crate) metrics: ConsumerMetrics,
}

impl Context {
    /// Fails unless this domain owns `product` or holds a grant on it.
    pub(crate) async fn check_grant(&self, product: &ProductId) -> Result<()> {
        if product.domain() == self.domain {
            return Ok(());
        }
        match self.catalog.grant_of(product, &self.domain).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Err(Error::NotGranted {
                product: product.clone(),
                domain: self.domain.clone(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// The domain's dead-letter topic, `<domain>.dlq`.
    pub(crate) fn dead_letter_topic(&self) -> TopicName {
        // "dlq" is a valid stream name: this cannot fail.
        let stream =
            StreamName::new("dlq").unwrap_or_else(|_| unreachable!("dlq is a valid stream name"));
        TopicName::new(&self.domain, &stream)
    }
}
