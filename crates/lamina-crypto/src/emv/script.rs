//! Issuer script secure messaging (EMV Book 2 §9.2 integrity, §9.3
//! confidentiality) and the PIN CHANGE/UNBLOCK command.

use zeroize::Zeroizing;

use super::cryptogram::ac_mac;
use super::cvn::{AcMac, ChangePinBlock, Cvn, ScriptEncryption, ScriptMacData};
use super::keys::derive_script_session_key;
use super::{pack_nibbles, tdes_double_key, xor_into};
use crate::sym::{self, Algorithm, Padding};
use crate::{Error, Result};

// ---------------------------------------------------------------------------
// Issuer script secure messaging (§9.2, §9.3)
// ---------------------------------------------------------------------------

/// Script command MAC (Book 2 §9.2.3): MAC algorithm 3 with method 2 padding
/// (TDES) or AES-CMAC (AES) over `input`, truncated to `len` bytes (4–8).
pub fn command_mac(alg: Algorithm, sk_smi: &[u8], input: &[u8], len: usize) -> Result<Vec<u8>> {
    if !(4..=8).contains(&len) {
        return Err(Error::Length {
            what: "script MAC",
            got: len,
            expected: "4 to 8 bytes",
        });
    }
    let mac = match alg {
        Algorithm::Tdes => ac_mac(AcMac::Alg3(Padding::Method2), sk_smi, input)?,
        Algorithm::Aes => ac_mac(AcMac::AesCmac, sk_smi, input)?,
    };
    Ok(mac[..len].to_vec())
}

/// The MAC input of a script command for a profile: CLA INS P1 P2 Lc, then
/// (per [`ScriptMacData`]) ATC ‖ ARQC, then the (already enciphered) data.
/// Lc counts the data and the MAC.
fn script_mac_input(
    layout: ScriptMacData,
    header: [u8; 4],
    atc: u16,
    arqc: &[u8; 8],
    data: &[u8],
    mac_len: usize,
) -> Result<Vec<u8>> {
    let lc = u8::try_from(data.len() + mac_len).map_err(|_| Error::Length {
        what: "script command data",
        got: data.len(),
        expected: "at most 255 bytes including the MAC",
    })?;
    let mut input = header.to_vec();
    input.push(lc);
    if layout == ScriptMacData::HeaderAtcArqcData {
        input.extend_from_slice(&atc.to_be_bytes());
        input.extend_from_slice(arqc);
    }
    input.extend_from_slice(data);
    Ok(input)
}

/// Computes the MAC of a script command for a profile (Book 2 §9.2): SK_SMI is
/// derived from `mk_smi` with the profile's [`ScriptKeyDerivation`](crate::emv::ScriptKeyDerivation), and the
/// MAC covers `header` (CLA INS P1 P2), Lc, optionally ATC ‖ ARQC, and `data`.
pub fn script_mac(
    cvn: Cvn,
    mk_smi: &[u8],
    atc: u16,
    arqc: &[u8; 8],
    header: [u8; 4],
    data: &[u8],
    mac_len: usize,
) -> Result<Vec<u8>> {
    let p = cvn.profile();
    let sk = derive_script_session_key(p.script_keys, p.algorithm, mk_smi, atc, arqc)?;
    let input = script_mac_input(p.script_mac_data, header, atc, arqc, data, mac_len)?;
    command_mac(p.algorithm, sk.as_bytes(), &input, mac_len)
}

/// Builds a complete secured script command APDU: CLA INS P1 P2 Lc ‖ data ‖ MAC.
/// `data` is sent as given (encipher it first with [`encrypt_script_data`] when
/// confidentiality is needed).
pub fn script_command(
    cvn: Cvn,
    mk_smi: &[u8],
    atc: u16,
    arqc: &[u8; 8],
    header: [u8; 4],
    data: &[u8],
    mac_len: usize,
) -> Result<Vec<u8>> {
    let mac = script_mac(cvn, mk_smi, atc, arqc, header, data, mac_len)?;
    let lc = u8::try_from(data.len() + mac_len).map_err(|_| Error::Length {
        what: "script command data",
        got: data.len(),
        expected: "at most 255 bytes including the MAC",
    })?;
    let mut apdu = header.to_vec();
    apdu.push(lc);
    apdu.extend_from_slice(data);
    apdu.extend_from_slice(&mac);
    Ok(apdu)
}

