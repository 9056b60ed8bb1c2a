//! Dates and PANs as they appear in EMV certificates.

use core::fmt;

use super::PkiError;

/// A calendar date (the terminal's "today", a CA key's expiry date).
///
/// The crate reads no clock: the caller passes today's date, usually the
/// Transaction Date `9A` ([`Date::from_yymmdd`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Decodes one BCD byte `00`..`99`.
fn bcd(b: u8) -> Option<u8> {
    let (hi, lo) = (b >> 4, b & 0x0F);
    (hi <= 9 && lo <= 9).then_some(hi * 10 + lo)
}

/// Encodes `0..=99` as one BCD byte.
fn to_bcd(v: u8) -> u8 {
    ((v / 10) << 4) | (v % 10)
}

/// EMV two-digit years: `00`–`49` are 2000–2049, `50`–`99` are 1950–1999
/// (EMV Book 4 §6.7.3 / Book 3 Annex A, format n 4 / n 6 dates).
fn expand_yy(yy: u8) -> u16 {
    if yy < 50 {
        2000 + u16::from(yy)
    } else {
        1900 + u16::from(yy)
    }
}

impl Date {
    /// A date; fails on an impossible month or day.
    pub fn new(year: u16, month: u8, day: u8) -> Result<Self, PkiError> {
        if !(1..=12).contains(&month) {
            return Err(PkiError::Invalid {
                what: "date",
                reason: "the month must be 01 to 12",
            });
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(PkiError::Invalid {
                what: "date",
                reason: "day not in month",
            });
        }
        Ok(Self { year, month, day })
    }

    /// From an EMV `YYMMDD` BCD date such as the Transaction Date `9A`.
    pub fn from_yymmdd(bytes: [u8; 3]) -> Result<Self, PkiError> {
        let bad = PkiError::Invalid {
            what: "date",
            reason: "not BCD YYMMDD",
        };
        let yy = bcd(bytes[0]).ok_or(bad.clone())?;
        let mm = bcd(bytes[1]).ok_or(bad.clone())?;
        let dd = bcd(bytes[2]).ok_or(bad)?;
        Self::new(expand_yy(yy), mm, dd)
    }

    /// Year (four digits).
    pub fn year(&self) -> u16 {
        self.year
    }
    /// Month 1..=12.
    pub fn month(&self) -> u8 {
        self.month
    }
    /// Day of month.
    pub fn day(&self) -> u8 {
        self.day
    }
}

/// A certificate expiration date `MMYY` (Book 2 Tables 13 and 14): the
/// certificate is valid through the last day of that month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CertExpiry {
    // field order gives chronological ordering
    year: u16,
    month: u8,
}

impl CertExpiry {
    /// An expiry month; `year` must be representable as `YY` (1950..=2049).
    pub fn new(month: u8, year: u16) -> Result<Self, PkiError> {
        if !(1..=12).contains(&month) {
            return Err(PkiError::Invalid {
                what: "certificate expiry",
                reason: "the month must be 01 to 12",
            });
        }
        if !(1950..=2049).contains(&year) {
            return Err(PkiError::Invalid {
                what: "certificate expiry",
                reason: "year not 1950..=2049",
            });
        }
        Ok(Self { year, month })
    }

    /// From the 2-byte BCD `MMYY` field of a certificate.
    pub fn from_mmyy(bytes: [u8; 2]) -> Result<Self, PkiError> {
        let bad = PkiError::Invalid {
            what: "certificate expiry",
            reason: "not BCD MMYY",
        };
        let mm = bcd(bytes[0]).ok_or(bad.clone())?;
        let yy = bcd(bytes[1]).ok_or(bad)?;
        Self::new(mm, expand_yy(yy))
    }

    /// The 2-byte BCD `MMYY` encoding.
    pub fn to_mmyy(&self) -> [u8; 2] {
        // year is 1950..=2049, so year % 100 fits a u8
        let yy = u8::try_from(self.year % 100).unwrap_or(0);
        [to_bcd(self.month), to_bcd(yy)]
    }

