//! ANSI X9.24-3:2017 AES DUKPT.
//!
//! KSN: 12 bytes = 8-byte initial key ID (4-byte BDK ID and 4-byte derivation ID)
//! then a 32-bit transaction counter (at most 16 one-bits). Every key is derived by
//! AES-ECB encryption, under the deriving key, of 16-byte derivation data
//! (§6.3.2):
//!
//! | bytes | content |
//! |---|---|
//! | 0 | version `01` |
//! | 1 | key block counter `01`, `02` (one AES block per 128 bits of output) |
//! | 2–3 | key usage indicator ([`KeyUsage`]) |
//! | 4–5 | algorithm indicator of the derived key ([`KeyType`]) |
//! | 6–7 | length of the derived key in bits |
//! | 8–15 | initial key ID (initial key), or derivation ID (ID bytes 4–7) + counter |
//!
//! The initial key comes from the BDK (usage `8001`); intermediate derivation
//! keys from the initial key, one step per counter one-bit (usage `8000`);
//! working keys from the intermediate derivation key of the transaction.

use zeroize::Zeroizing;

use super::{DukptError, DukptResult, FutureKeys};
use crate::pin::{Pan, Pin};
use crate::sym::{self, SecretKey};

/// KSN length in bytes.
pub const KSN_LEN: usize = 12;
/// Width of the transaction counter.
pub const COUNTER_BITS: u32 = 32;
/// Most one-bits a valid transaction counter may have.
pub const MAX_COUNTER_ONES: u32 = 16;

/// An AES DUKPT key serial number (12 bytes). Not secret: `Debug`/`Display` show hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ksn([u8; KSN_LEN]);

impl Ksn {
    /// From 12 bytes.
    pub fn from_bytes(bytes: &[u8]) -> DukptResult<Ksn> {
        bytes
            .try_into()
            .map(Ksn)
            .map_err(|_| DukptError::Ksn("AES KSN must be 12 bytes"))
    }

    /// From 24 hex digits.
    pub fn from_hex(s: &str) -> DukptResult<Ksn> {
        let b = hex::decode(s.trim()).map_err(|_| DukptError::Ksn("not hexadecimal"))?;
        Self::from_bytes(&b)
    }

    /// From an initial key ID and a counter.
    pub fn new(initial_key_id: &[u8; 8], counter: u32) -> Ksn {
        let mut k = [0u8; KSN_LEN];
        k[..8].copy_from_slice(initial_key_id);
        k[8..].copy_from_slice(&counter.to_be_bytes());
        Ksn(k)
    }

    /// The KSN bytes.
    pub fn as_bytes(&self) -> &[u8; KSN_LEN] {
        &self.0
    }

    /// The initial key ID (BDK ID + derivation ID).
    pub fn initial_key_id(&self) -> [u8; 8] {
        let mut id = [0u8; 8];
        id.copy_from_slice(&self.0[..8]);
        id
    }

    /// The 32-bit transaction counter.
    pub fn counter(&self) -> u32 {
        let [.., a, b, c, d] = self.0;
        u32::from_be_bytes([a, b, c, d])
    }

    /// True if the counter is non-zero with at most 16 one-bits.
    pub fn is_valid_transaction(&self) -> bool {
        let c = self.counter();
        c != 0 && c.count_ones() <= MAX_COUNTER_ONES
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

/// Type of a derived key: its algorithm indicator and length (§6.3.2, table 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// Double-length TDES (algorithm 0, 128 bits).
    Tdes2,
    /// Triple-length TDES (algorithm 1, 192 bits).
    Tdes3,
    /// AES-128 (algorithm 2).
    Aes128,
    /// AES-192 (algorithm 3).
    Aes192,
    /// AES-256 (algorithm 4).
    Aes256,
}

impl KeyType {
    /// Algorithm indicator in derivation data.
    pub const fn algorithm(self) -> u16 {
        match self {
            KeyType::Tdes2 => 0,
            KeyType::Tdes3 => 1,
            KeyType::Aes128 => 2,
            KeyType::Aes192 => 3,
            KeyType::Aes256 => 4,
        }
    }

