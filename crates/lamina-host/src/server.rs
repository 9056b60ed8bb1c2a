//! The ISO 8583 TCP server (tokio).
//!
//! * Framing: 2-byte big-endian length prefix (docs/iso8583.md §8); an oversized frame
//!   closes the connection (the stream cannot be resynchronised); a zero-length frame is a
//!   keep-alive.
//! * Many connections, each pipelined: every request is processed in its own task and
//!   answered as soon as it is done, so responses may come back out of order; clients
//!   match them by DE 11 + DE 41 (+ DE 7), which every response echoes.
//! * Per-request timeout: a request not answered in time gets `91` (issuer inoperative);
//!   its database transaction is rolled back when the task is dropped.
//! * Backpressure and fair share: a request takes a per-connection permit, held until its
//!   answer is *written*, and a global one, held only while the answer is *computed*. A
//!   connection whose peer does not read its answers therefore stops being read after
//!   [`ServerConfig::per_connection`] queued answers (TCP flow control pushes back on the
//!   sender) without keeping any global permit: it cannot starve other connections.
//! * Timeouts ([`ServerConfig`]): an answer not written within `write_timeout` closes the
//!   connection (the peer does not read); a frame not completed within `frame_timeout`
//!   after its first byte closes it (slowloris); so does `idle_timeout` without a byte
//!   received while nothing is in flight. At most `max_connections_per_ip` connections
//!   per source address: a further one is closed on accept.
//! * Malformed messages whose MTI decoded are answered with the response MTI and `30`, and
//!   the connection stays open; a framed message whose MTI does not decode cannot be
//!   answered (a response needs the MTI) and closes the connection.
//! * Every close is logged (`tracing`) with the peer address and the reason, at `warn`
//!   when the peer misbehaved, `info` otherwise; never with message content.
//! * Graceful shutdown: stop accepting, stop reading, finish and answer every request in
//!   flight, then close.
//! * TLS (optional, [`ServerConfig::tls`]): each accepted socket first completes a rustls
//!   handshake (within [`ServerConfig::tls_handshake_timeout`]), then carries exactly the
//!   same framing; a failed or timed-out handshake closes that connection only and is
//!   logged with the peer address and rustls' reason (no key material).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::SinkExt;
use lamina_iso8583::{DecodeError, Message, ResponseCode, Spec};
use lamina_link::framing::codec;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::codec::{Decoder, FramedWrite};

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
    /// Time allowed to write one answer to the socket (default 10 s): a peer that does
    /// not read its answers for this long is disconnected.
    pub write_timeout: Duration,
    /// A connection that sends nothing, not even a keep-alive, for this long while none
    /// of its requests is in flight is closed (default 300 s).
    pub idle_timeout: Duration,
    /// Time allowed to receive the rest of a frame once its first byte arrived (default
    /// 10 s): a slowloris connection is closed.
    pub frame_timeout: Duration,
    /// Open connections allowed from one source IP address (default 64); a further one
    /// is closed as soon as it is accepted.
    pub max_connections_per_ip: usize,
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
            .field("write_timeout", &self.write_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("frame_timeout", &self.frame_timeout)
            .field("max_connections_per_ip", &self.max_connections_per_ip)
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
            write_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            frame_timeout: Duration::from_secs(10),
            max_connections_per_ip: 64,
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

/// Processes one frame: decode, answer, encode. `None`: nothing to send (a response or
/// advice response arriving at the host, or a message whose MTI does not decode — the
/// connection loop closes the connection in that case, see [`serve`]).
pub async fn process_frame(state: &ServerState, frame: &[u8]) -> Option<Vec<u8>> {
    answer(state, None, Spec::lamina().decode(frame), Instant::now()).await
}

/// Answers one decoded (or malformed) frame; `peer` for the logs.
async fn answer(
    state: &ServerState,
    peer: Option<SocketAddr>,
    decoded: Result<Message, DecodeError>,
    started: Instant,
) -> Option<Vec<u8>> {
    let spec = Spec::lamina();
    let msg = match decoded {
        Ok(m) => m,
        Err(e) => {
            state.metrics.format_error();
            // Location and kind only: the error's context bytes are message content.
            tracing::warn!(
                peer = %peer.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                location = %e.location(),
                offset = e.offset(),
                kind = %e.kind(),
                "malformed message: answered 30"
            );
            let resp = e.partial().format_error_response()?;
            state.metrics.record(
                resp.mti.as_str(),
                ResponseCode::FORMAT_ERROR.as_str(),
                started.elapsed(),
            );
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
            tracing::warn!(
                peer = %peer.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                mti = msg.mti.as_str(),
                "request timed out: answered 91"
            );
            iso::code_response(&msg, ResponseCode::ISSUER_INOPERATIVE)?
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
            spec.encode(&iso::code_response(&msg, ResponseCode::SYSTEM_MALFUNCTION)?)
                .ok()
        }
    }
}

/// Why the server closed a connection: logged with the peer address, never with message
/// content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    /// The peer closed between frames.
    Peer,
    /// The peer closed in the middle of a frame.
    PeerMidFrame,
    /// The server is shutting down.
    Shutdown,
    /// A frame over [`ServerConfig::max_frame`]: the stream cannot be resynchronised.
    Oversized,
    /// A framed message whose MTI does not decode: it cannot be answered.
    UndecodableMti,
    /// A frame not completed within [`ServerConfig::frame_timeout`].
    FrameTimeout,
    /// Nothing received for [`ServerConfig::idle_timeout`] with nothing in flight.
    Idle,
    /// An answer not written within [`ServerConfig::write_timeout`].
    WriteTimeout,
    /// A socket error while reading.
    ReadError,
    /// A socket error while writing.
    WriteError,
}

