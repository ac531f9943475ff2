//! `mesh tail` and `mesh sink`: the live side of the mesh.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use datamesh::catalog::CatalogClient;
use datamesh::consumer_kit::{
    CancellationToken, DomainConsumer, Event, Handler, HandlerError, Position, StartFrom,
};
use datamesh::mesh_core::apache_avro::types::Value;
use datamesh::mesh_core::{DomainName, Endpoints, ProductId, TopicName};

use crate::Context;
use crate::failure::{Failure, Outcome};

/// `mesh tail`.
#[derive(Debug, clap::Args)]
pub(crate) struct TailArgs {
    /// The stream's topic, `<domain>.<stream>`.
    topic: TopicName,
    /// The consumer domain reading (default: the catalog token's domain, else `mesh-cli`).
    #[arg(long)]
    domain: Option<DomainName>,
    /// The consumer group (default: a fresh one, reading from the start).
    #[arg(long)]
    group: Option<String>,
    /// Only events produced from now on.
    #[arg(long)]
    latest: bool,
    /// Stop after this many events.
    #[arg(long, value_name = "N")]
    max: Option<u64>,
}

/// `mesh sink`.
#[derive(Debug, clap::Args)]
pub(crate) struct SinkArgs {
    /// The product, `<domain>.<product>`.
    product: ProductId,
    /// Rows per micro-batch.
    #[arg(long, default_value_t = 10_000)]
    rows: usize,
    /// Milliseconds a micro-batch may wait for more rows.
    #[arg(long, default_value_t = 1_000)]
    wait_ms: u64,
}

/// Writes each event as one JSON line and flushes it before the event counts as handled.
struct Print {
    printed: AtomicU64,
    max: Option<u64>,
    stop: CancellationToken,
}

fn json_of(value: Value) -> serde_json::Value {
    serde_json::Value::try_from(value).unwrap_or(serde_json::Value::Null)
}

impl Handler for Print {
    type Value = Value;

    async fn handle(&self, event: Event<Value>) -> Result<(), HandlerError> {
        if self
            .max
            .is_some_and(|max| self.printed.load(Ordering::SeqCst) >= max)
        {
            return Ok(());
        }
        let line = serde_json::json!({
            "topic": event.position.topic,
            "partition": event.position.partition,
            "offset": event.position.offset,
            "key": event.key_str(),
            "schema_id": event.schema_id,
            "event_id": event.meta.event_id,
            "produced_at_ms": event.meta.produced_at_ms,
            "value": json_of(event.value),
        });
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| HandlerError::poison(format!("cannot write stdout: {e}")))?;
        let printed = self.printed.fetch_add(1, Ordering::SeqCst) + 1;
        if self.max.is_some_and(|max| printed >= max) {
            self.stop.cancel();
        }
        Ok(())
    }

    /// `mesh tail` only reads: what it cannot decode is said on stderr and passed over.
    fn on_skipped(&self, position: &Position, reason: &str) {
        eprintln!("mesh: skipped the message at {position}: {reason}");
    }
}

/// Cancelled on Ctrl-C or SIGTERM. The handlers are in place when this returns, so a
/// signal that arrives while a command is still connecting stops it cleanly instead of
/// killing the process.
pub(crate) fn interrupted() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        async fn received(signal: Option<Signal>) {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        let terminate = signal(SignalKind::terminate()).ok();
        let interrupt = signal(SignalKind::interrupt()).ok();
        tokio::spawn(async move {
            tokio::select! {
                () = received(terminate) => {}
                () = received(interrupt) => {}
            }
            cancel.cancel();
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        cancel.cancel();
    });
    token
}

/// Connects a consumer unless `stop` comes first (`None` then); without a domain, as the
/// one [`acting_domain`] finds.
async fn connect_unless_stopped(
    domain: Option<DomainName>,
    endpoints: &Endpoints,
    stop: &CancellationToken,
) -> Result<Option<DomainConsumer>, Failure> {
    let connect = async {
        let domain = acting_domain(endpoints, domain).await?;
        Ok::<_, Failure>(DomainConsumer::connect(domain, endpoints).await?)
    };
    tokio::select! {
        () = stop.cancelled() => Ok(None),
        consumer = connect => Ok(Some(consumer?)),
    }
}

/// The domain a consumer command acts as: `--domain` when given (the kit refuses a token of
/// another domain); else the domain the catalog token acts for; else `mesh-cli`, which
/// reads what is granted to it, or everything on a catalog that does not authenticate.
pub(crate) async fn acting_domain(
    endpoints: &Endpoints,
    given: Option<DomainName>,
) -> Result<DomainName, Failure> {
    if let Some(domain) = given {
        return Ok(domain);
    }
    let catalog = CatalogClient::for_endpoints(endpoints)?;
    let token_domain = match catalog.whoami().await {
        Ok(identity) => identity.domain,
        // A catalog older than `whoami`.
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };
    match token_domain {
        Some(domain) => Ok(domain),
        None => Ok(DomainName::new("mesh-cli")?),
    }
}

/// `mesh tail`: events as JSON lines (the output is JSON with or without `--json`).
pub(crate) async fn tail(ctx: &Context, args: TailArgs) -> Outcome {
    let stop = interrupted();
    // An unknown topic or a broker that is away is one line and an exit code, not a wait
    // for events that cannot come.
    let endpoints = ctx.endpoints()?;
    tokio::select! {
        () = stop.cancelled() => return Ok(ExitCode::SUCCESS),
        reached = crate::broker::reach(&endpoints, Some(&args.topic)) => reached?,
    }
    let Some(consumer) = connect_unless_stopped(args.domain, &endpoints, &stop).await? else {
        return Ok(ExitCode::SUCCESS);
    };
    let group = args
        .group
        .unwrap_or_else(|| format!("mesh-tail-{}", uuid::Uuid::new_v4().simple()));
    let start = if args.latest {
        StartFrom::Latest
    } else {
        StartFrom::Earliest
    };
    consumer
        .subscribe(vec![args.topic])
        .with_group(group)
        .with_start_from(start)
        .with_concurrency(1)
        .without_dead_letters()
        .run(
            Print {
                printed: AtomicU64::new(0),
                max: args.max,
                stop: stop.clone(),
            },
            stop,
        )
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// `mesh sink`: runs the stream-to-table sink until interrupted.
pub(crate) async fn sink(ctx: &Context, args: SinkArgs) -> Outcome {
    let product = args.product;
    let stop = interrupted();
    let endpoints = ctx.endpoints()?;
    tokio::select! {
        () = stop.cancelled() => return Ok(ExitCode::SUCCESS),
        reached = crate::broker::reach(&endpoints, None) => reached?,
    }
    let Some(consumer) = connect_unless_stopped(Some(product.domain()), &endpoints, &stop).await?
    else {
        return Ok(ExitCode::SUCCESS);
    };
    let summary = consumer
        .sink(product.clone())
        .with_batch(args.rows, 64 << 20, Duration::from_millis(args.wait_ms))
        .run(stop)
        .await?;
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({
                "product": product,
                "commits": summary.commits,
                "rows": summary.rows,
                "version": summary.last_version,
            })
        );
    } else {
        println!(
            "{product}: {} commits, {} rows, now at version {}",
            summary.commits,
            summary.rows,
            summary
                .last_version
                .map_or_else(|| "none".to_owned(), |v| v.to_string())
        );
    }
    Ok(ExitCode::SUCCESS)
}
