//! EMV symmetric card cryptography: ICC master keys, session keys, application
//! cryptograms by Cryptogram Version Number, ARPC, and issuer script secure
//! messaging (EMV 4.3/4.4 Book 2 Annex A1, §8 and §9).
//!
//! The layers, from the issuer's master keys down to a cryptogram:
//!
//! 1. [`derive_icc_mk`] — Issuer Master Key (IMK) + PAN + PSN → ICC Master Key
//!    (Book 2 A1.4, options A and B).
//! 2. [`derive_common_session_key`], [`derive_ac_session_key`],
//!    [`derive_script_session_key`] — ICC Master Key → per-transaction session key
//!    (Book 2 A1.3; Mastercard SKD; Visa secure messaging keys).
//! 3. [`generate_ac`] / [`verify_ac`] — the cryptogram itself, chosen by a [`Cvn`]
//!    whose parameters are rows of the table [`CVN_PROFILES`].
//! 4. [`generate_arpc`] / [`verify_arpc`] — issuer authentication (Book 2 §8.2,
//!    A1.2 methods 1 and 2).
//! 5. [`script_command`], [`encrypt_script_data`], [`pin_change_command`] — issuer
//!    script secure messaging (Book 2 §9.2 integrity, §9.3 confidentiality).
//!
//! TDES profiles follow published scheme practice and are checked against
//! HSM-confirmed public vectors (see `tests/vectors/emv_*.txt`). The AES forms are
//! *modelled on* Book 2's general AES rules; no public AES vector was available to
//! us, so they are covered by property and cross-variant tests only (see each
//! function's documentation).
//!
//! Inputs are keys as byte slices, the PAN as a digit string and the PAN Sequence
//! Number (tag 5F34) as its one BCD byte. Derived keys are [`SecretKey`]s. Errors
//! never contain key bytes or the PAN.

use sha1::{Digest, Sha1};
use zeroize::Zeroizing;

use crate::sym::{self, Algorithm, Padding, SecretKey};
use crate::{Error, Result};

// ---------------------------------------------------------------------------
// Input validation
// ---------------------------------------------------------------------------

/// Decimal digit values of a PAN (12–19 digits, ISO/IEC 7812-1).
pub(crate) fn pan_digits(pan: &str) -> Result<Zeroizing<Vec<u8>>> {
    let bad = Error::Invalid {
        what: "PAN",
        reason: "must be 12 to 19 decimal digits",
    };
    if !(12..=19).contains(&pan.len()) {
        return Err(bad);
    }
    let mut out = Zeroizing::new(Vec::with_capacity(pan.len()));
    for c in pan.bytes() {
        if !c.is_ascii_digit() {
            return Err(bad);
        }
        out.push(c - b'0');
    }
    Ok(out)
}

/// The two BCD digits of a PAN Sequence Number byte.
fn psn_digits(psn: u8) -> Result<[u8; 2]> {
    let (hi, lo) = (psn >> 4, psn & 0x0F);
    if hi > 9 || lo > 9 {
        return Err(Error::Invalid {
            what: "PAN sequence number",
            reason: "not two BCD digits",
        });
    }
    Ok([hi, lo])
}

/// Packs an even number of nibbles into bytes.
fn pack_nibbles(nibbles: &[u8]) -> Vec<u8> {
    nibbles
        .chunks(2)
        .map(|p| (p.first().copied().unwrap_or(0) << 4) | p.get(1).copied().unwrap_or(0))
        .collect()
}

fn tdes_double_key(key: &[u8], what: &'static str) -> Result<()> {
    if key.len() != 16 {
        return Err(Error::KeyLength {
            algorithm: what,
            got: key.len(),
            expected: "16 bytes (double-length TDES)",
        });
    }
    Ok(())
}

fn aes_key(key: &[u8], what: &'static str) -> Result<()> {
    if !matches!(key.len(), 16 | 24 | 32) {
        return Err(Error::KeyLength {
            algorithm: what,
            got: key.len(),
            expected: "16, 24 or 32 bytes (AES)",
        });
    }
    Ok(())
}

fn xor_into(a: &mut [u8], b: &[u8]) {
    sym::xor_in_place(a, b);
}

// ---------------------------------------------------------------------------
// A1.4 ICC master key derivation
// ---------------------------------------------------------------------------

/// How the ICC Master Key is derived from the Issuer Master Key (Book 2 A1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MkDerivation {
    /// Option A (A1.4.1): Y = the rightmost 16 digits of PAN ‖ PSN (left-padded
    /// with zeros when shorter).
    OptionA,
    /// Option B (A1.4.2): for PANs longer than 16 digits Y is the decimalised
    /// SHA-1 of PAN ‖ PSN; for PANs of 16 digits or fewer it is option A.
    OptionB,
}

