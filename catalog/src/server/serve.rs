//! The catalog on a socket: HTTP/1.1 and HTTP/2, optionally over TLS, with the limits a
//! service facing many clients needs.
//!
//! - at most [`ServeOptions::max_connections`] connections at once: past it, new connections
//!   wait in the kernel's accept queue instead of costing memory;
//! - a request's headers must arrive within [`ServeOptions::header_read_timeout`] (and a TLS
//!   handshake within the same time), so half-sent requests cannot hold connections forever;
//! - on shutdown the listener closes at once and in-flight requests get
//!   [`ServeOptions::drain_timeout`] to finish; connections still open after it are dropped,
//!   so no client can keep the process alive.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tower::ServiceExt as _;

use crate::error::{Error, Result};

/// How the catalog serves connections. The defaults suit a service behind a load balancer;
/// every field can be set from `mesh-catalog serve`'s flags.
#[derive(Clone)]
#[non_exhaustive]
pub struct ServeOptions {
    /// Connections served at once (default 1024).
    pub max_connections: usize,
    /// How long a client may take to send a request's headers, or to finish a TLS
    /// handshake (default 10 s).
    pub header_read_timeout: Duration,
    /// How long in-flight requests may take to finish after shutdown begins (default 10 s).
    pub drain_timeout: Duration,
    /// Serve HTTPS with this configuration ([`ServeOptions::with_tls_files`]).
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
            tls: None,
        }
    }
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("max_connections", &self.max_connections)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("drain_timeout", &self.drain_timeout)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl ServeOptions {
    /// Serves HTTPS with the certificate chain and private key in these PEM files.
    pub fn with_tls_files(mut self, certificate: &Path, key: &Path) -> Result<Self> {
        self.tls = Some(Arc::new(tls_config(certificate, key)?));
        Ok(self)
    }
}

fn tls_config(certificate: &Path, key: &Path) -> Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let tls_error = |path: &Path, reason: String| Error::Tls {
        path: path.to_owned(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(certificate)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| tls_error(certificate, e.to_string()))?;
    if chain.is_empty() {
        return Err(tls_error(certificate, "it holds no certificate".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_error(key, e.to_string()))?;
    // aws-lc-rs is the provider the rest of the platform's TLS (reqwest) already builds.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(certificate, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| tls_error(key, e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains as
/// [`ServeOptions::drain_timeout`] allows.
pub(crate) async fn serve(
    app: axum::Router,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let tls = options.tls.clone().map(TlsAcceptor::from);
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);

    loop {
        // A slot first: at the limit, connections wait in the accept queue.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, a connection reset before accept: not fatal.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // The client's address, for limits on callers without a token.
        let service = TowerToHyperService::new(app.clone().map_request(
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request
            },
        ));
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let handshake_timeout = options.header_read_timeout;
        connections.spawn(async move {
            let _slot = slot;
            let outcome =
                match tls {
                    None => {
                        let connection = builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .into_owned();
                        watcher.watch(connection).await
                    }
                    Some(acceptor) => {
                        let stream =
                            match tokio::time::timeout(handshake_timeout, acceptor.accept(stream))
                                .await
                            {
                                Ok(Ok(stream)) => stream,
                                Ok(Err(e)) => {
                                    tracing::debug!(error = %e, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!("TLS handshake timed out");
                                    return;
                                }
                            };
                        let connection = builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .into_owned();
                        watcher.watch(connection).await
                    }
                };
            if let Err(e) = outcome {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
        // Finished connections' tasks are collected as we go.
        while connections.try_join_next().is_some() {}
    }

    drop(listener);
    tracing::info!(
        connections = graceful.count(),
        "shutting down: finishing in-flight requests"
    );
    if tokio::time::timeout(options.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            connections = connections.len(),
            "in-flight requests did not finish within the drain timeout; closing them"
        );
    }
    connections.shutdown().await;
    Ok(())
}
