//! ICC master key derivation (EMV Book 2 A1.4) and session key derivation
//! (A1.3, Mastercard SKD, Visa secure messaging keys).

use sha1::{Digest, Sha1};
use zeroize::Zeroizing;

use super::{aes_key, pack_nibbles, pan_digits, psn_digits, tdes_double_key, xor_into};
use crate::sym::{self, Algorithm, SecretKey};
use crate::{Error, Result};

// ---------------------------------------------------------------------------
// A1.4 ICC master key derivation
// ---------------------------------------------------------------------------

/// How the ICC Master Key is derived from the Issuer Master Key (Book 2 A1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MkDerivation {
    /// Option A (A1.4.1): Y = the rightmost 16 digits of PAN ‖ PSN (left-padded
    /// with zeros when shorter).
    OptionA,
    /// Option B (A1.4.2): for PANs longer than 16 digits Y is the decimalised
    /// SHA-1 of PAN ‖ PSN; for PANs of 16 digits or fewer it is option A.
    OptionB,
}

/// Y for option A: rightmost 16 digits of PAN ‖ PSN, zero-padded on the left.
fn y_option_a(pan: &[u8], psn: [u8; 2]) -> [u8; 8] {
    let mut x: Zeroizing<Vec<u8>> = Zeroizing::new(pan.iter().chain(psn.iter()).copied().collect());
    while x.len() < 16 {
        x.insert(0, 0);
    }
    let tail = x.get(x.len() - 16..).unwrap_or(&[]);
    let packed = pack_nibbles(tail);
    let mut y = [0u8; 8];
    y.copy_from_slice(packed.get(..8).unwrap_or(&[0; 8]));
    y
}

/// Y for option B (PAN > 16 digits): SHA-1 over PAN ‖ PSN (left-padded with one
/// zero nibble to whole bytes), then the first 16 decimal nibbles of the digest;
/// if fewer than 16, the hex nibbles A–F in order, decimalised A→0 … F→5.
fn y_option_b(pan: &[u8], psn: [u8; 2]) -> [u8; 8] {
    let mut x: Zeroizing<Vec<u8>> = Zeroizing::new(pan.iter().chain(psn.iter()).copied().collect());
    if x.len() % 2 == 1 {
        x.insert(0, 0);
    }
    let digest = Sha1::digest(pack_nibbles(&x));
    let nibbles: Vec<u8> = digest.iter().flat_map(|b| [b >> 4, b & 0x0F]).collect();
    let mut y_digits: Vec<u8> = nibbles
        .iter()
        .copied()
        .filter(|&n| n < 10)
        .take(16)
        .collect();
    let missing = 16 - y_digits.len();
    y_digits.extend(
        nibbles
            .iter()
            .filter(|&&n| n >= 10)
            .take(missing)
            .map(|n| n - 10),
    );
    let packed = pack_nibbles(&y_digits);
    let mut y = [0u8; 8];
    y.copy_from_slice(packed.get(..8).unwrap_or(&[0; 8]));
    y
}

/// Z from Y: TDES `DES3(IMK)[Y] ‖ DES3(IMK)[Y ⊕ FF…FF]` with odd parity (A1.4.1).
///
/// AES (modelled on A1.4.1's AES form, not checked against a published vector):
/// Y is left-padded with zero bytes to the 16-byte block; for a 128-bit IMK
/// `MK = AES(IMK)[Y]`, for 192/256-bit IMKs `MK` is the leftmost k bits of
/// `AES(IMK)[Y] ‖ AES(IMK)[Y ⊕ FF…FF]`. This is the same rule as the TDES form
/// (where k is twice the block size).
fn mk_from_y(alg: Algorithm, imk: &[u8], y: [u8; 8]) -> Result<SecretKey> {
    match alg {
        Algorithm::Tdes => {
            if imk.len() != 16 && imk.len() != 24 {
                return Err(Error::KeyLength {
                    algorithm: "issuer master key (TDES)",
                    got: imk.len(),
                    expected: "16 or 24 bytes",
                });
            }
            let mut input = [0u8; 16];
            input[..8].copy_from_slice(&y);
            for (o, b) in input[8..].iter_mut().zip(y) {
                *o = !b;
            }
            let mut z = Zeroizing::new(sym::ecb_encrypt(Algorithm::Tdes, imk, &input)?);
            sym::adjust_odd_parity(&mut z);
            Ok(SecretKey::new(z.to_vec()))
        }
        Algorithm::Aes => {
            aes_key(imk, "issuer master key (AES)")?;
            let mut yb = [0u8; 16];
            yb[8..].copy_from_slice(&y);
            aes_two_block_derive(imk, &yb, &{
                let mut inv = yb;
                inv.iter_mut().for_each(|b| *b = !*b);
                inv
            })
        }
    }
}

