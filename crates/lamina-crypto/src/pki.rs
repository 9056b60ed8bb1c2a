//! EMV RSA public key infrastructure (EMV Book 2 v4.3/v4.4, §5–§7 and Annex A2).
//!
//! | item | tag(s) | Book 2 |
//! |---|---|---|
//! | [`CaPublicKey`] checksum, [`CaKeyPair`] (test CA) | — | §11.2 Table 23, A2.1 |
//! | Issuer public key certificate, format `02` | `90`, `92`, `9F32` | §5.3 / §6.3, Table 6 / Table 13 |
//! | ICC public key certificate, format `04` | `9F46`, `9F48`, `9F47` | §6.4, Table 14 |
//! | Signed Static Application Data (SDA), format `03` | `93`, `9F45` | §5.4, Table 7 |
//! | Signed Dynamic Application Data (DDA), format `05` | `9F4B`, `9F4C` | §6.5, Tables 17–18 |
//! | Combined DDA/AC (CDA), format `05` | `9F4B` | §6.6, Tables 19–22 |
//! | Offline enciphered PIN | `9F2D`–`9F2F` | §7 |
//!
//! All signatures use the ISO/IEC 9796-2 digital signature scheme giving message
//! recovery (Book 2 Annex A2.1) with SHA-1: the signer applies the raw RSA private
//! operation to the message representative `6A ‖ data ‖ SHA-1 ‖ BC`, the verifier
//! applies the raw public operation and checks header, trailer and hash.
//! Key sizes follow Book 2 §11.2 (at most 1984 bits; public exponent 3 or 2¹⁶+1).
//!
//! Nothing here reads a clock: callers pass today's [`Date`].
//!
//! Verification comes in two steps for every object: `recover_*` applies the public
//! key and checks the structure (length, trailer, header, format), giving a
//! `Recovered*` value whose fields may be inspected (for logging or diagnostics);
//! only its `verify` method — which checks the hash and the semantic rules —
//! yields the authenticated result (a public key, a DAC, ICC dynamic data ...).
//! The `verify_*` functions do both steps at once.

mod ca;
mod cert;
mod dda;
mod encipher;
mod error;
mod frame;
mod key;
mod sda;
mod types;

pub use ca::{CaKeyPair, CaPublicKey};
pub use cert::{
    IccCertificateContent, IssuerCertificateContent, PublicKeyCertificate, RecoveredIccCertificate,
    RecoveredIccKey, RecoveredIssuerCertificate, RecoveredIssuerKey, certify_icc,
    certify_icc_pin_encipherment, issuer_identifier_from_pan, recover_icc_certificate,
    recover_issuer_certificate, verify_icc_certificate, verify_icc_pin_encipherment_certificate,
    verify_issuer_certificate,
};
pub use dda::{
    CdaDynamicData, CdaTransactionData, IccDynamicData, RecoveredDynamicData, dda_icc_dynamic_data,
    recover_signed_dynamic_data, sign_cda, sign_dynamic_data, transaction_data_hash_code,
    verify_cda, verify_dda,
};
pub use encipher::{decipher_pin_block, encipher_pin_block};
pub use error::PkiError;
pub use key::{
    KEY_BITS_MAX, KEY_BITS_MIN, PUBLIC_KEY_BITS_MIN, PublicExponent, RsaKeyPair, RsaKeyParts,
    RsaPublicKey,
};
pub use sda::{
    RecoveredStaticData, recover_signed_static_data, sign_static_data, verify_signed_static_data,
};
pub use types::{CertExpiry, Date, Pan};

/// Hash Algorithm Indicator `01`: SHA-1 (Book 2 Annex B2.1).
pub const HASH_ALGORITHM_SHA1: u8 = 0x01;
/// Public Key Algorithm Indicator `01`: RSA (Book 2 Annex B2.1).
pub const PK_ALGORITHM_RSA: u8 = 0x01;
