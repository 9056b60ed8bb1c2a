//! Personalization input of the EMV applet: the typed [`EmvPersonalization`], its
//! encoding as Data Grouping Identifiers (DGIs, the EMV Card Personalization
//! Specification model) and the mapping of each DGI to the applet's NVM records.
//!
//! Both personalization routes go through [`dgi_records`]:
//!
//! * **typed**: [`EmvPersonalization::nvm_records`] (used by
//!   [`personalize_image`] on a card image);
//! * **APDU**: the bureau sends [`EmvPersonalization::store_data_script`] as STORE
//!   DATA commands (GlobalPlatform Card Specification v2.3 §11.11, EMV CPS §4.3)
//!   and the applet applies each DGI it receives.
//!
//! So both produce the same records byte for byte (checked by a test).
//!
//! ## DGIs (Lamina's allocation, modelled on EMV CPS)
//!
//! | DGI | content | NVM record(s) |
//! |---|---|---|
//! | `SSRR` (SS = SFI `01`–`1E`, RR ≥ `01`) | record RR of SFI SS, the `70` template as READ RECORD returns it | `rec.SSRR` |
//! | `B001`–`B004` | lists of primitive TLV data objects (tables below) | `do.<TAG>` per object |
//! | `B005` | data objects readable by GET DATA | `do.<TAG>` per object, `getdata` = their tags |
//! | `8001` / `8002` / `8003` | ICC master keys MK-AC / MK-SMI / MK-SMC | `key.ac` / `key.smi` / `key.smc` |
//! | `8010` | reference PIN as an ISO 9564-1 format 2 block | `pin` |
//! | `8201`–`8205` | ICC RSA key n, e, d, p, q | `rsa.n` … `rsa.q` |
//!
//! `B001` selection: `50` label, `9F12` preferred name, `87` priority, `5F2D`
//! language, `9F38` PDOL, `BF0C` FCI issuer discretionary data (raw content).
//! `B002` processing: `82` AIP, `94` AFL, `8C` CDOL1, `8D` CDOL2, `9F49` DDOL, `8E`
//! CVM list, `9F0D`/`9F0E`/`9F0F` IACs, `9F08` application version, `9F42`
//! application currency, `5F28` issuer country.
//! `B003` risk and log: `9F14` LCOL, `9F23` UCOL, `9F54` cumulative total
//! transaction amount limit (CTTAL), `9F5C` upper limit (CTTAUL) (both n12), `9F4F`
//! log format, `9F4D` log entry.
//! `B004` Lamina proprietary: `DF01` CVN code ([`CvnChoice::code`]), `DF02` ODA
//! method, `DF03` response format, `DF04` Derivation Key Index, `DF05` PIN try limit.
//!
//! Once the last block is processed the applet writes its initial state (ATC `0000`,
//! last online ATC `0000`, PIN try counter = limit, offline counters 0, flags 0) and
//! the marker `perso`: see [`initial_state_records`].

use std::collections::BTreeMap;
use std::fmt;

use lamina_crypto::emv::Cvn;
use lamina_crypto::pin::{Pin, encode_iso2};
use lamina_crypto::pki::RsaKeyParts;
use lamina_tlv::{Tag, Tlv};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::EmvError;
use super::store as keys;

/// A cryptogram version the applet can be personalized with (serde name in
/// snake case). Maps to [`lamina_crypto::emv::Cvn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CvnChoice {
    /// Visa CVN 10.
    Visa10,
    /// Visa CVN 18.
    Visa18,
    /// Mastercard CVN 16 (modelled).
    Mastercard16,
    /// Interac CVN 133.
    Interac133,
    /// EMV Common Core Definitions (TDES).
    EmvCcd,
    /// EMV AES (modelled).
    EmvAes,
}

impl CvnChoice {
    /// The crypto profile.
    pub fn cvn(self) -> Cvn {
        match self {
            CvnChoice::Visa10 => Cvn::Visa10,
            CvnChoice::Visa18 => Cvn::Visa18,
            CvnChoice::Mastercard16 => Cvn::Mastercard16,
            CvnChoice::Interac133 => Cvn::Interac133,
            CvnChoice::EmvCcd => Cvn::EmvCcd,
            CvnChoice::EmvAes => Cvn::EmvAes,
        }
    }

