//! Borrowing, zero-copy BER-TLV parser.

use crate::error::{Error, ErrorKind};
use crate::tag::Tag;

/// One data object borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlvRef<'a> {
    /// The tag.
    pub tag: Tag,
    /// The value field.
    pub value: &'a [u8],
    /// The whole object exactly as encoded (tag, length and value).
    pub raw: &'a [u8],
    /// Offset of the object's first tag byte from the start of the outermost input.
    pub offset: usize,
    /// Offset of the first value byte from the start of the outermost input.
    pub value_offset: usize,
}

impl<'a> TlvRef<'a> {
    /// True if the tag says the value is itself TLV-coded.
    pub fn is_constructed(&self) -> bool {
        self.tag.is_constructed()
    }

    /// A parser over the value (for constructed objects); offsets stay absolute.
    pub fn children(&self) -> Parser<'a> {
        Parser::with_base(self.value, self.value_offset)
    }
}

/// Decodes a BER length at the start of `data`: returns (length, bytes used).
/// `base` is added to error offsets.
pub fn parse_length(data: &[u8], base: usize) -> Result<(usize, usize), Error> {
    let first = *data
        .first()
        .ok_or(Error::at(base, ErrorKind::MissingLength))?;
    match first {
        0x00..=0x7F => Ok((usize::from(first), 1)),
        0x80 => Err(Error::at(base, ErrorKind::IndefiniteLength)),
        0x81..=0x84 => {
            let n = usize::from(first & 0x7F);
            let rest = data.get(1..).unwrap_or(&[]);
            if rest.len() < n {
                return Err(Error::at(
                    base + 1,
                    ErrorKind::TruncatedLength {
                        needed: n,
                        available: rest.len(),
                    },
                ));
            }
            let len = rest
                .iter()
                .take(n)
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            Ok((len, 1 + n))
        }
        _ => Err(Error::at(
            base,
            ErrorKind::LengthTooLong {
                bytes: usize::from(first & 0x7F),
            },
        )),
    }
}

/// Iterator over the data objects at one level of a buffer, skipping `00`/`FF`
/// padding. After the first error it yields nothing more.
#[derive(Debug, Clone)]
pub struct Parser<'a> {
    data: &'a [u8],
    pos: usize,
    base: usize,
    failed: bool,
}

/// Parses the top level of `data`.
pub fn parse(data: &[u8]) -> Parser<'_> {
    Parser::with_base(data, 0)
}

impl<'a> Parser<'a> {
    /// A parser whose error and object offsets start at `base`.
    pub fn with_base(data: &'a [u8], base: usize) -> Self {
        Parser {
            data,
            pos: 0,
            base,
            failed: false,
        }
    }

    fn next_object(&mut self) -> Result<Option<TlvRef<'a>>, Error> {
        while let Some(&b) = self.data.get(self.pos) {
            if b == 0x00 || b == 0xFF {
                self.pos += 1;
            } else {
                break;
            }
        }
        let start = self.pos;
        let Some(rest) = self.data.get(start..).filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        let at = self.base + start;
        let (tag, tlen) = Tag::from_bytes(rest, at)?;
        let after_tag = rest.get(tlen..).unwrap_or(&[]);
        let (len, llen) = parse_length(after_tag, at + tlen)?;
        let vstart = tlen + llen;
        let available = rest.len() - vstart;
        if len > available {
            return Err(Error::at(
                at + vstart,
                ErrorKind::ValueBeyondBuffer {
                    length: len,
                    available,
                },
            ));
        }
        let end = vstart + len;
        self.pos = start + end;
        Ok(Some(TlvRef {
            tag,
            value: &rest[vstart..end],
            raw: &rest[..end],
            offset: at,
            value_offset: at + vstart,
        }))
    }
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<TlvRef<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.next_object() {
            Ok(Some(t)) => Some(Ok(t)),
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert_eq!(parse_length(&[0x05], 0).unwrap(), (5, 1));
        assert_eq!(parse_length(&[0x81, 0x80], 0).unwrap(), (128, 2));
        assert_eq!(parse_length(&[0x82, 0x01, 0x00], 0).unwrap(), (256, 3));
        assert_eq!(
            parse_length(&[0x80], 4).unwrap_err().kind,
            ErrorKind::IndefiniteLength
        );
        let e = parse_length(&[0x82, 0x01], 10).unwrap_err();
        assert_eq!(e.offset, 11);
        assert!(matches!(
            e.kind,
            ErrorKind::LengthTooLong { .. } | ErrorKind::TruncatedLength { .. }
        ));
        assert!(matches!(
            parse_length(&[0x85, 1, 1, 1, 1, 1], 0).unwrap_err().kind,
            ErrorKind::LengthTooLong { bytes: 5 }
        ));
        assert_eq!(
            parse_length(&[], 3).unwrap_err(),
            Error::at(3, ErrorKind::MissingLength)
        );
    }

    #[test]
    fn padding_skipped_and_offsets() {
        let data = [
            0x00, 0x5A, 0x01, 0x11, 0xFF, 0xFF, 0x9F, 0x02, 0x01, 0x22, 0x00,
        ];
        let objs: Vec<_> = parse(&data).collect::<Result<_, _>>().unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[0].tag, Tag::new(0x5A));
        assert_eq!(objs[0].offset, 1);
        assert_eq!(objs[1].tag, Tag::new(0x9F02));
        assert_eq!(objs[1].raw, &[0x9F, 0x02, 0x01, 0x22]);
        assert_eq!(objs[1].value_offset, 9);
    }

    #[test]
    fn value_beyond_buffer() {
        let e = parse(&[0x70, 0x05, 0x5A, 0x01])
            .next()
            .unwrap()
            .unwrap_err();
        assert_eq!(e.offset, 2);
        assert_eq!(
            e.kind,
            ErrorKind::ValueBeyondBuffer {
                length: 5,
                available: 2
            }
        );
        assert!(e.to_string().contains("offset 2"));
    }

    #[test]
    fn children_offsets_are_absolute() {
        let data = [0x70, 0x03, 0x5A, 0x01, 0x11];
        let outer = parse(&data).next().unwrap().unwrap();
        let inner = outer.children().next().unwrap().unwrap();
        assert_eq!(inner.offset, 2);
        assert_eq!(inner.value, &[0x11]);
    }
}
