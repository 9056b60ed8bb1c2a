//! TCP framing: each message is preceded by its length as 2 bytes, big-endian, not counting
//! the 2 length bytes themselves (the common "2-byte binary header" of ISO 8583 links).
//!
//! Pure functions and a push/pop [`Deframer`]; the async server wraps them.

use std::fmt;

/// Length of the frame header.
pub const HEADER_LEN: usize = 2;

/// The largest payload the 2-byte header can describe.
pub const MAX_FRAME_LEN: usize = u16::MAX as usize;

/// A framing error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A payload longer than the header can express or than the deframer's limit.
    #[error("frame of {length} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Announced or actual payload length.
        length: usize,
        /// The limit.
        max: usize,
    },
}

/// Prefixes `payload` with its 2-byte big-endian length.
pub fn frame(payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    let len = u16::try_from(payload.len()).map_err(|_| FrameError::TooLarge {
        length: payload.len(),
        max: MAX_FRAME_LEN,
    })?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// Splits a byte stream into frames: push whatever the socket delivered, pop complete
/// payloads. A header announcing more than `max_frame` bytes is an error, and the
/// deframer stays failed (the stream cannot be resynchronised; close the connection).
///
/// A zero-length frame is returned as an empty payload (some links use it as a keep-alive).
pub struct Deframer {
    buf: Vec<u8>,
    start: usize,
    max_frame: usize,
    failed: Option<FrameError>,
}

impl Deframer {
    /// A deframer refusing frames over `max_frame` bytes (clamped to [`MAX_FRAME_LEN`]).
    pub fn new(max_frame: usize) -> Self {
        Deframer {
            buf: Vec::new(),
            start: 0,
            max_frame: max_frame.min(MAX_FRAME_LEN),
            failed: None,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete payload, `Ok(None)` if more bytes are needed.
    pub fn pop(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let pending = self.buf.get(self.start..).unwrap_or_default();
        let Some(&[hi, lo]) = pending.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let length = usize::from(u16::from_be_bytes([hi, lo]));
        if length > self.max_frame {
            let e = FrameError::TooLarge {
                length,
                max: self.max_frame,
            };
            self.failed = Some(e);
            self.buf = Vec::new();
            self.start = 0;
            return Err(e);
        }
        let Some(payload) = pending.get(HEADER_LEN..HEADER_LEN + length) else {
            return Ok(None);
        };
        let payload = payload.to_vec();
        self.start += HEADER_LEN + length;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Ok(Some(payload))
    }

    /// Bytes received but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Whether the deframer has failed (oversized frame seen).
    pub fn is_failed(&self) -> bool {
        self.failed.is_some()
    }
}

impl fmt::Debug for Deframer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Buffered bytes may hold card data: print sizes only.
        f.debug_struct("Deframer")
            .field("buffered", &self.buffered())
            .field("max_frame", &self.max_frame)
            .field("failed", &self.failed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_limits() {
        assert_eq!(frame(b"abc").unwrap(), b"\x00\x03abc");
        assert_eq!(frame(b"").unwrap(), b"\x00\x00");
        assert_eq!(frame(&vec![0; 65535]).unwrap().len(), 65537);
        assert_eq!(
            frame(&vec![0; 65536]),
            Err(FrameError::TooLarge {
                length: 65536,
                max: 65535
            })
        );
    }

    #[test]
    fn deframes_byte_by_byte() {
        let mut stream = frame(b"hello").unwrap();
        stream.extend(frame(b"").unwrap());
        stream.extend(frame(b"world!").unwrap());
        let mut d = Deframer::new(1024);
        let mut got = Vec::new();
        for b in &stream {
            d.push(&[*b]);
            while let Some(f) = d.pop().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, vec![b"hello".to_vec(), vec![], b"world!".to_vec()]);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn oversized_frame_fails_for_good() {
        let mut d = Deframer::new(4);
        d.push(&[0, 5, 1, 2, 3, 4, 5]);
        let e = FrameError::TooLarge { length: 5, max: 4 };
        assert_eq!(d.pop(), Err(e));
        d.push(&[0, 1, 9]);
        assert_eq!(d.pop(), Err(e));
        assert!(d.is_failed());
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn partial_header_and_body() {
        let mut d = Deframer::new(100);
        d.push(&[0]);
        assert_eq!(d.pop(), Ok(None));
        d.push(&[3, b'a']);
        assert_eq!(d.pop(), Ok(None));
        assert_eq!(d.buffered(), 3);
        d.push(b"bc\x00");
        assert_eq!(d.pop(), Ok(Some(b"abc".to_vec())));
        assert_eq!(d.pop(), Ok(None));
        assert_eq!(d.buffered(), 1);
    }
}
