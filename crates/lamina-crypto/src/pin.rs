//! ISO 9564-1:2017 PIN blocks, formats 0 to 4.
//!
//! | format | size | layout (nibbles) | clause |
//! |---|---|---|---|
//! | 0 | 8 bytes | `0 N P… F…` XOR `0000` + 12 rightmost PAN digits excluding the check digit | §9.3.1 |
//! | 1 | 8 bytes | `1 N P… R…` (transaction-unique or random fill) | §9.3.2 |
//! | 2 | 8 bytes | `2 N P… F…` (the EMV offline PIN VERIFY plaintext, ICC only) | §9.3.3 |
//! | 3 | 8 bytes | `3 N P… X…` (random fill `A`–`F`) XOR the format 0 PAN field | §9.3.4 |
//! | 4 | 16 bytes | PIN field `4 N P… A…` + 8 random bytes; PAN field `M` + PAN, both enciphered with AES | §9.4 |
//!
//! The clear blocks are built and parsed here; formats 0, 1 and 3 are enciphered
//! with a TDES PIN encryption key ([`encipher_tdes`]), format 4 with AES
//! ([`encipher_iso4`]). Random fill comes from an injected [`rand::Rng`] so tests
//! are deterministic; [`encode`] is the convenience that uses [`rand::rng`].
//!
//! PINs are held in [`Pin`] (zeroized on drop, never printed) and clear blocks in
//! [`ClearPinBlock`] (same); PANs in [`Pan`] print masked.

use rand::Rng;
use zeroize::{Zeroize, Zeroizing};

use crate::sym::{self, SecretKey};
use crate::{Error, Result};

/// Shortest PIN ISO 9564-1 allows (§8.1).
pub const PIN_MIN_LEN: usize = 4;
/// Longest PIN ISO 9564-1 allows (§8.1).
pub const PIN_MAX_LEN: usize = 12;

fn invalid(what: &'static str, reason: &'static str) -> Error {
    Error::Invalid { what, reason }
}

/// A cardholder PIN of 4 to 12 decimal digits (ISO 9564-1 §8.1).
///
/// The digits are zeroized on drop; `Debug` never shows them and there is no
/// `Display`. Compare two PINs with [`Pin::ct_eq`] (constant time).
#[derive(Clone)]
pub struct Pin(Zeroizing<Vec<u8>>);

impl Pin {
    /// Parses a PIN from ASCII digits; rejects anything but 4–12 digits.
    /// The error never echoes the input.
    pub fn new(digits: &str) -> Result<Pin> {
        Self::from_ascii(digits.as_bytes())
    }

    /// Parses a PIN from ASCII digit bytes (4–12 of `b'0'..=b'9'`).
    pub fn from_ascii(digits: &[u8]) -> Result<Pin> {
        if !(PIN_MIN_LEN..=PIN_MAX_LEN).contains(&digits.len()) {
            return Err(Error::Length {
                what: "PIN",
                got: digits.len(),
                expected: "4 to 12 digits",
            });
        }
        let mut v = Zeroizing::new(Vec::with_capacity(digits.len()));
        for &c in digits {
            if !c.is_ascii_digit() {
                return Err(invalid("PIN", "not all decimal digits"));
            }
            v.push(c - b'0');
        }
        Ok(Pin(v))
    }

    /// Builds a PIN from digit values 0–9 (one per byte).
    pub fn from_digit_values(values: &[u8]) -> Result<Pin> {
        if !(PIN_MIN_LEN..=PIN_MAX_LEN).contains(&values.len()) {
            return Err(Error::Length {
                what: "PIN",
                got: values.len(),
                expected: "4 to 12 digits",
            });
        }
        if values.iter().any(|&d| d > 9) {
            return Err(invalid("PIN", "not all decimal digits"));
        }
        Ok(Pin(Zeroizing::new(values.to_vec())))
    }

    /// Number of digits (4–12).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false (a PIN has at least 4 digits); present for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The digit values 0–9, one per byte. Handle with care.
    pub fn digit_values(&self) -> &[u8] {
        &self.0
    }

    /// The PIN as an ASCII string that is zeroized when dropped. Handle with care.
    pub fn expose(&self) -> Zeroizing<String> {
        Zeroizing::new(self.0.iter().map(|d| char::from(b'0' + d)).collect())
    }

