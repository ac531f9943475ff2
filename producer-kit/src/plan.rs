//! What applying a contract would change, before anything changes.
//!
//! [`plan`] compares a [`Contract`] with what the mesh holds: the domain and product records
//! in the catalog, every schema subject (with the catalog's compatibility verdict, registry
//! level and what the product tables can take), the topics on the broker and the product
//! tables' registered versions. [`DomainProducer::connect`](crate::DomainProducer::connect)
//! applies a contract; it refuses the whole contract when [`Plan::is_refused`].
//!
//! ```no_run
//! # async fn demo() -> producer_kit::Result<()> {
//! use mesh_core::{Contract, Endpoints, MeshConfig};
//! let endpoints = Endpoints::from_config(&MeshConfig::load()?)?;
//! let plan = producer_kit::plan(&Contract::load("contract.toml")?, &endpoints).await?;
//! print!("{plan}");
//! if plan.is_refused() {
//!     eprintln!("the catalog would refuse this contract");
//! }
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::Duration;

use catalog::{CatalogClient, DataProduct};
use mesh_core::{AvroSchema, Contract, DomainName, Endpoints, Subject, TopicName};
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde::Serialize;

use crate::error::Result;
use crate::records;

/// What applying a contract would do.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The contract's domain.
    pub domain: DomainName,
    /// The domain's record in the catalog.
    pub domain_change: Change,
    /// Each schema subject of the contract, tables' first.
    pub subjects: Vec<SubjectPlan>,
    /// Each data product's record in the catalog.
    pub products: Vec<ProductPlan>,
    /// Each stream's topic.
    pub topics: Vec<TopicPlan>,
    /// What the mesh holds for the domain that the contract no longer declares (a removed
    /// product, a renamed stream's old topic and subject). Applying leaves them as they are.
    pub undeclared: Vec<Undeclared>,
}

/// Something the mesh holds for the domain that the contract no longer declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Undeclared {
    /// A data product in the catalog (with its table and grants).
    Product {
        /// `<domain>.<product>`.
        product: String,
    },
    /// A stream's value subject in the registry, and the topic it names.
    Stream {
        /// The topic.
        topic: String,
        /// Its value subject.
        subject: String,
    },
}

/// A change to a catalog record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// The record does not exist yet.
    Create,
    /// These fields would change.
    Update {
        /// `field: old -> new`, one per changed field.
        fields: Vec<String>,
    },
    /// Nothing would change.
    Unchanged,
}

/// A schema subject of the contract.
#[derive(Debug, Clone, Serialize)]
pub struct SubjectPlan {
    /// The subject.
    pub subject: Subject,
    /// `stream` for a stream's value schema, `table` for a product's row schema.
    pub kind: &'static str,
    /// What registering the contract's schema would do.
    pub verdict: Verdict,
}

/// What registering a schema under a subject would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The subject is new: version 1.
    New,
    /// The subject already holds this schema.
    Unchanged {
        /// The version holding it.
        version: i64,
        /// Its global id.
        id: mesh_core::SchemaId,
    },
    /// A new version, compatible under the subject's level.
    Compatible {
        /// The subject's newest version now.
        latest: i64,
    },
    /// Refused by the catalog.
    Refused {
        /// The catalog's reasons (field paths and rules).
        reasons: Vec<String>,
    },
}

/// A data product of the contract.
#[derive(Debug, Clone, Serialize)]
pub struct ProductPlan {
    /// `<domain>.<product>`.
    pub product: String,
    /// Its catalog record.
    pub change: Change,
    /// The newest registered table version, if any (applying creates an empty table if none).
    pub table_version: Option<i64>,
}

/// A stream's topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicPlan {
    /// The topic.
    pub topic: TopicName,
    /// Partitions declared in the contract.
    pub declared_partitions: i32,
    /// What the broker has.
    pub state: TopicState,
}