/// `ALG(K)[a]` when k = 128, else the leftmost k bits of `ALG(K)[a] ‖ ALG(K)[b]`.
fn aes_two_block_derive(key: &[u8], a: &[u8; 16], b: &[u8; 16]) -> Result<SecretKey> {
    let mut out = Zeroizing::new(sym::aes_encrypt_block(key, a)?.to_vec());
    if key.len() > 16 {
        out.extend_from_slice(&sym::aes_encrypt_block(key, b)?);
        out.truncate(key.len());
    }
    Ok(SecretKey::new(out.to_vec()))
}

/// Derives the ICC Master Key (MK_AC, MK_SMI, MK_SMC, …) from an Issuer Master
/// Key, the PAN (12–19 digits) and the PAN Sequence Number (tag 5F34 as its BCD
/// byte; pass `0x00` when absent), per EMV Book 2 A1.4.1 (option A) or A1.4.2
/// (option B).
///
/// For TDES the result is a 16-byte key with odd parity. For AES see
/// [`MkDerivation`] and the note on the AES form (modelled, not vector-checked).
pub fn derive_icc_mk(
    alg: Algorithm,
    method: MkDerivation,
    imk: &[u8],
    pan: &str,
    psn: u8,
) -> Result<SecretKey> {
    let digits = pan_digits(pan)?;
    let psn = psn_digits(psn)?;
    let y = match method {
        MkDerivation::OptionB if digits.len() > 16 => y_option_b(&digits, psn),
        _ => y_option_a(&digits, psn),
    };
    mk_from_y(alg, imk, y)
}

// ---------------------------------------------------------------------------
// A1.3 session keys
// ---------------------------------------------------------------------------

/// EMV Common Session Key derivation (Book 2 A1.3.1), general form.
///
/// `r` is the diversification value, one block long (8 bytes TDES, 16 AES).
/// With R2 replaced by `F0` (left) and `0F` (right):
/// * TDES (16-byte MK): `SK = DES3(MK)[R0 R1 F0 R3…R7] ‖ DES3(MK)[R0 R1 0F R3…R7]`,
///   odd parity adjusted (parity is ignored by DES; HSMs set it).
/// * AES, 128-bit MK: `SK = AES(MK)[R0 R1 F0 R3…R15]`; 192/256-bit MK: the leftmost
///   k bits of `AES(MK)[… F0 …] ‖ AES(MK)[… 0F …]` (modelled on A1.3.1's AES case;
///   no public vector).
pub fn derive_common_session_key(alg: Algorithm, mk: &[u8], r: &[u8]) -> Result<SecretKey> {
    let bs = alg.block_size();
    if r.len() != bs {
        return Err(Error::Length {
            what: "session key diversification value R",
            got: r.len(),
            expected: "one cipher block (8 bytes TDES, 16 bytes AES)",
        });
    }
    let mut left = r.to_vec();
    let mut right = r.to_vec();
    if let (Some(l), Some(rr)) = (left.get_mut(2), right.get_mut(2)) {
        *l = 0xF0;
        *rr = 0x0F;
    }
    match alg {
        Algorithm::Tdes => {
            tdes_double_key(mk, "ICC master key")?;
            let mut sk = Zeroizing::new(sym::ecb_encrypt(alg, mk, &[left, right].concat())?);
            sym::adjust_odd_parity(&mut sk);
            Ok(SecretKey::new(sk.to_vec()))
        }
        Algorithm::Aes => {
            aes_key(mk, "ICC master key")?;
            let mut a = [0u8; 16];
            let mut b = [0u8; 16];
            a.copy_from_slice(&left);
            b.copy_from_slice(&right);
            aes_two_block_derive(mk, &a, &b)
        }
    }
}

