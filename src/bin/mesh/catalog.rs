//! `mesh catalog`: the catalog's records, read and changed over its API.

use std::process::ExitCode;

use datamesh::catalog::{DataProduct, Domain, IdentityKind, NewToken, WriteMode};
use datamesh::mesh_core::{DomainName, ProductId, Subject};
use serde::Serialize;

use crate::Context;
use crate::failure::{Failure, Outcome};
use crate::output::{Table, utc};

/// `mesh catalog ...`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// List the domains.
    Domains,
    /// Show one domain and its products.
    Domain {
        /// The domain.
        name: DomainName,
    },
    /// Register a domain, or update its owner and description.
    RegisterDomain {
        /// The domain.
        name: DomainName,
        /// Who owns it (a team or an address).
        #[arg(long)]
        owner: String,
        /// What it is.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List the data products.
    Products,
    /// Show one product: ports, SLA, table versions.
    Product {
        /// `<domain>.<product>`.
        id: ProductId,
    },
    /// Search products by name, description and tags.
    Search {
        /// Words to look for.
        query: String,
    },
    /// A product's health: its table's age against the SLA and, for a table a sink feeds,
    /// the events of its stream not yet in the table.
    Health {
        /// `<domain>.<product>`.
        id: ProductId,
    },
    /// Grant a consumer domain read access to a product.
    Grant {
        /// `<domain>.<product>`.
        product: ProductId,
        /// The consumer domain.
        consumer: DomainName,
    },
    /// Withdraw a consumer domain's access to a product.
    Revoke {
        /// `<domain>.<product>`.
        product: ProductId,
        /// The consumer domain.
        consumer: DomainName,
    },
    /// List a product's grants.
    Grants {
        /// `<domain>.<product>`.
        product: ProductId,
    },
    /// Create (admin), list and revoke API tokens; a domain's token sees its own domain's.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Who the configured token acts as: an admin, a domain, or anyone (no authentication).
    Whoami,
    /// The registry's subjects with their latest version and schema id.
    Subjects {
        /// Only the subjects of this domain (`<domain>.…`).
        #[arg(long)]
        domain: Option<DomainName>,
    },
    /// Every registered version of a subject, with its schema id (the schemas with --json).
    Versions {
        /// The subject, e.g. `payments.events-value` or `payments.latest-table`.
        subject: Subject,
    },
}

/// `mesh catalog token ...`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a token for a domain (or an admin token without one); the secret is shown once.
    Create {
        /// The domain the token acts for.
        domain: Option<DomainName>,
        /// What the token is for.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke {
        /// The token's id.
        id: String,
    },
}

fn print_json(value: &impl Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string(value)
        .map_err(|e| Failure::failed(format!("cannot write JSON: {e}"), "try without --json"))?;
    println!("{text}");
    Ok(())
}

