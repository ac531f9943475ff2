//! The consumer kit: what a consumer domain uses to read the mesh.
//!
//! A [`DomainConsumer`] is a consumer domain's handle on the mesh:
//!
//! - [`DomainConsumer::subscribe`] joins a consumer group on a set of streams; each
//!   [`Subscription::next`] returns an [`Event`] decoded from the Confluent wire format through
//!   the registry, or an [`Error::Decode`] naming the message that could not be decoded.
//!   Offsets are committed only when the caller says an event was handled.
//! - [`DomainConsumer::static_data`] opens data products found in the catalog as SQL tables
//!   named `<domain>.<product>` and queries them with DataFusion.
//!
//! ```no_run
//! use consumer_kit::DomainConsumer;
//! use mesh_core::{DomainName, Endpoints, MeshConfig, ProductId, TopicName};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let endpoints = Endpoints::from_config(&MeshConfig::load()?)?;
//! let consumer = DomainConsumer::connect(DomainName::new("recommendations")?, &endpoints).await?;
//!
//! let plays = consumer.subscribe(vec![TopicName::parse("interactions.played")?]).start()?;
//! let event = plays.next().await?;
//! println!("{:?}", event.value);
//! plays.commit(&event)?;
//!
//! let data = consumer.static_data();
//! data.open(&ProductId::parse("songs.catalogue")?).await?;
//! let batches = data.sql("SELECT genre, count(*) FROM songs.catalogue GROUP BY genre").await?;
//! # Ok(()) }
//! ```
//!
//! Modules: [`consumer`], [`subscription`], [`query`], [`error`].

#![warn(missing_docs)]

pub mod consumer;
pub mod error;
pub mod query;
pub mod subscription;

pub use consumer::DomainConsumer;
pub use error::{Error, Result};
pub use query::StaticData;
pub use subscription::{Event, EventMeta, StartFrom, Subscribe, Subscription};
