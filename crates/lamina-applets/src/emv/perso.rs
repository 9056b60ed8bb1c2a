//! Personalization input of the EMV applet: the typed [`EmvPersonalization`], its
//! encoding as Data Grouping Identifiers (DGIs, the EMV Card Personalization
//! Specification model) and the mapping of each DGI to the applet's NVM records.
//!
//! The DGI layout is the personalization bureau's (`lamina-perso`, module
//! `card`), so the bureau's STORE DATA script personalizes this applet as is; a
//! `PreparedCard`'s EMV data converts with its `to_dgis()` and
//! [`records_from_dgis`]. Both personalization routes go through the same code:
//!
//! * **typed**: [`EmvPersonalization::nvm_records`] / [`records_from_dgis`] (used
//!   by `testing::personalize_image` on a card image);
//! * **APDU**: STORE DATA commands (GlobalPlatform Card Specification v2.3 §11.11,
//!   EMV CPS §4.3), e.g. [`EmvPersonalization::store_data_script`]; the applet
//!   applies each DGI with [`dgi_records`] and completes with [`finish_records`].
//!
//! So both produce the same records byte for byte (checked by a test).
//!
//! ## DGIs
//!
//! | DGI | content | NVM record(s) |
//! |---|---|---|
//! | `SSRR` (SS = SFI `01`–`1E`, RR `01`–`FE`) | record RR of SFI SS, the `70` template | `rec.SSRR` |
//! | `9102` / `9103` | FCI proprietary template (`A5` content), contact / contactless | `fci` / `fci.cl` |
//! | `9104` / `9105` | GPO data `82` AIP, `94` AFL, contact / contactless | `gpo` / `gpo.cl` |
//! | `B001` | risk and cryptogram parameters (TLV, below) | `do.<TAG>` per object |
//! | `B002` | GET DATA objects (TLV): `9F36`, `9F13`, `9F17` set the counters, others are kept | `atc`, `lonatc`, `ptc`, `do.<TAG>`, `getdata` (their tags) |
//! | `8000` | MK-AC ‖ MK-SMI ‖ MK-SMC (three equal parts) | `key.ac`, `key.smi`, `key.smc` |
//! | `8001` | MK-IDN | `key.idn` |
//! | `9000` | KCVs of the `8000` keys (3 bytes each, TDES) | `kcv` (checked at completion) |
//! | `8010` | reference PIN, ISO 9564-1 format 2 block | `pin` |
//! | `9010` | PIN Try Limit ‖ PIN Try Counter | `ptl`, `ptc` |
//! | `8201`–`8205` | ICC RSA key n, e, d, q, p | `rsa.n`, `rsa.e`, `rsa.d`, `rsa.q`, `rsa.p` |
//!
//! `B001` objects: `DF01` CVN name ([`CvnChoice`] in kebab case, e.g. `emv-ccd`),
//! `DF02` ICC MK derivation (`A`/`B`, for the host), `9F42` application currency,
//! `9F14` LCOL, `9F23` UCOL, `DF03` CTTAL and `DF04` CTTAUL (n12), `DF05`
//! contactless offline limit (n12, optional); and this applet's own (optional):
//! `DF10` response format (`01`/`02`, default 2), `DF11` Derivation Key Index
//! (default 1), `DF12` ODA method (default from the AIP). The transaction log is
//! found through Log Entry `9F4D` in the FCI's `BF0C` and Log Format `9F4F`
//! among the GET DATA objects (EMV Book 3 Annex D).
//!
//! Completion ([`finish_records`]) checks the mandatory data and writes the initial
//! state of whatever the DGIs did not set (ATC `0000`, last online ATC `0000`,
//! PIN try counter = limit, offline counters 0, flags 0) and the marker `perso`.

use std::collections::BTreeMap;
use std::fmt;

use lamina_crypto::emv::{Cvn, MkDerivation};
use lamina_crypto::pin::{Pin, encode_iso2};
use lamina_crypto::pki::RsaKeyParts;
use lamina_crypto::sym::{ct_eq, kcv_tdes};
use lamina_tlv::{Tag, Tlv};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::EmvError;
use super::store as keys;

/// A cryptogram version the applet can be personalized with; serialized (and
/// carried in DGI `B001` tag `DF01`) by its [`name`](CvnChoice::name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CvnChoice {
    /// Visa CVN 10 (`visa10`).
    Visa10,
    /// Visa CVN 18 (`visa18`).
    Visa18,
    /// Mastercard CVN 16, modelled (`mastercard16`).
    Mastercard16,
    /// Interac CVN 133 (`interac133`).
    Interac133,
    /// EMV Common Core Definitions, TDES (`emv-ccd`).
    EmvCcd,
    /// EMV AES, modelled (`emv-aes`).
    EmvAes,
}

