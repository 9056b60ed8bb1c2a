//! ANSI X9.24-1:2009 TDES DUKPT (Annex A).
//!
//! KSN: 10 bytes = 59-bit initial key serial number + 21-bit transaction counter.
//! The initial PIN encryption key (IPEK) is derived from the double-length BDK
//! and the KSN with its counter cleared (A.6); the key of a transaction is the
//! result of the non-reversible key generation process (A.2) applied once per
//! one-bit of the counter, most significant first. Working keys are variants of
//! that "current key" (A.4.1, table A-1).

use zeroize::Zeroizing;

use super::{DukptError, DukptResult, FutureKeys};
use crate::pin::ClearPinBlock;
use crate::sym::{self, Padding, SecretKey};

/// KSN length in bytes.
pub const KSN_LEN: usize = 10;
/// Width of the transaction counter.
pub const COUNTER_BITS: u32 = 21;
/// Most one-bits a valid transaction counter may have.
pub const MAX_COUNTER_ONES: u32 = 10;
const COUNTER_MASK: u32 = (1 << COUNTER_BITS) - 1;
/// Mask C0C0C0C000000000C0C0C0C000000000 (IPEK right half, key generation).
const C0_MASK: [u8; 16] = [
    0xC0, 0xC0, 0xC0, 0xC0, 0, 0, 0, 0, 0xC0, 0xC0, 0xC0, 0xC0, 0, 0, 0, 0,
];

/// A TDES DUKPT key serial number (10 bytes). Not secret: `Debug`/`Display` show hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ksn([u8; KSN_LEN]);

impl Ksn {
    /// From 10 bytes.
    pub fn from_bytes(bytes: &[u8]) -> DukptResult<Ksn> {
        bytes
            .try_into()
            .map(Ksn)
            .map_err(|_| DukptError::Ksn("TDES KSN must be 10 bytes"))
    }

    /// From 20 hex digits.
    pub fn from_hex(s: &str) -> DukptResult<Ksn> {
        let b = hex::decode(s.trim()).map_err(|_| DukptError::Ksn("not hexadecimal"))?;
        Self::from_bytes(&b)
    }

    /// The KSN bytes.
    pub fn as_bytes(&self) -> &[u8; KSN_LEN] {
        &self.0
    }

    /// The 21-bit transaction counter.
    pub fn counter(&self) -> u32 {
        let [.., a, b, c] = self.0;
        u32::from_be_bytes([0, a, b, c]) & COUNTER_MASK
    }

    /// The same KSN with another counter (only the low 21 bits of `counter` are used).
    pub fn with_counter(&self, counter: u32) -> Ksn {
        let mut k = self.0;
        let c = (counter & COUNTER_MASK).to_be_bytes();
        k[7] = (k[7] & 0xE0) | c[1];
        k[8] = c[2];
        k[9] = c[3];
        Ksn(k)
    }

    /// True if the counter is a valid transaction counter: non-zero with at most
    /// 10 one-bits.
    pub fn is_valid_transaction(&self) -> bool {
        let c = self.counter();
        c != 0 && c.count_ones() <= MAX_COUNTER_ONES
    }

    /// The rightmost 8 bytes with the given counter (the KSN register input to
    /// the key generation process).
    fn register(&self, counter: u32) -> [u8; 8] {
        let k = self.with_counter(counter).0;
        let mut r = [0u8; 8];
        r.copy_from_slice(&k[2..]);
        r
    }
}

impl core::fmt::Display for Ksn {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&hex::encode_upper(self.0))
    }
}

impl core::fmt::Debug for Ksn {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Ksn({self})")
    }
}

fn key16(key: &SecretKey, what: &'static str) -> DukptResult<Zeroizing<[u8; 16]>> {
    let b: [u8; 16] = key
        .as_bytes()
        .try_into()
        .map_err(|_| crate::Error::KeyLength {
            algorithm: what,
            got: key.len(),
            expected: "16 bytes (double-length TDES)",
        })?;
    Ok(Zeroizing::new(b))
}

fn from16(k: &[u8; 16]) -> SecretKey {
    SecretKey::new(k.to_vec())
}

/// Derives the initial PIN encryption key (IPEK, "initial key") from the BDK and
/// the KSN (X9.24-1:2009 A.6): with the counter cleared, the leftmost 8 bytes of
/// the KSN are TDES-enciphered under the BDK (left half) and under
/// BDK XOR C0C0C0C000000000C0C0C0C000000000 (right half).
pub fn derive_ipek(bdk: &SecretKey, ksn: &Ksn) -> DukptResult<SecretKey> {
    let bdk = key16(bdk, "DUKPT BDK")?;
    let base = ksn.with_counter(0).0;
    let mut data = [0u8; 8];
    data.copy_from_slice(&base[..8]);
    let left = Zeroizing::new(sym::tdes_encrypt_block(&*bdk, &data)?);
    let mut variant = bdk.clone();
    sym::xor_in_place(&mut *variant, &C0_MASK);
    let right = Zeroizing::new(sym::tdes_encrypt_block(&*variant, &data)?);
    let mut out = Zeroizing::new([0u8; 16]);
    out[..8].copy_from_slice(&*left);
    out[8..].copy_from_slice(&*right);
    Ok(from16(&out))
}

