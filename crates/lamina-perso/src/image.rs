//! The card image file: one file per card, holding what the chip's
//! non-volatile memory holds after personalization.
//!
//! Format (version 1):
//!
//! ```text
//! LAMINA-CARD-IMAGE 1 crc32=89ABCDEF length=12345\n
//! { …JSON of PreparedCard… }\n
//! ```
//!
//! The first line names the format, the schema version, the CRC-32
//! ([`crate::util::crc32`]) and the length of the body that follows it (every
//! byte after the first newline). The CRC detects corruption; it is not an
//! authenticity check. The body is the [`PreparedCard`] as pretty JSON with
//! keys in hex: the image holds the chip's own secrets and is written with mode
//! 0600.
//!
//! Note: the chip OS (`lamina-card`) had no image API yet when this was
//! written; this file is the bureau's own versioned format, designed to be
//! loaded by the EMV applet through [`PreparedCard`] or re-personalized through
//! the STORE DATA script ([`crate::storedata`]).

use std::path::Path;

use crate::card::PreparedCard;
use crate::util;
use crate::{PersoError, Result};

/// Magic word of the header line.
pub const MAGIC: &str = "LAMINA-CARD-IMAGE";
/// Current schema version.
pub const VERSION: u32 = 1;

/// Serializes a card image.
pub fn encode(card: &PreparedCard) -> Result<Vec<u8>> {
    let mut body = serde_json::to_vec_pretty(card).map_err(|e| PersoError::Image(e.to_string()))?;
    body.push(b'\n');
    let mut out = format!(
        "{MAGIC} {VERSION} crc32={:08X} length={}\n",
        util::crc32(&body),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    Ok(out)
}

/// Parses a card image, checking magic, version, length and CRC.
pub fn decode(bytes: &[u8]) -> Result<PreparedCard> {
    let nl = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| PersoError::Image("no header line".into()))?;
    let header = std::str::from_utf8(bytes.get(..nl).unwrap_or(&[]))
        .map_err(|_| PersoError::Image("header is not text".into()))?;
    let body = bytes.get(nl + 1..).unwrap_or(&[]);
    let fields: Vec<&str> = header.split(' ').collect();
    let [magic, version, crc, length] = fields.as_slice() else {
        return Err(PersoError::Image("malformed header".into()));
    };
    if *magic != MAGIC {
        return Err(PersoError::Image("not a Lamina card image".into()));
    }
    let version: u32 = version
        .parse()
        .map_err(|_| PersoError::Image("bad version".into()))?;
    if version != VERSION {
        return Err(PersoError::Image(format!(
            "schema version {version} not supported (this build reads {VERSION})"
        )));
    }
    let crc = crc
        .strip_prefix("crc32=")
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .ok_or_else(|| PersoError::Image("bad crc32 field".into()))?;
    let length: usize = length
        .strip_prefix("length=")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| PersoError::Image("bad length field".into()))?;
    if body.len() != length {
        return Err(PersoError::Image(format!(
            "body is {} bytes, header says {length}",
            body.len()
        )));
    }
    if util::crc32(body) != crc {
        return Err(PersoError::Image(
            "checksum mismatch: the image is corrupted".into(),
        ));
    }
    serde_json::from_slice(body).map_err(|e| PersoError::Image(format!("body: {e}")))
}

/// Writes a card image with mode 0600.
pub fn save(path: &Path, card: &PreparedCard) -> Result<()> {
    util::write_private(path, &encode(card)?)
}

/// Reads a card image.
pub fn load(path: &Path) -> Result<PreparedCard> {
    decode(&util::read(path)?)
}
