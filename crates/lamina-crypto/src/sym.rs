//! Symmetric primitives: DES/TDES and AES block modes, ISO/IEC 9797-1 padding and
//! MAC algorithms 1 and 3, AES-CMAC (NIST SP 800-38B), key check values, key
//! components and DES odd parity.
//!
//! The block ciphers are RustCrypto's `des` and `aes`; this module only arranges
//! blocks (ECB, CBC) the way payment specifications describe them, without padding
//! unless asked (payment messages are padded explicitly, ISO/IEC 9797-1).

use cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, BlockSizeUser, KeyInit};
use zeroize::Zeroizing;

use crate::{Error, Result};

/// Block cipher family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// DES with an 8-byte key, TDES (EDE) with 16- or 24-byte keys.
    Tdes,
    /// AES-128/192/256.
    Aes,
}

impl Algorithm {
    /// "TDES" or "AES".
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::Tdes => "TDES",
            Algorithm::Aes => "AES",
        }
    }

    /// Block size in bytes (8 for TDES, 16 for AES).
    pub const fn block_size(self) -> usize {
        match self {
            Algorithm::Tdes => 8,
            Algorithm::Aes => 16,
        }
    }
}

/// A secret key: zeroized on drop, never printed, compared in constant time.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<Vec<u8>>);

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(&self.0, &other.0)
    }
}

impl Eq for SecretKey {}

impl SecretKey {
    /// Wraps key bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        SecretKey(Zeroizing::new(bytes.into()))
    }
    /// Parses a key from hex; the error never echoes the input.
    pub fn from_hex(s: &str) -> Result<Self> {
        hex::decode(s.trim())
            .map(Self::new)
            .map_err(|_| Error::Invalid {
                what: "key",
                reason: "not an even-length hex string",
            })
    }
    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    /// Key length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True if the key has no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl core::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SecretKey({} bytes, REDACTED)", self.0.len())
    }
}

/// Direction of a block operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Enc,
    Dec,
}

fn check_blocks(data: &[u8], bs: usize) -> Result<()> {
    if !data.len().is_multiple_of(bs) {
        return Err(Error::Length {
            what: "data",
            got: data.len(),
            expected: if bs == 8 {
                "a multiple of 8 bytes"
            } else {
                "a multiple of 16 bytes"
            },
        });
    }
    Ok(())
}

/// Runs `data` through cipher `C` in ECB or CBC (when `iv` is given).
fn run<C>(key: &[u8], iv: Option<&[u8]>, data: &[u8], dir: Dir) -> Result<Vec<u8>>
where
    C: KeyInit + BlockCipherEncrypt + BlockCipherDecrypt + BlockSizeUser,
{
    let bs = C::block_size();
    check_blocks(data, bs)?;
    let cipher = C::new_from_slice(key).map_err(|_| Error::KeyLength {
        algorithm: "block cipher",
        got: key.len(),
        expected: "8/16/24 (TDES) or 16/24/32 (AES)",
    })?;
    let mut chain = match iv {
        Some(iv) if iv.len() != bs => {
            return Err(Error::Length {
                what: "IV",
                got: iv.len(),
                expected: "one block",
            });
        }
        Some(iv) => Some(iv.to_vec()),
        None => None,
    };
    let mut out = Vec::with_capacity(data.len());
    for chunk in data.chunks(bs) {
        let mut block: Array<u8, C::BlockSize> = Array::default();
        block.copy_from_slice(chunk);
        match dir {
            Dir::Enc => {
                if let Some(c) = &chain {
                    for (b, x) in block.iter_mut().zip(c) {
                        *b ^= x;
                    }
                }
                cipher.encrypt_block(&mut block);
                if let Some(c) = &mut chain {
                    c.copy_from_slice(&block);
                }
                out.extend_from_slice(&block);
            }
            Dir::Dec => {
                cipher.decrypt_block(&mut block);
                if let Some(c) = &mut chain {
                    for (b, x) in block.iter_mut().zip(c.iter()) {
                        *b ^= x;
                    }
                    c.copy_from_slice(chunk);
                }
                out.extend_from_slice(&block);
            }
        }
    }
    Ok(out)
}