    /// Constant-time comparison (the length is not treated as secret).
    pub fn ct_eq(&self, other: &Pin) -> bool {
        sym::ct_eq(&self.0, &other.0)
    }
}

impl core::fmt::Debug for Pin {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Pin(REDACTED)")
    }
}

/// A primary account number: 1 to 19 decimal digits (ISO/IEC 7812-1).
///
/// `Debug` and `Display` show it masked (`541333******0010`: first 6 and last 4
/// digits when the PAN has at least 13 digits, otherwise only the last 2).
#[derive(Clone, PartialEq, Eq)]
pub struct Pan(String);

impl Pan {
    /// Parses a PAN of 1–19 decimal digits (no Luhn check). Errors never echo it.
    pub fn new(digits: &str) -> Result<Pan> {
        if digits.is_empty() || digits.len() > 19 {
            return Err(Error::Length {
                what: "PAN",
                got: digits.len(),
                expected: "1 to 19 digits",
            });
        }
        if !digits.bytes().all(|c| c.is_ascii_digit()) {
            return Err(invalid("PAN", "not all decimal digits"));
        }
        Ok(Pan(digits.to_owned()))
    }

    /// The PAN digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Number of digits.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false (a PAN has at least one digit).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The 12 rightmost digits excluding the check digit (the last digit), as
    /// digit values; a shorter PAN is right-justified and zero-padded on the left
    /// (ISO 9564-1 §9.3.1, PAN field of formats 0 and 3).
    pub fn rightmost12_excluding_check(&self) -> [u8; 12] {
        let body = self.0.as_bytes();
        let body = body.get(..body.len().saturating_sub(1)).unwrap_or(&[]);
        let take = body.len().min(12);
        let mut out = [0u8; 12];
        for (o, c) in out[12 - take..].iter_mut().zip(&body[body.len() - take..]) {
            *o = c - b'0';
        }
        out
    }

    /// The `n` rightmost digits excluding the check digit, as ASCII; `None` if the
    /// PAN is too short (used by the Visa PVV, which takes 11).
    pub fn rightmost_excluding_check(&self, n: usize) -> Option<&str> {
        let len = self.0.len();
        if len < n + 1 {
            return None;
        }
        self.0.get(len - 1 - n..len - 1)
    }

    fn masked(&self) -> String {
        let s = &self.0;
        if s.len() >= 13 {
            format!(
                "{}{}{}",
                &s[..6],
                "*".repeat(s.len() - 10),
                &s[s.len() - 4..]
            )
        } else {
            let keep = s.len().min(2);
            format!("{}{}", "*".repeat(s.len() - keep), &s[s.len() - keep..])
        }
    }
}

impl core::fmt::Debug for Pan {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Pan({})", self.masked())
    }
}

impl core::fmt::Display for Pan {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.masked())
    }
}

/// ISO 9564-1 PIN block format (the control field, first nibble).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Format 0 (ANSI X9.8, VISA-1, ECI-1): PIN XOR PAN, fill `F` (§9.3.1).
    Iso0,
    /// Format 1: fill is transaction-unique or random, no PAN (§9.3.2).
    Iso1,
    /// Format 2: fill `F`, no PAN; only between an ICC reader and the ICC (§9.3.3).
    Iso2,
    /// Format 3: as format 0 with random fill `A`–`F` (§9.3.4).
    Iso3,
    /// Format 4: 16-byte AES block, PIN and PAN fields enciphered (§9.4).
    Iso4,
}

impl Format {
    /// The control field value.
    pub const fn control(self) -> u8 {
        match self {
            Format::Iso0 => 0,
            Format::Iso1 => 1,
            Format::Iso2 => 2,
            Format::Iso3 => 3,
            Format::Iso4 => 4,
        }
    }

    /// Block size in bytes (8, or 16 for format 4).
    pub const fn block_len(self) -> usize {
        match self {
            Format::Iso4 => 16,
            _ => 8,
        }
    }

    /// True if the format binds the PAN (formats 0, 3 and 4).
    pub const fn uses_pan(self) -> bool {
        matches!(self, Format::Iso0 | Format::Iso3 | Format::Iso4)
    }