/// How an application cryptogram session key is obtained from MK_AC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionKeyDerivation {
    /// No session key: the cryptogram is computed with the ICC Master Key itself
    /// (Visa CVN 10).
    None,
    /// EMV Common Session Key derivation (A1.3.1) with R = ATC ‖ 00…00.
    Common,
    /// Mastercard proprietary SKD (M/Chip 2.1/4): R = ATC ‖ 00 ‖ 00 ‖ UN, i.e.
    /// `SK_L = DES3(MK)[ATC ‖ F0 ‖ 00 ‖ UN]`, `SK_R = DES3(MK)[ATC ‖ 0F ‖ 00 ‖ UN]`.
    /// TDES only.
    Mastercard,
}

impl SessionKeyDerivation {
    /// "none", "EMV common session key" or "Mastercard SKD".
    pub const fn name(self) -> &'static str {
        match self {
            SessionKeyDerivation::None => "none",
            SessionKeyDerivation::Common => "EMV common session key",
            SessionKeyDerivation::Mastercard => "Mastercard SKD",
        }
    }
}

/// Derives the application cryptogram session key SK_AC from MK_AC, the ATC
/// (tag 9F36) and the terminal's Unpredictable Number (tag 9F37).
pub fn derive_ac_session_key(
    kind: SessionKeyDerivation,
    alg: Algorithm,
    mk_ac: &[u8],
    atc: u16,
    un: [u8; 4],
) -> Result<SecretKey> {
    let mut r = vec![0u8; alg.block_size()];
    r[..2].copy_from_slice(&atc.to_be_bytes());
    match kind {
        SessionKeyDerivation::None => {
            match alg {
                Algorithm::Tdes => tdes_double_key(mk_ac, "ICC master key")?,
                Algorithm::Aes => aes_key(mk_ac, "ICC master key")?,
            }
            Ok(SecretKey::new(mk_ac.to_vec()))
        }
        SessionKeyDerivation::Common => derive_common_session_key(alg, mk_ac, &r),
        SessionKeyDerivation::Mastercard => {
            if alg != Algorithm::Tdes {
                return Err(Error::Invalid {
                    what: "session key derivation",
                    reason: "Mastercard SKD is defined for TDES only",
                });
            }
            r[4..8].copy_from_slice(&un);
            derive_common_session_key(alg, mk_ac, &r)
        }
    }
}

/// How secure messaging session keys (SK_SMI, SK_SMC) are obtained from
/// MK_SMI / MK_SMC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScriptKeyDerivation {
    /// Visa (VIS 1.5): `SK_L = MK_L ⊕ (00…00 ‖ ATC)`, `SK_R = MK_R ⊕ (00…00 ‖ ¬ATC)`,
    /// odd parity. TDES only.
    Visa,
    /// EMV Common Session Key derivation (A1.3.1) with R = the ARQC (EMV SU-46 /
    /// M/Chip). For AES, R = ARQC ‖ 00×8 (modelled; no public vector).
    Common,
}

/// Derives a secure messaging session key from MK_SMI or MK_SMC.
pub fn derive_script_session_key(
    kind: ScriptKeyDerivation,
    alg: Algorithm,
    mk_sm: &[u8],
    atc: u16,
    arqc: &[u8; 8],
) -> Result<SecretKey> {
    match kind {
        ScriptKeyDerivation::Visa => {
            if alg != Algorithm::Tdes {
                return Err(Error::Invalid {
                    what: "script key derivation",
                    reason: "the Visa secure messaging key derivation is TDES only",
                });
            }
            tdes_double_key(mk_sm, "ICC secure messaging master key")?;
            let mut sk = Zeroizing::new(mk_sm.to_vec());
            let [hi, lo] = atc.to_be_bytes();
            xor_into(&mut sk[6..8], &[hi, lo]);
            xor_into(&mut sk[14..16], &[!hi, !lo]);
            sym::adjust_odd_parity(&mut sk);
            Ok(SecretKey::new(sk.to_vec()))
        }
        ScriptKeyDerivation::Common => {
            let mut r = vec![0u8; alg.block_size()];
            r[..8].copy_from_slice(arqc);
            derive_common_session_key(alg, mk_sm, &r)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_b_decimalisation_uses_letters_when_short() {
        // 18-digit PAN whose SHA-1 has fewer than 16 decimal nibbles (pyemv
        // test_derive_icc_mk_b_sha_pad); Y must still be 16 decimal digits.
        let d = pan_digits("000000000000000005").unwrap();
        let y = y_option_b(&d, [2, 3]);
        assert!(y.iter().all(|b| (b >> 4) < 10 && (b & 0x0F) < 10));
    }
}
