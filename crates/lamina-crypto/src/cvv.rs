//! Card verification values: CVV/CVC (magnetic stripe), CVV2/CVC2, iCVV, Visa
//! dynamic CVV (dCVV) and Mastercard CVC3.
//!
//! The static values all use the classic Visa/Mastercard CVV algorithm (as
//! documented in HSM manuals, e.g. IBM CCA "Visa CVV Generate" / Thales `CW`):
//!
//! 1. Concatenate PAN ‖ expiry (4 digits) ‖ service code (3 digits) and fill with
//!    `0` digits to 32 nibbles; split into two 8-byte blocks B1, B2.
//! 2. `R = DES(KA)[B1] ⊕ B2`, then `R = DES(KA)[DES⁻¹(KB)[DES(KA)[R]]]` (TDES EDE
//!    with the CVK pair KA ‖ KB).
//! 3. Decimalise: the decimal nibbles of R left to right, then the nibbles A–F
//!    minus 10; the CVV is the first three digits.
//!
//! CVV2/CVC2 is the same computation with service code `000`, iCVV (the value in
//! the chip's track 2 equivalent data) with `999`. Which expiry order (YYMM or
//! MMYY) goes in is the issuer's choice: pass the four digits as the issuer uses
//! them.
//!
//! Verification values are sensitive authentication data: they are returned as
//! [`VerificationCode`] (zeroized, redacted `Debug`, no `Display`) and checked in
//! constant time.

use zeroize::Zeroizing;

use crate::emv::pan_digits;
use crate::sym;
use crate::{Error, Result};

/// A card verification value (CVV, CVV2, iCVV, dCVV, CVC3 digits).
///
/// Its digits are available through [`VerificationCode::as_str`] only; `Debug`
/// prints `REDACTED`.
#[derive(Clone, PartialEq, Eq)]
pub struct VerificationCode(Zeroizing<String>);

impl VerificationCode {
    /// The decimal digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Number of digits.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True if there are no digits (never the case for computed values).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Constant-time comparison with a presented value.
    pub fn matches(&self, presented: &str) -> bool {
        sym::ct_eq(self.0.as_bytes(), presented.as_bytes())
    }
}

impl core::fmt::Debug for VerificationCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "VerificationCode({} digits, REDACTED)", self.0.len())
    }
}

fn digits(s: &str, len: usize, what: &'static str, reason: &'static str) -> Result<Vec<u8>> {
    if s.len() != len || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(Error::Invalid { what, reason });
    }
    Ok(s.bytes().map(|c| c - b'0').collect())
}

fn cvk_check(cvk: &[u8]) -> Result<()> {
    if cvk.len() != 16 {
        return Err(Error::KeyLength {
            algorithm: "CVK pair",
            got: cvk.len(),
            expected: "16 bytes (CVK A ‖ CVK B)",
        });
    }
    Ok(())
}

/// The classic CVV algorithm over up to 32 nibbles (zero-filled), returning the
/// first `n` decimalised digits.
fn cvv_core(cvk: &[u8], nibbles: &[u8], n: usize) -> Result<VerificationCode> {
    cvk_check(cvk)?;
    if nibbles.len() > 32 {
        return Err(Error::Length {
            what: "CVV input",
            got: nibbles.len(),
            expected: "at most 32 digits",
        });
    }
    let mut field = Zeroizing::new([0u8; 32]);
    field[..nibbles.len()].copy_from_slice(nibbles);
    let mut b1 = [0u8; 8];
    let mut b2 = [0u8; 8];
    for i in 0..8 {
        b1[i] = (field[2 * i] << 4) | field[2 * i + 1];
        b2[i] = (field[16 + 2 * i] << 4) | field[16 + 2 * i + 1];
    }
    let mut r = sym::tdes_encrypt_block(&cvk[..8], &b1)?;
    sym::xor_in_place(&mut r, &b2);
    let r = sym::tdes_encrypt_block(cvk, &r)?;
    Ok(decimalise(&r, n))
}

/// Decimalisation by two scans (decimal nibbles, then A–F minus 10).
fn decimalise(block: &[u8], n: usize) -> VerificationCode {
    let nibbles: Vec<u8> = block.iter().flat_map(|b| [b >> 4, b & 0x0F]).collect();
    let out: String = nibbles
        .iter()
        .filter(|&&d| d < 10)
        .chain(nibbles.iter().filter(|&&d| d >= 10))
        .take(n)
        .map(|&d| char::from(b'0' + d % 10))
        .collect();
    VerificationCode(Zeroizing::new(out))
}

/// CVV / CVC (track 1/2) from the CVK pair `cvk` (16 bytes, CVK A ‖ CVK B), the
/// PAN (12–19 digits), the expiry (4 digits, usually YYMM) and the service code
/// (3 digits).
pub fn cvv(cvk: &[u8], pan: &str, expiry: &str, service_code: &str) -> Result<VerificationCode> {
    let mut input = pan_digits(pan)?.to_vec();
    input.extend(digits(
        expiry,
        4,
        "expiry date",
        "must be 4 decimal digits",
    )?);
    input.extend(digits(
        service_code,
        3,
        "service code",
        "must be 3 decimal digits",
    )?);
    let code = cvv_core(cvk, &input, 3);
    input.iter_mut().for_each(|d| *d = 0);
    code
}