/// Verifies the MAC of a received script command (the card's side), in constant
/// time. `apdu` is CLA INS P1 P2 Lc ‖ data ‖ MAC with a MAC of `mac_len` bytes.
pub fn verify_script_command(
    cvn: Cvn,
    mk_smi: &[u8],
    atc: u16,
    arqc: &[u8; 8],
    apdu: &[u8],
    mac_len: usize,
) -> Result<()> {
    let short = Error::Length {
        what: "script command",
        got: apdu.len(),
        expected: "CLA INS P1 P2 Lc ‖ data ‖ MAC with Lc consistent",
    };
    let (hdr, rest) = apdu.split_at_checked(5).ok_or(short.clone())?;
    let lc = usize::from(*hdr.get(4).ok_or(short.clone())?);
    if rest.len() != lc || lc < mac_len {
        return Err(short);
    }
    let (data, mac) = rest.split_at(lc - mac_len);
    let header = [hdr[0], hdr[1], hdr[2], hdr[3]];
    let want = script_mac(cvn, mk_smi, atc, arqc, header, data, mac_len)?;
    if sym::ct_eq(&want, mac) {
        Ok(())
    } else {
        Err(Error::Verification("script command MAC"))
    }
}

/// Enciphers script command data under SK_SMC (Book 2 §9.3) with the given
/// method (see [`ScriptEncryption`]). AES uses CBC with a zero IV and method 2
/// padding to 16 bytes for the Mastercard and EMV methods (modelled).
pub fn encrypt_command_data(
    kind: ScriptEncryption,
    alg: Algorithm,
    sk_smc: &[u8],
    data: &[u8],
) -> Result<Vec<u8>> {
    let bs = alg.block_size();
    let zero_iv = vec![0u8; bs];
    if alg == Algorithm::Tdes {
        tdes_double_key(sk_smc, "script confidentiality key")?;
    }
    match kind {
        ScriptEncryption::Visa => {
            let len = u8::try_from(data.len()).map_err(|_| Error::Length {
                what: "script plaintext",
                got: data.len(),
                expected: "at most 255 bytes",
            })?;
            let mut buf = Zeroizing::new(Vec::with_capacity(data.len() + 1));
            buf.push(len);
            buf.extend_from_slice(data);
            let padded = Zeroizing::new(sym::pad(&buf, bs, Padding::Method2));
            sym::ecb_encrypt(alg, sk_smc, &padded)
        }
        ScriptEncryption::Mastercard if data.len().is_multiple_of(bs) && !data.is_empty() => {
            sym::cbc_encrypt(alg, sk_smc, &zero_iv, data)
        }
        ScriptEncryption::Mastercard | ScriptEncryption::Emv => {
            let padded = Zeroizing::new(sym::pad(data, bs, Padding::Method2));
            sym::cbc_encrypt(alg, sk_smc, &zero_iv, &padded)
        }
    }
}

/// Deciphers script command data (the card's side of [`encrypt_command_data`]).
///
/// For the Mastercard method, block-aligned plaintext is not padded, so the
/// padding cannot be told apart from data: the result is returned as
/// deciphered, padding included, and the caller (who knows the expected length,
/// e.g. an 8-byte PIN block) strips it.
pub fn decrypt_command_data(
    kind: ScriptEncryption,
    alg: Algorithm,
    sk_smc: &[u8],
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let bs = alg.block_size();
    let zero_iv = vec![0u8; bs];
    if alg == Algorithm::Tdes {
        tdes_double_key(sk_smc, "script confidentiality key")?;
    }
    let bad_padding = Error::Invalid {
        what: "script data",
        reason: "bad padding after decipherment",
    };
    match kind {
        ScriptEncryption::Visa => {
            let plain = Zeroizing::new(sym::ecb_decrypt(alg, sk_smc, data)?);
            let unpadded = sym::unpad_method2(&plain).map_err(|_| bad_padding.clone())?;
            let (len, body) = unpadded.split_first().ok_or(bad_padding.clone())?;
            if usize::from(*len) != body.len() {
                return Err(bad_padding);
            }
            Ok(Zeroizing::new(body.to_vec()))
        }
        ScriptEncryption::Mastercard => Ok(Zeroizing::new(sym::cbc_decrypt(
            alg, sk_smc, &zero_iv, data,
        )?)),
        ScriptEncryption::Emv => {
            let plain = Zeroizing::new(sym::cbc_decrypt(alg, sk_smc, &zero_iv, data)?);
            let unpadded = sym::unpad_method2(&plain).map_err(|_| bad_padding)?;
            Ok(Zeroizing::new(unpadded.to_vec()))
        }
    }
}

