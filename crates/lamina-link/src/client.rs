//! An async ISO 8583 client: pipelines requests on one connection and matches
//! responses by DE 11 + DE 41 (the acquirer side of the link; used by the
//! terminal's acquirer link, the gates, the host's load generator and the
//! end-to-end tests). Plain TCP or TLS ([`crate::tls`]); one code path
//! over any stream's read and write halves.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use lamina_iso8583::{Message, Spec};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

use crate::framing::codec;
use crate::tls::ClientTls;

/// Time allowed for the TLS handshake in [`HostClient::connect_tls`].
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Client errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Socket error.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS handshake failed (untrusted or wrong server certificate, client
    /// certificate refused, not a TLS server, timeout).
    #[error("TLS: {0}")]
    Tls(String),
    /// The request does not encode.
    #[error("encode: {0}")]
    Encode(String),
    /// DE 11 or DE 41 missing.
    #[error("request lacks DE 11 or DE 41")]
    NoKey,
    /// No response in time.
    #[error("timed out")]
    Timeout,
    /// The connection closed before the response.
    #[error("connection closed")]
    Closed,
}

/// An I/O error, or [`ClientError::Tls`] when it carries a TLS alert or protocol error
/// (e.g. the server refused the client's certificate after a TLS 1.3 handshake).
fn io_error(e: std::io::Error) -> ClientError {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(tls) => ClientError::Tls(tls.to_string()),
        None => ClientError::Io(e),
    }
}

/// Waiters by (DE 11, DE 41); `closed` once the reader has stopped, so a later request
/// fails at once instead of waiting for its timeout.
#[derive(Default)]
struct Waiters {
    map: HashMap<(String, String), oneshot::Sender<Message>>,
    closed: bool,
}

type Pending = Arc<Mutex<Waiters>>;

/// The write half of a TCP or TLS stream.
type Writer = Pin<Box<dyn AsyncWrite + Send>>;

/// A pipelining client over plain TCP or TLS.
pub struct HostClient {
    sink: tokio::sync::Mutex<FramedWrite<Writer, LengthDelimitedCodec>>,
    pending: Pending,
    reader: tokio::task::JoinHandle<()>,
    tls: bool,
}

impl std::fmt::Debug for HostClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostClient")
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl Drop for HostClient {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl HostClient {
    /// Connects over plain TCP.
    pub async fn connect(addr: &str) -> Result<HostClient, ClientError> {
        let stream = TcpStream::connect(addr).await?;
        let _ = stream.set_nodelay(true);
        let (rd, wr) = stream.into_split();
        Ok(Self::over(rd, wr, false))
    }

    /// Connects over TLS: TCP to `addr`, then a rustls handshake checking that the
    /// server's certificate chains to `config`'s roots and names `server_name` (a DNS
    /// name or an IP address; see [`crate::tls::client_config_pem`] for the configuration,
    /// with a client certificate for mutual TLS).
    ///
    /// With TLS 1.3 a server that refuses the client's certificate says so only after the
    /// client's handshake has finished: the refusal then surfaces on the first call, as
    /// [`ClientError::Tls`] (the alert) or [`ClientError::Closed`].
    pub async fn connect_tls(
        addr: &str,
        server_name: &str,
        config: Arc<rustls::ClientConfig>,
    ) -> Result<HostClient, ClientError> {
        let tls =
            ClientTls::new(config, server_name).map_err(|e| ClientError::Tls(e.to_string()))?;
        Self::connect_with(addr, Some(&tls)).await
    }

    /// Connects over TLS when `tls` is given, plain TCP otherwise.
    pub async fn connect_with(
        addr: &str,
        tls: Option<&ClientTls>,
    ) -> Result<HostClient, ClientError> {
        let Some(tls) = tls else {
            return Self::connect(addr).await;
        };
        let stream = TcpStream::connect(addr).await?;
        let _ = stream.set_nodelay(true);
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(&tls.config));
        let stream = tokio::time::timeout(
            TLS_HANDSHAKE_TIMEOUT,
            connector.connect(tls.server_name.clone(), stream),
        )
        .await
        .map_err(|_| ClientError::Tls("handshake timed out".into()))?
        .map_err(|e| ClientError::Tls(e.to_string()))?;
        let (rd, wr) = tokio::io::split(stream);
        Ok(Self::over(rd, wr, true))
    }

    /// A client over an already connected stream (TCP, TLS, or an in-memory duplex),
    /// given as its read and write halves.
    pub fn over<R, W>(rd: R, wr: W, tls: bool) -> HostClient
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Send + 'static,
    {
        let pending: Pending = Arc::default();
        let p = Arc::clone(&pending);
        let reader = tokio::spawn(async move {
            let mut frames = FramedRead::new(rd, codec(lamina_iso8583::MAX_FRAME_LEN));
            while let Some(Ok(frame)) = frames.next().await {
                let Ok(msg) = Spec::lamina().decode(&frame) else {
                    continue;
                };
                let key = (
                    msg.get_str(11).unwrap_or("").to_owned(),
                    msg.get_str(41).unwrap_or("").to_owned(),
                );
                let waiter = p.lock().ok().and_then(|mut m| m.map.remove(&key));
                if let Some(w) = waiter {
                    let _ = w.send(msg);
                }
            }
            if let Ok(mut m) = p.lock() {
                m.closed = true;
                m.map.clear();
            }
        });
        let wr: Writer = Box::pin(wr);
        HostClient {
            sink: tokio::sync::Mutex::new(FramedWrite::new(
                wr,
                codec(lamina_iso8583::MAX_FRAME_LEN),
            )),
            pending,
            reader,
            tls,
        }
    }

    /// Whether this client runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Sends raw bytes as one frame (for malformed-message tests).
    pub async fn send_raw(&self, bytes: Vec<u8>) -> Result<(), ClientError> {
        self.sink
            .lock()
            .await
            .send(Bytes::from(bytes))
            .await
            .map_err(io_error)
    }

    /// Registers a waiter for the response with this STAN and terminal id.
    pub fn expect(&self, stan: &str, terminal: &str) -> oneshot::Receiver<Message> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut m) = self.pending.lock()
            && !m.closed
        {
            m.map.insert((stan.to_owned(), terminal.to_owned()), tx);
        }
        // Otherwise `tx` is dropped here: the receiver reports the closed connection.
        rx
    }

    /// Sends a request and waits for its response.
    pub async fn call(&self, msg: &Message, timeout: Duration) -> Result<Message, ClientError> {
        let stan = msg.get_str(11).ok_or(ClientError::NoKey)?;
        let term = msg.get_str(41).ok_or(ClientError::NoKey)?;
        let bytes = Spec::lamina()
            .encode(msg)
            .map_err(|e| ClientError::Encode(e.to_string()))?;
        let rx = self.expect(stan, term);
        self.send_raw(bytes).await?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(m)) => Ok(m),
            Ok(Err(_)) => Err(ClientError::Closed),
            Err(_) => {
                if let Ok(mut m) = self.pending.lock() {
                    m.map.remove(&(stan.to_owned(), term.to_owned()));
                }
                Err(ClientError::Timeout)
            }
        }
    }
}
