//! Decode and encode errors.
//!
//! A [`DecodeError`] says where decoding stopped (element and byte offset), what was
//! expected, shows the raw bytes of that element (never for sensitive elements), maps to
//! response code 30 (format error, ISO 8583:1987 Annex A) and keeps what could still be
//! decoded ([`Partial`]) so a server can answer a malformed request with the right STAN.

use std::collections::BTreeMap;
use std::fmt;

use crate::message::{FieldValue, Message};
use crate::mti::Mti;
use crate::response::ResponseCode;

/// The part of a message a decode error is in (moov-io style path: 0 = MTI, 1 = bitmap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Location {
    /// The message type indicator.
    Mti,
    /// The primary bitmap (fields 1-64).
    PrimaryBitmap,
    /// The secondary bitmap (fields 65-128).
    SecondaryBitmap,
    /// A data element.
    Field(u8),
    /// Bytes after the last data element.
    Trailing,
}

impl Location {
    /// Field number: 0 for the MTI, 1 for either bitmap, the data element number, `None`
    /// for trailing bytes.
    pub const fn field(self) -> Option<u8> {
        match self {
            Location::Mti => Some(0),
            Location::PrimaryBitmap | Location::SecondaryBitmap => Some(1),
            Location::Field(n) => Some(n),
            Location::Trailing => None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Mti => f.write_str("MTI"),
            Location::PrimaryBitmap => f.write_str("primary bitmap"),
            Location::SecondaryBitmap => f.write_str("secondary bitmap"),
            Location::Field(n) => write!(f, "field {n}"),
            Location::Trailing => f.write_str("trailing bytes"),
        }
    }
}

/// What the decoder expected and did not find.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// Input ended: the element (or its length prefix) needs `needed` bytes, `available`
    /// remain. For a variable field this is a length prefix overrunning the message.
    Truncated {
        /// Bytes the element needs.
        needed: usize,
        /// Bytes left in the input.
        available: usize,
    },
    /// The MTI is not four ASCII digits.
    InvalidMti,
    /// The MTI version digit is not 0 (this codec reads ISO 8583:1987 only).
    UnsupportedVersion {
        /// The version digit found.
        version: u8,
    },
    /// Bit 1 announced a secondary bitmap, but it has no bit set.
    EmptySecondaryBitmap,
    /// A bitmap bit is set for a data element the spec does not define.
    NotInSpec,
    /// A length prefix that is not all ASCII digits.
    BadLengthPrefix,
    /// A variable field's length prefix exceeds the field's maximum.
    TooLong {
        /// Length announced by the prefix.
        length: usize,
        /// The spec maximum.
        max: usize,
    },
    /// A byte outside the field type's character set (e.g. a letter in an `n` field).
    InvalidCharacter {
        /// Index of the byte within the field value (after the length prefix).
        position: usize,
    },
    /// Bytes remain after the last data element announced by the bitmap.
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeErrorKind::Truncated { needed, available } => write!(
                f,
                "expected {needed} byte(s), only {available} remain in the message"
            ),
            DecodeErrorKind::InvalidMti => f.write_str("expected 4 ASCII digits"),
            DecodeErrorKind::UnsupportedVersion { version } => {
                write!(f, "MTI version {version}: expected 0 (ISO 8583:1987)")
            }
            DecodeErrorKind::EmptySecondaryBitmap => {
                f.write_str("bit 1 set but the secondary bitmap has no field bit set")
            }
            DecodeErrorKind::NotInSpec => {
                f.write_str("bitmap bit set for a data element the spec does not define")
            }
            DecodeErrorKind::BadLengthPrefix => {
                f.write_str("expected an ASCII decimal length prefix")
            }
            DecodeErrorKind::TooLong { length, max } => {
                write!(f, "length {length} exceeds the maximum {max}")
            }
            DecodeErrorKind::InvalidCharacter { position } => write!(
                f,
                "byte {position} of the value is not in the field type's character set"
            ),
            DecodeErrorKind::TrailingBytes { count } => {
                write!(f, "{count} byte(s) after the last data element")
            }
        }
    }
}

/// Data elements that decoded before (or, when the bad element's extent was known, after)
/// the error. Only non-sensitive elements are kept (no PAN, track 2, PIN block, ICC data).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Partial {
    /// The MTI, if it decoded.
    pub mti: Option<Mti>,
    fields: BTreeMap<u8, FieldValue>,
}

/// Fields a format-error response echoes from the request when they decoded: processing
/// code, amount, transmission date time, STAN, local time/date, acquirer id, RRN, terminal
/// id, merchant id, currency (docs/iso8583.md, "Echoed fields").
pub const FORMAT_ERROR_ECHO: [u8; 11] = [3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49];

impl Partial {
    pub(crate) fn new(mti: Option<Mti>, fields: BTreeMap<u8, FieldValue>) -> Self {
        Partial { mti, fields }
    }

    /// A non-sensitive data element that decoded.
    pub fn get(&self, number: u8) -> Option<&FieldValue> {
        self.fields.get(&number)
    }

    /// Field 11, systems trace audit number, if it decoded.
    pub fn stan(&self) -> Option<&str> {
        self.get(11).and_then(FieldValue::as_str)
    }

