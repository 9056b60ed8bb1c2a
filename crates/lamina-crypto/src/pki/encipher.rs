//! Offline enciphered PIN (Book 2 §7.1–§7.2).

use rand::CryptoRng;
use zeroize::Zeroizing;

use super::PkiError;
use super::key::{RsaKeyPair, RsaPublicKey};
use crate::sym::ct_eq;

const HEADER: u8 = 0x7F;
/// Header, PIN block, ICC unpredictable number.
const FIXED: usize = 1 + 8 + 8;

/// Terminal side (Book 2 §7.1): enciphers `7F ‖ PIN block ‖ ICC Unpredictable
/// Number ‖ random pad` (N_PE bytes) with the ICC PIN Encipherment public key
/// (or the ICC public key), raw RSA. `pin_block` is an ISO 9564 format 2 block;
/// `icc_unpredictable_number` the 8 bytes the card returned to GET CHALLENGE.
pub fn encipher_pin_block<R: CryptoRng + ?Sized>(
    key: &RsaPublicKey,
    rng: &mut R,
    pin_block: &[u8; 8],
    icc_unpredictable_number: &[u8; 8],
) -> Result<Vec<u8>, PkiError> {
    let k = key.modulus_len();
    if k < FIXED {
        return Err(PkiError::KeyLayout {
            what: "PIN encipherment key",
            reason: "too short",
        });
    }
    let mut msg = Zeroizing::new(vec![0u8; k]);
    msg[0] = HEADER;
    msg[1..9].copy_from_slice(pin_block);
    msg[9..FIXED].copy_from_slice(icc_unpredictable_number);
    rng.fill_bytes(&mut msg[FIXED..]);
    key.public_op(&msg)
}

/// Card side (Book 2 §7.2): deciphers with the private key, checks the `7F`
/// header and that the unpredictable number is the one the card issued; returns
/// the PIN block (zeroized on drop) for the card's PIN check.
pub fn decipher_pin_block<R: CryptoRng + ?Sized>(
    key: &RsaKeyPair,
    rng: &mut R,
    enciphered: &[u8],
    expected_unpredictable_number: &[u8; 8],
) -> Result<Zeroizing<[u8; 8]>, PkiError> {
    let k = key.modulus_len();
    if enciphered.len() != k {
        return Err(PkiError::Length {
            what: "enciphered PIN data",
            got: enciphered.len(),
            expected: k,
        });
    }
    let plain = key.private_op(rng, enciphered)?;
    if plain.first() != Some(&HEADER) {
        return Err(PkiError::PinHeader);
    }
    let un = plain.get(9..FIXED).ok_or(PkiError::PinHeader)?;
    if !ct_eq(un, expected_unpredictable_number) {
        return Err(PkiError::UnpredictableNumber);
    }
    let mut block = Zeroizing::new([0u8; 8]);
    block.copy_from_slice(plain.get(1..9).ok_or(PkiError::PinHeader)?);
    Ok(block)
}