    /// Key length in bits.
    pub const fn bits(self) -> u16 {
        match self {
            KeyType::Tdes2 | KeyType::Aes128 => 128,
            KeyType::Tdes3 | KeyType::Aes192 => 192,
            KeyType::Aes256 => 256,
        }
    }

    /// Key length in bytes.
    pub const fn key_len(self) -> usize {
        self.bits() as usize / 8
    }

    /// True for the AES types (the only ones a BDK or derivation key may have).
    pub const fn is_aes(self) -> bool {
        matches!(self, KeyType::Aes128 | KeyType::Aes192 | KeyType::Aes256)
    }

    fn of_aes_key(key: &SecretKey) -> DukptResult<KeyType> {
        match key.len() {
            16 => Ok(KeyType::Aes128),
            24 => Ok(KeyType::Aes192),
            32 => Ok(KeyType::Aes256),
            n => Err(crate::Error::KeyLength {
                algorithm: "AES DUKPT derivation key",
                got: n,
                expected: "16, 24 or 32 bytes",
            }
            .into()),
        }
    }
}

/// Key usage indicator (§6.3.2, table 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyUsage {
    /// Key encryption key (`0002`).
    KeyEncryption,
    /// PIN encryption (`1000`).
    PinEncryption,
    /// MAC generation (`2000`).
    MacGeneration,
    /// MAC verification (`2001`).
    MacVerification,
    /// MAC both ways (`2002`).
    MacBoth,
    /// Data encryption, encrypt (`3000`).
    DataEncrypt,
    /// Data encryption, decrypt (`3001`).
    DataDecrypt,
    /// Data encryption, both ways (`3002`).
    DataBoth,
    /// Key derivation: intermediate derivation keys (`8000`).
    KeyDerivation,
    /// Key derivation of the initial key from the BDK (`8001`).
    KeyDerivationInitialKey,
}

impl KeyUsage {
    /// The indicator value.
    pub const fn code(self) -> u16 {
        match self {
            KeyUsage::KeyEncryption => 0x0002,
            KeyUsage::PinEncryption => 0x1000,
            KeyUsage::MacGeneration => 0x2000,
            KeyUsage::MacVerification => 0x2001,
            KeyUsage::MacBoth => 0x2002,
            KeyUsage::DataEncrypt => 0x3000,
            KeyUsage::DataDecrypt => 0x3001,
            KeyUsage::DataBoth => 0x3002,
            KeyUsage::KeyDerivation => 0x8000,
            KeyUsage::KeyDerivationInitialKey => 0x8001,
        }
    }
}

/// Builds the 16-byte derivation data (§6.3.2). For the initial key, bytes 8–15
/// are the whole initial key ID; otherwise the derivation ID (ID bytes 4–7) and
/// the counter.
pub fn derivation_data(
    usage: KeyUsage,
    key_type: KeyType,
    initial_key_id: &[u8; 8],
    counter: u32,
) -> [u8; 16] {
    let mut d = [0u8; 16];
    d[0] = 0x01;
    d[1] = 0x01;
    d[2..4].copy_from_slice(&usage.code().to_be_bytes());
    d[4..6].copy_from_slice(&key_type.algorithm().to_be_bytes());
    d[6..8].copy_from_slice(&key_type.bits().to_be_bytes());
    if usage == KeyUsage::KeyDerivationInitialKey {
        d[8..].copy_from_slice(initial_key_id);
    } else {
        d[8..12].copy_from_slice(&initial_key_id[4..]);
        d[12..].copy_from_slice(&counter.to_be_bytes());
    }
    d
}

