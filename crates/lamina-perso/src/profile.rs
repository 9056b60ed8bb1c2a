//! Card profiles: what a product's cards carry, as TOML files in `profiles/`.
//!
//! A profile is parsed in two steps: serde reads the TOML into a raw schema
//! (unknown fields are refused), then [`Profile::from_toml`] checks every value
//! and builds the typed [`Profile`]; each error names the offending field by its
//! TOML path (`application[0].afl[1].sfi`).
//!
//! The data objects follow EMV 4.4 Book 3 Annex A (AIP `82`, AFL `94`, CVM List
//! `8E`, IACs `9F0D`–`9F0F`, CDOL1/2 `8C`/`8D`, PDOL `9F38`, DDOL `9F49`, AUC
//! `9F07`, Application Version Number `9F08`, LCOL/UCOL `9F14`/`9F23`); the AFL
//! layout follows Book 3 §10.2 (SFI 1–30, records 1–254, the first *n* records of
//! each entry take part in offline data authentication).
//!
//! See `profiles/debit.toml` at the repository root for an annotated example.

use std::collections::BTreeMap;
use std::path::Path;

use lamina_crypto::emv::{Cvn, MkDerivation};
use lamina_crypto::pki::PublicExponent;
use serde::{Deserialize, Serialize};

use crate::{PersoError, Result};

/// The kind of product (drives the manifest's account type and defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProductKind {
    /// A debit card on a current account.
    Debit,
    /// A credit card on a credit line.
    Credit,
    /// A prepaid card on a stored-value account.
    Prepaid,
}

impl ProductKind {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProductKind::Debit => "debit",
            ProductKind::Credit => "credit",
            ProductKind::Prepaid => "prepaid",
        }
    }
}

/// Offline data authentication method (EMV Book 2 §5 SDA, §6.5 DDA, §6.6 CDA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OdaMethod {
    /// No offline data authentication (online-only cards).
    None,
    /// Static Data Authentication: Signed Static Application Data `93`.
    Sda,
    /// Dynamic Data Authentication: ICC key pair and certificate.
    Dda,
    /// Combined DDA / Application Cryptogram generation.
    Cda,
}

impl OdaMethod {
    /// True if the card needs its own RSA key pair.
    pub fn needs_icc_key(self) -> bool {
        matches!(self, OdaMethod::Dda | OdaMethod::Cda)
    }
    /// The AIP byte 1 bit this method requires (Book 3 Annex C1).
    fn aip_bit(self) -> u8 {
        match self {
            OdaMethod::None => 0,
            OdaMethod::Sda => 0x40,
            OdaMethod::Dda => 0x20,
            OdaMethod::Cda => 0x01,
        }
    }
}

/// Interface on which an application is available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interface {
    /// ISO/IEC 7816 contacts (listed in the PSE).
    Contact,
    /// ISO/IEC 14443 (listed in the PPSE).
    Contactless,
}

/// One AFL entry (EMV Book 3 §10.2): records `first..=last` of file `sfi`, the
/// first `oda` of which are part of the static data to be authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AflEntry {
    /// Short file identifier 1..=30.
    pub sfi: u8,
    /// First record number (1..=254).
    pub first: u8,
    /// Last record number (≥ first).
    pub last: u8,
    /// Number of records, from `first`, taking part in ODA.
    pub oda: u8,
}

impl AflEntry {
    /// The four AFL bytes (Book 3 §10.2: SFI in the five high bits).
    pub fn to_bytes(self) -> [u8; 4] {
        [self.sfi << 3, self.first, self.last, self.oda]
    }
    /// True if record `n` of this entry is signed for ODA.
    pub fn is_oda(self, n: u8) -> bool {
        n >= self.first && u16::from(n) < u16::from(self.first) + u16::from(self.oda)
    }
}

/// The content of one record: the data objects in the `70` template, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordLayout {
    /// Short file identifier.
    pub sfi: u8,
    /// Record number.
    pub record: u8,
    /// Tags of the data objects in the record.
    pub tags: Vec<u32>,
}