fn dispatch(
    alg: Algorithm,
    key: &[u8],
    iv: Option<&[u8]>,
    data: &[u8],
    dir: Dir,
) -> Result<Vec<u8>> {
    match (alg, key.len()) {
        (Algorithm::Tdes, 8) => run::<des::Des>(key, iv, data, dir),
        (Algorithm::Tdes, 16) => run::<des::TdesEde2>(key, iv, data, dir),
        (Algorithm::Tdes, 24) => run::<des::TdesEde3>(key, iv, data, dir),
        (Algorithm::Aes, 16) => run::<aes::Aes128>(key, iv, data, dir),
        (Algorithm::Aes, 24) => run::<aes::Aes192>(key, iv, data, dir),
        (Algorithm::Aes, 32) => run::<aes::Aes256>(key, iv, data, dir),
        (Algorithm::Tdes, n) => Err(Error::KeyLength {
            algorithm: "TDES",
            got: n,
            expected: "8, 16 or 24 bytes",
        }),
        (Algorithm::Aes, n) => Err(Error::KeyLength {
            algorithm: "AES",
            got: n,
            expected: "16, 24 or 32 bytes",
        }),
    }
}

/// ECB encryption of whole blocks (no padding).
pub fn ecb_encrypt(alg: Algorithm, key: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    dispatch(alg, key, None, data, Dir::Enc)
}

/// ECB decryption of whole blocks.
pub fn ecb_decrypt(alg: Algorithm, key: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    dispatch(alg, key, None, data, Dir::Dec)
}

/// CBC encryption of whole blocks (no padding) with the given IV.
pub fn cbc_encrypt(alg: Algorithm, key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    dispatch(alg, key, Some(iv), data, Dir::Enc)
}

/// CBC decryption of whole blocks with the given IV.
pub fn cbc_decrypt(alg: Algorithm, key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    dispatch(alg, key, Some(iv), data, Dir::Dec)
}

/// TDES (or single DES for 8-byte keys) ECB encryption.
pub fn tdes_ecb_encrypt(key: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    ecb_encrypt(Algorithm::Tdes, key, data)
}

/// TDES (or single DES) ECB decryption.
pub fn tdes_ecb_decrypt(key: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    ecb_decrypt(Algorithm::Tdes, key, data)
}

/// Encrypts one 8-byte block with TDES/DES.
pub fn tdes_encrypt_block(key: &[u8], block: &[u8; 8]) -> Result<[u8; 8]> {
    let v = tdes_ecb_encrypt(key, block)?;
    let mut out = [0u8; 8];
    out.copy_from_slice(&v);
    Ok(out)
}

/// Decrypts one 8-byte block with TDES/DES.
pub fn tdes_decrypt_block(key: &[u8], block: &[u8; 8]) -> Result<[u8; 8]> {
    let v = tdes_ecb_decrypt(key, block)?;
    let mut out = [0u8; 8];
    out.copy_from_slice(&v);
    Ok(out)
}

/// Encrypts one 16-byte block with AES.
pub fn aes_encrypt_block(key: &[u8], block: &[u8; 16]) -> Result<[u8; 16]> {
    let v = ecb_encrypt(Algorithm::Aes, key, block)?;
    let mut out = [0u8; 16];
    out.copy_from_slice(&v);
    Ok(out)
}

/// Decrypts one 16-byte block with AES.
pub fn aes_decrypt_block(key: &[u8], block: &[u8; 16]) -> Result<[u8; 16]> {
    let v = ecb_decrypt(Algorithm::Aes, key, block)?;
    let mut out = [0u8; 16];
    out.copy_from_slice(&v);
    Ok(out)
}

/// ISO/IEC 9797-1 padding methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Method 1: zero bytes up to the block boundary (none if already aligned;
    /// empty data becomes one zero block).
    Method1,
    /// Method 2: a mandatory 80 byte, then zeros (EMV's MAC padding).
    Method2,
}

impl Padding {
    /// "method 1 padding" or "method 2 padding" (ISO/IEC 9797-1 §6.1).
    pub const fn name(self) -> &'static str {
        match self {
            Padding::Method1 => "method 1 padding",
            Padding::Method2 => "method 2 padding",
        }
    }
}

/// Pads `data` to a multiple of `block` bytes (ISO/IEC 9797-1 §6.1).
pub fn pad(data: &[u8], block: usize, method: Padding) -> Vec<u8> {
    let mut out = data.to_vec();
    match method {
        Padding::Method1 => {
            if out.is_empty() {
                out.resize(block, 0);
            }
            while !out.len().is_multiple_of(block) {
                out.push(0);
            }
        }
        Padding::Method2 => {
            out.push(0x80);
            while !out.len().is_multiple_of(block) {
                out.push(0);
            }
        }
    }
    out
}