    /// The CVN byte carried in Lamina's Issuer Application Data: the scheme's
    /// number (10, 18, 16, 133), or Lamina's own values `E1` (EMV CCD) and `E2`
    /// (EMV AES), which are not scheme assignments.
    pub fn code(self) -> u8 {
        match self {
            CvnChoice::Visa10 => 10,
            CvnChoice::Visa18 => 18,
            CvnChoice::Mastercard16 => 16,
            CvnChoice::Interac133 => 133,
            CvnChoice::EmvCcd => 0xE1,
            CvnChoice::EmvAes => 0xE2,
        }
    }

    /// The inverse of [`CvnChoice::code`].
    pub fn from_code(b: u8) -> Option<Self> {
        [
            CvnChoice::Visa10,
            CvnChoice::Visa18,
            CvnChoice::Mastercard16,
            CvnChoice::Interac133,
            CvnChoice::EmvCcd,
            CvnChoice::EmvAes,
        ]
        .into_iter()
        .find(|c| c.code() == b)
    }
}

/// Offline data authentication method the card supports (EMV Book 2 §5–6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OdaMethod {
    /// No offline data authentication.
    None,
    /// Static data authentication (nothing for the card to compute).
    Sda,
    /// Dynamic data authentication: INTERNAL AUTHENTICATE.
    Dda,
    /// Combined DDA/AC: INTERNAL AUTHENTICATE and the CDA signature in GENERATE AC.
    Cda,
}

impl OdaMethod {
    /// Code stored in `DF02`.
    pub fn code(self) -> u8 {
        match self {
            OdaMethod::None => 0,
            OdaMethod::Sda => 1,
            OdaMethod::Dda => 2,
            OdaMethod::Cda => 3,
        }
    }

    /// From the `DF02` code.
    pub fn from_code(b: u8) -> Option<Self> {
        match b {
            0 => Some(OdaMethod::None),
            1 => Some(OdaMethod::Sda),
            2 => Some(OdaMethod::Dda),
            3 => Some(OdaMethod::Cda),
            _ => None,
        }
    }
}

/// Response message template of GET PROCESSING OPTIONS, GENERATE AC and INTERNAL
/// AUTHENTICATE (EMV Book 3 §6.5.5.4, §6.5.8.4, §6.5.9.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Format 1: primitive `80` with concatenated values.
    Format1,
    /// Format 2: constructed `77` with TLV objects.
    Format2,
}

/// One record of an SFI: the `70` template READ RECORD returns.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmvRecord {
    /// Short file identifier, 1..=30.
    pub sfi: u8,
    /// Record number, 1..=255.
    pub record: u8,
    /// The record as returned (tag `70` template), hex.
    #[serde(with = "hex_vec")]
    pub data: Vec<u8>,
}

impl fmt::Debug for EmvRecord {
    /// Length only: records hold the PAN and track data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "EmvRecord {{ sfi: {}, record: {}, data: <{} bytes> }}",
            self.sfi,
            self.record,
            self.data.len()
        )
    }
}

/// Card risk management limits (EMV Book 3 Annex C, issuer-defined velocity checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmvLimits {
    /// Lower Consecutive Offline Limit (`9F14`): above it the card asks to go online.
    pub lcol: u8,
    /// Upper Consecutive Offline Limit (`9F23`): above it the card declines when
    /// the terminal cannot go online.
    pub ucol: u8,
    /// Cumulative Total Transaction Amount Limit (`9F54`, minor units): above it the
    /// card asks to go online.
    pub cttal: u64,
    /// Cumulative Total Transaction Amount Upper Limit (`9F5C`, minor units): above
    /// it the card declines offline.
    pub cttaul: u64,
}