/// Y for option A: rightmost 16 digits of PAN ‖ PSN, zero-padded on the left.
fn y_option_a(pan: &[u8], psn: [u8; 2]) -> [u8; 8] {
    let mut x: Zeroizing<Vec<u8>> = Zeroizing::new(pan.iter().chain(psn.iter()).copied().collect());
    while x.len() < 16 {
        x.insert(0, 0);
    }
    let tail = x.get(x.len() - 16..).unwrap_or(&[]);
    let packed = pack_nibbles(tail);
    let mut y = [0u8; 8];
    y.copy_from_slice(packed.get(..8).unwrap_or(&[0; 8]));
    y
}

/// Y for option B (PAN > 16 digits): SHA-1 over PAN ‖ PSN (left-padded with one
/// zero nibble to whole bytes), then the first 16 decimal nibbles of the digest;
/// if fewer than 16, the hex nibbles A–F in order, decimalised A→0 … F→5.
fn y_option_b(pan: &[u8], psn: [u8; 2]) -> [u8; 8] {
    let mut x: Zeroizing<Vec<u8>> = Zeroizing::new(pan.iter().chain(psn.iter()).copied().collect());
    if x.len() % 2 == 1 {
        x.insert(0, 0);
    }
    let digest = Sha1::digest(pack_nibbles(&x));
    let nibbles: Vec<u8> = digest.iter().flat_map(|b| [b >> 4, b & 0x0F]).collect();
    let mut y_digits: Vec<u8> = nibbles
        .iter()
        .copied()
        .filter(|&n| n < 10)
        .take(16)
        .collect();
    let missing = 16 - y_digits.len();
    y_digits.extend(
        nibbles
            .iter()
            .filter(|&&n| n >= 10)
            .take(missing)
            .map(|n| n - 10),
    );
    let packed = pack_nibbles(&y_digits);
    let mut y = [0u8; 8];
    y.copy_from_slice(packed.get(..8).unwrap_or(&[0; 8]));
    y
}

/// Z from Y: TDES `DES3(IMK)[Y] ‖ DES3(IMK)[Y ⊕ FF…FF]` with odd parity (A1.4.1).
///
/// AES (modelled on A1.4.1's AES form, not checked against a published vector):
/// Y is left-padded with zero bytes to the 16-byte block; for a 128-bit IMK
/// `MK = AES(IMK)[Y]`, for 192/256-bit IMKs `MK` is the leftmost k bits of
/// `AES(IMK)[Y] ‖ AES(IMK)[Y ⊕ FF…FF]`. This is the same rule as the TDES form
/// (where k is twice the block size).
fn mk_from_y(alg: Algorithm, imk: &[u8], y: [u8; 8]) -> Result<SecretKey> {
    match alg {
        Algorithm::Tdes => {
            if imk.len() != 16 && imk.len() != 24 {
                return Err(Error::KeyLength {
                    algorithm: "issuer master key (TDES)",
                    got: imk.len(),
                    expected: "16 or 24 bytes",
                });
            }
            let mut input = [0u8; 16];
            input[..8].copy_from_slice(&y);
            for (o, b) in input[8..].iter_mut().zip(y) {
                *o = !b;
            }
            let mut z = Zeroizing::new(sym::ecb_encrypt(Algorithm::Tdes, imk, &input)?);
            sym::adjust_odd_parity(&mut z);
            Ok(SecretKey::new(z.to_vec()))
        }
        Algorithm::Aes => {
            aes_key(imk, "issuer master key (AES)")?;
            let mut yb = [0u8; 16];
            yb[8..].copy_from_slice(&y);
            aes_two_block_derive(imk, &yb, &{
                let mut inv = yb;
                inv.iter_mut().for_each(|b| *b = !*b);
                inv
            })
        }
    }
}

/// `ALG(K)[a]` when k = 128, else the leftmost k bits of `ALG(K)[a] ‖ ALG(K)[b]`.
fn aes_two_block_derive(key: &[u8], a: &[u8; 16], b: &[u8; 16]) -> Result<SecretKey> {
    let mut out = Zeroizing::new(sym::aes_encrypt_block(key, a)?.to_vec());
    if key.len() > 16 {
        out.extend_from_slice(&sym::aes_encrypt_block(key, b)?);
        out.truncate(key.len());
    }
    Ok(SecretKey::new(out.to_vec()))
}

