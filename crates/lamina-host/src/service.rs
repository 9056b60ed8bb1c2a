//! Running a host: the ISO 8583 TCP server and the back-office HTTP API over one store,
//! with one shutdown signal for both (thin `main`: the CLI only parses arguments).

use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::api::{ApiState, serve_http};
use crate::clock::SystemClock;
use crate::error::{HostError, Result};
use crate::issuer::Issuer;
use crate::keys::HostKeys;
use crate::metrics::Metrics;
use crate::server::{ServerConfig, ServerState, serve};
use crate::store::{Store, StoreOptions};

/// Host configuration.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// ISO 8583 listen address.
    pub listen: String,
    /// HTTP API listen address (none: no API).
    pub http: Option<String>,
    /// Database URL.
    pub db: String,
    /// Key file.
    pub keys: PathBuf,
    /// Merchant fee, basis points.
    pub fee_bps: i64,
    /// Server limits, and TLS on the ISO 8583 listener (`server.tls`, built with
    /// [`lamina_link::tls::server_config_files`] and [`lamina_link::tls::acceptor`]).
    pub server: ServerConfig,
    /// Store options.
    pub store: StoreOptions,
}

/// Opens the store and keys and builds the issuer.
pub async fn open(db: &str, keys: &std::path::Path, options: &StoreOptions) -> Result<Issuer> {
    let keys = Arc::new(HostKeys::load(keys)?);
    let store = Store::connect_with(db, options).await?;
    Ok(Issuer::new(store, keys, Arc::new(SystemClock)))
}

/// Runs until `shutdown` resolves; then stops accepting, finishes in-flight requests and
/// returns. `ready` is called with the bound addresses (ISO, HTTP). The ISO 8583 listener
/// speaks TLS when `cfg.server.tls` is set; the HTTP API is plain HTTP (put it behind a
/// TLS-terminating proxy, or keep it on loopback).
pub async fn run(
    cfg: &HostConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ready: impl FnOnce(std::net::SocketAddr, Option<std::net::SocketAddr>),
) -> Result<()> {
    let issuer = open(&cfg.db, &cfg.keys, &cfg.store).await?;
    let metrics = Arc::new(Metrics::default());
    let iso = TcpListener::bind(&cfg.listen)
        .await
        .map_err(|e| HostError::Config(format!("bind {}: {e}", cfg.listen)))?;
    let http = match &cfg.http {
        Some(a) => Some(
            TcpListener::bind(a)
                .await
                .map_err(|e| HostError::Config(format!("bind {a}: {e}")))?,
        ),
        None => None,
    };
    let iso_addr = iso
        .local_addr()
        .map_err(|e| HostError::Config(e.to_string()))?;
    ready(iso_addr, http.as_ref().and_then(|l| l.local_addr().ok()));
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut rx_http = rx.clone();
    let mut rx_iso = rx;
    let http_task = http.map(|l| {
        let state = ApiState {
            issuer: issuer.clone(),
            metrics: Arc::clone(&metrics),
            fee_bps: cfg.fee_bps,
        };
        tokio::spawn(serve_http(l, state, async move {
            let _ = rx_http.changed().await;
        }))
    });
    let state = ServerState {
        issuer: issuer.clone(),
        metrics,
        config: cfg.server.clone(),
    };
    let iso_task = tokio::spawn(serve(iso, state, async move {
        let _ = rx_iso.changed().await;
    }));
    shutdown.await;
    let _ = tx.send(true);
    let iso_res = iso_task
        .await
        .map_err(|e| HostError::Config(e.to_string()))?;
    if let Some(h) = http_task {
        h.await
            .map_err(|e| HostError::Config(e.to_string()))?
            .map_err(|e| HostError::Config(e.to_string()))?;
    }
    iso_res.map_err(|e| HostError::Config(e.to_string()))?;
    issuer.store().close().await;
    Ok(())
}