/// Transaction log configuration (EMV Book 3 Annex D).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// SFI of the log file (`9F4D` byte 1), 11..=30.
    pub sfi: u8,
    /// Number of records (`9F4D` byte 2), 1..=30.
    pub records: u8,
    /// Log Format (`9F4F`): a DOL of the values kept per transaction.
    #[serde(with = "hex_vec")]
    pub format: Vec<u8>,
}

/// A byte string that is a secret (keys, private key parts): hex in JSON,
/// zeroized on drop, `REDACTED` in `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretBytes(pub Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wraps bytes.
    pub fn new(b: impl Into<Vec<u8>>) -> Self {
        SecretBytes(Zeroizing::new(b.into()))
    }

    /// The bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REDACTED")
    }
}

impl Serialize for SecretBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode_upper(&*self.0))
    }
}

impl<'de> Deserialize<'de> for SecretBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Zeroizing::new(String::deserialize(d)?);
        hex::decode(&*s)
            .map(SecretBytes::new)
            .map_err(|_| serde::de::Error::custom("secret: expected hex"))
    }
}

/// The three ICC master keys derived by the bureau (EMV Book 2 A1.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IccMasterKeys {
    /// MK-AC: application cryptograms, ARPC.
    pub ac: SecretBytes,
    /// MK-SMI: secure messaging integrity.
    pub smi: SecretBytes,
    /// MK-SMC: secure messaging confidentiality.
    pub smc: SecretBytes,
}

/// The ICC RSA private key as stored by the bureau (see
/// [`lamina_crypto::pki::RsaKeyParts`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IccRsaKey {
    /// Modulus n (public).
    #[serde(with = "hex_vec")]
    pub modulus: Vec<u8>,
    /// Public exponent e (`03` or `010001`).
    #[serde(with = "hex_vec")]
    pub public_exponent: Vec<u8>,
    /// Private exponent d.
    pub private_exponent: SecretBytes,
    /// Prime p.
    pub prime_p: SecretBytes,
    /// Prime q.
    pub prime_q: SecretBytes,
}

impl From<&RsaKeyParts> for IccRsaKey {
    fn from(p: &RsaKeyParts) -> Self {
        IccRsaKey {
            modulus: p.modulus.clone(),
            public_exponent: p.public_exponent.clone(),
            private_exponent: SecretBytes::new(p.private_exponent.to_vec()),
            prime_p: SecretBytes::new(p.prime_p.to_vec()),
            prime_q: SecretBytes::new(p.prime_q.to_vec()),
        }
    }
}

impl From<&IccRsaKey> for RsaKeyParts {
    fn from(k: &IccRsaKey) -> Self {
        RsaKeyParts {
            modulus: k.modulus.clone(),
            public_exponent: k.public_exponent.clone(),
            private_exponent: Zeroizing::new(k.private_exponent.expose().to_vec()),
            prime_p: Zeroizing::new(k.prime_p.expose().to_vec()),
            prime_q: Zeroizing::new(k.prime_q.expose().to_vec()),
        }
    }
}

