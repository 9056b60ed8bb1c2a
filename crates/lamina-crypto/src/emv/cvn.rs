//! The Cryptogram Version Number table: one row of parameters per profile.

use super::keys::{MkDerivation, ScriptKeyDerivation, SessionKeyDerivation};
use crate::sym::{Algorithm, Padding};

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

impl AcMac {
    /// The MAC's name ("ISO 9797-1 MAC 3, method 2 padding", "AES-CMAC").
    pub fn name(self) -> String {
        match self {
            AcMac::Alg3(p) => format!("ISO 9797-1 MAC 3, {}", p.name()),
            AcMac::AesCmac => "AES-CMAC".into(),
        }
    }
}

/// ARPC method (Book 2 §8.2 / A1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpcMethod {
    /// Method 1: 8-byte ARPC = ALG(K)[ARQC ⊕ (ARC ‖ 00…00)].
    Method1,
    /// Method 2: 4-byte ARPC = MAC(SK)[ARQC ‖ CSU ‖ proprietary data].
    Method2,
}

impl ArpcMethod {
    /// "method 1" or "method 2" (Book 2 §8.2).
    pub const fn name(self) -> &'static str {
        match self {
            ArpcMethod::Method1 => "method 1",
            ArpcMethod::Method2 => "method 2",
        }
    }
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
    /// The profile's name on the command line and in JSON (`visa10`, `emv-ccd`
    /// …; `lamina_host::cards::parse_cvn` reads it back).
    pub const fn name(self) -> &'static str {
        match self {
            Cvn::Visa10 => "visa10",
            Cvn::Visa18 => "visa18",
            Cvn::Mastercard16 => "mastercard16",
            Cvn::Interac133 => "interac133",
            Cvn::EmvCcd => "emv-ccd",
            Cvn::EmvAes => "emv-aes",
        }
    }

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
}