/// Derives the ICC Master Key (MK_AC, MK_SMI, MK_SMC, …) from an Issuer Master
/// Key, the PAN (12–19 digits) and the PAN Sequence Number (tag 5F34 as its BCD
/// byte; pass `0x00` when absent), per EMV Book 2 A1.4.1 (option A) or A1.4.2
/// (option B).
///
/// For TDES the result is a 16-byte key with odd parity. For AES see
/// [`MkDerivation`] and the note on the AES form (modelled, not vector-checked).
pub fn derive_icc_mk(
    alg: Algorithm,
    method: MkDerivation,
    imk: &[u8],
    pan: &str,
    psn: u8,
) -> Result<SecretKey> {
    let digits = pan_digits(pan)?;
    let psn = psn_digits(psn)?;
    let y = match method {
        MkDerivation::OptionB if digits.len() > 16 => y_option_b(&digits, psn),
        _ => y_option_a(&digits, psn),
    };
    mk_from_y(alg, imk, y)
}

// ---------------------------------------------------------------------------
// A1.3 session keys
// ---------------------------------------------------------------------------

/// EMV Common Session Key derivation (Book 2 A1.3.1), general form.
///
/// `r` is the diversification value, one block long (8 bytes TDES, 16 AES).
/// With R2 replaced by `F0` (left) and `0F` (right):
/// * TDES (16-byte MK): `SK = DES3(MK)[R0 R1 F0 R3…R7] ‖ DES3(MK)[R0 R1 0F R3…R7]`,
///   odd parity adjusted (parity is ignored by DES; HSMs set it).
/// * AES, 128-bit MK: `SK = AES(MK)[R0 R1 F0 R3…R15]`; 192/256-bit MK: the leftmost
///   k bits of `AES(MK)[… F0 …] ‖ AES(MK)[… 0F …]` (modelled on A1.3.1's AES case;
///   no public vector).
pub fn derive_common_session_key(alg: Algorithm, mk: &[u8], r: &[u8]) -> Result<SecretKey> {
    let bs = alg.block_size();
    if r.len() != bs {
        return Err(Error::Length {
            what: "session key diversification value R",
            got: r.len(),
            expected: "one cipher block (8 bytes TDES, 16 bytes AES)",
        });
    }
    let mut left = r.to_vec();
    let mut right = r.to_vec();
    if let (Some(l), Some(rr)) = (left.get_mut(2), right.get_mut(2)) {
        *l = 0xF0;
        *rr = 0x0F;
    }
    match alg {
        Algorithm::Tdes => {
            tdes_double_key(mk, "ICC master key")?;
            let mut sk = Zeroizing::new(sym::ecb_encrypt(alg, mk, &[left, right].concat())?);
            sym::adjust_odd_parity(&mut sk);
            Ok(SecretKey::new(sk.to_vec()))
        }
        Algorithm::Aes => {
            aes_key(mk, "ICC master key")?;
            let mut a = [0u8; 16];
            let mut b = [0u8; 16];
            a.copy_from_slice(&left);
            b.copy_from_slice(&right);
            aes_two_block_derive(mk, &a, &b)
        }
    }
}

/// How an application cryptogram session key is obtained from MK_AC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionKeyDerivation {
    /// No session key: the cryptogram is computed with the ICC Master Key itself
    /// (Visa CVN 10).
    None,
    /// EMV Common Session Key derivation (A1.3.1) with R = ATC ‖ 00…00.
    Common,
    /// Mastercard proprietary SKD (M/Chip 2.1/4): R = ATC ‖ 00 ‖ 00 ‖ UN, i.e.
    /// `SK_L = DES3(MK)[ATC ‖ F0 ‖ 00 ‖ UN]`, `SK_R = DES3(MK)[ATC ‖ 0F ‖ 00 ‖ UN]`.
    /// TDES only.
    Mastercard,
}

/// Derives the application cryptogram session key SK_AC from MK_AC, the ATC
/// (tag 9F36) and the terminal's Unpredictable Number (tag 9F37).
pub fn derive_ac_session_key(
    kind: SessionKeyDerivation,
    alg: Algorithm,
    mk_ac: &[u8],
    atc: u16,
    un: [u8; 4],
) -> Result<SecretKey> {
    let mut r = vec![0u8; alg.block_size()];
    r[..2].copy_from_slice(&atc.to_be_bytes());
    match kind {
        SessionKeyDerivation::None => {
            match alg {
                Algorithm::Tdes => tdes_double_key(mk_ac, "ICC master key")?,
                Algorithm::Aes => aes_key(mk_ac, "ICC master key")?,
            }
            Ok(SecretKey::new(mk_ac.to_vec()))
        }
        SessionKeyDerivation::Common => derive_common_session_key(alg, mk_ac, &r),
        SessionKeyDerivation::Mastercard => {
            if alg != Algorithm::Tdes {
                return Err(Error::Invalid {
                    what: "session key derivation",
                    reason: "Mastercard SKD is defined for TDES only",
                });
            }
            r[4..8].copy_from_slice(&un);
            derive_common_session_key(alg, mk_ac, &r)
        }
    }
}

