//! # lamina-emv — the EMV data dictionary, bitmap decoders and data object lists
//!
//! * [`dict`] — every data element of EMV Book 3 Annex A plus common contactless and
//!   kernel tags, as data (`data/emv_tags.toml`, embedded at build time).
//! * [`bitmaps`] — bit-level decoders for TVR, TSI, AIP, AUC, CVM results, CVM list,
//!   terminal capabilities, additional terminal capabilities, TTQ, CTQ and the CVR of
//!   Lamina's own applet.
//! * [`dol`] — data object lists (PDOL, CDOL1/2, DDOL, TDOL): parse and build
//!   (EMV Book 3 §5.4).
//!
//! Pure code: no I/O, no panics on input.

pub mod bitmaps;
pub mod date;
pub mod dict;
pub mod dol;
pub mod format;
pub mod tags;

pub use format::Format;