/// Contactless parameters of an application (EMV Book C-3 style kernels).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactlessProfile {
    /// AIP returned on the contactless interface (often without SDA/DDA bits).
    pub aip: [u8; 2],
    /// PDOL for the contactless interface (`9F38` in the PPSE-selected FCI).
    pub pdol: Vec<u8>,
    /// Card Transaction Qualifiers `9F6C`.
    pub ctq: Option<[u8; 2]>,
    /// Form Factor Indicator `9F6E`.
    pub ffi: Option<Vec<u8>>,
    /// Kernel identifier `9F2A` (for the PPSE directory entry).
    pub kernel_id: Option<u8>,
    /// Offline contactless transaction limit (minor units), card side.
    pub offline_limit: Option<u64>,
}

/// An extra application (purse, loyalty, transit): its applet comes later; the
/// profile already records its AID and configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtraApplication {
    /// `purse`, `loyalty`, `transit` or another applet class name.
    pub kind: String,
    /// AID (5..=16 bytes).
    pub aid: Vec<u8>,
    /// Application label.
    pub label: String,
    /// Interfaces.
    pub interfaces: Vec<Interface>,
    /// Free-form configuration for the applet, as JSON.
    pub config: serde_json::Value,
}

/// A payment application's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplicationProfile {
    /// AID `4F`/`84` (5..=16 bytes).
    pub aid: Vec<u8>,
    /// Applet class that runs it (`emv-payment`).
    pub class: String,
    /// Application Label `50` (1..=16 characters ans).
    pub label: String,
    /// Application Preferred Name `9F12`.
    pub preferred_name: Option<String>,
    /// Application Priority Indicator `87`.
    pub priority: Option<u8>,
    /// Interfaces.
    pub interfaces: Vec<Interface>,
    /// Application Interchange Profile `82`.
    pub aip: [u8; 2],
    /// AFL `94` layout.
    pub afl: Vec<AflEntry>,
    /// Records named by the AFL.
    pub records: Vec<RecordLayout>,
    /// CVM List `8E` (amount X ‖ amount Y ‖ rules).
    pub cvm_list: Vec<u8>,
    /// Issuer Action Code – Default `9F0D`.
    pub iac_default: [u8; 5],
    /// Issuer Action Code – Denial `9F0E`.
    pub iac_denial: [u8; 5],
    /// Issuer Action Code – Online `9F0F`.
    pub iac_online: [u8; 5],
    /// CDOL1 `8C`.
    pub cdol1: Vec<u8>,
    /// CDOL2 `8D`.
    pub cdol2: Vec<u8>,
    /// PDOL `9F38` (contact), empty if none.
    pub pdol: Vec<u8>,
    /// DDOL `9F49`, empty if none.
    pub ddol: Vec<u8>,
    /// Application Usage Control `9F07`.
    pub auc: [u8; 2],
    /// Application Version Number `9F08`.
    pub app_version: [u8; 2],
    /// Lower Consecutive Offline Limit `9F14`.
    pub lcol: u8,
    /// Upper Consecutive Offline Limit `9F23`.
    pub ucol: u8,
    /// Cumulative Total Transaction Amount Limit (minor units).
    pub cumulative_limit: u64,
    /// Cumulative Total Transaction Amount Upper Limit (minor units).
    pub cumulative_upper_limit: u64,
    /// Contactless parameters, if the application is on the contactless interface.
    pub contactless: Option<ContactlessProfile>,
    /// Extra static data objects for records: tag → value.
    pub data: BTreeMap<u32, Vec<u8>>,
}

/// How PINs are issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinPolicy {
    /// The card holds a reference PIN for offline verification.
    pub offline: bool,
    /// The issuer verifies PINs online (PVV computed for the host).
    pub online: bool,
    /// Length of random PINs (4..=12).
    pub length: usize,
    /// PIN Try Limit (1..=15).
    pub try_limit: u8,
}