    fn from_control(c: u8) -> Result<Format> {
        Ok(match c {
            0 => Format::Iso0,
            1 => Format::Iso1,
            2 => Format::Iso2,
            3 => Format::Iso3,
            4 => Format::Iso4,
            _ => return Err(invalid("PIN block", "unknown format (control field)")),
        })
    }
}

/// A clear (plaintext) PIN block, or for format 4 the plaintext PIN field.
///
/// Zeroized on drop; `Debug` prints only the format and length.
#[derive(Clone, PartialEq, Eq)]
pub struct ClearPinBlock(Zeroizing<Vec<u8>>);

impl ClearPinBlock {
    /// Wraps bytes received from elsewhere (8 bytes, or 16 for a format 4 PIN field).
    pub fn from_bytes(bytes: &[u8]) -> Result<ClearPinBlock> {
        if bytes.len() != 8 && bytes.len() != 16 {
            return Err(Error::Length {
                what: "PIN block",
                got: bytes.len(),
                expected: "8 or 16 bytes",
            });
        }
        Ok(ClearPinBlock(Zeroizing::new(bytes.to_vec())))
    }

    /// The block bytes. Handle with care: formats 1 and 2 hold the PIN in clear.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The format named by the control field, if it is one of 0–4.
    pub fn format(&self) -> Result<Format> {
        let first = self.0.first().copied().unwrap_or(0xFF);
        Format::from_control(first >> 4)
    }
}

impl core::fmt::Debug for ClearPinBlock {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ClearPinBlock({} bytes, REDACTED)", self.0.len())
    }
}

// ---------------------------------------------------------------------------
// nibble helpers

/// Packs nibbles (values 0–15) into bytes, high nibble first; `n` must be even.
fn pack(nibbles: &[u8]) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(
        nibbles
            .chunks(2)
            .map(|c| (c.first().copied().unwrap_or(0) << 4) | c.get(1).copied().unwrap_or(0))
            .collect(),
    )
}

fn unpack(bytes: &[u8]) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(bytes.iter().flat_map(|b| [b >> 4, b & 0x0F]).collect())
}

/// `C N P…` then `fill` for the remaining nibbles of a 16-nibble field.
fn pin_field_nibbles(control: u8, pin: &Pin, fill: &[u8]) -> Zeroizing<[u8; 16]> {
    let mut n = Zeroizing::new([0u8; 16]);
    n[0] = control;
    // PIN length is 4..=12, so it fits in one nibble.
    n[1] = u8::try_from(pin.len()).unwrap_or(0x0F);
    for (o, d) in n[2..].iter_mut().zip(pin.digit_values()) {
        *o = *d;
    }
    for (o, f) in n[2 + pin.len()..].iter_mut().zip(fill) {
        *o = *f;
    }
    n
}

/// The format 0/3 PAN field: `0000` + 12 rightmost PAN digits excluding the check digit.
fn pan_field_8(pan: &Pan) -> [u8; 8] {
    let mut nib = [0u8; 16];
    nib[4..].copy_from_slice(&pan.rightmost12_excluding_check());
    let mut out = [0u8; 8];
    for (o, c) in out.iter_mut().zip(nib.chunks(2)) {
        *o = (c[0] << 4) | c[1];
    }
    out
}

/// Reads `C N P…` from 16 nibbles; checks the control value, length and digits
/// and returns the PIN and the fill nibbles.
fn parse_pin_field(nib: &[u8], control: u8) -> Result<(Pin, &[u8])> {
    let (&c, rest) = nib.split_first().ok_or(invalid("PIN block", "empty"))?;
    if c != control {
        return Err(invalid(
            "PIN block",
            "control field does not match the format",
        ));
    }
    let (&n, rest) = rest
        .split_first()
        .ok_or(invalid("PIN block", "truncated"))?;
    let n = usize::from(n);
    if !(PIN_MIN_LEN..=PIN_MAX_LEN).contains(&n) {
        return Err(invalid("PIN block", "PIN length field not in 4..12"));
    }
    let digits = rest.get(..n).ok_or(invalid("PIN block", "truncated"))?;
    let pin = Pin::from_digit_values(digits)
        .map_err(|_| invalid("PIN block", "PIN digit not in 0..9"))?;
    let fill = rest.get(n..14).ok_or(invalid("PIN block", "truncated"))?;
    Ok((pin, fill))
}