/// The non-reversible key generation process (X9.24-1:2009 A.2): a new
/// double-length key from key register `key` and the 8-byte KSN register `reg`.
fn non_reversible(key: &[u8; 16], reg: &[u8; 8]) -> DukptResult<Zeroizing<[u8; 16]>> {
    let half = |k: &[u8; 16], lo: usize| {
        let mut h = [0u8; 8];
        h.copy_from_slice(&k[lo..lo + 8]);
        h
    };
    let one = |k: &[u8; 16]| -> DukptResult<[u8; 8]> {
        let (l, r) = (half(k, 0), half(k, 8));
        let mut cr = *reg;
        sym::xor_in_place(&mut cr, &r);
        let mut cr = sym::tdes_encrypt_block(&l, &cr)?;
        sym::xor_in_place(&mut cr, &r);
        Ok(cr)
    };
    let right = Zeroizing::new(one(key)?);
    let mut variant = Zeroizing::new(*key);
    sym::xor_in_place(&mut *variant, &C0_MASK);
    let left = Zeroizing::new(one(&variant)?);
    let mut out = Zeroizing::new([0u8; 16]);
    out[..8].copy_from_slice(&*left);
    out[8..].copy_from_slice(&*right);
    Ok(out)
}

/// Key of the counter `counter` derived from `key` (one generation step).
fn step(key: &SecretKey, ksn: &Ksn, counter: u32) -> DukptResult<SecretKey> {
    let k = key16(key, "DUKPT key")?;
    Ok(from16(&*non_reversible(&k, &ksn.register(counter))?))
}

/// Receiver side: the current (transaction) key of `ksn` from the IPEK
/// (X9.24-1:2009 A.3 "calculate the key for this KSN"): for each one-bit of the
/// counter from the most significant, set it in the KSN register and apply the
/// non-reversible key generation process.
///
/// Rejects a zero counter and counters with more than 10 one-bits.
pub fn derive_current_key(ipek: &SecretKey, ksn: &Ksn) -> DukptResult<SecretKey> {
    let c = ksn.counter();
    if c == 0 {
        return Err(DukptError::Ksn("transaction counter is zero"));
    }
    if c.count_ones() > MAX_COUNTER_ONES {
        return Err(DukptError::Ksn(
            "transaction counter has more than 10 one-bits",
        ));
    }
    let mut key = key16(ipek, "DUKPT IPEK")?;
    let mut reg_counter = 0u32;
    for bit in (0..COUNTER_BITS).rev() {
        let m = 1u32 << bit;
        if c & m != 0 {
            reg_counter |= m;
            key = non_reversible(&key, &ksn.register(reg_counter))?;
        }
    }
    Ok(from16(&key))
}

/// Receiver side from the BDK: IPEK then current key.
pub fn derive_current_key_from_bdk(bdk: &SecretKey, ksn: &Ksn) -> DukptResult<SecretKey> {
    derive_current_key(&derive_ipek(bdk, ksn)?, ksn)
}

/// The working-key variants of the current key (X9.24-1:2009 A.4.1, table A-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// PIN encryption: XOR 00000000000000FF00000000000000FF.
    Pin,
    /// MAC, request (or both ways): XOR 000000000000FF00000000000000FF00.
    MacRequest,
    /// MAC, response: XOR 00000000FF00000000000000FF000000.
    MacResponse,
    /// Data encryption, request (or both ways): XOR 0000000000FF00000000000000FF0000.
    DataRequest,
    /// Data encryption, response: XOR 000000FF00000000000000FF00000000.
    DataResponse,
}

impl Variant {
    /// Index of the byte (in each half) that is XORed with FF.
    const fn byte(self) -> usize {
        match self {
            Variant::Pin => 7,
            Variant::MacRequest => 6,
            Variant::DataRequest => 5,
            Variant::MacResponse => 4,
            Variant::DataResponse => 3,
        }
    }
}

/// Applies a variant mask to a current key (table A-1).
pub fn variant_key(current: &SecretKey, variant: Variant) -> DukptResult<SecretKey> {
    let mut k = key16(current, "DUKPT current key")?;
    let i = variant.byte();
    k[i] ^= 0xFF;
    k[i + 8] ^= 0xFF;
    Ok(from16(&k))
}

