//! Small helpers shared by the bureau: hex serde, secret bytes, Luhn, CRC-32,
//! BCD, file writing with mode 0600, today's date.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::{PersoError, Result};

/// Serde for `Vec<u8>` as an upper-case hex string.
pub mod hex_bytes {
    use super::*;
    /// Serializes as upper-case hex.
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> core::result::Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode_upper(v))
    }
    /// Deserializes from hex (either case).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> core::result::Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s.trim()).map_err(serde::de::Error::custom)
    }
}

/// Serde for `Option<Vec<u8>>` as an optional hex string.
pub mod opt_hex_bytes {
    use super::*;
    /// Serializes as optional upper-case hex.
    pub fn serialize<S: Serializer>(
        v: &Option<Vec<u8>>,
        s: S,
    ) -> core::result::Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&hex::encode_upper(b)),
            None => s.serialize_none(),
        }
    }
    /// Deserializes optional hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> core::result::Result<Option<Vec<u8>>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| hex::decode(s.trim()).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Secret bytes (keys, PIN blocks, RSA private parts): zeroized on drop,
/// `Debug` prints `REDACTED`, serialized as hex only inside files that are
/// themselves secret (key store, card image).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wraps bytes.
    pub fn new(v: impl Into<Vec<u8>>) -> Self {
        SecretBytes(Zeroizing::new(v.into()))
    }
    /// The bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl core::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "REDACTED({} bytes)", self.0.len())
    }
}

impl Serialize for SecretBytes {
    fn serialize<S: Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        let h = Zeroizing::new(hex::encode_upper(self.0.as_slice()));
        s.serialize_str(&h)
    }
}

impl<'de> Deserialize<'de> for SecretBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        let s = Zeroizing::new(String::deserialize(d)?);
        hex::decode(s.trim())
            .map(SecretBytes::new)
            .map_err(|_| serde::de::Error::custom("secret: not hex"))
    }
}

/// Luhn (ISO/IEC 7812-1 Annex B) check digit for a string of decimal digits
/// (the PAN without its check digit). `None` if a character is not a digit.
pub fn luhn_check_digit(digits: &str) -> Option<u8> {
    let mut sum = 0u32;
    for (i, c) in digits.bytes().rev().enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        let mut d = u32::from(c - b'0');
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    u8::try_from((10 - sum % 10) % 10).ok()
}

/// True if `pan` (all digits) passes the Luhn check (ISO/IEC 7812-1 Annex B).
pub fn luhn_valid(pan: &str) -> bool {
    match pan
        .len()
        .checked_sub(1)
        .and_then(|n| pan.get(..n).zip(pan.get(n..)))
    {
        Some((body, check)) => {
            luhn_check_digit(body).is_some_and(|d| check.as_bytes().first() == Some(&(b'0' + d)))
        }
        None => false,
    }
}

/// CRC-32 (CRC-32/ISO-HDLC: poly 0x04C11DB7 reflected, init and xorout
/// 0xFFFFFFFF), the checksum of ISO/IEC 3309, ITU-T V.42, zip and PNG. Used as
/// the card image's corruption check (not an authenticity check).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// Packs a string of decimal digits as BCD (`n` format, EMV Book 3 §4.3),
/// left-padded with a zero nibble when odd.
pub fn digits_to_bcd(digits: &str) -> Result<Vec<u8>> {
    let mut nibbles: Vec<u8> = Vec::with_capacity(digits.len() + 1);
    if digits.len() % 2 == 1 {
        nibbles.push(0);
    }
    for c in digits.bytes() {
        if !c.is_ascii_digit() {
            return Err(PersoError::invalid("digits", "not decimal"));
        }
        nibbles.push(c - b'0');
    }
    Ok(nibbles
        .chunks(2)
        .map(|p| (p[0] << 4) | p.get(1).copied().unwrap_or(0))
        .collect())
}

