//! Static Data Authentication: Signed Static Application Data, format `03`
//! (Book 2 §5.2, §5.4, Table 7).

use rand::CryptoRng;

use super::frame::{self, HASH_LEN, OVERHEAD, PAD};
use super::key::{RsaKeyPair, RsaPublicKey};
use super::{HASH_ALGORITHM_SHA1, PkiError};

const WHAT: &str = "signed static application data";
const FORMAT: u8 = 0x03;
/// Format, hash algorithm, DAC.
const FIXED: usize = 4;

/// Signs the static data with the issuer private key: Signed Static Application
/// Data (tag `93`) over `03 ‖ 01 ‖ DAC ‖ BB…` and SHA-1 of that ‖ `static_data`
/// (Book 2 §5.2, Table 7). `dac` is the Data Authentication Code (tag `9F45`).
pub fn sign_static_data<R: CryptoRng + ?Sized>(
    issuer: &RsaKeyPair,
    rng: &mut R,
    dac: [u8; 2],
    static_data: &[u8],
) -> Result<Vec<u8>, PkiError> {
    let k = issuer.modulus_len();
    let len = k
        .checked_sub(OVERHEAD)
        .filter(|l| *l >= FIXED)
        .ok_or(PkiError::KeyLayout {
            what: WHAT,
            reason: "issuer key too short",
        })?;
    let mut data = vec![FORMAT, HASH_ALGORITHM_SHA1, dac[0], dac[1]];
    data.resize(len, PAD);
    frame::sign(issuer, rng, &data, &[static_data])
}

/// Signed Static Application Data after recovery (Book 2 §5.4 steps 1–3);
/// [`verify`](Self::verify) authenticates it against the static data.
#[derive(Debug, Clone)]
pub struct RecoveredStaticData {
    data: Vec<u8>,
    hash: [u8; HASH_LEN],
}

impl RecoveredStaticData {
    /// Hash Algorithm Indicator as recovered.
    pub fn hash_algorithm(&self) -> u8 {
        self.data.get(1).copied().unwrap_or(0)
    }
    /// Data Authentication Code as recovered (not yet authenticated).
    pub fn data_authentication_code(&self) -> [u8; 2] {
        [
            self.data.get(2).copied().unwrap_or(0),
            self.data.get(3).copied().unwrap_or(0),
        ]
    }
    /// The recovered Hash Result.
    pub fn hash_result(&self) -> &[u8; HASH_LEN] {
        &self.hash
    }

    /// Book 2 §5.4 steps 4–7: SHA-1 over the recovered data ‖ static data equals
    /// the hash result. Returns the Data Authentication Code (to store as `9F45`).
    pub fn verify(&self, static_data: &[u8]) -> Result<[u8; 2], PkiError> {
        frame::check_hash(
            WHAT,
            self.hash_algorithm(),
            &self.data,
            &[static_data],
            &self.hash,
        )?;
        Ok(self.data_authentication_code())
    }
}

/// Applies the issuer public key to Signed Static Application Data (tag `93`):
/// length, trailer, header, format `03` (Book 2 §5.4 steps 1–3).
pub fn recover_signed_static_data(
    issuer_key: &RsaPublicKey,
    ssad: &[u8],
) -> Result<RecoveredStaticData, PkiError> {
    let f = frame::recover(issuer_key, ssad, WHAT)?;
    frame::check_format(WHAT, &f.data, FORMAT)?;
    if f.data.len() < FIXED {
        return Err(PkiError::KeyLayout {
            what: WHAT,
            reason: "issuer key too short",
        });
    }
    Ok(RecoveredStaticData {
        data: f.data,
        hash: f.hash,
    })
}

/// Verifies Signed Static Application Data (Book 2 §5.4), returning the DAC.
pub fn verify_signed_static_data(
    issuer_key: &RsaPublicKey,
    ssad: &[u8],
    static_data: &[u8],
) -> Result<[u8; 2], PkiError> {
    recover_signed_static_data(issuer_key, ssad)?.verify(static_data)
}