/// Everything the EMV applet is personalized with (the bureau's output for one
/// application). Serializes as JSON with byte strings in hex; secrets never appear
/// in `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmvPersonalization {
    /// Application identifier (`4F`/`84`).
    #[serde(with = "hex_vec")]
    pub aid: Vec<u8>,
    /// Application Label (`50`).
    pub label: String,
    /// Application Preferred Name (`9F12`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_name: Option<String>,
    /// Application Priority Indicator (`87`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    /// Language Preference (`5F2D`), e.g. `"enfr"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// PDOL (`9F38`), empty for none.
    #[serde(default, with = "hex_vec")]
    pub pdol: Vec<u8>,
    /// FCI Issuer Discretionary Data (`BF0C` content), empty for none.
    #[serde(default, with = "hex_vec")]
    pub fci_issuer_data: Vec<u8>,
    /// Application Interchange Profile (`82`), 2 bytes.
    #[serde(with = "hex_vec")]
    pub aip: Vec<u8>,
    /// Application File Locator (`94`), multiple of 4 bytes.
    #[serde(with = "hex_vec")]
    pub afl: Vec<u8>,
    /// The records of the AFL files.
    pub records: Vec<EmvRecord>,
    /// Further data objects readable with GET DATA (TLV list), e.g. `9F51`.
    #[serde(default, with = "hex_vec")]
    pub get_data: Vec<u8>,
    /// CDOL1 (`8C`).
    #[serde(with = "hex_vec")]
    pub cdol1: Vec<u8>,
    /// CDOL2 (`8D`).
    #[serde(with = "hex_vec")]
    pub cdol2: Vec<u8>,
    /// DDOL (`9F49`), empty for none.
    #[serde(default, with = "hex_vec")]
    pub ddol: Vec<u8>,
    /// CVM List (`8E`) as also written in the records.
    #[serde(default, with = "hex_vec")]
    pub cvm_list: Vec<u8>,
    /// Issuer Action Code – Default (`9F0D`), 5 bytes or empty.
    #[serde(default, with = "hex_vec")]
    pub iac_default: Vec<u8>,
    /// Issuer Action Code – Denial (`9F0E`).
    #[serde(default, with = "hex_vec")]
    pub iac_denial: Vec<u8>,
    /// Issuer Action Code – Online (`9F0F`).
    #[serde(default, with = "hex_vec")]
    pub iac_online: Vec<u8>,
    /// Application Version Number (`9F08`), 2 bytes.
    #[serde(with = "hex_vec")]
    pub app_version: Vec<u8>,
    /// Application Currency Code (`9F42`), 2 bytes n3.
    #[serde(with = "hex_vec")]
    pub currency_code: Vec<u8>,
    /// Issuer Country Code (`5F28`), 2 bytes n3.
    #[serde(with = "hex_vec")]
    pub country_code: Vec<u8>,
    /// Card risk management limits.
    pub limits: EmvLimits,
    /// Reference PIN (4–12 digits).
    pub pin: SecretBytes,
    /// PIN Try Limit, 1..=15.
    pub pin_try_limit: u8,
    /// ICC master keys.
    pub keys: IccMasterKeys,
    /// Derivation Key Index carried in the IAD.
    #[serde(default = "one")]
    pub dki: u8,
    /// Cryptogram version.
    pub cvn: CvnChoice,
    /// ODA method.
    pub oda: OdaMethod,
    /// ICC RSA key (needed for DDA, CDA, enciphered PIN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icc_rsa: Option<IccRsaKey>,
    /// Response template of GPO / GENERATE AC / INTERNAL AUTHENTICATE.
    pub response_format: ResponseFormat,
    /// Transaction log, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<LogConfig>,
}

fn one() -> u8 {
    1
}

impl fmt::Debug for EmvPersonalization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmvPersonalization")
            .field("aid", &hex::encode_upper(&self.aid))
            .field("label", &self.label)
            .field("cvn", &self.cvn)
            .field("oda", &self.oda)
            .field("records", &self.records.len())
            .field("pin", &"REDACTED")
            .field("keys", &"REDACTED")
            .finish_non_exhaustive()
    }
}

/// One Data Grouping Identifier with its data.
#[derive(Clone, PartialEq, Eq)]
pub struct Dgi {
    /// The identifier.
    pub id: u16,
    /// The data.
    pub data: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Dgi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dgi({:04X}, <{} bytes>)", self.id, self.data.len())
    }
}

/// Longest DGI data one short STORE DATA command carries (255 − 3 header bytes).
pub const MAX_DGI_LEN: usize = 252;

fn tlv(tag: u32, v: &[u8]) -> Vec<u8> {
    Tlv::primitive(tag, v.to_vec()).encode()
}

fn bcd12(amount: u64) -> Result<[u8; 6], EmvError> {
    if amount > 999_999_999_999 {
        return Err(EmvError::Perso("amount exceeds 12 digits"));
    }
    let s = format!("{amount:012}");
    let mut out = [0u8; 6];
    hex::decode_to_slice(s, &mut out).map_err(|_| EmvError::Perso("amount"))?;
    Ok(out)
}

fn check(cond: bool, what: &'static str) -> Result<(), EmvError> {
    if cond {
        Ok(())
    } else {
        Err(EmvError::Perso(what))
    }
}