/// PIN encryption key of a current key (PIN variant).
pub fn pin_key(current: &SecretKey) -> DukptResult<SecretKey> {
    variant_key(current, Variant::Pin)
}

/// Data encryption key: the data variant (request or response) made one-way by
/// enciphering each half under the variant itself with TDES. This is the usual
/// DUKPT data-key practice (attributed to X9.24-1:2009 A.4.1, figure A-2, by
/// moov-io/dukpt; the test vectors come from that implementation, not the standard).
/// Use [`variant_key`] for the bare variant.
pub fn data_key(current: &SecretKey, response: bool) -> DukptResult<SecretKey> {
    let v = if response {
        Variant::DataResponse
    } else {
        Variant::DataRequest
    };
    let vk = key16(&variant_key(current, v)?, "DUKPT data variant")?;
    let mut out = Zeroizing::new([0u8; 16]);
    for (o, chunk) in out.chunks_mut(8).zip(vk.chunks(8)) {
        let mut half = [0u8; 8];
        half.copy_from_slice(chunk);
        o.copy_from_slice(&sym::tdes_encrypt_block(&*vk, &half)?);
    }
    Ok(from16(&out))
}

/// Enciphers a clear PIN block (format 0, 1 or 3) under the PIN variant of the
/// current key (TDES-ECB).
pub fn encrypt_pin_block(current: &SecretKey, block: &ClearPinBlock) -> DukptResult<[u8; 8]> {
    Ok(crate::pin::encipher_tdes(&pin_key(current)?, block)?)
}

/// Deciphers a PIN block enciphered under the PIN variant of the current key.
pub fn decrypt_pin_block(current: &SecretKey, block: &[u8]) -> DukptResult<ClearPinBlock> {
    Ok(crate::pin::decipher_tdes(&pin_key(current)?, block)?)
}

/// ANSI X9.19 / ISO 9797-1 MAC algorithm 3 with padding method 1 under the MAC
/// request (or response) variant of the current key; the full 8-byte result
/// (messages usually carry its leftmost 4 bytes).
pub fn mac(current: &SecretKey, response: bool, data: &[u8]) -> DukptResult<[u8; 8]> {
    let v = if response {
        Variant::MacResponse
    } else {
        Variant::MacRequest
    };
    Ok(sym::mac_alg3(
        variant_key(current, v)?.as_bytes(),
        data,
        Padding::Method1,
    )?)
}

/// TDES-CBC encryption of whole 8-byte blocks under the data key ([`data_key`]).
pub fn encrypt_data(
    current: &SecretKey,
    response: bool,
    iv: &[u8; 8],
    data: &[u8],
) -> DukptResult<Vec<u8>> {
    Ok(sym::cbc_encrypt(
        sym::Algorithm::Tdes,
        data_key(current, response)?.as_bytes(),
        iv,
        data,
    )?)
}

/// TDES-CBC decryption of whole 8-byte blocks under the data key.
pub fn decrypt_data(
    current: &SecretKey,
    response: bool,
    iv: &[u8; 8],
    data: &[u8],
) -> DukptResult<Vec<u8>> {
    Ok(sym::cbc_decrypt(
        sym::Algorithm::Tdes,
        data_key(current, response)?.as_bytes(),
        iv,
        data,
    )?)
}

/// Transaction-originating side (PIN pad) of TDES DUKPT (X9.24-1:2009 A.2):
/// 21 future key registers loaded from the IPEK, a KSN register, and the
/// "New Key" procedure after each transaction. The IPEK is not retained.
#[derive(Debug)]
pub struct Originator {
    ksn: Ksn,
    keys: FutureKeys,
}

impl Originator {
    /// "Load Initial Key": fills the future key registers from `ipek` for the
    /// KSN `initial_ksn` (its counter is ignored and starts at 1).
    pub fn new(ipek: &SecretKey, initial_ksn: &Ksn) -> DukptResult<Originator> {
        let ksn = initial_ksn.with_counter(0);
        let keys = FutureKeys::load(ipek, COUNTER_BITS, MAX_COUNTER_ONES, |k, c| {
            step(k, &ksn, c)
        })?;
        Ok(Originator { ksn, keys })
    }

    /// The KSN the next transaction will use, or `None` once exhausted.
    pub fn next_ksn(&self) -> Option<Ksn> {
        self.keys.counter.map(|c| self.ksn.with_counter(c))
    }

    /// Takes the current key for the next transaction and advances the state
    /// (X9.24-1 A.2 "Request PIN Entry" then "New Key"). Fails with
    /// [`DukptError::Exhausted`] after the last valid counter (1 048 575 keys).
    pub fn next_transaction(&mut self) -> DukptResult<(Ksn, SecretKey)> {
        let ksn = self.ksn;
        let (c, key) = self.keys.next(|k, c| step(k, &ksn, c))?;
        Ok((ksn.with_counter(c), key))
    }
}