fn block8(bytes: &[u8]) -> Result<[u8; 8]> {
    bytes.try_into().map_err(|_| Error::Length {
        what: "PIN block",
        got: bytes.len(),
        expected: "8 bytes",
    })
}

fn block16(bytes: &[u8]) -> Result<[u8; 16]> {
    bytes.try_into().map_err(|_| Error::Length {
        what: "PIN block",
        got: bytes.len(),
        expected: "16 bytes",
    })
}

/// Draws `n` random nibbles 0–15.
fn random_nibbles<R: Rng + ?Sized>(rng: &mut R, n: usize) -> Zeroizing<Vec<u8>> {
    let mut bytes = Zeroizing::new(vec![0u8; n.div_ceil(2)]);
    rng.fill_bytes(&mut bytes);
    let mut out = unpack(&bytes);
    out.truncate(n);
    out
}

/// Draws `n` uniformly random nibbles in `A`–`F` (rejection sampling).
fn random_af_nibbles<R: Rng + ?Sized>(rng: &mut R, n: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(n));
    let mut buf = [0u8; 16];
    // A sound RNG finishes in the first round almost always; the bound only
    // guarantees termination with a broken one (e.g. constant FF output).
    for round in 0..64 {
        if out.len() >= n {
            break;
        }
        rng.fill_bytes(&mut buf);
        for b in buf.iter().flat_map(|b| [b >> 4, b & 0x0F]) {
            // 0..=11 maps evenly onto 0..=5; 12..=15 are rejected, except in the
            // last round, which accepts every nibble (slightly biased) to finish.
            if (b < 12 || round == 63) && out.len() < n {
                out.push(0x0A + b % 6);
            }
        }
    }
    buf.zeroize();
    out
}

// ---------------------------------------------------------------------------
// formats 0-3

/// Builds a format 0 clear PIN block (ISO 9564-1 §9.3.1): `0 N P… F…` XOR
/// `0000` + the 12 rightmost PAN digits excluding the check digit.
pub fn encode_iso0(pin: &Pin, pan: &Pan) -> ClearPinBlock {
    let nib = pin_field_nibbles(0, pin, &[0x0F; 14]);
    let mut b = pack(&*nib);
    sym::xor_in_place(&mut b, &pan_field_8(pan));
    ClearPinBlock(b)
}

/// Builds a format 1 clear PIN block (§9.3.2) with the given fill nibbles
/// (values 0–15, at least `14 - pin.len()` of them; extra ones are ignored).
pub fn encode_iso1_with_fill(pin: &Pin, fill: &[u8]) -> Result<ClearPinBlock> {
    check_fill(pin, fill, 0x00..=0x0F)?;
    Ok(ClearPinBlock(pack(&*pin_field_nibbles(1, pin, fill))))
}

/// Builds a format 1 clear PIN block with random fill from `rng`.
pub fn encode_iso1<R: Rng + ?Sized>(pin: &Pin, rng: &mut R) -> ClearPinBlock {
    let fill = random_nibbles(rng, 14 - pin.len());
    ClearPinBlock(pack(&*pin_field_nibbles(1, pin, &fill)))
}

/// Builds a format 2 clear PIN block (§9.3.3): `2 N P… F…`, the plaintext PIN
/// block of the EMV VERIFY command (EMV Book 3 §6.5.12).
pub fn encode_iso2(pin: &Pin) -> ClearPinBlock {
    ClearPinBlock(pack(&*pin_field_nibbles(2, pin, &[0x0F; 14])))
}

/// Builds a format 3 clear PIN block (§9.3.4) with the given fill nibbles
/// (each `A`–`F`), XORed with the PAN field.
pub fn encode_iso3_with_fill(pin: &Pin, pan: &Pan, fill: &[u8]) -> Result<ClearPinBlock> {
    check_fill(pin, fill, 0x0A..=0x0F)?;
    let mut b = pack(&*pin_field_nibbles(3, pin, fill));
    sym::xor_in_place(&mut b, &pan_field_8(pan));
    Ok(ClearPinBlock(b))
}

