//! # lamina-perso — the card personalization bureau
//!
//! Everything that happens to a card between the chip factory and the wallet:
//!
//! | module | what | reference |
//! |---|---|---|
//! | [`issuer`] | test scheme CA, CAPK file, issuer RSA key and certificate, issuer master keys | EMV Book 2 §5–6, §11.2 |
//! | [`keystore`] | encrypted key store (Argon2id → AES-256-GCM), KCV listing | RFC 9106, NIST SP 800-38D |
//! | [`profile`] | card profiles (TOML) with validation errors naming the field | EMV Book 3 Annex A |
//! | [`prepare`] | per-card data preparation: PAN, Track 2, records, ICC keys, certificates, PIN, PVV | EMV Book 2 A1.4, Book 3 §10.3 |
//! | [`card`] | [`PreparedCard`](card::PreparedCard): the typed card data the EMV applet loads | EMV CPS (DGI model) |
//! | [`storedata`] | DGI encoding, the GlobalPlatform STORE DATA script and its replay handler | GP Card Spec v2.3 §11.11 |
//! | [`image`] | versioned card image file (header with CRC-32, JSON body, mode 0600) | — |
//! | [`chip`] | the emulator's card image (`lamina-card-image/1`) built from a prepared card | — |
//! | [`face`] | card face as SVG and PNG (ISO/IEC 7810 ID-1 layout) | ISO/IEC 7810, 7811 |
//! | [`manifest`] | issuance records for the host ([`IssuanceSink`](manifest::IssuanceSink)) | — |
//! | [`batch`] | parallel issuance of N cards, reproducible with a seed | — |
//! | [`show`] | decoding an image for display (TLV names, keys as KCVs) | — |
//!
//! Secrets never reach `Debug`/`Display`: keys print as `REDACTED`, PANs are
//! masked (`999900******0010`). The full PAN leaves this crate only inside the
//! card image (the chip's own memory), the PIN mailer and the card face.

pub mod batch;
pub mod card;
pub mod chip;
pub mod closedloop;
mod error;
pub mod face;
pub mod image;
pub mod issuer;
pub mod keyfile;
pub mod keystore;
pub mod manifest;
pub mod prepare;
pub mod profile;
pub mod show;
pub mod storedata;
pub mod util;

pub use error::{PersoError, Result};