impl EmvPersonalization {
    /// Checks the fields the applet relies on.
    pub fn validate(&self) -> Result<(), EmvError> {
        check((5..=16).contains(&self.aid.len()), "aid: 5..=16 bytes")?;
        check(
            !self.label.is_empty() && self.label.len() <= 16,
            "label: 1..=16 characters",
        )?;
        check(self.aip.len() == 2, "aip: 2 bytes")?;
        check(
            !self.afl.is_empty() && self.afl.len() % 4 == 0,
            "afl: a multiple of 4 bytes",
        )?;
        check(self.app_version.len() == 2, "app_version: 2 bytes")?;
        check(self.currency_code.len() == 2, "currency_code: 2 bytes")?;
        check(self.country_code.len() == 2, "country_code: 2 bytes")?;
        for iac in [&self.iac_default, &self.iac_denial, &self.iac_online] {
            check(iac.is_empty() || iac.len() == 5, "IAC: 5 bytes")?;
        }
        for dol in [&self.pdol, &self.cdol1, &self.cdol2, &self.ddol] {
            lamina_emv::dol::Dol::parse(dol).map_err(|_| EmvError::Perso("malformed DOL"))?;
        }
        check(!self.cdol1.is_empty(), "cdol1: required")?;
        check(!self.cdol2.is_empty(), "cdol2: required")?;
        check(
            (1..=15).contains(&self.pin_try_limit),
            "pin_try_limit: 1..=15",
        )?;
        Pin::from_ascii(self.pin.expose()).map_err(|_| EmvError::Perso("pin: 4..=12 digits"))?;
        for r in &self.records {
            check((1..=30).contains(&r.sfi), "record sfi: 1..=30")?;
            check(r.record >= 1, "record number: 1..=255")?;
            check(
                r.data.len() <= MAX_DGI_LEN,
                "record longer than one STORE DATA DGI",
            )?;
            let t = Tlv::parse_one(&r.data).map_err(|_| EmvError::Perso("record: not one TLV"))?;
            check(t.tag == Tag::new(0x70), "record: not a 70 template")?;
        }
        if let Some(l) = &self.log {
            check((11..=30).contains(&l.sfi), "log sfi: 11..=30")?;
            check((1..=30).contains(&l.records), "log records: 1..=30")?;
            check(
                !self.records.iter().any(|r| r.sfi == l.sfi),
                "log sfi also used by records",
            )?;
            lamina_emv::dol::Dol::parse(&l.format)
                .map_err(|_| EmvError::Perso("malformed log format"))?;
        }
        if matches!(self.oda, OdaMethod::Dda | OdaMethod::Cda) {
            check(self.icc_rsa.is_some(), "icc_rsa: required for DDA/CDA")?;
        }
        if let Some(k) = &self.icc_rsa {
            lamina_crypto::pki::RsaKeyPair::from_parts(&RsaKeyParts::from(k))
                .map_err(|_| EmvError::Perso("icc_rsa: inconsistent key"))?;
        }
        Ok(())
    }

