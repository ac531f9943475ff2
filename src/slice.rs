//! A first walk through every hop of the mesh, thin but real at each:
//!
//! 1. the `interactions` domain applies its contract (`examples/contracts/interactions.toml`):
//!    `schemas/interactions/Played.avsc` is registered in the catalog's registry and the
//!    `played` topic created;
//! 2. an invalid event is refused before it reaches Kafka, with field paths;
//! 3. a valid event is published in the Confluent wire format;
//! 4. the `recommendations` domain subscribes and decodes it back through the registry;
//! 5. the `songs` domain applies its contract and snapshots a few rows of its `catalogue`
//!    product to its Delta table, registering the version in the catalog;
//! 6. the `recommendations` domain finds the product through the catalog and reads it with
//!    DataFusion.
//!
//! [`Slice::run`] reports each hop as a line of text and returns what it saw, so the
//! example prints it and the tests check it.

use std::sync::Arc;
use std::time::Duration;

use catalog::TableVersion;
use consumer_kit::{DomainConsumer, Event, StartFrom};
use deltalake::arrow::array::{Int32Array, Int64Array, StringArray, TimestampMicrosecondArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use deltalake::arrow::record_batch::RecordBatch;
use mesh_core::apache_avro::types::Value;
use mesh_core::time::now_ms;
use mesh_core::{Contract, DomainName, Endpoints, ProductId, ProductName};
use producer_kit::{Delivery, DomainProducer};

use crate::error::{Error, Result};

/// How long the consumer waits for the event (the in-process broker's first group
/// assignment alone takes about 3 s).
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the slice saw at each hop.
#[derive(Debug)]
pub struct SliceReport {
    /// The registry id of `Played`.
    pub played_schema_id: mesh_core::SchemaId,
    /// Why the invalid event was refused.
    pub refusal: producer_kit::Error,
    /// Where the valid event was stored.
    pub delivery: Delivery,
    /// The event as the consumer decoded it.
    pub received: Event<Value>,
    /// The catalogue product's id.
    pub product: ProductId,
    /// The registry id of `Song`, the catalogue's row schema.
    pub song_schema_id: mesh_core::SchemaId,
    /// The catalogue's table version as the catalog recorded it.
    pub table_version: TableVersion,
    /// The catalogue as the consumer's SQL query returned it.
    pub rows: Vec<RecordBatch>,
}

/// The slice's contracts, `examples/contracts/*.toml`, built into the program.
const CONTRACTS: &[(&str, &str)] = &[
    (
        "interactions.toml",
        include_str!("../examples/contracts/interactions.toml"),
    ),
    (
        "songs.toml",
        include_str!("../examples/contracts/songs.toml"),
    ),
];

/// The schema files they name, under the paths they name them by.
const SCHEMAS: &[(&str, &str)] = &[
    (
        "../../schemas/interactions/Played.avsc",
        include_str!("../schemas/interactions/Played.avsc"),
    ),
    (
        "../../schemas/songs/Song.avsc",
        include_str!("../schemas/songs/Song.avsc"),
    ),
];

/// The slice, ready to run against a mesh's endpoints.
#[derive(Debug, Clone)]
pub struct Slice {
    endpoints: Endpoints,
    suffix: String,
}

fn name(base: &str, suffix: &str) -> Result<DomainName> {
    Ok(DomainName::new(format!("{base}{suffix}"))?)
}

impl Slice {
    /// A slice against `endpoints`, with the domains' contracts of `examples/contracts`
    /// (built in).
    pub fn new(endpoints: Endpoints) -> Self {
        Self {
            endpoints,
            suffix: String::new(),
        }
    }

    fn contract(&self, file: &str) -> Result<Contract> {
        let text = CONTRACTS
            .iter()
            .find(|(name, _)| *name == file)
            .map(|(_, text)| *text)
            .unwrap_or_default();
        let mut contract = Contract::embedded(
            text,
            SCHEMAS,
            &format!("examples/contracts/{file} (built in)"),
        )?;
        contract.domain = name(contract.domain.as_str(), &self.suffix)?;
        Ok(contract)
    }

    /// Appends `suffix` to every domain name, so that runs sharing a broker and catalog do
    /// not meet. Default: none (`interactions`, `songs`, `recommendations`).
    #[must_use]
    pub fn with_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.suffix = suffix.into();
        self
    }

    /// Runs every hop, telling `say` about each.
    pub async fn run(&self, mut say: impl FnMut(String)) -> Result<SliceReport> {
        let endpoints = &self.endpoints;
        let interactions = name("interactions", &self.suffix)?;
        let songs = name("songs", &self.suffix)?;
        let recommendations = name("recommendations", &self.suffix)?;

        // 1. A producer domain applies its contract: schema registered, topic created.
        let producer =
            DomainProducer::connect(self.contract("interactions.toml")?, endpoints).await?;
        let played = producer.dyn_publisher("played")?;
        say(format!(
            "registry   {} registered {} as schema id {} (subject {}-value)",
            interactions,
            played.schema().full_name(),
            played.schema_id(),
            played.topic()
        ));

        // 2. An invalid event never reaches Kafka.
        let invalid = Value::Record(vec![
            ("user_id".into(), Value::String("user-1".into())),
            ("song_id".into(), Value::String("forty-two".into())),
            ("ms_played".into(), Value::Int(183_000)),
            ("played_at".into(), Value::Long(now_ms())),
            ("device".into(), Value::String("TOASTER".into())),
        ]);
        let refusal = match played.send(&invalid).await {
            Err(e) if e.validation().is_some() => e,
            Err(e) => return Err(e.into()),
            Ok(d) => {
                return Err(Error::Slice {
                    hop: "validation",
                    reason: format!("an invalid event was delivered at offset {}", d.offset),
                });
            }
        };
        say(format!("validate   refused before sending: {refusal}"));

        // 3. A valid event is published.
        let event = Value::Record(vec![
            ("user_id".into(), Value::String("user-1".into())),
            ("song_id".into(), Value::Long(42)),
            ("ms_played".into(), Value::Int(183_000)),
            ("played_at".into(), Value::Long(now_ms())),
            ("device".into(), Value::String("MOBILE".into())),
            ("context".into(), Value::String("playlist:focus".into())),
        ]);
        let delivery = played.send(&event).await?;
        say(format!(
            "publish    {} partition {} offset {} (event id {})",
            played.topic(),
            delivery.partition,
            delivery.offset,
            delivery.event_id
        ));

        // 4. A consumer domain decodes it back through the registry.
        let consumer = DomainConsumer::connect(recommendations.clone(), endpoints).await?;
        let subscription = consumer
            .subscribe(vec![played.topic().clone()])
            .with_start_from(StartFrom::Earliest)
            .start()?;
        let received = tokio::time::timeout(RECEIVE_TIMEOUT, subscription.next())
            .await
            .map_err(|_| Error::Slice {
                hop: "consume",
                reason: format!("no event within {RECEIVE_TIMEOUT:?}"),
            })??;
        subscription.commit(&received.position)?;
        say(format!(
            "consume    {} decoded {} with schema id {}: {}",
            recommendations,
            received.position,
            received.schema_id,
            describe(&received.value)
        ));

        // 5. A producer domain applies its contract and snapshots a data product.
        let songs_producer =
            DomainProducer::connect(self.contract("songs.toml")?, endpoints).await?;
        let catalogue = ProductName::new("catalogue")?;
        let table_version = songs_producer.snapshot("catalogue", songs_batch()?).await?;
        let product = ProductId::new(&songs, &catalogue);
        let song_schema_id = table_version.schema_id.ok_or_else(|| Error::Slice {
            hop: "snapshot",
            reason: format!(
                "the catalog recorded {product} version {} without its schema id",
                table_version.version
            ),
        })?;
        say(format!(
            "snapshot   {} version {}: {} rows, {} bytes, schema id {}",
            product, table_version.version, table_version.rows, table_version.bytes, song_schema_id
        ));

        // 6. A consumer domain finds the product in the catalog and queries it.
        let data = consumer.static_data();
        let opened = data.open(&product).await?;
        let rows = data
            .sql(&format!(
                "SELECT song_id, title, artist, genre FROM {product} ORDER BY song_id"
            ))
            .await?;
        let table = deltalake::arrow::util::pretty::pretty_format_batches(&rows)
            .map(|t| t.to_string())
            .unwrap_or_default();
        say(format!(
            "query      {recommendations} read {product} version {opened} through the catalog:\n{table}"
        ));

        producer.flush(Duration::from_secs(10))?;
        Ok(SliceReport {
            played_schema_id: played.schema_id(),
            refusal,
            delivery,
            received,
            product,
            song_schema_id,
            table_version,
            rows,
        })
    }
}

