use core::fmt;

/// What the decoder expected and did not find.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A multi-byte tag ended before its last byte (expected a tag byte).
    TruncatedTag,
    /// A tag longer than 4 bytes.
    TagTooLong { bytes: usize },
    /// Input ended where a length byte was expected.
    MissingLength,
    /// A long-form length announced more bytes than remain.
    TruncatedLength { needed: usize, available: usize },
    /// The indefinite length form `80` (not allowed in ISO 7816 / EMV).
    IndefiniteLength,
    /// A long-form length with more than 4 length bytes.
    LengthTooLong { bytes: usize },
    /// The value runs past the end of the buffer.
    ValueBeyondBuffer { length: usize, available: usize },
    /// Constructed objects nested deeper than [`crate::MAX_DEPTH`].
    TooDeep,
    /// A tag path (`70/57`) that is not valid hex tags separated by `/`.
    BadPath,
}

/// A BER-TLV decoding error: where (byte offset from the start of the input) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    /// Offset of the first byte that could not be decoded.
    pub offset: usize,
    /// What was expected there.
    pub kind: ErrorKind,
}

impl Error {
    pub(crate) fn at(offset: usize, kind: ErrorKind) -> Self {
        Error { offset, kind }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at offset {}: ", self.offset)?;
        match &self.kind {
            ErrorKind::TruncatedTag => {
                write!(f, "tag truncated: expected another tag byte, input ended")
            }
            ErrorKind::TagTooLong { bytes } => write!(
                f,
                "tag longer than 4 bytes ({bytes} bytes so far): expected the last tag byte to have bit 8 clear"
            ),
            ErrorKind::MissingLength => write!(f, "expected a length byte, input ended"),
            ErrorKind::TruncatedLength { needed, available } => write!(
                f,
                "length truncated: long form needs {needed} more byte(s), {available} remain"
            ),
            ErrorKind::IndefiniteLength => {
                write!(
                    f,
                    "indefinite length (80) is not allowed: expected a definite length"
                )
            }
            ErrorKind::LengthTooLong { bytes } => write!(
                f,
                "long-form length with {bytes} length bytes: expected at most 4"
            ),
            ErrorKind::ValueBeyondBuffer { length, available } => write!(
                f,
                "length says {length} byte(s) but only {available} remain"
            ),
            ErrorKind::TooDeep => write!(f, "constructed objects nested too deep"),
            ErrorKind::BadPath => write!(f, "bad tag path: expected hex tags separated by '/'"),
        }
    }
}