/// CVV2 / CVC2 (printed on the card): the CVV algorithm with service code `000`.
pub fn cvv2(cvk: &[u8], pan: &str, expiry: &str) -> Result<VerificationCode> {
    cvv(cvk, pan, expiry, "000")
}

/// iCVV (the CVV in the chip's Track 2 Equivalent Data): service code `999`.
pub fn icvv(cvk: &[u8], pan: &str, expiry: &str) -> Result<VerificationCode> {
    cvv(cvk, pan, expiry, "999")
}

/// Verifies a presented CVV/CVV2/iCVV in constant time (pass the service code
/// that produced it: the card's, `000` or `999`).
pub fn verify_cvv(
    cvk: &[u8],
    pan: &str,
    expiry: &str,
    service_code: &str,
    presented: &str,
) -> Result<()> {
    if cvv(cvk, pan, expiry, service_code)?.matches(presented) {
        Ok(())
    } else {
        Err(Error::Verification("card verification value"))
    }
}

/// Visa dynamic CVV (dCVV) for contactless magnetic-stripe-mode transactions.
///
/// `udk` is the card's dCVV key (the ICC master key derived from the issuer's
/// MK-dCVV by EMV option A, [`crate::emv::derive_icc_mk`]); `atc` is tag 9F36.
///
/// Variant implemented (modelled on a public reference implementation, see
/// `tests/vectors/cvv_dcvv.txt`; Visa's specification is not public): the CVV
/// algorithm over `ATC (4 hex digits) ‖ PAN without its first 4 digits ‖ expiry`
/// with service code `000`. HSMs also document a variant that takes the ATC and
/// service code from track 2; check the issuer's profile before relying on it.
pub fn dcvv(udk: &[u8], pan: &str, expiry: &str, atc: u16) -> Result<VerificationCode> {
    let pan = pan_digits(pan)?;
    let [hi, lo] = atc.to_be_bytes();
    let mut input = vec![hi >> 4, hi & 0x0F, lo >> 4, lo & 0x0F];
    input.extend_from_slice(pan.get(4..).unwrap_or(&[]));
    input.extend(digits(
        expiry,
        4,
        "expiry date",
        "must be 4 decimal digits",
    )?);
    input.extend_from_slice(&[0, 0, 0]);
    let code = cvv_core(udk, &input, 3);
    input.iter_mut().for_each(|d| *d = 0);
    code
}

/// Mastercard CVC3 step 1 (PayPass M/Chip / mag-stripe): IVCVC3 = the rightmost
/// 2 bytes of ISO 9797-1 MAC algorithm 3 (method 2 padding) over the track 1 or
/// track 2 template data under the card's CVC3 key (16 bytes, derived from the
/// issuer's MK-CVC3 by EMV option A or B).
///
/// Track 2 data is given as its packed nibbles (e.g. `…D3512101…0F`), track 1 as
/// its ASCII bytes.
pub fn cvc3_iv(icc_cvc3_key: &[u8], track_data: &[u8]) -> Result<[u8; 2]> {
    cvk_check(icc_cvc3_key)?;
    let mac = sym::mac_alg3(icc_cvc3_key, track_data, sym::Padding::Method2)?;
    Ok([mac[6], mac[7]])
}

/// Mastercard CVC3 step 2: the rightmost 2 bytes of
/// `DES3(KD_CVC3)[IVCVC3 ‖ UN ‖ ATC]`, as a number (render the digits the card
/// profile uses with [`cvc3_code`]).
pub fn cvc3(icc_cvc3_key: &[u8], iv: [u8; 2], un: [u8; 4], atc: u16) -> Result<u16> {
    cvk_check(icc_cvc3_key)?;
    let mut block = [0u8; 8];
    block[..2].copy_from_slice(&iv);
    block[2..6].copy_from_slice(&un);
    block[6..].copy_from_slice(&atc.to_be_bytes());
    let e = sym::tdes_encrypt_block(icc_cvc3_key, &block)?;
    Ok(u16::from_be_bytes([e[6], e[7]]))
}

/// The `digits` least significant decimal digits (1–5) of a CVC3 value,
/// zero-filled, as carried in the track data.
pub fn cvc3_code(value: u16, digits: usize) -> Result<VerificationCode> {
    if !(1..=5).contains(&digits) {
        return Err(Error::Length {
            what: "CVC3 digits",
            got: digits,
            expected: "1 to 5",
        });
    }
    let full = format!("{value:05}");
    let tail = full.get(5 - digits..).unwrap_or("");
    Ok(VerificationCode(Zeroizing::new(tail.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimalisation_two_scans() {
        // All letters: second scan only (A→0 … F→5).
        let c = decimalise(&[0xAB, 0xCD, 0xEF, 0xAB, 0xCD, 0xEF, 0xAB, 0xCD], 5);
        assert_eq!(c.as_str(), "01234");
        // Digits first, then letters.
        let c = decimalise(&[0xA1, 0xB2, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], 3);
        assert_eq!(c.as_str(), "120");
    }

    #[test]
    fn debug_is_redacted() {
        let c = VerificationCode(Zeroizing::new("123".into()));
        assert!(!format!("{c:?}").contains("123"));
    }
}