/// How secure messaging session keys (SK_SMI, SK_SMC) are obtained from
/// MK_SMI / MK_SMC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScriptKeyDerivation {
    /// Visa (VIS 1.5): `SK_L = MK_L ⊕ (00…00 ‖ ATC)`, `SK_R = MK_R ⊕ (00…00 ‖ ¬ATC)`,
    /// odd parity. TDES only.
    Visa,
    /// EMV Common Session Key derivation (A1.3.1) with R = the ARQC (EMV SU-46 /
    /// M/Chip). For AES, R = ARQC ‖ 00×8 (modelled; no public vector).
    Common,
}

/// Derives a secure messaging session key from MK_SMI or MK_SMC.
pub fn derive_script_session_key(
    kind: ScriptKeyDerivation,
    alg: Algorithm,
    mk_sm: &[u8],
    atc: u16,
    arqc: &[u8; 8],
) -> Result<SecretKey> {
    match kind {
        ScriptKeyDerivation::Visa => {
            if alg != Algorithm::Tdes {
                return Err(Error::Invalid {
                    what: "script key derivation",
                    reason: "the Visa secure messaging key derivation is TDES only",
                });
            }
            tdes_double_key(mk_sm, "ICC secure messaging master key")?;
            let mut sk = Zeroizing::new(mk_sm.to_vec());
            let [hi, lo] = atc.to_be_bytes();
            xor_into(&mut sk[6..8], &[hi, lo]);
            xor_into(&mut sk[14..16], &[!hi, !lo]);
            sym::adjust_odd_parity(&mut sk);
            Ok(SecretKey::new(sk.to_vec()))
        }
        ScriptKeyDerivation::Common => {
            let mut r = vec![0u8; alg.block_size()];
            r[..8].copy_from_slice(arqc);
            derive_common_session_key(alg, mk_sm, &r)
        }
    }
}

// ---------------------------------------------------------------------------
// CVN profiles
// ---------------------------------------------------------------------------

/// A Cryptogram Version Number profile this crate implements. Its parameters are
/// the row of [`CVN_PROFILES`] returned by [`Cvn::profile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cvn {
    /// Visa CVN 10 (VIS 1.4/1.5): MAC algorithm 3 under MK_AC (no session key),
    /// zero padding, ARPC method 1 under MK_AC, Visa script keys.
    Visa10,
    /// Visa CVN 18 (VIS 1.5/1.6): EMV common session key, method 2 padding, data
    /// ends with the Issuer Application Data, ARPC method 2.
    Visa18,
    /// Mastercard M/Chip 4 CVN 0x10 (16): Mastercard SKD with the UN, method 2
    /// padding, ARPC method 1 under the session key. *Modelled on* M/Chip 4: the
    /// cryptographic parameters equal [`Cvn::Interac133`]'s, which are
    /// vector-checked; the M/Chip script MAC layout is not independently checked.
    Mastercard16,
    /// Interac CVN 133 (as profiled by the open-source pyemv library): Mastercard
    /// SKD, EMV padding, ARPC method 1 under the session key, common-derivation
    /// script keys from the ARQC, Mastercard script encryption.
    Interac133,
    /// EMV Common Core Definitions (Book 2 Annex A1 with the CCD options, TDES):
    /// common session key (SU-46), method 2 padding, data = the standard prefix ‖
    /// IAD (Book 2 Table CCD 3), ARPC method 2, common-derivation script keys from
    /// the ARQC, script MAC over header ‖ data, EMV script encipherment (always
    /// padded). The cryptogram and ARPC are checked end to end against an
    /// HSM-confirmed chain vector with R = ATC ‖ 00… and real CDOL data, and the
    /// script encipherment against an HSM-confirmed CCD PIN change record; the
    /// script MAC (whose Lc counts data and MAC) has no end-to-end CCD vector.
    EmvCcd,
    /// EMV AES: common session key, AES-CMAC truncated to 8 bytes, ARPC method 2.
    /// *Modelled on* EMV Book 2's AES option; not a scheme profile and not
    /// vector-checked.
    EmvAes,
}

