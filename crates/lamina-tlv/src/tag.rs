//! Tags (ISO/IEC 7816-4 §5.2.2.1, EMV Book 3 Annex B1) and length encoding.

use core::fmt;

use crate::error::{Error, ErrorKind};

/// Tag class: bits 8–7 of the first tag byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// `00` universal.
    Universal,
    /// `01` application (EMV Book 3: tags 4x, 5x, 6x, 7x).
    Application,
    /// `10` context-specific (8x, 9x, Ax, Bx).
    Context,
    /// `11` private (Cx, Dx, Ex, Fx).
    Private,
}

/// A BER-TLV tag of 1 to 4 bytes, kept as its big-endian number (`9F02` → 0x9F02).
///
/// The number keeps the tag's exact bytes: `Tag(0x9F02)` is the two bytes `9F 02`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(u32);

impl Tag {
    /// Creates a tag from its big-endian number. No validation: use
    /// [`Tag::from_bytes`] for untrusted input.
    pub const fn new(n: u32) -> Self {
        Tag(n)
    }

    /// The tag number as written in specifications (`0x9F02`).
    pub const fn number(self) -> u32 {
        self.0
    }

    /// Number of bytes in the encoded tag.
    pub const fn len(self) -> usize {
        if self.0 > 0xFF_FFFF {
            4
        } else if self.0 > 0xFFFF {
            3
        } else if self.0 > 0xFF {
            2
        } else {
            1
        }
    }

    /// Never true: a tag has at least one byte. (Provided for API symmetry.)
    pub const fn is_empty(self) -> bool {
        false
    }

    /// The first byte of the encoded tag.
    pub const fn first_byte(self) -> u8 {
        self.0.to_be_bytes()[4 - self.len()]
    }

    /// The tag's class.
    pub const fn class(self) -> Class {
        match self.first_byte() >> 6 {
            0 => Class::Universal,
            1 => Class::Application,
            2 => Class::Context,
            _ => Class::Private,
        }
    }

    /// True if bit 6 of the first byte is set (the value is itself TLV-coded).
    pub const fn is_constructed(self) -> bool {
        self.first_byte() & 0x20 != 0
    }

    /// The encoded bytes (big-endian, `len()` bytes).
    pub fn to_bytes(self) -> Vec<u8> {
        let n = self.len();
        self.0.to_be_bytes()[4 - n..].to_vec()
    }

    /// Appends the encoded tag to `out`.
    pub fn write(self, out: &mut Vec<u8>) {
        let n = self.len();
        out.extend_from_slice(&self.0.to_be_bytes()[4 - n..]);
    }

    /// Decodes a tag at the start of `data`; returns the tag and its byte count.
    /// `base` is added to error offsets.
    pub fn from_bytes(data: &[u8], base: usize) -> Result<(Tag, usize), Error> {
        let first = *data
            .first()
            .ok_or(Error::at(base, ErrorKind::TruncatedTag))?;
        let mut n = u32::from(first);
        let mut used = 1;
        if first & 0x1F == 0x1F {
            loop {
                let b = *data
                    .get(used)
                    .ok_or(Error::at(base + used, ErrorKind::TruncatedTag))?;
                if used == 4 {
                    return Err(Error::at(base, ErrorKind::TagTooLong { bytes: used + 1 }));
                }
                n = (n << 8) | u32::from(b);
                used += 1;
                if b & 0x80 == 0 {
                    break;
                }
            }
        }
        Ok((Tag(n), used))
    }

    /// Parses a hex tag such as `9F02` (must be a well-formed, complete tag).
    pub fn parse_hex(s: &str) -> Option<Tag> {
        let s = s.trim();
        if s.is_empty() || !s.len().is_multiple_of(2) || s.len() > 8 {
            return None;
        }
        let mut bytes = Vec::with_capacity(s.len() / 2);
        for i in (0..s.len()).step_by(2) {
            bytes.push(u8::from_str_radix(s.get(i..i + 2)?, 16).ok()?);
        }
        match Tag::from_bytes(&bytes, 0) {
            Ok((t, used)) if used == bytes.len() => Some(t),
            _ => None,
        }
    }
}

impl From<u32> for Tag {
    fn from(n: u32) -> Self {
        Tag(n)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({self})")
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:0width$X}", self.0, width = self.len() * 2)
    }
}

/// Parses a tag path such as `70/57` or `6F/A5/BF0C/61/4F`.
pub fn parse_path(path: &str) -> Result<Vec<Tag>, Error> {
    path.split('/')
        .filter(|s| !s.trim().is_empty())
        .map(|s| Tag::parse_hex(s).ok_or(Error::at(0, ErrorKind::BadPath)))
        .collect::<Result<Vec<_>, _>>()
        .and_then(|v| {
            if v.is_empty() {
                Err(Error::at(0, ErrorKind::BadPath))
            } else {
                Ok(v)
            }
        })
}

/// Appends the minimal BER length encoding of `len` (short form below 128,
/// otherwise `81`–`84` followed by the big-endian length).
pub fn encode_length(len: usize, out: &mut Vec<u8>) {
    let bytes = (len as u64).to_be_bytes();
    if len < 0x80 {
        out.push(bytes[7]);
    } else {
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        // 8 - skip is 1..=8, so it fits the low bits of the length-of-length byte
        out.push(0x80 | (8 - skip).to_be_bytes()[7]);
        out.extend_from_slice(&bytes[skip..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_forms() {
        assert_eq!(Tag::from_bytes(&[0x5A], 0).unwrap(), (Tag(0x5A), 1));
        assert_eq!(
            Tag::from_bytes(&[0x9F, 0x02, 0x06], 0).unwrap(),
            (Tag(0x9F02), 2)
        );
        assert_eq!(
            Tag::from_bytes(&[0xDF, 0x81, 0x15], 0).unwrap(),
            (Tag(0xDF8115), 3)
        );
        assert_eq!(
            Tag::from_bytes(&[0xDF, 0x81, 0x81, 0x01], 0).unwrap(),
            (Tag(0xDF818101), 4)
        );
        let e = Tag::from_bytes(&[0x9F, 0x81, 0x81, 0x81, 0x81, 0x01], 7).unwrap_err();
        assert_eq!(e.offset, 7);
        assert!(matches!(e.kind, ErrorKind::TagTooLong { .. }));
        assert_eq!(Tag::from_bytes(&[0x9F], 3).unwrap_err().offset, 4);
        assert!(Tag(0x70).is_constructed());
        assert!(!Tag(0x9F02).is_constructed());
        assert_eq!(Tag(0xBF0C).class(), Class::Context);
        assert_eq!(Tag(0x9F02).to_string(), "9F02");
        assert_eq!(Tag(0x0A).to_string(), "0A");
    }

    #[test]
    fn lengths() {
        let enc = |n| {
            let mut v = Vec::new();
            encode_length(n, &mut v);
            v
        };
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(127), [0x7F]);
        assert_eq!(enc(128), [0x81, 0x80]);
        assert_eq!(enc(255), [0x81, 0xFF]);
        assert_eq!(enc(256), [0x82, 0x01, 0x00]);
        assert_eq!(enc(0x10000), [0x83, 0x01, 0x00, 0x00]);
    }

    #[test]
    fn paths() {
        assert_eq!(parse_path("70/57").unwrap(), vec![Tag(0x70), Tag(0x57)]);
        assert!(parse_path("70/5").is_err());
        assert!(parse_path("9F").is_err());
        assert!(parse_path("").is_err());
    }
}
