//! What the catalog records of a contract: the subjects of its schemas and its products.

use catalog::{DataProduct, Sla, StreamPort, TablePort};
use mesh_core::{
    AvroSchema, Contract, Endpoints, ProductId, ProductSpec, Subject, TopicName, WriteMode,
};

/// Every schema of `contract` with its registry subject: products' row schemas, then
/// streams' value schemas.
pub(crate) fn subjects(contract: &Contract) -> Vec<(Subject, &AvroSchema)> {
    let products = contract.products.iter().map(|p| {
        (
            Subject::table(&ProductId::new(&contract.domain, &p.name)),
            &p.schema,
        )
    });
    let streams = contract.streams.iter().map(|s| {
        (
            Subject::value(&TopicName::new(&contract.domain, &s.name)),
            &s.schema,
        )
    });
    products.chain(streams).collect()
}

/// The catalog's record of a product of `contract`, its table where `endpoints` put it.
pub(crate) fn describe(
    contract: &Contract,
    product: &ProductSpec,
    endpoints: &Endpoints,
) -> DataProduct {
    let id = ProductId::new(&contract.domain, &product.name);
    let topic = |s: &mesh_core::StreamName| TopicName::new(&contract.domain, s);
    DataProduct {
        description: product.description.clone(),
        tags: product.tags.clone(),
        sla: product.sla.map(|d| Sla {
            max_staleness_secs: d.as_secs(),
        }),
        stream_ports: product
            .streams
            .iter()
            .map(|s| StreamPort::new(topic(s)))
            .collect(),
        table_port: Some(TablePort {
            uri: endpoints.table_url(&id),
            partition_columns: product.partition_by.clone(),
            source_topic: product.source.as_ref().map(topic),
            write_mode: Some(match product.mode {
                WriteMode::Overwrite => catalog::WriteMode::Overwrite,
                WriteMode::Append => catalog::WriteMode::Append,
                WriteMode::Merge { .. } => catalog::WriteMode::Merge,
            }),
            merge_keys: match &product.mode {
                WriteMode::Merge { keys } => keys.clone(),
                _ => Vec::new(),
            },
        }),
        table_location_hidden: false,
        id,
    }
}