/// Removes ISO/IEC 9797-1 method 2 padding.
pub fn unpad_method2(data: &[u8]) -> Result<&[u8]> {
    let end = data.iter().rposition(|&b| b != 0).ok_or(Error::Invalid {
        what: "padding",
        reason: "no 80 marker byte",
    })?;
    if data[end] != 0x80 {
        return Err(Error::Invalid {
            what: "padding",
            reason: "last non-zero byte is not 80",
        });
    }
    Ok(&data[..end])
}

/// ISO/IEC 9797-1 MAC algorithm 1: CBC-MAC with the full TDES (or DES) key over
/// padded data, IV zero; returns the final 8-byte block (truncate as needed).
pub fn mac_alg1(key: &[u8], data: &[u8], padding: Padding) -> Result<[u8; 8]> {
    let padded = pad(data, 8, padding);
    let ct = cbc_encrypt(Algorithm::Tdes, key, &[0u8; 8], &padded)?;
    let mut out = [0u8; 8];
    out.copy_from_slice(&ct[ct.len() - 8..]);
    Ok(out)
}

/// ISO/IEC 9797-1 MAC algorithm 3 ("retail MAC", ANSI X9.19): single-DES CBC
/// under the left key half, then the last block is decrypted under the right
/// half and encrypted again under the left half. `key` is a 16-byte double-length
/// key (a 24-byte key uses K1 and K2 and ignores K3, as X9.19 has two keys).
pub fn mac_alg3(key: &[u8], data: &[u8], padding: Padding) -> Result<[u8; 8]> {
    if key.len() != 16 && key.len() != 24 {
        return Err(Error::KeyLength {
            algorithm: "MAC algorithm 3",
            got: key.len(),
            expected: "16 bytes",
        });
    }
    let (kl, kr) = (&key[..8], &key[8..16]);
    let padded = pad(data, 8, padding);
    let ct = cbc_encrypt(Algorithm::Tdes, kl, &[0u8; 8], &padded)?;
    let mut last = [0u8; 8];
    last.copy_from_slice(&ct[ct.len() - 8..]);
    let d = tdes_decrypt_block(kr, &last)?;
    tdes_encrypt_block(kl, &d)
}

/// AES-CMAC (NIST SP 800-38B, RFC 4493) with a 16/24/32-byte key; full 16-byte tag.
pub fn aes_cmac(key: &[u8], data: &[u8]) -> Result<[u8; 16]> {
    use cmac::{Cmac, Mac};
    let tag = match key.len() {
        16 => {
            let mut m =
                <Cmac<aes::Aes128> as KeyInit>::new_from_slice(key).map_err(|_| aes_len(16))?;
            m.update(data);
            m.finalize().into_bytes()
        }
        24 => {
            let mut m =
                <Cmac<aes::Aes192> as KeyInit>::new_from_slice(key).map_err(|_| aes_len(24))?;
            m.update(data);
            m.finalize().into_bytes()
        }
        32 => {
            let mut m =
                <Cmac<aes::Aes256> as KeyInit>::new_from_slice(key).map_err(|_| aes_len(32))?;
            m.update(data);
            m.finalize().into_bytes()
        }
        n => return Err(aes_len(n)),
    };
    let mut out = [0u8; 16];
    out.copy_from_slice(&tag);
    Ok(out)
}

fn aes_len(n: usize) -> Error {
    Error::KeyLength {
        algorithm: "AES",
        got: n,
        expected: "16, 24 or 32 bytes",
    }
}

/// TDES-CMAC (NIST SP 800-38B with the 64-bit block) with a 16/24-byte key.
pub fn tdes_cmac(key: &[u8], data: &[u8]) -> Result<[u8; 8]> {
    use cmac::{Cmac, Mac};
    let bad = || Error::KeyLength {
        algorithm: "TDES-CMAC",
        got: key.len(),
        expected: "16 or 24 bytes",
    };
    let tag = match key.len() {
        16 => {
            let mut m = <Cmac<des::TdesEde2> as KeyInit>::new_from_slice(key).map_err(|_| bad())?;
            m.update(data);
            m.finalize().into_bytes()
        }
        24 => {
            let mut m = <Cmac<des::TdesEde3> as KeyInit>::new_from_slice(key).map_err(|_| bad())?;
            m.update(data);
            m.finalize().into_bytes()
        }
        _ => return Err(bad()),
    };
    let mut out = [0u8; 8];
    out.copy_from_slice(&tag);
    Ok(out)
}