fn products_table(products: &[DataProduct]) -> Table {
    let mut table = Table::new(["product", "streams", "table", "sla", "description"]);
    for p in products {
        table.row([
            p.id.to_string(),
            p.stream_ports
                .iter()
                .map(|s| s.topic.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            match (&p.table_port, p.table_location_hidden) {
                (_, true) => "(needs a grant)".to_owned(),
                (Some(port), false) => port.uri.clone(),
                (None, false) => String::new(),
            },
            p.sla
                .map_or_else(String::new, |s| format!("{} s", s.max_staleness_secs)),
            p.description.clone(),
        ]);
    }
    table
}

/// A record schema's top-level field names, for a glance at what changed between versions;
/// other schemas by their type.
fn fields_of(schema: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(schema) else {
        return String::new();
    };
    match value.get("fields").and_then(serde_json::Value::as_array) {
        Some(fields) => fields
            .iter()
            .filter_map(|f| f.get("name").and_then(serde_json::Value::as_str))
            .collect::<Vec<_>>()
            .join(", "),
        None => value
            .get("type")
            .and_then(serde_json::Value::as_str)
            .map_or_else(|| value.to_string(), str::to_owned),
    }
}

/// Runs a `mesh catalog` command.
pub(crate) async fn run(ctx: &Context, command: Command) -> Outcome {
    let catalog = ctx.catalog()?;
    match command {
        Command::Domains => {
            let domains = catalog.domains().await?;
            if ctx.json {
                print_json(&domains)?;
            } else {
                let mut table = Table::new(["domain", "owner", "description"]);
                for d in &domains {
                    table.row([d.name.to_string(), d.owner.clone(), d.description.clone()]);
                }
                print!("{table}");
            }
        }
        Command::Domain { name } => {
            let domain = catalog.domain(&name).await?;
            let products: Vec<DataProduct> = catalog
                .products()
                .await?
                .into_iter()
                .filter(|p| p.id.domain() == name)
                .collect();
            if ctx.json {
                print_json(&serde_json::json!({ "domain": domain, "products": products }))?;
            } else {
                println!(
                    "{} (owner {}): {}",
                    domain.name, domain.owner, domain.description
                );
                print!("{}", products_table(&products));
            }
        }
        Command::RegisterDomain {
            name,
            owner,
            description,
        } => {
            let domain = catalog
                .upsert_domain(&Domain {
                    name,
                    owner,
                    description,
                })
                .await?;
            if ctx.json {
                print_json(&domain)?;
            } else {
                println!("domain {} registered (owner {})", domain.name, domain.owner);
            }
        }
        Command::Products => {
            let products = catalog.products().await?;
            if ctx.json {
                print_json(&products)?;
            } else {
                print!("{}", products_table(&products));
            }
        }
        Command::Search { query } => {
            let products = catalog.search(&query).await?;
            if ctx.json {
                print_json(&products)?;
            } else {
                print!("{}", products_table(&products));
            }
        }
        Command::Product { id } => {
            let product = catalog.product(&id).await?;
            let versions = match catalog.table_versions(&id).await {
                Ok(v) => v,
                Err(e) if e.is_not_found() => Vec::new(),
                Err(e) => return Err(e.into()),
            };
            if ctx.json {
                print_json(&serde_json::json!({ "product": product, "versions": versions }))?;
            } else {
                print!("{}", products_table(std::slice::from_ref(&product)));
                if let Some(port) = &product.table_port {
                    match port.write_mode {
                        Some(WriteMode::Merge) => {
                            println!("written by merge on {}", port.merge_keys.join(", "));
                        }
                        Some(mode) => println!("written by {}", mode.as_str()),
                        None => {}
                    }
                    if !port.partition_columns.is_empty() {
                        println!("partitioned by {}", port.partition_columns.join(", "));
                    }
                    if let Some(source) = &port.source_topic {
                        println!("fed by the sink from {source}");
                    }
                }
                let mut table =
                    Table::new(["version", "rows", "bytes", "schema id", "committed (UTC)"]);
                for v in &versions {
                    table.row([
                        v.version.to_string(),
                        v.rows.to_string(),
                        v.bytes.to_string(),
                        v.schema_id.map_or_else(String::new, |id| id.to_string()),
                        utc(v.committed_at_ms),
                    ]);
                }
                print!("{table}");
            }
        }
        Command::Health { id } => {
            let health = catalog.product_health(&id).await?;
            if ctx.json {
                print_json(&health)?;
            } else {
                println!("{}: {}", health.product, health.status);
                if let Some(age) = health.table_age_secs {
                    println!(
                        "  table version {} is {age:.0} s old{}",
                        health
                            .table_version
                            .map_or_else(|| "-".to_owned(), |v| v.to_string()),
                        health.sla.map_or_else(String::new, |s| format!(
                            " (SLA {} s)",
                            s.max_staleness_secs
                        ))
                    );
                }
                for stream in &health.streams {
                    match stream.lag {
                        Some(lag) => {
                            println!("  {lag} events of {} not yet in the table", stream.topic)
                        }
                        None => println!("  {}: no stream head reported yet", stream.topic),
                    }
                }
                for reason in &health.reasons {
                    println!("  {reason}");
                }
            }
        }
        Command::Grant { product, consumer } => {
            let grant = catalog.grant(&product, &consumer).await?;
            if ctx.json {
                print_json(&grant)?;
            } else {
                println!("{consumer} may now read {product}");
            }
        }
        Command::Revoke { product, consumer } => {
            catalog.revoke(&product, &consumer).await?;
            if ctx.json {
                print_json(&serde_json::json!({ "product": product, "revoked": consumer }))?;
            } else {
                println!("{consumer} may no longer read {product}");
            }
        }
        Command::Grants { product } => {
            let grants = catalog.grants(&product).await?;
            if ctx.json {
                print_json(&grants)?;
            } else {
                let mut table = Table::new(["consumer", "granted by", "granted (UTC)"]);
                for g in &grants {
                    table.row([
                        g.consumer_domain.to_string(),
                        g.granted_by.clone(),
                        utc(g.granted_at_ms),
                    ]);
                }
                print!("{table}");
            }
        }
        Command::Token(TokenCommand::Create {
            domain,
            description,
        }) => {
            let created = catalog
                .create_token(&NewToken {
                    domain,
                    description,
                })
                .await?;
            if ctx.json {
                print_json(&serde_json::json!({ "info": created.info, "token": created.token }))?;
            } else {
                println!("token {} (shown once, keep it):", created.info.id);
                println!("{}", created.token);
            }
        }
        Command::Token(TokenCommand::List) => {
            let tokens = catalog.tokens().await?;
            if ctx.json {
                print_json(&tokens)?;
            } else {
                let mut table = Table::new(["id", "domain", "description", "revoked"]);
                for t in &tokens {
                    table.row([
                        t.id.clone(),
                        t.domain
                            .as_ref()
                            .map_or_else(|| "(admin)".to_owned(), ToString::to_string),
                        t.description.clone(),
                        t.revoked.to_string(),
                    ]);
                }
                print!("{table}");
            }
        }
        Command::Whoami => {
            let identity = catalog.whoami().await?;
            if ctx.json {
                print_json(&identity)?;
            } else {
                let token = identity.token.as_deref().unwrap_or("-");
                match (identity.kind, &identity.domain) {
                    (IdentityKind::Dev, _) => println!(
                        "anyone: this catalog does not authenticate; every request may read and change everything"
                    ),
                    (IdentityKind::Admin, _) => println!("an admin (token {token})"),
                    (IdentityKind::Domain, Some(domain)) => {
                        println!("domain {domain} (token {token})")
                    }
                    (IdentityKind::Domain, None) => println!("a domain token ({token})"),
                }
            }
        }
        Command::Subjects { domain } => {
            let mut subjects = catalog.subjects().await?;
            if let Some(domain) = &domain {
                subjects.retain(|s| {
                    s.strip_prefix(domain.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
                });
            }
            let mut latest = Vec::with_capacity(subjects.len());
            for name in &subjects {
                let subject = Subject::new(name.as_str())?;
                latest.push(catalog.latest_version(&subject).await?);
            }
            if ctx.json {
                print_json(&latest)?;
            } else {
                let mut table = Table::new(["subject", "latest version", "schema id"]);
                for v in &latest {
                    table.row([v.subject.clone(), v.version.to_string(), v.id.to_string()]);
                }
                print!("{table}");
            }
        }
        Command::Versions { subject } => {
            let numbers = catalog.versions(&subject).await?;
            let mut versions = Vec::with_capacity(numbers.len());
            for number in numbers {
                versions.push(catalog.version(&subject, number).await?);
            }
            if ctx.json {
                print_json(&versions)?;
            } else {
                let mut table = Table::new(["version", "schema id", "fields"]);
                for v in &versions {
                    table.row([
                        v.version.to_string(),
                        v.id.to_string(),
                        fields_of(&v.schema),
                    ]);
                }
                print!("{table}");
            }
        }
        Command::Token(TokenCommand::Revoke { id }) => {
            catalog.revoke_token(&id).await?;
            if ctx.json {
                print_json(&serde_json::json!({ "revoked": id }))?;
            } else {
                println!("token {id} revoked");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
