//! PIN verification values: IBM 3624 natural PIN and PIN offset, and the Visa PVV.
//!
//! * **IBM 3624** (IBM CCA "IBM-PIN" / "IBM-PINO" calculation methods): the
//!   validation data (usually part of the PAN), padded on the right to 16
//!   hexadecimal digits with a pad character, is enciphered under the PIN
//!   verification key; each hex digit of the result is decimalized through a
//!   16-digit decimalization table; the leftmost *n* digits are the natural
//!   (intermediate) PIN. The offset is the digit-wise difference modulo 10
//!   between the customer PIN and the natural PIN.
//! * **Visa PVV** (Visa PIN Verification Value method): the transformed security
//!   parameter TSP = 11 rightmost PAN digits excluding the check digit, the PVKI
//!   digit and the 4 leftmost PIN digits is enciphered with TDES under the PVK
//!   pair; the PVV is the first 4 decimal digits of the result scanned left to
//!   right, completed if needed by the hex letters `A`–`F` mapped to `0`–`5`.
//!
//! Verification compares in constant time ([`crate::sym::ct_eq`]).

use zeroize::Zeroizing;

use crate::pin::{Pan, Pin};
use crate::sym::{self, SecretKey};
use crate::{Error, Result};

fn invalid(what: &'static str, reason: &'static str) -> Error {
    Error::Invalid { what, reason }
}

/// A 16-digit decimalization table: entry *i* is the decimal digit that
/// hexadecimal digit *i* becomes (IBM 3624; commonly `0123456789012345`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DecimalizationTable([u8; 16]);

impl DecimalizationTable {
    /// The usual table `0123456789012345`.
    pub const STANDARD: DecimalizationTable =
        DecimalizationTable([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5]);

    /// Parses 16 decimal digits.
    pub fn new(digits: &str) -> Result<DecimalizationTable> {
        let b = digits.as_bytes();
        if b.len() != 16 {
            return Err(Error::Length {
                what: "decimalization table",
                got: b.len(),
                expected: "16 digits",
            });
        }
        let mut t = [0u8; 16];
        for (o, &c) in t.iter_mut().zip(b) {
            if !c.is_ascii_digit() {
                return Err(invalid("decimalization table", "not all decimal digits"));
            }
            *o = c - b'0';
        }
        Ok(DecimalizationTable(t))
    }

    /// Decimal digit for hex digit `nibble` (0–15).
    pub fn map(&self, nibble: u8) -> u8 {
        self.0.get(usize::from(nibble & 0x0F)).copied().unwrap_or(0)
    }
}

impl core::fmt::Debug for DecimalizationTable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Decimalization tables are secret in HSM practice (decimalization-table attacks).
        f.write_str("DecimalizationTable(REDACTED)")
    }
}

/// Parameters of the IBM 3624 method for one account.
#[derive(Debug, Clone)]
pub struct Ibm3624<'a> {
    /// PIN verification key: DES (8 bytes) or TDES (16/24 bytes).
    pub pvk: &'a SecretKey,
    /// Decimalization table.
    pub table: DecimalizationTable,
    /// Validation data: 1–16 hexadecimal digits (usually PAN digits).
    pub validation_data: &'a str,
    /// Pad character (a hex digit) filling the validation data on the right to 16 digits.
    pub pad: char,
}

impl Ibm3624<'_> {
    /// The 16 decimalized digits of E(PVK, padded validation data).
    fn decimalized(&self) -> Result<Zeroizing<[u8; 16]>> {
        let vd = self.validation_data.as_bytes();
        if vd.is_empty() || vd.len() > 16 {
            return Err(Error::Length {
                what: "validation data",
                got: vd.len(),
                expected: "1 to 16 hex digits",
            });
        }
        let pad = self
            .pad
            .to_digit(16)
            .ok_or(invalid("pad character", "not a hexadecimal digit"))?;
        let mut nib = [0u8; 16];
        for (i, o) in nib.iter_mut().enumerate() {
            *o = match vd.get(i) {
                Some(&c) => char::from(c)
                    .to_digit(16)
                    .and_then(|d| u8::try_from(d).ok())
                    .ok_or(invalid("validation data", "not all hexadecimal digits"))?,
                None => u8::try_from(pad).unwrap_or(0),
            };
        }
        let mut block = [0u8; 8];
        for (o, c) in block.iter_mut().zip(nib.chunks(2)) {
            *o = (c[0] << 4) | c[1];
        }
        let enc = Zeroizing::new(sym::tdes_encrypt_block(self.pvk.as_bytes(), &block)?);
        let mut out = Zeroizing::new([0u8; 16]);
        for (i, b) in enc.iter().enumerate() {
            out[2 * i] = self.table.map(b >> 4);
            out[2 * i + 1] = self.table.map(b & 0x0F);
        }
        Ok(out)
    }

    /// The natural (intermediate) PIN of `len` digits (4–12).
    pub fn natural_pin(&self, len: usize) -> Result<Pin> {
        let d = self.decimalized()?;
        let digits = d.get(..len).ok_or(Error::Length {
            what: "PIN",
            got: len,
            expected: "4 to 12 digits",
        })?;
        Pin::from_digit_values(digits)
    }

    /// The PIN offset for a customer-selected `pin`: (PIN − natural PIN) mod 10,
    /// digit by digit; as many digits as the PIN.
    pub fn offset(&self, pin: &Pin) -> Result<String> {
        let natural = self.natural_pin(pin.len())?;
        Ok(pin
            .digit_values()
            .iter()
            .zip(natural.digit_values())
            .map(|(p, n)| char::from(b'0' + (10 + p - n) % 10))
            .collect())
    }

    /// The customer PIN from an offset: (natural PIN + offset) mod 10, digit by digit.
    pub fn pin_from_offset(&self, offset: &str) -> Result<Pin> {
        let off = parse_digits(offset, "offset")?;
        let natural = self.natural_pin(off.len())?;
        let sum: Zeroizing<Vec<u8>> = Zeroizing::new(
            natural
                .digit_values()
                .iter()
                .zip(off.iter())
                .map(|(n, o)| (n + o) % 10)
                .collect(),
        );
        Pin::from_digit_values(&sum)
    }

    /// Verifies `pin` against a stored `offset`, in constant time. Returns
    /// `Ok(false)` for a wrong PIN; errors only on malformed inputs.
    pub fn verify(&self, pin: &Pin, offset: &str) -> Result<bool> {
        let off = parse_digits(offset, "offset")?;
        if off.len() != pin.len() {
            return Ok(false);
        }
        let expected = self.offset(pin)?;
        Ok(sym::ct_eq(expected.as_bytes(), offset.as_bytes()))
    }
}