/// Key check value of a TDES/DES key: the first 3 bytes of the encryption of a
/// zero block (ANSI X9.24-1 / common practice).
pub fn kcv_tdes(key: &[u8]) -> Result<[u8; 3]> {
    let e = tdes_encrypt_block(key, &[0u8; 8])?;
    Ok([e[0], e[1], e[2]])
}

/// Key check value of an AES key per ANSI X9.24-3 / TR-31: the first 5 bytes of
/// AES-CMAC over a block of zeros... as specified in X9.24-1:2017 for AES keys
/// (CMAC of a 16-byte zero block).
pub fn kcv_aes_cmac(key: &[u8]) -> Result<[u8; 5]> {
    let m = aes_cmac(key, &[0u8; 16])?;
    Ok([m[0], m[1], m[2], m[3], m[4]])
}

/// Legacy AES key check value: the first 3 bytes of AES-ECB of a zero block.
pub fn kcv_aes_ecb(key: &[u8]) -> Result<[u8; 3]> {
    let e = aes_encrypt_block(key, &[0u8; 16])?;
    Ok([e[0], e[1], e[2]])
}

/// Combines key components by XOR (all components must have the same length).
pub fn xor_components(components: &[&[u8]]) -> Result<SecretKey> {
    let first = components.first().ok_or(Error::Invalid {
        what: "key components",
        reason: "none given",
    })?;
    let mut out = Zeroizing::new(first.to_vec());
    for c in &components[1..] {
        if c.len() != out.len() {
            return Err(Error::Length {
                what: "key component",
                got: c.len(),
                expected: "the same length as the first component",
            });
        }
        for (o, b) in out.iter_mut().zip(c.iter()) {
            *o ^= b;
        }
    }
    Ok(SecretKey(out))
}

/// XORs `b` into `a` (lengths must match; extra bytes of the longer are ignored).
pub fn xor_in_place(a: &mut [u8], b: &[u8]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
}

/// Sets the low bit of every byte so each byte has odd parity (DES key parity).
pub fn adjust_odd_parity(key: &mut [u8]) {
    for b in key.iter_mut() {
        let ones = (*b & 0xFE).count_ones();
        *b = (*b & 0xFE) | u8::from(ones % 2 == 0);
    }
}

/// True if every byte of the key has odd parity.
pub fn has_odd_parity(key: &[u8]) -> bool {
    key.iter().all(|b| b.count_ones() % 2 == 1)
}

/// Constant-time equality of two byte strings (lengths are not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn parity() {
        let mut k = h("0000000000000000");
        adjust_odd_parity(&mut k);
        assert_eq!(k, h("0101010101010101"));
        assert!(has_odd_parity(&k));
    }

    #[test]
    fn padding_roundtrip() {
        let p = pad(b"abc", 8, Padding::Method2);
        assert_eq!(p, h("6162638000000000"));
        assert_eq!(unpad_method2(&p).unwrap(), b"abc");
        assert_eq!(pad(b"", 8, Padding::Method1), vec![0; 8]);
        assert_eq!(pad(&[1; 8], 8, Padding::Method1), vec![1; 8]);
        assert_eq!(pad(&[1; 8], 8, Padding::Method2).len(), 16);
    }

    #[test]
    fn cbc_roundtrip() {
        for (alg, key) in [
            (Algorithm::Tdes, h("0123456789ABCDEFFEDCBA9876543210")),
            (Algorithm::Aes, vec![7; 32]),
        ] {
            let data = vec![0x5A; alg.block_size() * 3];
            let iv = vec![1; alg.block_size()];
            let c = cbc_encrypt(alg, &key, &iv, &data).unwrap();
            assert_ne!(c, data);
            assert_eq!(cbc_decrypt(alg, &key, &iv, &c).unwrap(), data);
        }
    }

    #[test]
    fn bad_lengths_are_errors() {
        assert!(tdes_ecb_encrypt(&[0; 15], &[0; 8]).is_err());
        assert!(tdes_ecb_encrypt(&[0; 16], &[0; 7]).is_err());
        assert!(aes_cmac(&[0; 15], b"").is_err());
        assert!(mac_alg3(&[0; 8], b"", Padding::Method2).is_err());
    }

    #[test]
    fn secret_key_debug_is_redacted() {
        let k = SecretKey::from_hex("0123456789ABCDEF").unwrap();
        assert!(!format!("{k:?}").contains("0123"));
    }
}
