//! The ISO 8583 TCP server (tokio).
//!
//! * Framing: 2-byte big-endian length prefix (docs/iso8583.md §8), via tokio-util's
//!   length-delimited codec; an oversized frame closes the connection (the stream cannot
//!   be resynchronised); a zero-length frame is a keep-alive.
//! * Many connections, each pipelined: every request is processed in its own task and
//!   answered as soon as it is done, so responses may come back out of order; clients
//!   match them by DE 11 + DE 41 (+ DE 7), which every response echoes.
//! * Per-request timeout: a request not answered in time gets `91` (issuer inoperative);
//!   its database transaction is rolled back when the task is dropped.
//! * Backpressure: a global semaphore bounds requests in flight and a per-connection one
//!   bounds each connection's; when a bound is reached the server stops reading that
//!   socket, so TCP flow control pushes back on the sender.
//! * Malformed messages are answered with the response MTI and `30`, and the connection
//!   stays open.
//! * Graceful shutdown: stop accepting, stop reading, finish and answer every request in
//!   flight, then close.
//! * TLS (optional, [`ServerConfig::tls`]): each accepted socket first completes a rustls
//!   handshake (within [`ServerConfig::tls_handshake_timeout`]), then carries exactly the
//!   same framing; a failed or timed-out handshake closes that connection only and is
//!   logged with the peer address and rustls' reason (no key material).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use lamina_iso8583::{Message, Spec};
use lamina_link::framing::codec;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::iso;
use crate::issuer::Issuer;
use crate::metrics::Metrics;

/// Server limits and the optional TLS layer.
#[derive(Clone)]
pub struct ServerConfig {
    /// Time allowed to answer one request.
    pub request_timeout: Duration,
    /// Requests in flight across all connections.
    pub max_in_flight: usize,
    /// Requests in flight per connection.
    pub per_connection: usize,
    /// Largest accepted frame.
    pub max_frame: usize,
    /// TLS on every connection (none: plain TCP); see [`lamina_link::tls`].
    pub tls: Option<lamina_link::tls::TlsAcceptor>,
    /// Time allowed for a client to complete the TLS handshake.
    pub tls_handshake_timeout: Duration,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("request_timeout", &self.request_timeout)
            .field("max_in_flight", &self.max_in_flight)
            .field("per_connection", &self.per_connection)
            .field("max_frame", &self.max_frame)
            .field("tls", &self.tls.is_some())
            .field("tls_handshake_timeout", &self.tls_handshake_timeout)
            .finish()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            request_timeout: Duration::from_secs(5),
            max_in_flight: 512,
            per_connection: 64,
            max_frame: 8192,
            tls: None,
            tls_handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Shared state of a running server.
#[derive(Debug, Clone)]
pub struct ServerState {
    /// The issuer.
    pub issuer: Issuer,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Limits.
    pub config: ServerConfig,
}

/// Processes one frame: decode, answer, encode. `None`: nothing to send.
pub async fn process_frame(state: &ServerState, frame: &[u8]) -> Option<Vec<u8>> {
    let spec = Spec::lamina();
    let started = Instant::now();
    let msg = match spec.decode(frame) {
        Ok(m) => m,
        Err(e) => {
            state.metrics.format_error();
            tracing::debug!(error = %e, "malformed message");
            let resp = e.partial().format_error_response()?;
            state
                .metrics
                .record(resp.mti.as_str(), "30", started.elapsed());
            return spec.encode(&resp).ok();
        }
    };
    state.metrics.in_flight(1);
    let answer = tokio::time::timeout(
        state.config.request_timeout,
        iso::handle(&state.issuer, &msg),
    )
    .await;
    state.metrics.in_flight(-1);
    let resp: Message = match answer {
        Ok(r) => r?,
        Err(_) => {
            state.metrics.timeout();
            iso::code_response(&msg, "91")?
        }
    };
    let code = resp.get_str(39).unwrap_or("").to_owned();
    state
        .metrics
        .record(msg.mti.as_str(), &code, started.elapsed());
    match spec.encode(&resp) {
        Ok(b) => Some(b),
        Err(e) => {
            tracing::error!(error = %e, "response does not encode");
            spec.encode(&iso::code_response(&msg, "96")?).ok()
        }
    }
}

/// One accepted socket: plain, or TLS after a successful handshake.
async fn socket(
    stream: TcpStream,
    peer: SocketAddr,
    state: ServerState,
    global: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = state.config.tls.clone() else {
        let (rd, wr) = stream.into_split();
        return connection(rd, wr, peer, state, global, shutdown).await;
    };
    let handshake =
        tokio::time::timeout(state.config.tls_handshake_timeout, acceptor.accept(stream));
    let tls = tokio::select! {
        biased;
        _ = shutdown.changed() => return,
        r = handshake => match r {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::info!(%peer, error = %e, "TLS handshake failed; closing connection");
                return;
            }
            Err(_) => {
                tracing::info!(%peer, "TLS handshake timed out; closing connection");
                return;
            }
        },
    };
    let (rd, wr) = tokio::io::split(tls);
    connection(rd, wr, peer, state, global, shutdown).await;
}

/// Serves one connection's frames; `rd`/`wr` are the two halves of a TCP or TLS stream.
async fn connection<R, W>(
    rd: R,
    wr: W,
    peer: SocketAddr,
    state: ServerState,
    global: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    state.metrics.connections(1);
    let mut frames = FramedRead::new(rd, codec(state.config.max_frame));
    let (tx, mut rx) = mpsc::channel::<Bytes>(state.config.per_connection.max(1));
    let max_frame = state.config.max_frame;
    let writer = tokio::spawn(async move {
        let mut sink = FramedWrite::new(wr, codec(max_frame.max(lamina_iso8583::MAX_FRAME_LEN)));
        while let Some(b) = rx.recv().await {
            if sink.send(b).await.is_err() {
                break;
            }
        }
        let _ = SinkExt::<Bytes>::flush(&mut sink).await;
        // TCP: FIN; TLS: close_notify, then FIN.
        let _ = sink.into_inner().shutdown().await;
    });
    let per_conn = Arc::new(Semaphore::new(state.config.per_connection.max(1)));
    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            frame = frames.next() => match frame {
                None => break,
                Some(Err(e)) => {
                    tracing::info!(%peer, error = %e, "closing connection: framing error");
                    break;
                }
                Some(Ok(bytes)) => {
                    if bytes.is_empty() {
                        continue;
                    }
                    // Backpressure: wait for capacity before reading the next frame.
                    let Ok(p1) = Arc::clone(&per_conn).acquire_owned().await else { break };
                    let Ok(p2) = Arc::clone(&global).acquire_owned().await else { break };
                    let tx = tx.clone();
                    let state = state.clone();
                    tokio::spawn(async move {
                        if let Some(out) = process_frame(&state, &bytes).await {
                            let _ = tx.send(Bytes::from(out)).await;
                        }
                        drop((p1, p2));
                    });
                }
            }
        }
    }
    // In-flight tasks hold sender clones: the writer ends after the last one answered.
    drop(tx);
    let _ = writer.await;
    state.metrics.connections(-1);
}

/// Serves ISO 8583 on `listener` until `shutdown` resolves, then finishes in-flight work.
/// Every connection is plain TCP, or TLS when [`ServerConfig::tls`] is set.
pub async fn serve(
    listener: TcpListener,
    state: ServerState,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let global = Arc::new(Semaphore::new(state.config.max_in_flight.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    conns.spawn(socket(stream, peer, state.clone(), Arc::clone(&global), stop_rx.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while conns.join_next().await.is_some() {}
    Ok(())
}