/// How the application cryptogram MAC is computed (Book 2 A1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcMac {
    /// ISO/IEC 9797-1 MAC algorithm 3 (TDES retail MAC) with the given padding.
    Alg3(Padding),
    /// AES-CMAC (ISO/IEC 9797-1 MAC algorithm 5), leftmost 8 bytes.
    AesCmac,
}

/// ARPC method (Book 2 §8.2 / A1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpcMethod {
    /// Method 1: 8-byte ARPC = ALG(K)[ARQC ⊕ (ARC ‖ 00…00)].
    Method1,
    /// Method 2: 4-byte ARPC = MAC(SK)[ARQC ‖ CSU ‖ proprietary data].
    Method2,
}

/// Which key computes the ARPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpcKey {
    /// The ICC Master Key MK_AC.
    MasterKey,
    /// The cryptogram session key SK_AC.
    SessionKey,
}

/// What a script command MAC covers (Book 2 §9.2.1, format 2 data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScriptMacData {
    /// CLA INS P1 P2 Lc ‖ ATC ‖ ARQC ‖ data (Visa: the ATC and ARQC are MACed
    /// but not transmitted).
    HeaderAtcArqcData,
    /// CLA INS P1 P2 Lc ‖ data.
    HeaderData,
}

/// How script command data is enciphered (Book 2 §9.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScriptEncryption {
    /// Visa: a length byte is prepended, ISO 9797-1 method 2 padding, ECB.
    Visa,
    /// Mastercard: CBC with zero IV; method 2 padding only if the data is not
    /// block-aligned.
    Mastercard,
    /// EMV/CCD: CBC with zero IV, method 2 padding always.
    Emv,
}

/// PIN block carried in a PIN CHANGE/UNBLOCK script command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangePinBlock {
    /// VIS PIN block: (PIN length ‖ PIN ‖ F…) ⊕ (00000000 ‖ MK_AC bytes 4–7),
    /// optionally ⊕ the current PIN left-justified with zeros.
    Vis,
    /// ISO 9564-1 format 2 (`2` ‖ length ‖ PIN ‖ F…).
    Iso2,
}

/// One row of the CVN table: everything that distinguishes one cryptogram
/// version from another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CvnProfile {
    /// The profile.
    pub cvn: Cvn,
    /// Payment scheme.
    pub scheme: &'static str,
    /// The scheme's CVN value as carried in the Issuer Application Data (decimal).
    pub number: Option<u8>,
    /// True if every parameter follows the named public profile and is checked by a
    /// published vector; false if the row is modelled on it.
    pub vector_checked: bool,
    /// Block cipher family.
    pub algorithm: Algorithm,
    /// ICC master key derivation used by the issuer for this profile.
    pub mk_derivation: MkDerivation,
    /// Cryptogram session key derivation.
    pub session: SessionKeyDerivation,
    /// Cryptogram MAC.
    pub mac: AcMac,
    /// Minimum length of the cryptogram input data (the standard prefix
    /// 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36 is 33 bytes); shorter data is
    /// rejected as a likely CDOL mismatch.
    pub min_data_len: usize,
    /// Documentation of the expected cryptogram input (built by the caller from
    /// the CDOL).
    pub data_layout: &'static str,
    /// ARPC method.
    pub arpc: ArpcMethod,
    /// ARPC key.
    pub arpc_key: ArpcKey,
    /// Secure messaging session key derivation.
    pub script_keys: ScriptKeyDerivation,
    /// Script MAC input layout.
    pub script_mac_data: ScriptMacData,
    /// Script data encipherment.
    pub script_encryption: ScriptEncryption,
    /// PIN change block format.
    pub pin_block: ChangePinBlock,
}

const STANDARD_PREFIX: &str = "9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36";