    /// The personalization as DGIs, in the order a bureau sends them.
    pub fn to_dgis(&self) -> Result<Vec<Dgi>, EmvError> {
        self.validate()?;
        let mut out = Vec::new();
        let mut push = |id: u16, data: Vec<u8>| -> Result<(), EmvError> {
            check(data.len() <= MAX_DGI_LEN, "DGI longer than 252 bytes")?;
            out.push(Dgi {
                id,
                data: Zeroizing::new(data),
            });
            Ok(())
        };
        for r in &self.records {
            push(u16::from_be_bytes([r.sfi, r.record]), r.data.clone())?;
        }
        let mut b1 = tlv(0x50, self.label.as_bytes());
        if let Some(n) = &self.preferred_name {
            b1.extend(tlv(0x9F12, n.as_bytes()));
        }
        if let Some(p) = self.priority {
            b1.extend(tlv(0x87, &[p]));
        }
        if let Some(l) = &self.language {
            b1.extend(tlv(0x5F2D, l.as_bytes()));
        }
        if !self.pdol.is_empty() {
            b1.extend(tlv(0x9F38, &self.pdol));
        }
        if !self.fci_issuer_data.is_empty() {
            b1.extend(tlv(0xBF0C, &self.fci_issuer_data));
        }
        push(0xB001, b1)?;
        let mut b2 = tlv(0x82, &self.aip);
        b2.extend(tlv(0x94, &self.afl));
        b2.extend(tlv(0x8C, &self.cdol1));
        b2.extend(tlv(0x8D, &self.cdol2));
        for (t, v) in [
            (0x9F49, &self.ddol),
            (0x8E, &self.cvm_list),
            (0x9F0D, &self.iac_default),
            (0x9F0E, &self.iac_denial),
            (0x9F0F, &self.iac_online),
        ] {
            if !v.is_empty() {
                b2.extend(tlv(t, v));
            }
        }
        b2.extend(tlv(0x9F08, &self.app_version));
        b2.extend(tlv(0x9F42, &self.currency_code));
        b2.extend(tlv(0x5F28, &self.country_code));
        push(0xB002, b2)?;
        let mut b3 = tlv(0x9F14, &[self.limits.lcol]);
        b3.extend(tlv(0x9F23, &[self.limits.ucol]));
        b3.extend(tlv(0x9F54, &bcd12(self.limits.cttal)?));
        b3.extend(tlv(0x9F5C, &bcd12(self.limits.cttaul)?));
        if let Some(l) = &self.log {
            b3.extend(tlv(0x9F4F, &l.format));
            b3.extend(tlv(0x9F4D, &[l.sfi, l.records]));
        }
        push(0xB003, b3)?;
        let mut b4 = tlv(0xDF01, &[self.cvn.code()]);
        b4.extend(tlv(0xDF02, &[self.oda.code()]));
        let rf = match self.response_format {
            ResponseFormat::Format1 => 1,
            ResponseFormat::Format2 => 2,
        };
        b4.extend(tlv(0xDF03, &[rf]));
        b4.extend(tlv(0xDF04, &[self.dki]));
        b4.extend(tlv(0xDF05, &[self.pin_try_limit]));
        push(0xB004, b4)?;
        if !self.get_data.is_empty() {
            push(0xB005, self.get_data.clone())?;
        }
        push(0x8001, self.keys.ac.expose().to_vec())?;
        push(0x8002, self.keys.smi.expose().to_vec())?;
        push(0x8003, self.keys.smc.expose().to_vec())?;
        let pin = Pin::from_ascii(self.pin.expose()).map_err(|_| EmvError::Perso("pin: digits"))?;
        push(0x8010, encode_iso2(&pin).as_bytes().to_vec())?;
        if let Some(k) = &self.icc_rsa {
            push(0x8201, k.modulus.clone())?;
            push(0x8202, k.public_exponent.clone())?;
            push(0x8203, k.private_exponent.expose().to_vec())?;
            push(0x8204, k.prime_p.expose().to_vec())?;
            push(0x8205, k.prime_q.expose().to_vec())?;
        }
        Ok(out)
    }

    /// The applet's NVM records after personalization (the typed route): every
    /// DGI through [`dgi_records`], then [`initial_state_records`].
    pub fn nvm_records(&self) -> Result<BTreeMap<String, Vec<u8>>, EmvError> {
        let mut out = BTreeMap::new();
        for d in self.to_dgis()? {
            for (k, v) in dgi_records(d.id, &d.data)? {
                out.insert(k, v);
            }
        }
        let ptl = self.pin_try_limit;
        for (k, v) in initial_state_records(ptl) {
            out.insert(k, v);
        }
        Ok(out)
    }