/// The derivation function (§6.3.1): AES-ECB of the derivation data under
/// `derivation_key`, once per 128 bits of output with the block counter byte
/// set to 1, 2, …; truncated to the key length.
pub fn derive_key(
    derivation_key: &SecretKey,
    key_type: KeyType,
    data: &[u8; 16],
) -> DukptResult<SecretKey> {
    let kt = KeyType::of_aes_key(derivation_key)?;
    if key_type.is_aes() && key_type.bits() > kt.bits() {
        return Err(DukptError::Crypto(crate::Error::Invalid {
            what: "AES DUKPT key type",
            reason: "a derived AES key may not be longer than the key deriving it",
        }));
    }
    let mut out = Zeroizing::new(Vec::with_capacity(32));
    let mut d = *data;
    let blocks = key_type.key_len().div_ceil(16);
    for i in 1..=blocks {
        d[1] = u8::try_from(i).unwrap_or(0xFF);
        out.extend_from_slice(&sym::aes_encrypt_block(derivation_key.as_bytes(), &d)?);
    }
    out.truncate(key_type.key_len());
    Ok(SecretKey::new(out.to_vec()))
}

/// Derives the initial key from the BDK and the initial key ID (§6.3.3,
/// usage `8001`); the initial key has the BDK's AES type.
pub fn derive_initial_key(bdk: &SecretKey, initial_key_id: &[u8; 8]) -> DukptResult<SecretKey> {
    let kt = KeyType::of_aes_key(bdk)?;
    let d = derivation_data(KeyUsage::KeyDerivationInitialKey, kt, initial_key_id, 0);
    derive_key(bdk, kt, &d)
}

fn intermediate_step(
    key: &SecretKey,
    initial_key_id: &[u8; 8],
    counter: u32,
) -> DukptResult<SecretKey> {
    let kt = KeyType::of_aes_key(key)?;
    derive_key(
        key,
        kt,
        &derivation_data(KeyUsage::KeyDerivation, kt, initial_key_id, counter),
    )
}

/// Receiver side: the intermediate derivation key of the transaction named by
/// `ksn`, from the initial key (§6.4 "host derive working key" first part): one
/// derivation per one-bit of the counter, most significant first.
///
/// Rejects a zero counter and counters with more than 16 one-bits.
pub fn derive_transaction_key(initial_key: &SecretKey, ksn: &Ksn) -> DukptResult<SecretKey> {
    let c = ksn.counter();
    if c == 0 {
        return Err(DukptError::Ksn("transaction counter is zero"));
    }
    if c.count_ones() > MAX_COUNTER_ONES {
        return Err(DukptError::Ksn(
            "transaction counter has more than 16 one-bits",
        ));
    }
    let id = ksn.initial_key_id();
    let mut key = initial_key.clone();
    let mut working = 0u32;
    for bit in (0..COUNTER_BITS).rev() {
        let m = 1u32 << bit;
        if c & m != 0 {
            working |= m;
            key = intermediate_step(&key, &id, working)?;
        }
    }
    Ok(key)
}

/// The DUKPT update key of an initial key (§6.6 "update initial key"): the key
/// encryption key derived, with counter `FFFFFFFF`, from the derivation key
/// reached by walking all 32 counter bits from the initial key. It protects the
/// next initial key loaded into the device; `key_type` is the type of that key.
pub fn derive_update_key(
    initial_key: &SecretKey,
    initial_key_id: &[u8; 8],
    key_type: KeyType,
) -> DukptResult<SecretKey> {
    let mut key = initial_key.clone();
    let mut working = 0u32;
    for bit in (0..COUNTER_BITS).rev() {
        working |= 1u32 << bit;
        key = intermediate_step(&key, initial_key_id, working)?;
    }
    let d = derivation_data(KeyUsage::KeyEncryption, key_type, initial_key_id, u32::MAX);
    derive_key(&key, key_type, &d)
}