/// The CVN table (one row per [`Cvn`]).
pub const CVN_PROFILES: [CvnProfile; 6] = [
    CvnProfile {
        cvn: Cvn::Visa10,
        scheme: "Visa",
        number: Some(10),
        vector_checked: true,
        algorithm: Algorithm::Tdes,
        mk_derivation: MkDerivation::OptionA,
        session: SessionKeyDerivation::None,
        mac: AcMac::Alg3(Padding::Method1),
        min_data_len: 37,
        data_layout: "9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36 ‖ CVR (4 bytes of 9F10)",
        arpc: ArpcMethod::Method1,
        arpc_key: ArpcKey::MasterKey,
        script_keys: ScriptKeyDerivation::Visa,
        script_mac_data: ScriptMacData::HeaderAtcArqcData,
        script_encryption: ScriptEncryption::Visa,
        pin_block: ChangePinBlock::Vis,
    },
    CvnProfile {
        cvn: Cvn::Visa18,
        scheme: "Visa",
        number: Some(18),
        vector_checked: true,
        algorithm: Algorithm::Tdes,
        mk_derivation: MkDerivation::OptionB,
        session: SessionKeyDerivation::Common,
        mac: AcMac::Alg3(Padding::Method2),
        min_data_len: 33,
        data_layout: "9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36 ‖ 9F10 (full IAD)",
        arpc: ArpcMethod::Method2,
        arpc_key: ArpcKey::SessionKey,
        script_keys: ScriptKeyDerivation::Visa,
        script_mac_data: ScriptMacData::HeaderAtcArqcData,
        script_encryption: ScriptEncryption::Visa,
        pin_block: ChangePinBlock::Vis,
    },
    CvnProfile {
        cvn: Cvn::Mastercard16,
        scheme: "Mastercard",
        number: Some(16),
        vector_checked: false,
        algorithm: Algorithm::Tdes,
        mk_derivation: MkDerivation::OptionA,
        session: SessionKeyDerivation::Mastercard,
        mac: AcMac::Alg3(Padding::Method2),
        min_data_len: 39,
        data_layout: "9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36 ‖ CVR (6 bytes of 9F10)",
        arpc: ArpcMethod::Method1,
        arpc_key: ArpcKey::SessionKey,
        script_keys: ScriptKeyDerivation::Common,
        script_mac_data: ScriptMacData::HeaderData,
        script_encryption: ScriptEncryption::Mastercard,
        pin_block: ChangePinBlock::Iso2,
    },
    CvnProfile {
        cvn: Cvn::Interac133,
        scheme: "Interac",
        number: Some(133),
        vector_checked: true,
        algorithm: Algorithm::Tdes,
        mk_derivation: MkDerivation::OptionA,
        session: SessionKeyDerivation::Mastercard,
        mac: AcMac::Alg3(Padding::Method2),
        min_data_len: 33,
        data_layout: "9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36 ‖ 9F10 (full IAD)",
        arpc: ArpcMethod::Method1,
        arpc_key: ArpcKey::SessionKey,
        script_keys: ScriptKeyDerivation::Common,
        script_mac_data: ScriptMacData::HeaderData,
        script_encryption: ScriptEncryption::Mastercard,
        pin_block: ChangePinBlock::Iso2,
    },
    CvnProfile {
        cvn: Cvn::EmvCcd,
        scheme: "EMV CCD",
        number: None,
        vector_checked: false,
        algorithm: Algorithm::Tdes,
        mk_derivation: MkDerivation::OptionA,
        session: SessionKeyDerivation::Common,
        mac: AcMac::Alg3(Padding::Method2),
        min_data_len: 33,
        data_layout: "9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36 ‖ 9F10 (full IAD)",
        arpc: ArpcMethod::Method2,
        arpc_key: ArpcKey::SessionKey,
        script_keys: ScriptKeyDerivation::Common,
        script_mac_data: ScriptMacData::HeaderData,
        script_encryption: ScriptEncryption::Emv,
        pin_block: ChangePinBlock::Iso2,
    },
    CvnProfile {
        cvn: Cvn::EmvAes,
        scheme: "EMV",
        number: None,
        vector_checked: false,
        algorithm: Algorithm::Aes,
        mk_derivation: MkDerivation::OptionA,
        session: SessionKeyDerivation::Common,
        mac: AcMac::AesCmac,
        min_data_len: 0,
        data_layout: "CDOL1/CDOL2 data as built by the terminal (no fixed layout)",
        arpc: ArpcMethod::Method2,
        arpc_key: ArpcKey::SessionKey,
        script_keys: ScriptKeyDerivation::Common,
        script_mac_data: ScriptMacData::HeaderData,
        script_encryption: ScriptEncryption::Emv,
        pin_block: ChangePinBlock::Iso2,
    },
];

impl Cvn {
    /// This CVN's row of [`CVN_PROFILES`].
    pub fn profile(self) -> &'static CvnProfile {
        // Every variant has exactly one row (checked by a unit test); fall back to
        // the first row rather than panic.
        CVN_PROFILES
            .iter()
            .find(|p| p.cvn == self)
            .unwrap_or(&CVN_PROFILES[0])
    }

    /// Looks a profile up by scheme name (case-insensitive) and CVN number.
    pub fn lookup(scheme: &str, number: u8) -> Option<Cvn> {
        CVN_PROFILES
            .iter()
            .find(|p| p.number == Some(number) && p.scheme.eq_ignore_ascii_case(scheme))
            .map(|p| p.cvn)
    }
}

/// The documented standard prefix of cryptogram data for the TDES profiles.
pub const STANDARD_AC_DATA_PREFIX: &str = STANDARD_PREFIX;