/// Packs digits (and `D`/`F` nibbles) as compressed numeric (`cn`, EMV Book 3
/// §4.3), right-padded with `F`.
pub fn nibbles_to_cn(s: &str) -> Result<Vec<u8>> {
    let mut nibbles: Vec<u8> = Vec::with_capacity(s.len() + 1);
    for c in s.chars() {
        let n = c
            .to_digit(16)
            .and_then(|n| u8::try_from(n).ok())
            .ok_or_else(|| PersoError::invalid("digits", "not a hex nibble"))?;
        nibbles.push(n);
    }
    if nibbles.len() % 2 == 1 {
        nibbles.push(0x0F);
    }
    Ok(nibbles
        .chunks(2)
        .map(|p| (p[0] << 4) | p.get(1).copied().unwrap_or(0x0F))
        .collect())
}

/// A one-byte BCD value `00..=99`.
pub fn to_bcd_byte(v: u8) -> u8 {
    ((v / 10 % 10) << 4) | (v % 10)
}

/// Masks a PAN for display: first 6 and last 4 digits (`999900******0010`).
pub fn mask_pan(pan: &str) -> String {
    lamina_emv::dict::mask_pan(pan)
}

/// Writes `data` to `path` with mode 0600 (owner read/write only) on Unix; the
/// file is created or truncated.
pub fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = create_private(path)?;
    f.write_all(data).map_err(|e| PersoError::io(path, e))
}

/// Creates (truncates) a file readable by its owner only (mode 0600, forced also on an
/// existing file), for writers that stream into it.
pub fn create_private(path: &Path) -> Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let f = opts.open(path).map_err(|e| PersoError::io(path, e))?;
    // an existing file keeps its old mode: force 0600
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| PersoError::io(path, e))?;
    }
    Ok(f)
}

/// Writes a public file (mode as the umask gives).
pub fn write_public(path: &Path, data: &[u8]) -> Result<()> {
    std::fs::write(path, data).map_err(|e| PersoError::io(path, e))
}

/// Reads a file.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| PersoError::io(path, e))
}

/// Today's date (UTC) from the system clock, for the CLI; library functions
/// take the date as a parameter.
pub fn today_utc() -> Result<lamina_crypto::pki::Date> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let (y, m, d) = civil_from_days(days);
    Ok(lamina_crypto::pki::Date::new(y, m, d)?)
}

/// The bureau's random generator: ChaCha12 (`rand`'s `StdRng`) seeded from
/// `seed` for reproducible runs, or from the operating system.
pub fn seeded_rng(seed: Option<u64>) -> rand::rngs::StdRng {
    use rand::SeedableRng;
    match seed {
        Some(s) => rand::rngs::StdRng::seed_from_u64(s),
        None => rand::rngs::StdRng::from_rng(&mut rand::rng()),
    }
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian
/// calendar (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (u16, u8, u8) {
    let (y, m, d) = lamina_emv::date::civil_from_days(z);
    (
        u16::try_from(y).unwrap_or(2026),
        u8::try_from(m).unwrap_or(1),
        u8::try_from(d).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn() {
        // ISO/IEC 7812-1 Annex B worked example style: 7992739871 → check 3
        assert_eq!(luhn_check_digit("7992739871"), Some(3));
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("79927398710"));
        assert!(luhn_valid("4111111111111111"));
        assert!(!luhn_valid(""));
        assert_eq!(luhn_check_digit("12a"), None);
    }

    #[test]
    fn civil() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn bcd() {
        assert_eq!(digits_to_bcd("123").unwrap(), vec![0x01, 0x23]);
        assert_eq!(nibbles_to_cn("123D4").unwrap(), vec![0x12, 0x3D, 0x4F]);
        assert_eq!(to_bcd_byte(42), 0x42);
    }

    #[test]
    fn secret_debug_redacted() {
        let s = SecretBytes::new(vec![1, 2, 3]);
        assert_eq!(format!("{s:?}"), "REDACTED(3 bytes)");
    }
}
