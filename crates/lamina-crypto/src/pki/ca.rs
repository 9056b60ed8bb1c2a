//! Certification Authority public keys (Book 2 §11.2, Table 23) and a CA key
//! pair for test and laboratory use.

use core::fmt;

use rand::CryptoRng;

use super::cert::{self, IssuerCertificateContent, PublicKeyCertificate};
use super::frame::{HASH_LEN, sha1};
use super::key::{PublicExponent, RsaKeyPair, RsaPublicKey};
use super::types::Date;
use super::{HASH_ALGORITHM_SHA1, PK_ALGORITHM_RSA, PkiError};
use crate::sym::ct_eq;

/// A Certification Authority public key as held by a terminal (Book 2 §11.2, Table 23).
#[derive(Clone, PartialEq, Eq)]
pub struct CaPublicKey {
    /// Registered Application Provider Identifier (first 5 bytes of the AID).
    pub rid: [u8; 5],
    /// CA Public Key Index (tag `8F` on the card).
    pub index: u8,
    /// CA Public Key Modulus, N_CA bytes.
    pub modulus: Vec<u8>,
    /// CA Public Key Exponent (`03` or `010001`).
    pub exponent: Vec<u8>,
    /// Last date on which the key may be used.
    pub expiry: Date,
    /// CA Hash Algorithm Indicator (`01` = SHA-1).
    pub hash_algorithm: u8,
    /// CA Public Key Algorithm Indicator (`01` = RSA).
    pub pk_algorithm: u8,
}

impl CaPublicKey {
    /// CA Public Key Check Sum: SHA-1 over RID ‖ CA PK Index ‖ Modulus ‖ Exponent
    /// (Book 2 §11.2, Table 23; Annex A2.1 hash over the concatenation).
    pub fn checksum(&self) -> [u8; HASH_LEN] {
        sha1(&[&self.rid, &[self.index], &self.modulus, &self.exponent])
    }

    /// Compares [`checksum`](Self::checksum) with the published check sum
    /// (constant time); fails with [`PkiError::Checksum`].
    pub fn verify_checksum(&self, expected: &[u8]) -> Result<(), PkiError> {
        if ct_eq(&self.checksum(), expected) {
            Ok(())
        } else {
            Err(PkiError::Checksum)
        }
    }

    /// True while `today` is not after [`expiry`](Self::expiry).
    pub fn is_valid_on(&self, today: Date) -> bool {
        today <= self.expiry
    }

    /// The RSA key, after checking the algorithm indicators (`01`/`01`).
    pub fn public_key(&self) -> Result<RsaPublicKey, PkiError> {
        if self.hash_algorithm != HASH_ALGORITHM_SHA1 {
            return Err(PkiError::HashAlgorithm {
                what: "CA public key",
                got: self.hash_algorithm,
            });
        }
        if self.pk_algorithm != PK_ALGORITHM_RSA {
            return Err(PkiError::PkAlgorithm {
                what: "CA public key",
                got: self.pk_algorithm,
            });
        }
        RsaPublicKey::new(&self.modulus, &self.exponent)
    }
}

impl fmt::Debug for CaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaPublicKey")
            .field("rid", &hex::encode_upper(self.rid))
            .field("index", &format_args!("{:02X}", self.index))
            .field("bits", &(self.modulus.len() * 8))
            .field("exponent", &hex::encode_upper(&self.exponent))
            .field("expiry", &self.expiry)
            .field("hash_algorithm", &self.hash_algorithm)
            .field("pk_algorithm", &self.pk_algorithm)
            .finish()
    }
}

/// A CA key pair: our own test CA that certifies issuer keys (format `02`).
///
/// Real scheme CA keys live in the schemes' HSMs; this exists for test cards,
/// the emulator and laboratory terminals.
#[derive(Clone)]
pub struct CaKeyPair {
    rid: [u8; 5],
    index: u8,
    expiry: Date,
    key: RsaKeyPair,
}

impl CaKeyPair {
    /// Generates a CA key of `bits` bits (1024..=1984, multiple of 8).
    pub fn generate<R: CryptoRng + ?Sized>(
        rng: &mut R,
        rid: [u8; 5],
        index: u8,
        bits: usize,
        exponent: PublicExponent,
        expiry: Date,
    ) -> Result<Self, PkiError> {
        Ok(Self::from_key(
            rid,
            index,
            expiry,
            RsaKeyPair::generate(rng, bits, exponent)?,
        ))
    }

    /// Wraps an existing key pair.
    pub fn from_key(rid: [u8; 5], index: u8, expiry: Date, key: RsaKeyPair) -> Self {
        Self {
            rid,
            index,
            expiry,
            key,
        }
    }

    /// The public key as a terminal stores it.
    pub fn public_key(&self) -> CaPublicKey {
        let pk = self.key.public_key();
        CaPublicKey {
            rid: self.rid,
            index: self.index,
            modulus: pk.modulus().to_vec(),
            exponent: pk.exponent().to_vec(),
            expiry: self.expiry,
            hash_algorithm: HASH_ALGORITHM_SHA1,
            pk_algorithm: PK_ALGORITHM_RSA,
        }
    }

    /// The underlying key pair.
    pub fn key(&self) -> &RsaKeyPair {
        &self.key
    }

    /// Builds an Issuer Public Key Certificate (tags `90`, `92`, `9F32`), Book 2 §5.1 / Table 13.
    pub fn certify_issuer<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        content: &IssuerCertificateContent,
    ) -> Result<PublicKeyCertificate, PkiError> {
        cert::certify_issuer(&self.key, rng, content)
    }
}

impl fmt::Debug for CaKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaKeyPair")
            .field("rid", &hex::encode_upper(self.rid))
            .field("index", &format_args!("{:02X}", self.index))
            .field("expiry", &self.expiry)
            .field("key", &self.key)
            .finish()
    }
}