    /// Field 41, card acceptor terminal identification, if it decoded.
    pub fn terminal_id(&self) -> Option<&str> {
        self.get(41).and_then(FieldValue::as_str)
    }

    /// The answer to a malformed request: the response MTI, the [`FORMAT_ERROR_ECHO`] fields
    /// that decoded, and field 39 = `30`. `None` when the MTI did not decode or has no
    /// response (a malformed response is dropped, not answered).
    pub fn format_error_response(&self) -> Option<Message> {
        let mut out = Message::new(self.mti?.response()?);
        for n in FORMAT_ERROR_ECHO {
            if let Some(v) = self.fields.get(&n) {
                out.set(n, v.clone());
            }
        }
        out.set(39, ResponseCode::FORMAT_ERROR.as_str());
        Some(out)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    location: Location,
    offset: usize,
    kind: DecodeErrorKind,
    context: Vec<u8>,
    context_offset: usize,
    redacted: bool,
    partial: Partial,
}

/// A message that does not decode under the spec. Boxed: cheap to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(Box<Inner>);

/// Maximum bytes of raw context kept in a [`DecodeError`].
pub const CONTEXT_BYTES: usize = 32;

impl DecodeError {
    pub(crate) fn new(
        location: Location,
        offset: usize,
        kind: DecodeErrorKind,
        context: &[u8],
        context_offset: usize,
        redacted: bool,
    ) -> Self {
        let context = if redacted {
            Vec::new()
        } else {
            context.iter().take(CONTEXT_BYTES).copied().collect()
        };
        DecodeError(Box::new(Inner {
            location,
            offset,
            kind,
            context,
            context_offset,
            redacted,
            partial: Partial::default(),
        }))
    }

    pub(crate) fn with_partial(mut self, partial: Partial) -> Self {
        self.0.partial = partial;
        self
    }

    /// Where: MTI, a bitmap, a data element or trailing bytes.
    pub fn location(&self) -> Location {
        self.0.location
    }

    /// Field number (0 = MTI, 1 = bitmap, `None` = trailing bytes); see [`Location::field`].
    pub fn field(&self) -> Option<u8> {
        self.0.location.field()
    }

    /// Byte offset from the start of the message where the problem is.
    pub fn offset(&self) -> usize {
        self.0.offset
    }

    /// What was expected.
    pub fn kind(&self) -> &DecodeErrorKind {
        &self.0.kind
    }

    /// Raw bytes of the element in error (length prefix included, at most
    /// [`CONTEXT_BYTES`]), starting at [`DecodeError::context_offset`]. Empty for sensitive
    /// elements (PAN, track 2, PIN block, ICC data).
    pub fn context(&self) -> &[u8] {
        &self.0.context
    }

    /// Offset in the message of the first byte of [`DecodeError::context`].
    pub fn context_offset(&self) -> usize {
        self.0.context_offset
    }

    /// Whether the context was withheld because the element is sensitive.
    pub fn is_redacted(&self) -> bool {
        self.0.redacted
    }

    /// What decoded anyway (MTI, STAN, terminal id, ...).
    pub fn partial(&self) -> &Partial {
        &self.0.partial
    }

    /// The response code for any malformed message: `30`, format error.
    pub fn response_code(&self) -> ResponseCode {
        ResponseCode::FORMAT_ERROR
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ISO 8583 format error in {} at offset {}: {}",
            self.0.location, self.0.offset, self.0.kind
        )?;
        if self.0.redacted {
            f.write_str(" (raw bytes REDACTED: sensitive field)")
        } else if !self.0.context.is_empty() {
            write!(
                f,
                " (raw bytes at offset {}: {})",
                self.0.context_offset,
                hex::encode_upper(&self.0.context)
            )
        } else {
            Ok(())
        }
    }
}

impl std::error::Error for DecodeError {}

/// What is wrong with a message the encoder was asked to write.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeErrorKind {
    /// The MTI version digit is not 0 (this codec writes ISO 8583:1987 only).
    UnsupportedVersion {
        /// The version digit.
        version: u8,
    },
    /// The field number is not defined by the spec (or is 0, 1, 65 or above 128).
    NotInSpec,
    /// Text given for a `b` field, or bytes for a text field.
    WrongValueKind {
        /// Whether the spec expects bytes.
        expected_binary: bool,
    },
    /// A character outside the field type's set (or non-ASCII).
    InvalidCharacter {
        /// Byte index within the value.
        position: usize,
    },
    /// Longer than the fixed length or the variable maximum.
    TooLong {
        /// Value length.
        length: usize,
        /// The spec maximum.
        max: usize,
    },
    /// Shorter than the fixed length of a field without padding.
    WrongLength {
        /// Value length.
        length: usize,
        /// The fixed length.
        expected: usize,
    },
}

/// A message that cannot be encoded under the spec: which field (0 = MTI) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode field {field}: {kind:?}")]
pub struct EncodeError {
    /// Field number (0 = MTI).
    pub field: u8,
    /// What is wrong.
    pub kind: EncodeErrorKind,
}