// ---------------------------------------------------------------------------
// Application cryptograms (A1.2)
// ---------------------------------------------------------------------------

/// Computes an 8-byte application cryptogram MAC over `data` with `key` (SK_AC,
/// or MK_AC for profiles without session keys) — Book 2 A1.2: MAC algorithm 3
/// with the given padding for TDES, AES-CMAC truncated to 8 bytes for AES.
pub fn ac_mac(mac: AcMac, key: &[u8], data: &[u8]) -> Result<[u8; 8]> {
    match mac {
        AcMac::Alg3(padding) => {
            tdes_double_key(key, "cryptogram key")?;
            sym::mac_alg3(key, data, padding)
        }
        AcMac::AesCmac => {
            let tag = sym::aes_cmac(key, data)?;
            let mut out = [0u8; 8];
            out.copy_from_slice(&tag[..8]);
            Ok(out)
        }
    }
}

/// The cryptogram session key SK_AC of a profile (or MK_AC itself for
/// profiles without a session key).
pub fn ac_session_key(cvn: Cvn, mk_ac: &[u8], atc: u16, un: [u8; 4]) -> Result<SecretKey> {
    let p = cvn.profile();
    derive_ac_session_key(p.session, p.algorithm, mk_ac, atc, un)
}

/// Generates an application cryptogram (ARQC, TC or AAC — the computation is the
/// same) per the profile of `cvn` (Book 2 §8.1, A1.2).
///
/// `mk_ac` is the ICC Master Key for AC; `atc` (9F36) and `un` (9F37) feed the
/// session key derivation (ignored by profiles without session keys); `data` is
/// the cryptogram input the caller built from the CDOL (see
/// [`CvnProfile::data_layout`]).
pub fn generate_ac(cvn: Cvn, mk_ac: &[u8], atc: u16, un: [u8; 4], data: &[u8]) -> Result<[u8; 8]> {
    let p = cvn.profile();
    if data.len() < p.min_data_len {
        return Err(Error::Length {
            what: "cryptogram input data",
            got: data.len(),
            expected: "at least the profile's minimum (see CvnProfile::min_data_len)",
        });
    }
    let sk = ac_session_key(cvn, mk_ac, atc, un)?;
    ac_mac(p.mac, sk.as_bytes(), data)
}

/// Verifies an application cryptogram in constant time; `Err(Verification)` if
/// it does not match.
pub fn verify_ac(
    cvn: Cvn,
    mk_ac: &[u8],
    atc: u16,
    un: [u8; 4],
    data: &[u8],
    ac: &[u8],
) -> Result<()> {
    let want = generate_ac(cvn, mk_ac, atc, un, data)?;
    if sym::ct_eq(&want, ac) {
        Ok(())
    } else {
        Err(Error::Verification("application cryptogram"))
    }
}

// ---------------------------------------------------------------------------
// ARPC (§8.2, A1.2)
// ---------------------------------------------------------------------------

/// ARPC method 1 (Book 2 §8.2.1): `ALG(K)[ARQC ⊕ (ARC ‖ 00…00)]`, 8 bytes.
///
/// For AES the 8-byte value is right-padded with zeros to 16 bytes and the ARPC
/// is the leftmost 8 bytes of the AES encryption (modelled; no public vector).
pub fn arpc_method1(alg: Algorithm, key: &[u8], arqc: &[u8; 8], arc: [u8; 2]) -> Result<[u8; 8]> {
    let mut y = vec![0u8; alg.block_size()];
    y[..8].copy_from_slice(arqc);
    xor_into(&mut y[..2], &arc);
    let e = match alg {
        Algorithm::Tdes => {
            tdes_double_key(key, "ARPC key")?;
            sym::ecb_encrypt(alg, key, &y)?
        }
        Algorithm::Aes => sym::ecb_encrypt(alg, key, &y)?,
    };
    let mut out = [0u8; 8];
    out.copy_from_slice(e.get(..8).unwrap_or(&[0; 8]));
    Ok(out)
}

/// ARPC method 2 (Book 2 §8.2.2): the leftmost 4 bytes of the MAC over
/// ARQC ‖ CSU ‖ proprietary authentication data (0–8 bytes), MAC algorithm 3
/// with method 2 padding (TDES) or AES-CMAC (AES).
pub fn arpc_method2(
    alg: Algorithm,
    key: &[u8],
    arqc: &[u8; 8],
    csu: [u8; 4],
    proprietary: &[u8],
) -> Result<[u8; 4]> {
    if proprietary.len() > 8 {
        return Err(Error::Length {
            what: "proprietary authentication data",
            got: proprietary.len(),
            expected: "0 to 8 bytes",
        });
    }
    let input = [&arqc[..], &csu, proprietary].concat();
    let mac = match alg {
        Algorithm::Tdes => ac_mac(AcMac::Alg3(Padding::Method2), key, &input)?,
        Algorithm::Aes => ac_mac(AcMac::AesCmac, key, &input)?,
    };
    Ok([mac[0], mac[1], mac[2], mac[3]])
}

