//! # lamina-crypto — payment cryptography for Lamina
//!
//! Pure functions (no I/O) over RustCrypto block ciphers, hashes and RSA:
//!
//! | module | what | standard |
//! |---|---|---|
//! | [`sym`] | TDES/AES ECB/CBC, ISO 9797-1 padding, MAC algorithms 1 and 3, AES-CMAC, KCV, key components, parity | ISO/IEC 9797-1, NIST SP 800-38B |
//! | [`emv`] | ICC master keys, session keys, application cryptograms by CVN, ARPC, issuer script secure messaging | EMV Book 2 Annex A1, §8 |
//! | [`cvv`] | CVV/CVC, iCVV, dynamic CVV | scheme practice |
//! | [`pin`] | ISO 9564-1 PIN blocks formats 0–4 | ISO 9564-1:2017 |
//! | [`pvv`] | IBM 3624 offsets, Visa PVV | IBM 3624, Visa PIN verification |
//! | [`dukpt`] | TDES DUKPT and AES DUKPT | ANSI X9.24-1:2009, X9.24-3:2017 |
//! | [`pki`] | EMV RSA certificates, SDA/DDA/CDA, offline enciphered PIN | EMV Book 2 §5–7 |
//!
//! Keys are held in [`sym::SecretKey`] (zeroized on drop, redacted `Debug`);
//! MAC and cryptogram checks compare in constant time ([`sym::ct_eq`]).

pub mod cvv;
pub mod dukpt;
pub mod emv;
mod error;
pub mod pin;
pub mod pki;
pub mod pvv;
pub mod sym;

pub use error::{Error, Result};
