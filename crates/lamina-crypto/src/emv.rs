//! EMV symmetric card cryptography: ICC master keys, session keys, application
//! cryptograms by Cryptogram Version Number, ARPC, and issuer script secure
//! messaging (EMV 4.3/4.4 Book 2 Annex A1, §8 and §9).
//!
//! The layers, from the issuer's master keys down to a cryptogram:
//!
//! 1. [`derive_icc_mk`] — Issuer Master Key (IMK) + PAN + PSN → ICC Master Key
//!    (Book 2 A1.4, options A and B).
//! 2. [`derive_common_session_key`], [`derive_ac_session_key`],
//!    [`derive_script_session_key`] — ICC Master Key → per-transaction session key
//!    (Book 2 A1.3; Mastercard SKD; Visa secure messaging keys).
//! 3. [`generate_ac`] / [`verify_ac`] — the cryptogram itself, chosen by a [`Cvn`]
//!    whose parameters are rows of the table [`CVN_PROFILES`].
//! 4. [`generate_arpc`] / [`verify_arpc`] — issuer authentication (Book 2 §8.2,
//!    A1.2 methods 1 and 2).
//! 5. [`script_command`], [`encrypt_script_data`], [`pin_change_command`] — issuer
//!    script secure messaging (Book 2 §9.2 integrity, §9.3 confidentiality).
//!
//! TDES profiles follow published scheme practice and are checked against
//! HSM-confirmed public vectors (see `tests/vectors/emv_*.txt`). The AES forms are
//! *modelled on* Book 2's general AES rules; no public AES vector was available to
//! us, so they are covered by property and cross-variant tests only (see each
//! function's documentation).
//!
//! Inputs are keys as byte slices, the PAN as a digit string and the PAN Sequence
//! Number (tag 5F34) as its one BCD byte. Derived keys are
//! [`SecretKey`](crate::sym::SecretKey)s. Errors never contain key bytes or the
//! PAN.
//!
//! Code map: master and session key derivations in `emv/keys.rs`, the CVN table
//! in `emv/cvn.rs`, cryptograms and ARPC in `emv/cryptogram.rs`, secure messaging
//! in `emv/script.rs`; everything is re-exported from this module.

use zeroize::Zeroizing;

use crate::sym;
use crate::{Error, Result};

mod cryptogram;
mod cvn;
mod keys;
mod script;

pub use cryptogram::{
    ArpcResponse, ac_mac, ac_session_key, arpc_method1, arpc_method2, generate_ac, generate_arpc,
    verify_ac, verify_arpc,
};
pub use cvn::{
    AcMac, ArpcKey, ArpcMethod, CVN_PROFILES, ChangePinBlock, Cvn, CvnProfile,
    STANDARD_AC_DATA_PREFIX, ScriptEncryption, ScriptMacData,
};
pub use keys::{
    MkDerivation, ScriptKeyDerivation, SessionKeyDerivation, derive_ac_session_key,
    derive_common_session_key, derive_icc_mk, derive_script_session_key,
};
pub use script::{
    IccKeys, command_mac, decrypt_command_data, decrypt_script_data, encrypt_command_data,
    encrypt_script_data, pin_change_block, pin_change_command, script_command, script_mac,
    verify_script_command,
};

// ---------------------------------------------------------------------------
// Input validation
// ---------------------------------------------------------------------------

/// Decimal digit values of a PAN (12–19 digits, ISO/IEC 7812-1).
pub(crate) fn pan_digits(pan: &str) -> Result<Zeroizing<Vec<u8>>> {
    let bad = Error::Invalid {
        what: "PAN",
        reason: "must be 12 to 19 decimal digits",
    };
    if !(12..=19).contains(&pan.len()) {
        return Err(bad);
    }
    let mut out = Zeroizing::new(Vec::with_capacity(pan.len()));
    for c in pan.bytes() {
        if !c.is_ascii_digit() {
            return Err(bad);
        }
        out.push(c - b'0');
    }
    Ok(out)
}

/// The two BCD digits of a PAN Sequence Number byte.
fn psn_digits(psn: u8) -> Result<[u8; 2]> {
    let (hi, lo) = (psn >> 4, psn & 0x0F);
    if hi > 9 || lo > 9 {
        return Err(Error::Invalid {
            what: "PAN sequence number",
            reason: "not two BCD digits",
        });
    }
    Ok([hi, lo])
}

/// Packs an even number of nibbles into bytes.
fn pack_nibbles(nibbles: &[u8]) -> Vec<u8> {
    nibbles
        .chunks(2)
        .map(|p| (p.first().copied().unwrap_or(0) << 4) | p.get(1).copied().unwrap_or(0))
        .collect()
}

fn tdes_double_key(key: &[u8], what: &'static str) -> Result<()> {
    if key.len() != 16 {
        return Err(Error::KeyLength {
            algorithm: what,
            got: key.len(),
            expected: "16 bytes (double-length TDES)",
        });
    }
    Ok(())
}

fn aes_key(key: &[u8], what: &'static str) -> Result<()> {
    if !matches!(key.len(), 16 | 24 | 32) {
        return Err(Error::KeyLength {
            algorithm: what,
            got: key.len(),
            expected: "16, 24 or 32 bytes (AES)",
        });
    }
    Ok(())
}

fn xor_into(a: &mut [u8], b: &[u8]) {
    sym::xor_in_place(a, b);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_validation() {
        assert!(pan_digits("12345678901").is_err());
        assert!(pan_digits("12345678901234567890").is_err());
        assert!(pan_digits("1234567890123a").is_err());
        assert!(psn_digits(0x0A).is_err());
        assert!(psn_digits(0x99).is_ok());
    }
}