/// Builds a format 3 clear PIN block with random `A`–`F` fill from `rng`.
pub fn encode_iso3<R: Rng + ?Sized>(pin: &Pin, pan: &Pan, rng: &mut R) -> ClearPinBlock {
    let fill = random_af_nibbles(rng, 14 - pin.len());
    let mut b = pack(&*pin_field_nibbles(3, pin, &fill));
    sym::xor_in_place(&mut b, &pan_field_8(pan));
    ClearPinBlock(b)
}

fn check_fill(pin: &Pin, fill: &[u8], range: core::ops::RangeInclusive<u8>) -> Result<()> {
    let need = 14 - pin.len();
    let used = fill.get(..need).ok_or(Error::Length {
        what: "PIN block fill",
        got: fill.len(),
        expected: "at least 14 - PIN length nibbles",
    })?;
    if used.iter().any(|f| !range.contains(f)) {
        return Err(invalid(
            "PIN block fill",
            "nibble outside the format's fill range",
        ));
    }
    Ok(())
}

/// Parses a format 0 clear PIN block with its PAN; checks the `F` fill.
pub fn decode_iso0(block: &[u8], pan: &Pan) -> Result<Pin> {
    let mut b = Zeroizing::new(block8(block)?);
    sym::xor_in_place(&mut *b, &pan_field_8(pan));
    let nib = unpack(&*b);
    let (pin, fill) = parse_pin_field(&nib, 0)?;
    if fill.iter().any(|&f| f != 0x0F) {
        return Err(invalid(
            "PIN block",
            "format 0 fill is not F (wrong PAN or key?)",
        ));
    }
    Ok(pin)
}

/// Parses a format 1 clear PIN block (the fill is not checked: it is arbitrary).
pub fn decode_iso1(block: &[u8]) -> Result<Pin> {
    let nib = unpack(&block8(block)?);
    parse_pin_field(&nib, 1).map(|(p, _)| p)
}

/// Parses a format 2 clear PIN block; checks the `F` fill.
pub fn decode_iso2(block: &[u8]) -> Result<Pin> {
    let nib = unpack(&block8(block)?);
    let (pin, fill) = parse_pin_field(&nib, 2)?;
    if fill.iter().any(|&f| f != 0x0F) {
        return Err(invalid("PIN block", "format 2 fill is not F"));
    }
    Ok(pin)
}

/// Parses a format 3 clear PIN block with its PAN; checks the `A`–`F` fill.
pub fn decode_iso3(block: &[u8], pan: &Pan) -> Result<Pin> {
    let mut b = Zeroizing::new(block8(block)?);
    sym::xor_in_place(&mut *b, &pan_field_8(pan));
    let nib = unpack(&*b);
    let (pin, fill) = parse_pin_field(&nib, 3)?;
    if fill.iter().any(|&f| f < 0x0A) {
        return Err(invalid(
            "PIN block",
            "format 3 fill is not A-F (wrong PAN or key?)",
        ));
    }
    Ok(pin)
}

/// Parses any 8-byte clear PIN block (formats 0–3) by its control field; formats
/// 0 and 3 need the PAN.
pub fn decode(block: &ClearPinBlock, pan: Option<&Pan>) -> Result<(Format, Pin)> {
    let fmt = block.format()?;
    let need_pan = || pan.ok_or(invalid("PAN", "required by PIN block formats 0 and 3"));
    let pin = match fmt {
        Format::Iso0 => decode_iso0(block.as_bytes(), need_pan()?)?,
        Format::Iso1 => decode_iso1(block.as_bytes())?,
        Format::Iso2 => decode_iso2(block.as_bytes())?,
        Format::Iso3 => decode_iso3(block.as_bytes(), need_pan()?)?,
        Format::Iso4 => {
            return Err(invalid(
                "PIN block",
                "format 4 is a PIN field: use decode_iso4_pin_field",
            ));
        }
    };
    Ok((fmt, pin))
}

// ---------------------------------------------------------------------------
// format 4

/// The format 4 plaintext PIN field (§9.4.2): `4 N P… A…` (16 nibbles) followed
/// by the 8 `random` bytes.
pub fn iso4_pin_field(pin: &Pin, random: &[u8; 8]) -> ClearPinBlock {
    let head = pack(&*pin_field_nibbles(4, pin, &[0x0A; 14]));
    let mut b = Zeroizing::new(Vec::with_capacity(16));
    b.extend_from_slice(&head);
    b.extend_from_slice(random);
    ClearPinBlock(b)
}