    /// The STORE DATA commands (CLA `80`, INS `E2`) that personalize the applet:
    /// DGIs packed into commands of at most 255 data bytes, P2 the block number
    /// from 0, P1 bit 8 set on the last (GlobalPlatform Card Specification v2.3
    /// §11.11, EMV CPS §4.3). Send them after selecting the application.
    pub fn store_data_script(&self) -> Result<Vec<Vec<u8>>, EmvError> {
        let dgis = self.to_dgis()?;
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        let mut cur: Vec<u8> = Vec::new();
        for d in &dgis {
            let mut enc = d.id.to_be_bytes().to_vec();
            let len = u8::try_from(d.data.len()).map_err(|_| EmvError::Perso("DGI length"))?;
            enc.push(len);
            enc.extend_from_slice(&d.data);
            if cur.len() + enc.len() > 255 {
                blocks.push(std::mem::take(&mut cur));
            }
            cur.extend(enc);
        }
        if !cur.is_empty() {
            blocks.push(cur);
        }
        let n = blocks.len();
        blocks
            .into_iter()
            .enumerate()
            .map(|(i, data)| {
                let p1 = if i + 1 == n { 0x80 } else { 0x00 };
                let p2 = u8::try_from(i).map_err(|_| EmvError::Perso("too many blocks"))?;
                let lc = u8::try_from(data.len()).map_err(|_| EmvError::Perso("block"))?;
                let mut apdu = vec![0x80, 0xE2, p1, p2, lc];
                apdu.extend(data);
                Ok(apdu)
            })
            .collect()
    }
}

/// The NVM records one DGI becomes (shared by both personalization routes).
/// Unknown or malformed DGIs are refused.
pub fn dgi_records(id: u16, data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, EmvError> {
    let [hi, lo] = id.to_be_bytes();
    let bad = EmvError::Perso("malformed DGI data");
    Ok(match id {
        _ if (1..=30).contains(&hi) && lo >= 1 => {
            let t = Tlv::parse_one(data).map_err(|_| bad.clone())?;
            if t.tag != Tag::new(0x70) {
                return Err(bad);
            }
            vec![(keys::record_key(hi, lo), data.to_vec())]
        }
        0xB001..=0xB005 => {
            let mut out = Vec::new();
            let mut tags = Vec::new();
            for o in lamina_tlv::parse(data) {
                let o = o.map_err(|_| bad.clone())?;
                out.push((keys::do_key(o.tag), o.value.to_vec()));
                tags.extend(o.tag.to_bytes());
            }
            if id == 0xB005 {
                out.push((keys::GET_DATA_TAGS.to_owned(), tags));
            }
            out
        }
        0x8001 => vec![(keys::KEY_AC.to_owned(), data.to_vec())],
        0x8002 => vec![(keys::KEY_SMI.to_owned(), data.to_vec())],
        0x8003 => vec![(keys::KEY_SMC.to_owned(), data.to_vec())],
        0x8010 => {
            if data.len() != 8 {
                return Err(bad);
            }
            vec![(keys::PIN.to_owned(), data.to_vec())]
        }
        0x8201..=0x8205 => {
            let k = keys::RSA_PARTS
                .get(usize::from(lo) - 1)
                .ok_or(bad.clone())?;
            vec![((*k).to_owned(), data.to_vec())]
        }
        _ => return Err(EmvError::Perso("unknown DGI")),
    })
}

/// The state records written when personalization completes: ATC and last online
/// ATC `0000`, PIN try counter = `pin_try_limit`, consecutive offline count 0,
/// cumulative offline amount 0, flags 0, and the `perso` marker.
pub fn initial_state_records(pin_try_limit: u8) -> Vec<(String, Vec<u8>)> {
    vec![
        (keys::ATC.to_owned(), vec![0, 0]),
        (keys::LAST_ONLINE_ATC.to_owned(), vec![0, 0]),
        (keys::PTC.to_owned(), vec![pin_try_limit]),
        (keys::CONSECUTIVE.to_owned(), vec![0]),
        (keys::CUMULATIVE.to_owned(), vec![0; 8]),
        (keys::FLAGS.to_owned(), vec![0]),
        (keys::PERSO.to_owned(), vec![1]),
    ]
}

/// Hex (de)serialization of `Vec<u8>` fields.
pub(crate) mod hex_vec {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode_upper(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        hex::decode(&s).map_err(serde::de::Error::custom)
    }
}