impl Closed {
    fn as_str(self) -> &'static str {
        match self {
            Closed::Peer => "peer closed",
            Closed::PeerMidFrame => "peer closed in the middle of a frame",
            Closed::Shutdown => "server shutting down",
            Closed::Oversized => "framing error: frame over the size limit",
            Closed::UndecodableMti => "framing error: MTI does not decode",
            Closed::FrameTimeout => "partial frame timed out",
            Closed::Idle => "idle timeout",
            Closed::WriteTimeout => "write timeout: peer does not read its answers",
            Closed::ReadError => "read error",
            Closed::WriteError => "write error",
        }
    }

    /// Whether the peer misbehaved (logged at warn; the rest at info).
    fn is_fault(self) -> bool {
        matches!(
            self,
            Closed::PeerMidFrame
                | Closed::Oversized
                | Closed::UndecodableMti
                | Closed::FrameTimeout
                | Closed::WriteTimeout
        )
    }

    fn log(self, peer: SocketAddr) {
        if self.is_fault() {
            tracing::warn!(%peer, reason = self.as_str(), "connection closed");
        } else {
            tracing::info!(%peer, reason = self.as_str(), "connection closed");
        }
    }
}

/// Open connections per source address ([`ServerConfig::max_connections_per_ip`]).
#[derive(Debug, Default)]
struct PerIp {
    open: std::sync::Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in [`PerIp`], given back on drop.
#[derive(Debug)]
struct IpSlot {
    table: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    /// A slot for `ip`, or `None` when it already has `max` connections open.
    fn take(table: &Arc<PerIp>, ip: IpAddr, max: usize) -> Option<IpSlot> {
        let mut open = table.open.lock().ok()?;
        let n = open.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            table: Arc::clone(table),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.table.open.lock()
            && let Some(n) = open.get_mut(&self.ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
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
    _slot: IpSlot,
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

/// An answer waiting for the writer, with the per-connection permit of its request: the
/// permit is given back once the answer is written, so a connection whose peer does not
/// read stops being read after [`ServerConfig::per_connection`] answers.
type Queued = (Bytes, OwnedSemaphorePermit);

/// Writes a connection's answers, each within `write_timeout`; returns why it stopped
/// early, or `None` once every sender is gone and the stream is shut down.
async fn write_answers<W>(
    wr: W,
    mut rx: mpsc::Receiver<Queued>,
    write_timeout: Duration,
) -> Option<Closed>
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let mut sink = FramedWrite::new(wr, codec(lamina_iso8583::MAX_FRAME_LEN));
    while let Some((bytes, permit)) = rx.recv().await {
        match tokio::time::timeout(write_timeout, sink.send(bytes)).await {
            Ok(Ok(())) => drop(permit),
            Ok(Err(_)) => return Some(Closed::WriteError),
            Err(_) => return Some(Closed::WriteTimeout),
        }
    }
    // TCP: FIN; TLS: close_notify, then FIN.
    let _ = tokio::time::timeout(write_timeout, async {
        let _ = SinkExt::<Bytes>::flush(&mut sink).await;
        let _ = sink.into_inner().shutdown().await;
    })
    .await;
    None
}

/// Serves one connection's frames; `rd`/`wr` are the two halves of a TCP or TLS stream.
async fn connection<R, W>(
    mut rd: R,
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
    tracing::info!(%peer, "connection opened");
    let cfg = &state.config;
    let per_connection = cfg.per_connection.max(1);
    // Capacity = the per-connection permits: queueing an answer never waits.
    let (tx, rx) = mpsc::channel::<Queued>(per_connection);
    let mut writer = tokio::spawn(write_answers(wr, rx, cfg.write_timeout));
    let mut writer_done = false;
    let per_conn = Arc::new(Semaphore::new(per_connection));
    let mut decoder = codec(cfg.max_frame);
    let mut buf = BytesMut::with_capacity(4096);
    // When the frame being received (bytes in `buf`) started, and when the peer was last
    // heard from or had a request in flight.
    let mut partial_since: Option<Instant> = None;
    let mut last_heard = Instant::now();
    let reason = 'conn: loop {
        // Every complete frame in the buffer.
        loop {
            let frame = match decoder.decode(&mut buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => break 'conn Closed::Oversized,
            };
            partial_since = None;
            if frame.is_empty() {
                continue; // keep-alive
            }
            let started = Instant::now();
            let decoded = Spec::lamina().decode(&frame);
            if let Err(e) = &decoded
                && e.partial().mti.is_none()
            {
                state.metrics.format_error();
                tracing::warn!(%peer, kind = %e.kind(), "message whose MTI does not decode");
                break 'conn Closed::UndecodableMti;
            }
            // Backpressure: a per-connection permit (held until the answer is written),
            // then a global one (held while the answer is computed).
            let permit = tokio::select! {
                biased;
                _ = shutdown.changed() => break 'conn Closed::Shutdown,
                r = &mut writer, if !writer_done => {
                    writer_done = true;
                    break 'conn r.ok().flatten().unwrap_or(Closed::WriteError);
                }
                p = Arc::clone(&per_conn).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break 'conn Closed::Shutdown,
                },
            };
            let computing = tokio::select! {
                biased;
                _ = shutdown.changed() => break 'conn Closed::Shutdown,
                p = Arc::clone(&global).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break 'conn Closed::Shutdown,
                },
            };
            let tx = tx.clone();
            let state = state.clone();
            tokio::spawn(async move {
                let out = answer(&state, Some(peer), decoded, started).await;
                drop(computing);
                if let Some(out) = out {
                    // Fails only when the writer has stopped: the permit is dropped.
                    let _ = tx.send((Bytes::from(out), permit)).await;
                }
            });
        }
        if buf.is_empty() {
            partial_since = None;
        } else if partial_since.is_none() {
            partial_since = Some(Instant::now());
        }
        let deadline = match partial_since {
            Some(t) => t + cfg.frame_timeout,
            None => last_heard + cfg.idle_timeout,
        };
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(4096);
        }
        tokio::select! {
            biased;
            _ = shutdown.changed() => break Closed::Shutdown,
            r = &mut writer, if !writer_done => {
                writer_done = true;
                break r.ok().flatten().unwrap_or(Closed::WriteError);
            }
            r = rd.read_buf(&mut buf) => match r {
                Ok(0) if buf.is_empty() => break Closed::Peer,
                Ok(0) => break Closed::PeerMidFrame,
                Ok(_) => last_heard = Instant::now(),
                Err(_) => break Closed::ReadError,
            },
            _ = tokio::time::sleep_until(deadline.into()) => {
                if partial_since.is_some() {
                    break Closed::FrameTimeout;
                }
                if per_conn.available_permits() < per_connection {
                    // Requests in flight or answers queued: busy, not idle.
                    last_heard = Instant::now();
                } else {
                    break Closed::Idle;
                }
            }
        }
    };
    reason.log(peer);
    // Stop reading; in-flight tasks hold sender clones: the writer ends after the last
    // one answered (each write bounded by the write timeout).
    drop(rd);
    drop(tx);
    if !writer_done && let Ok(Some(late)) = writer.await {
        tracing::info!(%peer, reason = late.as_str(), "answers in flight not delivered");
    }
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
    let per_ip = Arc::new(PerIp::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let max = state.config.max_connections_per_ip.max(1);
                    let Some(slot) = PerIp::take(&per_ip, peer.ip(), max) else {
                        tracing::warn!(%peer, max, "connection refused: too many connections from this address");
                        drop(stream);
                        continue;
                    };
                    conns.spawn(socket(stream, peer, state.clone(), Arc::clone(&global), stop_rx.clone(), slot));
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
