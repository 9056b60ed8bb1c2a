//! # lamina-reader — real readers for Lamina
//!
//! Both directions of PC/SC:
//!
//! | module | what | spec |
//! |---|---|---|
//! | [`vpcd`] | the emulated card served to `pcscd` through vsmartcard's virtual reader driver `vpcd` (always built) | vsmartcard vpcd protocol; ISO/IEC 7816-3 §8 (ATR) |
//! | [`pcsc_channel`] | a [`lamina_card::CardChannel`] over PC/SC (feature `pcsc`, default) | PC/SC Part 5; EMV Book 1 §9.3.1 (T=0) |
//! | [`scan`] | read-only EMV inspection of any card over any channel | EMV Book 1 §12, Book 3 §10.2–10.3 |
//! | [`testing`] | tests against a real, private `pcscd` (feature `pcsc`) | — |
//!
//! Without the `pcsc` feature [`PCSC_BUILT`] is `false` and only the card side
//! ([`vpcd`]) and [`scan`] over other channels exist.

pub mod scan;
#[cfg(feature = "pcsc")]
pub mod testing;
pub mod vpcd;

#[cfg(feature = "pcsc")]
pub mod pcsc_channel;

#[cfg(feature = "pcsc")]
pub use pcsc_channel::{PcscChannel, ReaderError, ReaderInfo, list_readers};

/// True when PC/SC support (feature `pcsc`) was built in.
pub const PCSC_BUILT: bool = cfg!(feature = "pcsc");
