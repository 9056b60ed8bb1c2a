//! An async ISO 8583 client for the host: pipelines requests on one connection and
//! matches responses by DE 11 + DE 41 (the acquirer side of the link; used by the load
//! generator and the end-to-end tests).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use lamina_iso8583::{Message, Spec};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::oneshot;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

use crate::server::codec;

/// Client errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Socket error.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
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

type Pending = Arc<Mutex<HashMap<(String, String), oneshot::Sender<Message>>>>;

/// A pipelining client.
#[derive(Debug)]
pub struct HostClient {
    sink: tokio::sync::Mutex<FramedWrite<OwnedWriteHalf, LengthDelimitedCodec>>,
    pending: Pending,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for HostClient {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl HostClient {
    /// Connects.
    pub async fn connect(addr: &str) -> Result<HostClient, ClientError> {
        let stream = TcpStream::connect(addr).await?;
        let _ = stream.set_nodelay(true);
        let (rd, wr) = stream.into_split();
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
                let waiter = p.lock().ok().and_then(|mut m| m.remove(&key));
                if let Some(w) = waiter {
                    let _ = w.send(msg);
                }
            }
            if let Ok(mut m) = p.lock() {
                m.clear();
            }
        });
        Ok(HostClient {
            sink: tokio::sync::Mutex::new(FramedWrite::new(
                wr,
                codec(lamina_iso8583::MAX_FRAME_LEN),
            )),
            pending,
            reader,
        })
    }

    /// Sends raw bytes as one frame (for malformed-message tests).
    pub async fn send_raw(&self, bytes: Vec<u8>) -> Result<(), ClientError> {
        self.sink.lock().await.send(Bytes::from(bytes)).await?;
        Ok(())
    }

    /// Registers a waiter for the response with this STAN and terminal id.
    pub fn expect(&self, stan: &str, terminal: &str) -> oneshot::Receiver<Message> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut m) = self.pending.lock() {
            m.insert((stan.to_owned(), terminal.to_owned()), tx);
        }
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
                    m.remove(&(stan.to_owned(), term.to_owned()));
                }
                Err(ClientError::Timeout)
            }
        }
    }
}
