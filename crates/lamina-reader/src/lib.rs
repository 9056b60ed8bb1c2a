//! # lamina-reader — real readers for Lamina
//!
//! Both directions of PC/SC:
//!
//! | module | what | spec |
//! |---|---|---|
//! | [`vpcd`] | the emulated card served to `pcscd` through vsmartcard's virtual reader driver `vpcd` (always built) | vsmartcard vpcd protocol; ISO/IEC 7816-3 §8 (ATR) |
//! | [`pcsc_channel`] | a [`lamina_card::CardChannel`] over PC/SC | PC/SC Part 5; EMV Book 1 §9.3.1 (T=0) |
//! | [`pcsc_ffi`] | the system PC/SC library (`libpcsclite.so.1`, WinSCard), loaded at run time: no development package is needed to build | PC/SC Part 5 §3 |
//! | [`scan`] | read-only EMV inspection of any card over any channel, and its offline data authentication with the terminal's CA keys (`verify_oda`) | EMV Book 1 §12, Book 3 §10.2–10.3 |
//! | [`testing`] | tests against a real, private `pcscd` | — |
//!
//! A machine without the PC/SC library builds and runs everything; the first
//! PC/SC call then answers [`ReaderError::NoLibrary`] (what is missing, what to
//! install), and one without `pcscd` answers [`ReaderError::NoService`].

pub mod pcsc_channel;
pub mod pcsc_ffi;
pub mod scan;
pub mod testing;
pub mod vpcd;

pub use pcsc_channel::{PcscChannel, ReaderError, ReaderInfo, list_readers};