    /// Month 1..=12.
    pub fn month(&self) -> u8 {
        self.month
    }
    /// Year (four digits).
    pub fn year(&self) -> u16 {
        self.year
    }

    /// True while `today` is on or before the last day of the expiry month
    /// (Book 2 §6.3 step 9: "the last day of the month ... is equal to or later than today's date").
    pub fn is_valid_on(&self, today: Date) -> bool {
        (self.year, self.month) >= (today.year, today.month)
    }
}

/// A Primary Account Number (tag `5A`), 8..=19 digits.
///
/// `Debug` and `Display` mask the middle digits (`541333******0010`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Pan {
    digits: Vec<u8>,
}

impl Pan {
    /// From decimal digits, e.g. `"5413330089010010"`.
    pub fn from_digits(s: &str) -> Result<Self, PkiError> {
        let digits: Vec<u8> = s
            .bytes()
            .map(|c| c.is_ascii_digit().then(|| c - b'0'))
            .collect::<Option<_>>()
            .ok_or(PkiError::Invalid {
                what: "PAN",
                reason: "not decimal digits",
            })?;
        Self::from_digit_values(digits)
    }

    fn from_digit_values(digits: Vec<u8>) -> Result<Self, PkiError> {
        if !(8..=19).contains(&digits.len()) {
            return Err(PkiError::Invalid {
                what: "PAN",
                reason: "length not 8..=19 digits",
            });
        }
        Ok(Self { digits })
    }

    /// From the compressed numeric (`cn`) encoding of tag `5A`: BCD digits,
    /// right-padded with `F` nibbles.
    pub fn from_cn(bytes: &[u8]) -> Result<Self, PkiError> {
        Self::from_digit_values(cn_digits(bytes).ok_or(PkiError::Invalid {
            what: "PAN",
            reason: "not cn (BCD digits padded with F)",
        })?)
    }

    /// Number of digits.
    pub fn len(&self) -> usize {
        self.digits.len()
    }

    /// Always false (a PAN has at least 8 digits); for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.digits.is_empty()
    }

    /// The PAN as `cn` in exactly `len` bytes, right-padded with `F`.
    pub fn to_cn(&self, len: usize) -> Result<Vec<u8>, PkiError> {
        digits_to_cn(&self.digits, len)
    }

    pub(crate) fn digit_values(&self) -> &[u8] {
        &self.digits
    }
}

/// Digits of a `cn` field: digits then only `F` nibbles. `None` if malformed.
pub(crate) fn cn_digits(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut digits = Vec::with_capacity(bytes.len() * 2);
    let mut padding = false;
    for n in bytes.iter().flat_map(|b| [b >> 4, b & 0x0F]) {
        match n {
            0..=9 if !padding => digits.push(n),
            0x0F => padding = true,
            _ => return None,
        }
    }
    Some(digits)
}

/// Packs digits as `cn`, right-padded with `F`, into exactly `len` bytes.
pub(crate) fn digits_to_cn(digits: &[u8], len: usize) -> Result<Vec<u8>, PkiError> {
    if digits.len() > len * 2 {
        return Err(PkiError::Invalid {
            what: "PAN",
            reason: "too many digits for the field",
        });
    }
    let mut nibbles = digits.to_vec();
    nibbles.resize(len * 2, 0x0F);
    Ok(nibbles
        .chunks_exact(2)
        .map(|p| (p[0] << 4) | p[1])
        .collect())
}

impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan({self})")
    }
}

impl fmt::Display for Pan {
    /// Masked: first 6 and last 4 digits shown (fewer for short PANs).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.digits.len();
        let (head, tail) = if n >= 16 {
            (6, 4)
        } else {
            (n.saturating_sub(8).min(6), 4)
        };
        for (i, d) in self.digits.iter().enumerate() {
            if i < head || i >= n - tail {
                write!(f, "{d}")?;
            } else {
                f.write_str("*")?;
            }
        }
        Ok(())
    }
}