/// The issuer's response data for an ARPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpcResponse<'a> {
    /// Method 1: the 2-byte Authorisation Response Code.
    Method1 {
        /// ARC (tag 8A as sent to the card).
        arc: [u8; 2],
    },
    /// Method 2: the Card Status Update and optional proprietary data.
    Method2 {
        /// CSU (4 bytes).
        csu: [u8; 4],
        /// Proprietary Authentication Data (0–8 bytes).
        proprietary: &'a [u8],
    },
}

/// Generates the ARPC for a profile: method and key (MK_AC or SK_AC) come from
/// the [`CvnProfile`]; `response` must match the profile's method.
pub fn generate_arpc(
    cvn: Cvn,
    mk_ac: &[u8],
    atc: u16,
    un: [u8; 4],
    arqc: &[u8; 8],
    response: ArpcResponse<'_>,
) -> Result<Vec<u8>> {
    let p = cvn.profile();
    let key = match p.arpc_key {
        ArpcKey::MasterKey => SecretKey::new(mk_ac.to_vec()),
        ArpcKey::SessionKey => ac_session_key(cvn, mk_ac, atc, un)?,
    };
    match (p.arpc, response) {
        (ArpcMethod::Method1, ArpcResponse::Method1 { arc }) => {
            Ok(arpc_method1(p.algorithm, key.as_bytes(), arqc, arc)?.to_vec())
        }
        (ArpcMethod::Method2, ArpcResponse::Method2 { csu, proprietary }) => {
            Ok(arpc_method2(p.algorithm, key.as_bytes(), arqc, csu, proprietary)?.to_vec())
        }
        _ => Err(Error::Invalid {
            what: "ARPC response data",
            reason: "does not match the profile's ARPC method",
        }),
    }
}

/// Verifies an ARPC in constant time (the card's side of issuer authentication).
pub fn verify_arpc(
    cvn: Cvn,
    mk_ac: &[u8],
    atc: u16,
    un: [u8; 4],
    arqc: &[u8; 8],
    response: ArpcResponse<'_>,
    arpc: &[u8],
) -> Result<()> {
    let want = generate_arpc(cvn, mk_ac, atc, un, arqc, response)?;
    if sym::ct_eq(&want, arpc) {
        Ok(())
    } else {
        Err(Error::Verification("ARPC"))
    }
}

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
/// derived from `mk_smi` with the profile's [`ScriptKeyDerivation`], and the
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
        ScriptEncryption::Mastercard if data.len() % bs == 0 && !data.is_empty() => {
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
/// with the profile's [`ScriptKeyDerivation`] and the profile's
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cvn_has_exactly_one_row() {
        for cvn in [
            Cvn::Visa10,
            Cvn::Visa18,
            Cvn::Mastercard16,
            Cvn::Interac133,
            Cvn::EmvCcd,
            Cvn::EmvAes,
        ] {
            assert_eq!(CVN_PROFILES.iter().filter(|p| p.cvn == cvn).count(), 1);
            assert_eq!(cvn.profile().cvn, cvn);
        }
        assert_eq!(Cvn::lookup("visa", 18), Some(Cvn::Visa18));
        assert_eq!(Cvn::lookup("Mastercard", 16), Some(Cvn::Mastercard16));
        assert_eq!(Cvn::lookup("visa", 16), None);
    }

    #[test]
    fn option_b_decimalisation_uses_letters_when_short() {
        // 18-digit PAN whose SHA-1 has fewer than 16 decimal nibbles (pyemv
        // test_derive_icc_mk_b_sha_pad); Y must still be 16 decimal digits.
        let d = pan_digits("000000000000000005").unwrap();
        let y = y_option_b(&d, [2, 3]);
        assert!(y.iter().all(|b| (b >> 4) < 10 && (b & 0x0F) < 10));
    }

    #[test]
    fn input_validation() {
        assert!(pan_digits("12345678901").is_err());
        assert!(pan_digits("12345678901234567890").is_err());
        assert!(pan_digits("1234567890123a").is_err());
        assert!(psn_digits(0x0A).is_err());
        assert!(psn_digits(0x99).is_ok());
    }
}
