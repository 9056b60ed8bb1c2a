//! Application cryptograms (EMV Book 2 §8.1, A1.2) and ARPC (§8.2).

use super::cvn::{AcMac, ArpcKey, ArpcMethod, Cvn};
use super::keys::derive_ac_session_key;
use super::{tdes_double_key, xor_into};
use crate::sym::{self, Algorithm, Padding, SecretKey};
use crate::{Error, Result};

// ---------------------------------------------------------------------------
// Application cryptograms (A1.2)
// ---------------------------------------------------------------------------

/// Computes an 8-byte application cryptogram MAC over `data` with `key` (SK_AC,
/// or MK_AC for profiles without session keys) — Book 2 A1.2: MAC algorithm 3
/// with the given padding for TDES, AES-CMAC truncated to 8 bytes for AES.
pub fn ac_mac(mac: AcMac, key: &[u8], data: &[u8]) -> Result<[u8; 8]> {
    match mac {
        AcMac::Alg3(padding) => {
            tdes_double_key(key, "cryptogram key")?;
            sym::mac_alg3(key, data, padding)
        }
        AcMac::AesCmac => {
            let tag = sym::aes_cmac(key, data)?;
            let mut out = [0u8; 8];
            out.copy_from_slice(&tag[..8]);
            Ok(out)
        }
    }
}

/// The cryptogram session key SK_AC of a profile (or MK_AC itself for
/// profiles without a session key).
pub fn ac_session_key(cvn: Cvn, mk_ac: &[u8], atc: u16, un: [u8; 4]) -> Result<SecretKey> {
    let p = cvn.profile();
    derive_ac_session_key(p.session, p.algorithm, mk_ac, atc, un)
}

/// Generates an application cryptogram (ARQC, TC or AAC — the computation is the
/// same) per the profile of `cvn` (Book 2 §8.1, A1.2).
///
/// `mk_ac` is the ICC Master Key for AC; `atc` (9F36) and `un` (9F37) feed the
/// session key derivation (ignored by profiles without session keys); `data` is
/// the cryptogram input the caller built from the CDOL (see
/// [`CvnProfile::data_layout`](crate::emv::CvnProfile::data_layout)).
pub fn generate_ac(cvn: Cvn, mk_ac: &[u8], atc: u16, un: [u8; 4], data: &[u8]) -> Result<[u8; 8]> {
    let p = cvn.profile();
    if data.len() < p.min_data_len {
        return Err(Error::Length {
            what: "cryptogram input data (is the CDOL data complete?)",
            got: data.len(),
            expected: "at least 33 bytes: 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36",
        });
    }
    let sk = ac_session_key(cvn, mk_ac, atc, un)?;
    ac_mac(p.mac, sk.as_bytes(), data)
}

/// Verifies an application cryptogram in constant time; `Err(Verification)` if
/// it does not match.
pub fn verify_ac(
    cvn: Cvn,
    mk_ac: &[u8],
    atc: u16,
    un: [u8; 4],
    data: &[u8],
    ac: &[u8],
) -> Result<()> {
    let want = generate_ac(cvn, mk_ac, atc, un, data)?;
    if sym::ct_eq(&want, ac) {
        Ok(())
    } else {
        Err(Error::Verification("application cryptogram"))
    }
}

// ---------------------------------------------------------------------------
// ARPC (§8.2, A1.2)
// ---------------------------------------------------------------------------

/// ARPC method 1 (Book 2 §8.2.1): `ALG(K)[ARQC ⊕ (ARC ‖ 00…00)]`, 8 bytes.
///
/// For AES the 8-byte value is right-padded with zeros to 16 bytes and the ARPC
/// is the leftmost 8 bytes of the AES encryption (modelled; no public vector).
pub fn arpc_method1(alg: Algorithm, key: &[u8], arqc: &[u8; 8], arc: [u8; 2]) -> Result<[u8; 8]> {
    let mut y = vec![0u8; alg.block_size()];
    y[..8].copy_from_slice(arqc);
    xor_into(&mut y[..2], &arc);
    let e = match alg {
        Algorithm::Tdes => {
            tdes_double_key(key, "ARPC key")?;
            sym::ecb_encrypt(alg, key, &y)?
        }
        Algorithm::Aes => sym::ecb_encrypt(alg, key, &y)?,
    };
    let mut out = [0u8; 8];
    out.copy_from_slice(e.get(..8).unwrap_or(&[0; 8]));
    Ok(out)
}

