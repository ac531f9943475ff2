//! `mesh contract`: check a domain contract, see what applying it would change, apply it.

use std::path::PathBuf;
use std::process::ExitCode;

use datamesh::mesh_core::{Contract, ProductId, TopicName, WriteMode};
use datamesh::producer_kit::{self, DomainProducer};

use crate::Context;
use crate::failure::{Failure, Outcome, REFUSED};

/// `mesh contract ...`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Check the contract and its schemas locally (no service needed).
    Validate {
        /// The contract file.
        manifest: PathBuf,
    },
    /// Show what applying the contract would change, with the catalog's verdict on every
    /// schema. Exits 3 when the catalog would refuse it.
    Diff {
        /// The contract file.
        manifest: PathBuf,
    },
    /// Apply the contract: register the domain, products and schemas, create topics and
    /// tables. Nothing changes if the catalog refuses any schema.
    Apply {
        /// The contract file.
        manifest: PathBuf,
    },
}

fn load(manifest: &PathBuf) -> Result<Contract, Failure> {
    Contract::load(manifest).map_err(|e| {
        Failure::invalid(
            e.to_string(),
            "each error names the entry and the reason; schemas are paths relative to the contract",
        )
    })
}

fn mode(mode: &WriteMode) -> String {
    match mode {
        WriteMode::Append => "append".to_owned(),
        WriteMode::Overwrite => "overwrite".to_owned(),
        WriteMode::Merge { keys } => format!("merge on {}", keys.join(", ")),
    }
}

fn describe(contract: &Contract) -> serde_json::Value {
    let domain = &contract.domain;
    serde_json::json!({
        "domain": domain,
        "owner": contract.owner,
        "streams": contract.streams.iter().map(|s| serde_json::json!({
            "topic": TopicName::new(domain, &s.name),
            "key": s.key,
            "schema": s.schema.full_name(),
            "partitions": s.partitions,
            "retention_secs": s.retention.map(|r| r.as_secs()),
        })).collect::<Vec<_>>(),
        "products": contract.products.iter().map(|p| serde_json::json!({
            "product": ProductId::new(domain, &p.name),
            "schema": p.schema.full_name(),
            "mode": mode(&p.mode),
            "partition_by": p.partition_by,
            "sla_secs": p.sla.map(|d| d.as_secs()),
            "source": p.source.as_ref().map(|s| TopicName::new(domain, s)),
        })).collect::<Vec<_>>(),
    })
}

/// Runs a `mesh contract` command.
pub(crate) async fn run(ctx: &Context, command: Command) -> Outcome {
    match command {
        Command::Validate { manifest } => {
            let contract = load(&manifest)?;
            if ctx.json {
                let mut described = describe(&contract);
                described["valid"] = true.into();
                println!("{described}");
            } else {
                let domain = &contract.domain;
                println!("{}: domain {domain} is valid", manifest.display());
                for s in &contract.streams {
                    println!(
                        "  stream   {:<36} {} ({} partitions{})",
                        TopicName::new(domain, &s.name),
                        s.schema.full_name(),
                        s.partitions,
                        s.key
                            .as_ref()
                            .map_or_else(String::new, |k| format!(", keyed by {k}"))
                    );
                }
                for p in &contract.products {
                    println!(
                        "  product  {:<36} {} ({})",
                        ProductId::new(domain, &p.name),
                        p.schema.full_name(),
                        mode(&p.mode)
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff { manifest } => {
            let contract = load(&manifest)?;
            let endpoints = ctx.endpoints()?;
            // The plan includes the topics: a broker it cannot ask is a failure, not a
            // contract that "can be applied".
            crate::broker::reach(&endpoints, None).await?;
            let plan = producer_kit::plan(&contract, &endpoints).await?;
            if ctx.json {
                let mut value = serde_json::to_value(&plan).map_err(|e| {
                    Failure::failed(format!("cannot write the plan: {e}"), "try without --json")
                })?;
                value["refused"] = plan.is_refused().into();
                value["noop"] = plan.is_noop().into();
                println!("{value}");
            } else {
                print!("{plan}");
            }
            Ok(if plan.is_refused() {
                ExitCode::from(REFUSED)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Apply { manifest } => {
            let contract = load(&manifest)?;
            let endpoints = ctx.endpoints()?;
            crate::broker::reach(&endpoints, None).await?;
            let plan = producer_kit::plan(&contract, &endpoints).await?;
            if plan.is_refused() {
                return Err(Failure::refused(
                    format!(
                        "the contract of domain {} was refused: {}",
                        plan.domain,
                        plan.refusals().join("; ")
                    ),
                    "`mesh contract diff` shows every verdict; add defaults or make fields optional to stay compatible",
                ));
            }
            let producer = DomainProducer::connect(contract, &endpoints).await?;
            drop(producer);
            if ctx.json {
                let mut value = serde_json::to_value(&plan).map_err(|e| {
                    Failure::failed(format!("cannot write the plan: {e}"), "try without --json")
                })?;
                value["applied"] = true.into();
                println!("{value}");
            } else {
                print!("{plan}");
                println!("applied");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
