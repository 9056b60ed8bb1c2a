//! # lamina-iso8583 — ISO 8583:1987 messages between Lamina's acquirer and issuer host
//!
//! The message spec is data: `spec/lamina-1987.toml` holds one row per data element (type,
//! fixed/LLVAR/LLLVAR, maximum length, encoding, padding, masking), and one generic engine
//! ([`Spec::encode`], [`Spec::decode`]) reads it — the pattern of moov-io/iso8583. The wire
//! format is written out in `docs/iso8583.md`:
//!
//! * MTI: 4 ASCII digits; version digit 0 (ISO 8583:1987 §4.3.1);
//! * bitmaps: 8 raw bytes each; the secondary bitmap is present iff bit 1 is set, iff a field
//!   65-128 is present (§4.2);
//! * `n`, `an`, `ans`, `z` fields: ASCII; `b` fields: raw bytes;
//! * LLVAR/LLLVAR prefixes: 2/3 ASCII decimal digits (characters, or bytes for `b`);
//! * TCP frames: 2-byte big-endian length ([`frame`], [`Deframer`]).
//!
//! The crate is pure: no I/O, no async, no panics on any input (property-tested).
//!
//! ```
//! use lamina_iso8583::{Message, Mti, Spec};
//! let spec = Spec::lamina();
//! let mut req = Message::new(Mti::FINANCIAL_REQUEST);
//! req.set(2, "5413330089600010").set(3, "0").set(4, "1250").set(11, "123").set(41, "TERM0001");
//! let bytes = spec.encode(&req).unwrap();
//! let back = spec.decode(&bytes).unwrap();
//! assert_eq!(back.get_str(4), Some("000000001250")); // n fixed: left zeros
//! assert_eq!(back.to_string(), "0200 2=541333******0010 3=000000 4=000000001250 11=000123 41=TERM0001");
//! ```

mod codec;
mod error;
mod framing;
mod mask;
mod message;
mod mti;
mod original;
mod response;
mod spec;

pub use codec::{BITMAP_LEN, FIELD_MAC_PRIMARY, FIELD_MAC_SECONDARY};
pub use error::{
    CONTEXT_BYTES, DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind, FORMAT_ERROR_ECHO,
    Location, Partial,
};
pub use framing::{Deframer, FrameError, HEADER_LEN, MAX_FRAME_LEN, frame};
pub use mask::{mask_pan, mask_track2, summarize_icc};
pub use message::{FIELD_ICC, FieldValue, MaskedMessage, Message};
pub use mti::{InvalidMti, MessageClass, MessageFunction, Mti, Origin};
pub use original::{FIELD_ORIGINAL_DATA, InvalidOriginalData, OriginalData};
pub use response::{InvalidResponseCode, Outcome, RESPONSE_CODES, ResponseCode, ResponseCodeInfo};
pub use spec::{
    EMBEDDED_TOML, Encoding, FieldSpec, FieldType, LengthKind, Mask, Padding, Spec, SpecError,
};
