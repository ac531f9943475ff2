//! The catalog's Postgres goes away under load and comes back: `/readyz` says not ready,
//! requests answer 503 with `Retry-After` (never 500) while it is gone, and the catalog
//! recovers by itself, without a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use catalog::server::{Auth, Catalog};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::support::{Db, Error, TestResult, call, database};

/// A TCP proxy in front of a server that can be cut (every connection dropped, new ones
/// refused) and restored: what a database restart or a network partition looks like to the
/// catalog.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    cut: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: String) -> Result<Self, Error> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let up = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(tokio::sync::Notify::new());
        let task = tokio::spawn({
            let (up, cut) = (Arc::clone(&up), Arc::clone(&cut));
            async move {
                let mut connections = JoinSet::new();
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((mut client, _)) = accepted else { continue };
                            if !up.load(Ordering::SeqCst) {
                                continue; // dropped: the client sees the connection closed
                            }
                            let target = target.clone();
                            connections.spawn(async move {
                                if let Ok(mut server) = TcpStream::connect(&target).await {
                                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                                }
                            });
                        }
                        () = cut.notified() => connections.abort_all(),
                    }
                }
            }
        });
        Ok(Self {
            port,
            up,
            cut,
            task,
        })
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.notify_one();
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_under_load_is_503_and_then_recovers() -> TestResult {
    let dir = tempfile::tempdir()?;
    let Some(direct) = database(Db::Postgres, &dir).await? else {
        return Ok(());
    };
    let mut url = url::Url::parse(&direct)?;
    let target = format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port().unwrap_or(5432)
    );
    let proxy = Proxy::start(target).await?;
    url.set_port(Some(proxy.port)).map_err(|()| "port")?;
    let router = Catalog::open(url.as_str(), Auth::Disabled).await?.router();
    call(
        &router,
        "PUT",
        "/api/v1/domains/load",
        Some(json!({"name": "load", "owner": "o"})),
        None,
    )
    .await?;

    // Load: readers and writers, all the time.
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = JoinSet::new();
    for worker in 0..8 {
        let (router, stop) = (router.clone(), Arc::clone(&stop));
        load.spawn(async move {
            let mut statuses = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let (status, _, _) = if worker % 2 == 0 {
                    call(&router, "GET", "/api/v1/domains/load", None, None).await?
                } else {
                    let body = json!({"name": "load", "owner": format!("o{worker}-{i}")});
                    call(&router, "PUT", "/api/v1/domains/load", Some(body), None).await?
                };
                statuses.push(status);
            }
            Ok::<_, Error>(statuses)
        });
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    proxy.cut();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (status, _, body) = call(&router, "GET", "/readyz", None, None).await?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let (status, _, body) = call(&router, "GET", "/api/v1/domains", None, None).await?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error_code"], 50301, "{body}");
    tokio::time::sleep(Duration::from_secs(3)).await;

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(30);
    while call(&router, "GET", "/readyz", None, None).await?.0 != StatusCode::OK {
        assert!(
            Instant::now() < deadline,
            "the catalog did not recover by itself"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    let mut all = Vec::new();
    while let Some(done) = load.join_next().await {
        all.extend(done??);
    }
    let unexpected: Vec<_> = all
        .iter()
        .filter(|s| **s != StatusCode::OK && **s != StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
    let unavailable = all
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert!(unavailable > 0, "the load never met the outage");
    assert_eq!(
        all.last(),
        Some(&StatusCode::OK),
        "answers again after the outage"
    );
    let (status, _, _) = call(&router, "GET", "/api/v1/domains", None, None).await?;
    assert_eq!(status, StatusCode::OK);
    eprintln!(
        "postgres outage: {} requests, {unavailable} answered 503, none 500",
        all.len()
    );
    Ok(())
}