/// A validated card profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Product name.
    pub name: String,
    /// Product kind.
    pub kind: ProductKind,
    /// Issuer name printed on the card face.
    pub issuer_name: String,
    /// BIN / IIN prefix of the PAN range (6..=11 digits).
    pub bin: String,
    /// PAN length (13..=19).
    pub pan_length: usize,
    /// Validity from issuance, months (1..=120).
    pub validity_months: u16,
    /// PAN Sequence Number `5F34` (0..=99).
    pub psn: u8,
    /// Service code `5F30` (3 digits).
    pub service_code: String,
    /// Application Currency Code `9F42` (ISO 4217 numeric).
    pub currency: u16,
    /// Issuer Country Code `5F28` (ISO 3166 numeric).
    pub country: u16,
    /// Language Preference `5F2D` (ISO 639-1, e.g. `en`).
    pub languages: String,
    /// Application Currency Exponent `9F44`.
    pub currency_exponent: u8,
    /// Credit limit for the host (minor units), credit products.
    pub credit_limit: Option<u64>,
    /// Initial balance for the host (minor units), prepaid products.
    pub initial_balance: Option<u64>,
    /// Cryptogram Version Number profile.
    pub cvn: Cvn,
    /// Name of the CVN profile (`emv-ccd`, `visa18` ...).
    pub cvn_name: String,
    /// ICC master key derivation (Book 2 A1.4).
    pub mk_derivation: MkDerivation,
    /// Offline data authentication method.
    pub oda: OdaMethod,
    /// ICC RSA modulus bits (DDA/CDA).
    pub icc_key_bits: usize,
    /// ICC RSA public exponent.
    pub icc_exponent: PublicExponent,
    /// PIN Verification Key Index (0..=6) for the PVV.
    pub pvki: u8,
    /// PIN issuance.
    pub pin: PinPolicy,
    /// Payment applications.
    pub applications: Vec<ApplicationProfile>,
    /// Extra applications (purse, loyalty, transit).
    pub extras: Vec<ExtraApplication>,
}

// ---------------------------------------------------------------------------
// Raw schema (what the TOML holds)
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    schema: u32,
    product: RawProduct,
    #[serde(default)]
    pin: Option<RawPin>,
    #[serde(default)]
    application: Vec<RawApplication>,
    #[serde(default)]
    extra: Vec<RawExtra>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProduct {
    name: String,
    kind: ProductKind,
    issuer_name: String,
    bin: String,
    #[serde(default = "d_pan_length")]
    pan_length: usize,
    #[serde(default = "d_validity")]
    validity_months: u16,
    #[serde(default)]
    psn: u8,
    service_code: String,
    currency: u16,
    country: u16,
    #[serde(default = "d_lang")]
    languages: String,
    #[serde(default = "d_exp10")]
    currency_exponent: u8,
    #[serde(default)]
    credit_limit: Option<u64>,
    #[serde(default)]
    initial_balance: Option<u64>,
    #[serde(default = "d_cvn")]
    cvn: String,
    #[serde(default)]
    mk_derivation: Option<String>,
    oda: OdaMethod,
    #[serde(default = "d_bits")]
    icc_key_bits: usize,
    #[serde(default = "d_exp")]
    icc_exponent: u32,
    #[serde(default = "d_pvki")]
    pvki: u8,
}

