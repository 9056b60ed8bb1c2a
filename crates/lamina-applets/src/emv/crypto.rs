//! Card-side cryptographic data layouts shared with the issuer: Issuer Application
//! Data, cryptogram input, and the RSA hook.

use std::collections::BTreeMap;
use std::fmt;

use lamina_card::CardRng;
use lamina_crypto::emv::Cvn;
use lamina_crypto::pki::{PkiError, RsaKeyPair};
use lamina_emv::bitmaps::Cvr;
use lamina_emv::dol::{Dol, DolEntry};
use lamina_tlv::Tag;
use zeroize::Zeroizing;

/// The ICC's RSA private-key operations with the card RNG (blinding randomness).
///
/// [`PkiRsa`] is the engine to register: lamina-crypto's EMV PKI over the card
/// RNG (through [`lamina_card::RandBridge`]). Registering `None` makes the applet
/// refuse DDA, CDA and enciphered PIN with `6985` (a card without RSA).
pub trait IccRsa: Send + Sync {
    /// `lamina_crypto::pki::sign_dynamic_data` (DDA, EMV Book 2 §6.5.1; CDA §6.6.1
    /// with the Table 19 data and the Unpredictable Number).
    fn sign_dynamic_data(
        &self,
        key: &RsaKeyPair,
        rng: &mut dyn CardRng,
        icc_dynamic_data: &[u8],
        terminal_dynamic_data: &[u8],
    ) -> Result<Vec<u8>, PkiError>;

    /// `lamina_crypto::pki::decipher_pin_block` (offline enciphered PIN, Book 2 §7.2).
    fn decipher_pin_block(
        &self,
        key: &RsaKeyPair,
        rng: &mut dyn CardRng,
        enciphered: &[u8],
        unpredictable_number: &[u8; 8],
    ) -> Result<Zeroizing<[u8; 8]>, PkiError>;
}

/// The chip's RSA engine: `lamina_crypto::pki` (EMV Book 2 §6.5, §6.6, §7.2)
/// with the card's RNG for blinding and padding.
#[derive(Debug, Clone, Copy, Default)]
pub struct PkiRsa;

impl IccRsa for PkiRsa {
    fn sign_dynamic_data(
        &self,
        key: &RsaKeyPair,
        rng: &mut dyn CardRng,
        icc_dynamic_data: &[u8],
        terminal_dynamic_data: &[u8],
    ) -> Result<Vec<u8>, PkiError> {
        lamina_crypto::pki::sign_dynamic_data(
            key,
            &mut lamina_card::RandBridge(rng),
            icc_dynamic_data,
            terminal_dynamic_data,
        )
    }

    fn decipher_pin_block(
        &self,
        key: &RsaKeyPair,
        rng: &mut dyn CardRng,
        enciphered: &[u8],
        unpredictable_number: &[u8; 8],
    ) -> Result<Zeroizing<[u8; 8]>, PkiError> {
        lamina_crypto::pki::decipher_pin_block(
            key,
            &mut lamina_card::RandBridge(rng),
            enciphered,
            unpredictable_number,
        )
    }
}

impl fmt::Debug for dyn IccRsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IccRsa")
    }
}

/// Lamina's Issuer Application Data (`9F10`), 7 bytes, modelled on the VIS
/// layout: `06` (length of what follows) ‖ Derivation Key Index ‖ CVN byte
/// ([`CvnChoice::code`](super::CvnChoice::code)) ‖ CVR (4 bytes, [`Cvr`]).
pub fn issuer_application_data(dki: u8, cvn_code: u8, cvr: &Cvr) -> [u8; 7] {
    let c = cvr.as_bytes();
    [0x06, dki, cvn_code, c[0], c[1], c[2], c[3]]
}

/// The standard cryptogram data elements (`9F02 9F03 9F1A 95 5F2A 9A 9C 9F37`),
/// taken from the terminal's CDOL data.
pub fn standard_terminal_dol() -> Dol {
    let e = |t: u32, len: usize| DolEntry {
        tag: Tag::new(t),
        len,
    };
    Dol {
        entries: vec![
            e(0x9F02, 6),
            e(0x9F03, 6),
            e(0x9F1A, 2),
            e(0x95, 5),
            e(0x5F2A, 2),
            e(0x9A, 3),
            e(0x9C, 1),
            e(0x9F37, 4),
        ],
    }
}

/// The application cryptogram input the applet MACs (EMV Book 2 §8.1.1, the
/// profile's [`data_layout`](lamina_crypto::emv::CvnProfile::data_layout)):
///
/// `9F02 9F03 9F1A 95 5F2A 9A 9C 9F37` from `terminal` (the CDOL1 values, overlaid
/// by the CDOL2 values for the second GENERATE AC; absent elements are zeros) ‖
/// AIP ‖ ATC ‖ then, by CVN: the CVR (Visa CVN 10), the CVR ‖ `0000` in
/// Mastercard's 6-byte CVR slot (CVN 16), or the whole IAD (all others).
pub fn cryptogram_input(
    cvn: Cvn,
    terminal: &BTreeMap<Tag, Vec<u8>>,
    aip: [u8; 2],
    atc: u16,
    iad: &[u8; 7],
) -> Vec<u8> {
    let mut out = standard_terminal_dol().build(terminal);
    out.extend_from_slice(&aip);
    out.extend_from_slice(&atc.to_be_bytes());
    let cvr = &iad[3..7];
    match cvn {
        Cvn::Visa10 => out.extend_from_slice(cvr),
        Cvn::Mastercard16 => {
            out.extend_from_slice(cvr);
            out.extend_from_slice(&[0, 0]);
        }
        _ => out.extend_from_slice(iad),
    }
    out
}

/// The Unpredictable Number (`9F37`) among DOL values, zeros if absent.
pub fn unpredictable_number(values: &BTreeMap<Tag, Vec<u8>>) -> [u8; 4] {
    let mut un = [0u8; 4];
    if let Some(v) = values.get(&Tag::new(0x9F37)) {
        for (d, s) in un.iter_mut().zip(v.iter()) {
            *d = *s;
        }
    }
    un
}

/// Splits DOL-related data into a tag → value map.
pub fn dol_values(dol: &Dol, data: &[u8]) -> Option<BTreeMap<Tag, Vec<u8>>> {
    Some(
        dol.split(data)
            .ok()?
            .into_iter()
            .map(|(t, v)| (t, v.to_vec()))
            .collect(),
    )
}