fn parse_digits(s: &str, what: &'static str) -> Result<Vec<u8>> {
    if !(4..=12).contains(&s.len()) {
        return Err(Error::Length {
            what,
            got: s.len(),
            expected: "4 to 12 digits",
        });
    }
    s.bytes()
        .map(|c| {
            if c.is_ascii_digit() {
                Ok(c - b'0')
            } else {
                Err(invalid(what, "not all decimal digits"))
            }
        })
        .collect()
}

/// The Visa transformed security parameter (16 digits packed in 8 bytes):
/// 11 rightmost PAN digits excluding the check digit, PVKI, 4 leftmost PIN digits.
fn visa_tsp(pan: &Pan, pvki: u8, pin: &Pin) -> Result<Zeroizing<[u8; 8]>> {
    if pvki > 9 {
        return Err(invalid("PVKI", "not a single decimal digit"));
    }
    let pan11 = pan
        .rightmost_excluding_check(11)
        .ok_or(invalid("PAN", "shorter than 12 digits"))?;
    let mut nib = Zeroizing::new([0u8; 16]);
    for (o, c) in nib.iter_mut().zip(pan11.bytes()) {
        *o = c - b'0';
    }
    nib[11] = pvki;
    for (o, d) in nib[12..].iter_mut().zip(pin.digit_values()) {
        *o = *d;
    }
    let mut out = Zeroizing::new([0u8; 8]);
    for (o, c) in out.iter_mut().zip(nib.chunks(2)) {
        *o = (c[0] << 4) | c[1];
    }
    Ok(out)
}

/// Computes the Visa PVV (4 ASCII digits) for `pin` (its 4 leftmost digits are
/// used), the PAN and the PVK index `pvki` (0–9; Visa assigns 1–6) under the
/// double-length PVK pair `pvk`.
pub fn visa_pvv(pvk: &SecretKey, pan: &Pan, pvki: u8, pin: &Pin) -> Result<[u8; 4]> {
    if pvk.len() != 16 && pvk.len() != 24 {
        return Err(Error::KeyLength {
            algorithm: "Visa PVK",
            got: pvk.len(),
            expected: "16 bytes (PVK pair)",
        });
    }
    let tsp = visa_tsp(pan, pvki, pin)?;
    let enc = Zeroizing::new(sym::tdes_encrypt_block(pvk.as_bytes(), &tsp)?);
    let nib: Zeroizing<Vec<u8>> =
        Zeroizing::new(enc.iter().flat_map(|b| [b >> 4, b & 0x0F]).collect());
    let mut pvv = [0u8; 4];
    let mut n = 0;
    // First pass: decimal digits left to right; second pass: letters A-F as 0-5.
    for d in nib
        .iter()
        .filter(|&&d| d < 10)
        .chain(nib.iter().filter(|&&d| d >= 10))
    {
        if let Some(slot) = pvv.get_mut(n) {
            *slot = b'0' + d % 10;
            n += 1;
        }
    }
    Ok(pvv)
}

/// Verifies a PIN against a stored 4-digit PVV, in constant time.
pub fn visa_pvv_verify(pvk: &SecretKey, pan: &Pan, pvki: u8, pin: &Pin, pvv: &str) -> Result<bool> {
    if pvv.len() != 4 || !pvv.bytes().all(|c| c.is_ascii_digit()) {
        return Err(invalid("PVV", "not 4 decimal digits"));
    }
    let got = visa_pvv(pvk, pan, pvki, pin)?;
    Ok(sym::ct_eq(&got, pvv.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_debug_redacted_and_parsing() {
        let t = DecimalizationTable::new("0123456789012345").unwrap();
        assert_eq!(t, DecimalizationTable::STANDARD);
        assert_eq!(format!("{t:?}"), "DecimalizationTable(REDACTED)");
        assert!(DecimalizationTable::new("012345678901234").is_err());
        assert!(DecimalizationTable::new("012345678901234A").is_err());
    }
}