/// A topic on the broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TopicState {
    /// It does not exist: applying creates it.
    Missing,
    /// It exists with this many partitions (applying never changes them).
    Exists {
        /// Partitions on the broker.
        partitions: i32,
    },
    /// The broker could not be asked.
    Unknown {
        /// Why.
        reason: String,
    },
}

impl Plan {
    /// Whether the catalog would refuse the contract (some subject is refused).
    pub fn is_refused(&self) -> bool {
        self.subjects
            .iter()
            .any(|s| matches!(s.verdict, Verdict::Refused { .. }))
    }

    /// Every refusal, `subject: reason`.
    pub fn refusals(&self) -> Vec<String> {
        self.subjects
            .iter()
            .flat_map(|s| match &s.verdict {
                Verdict::Refused { reasons } => reasons
                    .iter()
                    .map(|r| format!("{}: {r}", s.subject))
                    .collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    /// Whether applying would change nothing.
    pub fn is_noop(&self) -> bool {
        self.domain_change == Change::Unchanged
            && self
                .subjects
                .iter()
                .all(|s| matches!(s.verdict, Verdict::Unchanged { .. }))
            && self.products.iter().all(|p| p.change == Change::Unchanged)
            && self
                .topics
                .iter()
                .all(|t| matches!(t.state, TopicState::Exists { .. }))
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Create => f.write_str("create"),
            Self::Update { fields } => write!(f, "update ({})", fields.join("; ")),
            Self::Unchanged => f.write_str("unchanged"),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::New => f.write_str("new subject, version 1"),
            Self::Unchanged { version, id } => write!(f, "unchanged (version {version}, id {id})"),
            Self::Compatible { latest } => {
                write!(f, "compatible: becomes version {}", latest + 1)
            }
            Self::Refused { reasons } => write!(f, "REFUSED: {}", reasons.join("; ")),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "domain {}: {}", self.domain, self.domain_change)?;
        for s in &self.subjects {
            let label = format!("{} schema", s.kind);
            writeln!(f, "  {label:<14} {:<36} {}", s.subject.as_str(), s.verdict)?;
        }
        for p in &self.products {
            let table = p.table_version.map_or_else(
                || "no version yet".to_owned(),
                |v| format!("at version {v}"),
            );
            writeln!(
                f,
                "  {:<14} {:<36} {} (table {table})",
                "product", p.product, p.change
            )?;
        }
        for u in &self.undeclared {
            match u {
                Undeclared::Product { product } => writeln!(
                    f,
                    "  {:<14} {product:<36} not in the contract: stays in the catalog with its table and grants (consumers keep reading it)",
                    "product"
                )?,
                Undeclared::Stream { topic, subject } => writeln!(
                    f,
                    "  {:<14} {topic:<36} not in the contract: the topic and subject {subject} stay (a renamed stream's consumers read no new events there)",
                    "old stream"
                )?,
            }
        }
        for t in &self.topics {
            let state = match &t.state {
                TopicState::Missing => format!("create with {} partitions", t.declared_partitions),
                TopicState::Exists { partitions } if *partitions == t.declared_partitions => {
                    format!("exists ({partitions} partitions)")
                }
                TopicState::Exists { partitions } => format!(
                    "exists with {partitions} partitions, the contract declares {} (left as is)",
                    t.declared_partitions
                ),
                TopicState::Unknown { reason } => format!("unknown: {reason}"),
            };
            writeln!(f, "  {:<14} {:<36} {state}", "topic", t.topic.as_str())?;
        }
        if self.is_refused() {
            writeln!(
                f,
                "the catalog would refuse this contract; nothing would change"
            )
        } else if self.is_noop() {
            writeln!(f, "nothing to change")
        } else {
            writeln!(f, "the contract can be applied")
        }
    }
}

/// The catalog's reasons for refusing `schema` under `subject` (registry level and what the
/// product tables can take), empty when it would accept it; `None` when the subject does not
/// exist yet and so has nothing to be incompatible with.
pub(crate) async fn refusals(
    catalog: &CatalogClient,
    subject: &Subject,
    schema: &AvroSchema,
) -> Result<Option<Vec<String>>> {
    match catalog.check_compatibility(subject, schema).await {
        Ok(reasons) => Ok(Some(reasons)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The catalog's verdict on registering `schema` under `subject`.
async fn verdict(
    catalog: &CatalogClient,
    subject: &Subject,
    schema: &AvroSchema,
) -> Result<Verdict> {
    if let Some(found) = catalog.lookup_schema(subject, schema).await? {
        return Ok(Verdict::Unchanged {
            version: found.version,
            id: found.id,
        });
    }
    match refusals(catalog, subject, schema).await? {
        None => Ok(Verdict::New),
        Some(reasons) if !reasons.is_empty() => Ok(Verdict::Refused { reasons }),
        Some(_) => match catalog.latest_version(subject).await {
            Ok(latest) => Ok(Verdict::Compatible {
                latest: latest.version,
            }),
            // Deleted between the two calls: nothing to be incompatible with.
            Err(e) if e.is_not_found() => Ok(Verdict::New),
            Err(e) => Err(e.into()),
        },
    }
}

/// What applying `contract` to the mesh at `endpoints` would change. Reads only.
pub async fn plan(contract: &Contract, endpoints: &Endpoints) -> Result<Plan> {
    let catalog = CatalogClient::for_endpoints(endpoints)?;
    let domain = &contract.domain;

    let domain_change = match catalog.domain(domain).await {
        Ok(held) => changes(&[
            ("owner", &held.owner, &contract.owner),
            ("description", &held.description, &contract.description),
        ]),
        Err(e) if e.is_not_found() => Change::Create,
        Err(e) => return Err(e.into()),
    };

    let mut subjects = Vec::new();
    for (subject, schema) in records::subjects(contract) {
        let kind = if subject.as_str().ends_with("-table") {
            "table"
        } else {
            "stream"
        };
        subjects.push(SubjectPlan {
            verdict: verdict(&catalog, &subject, schema).await?,
            subject,
            kind,
        });
    }

    let mut products = Vec::new();
    for spec in &contract.products {
        let wanted = records::describe(contract, spec, endpoints);
        let (change, table_version) = match catalog.product(&wanted.id).await {
            Ok(held) => {
                let version = match catalog.latest_table_version(&wanted.id).await {
                    Ok(v) => Some(v.version),
                    Err(e) if e.is_not_found() => None,
                    Err(e) => return Err(e.into()),
                };
                (product_changes(&held, &wanted), version)
            }
            Err(e) if e.is_not_found() => (Change::Create, None),
            Err(e) => return Err(e.into()),
        };
        products.push(ProductPlan {
            product: wanted.id.to_string(),
            change,
            table_version,
        });
    }

    let topics = topic_states(contract, endpoints).await;
    let undeclared = undeclared(&catalog, contract).await?;
    Ok(Plan {
        domain: domain.clone(),
        domain_change,
        subjects,
        products,
        topics,
        undeclared,
    })
}

/// The domain's products and stream subjects in the catalog that `contract` does not declare.
async fn undeclared(catalog: &CatalogClient, contract: &Contract) -> Result<Vec<Undeclared>> {
    let domain = &contract.domain;
    let declared_products: Vec<String> = contract
        .products
        .iter()
        .map(|p| mesh_core::ProductId::new(domain, &p.name).to_string())
        .collect();
    let declared_subjects: Vec<String> = records::subjects(contract)
        .into_iter()
        .map(|(subject, _)| subject.as_str().to_owned())
        .collect();
    let mut found = Vec::new();
    for product in catalog.products().await? {
        let id = product.id.to_string();
        if &product.id.domain() == domain && !declared_products.contains(&id) {
            found.push(Undeclared::Product { product: id });
        }
    }
    let prefix = format!("{domain}.");
    for subject in catalog.subjects().await? {
        if let Some(topic) = subject
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix("-value"))
            && !declared_subjects.contains(&subject)
        {
            found.push(Undeclared::Stream {
                topic: format!("{prefix}{topic}"),
                subject,
            });
        }
    }
    Ok(found)
}

fn changes(fields: &[(&str, &dyn fmt::Debug, &dyn fmt::Debug)]) -> Change {
    let changed: Vec<String> = fields
        .iter()
        .filter_map(|(name, old, new)| {
            let (old, new) = (format!("{old:?}"), format!("{new:?}"));
            (old != new).then(|| format!("{name}: {old} -> {new}"))
        })
        .collect();
    if changed.is_empty() {
        Change::Unchanged
    } else {
        Change::Update { fields: changed }
    }
}

fn product_changes(held: &DataProduct, wanted: &DataProduct) -> Change {
    let topics = |p: &DataProduct| -> Vec<String> {
        p.stream_ports.iter().map(|s| s.topic.to_string()).collect()
    };
    let table = |p: &DataProduct| {
        p.table_port.as_ref().map(|t| {
            (
                t.partition_columns.clone(),
                t.source_topic.as_ref().map(ToString::to_string),
            )
        })
    };
    let sla = |p: &DataProduct| p.sla.map(|s| s.max_staleness_secs);
    // What a row of the table means: the same rows written in another mode, or merged on
    // other keys, are another product to its readers.
    // A catalog that has not recorded the mode (an older catalog, or a port saved before it
    // did) shows no change: the next apply records it.
    let writes = |p: &DataProduct| {
        p.table_port.as_ref().and_then(|t| match t.write_mode? {
            catalog::WriteMode::Merge => Some(format!("merge on {}", t.merge_keys.join(", "))),
            mode => Some(mode.as_str().to_owned()),
        })
    };
    let (held_writes, wanted_writes) = match writes(held) {
        Some(held) => (
            held,
            writes(wanted).unwrap_or_else(|| "no table".to_owned()),
        ),
        None => (String::new(), String::new()),
    };
    changes(&[
        ("write mode", &held_writes, &wanted_writes),
        ("description", &held.description, &wanted.description),
        ("tags", &held.tags, &wanted.tags),
        ("sla_secs", &sla(held), &sla(wanted)),
        ("stream ports", &topics(held), &topics(wanted)),
        ("partition columns, source", &table(held), &table(wanted)),
    ])
}

/// The topics' partitions on the broker, read from its metadata (never auto-creating).
async fn topic_states(contract: &Contract, endpoints: &Endpoints) -> Vec<TopicPlan> {
    let topics: Vec<(TopicName, i32)> = contract
        .streams
        .iter()
        .map(|s| (TopicName::new(&contract.domain, &s.name), s.partitions))
        .collect();
    let config = mesh_core::kafka::client_config(&endpoints.kafka, &[], &[]);
    let found = mesh_core::kafka::blocking(move || -> Result<Vec<(String, i32)>, String> {
        let client: BaseConsumer = config
            .map_err(|e| e.to_string())?
            .create()
            .map_err(|e| e.to_string())?;
        let metadata = client
            .fetch_metadata(None, Duration::from_secs(10))
            .map_err(|e| format!("cannot read the broker's metadata: {e}"))?;
        Ok(metadata
            .topics()
            .iter()
            .map(|t| (t.name().to_owned(), t.partitions().len() as i32))
            .collect())
    })
    .await
    .unwrap_or_else(|| Err("shutting down".to_owned()));
    topics
        .into_iter()
        .map(|(topic, declared)| {
            let state = match &found {
                Err(reason) => TopicState::Unknown {
                    reason: reason.clone(),
                },
                Ok(found) => found
                    .iter()
                    .find(|(name, _)| name == topic.as_str())
                    .map_or(TopicState::Missing, |(_, partitions)| TopicState::Exists {
                        partitions: *partitions,
                    }),
            };
            TopicPlan {
                topic,
                declared_partitions: declared,
                state,
            }
        })
        .collect()
}