/// ARPC method 2 (Book 2 §8.2.2): the leftmost 4 bytes of the MAC over
/// ARQC ‖ CSU ‖ proprietary authentication data (0–8 bytes), MAC algorithm 3
/// with method 2 padding (TDES) or AES-CMAC (AES).
pub fn arpc_method2(
    alg: Algorithm,
    key: &[u8],
    arqc: &[u8; 8],
    csu: [u8; 4],
    proprietary: &[u8],
) -> Result<[u8; 4]> {
    if proprietary.len() > 8 {
        return Err(Error::Length {
            what: "proprietary authentication data",
            got: proprietary.len(),
            expected: "0 to 8 bytes",
        });
    }
    let input = [&arqc[..], &csu, proprietary].concat();
    let mac = match alg {
        Algorithm::Tdes => ac_mac(AcMac::Alg3(Padding::Method2), key, &input)?,
        Algorithm::Aes => ac_mac(AcMac::AesCmac, key, &input)?,
    };
    Ok([mac[0], mac[1], mac[2], mac[3]])
}

/// The issuer's response data for an ARPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpcResponse<'a> {
    /// Method 1: the 2-byte Authorisation Response Code.
    Method1 {
        /// ARC (tag 8A as sent to the card).
        arc: [u8; 2],
    },
    /// Method 2: the Card Status Update and optional proprietary data.
    Method2 {
        /// CSU (4 bytes).
        csu: [u8; 4],
        /// Proprietary Authentication Data (0–8 bytes).
        proprietary: &'a [u8],
    },
}

/// Generates the ARPC for a profile: method and key (MK_AC or SK_AC) come from
/// the [`CvnProfile`](crate::emv::CvnProfile); `response` must match the profile's method.
pub fn generate_arpc(
    cvn: Cvn,
    mk_ac: &[u8],
    atc: u16,
    un: [u8; 4],
    arqc: &[u8; 8],
    response: ArpcResponse<'_>,
) -> Result<Vec<u8>> {
    let p = cvn.profile();
    let key = match p.arpc_key {
        ArpcKey::MasterKey => SecretKey::new(mk_ac.to_vec()),
        ArpcKey::SessionKey => ac_session_key(cvn, mk_ac, atc, un)?,
    };
    match (p.arpc, response) {
        (ArpcMethod::Method1, ArpcResponse::Method1 { arc }) => {
            Ok(arpc_method1(p.algorithm, key.as_bytes(), arqc, arc)?.to_vec())
        }
        (ArpcMethod::Method2, ArpcResponse::Method2 { csu, proprietary }) => {
            Ok(arpc_method2(p.algorithm, key.as_bytes(), arqc, csu, proprietary)?.to_vec())
        }
        _ => Err(Error::Invalid {
            what: "ARPC response data",
            reason: "does not match the profile's ARPC method",
        }),
    }
}

/// Verifies an ARPC in constant time (the card's side of issuer authentication).
pub fn verify_arpc(
    cvn: Cvn,
    mk_ac: &[u8],
    atc: u16,
    un: [u8; 4],
    arqc: &[u8; 8],
    response: ArpcResponse<'_>,
    arpc: &[u8],
) -> Result<()> {
    let want = generate_arpc(cvn, mk_ac, atc, un, arqc, response)?;
    if sym::ct_eq(&want, arpc) {
        Ok(())
    } else {
        Err(Error::Verification("ARPC"))
    }
}