/// The catalogue rows the slice snapshots.
fn songs_batch() -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("song_id", DataType::Int64, false),
        Field::new("title", DataType::Utf8, false),
        Field::new("artist", DataType::Utf8, false),
        Field::new("genre", DataType::Utf8, false),
        Field::new("duration_ms", DataType::Int32, false),
        Field::new(
            "released_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![7, 42, 99])),
            Arc::new(StringArray::from(vec![
                "Blue in Green",
                "So What",
                "Teardrop",
            ])),
            Arc::new(StringArray::from(vec![
                "Miles Davis",
                "Miles Davis",
                "Massive Attack",
            ])),
            Arc::new(StringArray::from(vec!["jazz", "jazz", "trip-hop"])),
            Arc::new(Int32Array::from(vec![337_000, 562_000, 330_000])),
            // 1959-08-17 (Kind of Blue) twice, 1998-04-20 (Mezzanine).
            Arc::new(
                TimestampMicrosecondArray::from(vec![
                    -327_024_000_000_000,
                    -327_024_000_000_000,
                    893_030_400_000_000,
                ])
                .with_timezone("UTC"),
            ),
        ],
    )
    .map_err(|e| Error::Slice {
        hop: "snapshot",
        reason: e.to_string(),
    })
}

/// A one-line rendering of a record for people.
fn describe(value: &Value) -> String {
    match value {
        Value::Record(fields) => {
            let parts: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{k}={}", describe(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Value::Union(_, v) => describe(v),
        Value::String(s) | Value::Enum(_, s) => s.clone(),
        Value::Null => "null".into(),
        Value::Int(i) => i.to_string(),
        Value::Long(l) | Value::TimestampMillis(l) => l.to_string(),
        other => format!("{other:?}"),
    }
}
