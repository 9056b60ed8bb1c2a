//! RSA keys for EMV: raw (unpadded) public and private operations.

use core::fmt;

use rand::CryptoRng;
use rsa::BoxedUint;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use zeroize::Zeroizing;

use super::PkiError;

/// Smallest modulus, in bits, for keys we generate or import with private parts.
pub const KEY_BITS_MIN: usize = 1024;
/// Largest modulus, in bits, of any EMV RSA key (Book 2 §11.2: 248 bytes).
pub const KEY_BITS_MAX: usize = 1984;
/// Smallest modulus, in bits, accepted for a *public* key recovered from a card.
///
/// Book 2 sets no lower bound for issuer and ICC keys; scheme test cards still
/// carry 768- and 896-bit keys, so public keys down to 512 bits are accepted.
/// A terminal wanting a stricter policy checks [`RsaPublicKey::modulus_len`].
pub const PUBLIC_KEY_BITS_MIN: usize = 512;

/// The two public exponents EMV allows (Book 2 §11.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublicExponent {
    /// e = 3, encoded `03`.
    Three,
    /// e = 2¹⁶ + 1, encoded `01 00 01`.
    F4,
}

impl PublicExponent {
    /// The exponent's value.
    pub fn value(self) -> u64 {
        match self {
            Self::Three => 3,
            Self::F4 => 65537,
        }
    }

    /// The exponent's EMV encoding (`03` or `010001`).
    pub fn to_bytes(self) -> Vec<u8> {
        match self {
            Self::Three => vec![0x03],
            Self::F4 => vec![0x01, 0x00, 0x01],
        }
    }

    /// From an exponent encoding of 1..=3 bytes whose value is 3 or 65537.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PkiError> {
        if bytes.is_empty() || bytes.len() > 3 {
            return Err(PkiError::Exponent);
        }
        let v = bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        match v {
            3 => Ok(Self::Three),
            65537 => Ok(Self::F4),
            _ => Err(PkiError::Exponent),
        }
    }
}

/// Big-endian bytes of `x`, exactly `len` long; fails if `x` does not fit.
/// Temporaries are zeroized (the value may be secret).
fn to_fixed_be(x: &BoxedUint, len: usize) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    let full = Zeroizing::new(x.to_be_bytes());
    let mut out = Zeroizing::new(vec![0u8; len]);
    if full.len() >= len {
        let (lead, tail) = full.split_at(full.len() - len);
        if lead.iter().any(|b| *b != 0) {
            return Err(PkiError::Rsa("integer does not fit the modulus length"));
        }
        out.copy_from_slice(tail);
    } else {
        let start = len - full.len();
        out.get_mut(start..)
            .ok_or(PkiError::Rsa("integer encoding"))?
            .copy_from_slice(&full);
    }
    Ok(out)
}

/// Reads `data` as an integer of the key's storage precision and checks `0 <= m < n`.
fn representative(
    data: &[u8],
    key: &impl PublicKeyParts,
    what: &'static str,
) -> Result<Zeroizing<BoxedUint>, PkiError> {
    let k = key.size();
    if data.len() != k {
        return Err(PkiError::Length {
            what,
            got: data.len(),
            expected: k,
        });
    }
    let m = BoxedUint::from_be_slice(data, key.n_bits_precision())
        .map_err(|_| PkiError::Rsa("integer conversion"))?;
    let m = Zeroizing::new(m);
    if *m >= *key.n().as_ref() {
        return Err(PkiError::OutOfRange { what });
    }
    Ok(m)
}

/// An RSA public key (CA, issuer, ICC or ICC PIN encipherment key).
///
/// Holds the modulus and the exponent exactly as encoded on the card, since
/// certificate hashes cover those bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    key: rsa::PublicKey,
    modulus: Vec<u8>,
    exponent: Vec<u8>,
}

impl RsaPublicKey {
    /// From the modulus (no leading zero byte) and exponent (`03` or `010001`,
    /// 1..=3 bytes); accepts [`PUBLIC_KEY_BITS_MIN`]..=[`KEY_BITS_MAX`] bits.
    pub fn new(modulus: &[u8], exponent: &[u8]) -> Result<Self, PkiError> {
        Self::with_limits(modulus, exponent, PUBLIC_KEY_BITS_MIN)
    }