fn d_pan_length() -> usize {
    16
}
fn d_validity() -> u16 {
    36
}
fn d_lang() -> String {
    "en".into()
}
fn d_exp10() -> u8 {
    2
}
fn d_cvn() -> String {
    "emv-ccd".into()
}
fn d_bits() -> usize {
    1024
}
fn d_exp() -> u32 {
    65537
}
fn d_pvki() -> u8 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPin {
    #[serde(default)]
    offline: bool,
    #[serde(default)]
    online: bool,
    #[serde(default = "d_pin_len")]
    length: usize,
    #[serde(default = "d_try")]
    try_limit: u8,
}
fn d_pin_len() -> usize {
    4
}
fn d_try() -> u8 {
    3
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApplication {
    aid: String,
    #[serde(default = "d_class")]
    class: String,
    label: String,
    #[serde(default)]
    preferred_name: Option<String>,
    #[serde(default)]
    priority: Option<u8>,
    interfaces: Vec<Interface>,
    aip: String,
    cvm_list: String,
    iac_default: String,
    iac_denial: String,
    iac_online: String,
    cdol1: String,
    cdol2: String,
    #[serde(default)]
    pdol: String,
    #[serde(default)]
    ddol: String,
    auc: String,
    app_version: String,
    #[serde(default)]
    lcol: u8,
    #[serde(default)]
    ucol: u8,
    #[serde(default)]
    cumulative_limit: u64,
    #[serde(default)]
    cumulative_upper_limit: u64,
    #[serde(default)]
    contactless: Option<RawContactless>,
    afl: Vec<RawAfl>,
    records: Vec<RawRecord>,
    #[serde(default)]
    data: BTreeMap<String, String>,
}
fn d_class() -> String {
    "emv-payment".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContactless {
    aip: String,
    #[serde(default)]
    pdol: String,
    #[serde(default)]
    ctq: Option<String>,
    #[serde(default)]
    ffi: Option<String>,
    #[serde(default)]
    kernel_id: Option<u8>,
    #[serde(default)]
    offline_limit: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAfl {
    sfi: u8,
    first: u8,
    last: u8,
    #[serde(default)]
    oda: u8,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecord {
    sfi: u8,
    record: u8,
    tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExtra {
    kind: String,
    aid: String,
    label: String,
    #[serde(default = "d_ifaces")]
    interfaces: Vec<Interface>,
    #[serde(default)]
    config: toml::Table,
}
fn d_ifaces() -> Vec<Interface> {
    vec![Interface::Contact, Interface::Contactless]
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

/// Tags whose values data preparation computes per card (Book 3 Annex A;
/// Book 2 §5–6 for the ODA objects). Any other tag in a record must be given in
/// the application's `data` table.
pub const CARD_TAGS: &[u32] = &[
    0x5A, 0x57, 0x5F20, 0x5F24, 0x5F25, 0x5F28, 0x5F30, 0x5F34, 0x9F1F, 0x8C, 0x8D, 0x8E, 0x9F0D,
    0x9F0E, 0x9F0F, 0x9F07, 0x9F08, 0x9F42, 0x9F44, 0x9F49, 0x8F, 0x90, 0x92, 0x9F32, 0x9F46,
    0x9F47, 0x9F48, 0x93, 0x9F4A, 0x9F14, 0x9F23, 0x9F6C, 0x9F6E, 0x5F2D,
];

/// Tags that must not be inside ODA-signed records (they are the signature or
/// are signed over the static data themselves).
const NOT_IN_ODA: &[u32] = &[0x93, 0x9F46, 0x9F47, 0x9F48, 0x9F4B];

fn hex_field(field: &str, s: &str) -> Result<Vec<u8>> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(&clean).map_err(|_| PersoError::profile(field, "not hex"))
}

fn hex_fixed<const N: usize>(field: &str, s: &str) -> Result<[u8; N]> {
    let v = hex_field(field, s)?;
    <[u8; N]>::try_from(v.as_slice())
        .map_err(|_| PersoError::profile(field, format!("must be {N} bytes, got {}", v.len())))
}

fn parse_tag(field: &str, s: &str) -> Result<u32> {
    let v = hex_field(field, s)?;
    let (tag, used) = lamina_tlv::Tag::from_bytes(&v, 0)
        .map_err(|_| PersoError::profile(field, "not a BER-TLV tag"))?;
    if used != v.len() || v.is_empty() {
        return Err(PersoError::profile(field, "not a single BER-TLV tag"));
    }
    Ok(tag.number())
}

fn check_dol(field: &str, v: &[u8]) -> Result<()> {
    if !v.is_empty() {
        lamina_emv::dol::Dol::parse(v).map_err(|e| PersoError::profile(field, e.to_string()))?;
    }
    Ok(())
}

fn check_aid(field: &str, v: &[u8]) -> Result<()> {
    if !(5..=16).contains(&v.len()) {
        return Err(PersoError::profile(field, "AID must be 5..=16 bytes"));
    }
    Ok(())
}

fn check_label(field: &str, s: &str) -> Result<()> {
    if s.is_empty() || s.len() > 16 || !s.bytes().all(|b| (0x20..0x7F).contains(&b)) {
        return Err(PersoError::profile(
            field,
            "must be 1..=16 printable ASCII characters (ans)",
        ));
    }
    Ok(())
}

fn cvn_from_name(name: &str) -> Option<Cvn> {
    Some(match name {
        "visa10" => Cvn::Visa10,
        "visa18" => Cvn::Visa18,
        "mastercard16" => Cvn::Mastercard16,
        "interac133" => Cvn::Interac133,
        "emv-ccd" => Cvn::EmvCcd,
        "emv-aes" => Cvn::EmvAes,
        _ => return None,
    })
}

impl Profile {
    /// Parses and validates a profile from TOML text.
    pub fn from_toml(text: &str) -> Result<Profile> {
        let raw: RawProfile =
            toml::from_str(text).map_err(|e| PersoError::ProfileSyntax(e.to_string()))?;
        Self::validate(raw)
    }

    /// Reads and validates a profile file.
    pub fn load(path: &Path) -> Result<Profile> {
        let text = std::fs::read_to_string(path).map_err(|e| PersoError::io(path, e))?;
        Self::from_toml(&text)
    }

    fn validate(raw: RawProfile) -> Result<Profile> {
        if raw.schema != 1 {
            return Err(PersoError::profile("schema", "only schema 1 is known"));
        }
        let p = raw.product;
        if p.name.trim().is_empty() {
            return Err(PersoError::profile("product.name", "must not be empty"));
        }
        if !(6..=11).contains(&p.bin.len()) || !p.bin.bytes().all(|c| c.is_ascii_digit()) {
            return Err(PersoError::profile("product.bin", "must be 6..=11 digits"));
        }
        if !(13..=19).contains(&p.pan_length) {
            return Err(PersoError::profile("product.pan_length", "must be 13..=19"));
        }
        if p.pan_length < p.bin.len() + 2 {
            return Err(PersoError::profile(
                "product.pan_length",
                "leaves no room for an account number after the BIN",
            ));
        }
        if !(1..=120).contains(&p.validity_months) {
            return Err(PersoError::profile(
                "product.validity_months",
                "must be 1..=120",
            ));
        }
        if p.psn > 99 {
            return Err(PersoError::profile("product.psn", "must be 0..=99"));
        }
        if p.service_code.len() != 3 || !p.service_code.bytes().all(|c| c.is_ascii_digit()) {
            return Err(PersoError::profile(
                "product.service_code",
                "must be 3 digits",
            ));
        }
        if p.currency > 999 {
            return Err(PersoError::profile(
                "product.currency",
                "ISO 4217 numeric code 0..=999",
            ));
        }
        if p.country > 999 {
            return Err(PersoError::profile(
                "product.country",
                "ISO 3166 numeric code 0..=999",
            ));
        }
        if p.languages.is_empty()
            || !p.languages.len().is_multiple_of(2)
            || p.languages.len() > 8
            || !p.languages.bytes().all(|c| c.is_ascii_lowercase())
        {
            return Err(PersoError::profile(
                "product.languages",
                "1..=4 ISO 639-1 codes, lower case, concatenated (e.g. \"enfr\")",
            ));
        }
        if p.currency_exponent > 9 {
            return Err(PersoError::profile(
                "product.currency_exponent",
                "must be 0..=9",
            ));
        }
        let cvn = cvn_from_name(&p.cvn).ok_or_else(|| {
            PersoError::profile(
                "product.cvn",
                "unknown CVN (visa10, visa18, mastercard16, interac133, emv-ccd, emv-aes)",
            )
        })?;
        let mk_derivation = match p.mk_derivation.as_deref() {
            None => cvn.profile().mk_derivation,
            Some("A") | Some("a") => MkDerivation::OptionA,
            Some("B") | Some("b") => MkDerivation::OptionB,
            Some(_) => {
                return Err(PersoError::profile(
                    "product.mk_derivation",
                    "must be \"A\" or \"B\"",
                ));
            }
        };
        if p.oda.needs_icc_key()
            && (!(1024..=1984).contains(&p.icc_key_bits) || !p.icc_key_bits.is_multiple_of(8))
        {
            return Err(PersoError::profile(
                "product.icc_key_bits",
                "must be 1024..=1984 and a multiple of 8",
            ));
        }
        let icc_exponent = match p.icc_exponent {
            3 => PublicExponent::Three,
            65537 => PublicExponent::F4,
            _ => {
                return Err(PersoError::profile(
                    "product.icc_exponent",
                    "must be 3 or 65537",
                ));
            }
        };
        if p.pvki > 6 {
            return Err(PersoError::profile("product.pvki", "must be 0..=6"));
        }
        let pin = match raw.pin {
            Some(r) => {
                if !(4..=12).contains(&r.length) {
                    return Err(PersoError::profile("pin.length", "must be 4..=12"));
                }
                if !(1..=15).contains(&r.try_limit) {
                    return Err(PersoError::profile("pin.try_limit", "must be 1..=15"));
                }
                PinPolicy {
                    offline: r.offline,
                    online: r.online,
                    length: r.length,
                    try_limit: r.try_limit,
                }
            }
            None => PinPolicy {
                offline: false,
                online: false,
                length: 4,
                try_limit: 3,
            },
        };
        if raw.application.is_empty() {
            return Err(PersoError::profile(
                "application",
                "at least one application is required",
            ));
        }
        let mut applications = Vec::new();
        for (i, a) in raw.application.into_iter().enumerate() {
            applications.push(validate_app(&format!("application[{i}]"), a, p.oda, cvn)?);
        }
        let mut extras = Vec::new();
        for (i, e) in raw.extra.into_iter().enumerate() {
            let f = format!("extra[{i}]");
            let aid = hex_field(&format!("{f}.aid"), &e.aid)?;
            check_aid(&format!("{f}.aid"), &aid)?;
            check_label(&format!("{f}.label"), &e.label)?;
            if e.kind.is_empty() || !e.kind.bytes().all(|c| c.is_ascii_lowercase() || c == b'-') {
                return Err(PersoError::profile(
                    format!("{f}.kind"),
                    "lower-case applet class name",
                ));
            }
            let config = serde_json::to_value(&e.config)
                .map_err(|err| PersoError::profile(format!("{f}.config"), err.to_string()))?;
            crate::closedloop::check_config(&e.kind, &config)?;
            extras.push(ExtraApplication {
                kind: e.kind,
                aid,
                label: e.label,
                interfaces: e.interfaces,
                config,
            });
        }
        let mut aids: Vec<&[u8]> = applications.iter().map(|a| a.aid.as_slice()).collect();
        aids.extend(extras.iter().map(|e| e.aid.as_slice()));
        let mut sorted = aids.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != aids.len() {
            return Err(PersoError::profile(
                "application.aid",
                "AIDs must be unique on a card",
            ));
        }
        Ok(Profile {
            name: p.name,
            kind: p.kind,
            issuer_name: p.issuer_name,
            bin: p.bin,
            pan_length: p.pan_length,
            validity_months: p.validity_months,
            psn: p.psn,
            service_code: p.service_code,
            currency: p.currency,
            country: p.country,
            languages: p.languages,
            currency_exponent: p.currency_exponent,
            credit_limit: p.credit_limit,
            initial_balance: p.initial_balance,
            cvn,
            cvn_name: p.cvn,
            mk_derivation,
            oda: p.oda,
            icc_key_bits: p.icc_key_bits,
            icc_exponent,
            pvki: p.pvki,
            pin,
            applications,
            extras,
        })
    }
}

/// The Issuer Authentication Data (`91`) length the CVN's ARPC method gives
/// (EMV Book 2 §8.2: method 1 ARPC 8 ‖ ARC 2; method 2 ARPC 4 ‖ CSU 4).
fn iad_91_len(cvn: Cvn) -> usize {
    match cvn.profile().arpc {
        lamina_crypto::emv::ArpcMethod::Method1 => 10,
        lamina_crypto::emv::ArpcMethod::Method2 => 8,
    }
}

fn validate_app(
    f: &str,
    a: RawApplication,
    oda: OdaMethod,
    cvn: Cvn,
) -> Result<ApplicationProfile> {
    let aid = hex_field(&format!("{f}.aid"), &a.aid)?;
    check_aid(&format!("{f}.aid"), &aid)?;
    check_label(&format!("{f}.label"), &a.label)?;
    if let Some(n) = &a.preferred_name {
        check_label(&format!("{f}.preferred_name"), n)?;
    }
    if let Some(p) = a.priority
        && p & 0x0F == 0
    {
        return Err(PersoError::profile(
            format!("{f}.priority"),
            "priority number (low nibble) must be 1..=15",
        ));
    }
    if a.interfaces.is_empty() {
        return Err(PersoError::profile(
            format!("{f}.interfaces"),
            "at least one interface",
        ));
    }
    let aip = hex_fixed::<2>(&format!("{f}.aip"), &a.aip)?;
    let oda_bits = aip[0] & 0x61;
    if oda_bits & oda.aip_bit() != oda.aip_bit() || (oda == OdaMethod::None && oda_bits != 0) {
        return Err(PersoError::profile(
            format!("{f}.aip"),
            format!("AIP byte 1 ODA bits {oda_bits:02X} do not match product.oda = {oda:?}"),
        ));
    }
    let cvm_list = hex_field(&format!("{f}.cvm_list"), &a.cvm_list)?;
    if cvm_list.len() < 8 || cvm_list.len() % 2 != 0 || cvm_list.len() > 252 {
        return Err(PersoError::profile(
            format!("{f}.cvm_list"),
            "amount X (4) ‖ amount Y (4) ‖ 2-byte CV rules",
        ));
    }
    let cdol1 = hex_field(&format!("{f}.cdol1"), &a.cdol1)?;
    check_dol(&format!("{f}.cdol1"), &cdol1)?;
    if cdol1.is_empty() {
        return Err(PersoError::profile(
            format!("{f}.cdol1"),
            "CDOL1 is mandatory",
        ));
    }
    let cdol2 = hex_field(&format!("{f}.cdol2"), &a.cdol2)?;
    check_dol(&format!("{f}.cdol2"), &cdol2)?;
    if let Ok(dol) = lamina_emv::dol::Dol::parse(&cdol2) {
        let want = iad_91_len(cvn);
        if let Some(e) = dol.entries.iter().find(|e| e.tag.number() == 0x91)
            && e.len != want
        {
            // a padded 91 would be read as proprietary authentication data and
            // break the ARPC check in the second GENERATE AC
            return Err(PersoError::profile(
                format!("{f}.cdol2"),
                format!(
                    "Issuer Authentication Data 91 must be {want} bytes for this CVN's ARPC method, not {}",
                    e.len
                ),
            ));
        }
    }
    let pdol = hex_field(&format!("{f}.pdol"), &a.pdol)?;
    check_dol(&format!("{f}.pdol"), &pdol)?;
    let ddol = hex_field(&format!("{f}.ddol"), &a.ddol)?;
    check_dol(&format!("{f}.ddol"), &ddol)?;
    if a.ucol < a.lcol {
        return Err(PersoError::profile(format!("{f}.ucol"), "must be ≥ lcol"));
    }
    if a.cumulative_upper_limit < a.cumulative_limit {
        return Err(PersoError::profile(
            format!("{f}.cumulative_upper_limit"),
            "must be ≥ cumulative_limit",
        ));
    }
    let contactless = match a.contactless {
        None => {
            if a.interfaces.contains(&Interface::Contactless) {
                return Err(PersoError::profile(
                    format!("{f}.contactless"),
                    "required when interfaces include \"contactless\"",
                ));
            }
            None
        }
        Some(c) => {
            let g = format!("{f}.contactless");
            let pdol = hex_field(&format!("{g}.pdol"), &c.pdol)?;
            check_dol(&format!("{g}.pdol"), &pdol)?;
            let cl_aip = hex_fixed::<2>(&format!("{g}.aip"), &c.aip)?;
            // The signed static data include the AIP (SDA Tag List 9F4A = 82) and
            // one ICC certificate serves both interfaces: with offline data
            // authentication both interfaces must present the same AIP, or ODA
            // (CDA on a contactless tap) fails on one of them (EMV Book 2 §5.4,
            // Book 3 §10.3).
            if oda != OdaMethod::None && cl_aip != aip {
                return Err(PersoError::profile(
                    format!("{g}.aip"),
                    format!(
                        "must equal the contact AIP {} when the card signs its static data (ODA {oda:?})",
                        hex::encode_upper(aip)
                    ),
                ));
            }
            Some(ContactlessProfile {
                aip: cl_aip,
                pdol,
                ctq: c
                    .ctq
                    .map(|s| hex_fixed::<2>(&format!("{g}.ctq"), &s))
                    .transpose()?,
                ffi: c
                    .ffi
                    .map(|s| hex_field(&format!("{g}.ffi"), &s))
                    .transpose()?,
                kernel_id: c.kernel_id,
                offline_limit: c.offline_limit,
            })
        }
    };
    let mut data = BTreeMap::new();
    for (k, v) in &a.data {
        let tag = parse_tag(&format!("{f}.data.{k}"), k)?;
        let value = hex_field(&format!("{f}.data.{k}"), v)?;
        data.insert(tag, value);
    }
    // AFL
    if a.afl.is_empty() {
        return Err(PersoError::profile(
            format!("{f}.afl"),
            "at least one AFL entry",
        ));
    }
    let mut afl = Vec::new();
    for (j, e) in a.afl.iter().enumerate() {
        let g = format!("{f}.afl[{j}]");
        if !(1..=30).contains(&e.sfi) {
            return Err(PersoError::profile(format!("{g}.sfi"), "must be 1..=30"));
        }
        if e.first == 0 || e.first == 255 {
            return Err(PersoError::profile(format!("{g}.first"), "must be 1..=254"));
        }
        if e.last < e.first || e.last == 255 {
            return Err(PersoError::profile(
                format!("{g}.last"),
                "must be first..=254",
            ));
        }
        if u16::from(e.oda) > u16::from(e.last - e.first) + 1 {
            return Err(PersoError::profile(
                format!("{g}.oda"),
                "more ODA records than records in the entry",
            ));
        }
        afl.push(AflEntry {
            sfi: e.sfi,
            first: e.first,
            last: e.last,
            oda: e.oda,
        });
    }
    // records
    let mut records = Vec::new();
    for (j, r) in a.records.iter().enumerate() {
        let g = format!("{f}.records[{j}]");
        let entry = afl
            .iter()
            .find(|e| e.sfi == r.sfi && (e.first..=e.last).contains(&r.record));
        let Some(entry) = entry else {
            return Err(PersoError::profile(
                format!("{g}.record"),
                format!("SFI {} record {} is not named by the AFL", r.sfi, r.record),
            ));
        };
        if records
            .iter()
            .any(|x: &RecordLayout| x.sfi == r.sfi && x.record == r.record)
        {
            return Err(PersoError::profile(
                format!("{g}.record"),
                "duplicate record",
            ));
        }
        let mut tags = Vec::new();
        for (k, t) in r.tags.iter().enumerate() {
            let h = format!("{g}.tags[{k}]");
            let tag = parse_tag(&h, t)?;
            if !CARD_TAGS.contains(&tag) && !data.contains_key(&tag) {
                return Err(PersoError::profile(
                    h,
                    format!("tag {t} is neither prepared per card nor given in {f}.data"),
                ));
            }
            if entry.is_oda(r.record) && NOT_IN_ODA.contains(&tag) {
                return Err(PersoError::profile(
                    h,
                    format!("tag {t} cannot be in a record signed for offline data authentication"),
                ));
            }
            if tags.contains(&tag) {
                return Err(PersoError::profile(h, "duplicate tag in record"));
            }
            tags.push(tag);
        }
        records.push(RecordLayout {
            sfi: r.sfi,
            record: r.record,
            tags,
        });
    }
    for (j, e) in afl.iter().enumerate() {
        for n in e.first..=e.last {
            if !records.iter().any(|r| r.sfi == e.sfi && r.record == n) {
                return Err(PersoError::profile(
                    format!("{f}.afl[{j}]"),
                    format!("names SFI {} record {n} but no record defines it", e.sfi),
                ));
            }
        }
    }
    // required objects for the ODA method
    let all: Vec<u32> = records
        .iter()
        .flat_map(|r| r.tags.iter().copied())
        .collect();
    let mut required: Vec<u32> = vec![0x5A, 0x5F24, 0x8C, 0x8D, 0x8E];
    match oda {
        OdaMethod::None => {}
        OdaMethod::Sda => required.extend([0x8F, 0x90, 0x9F32, 0x93]),
        OdaMethod::Dda | OdaMethod::Cda => required.extend([0x8F, 0x90, 0x9F32, 0x9F46, 0x9F47]),
    }
    if oda == OdaMethod::Dda {
        required.push(0x9F49);
        if ddol.is_empty() {
            return Err(PersoError::profile(format!("{f}.ddol"), "DDA needs a DDOL"));
        }
    }
    for t in required {
        if !all.contains(&t) {
            return Err(PersoError::profile(
                format!("{f}.records"),
                format!(
                    "tag {} is required in a record for this profile",
                    lamina_emv::dict::tag_hex(t)
                ),
            ));
        }
    }
    Ok(ApplicationProfile {
        aid,
        class: a.class,
        label: a.label,
        preferred_name: a.preferred_name,
        priority: a.priority,
        interfaces: a.interfaces,
        aip,
        afl,
        records,
        cvm_list,
        iac_default: hex_fixed::<5>(&format!("{f}.iac_default"), &a.iac_default)?,
        iac_denial: hex_fixed::<5>(&format!("{f}.iac_denial"), &a.iac_denial)?,
        iac_online: hex_fixed::<5>(&format!("{f}.iac_online"), &a.iac_online)?,
        cdol1,
        cdol2,
        pdol,
        ddol,
        auc: hex_fixed::<2>(&format!("{f}.auc"), &a.auc)?,
        app_version: hex_fixed::<2>(&format!("{f}.app_version"), &a.app_version)?,
        lcol: a.lcol,
        ucol: a.ucol,
        cumulative_limit: a.cumulative_limit,
        cumulative_upper_limit: a.cumulative_upper_limit,
        contactless,
        data,
    })
}