/// A working key from a transaction's intermediate derivation key (§6.3.2,
/// "derive working key").
pub fn derive_working_key(
    transaction_key: &SecretKey,
    ksn: &Ksn,
    usage: KeyUsage,
    key_type: KeyType,
) -> DukptResult<SecretKey> {
    let d = derivation_data(usage, key_type, &ksn.initial_key_id(), ksn.counter());
    derive_key(transaction_key, key_type, &d)
}

/// Receiver side from the BDK: initial key, intermediate derivation key, working key.
pub fn host_derive_working_key(
    bdk: &SecretKey,
    ksn: &Ksn,
    usage: KeyUsage,
    key_type: KeyType,
) -> DukptResult<SecretKey> {
    let ik = derive_initial_key(bdk, &ksn.initial_key_id())?;
    let tk = derive_transaction_key(&ik, ksn)?;
    derive_working_key(&tk, ksn, usage, key_type)
}

/// Enciphers an ISO 9564-1 format 4 PIN block under the AES PIN encryption
/// working key of the transaction (`key_type` AES-128/192/256).
pub fn encrypt_pin_block(
    transaction_key: &SecretKey,
    ksn: &Ksn,
    key_type: KeyType,
    pin: &Pin,
    pan: &Pan,
    random: &[u8; 8],
) -> DukptResult<[u8; 16]> {
    aes_only(key_type)?;
    let k = derive_working_key(transaction_key, ksn, KeyUsage::PinEncryption, key_type)?;
    Ok(crate::pin::encipher_iso4_with_random(&k, pin, pan, random)?)
}

/// Deciphers a format 4 PIN block under the AES PIN encryption working key.
pub fn decrypt_pin_block(
    transaction_key: &SecretKey,
    ksn: &Ksn,
    key_type: KeyType,
    block: &[u8],
    pan: &Pan,
) -> DukptResult<Pin> {
    aes_only(key_type)?;
    let k = derive_working_key(transaction_key, ksn, KeyUsage::PinEncryption, key_type)?;
    Ok(crate::pin::decipher_iso4(&k, block, pan)?)
}

fn aes_only(key_type: KeyType) -> DukptResult<()> {
    if key_type.is_aes() {
        Ok(())
    } else {
        Err(DukptError::Crypto(crate::Error::Invalid {
            what: "PIN key type",
            reason: "format 4 PIN blocks need an AES key",
        }))
    }
}

/// Transaction-originating side (PIN pad) of AES DUKPT (§6.5): 32 intermediate
/// derivation key registers loaded from the initial key, which is not retained.
#[derive(Debug)]
pub struct Originator {
    initial_key_id: [u8; 8],
    keys: FutureKeys,
}

impl Originator {
    /// "Load initial key": fills the registers from `initial_key` for
    /// `initial_key_id`; the first transaction uses counter 1.
    pub fn new(initial_key: &SecretKey, initial_key_id: &[u8; 8]) -> DukptResult<Originator> {
        let id = *initial_key_id;
        let keys = FutureKeys::load(initial_key, COUNTER_BITS, MAX_COUNTER_ONES, |k, c| {
            intermediate_step(k, &id, c)
        })?;
        Ok(Originator {
            initial_key_id: id,
            keys,
        })
    }

    /// The KSN the next transaction will use, or `None` once exhausted.
    pub fn next_ksn(&self) -> Option<Ksn> {
        self.keys.counter.map(|c| Ksn::new(&self.initial_key_id, c))
    }

    /// Takes the intermediate derivation key of the next transaction and advances
    /// the state; derive working keys from it with [`derive_working_key`].
    /// Fails with [`DukptError::Exhausted`] after counter `FFFF0000`.
    pub fn next_transaction(&mut self) -> DukptResult<(Ksn, SecretKey)> {
        let id = self.initial_key_id;
        let (c, key) = self.keys.next(|k, c| intermediate_step(k, &id, c))?;
        Ok((Ksn::new(&id, c), key))
    }
}