    fn with_limits(modulus: &[u8], exponent: &[u8], min_bits: usize) -> Result<Self, PkiError> {
        let e = PublicExponent::from_bytes(exponent)?;
        match modulus.first() {
            None | Some(0) => {
                return Err(PkiError::Invalid {
                    what: "RSA modulus",
                    reason: "empty or leading zero byte",
                });
            }
            Some(_) => {}
        }
        let bits = modulus.len() * 8;
        if modulus.len() * 8 > KEY_BITS_MAX || bits < min_bits {
            return Err(PkiError::ModulusSize {
                bits,
                min: min_bits,
                max: KEY_BITS_MAX,
            });
        }
        let n = BoxedUint::from_be_slice_vartime(modulus);
        let key = rsa::PublicKey::new_with_size_limits(
            n,
            BoxedUint::from(e.value()),
            min_bits.saturating_sub(7)..=KEY_BITS_MAX,
        )
        .map_err(|_| PkiError::Invalid {
            what: "RSA modulus",
            reason: "rejected by RSA key checks",
        })?;
        Ok(Self {
            key,
            modulus: modulus.to_vec(),
            exponent: exponent.to_vec(),
        })
    }

    /// The modulus, big-endian, as encoded (length = modulus length in bytes).
    pub fn modulus(&self) -> &[u8] {
        &self.modulus
    }

    /// The public exponent as encoded (`03` or `010001`).
    pub fn exponent(&self) -> &[u8] {
        &self.exponent
    }

    /// Modulus length in bytes (N_CA, N_I, N_IC or N_PE in Book 2).
    pub fn modulus_len(&self) -> usize {
        self.modulus.len()
    }

    /// Raw RSA public operation `x^e mod n` on exactly `modulus_len` bytes
    /// (ISO 9796-2 recovery, Book 2 Annex A2.1; PIN encipherment, §7.1).
    /// Fails if the input is not smaller than the modulus.
    pub fn public_op(&self, input: &[u8]) -> Result<Vec<u8>, PkiError> {
        let m = representative(input, &self.key, "RSA input")?;
        let c = rsa::hazmat::rsa_encrypt(&self.key, &m)
            .map_err(|_| PkiError::Rsa("public operation failed"))?;
        Ok(to_fixed_be(&c, self.modulus.len())?.to_vec())
    }
}

impl fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head: String = self
            .modulus
            .iter()
            .take(8)
            .map(|b| format!("{b:02X}"))
            .collect();
        f.debug_struct("RsaPublicKey")
            .field("bits", &(self.modulus.len() * 8))
            .field("exponent", &hex::encode_upper(&self.exponent))
            .field("modulus", &format_args!("{head}…"))
            .finish()
    }
}

/// An RSA key pair (CA, issuer or ICC private key) for EMV signing and PIN deciphering.
///
/// 1024..=1984-bit moduli, a whole number of bytes, exponent 3 or 65537.
/// The private key is zeroized on drop (by the `rsa` crate) and `Debug` prints
/// only public information.
#[derive(Clone)]
pub struct RsaKeyPair {
    key: rsa::PrivateKey,
    public: RsaPublicKey,
}

fn check_private_bits(bits: usize) -> Result<(), PkiError> {
    if !(KEY_BITS_MIN..=KEY_BITS_MAX).contains(&bits) || !bits.is_multiple_of(8) {
        return Err(PkiError::ModulusSize {
            bits,
            min: KEY_BITS_MIN,
            max: KEY_BITS_MAX,
        });
    }
    Ok(())
}

impl RsaKeyPair {
    /// Generates a key with a `bits`-bit modulus (1024..=1984, a multiple of 8).
    pub fn generate<R: CryptoRng + ?Sized>(
        rng: &mut R,
        bits: usize,
        exponent: PublicExponent,
    ) -> Result<Self, PkiError> {
        check_private_bits(bits)?;
        let key = rsa::PrivateKey::new_with_exp(rng, bits, BoxedUint::from(exponent.value()))
            .map_err(|_| PkiError::Rsa("key generation failed"))?;
        Self::from_rsa(key)
    }