/// The format 4 plaintext PAN field (§9.4.3): `M` (PAN length − 12, or 0 when the
/// PAN has 12 digits or fewer), the PAN (left-padded with zeros to 12 digits when
/// shorter), then zero nibbles to 16 bytes.
pub fn iso4_pan_field(pan: &Pan) -> [u8; 16] {
    let mut nib = [0u8; 32];
    let len = pan.len();
    // PAN length is at most 19, so M is 0..=7.
    nib[0] = u8::try_from(len.saturating_sub(12)).unwrap_or(0);
    let start = 1 + 12usize.saturating_sub(len);
    for (o, c) in nib[start..].iter_mut().zip(pan.as_str().bytes()) {
        *o = c - b'0';
    }
    let mut out = [0u8; 16];
    for (o, c) in out.iter_mut().zip(nib.chunks(2)) {
        *o = (c[0] << 4) | c[1];
    }
    out
}

/// Parses a format 4 plaintext PIN field (16 bytes); checks control, length,
/// digits and the `A` fill (the 8 random bytes are not checked).
pub fn decode_iso4_pin_field(field: &[u8]) -> Result<Pin> {
    let f = Zeroizing::new(block16(field)?);
    let nib = unpack(&f[..8]);
    let (pin, fill) = parse_pin_field(&nib, 4)?;
    if fill.iter().any(|&x| x != 0x0A) {
        return Err(invalid(
            "PIN block",
            "format 4 fill is not A (wrong PAN or key?)",
        ));
    }
    Ok(pin)
}

/// Enciphers a format 4 PIN block with explicit random bytes (ISO 9564-1 §9.4.4,
/// ANSI X9.8-1:2015): A = E(K, PIN field); B = A XOR PAN field; result = E(K, B).
/// `key` is an AES key (16, 24 or 32 bytes).
pub fn encipher_iso4_with_random(
    key: &SecretKey,
    pin: &Pin,
    pan: &Pan,
    random: &[u8; 8],
) -> Result<[u8; 16]> {
    let field = iso4_pin_field(pin, random);
    let mut a = Zeroizing::new(block16(field.as_bytes())?);
    let mut inter = Zeroizing::new(sym::aes_encrypt_block(key.as_bytes(), &a)?);
    sym::xor_in_place(&mut *inter, &iso4_pan_field(pan));
    let out = sym::aes_encrypt_block(key.as_bytes(), &inter)?;
    a.zeroize();
    Ok(out)
}

/// Enciphers a format 4 PIN block with 8 random bytes drawn from `rng`.
pub fn encipher_iso4<R: Rng + ?Sized>(
    key: &SecretKey,
    pin: &Pin,
    pan: &Pan,
    rng: &mut R,
) -> Result<[u8; 16]> {
    let mut random = Zeroizing::new([0u8; 8]);
    rng.fill_bytes(&mut *random);
    encipher_iso4_with_random(key, pin, pan, &random)
}

/// Deciphers a format 4 PIN block (§9.4.5): B = D(K, block); A = B XOR PAN field;
/// PIN field = D(K, A); then parses the PIN field.
pub fn decipher_iso4(key: &SecretKey, block: &[u8], pan: &Pan) -> Result<Pin> {
    let enc = block16(block)?;
    let mut b = Zeroizing::new(sym::aes_decrypt_block(key.as_bytes(), &enc)?);
    sym::xor_in_place(&mut *b, &iso4_pan_field(pan));
    let field = Zeroizing::new(sym::aes_decrypt_block(key.as_bytes(), &b)?);
    decode_iso4_pin_field(&*field)
}

// ---------------------------------------------------------------------------
// TDES encipherment of formats 0, 1, 3

/// Enciphers an 8-byte clear PIN block (formats 0, 1, 3) under a TDES PIN
/// encryption key (ECB, ISO 9564-1 §9.2). Format 2 is refused: it is for the
/// ICC interface only.
pub fn encipher_tdes(pek: &SecretKey, block: &ClearPinBlock) -> Result<[u8; 8]> {
    if block.format()? == Format::Iso2 || block.format()? == Format::Iso4 {
        return Err(invalid(
            "PIN block",
            "only formats 0, 1 and 3 are enciphered with TDES",
        ));
    }
    sym::tdes_encrypt_block(pek.as_bytes(), &block8(block.as_bytes())?)
}

