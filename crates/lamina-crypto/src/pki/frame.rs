//! ISO/IEC 9796-2 message recovery frame used by every EMV RSA signature
//! (Book 2 Annex A2.1): `6A ‖ data ‖ H ‖ BC`, H = SHA-1(data ‖ extra data).

use rand::CryptoRng;
use sha1::{Digest, Sha1};
use zeroize::Zeroizing;

use super::key::{RsaKeyPair, RsaPublicKey};
use super::{HASH_ALGORITHM_SHA1, PkiError};
use crate::sym::ct_eq;

/// Recovered Data Header.
pub(crate) const HEADER: u8 = 0x6A;
/// Recovered Data Trailer.
pub(crate) const TRAILER: u8 = 0xBC;
/// SHA-1 output length.
pub(crate) const HASH_LEN: usize = 20;
/// Pad pattern byte (Book 2 Tables 13, 14, 7, 17).
pub(crate) const PAD: u8 = 0xBB;
/// Bytes of the frame outside `data`: header, hash, trailer.
pub(crate) const OVERHEAD: usize = 1 + HASH_LEN + 1;

/// SHA-1 over the concatenation of `parts`.
pub(crate) fn sha1(parts: &[&[u8]]) -> [u8; HASH_LEN] {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Signs `data` (exactly `modulus_len - 22` bytes): the raw private operation on
/// `6A ‖ data ‖ SHA-1(data ‖ extra...) ‖ BC`.
pub(crate) fn sign<R: CryptoRng + ?Sized>(
    key: &RsaKeyPair,
    rng: &mut R,
    data: &[u8],
    extra: &[&[u8]],
) -> Result<Vec<u8>, PkiError> {
    let k = key.modulus_len();
    if data.len() + OVERHEAD != k {
        return Err(PkiError::Invalid {
            what: "signed data",
            reason: "does not fit the modulus length",
        });
    }
    let mut parts: Vec<&[u8]> = Vec::with_capacity(extra.len() + 1);
    parts.push(data);
    parts.extend_from_slice(extra);
    let hash = sha1(&parts);
    let mut msg = Zeroizing::new(Vec::with_capacity(k));
    msg.push(HEADER);
    msg.extend_from_slice(data);
    msg.extend_from_slice(&hash);
    msg.push(TRAILER);
    Ok(key.private_op(rng, &msg)?.to_vec())
}

/// A recovered frame whose length, trailer and header were checked.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    /// The data between header and hash.
    pub data: Vec<u8>,
    /// The recovered hash result.
    pub hash: [u8; HASH_LEN],
}

/// Book 2 steps common to §5.3, §5.4, §6.3–§6.5: length equals the modulus
/// length, apply the recovery function, trailer is `BC`, header is `6A`.
pub(crate) fn recover(
    key: &RsaPublicKey,
    signed: &[u8],
    what: &'static str,
) -> Result<Frame, PkiError> {
    let k = key.modulus_len();
    if signed.len() != k {
        return Err(PkiError::Length {
            what,
            got: signed.len(),
            expected: k,
        });
    }
    if k < OVERHEAD + 2 {
        return Err(PkiError::KeyLayout {
            what,
            reason: "modulus too short",
        });
    }
    let rec = key.public_op(signed).map_err(|e| match e {
        PkiError::OutOfRange { .. } => PkiError::OutOfRange { what },
        other => other,
    })?;
    let (&header, rest) = rec.split_first().ok_or(PkiError::Trailer { what })?;
    let (&trailer, body) = rest.split_last().ok_or(PkiError::Trailer { what })?;
    if trailer != TRAILER {
        return Err(PkiError::Trailer { what });
    }
    if header != HEADER {
        return Err(PkiError::Header { what });
    }
    let split = body
        .len()
        .checked_sub(HASH_LEN)
        .ok_or(PkiError::Trailer { what })?;
    let (data, hash) = body.split_at(split);
    let hash: [u8; HASH_LEN] = hash.try_into().map_err(|_| PkiError::Trailer { what })?;
    Ok(Frame {
        data: data.to_vec(),
        hash,
    })
}

/// Checks the hash algorithm indicator is SHA-1 and `hash == SHA-1(data ‖ extra...)`.
pub(crate) fn check_hash(
    what: &'static str,
    hash_algorithm: u8,
    data: &[u8],
    extra: &[&[u8]],
    hash: &[u8; HASH_LEN],
) -> Result<(), PkiError> {
    if hash_algorithm != HASH_ALGORITHM_SHA1 {
        return Err(PkiError::HashAlgorithm {
            what,
            got: hash_algorithm,
        });
    }
    let mut parts: Vec<&[u8]> = Vec::with_capacity(extra.len() + 1);
    parts.push(data);
    parts.extend_from_slice(extra);
    if ct_eq(&sha1(&parts), hash) {
        Ok(())
    } else {
        Err(PkiError::Hash { what })
    }
}

/// Checks the format byte (first byte of the recovered data).
pub(crate) fn check_format(what: &'static str, data: &[u8], expected: u8) -> Result<(), PkiError> {
    match data.first() {
        Some(&got) if got == expected => Ok(()),
        Some(&got) => Err(PkiError::Format {
            what,
            expected,
            got,
        }),
        None => Err(PkiError::Format {
            what,
            expected,
            got: 0,
        }),
    }
}