    fn from_rsa(key: rsa::PrivateKey) -> Result<Self, PkiError> {
        let n = key.n_bytes();
        check_private_bits(n.len() * 8)?;
        if n.first().is_none_or(|b| *b < 0x80) {
            return Err(PkiError::ModulusSize {
                bits: n.len() * 8 - 1,
                min: KEY_BITS_MIN,
                max: KEY_BITS_MAX,
            });
        }
        let public = RsaPublicKey::with_limits(&n, &key.e_bytes(), KEY_BITS_MIN)?;
        Ok(Self { key, public })
    }

    /// Rebuilds a key pair from its parts (see [`RsaKeyPair::to_parts`]); the
    /// parts are validated (n = p·q, e·d ≡ 1).
    pub fn from_parts(parts: &RsaKeyParts) -> Result<Self, PkiError> {
        PublicExponent::from_bytes(&parts.public_exponent)?;
        let int = |b: &[u8]| BoxedUint::from_be_slice_vartime(b);
        let key = rsa::PrivateKey::from_components(
            int(&parts.modulus),
            int(&parts.public_exponent),
            int(&parts.private_exponent),
            vec![int(&parts.prime_p), int(&parts.prime_q)],
        )
        .map_err(|_| PkiError::Invalid {
            what: "RSA private key",
            reason: "inconsistent components",
        })?;
        Self::from_rsa(key)
    }

    /// Exports n, e, d, p, q as big-endian bytes so a personalization bureau can
    /// store them (in an encrypted key store: the private parts are secrets).
    pub fn to_parts(&self) -> Result<RsaKeyParts, PkiError> {
        let k = self.public.modulus_len();
        let half = k.div_ceil(2);
        let [p, q] = self.key.primes() else {
            return Err(PkiError::Invalid {
                what: "RSA private key",
                reason: "not a two-prime key",
            });
        };
        Ok(RsaKeyParts {
            modulus: self.public.modulus.clone(),
            public_exponent: self.public.exponent.clone(),
            private_exponent: to_fixed_be(self.key.d(), k)?,
            prime_p: to_fixed_be(p.as_ref(), half)?,
            prime_q: to_fixed_be(q.as_ref(), half)?,
        })
    }

    /// The public half.
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public
    }

    /// Modulus length in bytes.
    pub fn modulus_len(&self) -> usize {
        self.public.modulus_len()
    }

    /// Raw RSA private operation `x^d mod n` on exactly `modulus_len` bytes:
    /// ISO 9796-2 signing (Book 2 Annex A2.1) and PIN deciphering (§7.2).
    ///
    /// Uses CRT with base and exponent blinding drawn from `rng`, and checks the
    /// result with the public exponent (fault-attack countermeasure).
    pub fn private_op<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        input: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, PkiError> {
        let c = representative(input, &self.key, "RSA input")?;
        let m = rsa::hazmat::rsa_decrypt_and_check(&self.key, Some(rng), &c)
            .map_err(|_| PkiError::Rsa("private operation failed"))?;
        let m = Zeroizing::new(m);
        to_fixed_be(&m, self.modulus_len())
    }
}

impl fmt::Debug for RsaKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaKeyPair")
            .field("public", &self.public)
            .field("private", &"REDACTED")
            .finish()
    }
}

/// The parts of an RSA key pair as big-endian bytes (for storage by the bureau).
///
/// `d` is padded to the modulus length, `p` and `q` to half of it. Private parts
/// are zeroized on drop and never printed.
#[derive(Clone)]
pub struct RsaKeyParts {
    /// Modulus n.
    pub modulus: Vec<u8>,
    /// Public exponent e (`03` or `010001`).
    pub public_exponent: Vec<u8>,
    /// Private exponent d.
    pub private_exponent: Zeroizing<Vec<u8>>,
    /// First prime p.
    pub prime_p: Zeroizing<Vec<u8>>,
    /// Second prime q.
    pub prime_q: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for RsaKeyParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaKeyParts")
            .field("bits", &(self.modulus.len() * 8))
            .field("public_exponent", &hex::encode_upper(&self.public_exponent))
            .field("private_exponent", &"REDACTED")
            .field("prime_p", &"REDACTED")
            .field("prime_q", &"REDACTED")
            .finish()
    }
}