/// Deciphers an 8-byte enciphered PIN block under a TDES PIN encryption key.
pub fn decipher_tdes(pek: &SecretKey, block: &[u8]) -> Result<ClearPinBlock> {
    let clear = sym::tdes_decrypt_block(pek.as_bytes(), &block8(block)?)?;
    Ok(ClearPinBlock(Zeroizing::new(clear.to_vec())))
}

/// Deciphers a TDES-enciphered PIN block and extracts the PIN (formats 0, 1, 3).
pub fn decipher_tdes_pin(
    pek: &SecretKey,
    block: &[u8],
    pan: Option<&Pan>,
) -> Result<(Format, Pin)> {
    let clear = decipher_tdes(pek, block)?;
    match clear.format()? {
        Format::Iso2 | Format::Iso4 => Err(invalid("PIN block", "not format 0, 1 or 3")),
        _ => decode(&clear, pan),
    }
}

/// Convenience: builds a clear PIN block of `format` for formats 0–3 with fill
/// from [`rand::rng`]. Format 4 is a PIN field only; use [`encipher_iso4`].
pub fn encode(format: Format, pin: &Pin, pan: Option<&Pan>) -> Result<ClearPinBlock> {
    encode_with_rng(format, pin, pan, &mut rand::rng())
}

/// As [`encode`] with an injected RNG.
pub fn encode_with_rng<R: Rng + ?Sized>(
    format: Format,
    pin: &Pin,
    pan: Option<&Pan>,
    rng: &mut R,
) -> Result<ClearPinBlock> {
    let need_pan = || pan.ok_or(invalid("PAN", "required by PIN block formats 0 and 3"));
    Ok(match format {
        Format::Iso0 => encode_iso0(pin, need_pan()?),
        Format::Iso1 => encode_iso1(pin, rng),
        Format::Iso2 => encode_iso2(pin),
        Format::Iso3 => encode_iso3(pin, need_pan()?, rng),
        Format::Iso4 => {
            let mut random = Zeroizing::new([0u8; 8]);
            rng.fill_bytes(&mut *random);
            iso4_pin_field(pin, &random)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_debug_is_redacted() {
        let p = Pin::new("987654").unwrap();
        assert_eq!(format!("{p:?}"), "Pin(REDACTED)");
        let b = encode_iso2(&p);
        assert!(!format!("{b:?}").contains("98"));
    }

    #[test]
    fn pan_is_masked() {
        let p = Pan::new("5413330089010010").unwrap();
        assert_eq!(p.to_string(), "541333******0010");
        assert_eq!(format!("{p:?}"), "Pan(541333******0010)");
    }

    #[test]
    fn pin_length_limits() {
        assert!(Pin::new("123").is_err());
        assert!(Pin::new("1234567890123").is_err());
        assert!(Pin::new("12a4").is_err());
        assert!(Pin::new("1234").is_ok());
        assert!(Pin::new("123456789012").is_ok());
    }

    #[test]
    fn format0_by_hand() {
        // 041234FFFFFFFFFF XOR 0000111111111111 (PAN 4111111111111111 without its
        // check digit, rightmost 12 digits) = 041225EEEEEEEEEE. Computed by hand, not
        // a published vector.
        let b = encode_iso0(
            &Pin::new("1234").unwrap(),
            &Pan::new("4111111111111111").unwrap(),
        );
        assert_eq!(hex::encode_upper(b.as_bytes()), "041225EEEEEEEEEE");
    }

    #[test]
    fn short_pan_field() {
        let pan = Pan::new("12").unwrap();
        assert_eq!(
            pan.rightmost12_excluding_check(),
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        );
        assert_eq!(
            Pan::new("7").unwrap().rightmost12_excluding_check(),
            [0; 12]
        );
    }

    #[test]
    fn af_fill_is_in_range() {
        let mut rng = rand::rng();
        let f = random_af_nibbles(&mut rng, 200);
        assert!(f.iter().all(|&x| (0x0A..=0x0F).contains(&x)));
        for v in 0x0A..=0x0F {
            assert!(f.contains(&v));
        }
    }
}