/// Enciphers script data for a profile: SK_SMC is derived from `mk_smc`
/// with the profile's [`ScriptKeyDerivation`](crate::emv::ScriptKeyDerivation) and the profile's
/// [`ScriptEncryption`] is applied.
pub fn encrypt_script_data(
    cvn: Cvn,
    mk_smc: &[u8],
    atc: u16,
    arqc: &[u8; 8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let p = cvn.profile();
    let sk = derive_script_session_key(p.script_keys, p.algorithm, mk_smc, atc, arqc)?;
    encrypt_command_data(p.script_encryption, p.algorithm, sk.as_bytes(), plaintext)
}

/// Deciphers script data for a profile (the card's side of
/// [`encrypt_script_data`]).
pub fn decrypt_script_data(
    cvn: Cvn,
    mk_smc: &[u8],
    atc: u16,
    arqc: &[u8; 8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let p = cvn.profile();
    let sk = derive_script_session_key(p.script_keys, p.algorithm, mk_smc, atc, arqc)?;
    decrypt_command_data(p.script_encryption, p.algorithm, sk.as_bytes(), ciphertext)
}

/// PIN digits (4–12) as nibble values.
fn pin_nibbles(pin: &str, what: &'static str) -> Result<Zeroizing<Vec<u8>>> {
    let bad = Error::Invalid {
        what,
        reason: "must be 4 to 12 decimal digits",
    };
    if !(4..=12).contains(&pin.len()) || !pin.bytes().all(|c| c.is_ascii_digit()) {
        return Err(bad);
    }
    Ok(Zeroizing::new(pin.bytes().map(|c| c - b'0').collect()))
}

/// The 8-byte PIN block carried by a PIN CHANGE/UNBLOCK script command.
///
/// * [`ChangePinBlock::Iso2`]: ISO 9564-1 format 2, `2L PP PP … FF`.
/// * [`ChangePinBlock::Vis`] (VIS 1.5 PIN change): `(L ‖ PIN ‖ F…)` ⊕
///   `(00 00 00 00 ‖ MK_AC[4..8])`, then, when the current PIN is given,
///   ⊕ the current PIN's digits left-justified and zero-filled to 16 nibbles.
///
/// `mk_ac` is only used by the VIS format (16-byte TDES MK_AC).
pub fn pin_change_block(
    kind: ChangePinBlock,
    mk_ac: &[u8],
    new_pin: &str,
    current_pin: Option<&str>,
) -> Result<Zeroizing<[u8; 8]>> {
    let pin = pin_nibbles(new_pin, "new PIN")?;
    let len = u8::try_from(pin.len()).unwrap_or(0);
    let mut nibbles = Zeroizing::new(Vec::with_capacity(16));
    match kind {
        ChangePinBlock::Iso2 => nibbles.extend_from_slice(&[2, len]),
        ChangePinBlock::Vis => nibbles.extend_from_slice(&[len >> 4, len & 0x0F]),
    }
    nibbles.extend_from_slice(&pin);
    nibbles.resize(16, 0x0F);
    let mut block = Zeroizing::new([0u8; 8]);
    block.copy_from_slice(&pack_nibbles(&nibbles));
    if kind == ChangePinBlock::Vis {
        tdes_double_key(mk_ac, "ICC master key for AC")?;
        xor_into(&mut block[4..], &mk_ac[4..8]);
        if let Some(cur) = current_pin {
            let mut c = Zeroizing::new(pin_nibbles(cur, "current PIN")?.to_vec());
            c.resize(16, 0);
            xor_into(&mut block[..], &pack_nibbles(&c));
        }
    } else if current_pin.is_some() {
        return Err(Error::Invalid {
            what: "current PIN",
            reason: "the ISO format 2 PIN change block does not carry the current PIN",
        });
    }
    Ok(block)
}

/// The three ICC master keys a card holds for symmetric cryptography.
#[derive(Clone, Copy)]
pub struct IccKeys<'a> {
    /// MK_AC: application cryptograms (and the VIS PIN block).
    pub ac: &'a [u8],
    /// MK_SMI: secure messaging for integrity.
    pub smi: &'a [u8],
    /// MK_SMC: secure messaging for confidentiality.
    pub smc: &'a [u8],
}

impl core::fmt::Debug for IccKeys<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("IccKeys(REDACTED)")
    }
}

/// Builds a complete PIN CHANGE/UNBLOCK (INS 24) script command with an
/// enciphered new PIN (Book 2 §9.3 and the scheme PIN change practice):
/// `84 24 00 P2 Lc ‖ E(PIN block) ‖ MAC`, with P2 = 01 when the current PIN is
/// included (VIS only) and 02 otherwise, and an 8-byte MAC.
pub fn pin_change_command(
    cvn: Cvn,
    keys: IccKeys<'_>,
    atc: u16,
    arqc: &[u8; 8],
    new_pin: &str,
    current_pin: Option<&str>,
) -> Result<Vec<u8>> {
    let p = cvn.profile();
    let block = pin_change_block(p.pin_block, keys.ac, new_pin, current_pin)?;
    let enc = encrypt_script_data(cvn, keys.smc, atc, arqc, &block[..])?;
    let p2 = if current_pin.is_some() { 0x01 } else { 0x02 };
    script_command(cvn, keys.smi, atc, arqc, [0x84, 0x24, 0x00, p2], &enc, 8)
}
