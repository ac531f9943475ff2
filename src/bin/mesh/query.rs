//! `mesh query`: SQL over data products.

use std::process::ExitCode;

use datamesh::consumer_kit::DomainConsumer;
use datamesh::mesh_core::{DomainName, ProductId};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::common::TableReference;

use crate::Context;
use crate::failure::{Failure, Outcome};

/// `mesh query`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The query. Tables are products: `SELECT * FROM songs.catalogue`; quote domains with a
    /// dash: `"threat-intel".ip_reputation`.
    sql: String,
    /// The consumer domain asking; products of other domains need its grant (default: the
    /// catalog token's domain, else `mesh-cli`).
    #[arg(long)]
    domain: Option<DomainName>,
}

/// The products a query names, in order of appearance.
fn products_in(
    ctx: &deltalake::datafusion::prelude::SessionContext,
    sql: &str,
) -> Result<Vec<ProductId>, Failure> {
    let state = ctx.state();
    let dialect = state.config().options().sql_parser.dialect;
    let invalid = |e: &dyn std::fmt::Display| {
        Failure::invalid(
            format!("cannot parse the query: {e}"),
            "tables are products: SELECT * FROM <domain>.<product>",
        )
    };
    let statement = state
        .sql_to_statement(sql, &dialect)
        .map_err(|e| invalid(&e))?;
    let references = state
        .resolve_table_references(&statement)
        .map_err(|e| invalid(&e))?;
    let mut products = Vec::new();
    for reference in references {
        let TableReference::Partial { schema, table } = &reference else {
            return Err(Failure::invalid(
                format!("table `{reference}` is not a product"),
                "tables are products: <domain>.<product>, e.g. songs.catalogue",
            ));
        };
        let id = ProductId::parse(&format!("{schema}.{table}")).map_err(|e| {
            Failure::invalid(
                format!("table `{reference}` is not a product: {e}"),
                "tables are products: <domain>.<product>, e.g. songs.catalogue",
            )
        })?;
        if !products.contains(&id) {
            products.push(id);
        }
    }
    Ok(products)
}

/// Opens the products the query names (as the asking domain), runs it, prints the rows.
pub(crate) async fn run(ctx: &Context, args: Args) -> Outcome {
    let endpoints = ctx.endpoints()?;
    let domain = crate::stream::acting_domain(&endpoints, args.domain).await?;
    let consumer = DomainConsumer::connect(domain, &endpoints).await?;
    let data = consumer.static_data();
    let products = products_in(data.session(), &args.sql)?;
    if products.is_empty() {
        return Err(Failure::invalid(
            "the query names no product",
            "tables are products: SELECT * FROM <domain>.<product>",
        ));
    }
    let mut versions = Vec::new();
    for product in &products {
        versions.push((product, data.open(product).await?));
    }
    let batches = data.sql(&args.sql).await?;
    if ctx.json {
        print_json(&batches)?;
    } else {
        let table = deltalake::arrow::util::pretty::pretty_format_batches(&batches)
            .map_err(|e| Failure::failed(format!("cannot print the rows: {e}"), "try --json"))?;
        println!("{table}");
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let read: Vec<String> = versions
            .iter()
            .map(|(p, v)| format!("{p} at version {v}"))
            .collect();
        println!("{rows} row(s); read {}", read.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// The rows as JSON lines.
fn print_json(batches: &[RecordBatch]) -> Result<(), Failure> {
    let mut writer = deltalake::arrow::json::LineDelimitedWriter::new(std::io::stdout().lock());
    let failed = |e: &dyn std::fmt::Display| {
        Failure::failed(
            format!("cannot write the rows as JSON: {e}"),
            "try without --json",
        )
    };
    for batch in batches {
        writer.write(batch).map_err(|e| failed(&e))?;
    }
    writer.finish().map_err(|e| failed(&e))
}