const ALL_CVNS: [CvnChoice; 6] = [
    CvnChoice::Visa10,
    CvnChoice::Visa18,
    CvnChoice::Mastercard16,
    CvnChoice::Interac133,
    CvnChoice::EmvCcd,
    CvnChoice::EmvAes,
];

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

    /// The profile name shared with the bureau (`visa10`, `visa18`,
    /// `mastercard16`, `interac133`, `emv-ccd`, `emv-aes`).
    pub fn name(self) -> &'static str {
        match self {
            CvnChoice::Visa10 => "visa10",
            CvnChoice::Visa18 => "visa18",
            CvnChoice::Mastercard16 => "mastercard16",
            CvnChoice::Interac133 => "interac133",
            CvnChoice::EmvCcd => "emv-ccd",
            CvnChoice::EmvAes => "emv-aes",
        }
    }

    /// The inverse of [`CvnChoice::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        ALL_CVNS.into_iter().find(|c| c.name() == name)
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
    /// Code stored in `DF12`.
    pub fn code(self) -> u8 {
        match self {
            OdaMethod::None => 0,
            OdaMethod::Sda => 1,
            OdaMethod::Dda => 2,
            OdaMethod::Cda => 3,
        }
    }

    /// From the `DF12` code.
    pub fn from_code(b: u8) -> Option<Self> {
        match b {
            0 => Some(OdaMethod::None),
            1 => Some(OdaMethod::Sda),
            2 => Some(OdaMethod::Dda),
            3 => Some(OdaMethod::Cda),
            _ => None,
        }
    }

    /// The strongest method the AIP announces (EMV Book 3 Annex C1: CDA, DDA, SDA).
    pub fn from_aip(aip: [u8; 2]) -> Self {
        match aip[0] {
            b if b & 0x01 != 0 => OdaMethod::Cda,
            b if b & 0x20 != 0 => OdaMethod::Dda,
            b if b & 0x40 != 0 => OdaMethod::Sda,
            _ => OdaMethod::None,
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
    /// Record number, 1..=254.
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

/// Card risk management limits (issuer-defined velocity checks, EMV Book 3
/// Annex C; amounts in minor units of the application currency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmvLimits {
    /// Lower Consecutive Offline Limit (`9F14`): above it the card asks to go online.
    pub lcol: u8,
    /// Upper Consecutive Offline Limit (`9F23`): above it the card declines when
    /// the terminal cannot go online.
    pub ucol: u8,
    /// Cumulative Total Transaction Amount Limit (`DF03`): above it the card asks
    /// to go online.
    pub cttal: u64,
    /// Cumulative Total Transaction Amount Upper Limit (`DF04`): above it the card
    /// declines offline.
    pub cttaul: u64,
    /// Contactless offline limit (`DF05`): larger contactless amounts go online.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contactless: Option<u64>,
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

/// A byte string that is a secret (keys, PIN, private key parts): hex in JSON,
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

/// The ICC master keys derived by the bureau (EMV Book 2 A1.4).
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

/// Everything the EMV applet is personalized with (one application). JSON with
/// byte strings in hex; secrets never appear in `Debug`.
///
/// Data only the terminal reads — PAN, track 2, CDOL1 `8C`, CDOL2 `8D`, DDOL
/// `9F49`, CVM list `8E`, IACs `9F0D`–`9F0F`, application version `9F08`, issuer
/// country `5F28`, certificates — lives in [`records`](Self::records); the
/// applet reads CDOL1, CDOL2 (and DDOL) from there.
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
    /// FCI Issuer Discretionary Data (`BF0C` content) besides the Log Entry.
    #[serde(default, with = "hex_vec")]
    pub fci_issuer_data: Vec<u8>,
    /// Application Interchange Profile (`82`), 2 bytes.
    #[serde(with = "hex_vec")]
    pub aip: Vec<u8>,
    /// Application File Locator (`94`), multiple of 4 bytes.
    #[serde(with = "hex_vec")]
    pub afl: Vec<u8>,
    /// The records of the AFL files (`70` templates).
    pub records: Vec<EmvRecord>,
    /// Further data objects readable with GET DATA (TLV list), e.g. `9F51`.
    #[serde(default, with = "hex_vec")]
    pub get_data: Vec<u8>,
    /// Application Currency Code (`9F42`), 2 bytes n3.
    #[serde(with = "hex_vec")]
    pub currency_code: Vec<u8>,
    /// Card risk management limits.
    pub limits: EmvLimits,
    /// Reference PIN (4–12 digits), if the card does offline PIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<SecretBytes>,
    /// PIN Try Limit, 1..=15 (used with [`pin`](Self::pin)).
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

impl Dgi {
    /// `DGI ‖ L ‖ data`, L on 1 byte (< 255) or `FF` ‖ 2 bytes (EMV CPS §3.2).
    pub fn encode(&self) -> Result<Vec<u8>, EmvError> {
        let mut out = self.id.to_be_bytes().to_vec();
        match u8::try_from(self.data.len()) {
            Ok(l) if l < 0xFF => out.push(l),
            _ => {
                let l = u16::try_from(self.data.len())
                    .map_err(|_| EmvError::Perso("DGI longer than 65535 bytes"))?;
                out.push(0xFF);
                out.extend_from_slice(&l.to_be_bytes());
            }
        }
        out.extend_from_slice(&self.data);
        Ok(out)
    }
}

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

/// The first value of `tag` inside the records (`70` templates).
pub(crate) fn record_value<'a>(
    records: impl Iterator<Item = &'a [u8]>,
    tag: u32,
) -> Option<Vec<u8>> {
    for r in records {
        if let Ok(t) = Tlv::parse_one(r)
            && let Some(v) = lamina_tlv::find_recursive(std::slice::from_ref(&t), tag)
        {
            return v.value_bytes().map(<[u8]>::to_vec);
        }
    }
    None
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
            !self.afl.is_empty() && self.afl.len().is_multiple_of(4),
            "afl: a multiple of 4 bytes",
        )?;
        check(self.currency_code.len() == 2, "currency_code: 2 bytes")?;
        lamina_emv::dol::Dol::parse(&self.pdol).map_err(|_| EmvError::Perso("pdol: malformed"))?;
        check(
            (1..=15).contains(&self.pin_try_limit),
            "pin_try_limit: 1..=15",
        )?;
        if let Some(pin) = &self.pin {
            Pin::from_ascii(pin.expose()).map_err(|_| EmvError::Perso("pin: 4..=12 digits"))?;
        }
        for k in [&self.keys.ac, &self.keys.smi, &self.keys.smc] {
            check(k.expose().len() == 16, "keys: 16 bytes each")?;
        }
        for r in &self.records {
            check((1..=30).contains(&r.sfi), "record sfi: 1..=30")?;
            check((1..=254).contains(&r.record), "record number: 1..=254")?;
            let t = Tlv::parse_one(&r.data).map_err(|_| EmvError::Perso("record: not one TLV"))?;
            check(t.tag == Tag::new(0x70), "record: not a 70 template")?;
        }
        let recs = || self.records.iter().map(|r| r.data.as_slice());
        for (tag, what) in [
            (0x8C, "records: no CDOL1 (8C)"),
            (0x8D, "records: no CDOL2 (8D)"),
        ] {
            let dol = record_value(recs(), tag).ok_or(EmvError::Perso(what))?;
            lamina_emv::dol::Dol::parse(&dol)
                .map_err(|_| EmvError::Perso("records: malformed CDOL"))?;
        }
        if let Some(l) = &self.log {
            check((11..=30).contains(&l.sfi), "log sfi: 11..=30")?;
            check((1..=30).contains(&l.records), "log records: 1..=30")?;
            check(
                !self.records.iter().any(|r| r.sfi == l.sfi),
                "log sfi also used by records",
            )?;
            lamina_emv::dol::Dol::parse(&l.format)
                .map_err(|_| EmvError::Perso("log format: malformed"))?;
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

    /// The personalization as DGIs (the bureau's layout, module docs), in script
    /// order.
    pub fn to_dgis(&self) -> Result<Vec<Dgi>, EmvError> {
        self.validate()?;
        let mut out = Vec::new();
        let mut push = |id: u16, data: Vec<u8>| {
            out.push(Dgi {
                id,
                data: Zeroizing::new(data),
            });
        };
        for r in &self.records {
            push(u16::from_be_bytes([r.sfi, r.record]), r.data.clone());
        }
        let mut fci = tlv(0x50, self.label.as_bytes());
        if let Some(p) = self.priority {
            fci.extend(tlv(0x87, &[p]));
        }
        if !self.pdol.is_empty() {
            fci.extend(tlv(0x9F38, &self.pdol));
        }
        if let Some(l) = &self.language {
            fci.extend(tlv(0x5F2D, l.as_bytes()));
        }
        if let Some(n) = &self.preferred_name {
            fci.extend(tlv(0x9F12, n.as_bytes()));
        }
        let mut bf0c = self.fci_issuer_data.clone();
        if let Some(l) = &self.log {
            bf0c.extend(tlv(0x9F4D, &[l.sfi, l.records]));
        }
        if !bf0c.is_empty() {
            fci.extend(tlv(0xBF0C, &bf0c));
        }
        push(0x9102, fci);
        let mut gpo = tlv(0x82, &self.aip);
        gpo.extend(tlv(0x94, &self.afl));
        push(0x9104, gpo);
        let p = self.cvn.cvn().profile();
        let mkd = match p.mk_derivation {
            MkDerivation::OptionA => "A",
            MkDerivation::OptionB => "B",
        };
        let mut risk = tlv(0xDF01, self.cvn.name().as_bytes());
        risk.extend(tlv(0xDF02, mkd.as_bytes()));
        risk.extend(tlv(0x9F42, &self.currency_code));
        risk.extend(tlv(0x9F14, &[self.limits.lcol]));
        risk.extend(tlv(0x9F23, &[self.limits.ucol]));
        risk.extend(tlv(0xDF03, &bcd12(self.limits.cttal)?));
        risk.extend(tlv(0xDF04, &bcd12(self.limits.cttaul)?));
        if let Some(c) = self.limits.contactless {
            risk.extend(tlv(0xDF05, &bcd12(c)?));
        }
        let rf = match self.response_format {
            ResponseFormat::Format1 => 1,
            ResponseFormat::Format2 => 2,
        };
        risk.extend(tlv(0xDF10, &[rf]));
        risk.extend(tlv(0xDF11, &[self.dki]));
        risk.extend(tlv(0xDF12, &[self.oda.code()]));
        push(0xB001, risk);
        let mut gd = tlv(0x9F36, &[0, 0]);
        gd.extend(tlv(0x9F13, &[0, 0]));
        if self.pin.is_some() {
            gd.extend(tlv(0x9F17, &[self.pin_try_limit]));
        }
        if let Some(l) = &self.log {
            gd.extend(tlv(0x9F4F, &l.format));
        }
        gd.extend_from_slice(&self.get_data);
        push(0xB002, gd);
        let mut mk = Vec::with_capacity(48);
        let mut kcv = Vec::with_capacity(9);
        for k in [&self.keys.ac, &self.keys.smi, &self.keys.smc] {
            mk.extend_from_slice(k.expose());
            kcv.extend_from_slice(&kcv_tdes(k.expose()).map_err(|_| EmvError::Perso("keys: KCV"))?);
        }
        push(0x8000, mk);
        push(0x9000, kcv);
        if let Some(pin) = &self.pin {
            let pin = Pin::from_ascii(pin.expose()).map_err(|_| EmvError::Perso("pin: digits"))?;
            push(0x8010, encode_iso2(&pin).as_bytes().to_vec());
            push(0x9010, vec![self.pin_try_limit, self.pin_try_limit]);
        }
        if let Some(k) = &self.icc_rsa {
            push(0x8201, k.modulus.clone());
            push(0x8202, k.public_exponent.clone());
            push(0x8203, k.private_exponent.expose().to_vec());
            push(0x8204, k.prime_q.expose().to_vec());
            push(0x8205, k.prime_p.expose().to_vec());
        }
        Ok(out)
    }

    /// The applet's NVM records after personalization (the typed route).
    pub fn nvm_records(&self) -> Result<BTreeMap<String, Vec<u8>>, EmvError> {
        let dgis = self.to_dgis()?;
        let list: Vec<(u16, &[u8])> = dgis.iter().map(|d| (d.id, d.data.as_slice())).collect();
        records_from_dgis(&list)
    }

    /// The STORE DATA commands (CLA `80`, INS `E2`) that personalize the applet,
    /// laid out like the bureau's script: each DGI starts a block, longer DGIs
    /// continue in the next blocks (at most 255 data bytes each); P1 `08` (DGI
    /// format) with bit 8 on the last block; P2 the block number from 0
    /// (GlobalPlatform Card Specification v2.3 §11.11, EMV CPS §4.3). Send them
    /// after selecting the application.
    pub fn store_data_script(&self) -> Result<Vec<Vec<u8>>, EmvError> {
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        for d in self.to_dgis()? {
            let enc = Zeroizing::new(d.encode()?);
            blocks.extend(enc.chunks(255).map(<[u8]>::to_vec));
        }
        let n = blocks.len();
        blocks
            .into_iter()
            .enumerate()
            .map(|(i, data)| {
                let p1 = if i + 1 == n { 0x88 } else { 0x08 };
                let p2 = u8::try_from(i).map_err(|_| EmvError::Perso("more than 256 blocks"))?;
                let lc = u8::try_from(data.len()).map_err(|_| EmvError::Perso("block"))?;
                let mut apdu = vec![0x80, 0xE2, p1, p2, lc];
                apdu.extend(data);
                Ok(apdu)
            })
            .collect()
    }
}

/// The typed route from any DGI list (e.g. the bureau's `EmvData::to_dgis()`):
/// every DGI through [`dgi_records`], then [`finish_records`].
pub fn records_from_dgis(dgis: &[(u16, &[u8])]) -> Result<BTreeMap<String, Vec<u8>>, EmvError> {
    let mut out = BTreeMap::new();
    for (id, data) in dgis {
        for (k, v) in dgi_records(*id, data)? {
            out.insert(k, v);
        }
    }
    let names: Vec<String> = out.keys().cloned().collect();
    for (k, v) in finish_records(&|k| out.get(k).cloned(), &names)? {
        out.insert(k, v);
    }
    Ok(out)
}

fn tlv_list(data: &[u8]) -> Result<Vec<(Tag, Vec<u8>)>, EmvError> {
    lamina_tlv::parse(data)
        .map(|o| {
            o.map(|o| (o.tag, o.value.to_vec()))
                .map_err(|_| EmvError::Perso("DGI: malformed TLV"))
        })
        .collect()
}

/// The NVM records one DGI becomes (shared by both personalization routes).
/// Unknown or malformed DGIs are refused.
pub fn dgi_records(id: u16, data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, EmvError> {
    let [hi, lo] = id.to_be_bytes();
    let bad = |what| Err(EmvError::Perso(what));
    Ok(match id {
        _ if (1..=30).contains(&hi) && (1..=254).contains(&lo) => {
            match Tlv::parse_one(data) {
                Ok(t) if t.tag == Tag::new(0x70) => {}
                _ => return bad("DGI record: not a 70 template"),
            }
            vec![(keys::record_key(hi, lo), data.to_vec())]
        }
        0x9102..=0x9105 => {
            let list = tlv_list(data)?;
            if id >= 0x9104 {
                let has = |t: u32, len: Option<usize>| {
                    list.iter()
                        .any(|(tag, v)| *tag == Tag::new(t) && len.is_none_or(|l| v.len() == l))
                };
                if !has(0x82, Some(2)) || !has(0x94, None) {
                    return bad("DGI 9104/9105: needs 82 (2 bytes) and 94");
                }
            }
            let key = match id {
                0x9102 => keys::FCI,
                0x9103 => keys::FCI_CL,
                0x9104 => keys::GPO,
                _ => keys::GPO_CL,
            };
            vec![(key.to_owned(), data.to_vec())]
        }
        0xB001 => tlv_list(data)?
            .into_iter()
            .map(|(t, v)| (keys::do_key(t), v))
            .collect(),
        0xB002 => {
            let mut out = Vec::new();
            let mut tags = Vec::new();
            for (t, v) in tlv_list(data)? {
                match (t.number(), v.len()) {
                    (0x9F36, 2) => out.push((keys::ATC.to_owned(), v)),
                    (0x9F13, 2) => out.push((keys::LAST_ONLINE_ATC.to_owned(), v)),
                    (0x9F17, 1) => out.push((keys::PTC.to_owned(), v)),
                    (0x9F36 | 0x9F13 | 0x9F17, _) => return bad("DGI B002: counter length"),
                    _ => {
                        tags.extend(t.to_bytes());
                        out.push((keys::do_key(t), v));
                    }
                }
            }
            out.push((keys::GET_DATA_TAGS.to_owned(), tags));
            out
        }
        0x8000 => {
            let n = data.len() / 3;
            if !data.len().is_multiple_of(3) || ![16, 24, 32].contains(&n) {
                return bad("DGI 8000: three keys of 16, 24 or 32 bytes");
            }
            let part = |i: usize| data.get(i * n..(i + 1) * n).unwrap_or_default().to_vec();
            vec![
                (keys::KEY_AC.to_owned(), part(0)),
                (keys::KEY_SMI.to_owned(), part(1)),
                (keys::KEY_SMC.to_owned(), part(2)),
            ]
        }
        0x8001 => vec![(keys::KEY_IDN.to_owned(), data.to_vec())],
        0x9000 => {
            if data.len() != 9 {
                return bad("DGI 9000: three 3-byte KCVs");
            }
            vec![(keys::KCV.to_owned(), data.to_vec())]
        }
        0x8010 => {
            if data.len() != 8 {
                return bad("DGI 8010: an 8-byte PIN block");
            }
            vec![(keys::PIN.to_owned(), data.to_vec())]
        }
        0x9010 => match data {
            [ptl, ptc] if (1..=15).contains(ptl) && ptc <= ptl => vec![
                (keys::PTL.to_owned(), vec![*ptl]),
                (keys::PTC.to_owned(), vec![*ptc]),
            ],
            _ => return bad("DGI 9010: PIN try limit (1..=15) and counter"),
        },
        0x8201..=0x8205 => {
            let k = keys::RSA_PARTS
                .get(usize::from(lo).saturating_sub(1))
                .ok_or(EmvError::Perso("DGI 82xx"))?;
            vec![((*k).to_owned(), data.to_vec())]
        }
        _ => return bad("unknown DGI"),
    })
}

/// Completes personalization: checks that the mandatory data is there (`keys` are
/// the record names so far; records with CDOL1 and CDOL2, FCI, GPO data, a known CVN in `DF01`, the three keys
/// matching their KCVs if given, the PIN try limit) and returns the initial state
/// records not already set: `atc` and `lonatc` `0000`, `ptc` = limit, `cons` 0,
/// `cum` 0, `flags` 0, and `perso` `01`. `get` reads the records so far.
pub fn finish_records(
    get: &dyn Fn(&str) -> Option<Vec<u8>>,
    keys: &[String],
) -> Result<Vec<(String, Vec<u8>)>, EmvError> {
    for (k, what) in [
        (keys::FCI, "missing DGI 9102 (FCI)"),
        (keys::GPO, "missing DGI 9104 (GPO data)"),
        (keys::KEY_AC, "missing DGI 8000 (keys)"),
    ] {
        check(get(k).is_some(), what)?;
    }
    let records: Vec<Vec<u8>> = keys
        .iter()
        .filter(|k| k.starts_with("rec."))
        .filter_map(|k| get(k))
        .collect();
    for (tag, what) in [
        (0x8C, "records: no CDOL1 (8C)"),
        (0x8D, "records: no CDOL2 (8D)"),
    ] {
        let dol =
            record_value(records.iter().map(Vec::as_slice), tag).ok_or(EmvError::Perso(what))?;
        lamina_emv::dol::Dol::parse(&dol)
            .map_err(|_| EmvError::Perso("records: malformed CDOL"))?;
    }
    let cvn = get(&keys::do_key(Tag::new(0xDF01)))
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|n| CvnChoice::from_name(&n));
    check(cvn.is_some(), "B001: missing or unknown CVN (DF01)")?;
    if let Some(kcv) = get(keys::KCV) {
        let mut want = Vec::new();
        for k in [keys::KEY_AC, keys::KEY_SMI, keys::KEY_SMC] {
            let key = Zeroizing::new(get(k).unwrap_or_default());
            want.extend(kcv_tdes(&key).map_err(|_| EmvError::Perso("keys: KCV"))?);
        }
        check(ct_eq(&want, &kcv), "DGI 9000: KCVs do not match DGI 8000")?;
    }
    // An offline PIN comes with its try limit (DGIs 8010 and 9010 go together).
    let ptl = get(keys::PTL).and_then(|v| v.first().copied());
    check(
        get(keys::PIN).is_some() == ptl.is_some(),
        "DGIs 8010 (PIN) and 9010 (PIN try limit) go together",
    )?;
    Ok([
        (keys::ATC, vec![0, 0]),
        (keys::LAST_ONLINE_ATC, vec![0, 0]),
        (keys::CONSECUTIVE, vec![0]),
        (keys::CUMULATIVE, vec![0; 8]),
        (keys::FLAGS, vec![0]),
        (keys::PERSO, vec![1]),
    ]
    .into_iter()
    .chain(ptl.map(|l| (keys::PTC, vec![l])))
    .filter(|(k, _)| get(k).is_none())
    .map(|(k, v)| (k.to_owned(), v))
    .collect())
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
