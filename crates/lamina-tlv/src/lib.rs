//! # lamina-tlv — BER-TLV for smart cards (ISO/IEC 7816-4 §5.2, EMV Book 3 Annex B)
//!
//! Two views of the same bytes:
//!
//! * a borrowing, zero-copy [`Parser`] that yields [`TlvRef`]s (tag, value slice,
//!   and the object's exact raw bytes — what signed card data is hashed over);
//! * an owned tree of [`Tlv`] objects with a builder and an encoder.
//!
//! Both accept EMV padding: `00` and `FF` bytes before, between and after objects
//! (EMV Book 3 Annex B1). Lengths use the short form or the long forms `81`–`84`;
//! the indefinite form `80` is refused. Tags are 1 to 4 bytes. Errors carry the
//! byte offset where decoding stopped and what was expected there.
//!
//! This crate is pure: no I/O, no allocation beyond the owned tree, and no panics
//! on any input (property-tested and fuzzed).
//!
//! ```
//! use lamina_tlv::{Tlv, Tag};
//! let fci = hex_literal("6F1A840E315041592E5359532E4444463031A5088801025F2D02656E");
//! let tree = Tlv::parse_all(&fci).unwrap();
//! let sfi = lamina_tlv::find_path(&tree, "6F/A5/88").unwrap();
//! assert_eq!(sfi.value_bytes(), Some(&[0x02][..]));
//! assert_eq!(Tlv::encode_all(&tree), fci);
//! # fn hex_literal(s: &str) -> Vec<u8> { (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i+2], 16).unwrap()).collect() }
//! ```

mod error;
mod owned;
mod parser;
mod tag;

pub use error::{Error, ErrorKind};
pub use owned::{Tlv, TlvBuilder, Value, find_path, find_recursive};
pub use parser::{Parser, TlvRef, parse, parse_length};
pub use tag::{Class, Tag, encode_length, parse_path};

/// Maximum nesting depth of constructed objects the owned tree decodes
/// (deeper input is refused rather than risking the stack).
pub const MAX_DEPTH: usize = 32;
