//! Terminal configuration (EMV Book 4 §4 "Terminal data" and Annex A; Book 3 §10.6
//! risk-management parameters; Book 1 §12.3 supported applications) read from TOML.
//!
//! Every value is checked when the file is loaded: a bad field is a [`ConfigError`]
//! naming it. Binary values are hex strings; amounts are integers in minor units.

use lamina_emv::bitmaps::{AdditionalTerminalCapabilities, TerminalCapabilities, Tvr};
use lamina_emv::dol::Dol;
use serde::Deserialize;

use crate::capk::{CapkStore, RevokedCertificate};
use crate::source::ConfigSource;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The TOML could not be parsed.
    #[error("TOML: {0}")]
    Toml(String),
    /// A field has an invalid value.
    #[error("field `{field}`: {reason}")]
    Field {
        /// Dotted field name.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

fn field(name: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Field {
        field: name.to_owned(),
        reason: reason.into(),
    }
}

/// One application the terminal supports (Book 1 §12.3.1; Book 4 §5.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportedAid {
    /// The AID (5–16 bytes).
    pub aid: Vec<u8>,
    /// Application Selection Indicator: `true` when the card's DF name may be longer
    /// than this AID (partial match, Book 1 §12.3.1).
    pub partial_match: bool,
    /// Application Version Number of the terminal for this AID (tag `9F09`).
    pub app_version: [u8; 2],
    /// Name shown when the card supplies none.
    pub label: String,
    /// Terminal Action Codes for this application (Book 3 §10.7).
    pub tac: ActionCodes,
    /// Terminal floor limit for this application, minor units (tag `9F1B`).
    pub floor_limit: u64,
    /// Default TDOL (Book 3 §5.4) used when the card has none.
    pub default_tdol: Dol,
    /// Default DDOL (Book 3 §5.4) used when the card has none.
    pub default_ddol: Dol,
}

/// Terminal Action Codes (Book 3 §10.7): same layout as the TVR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ActionCodes {
    /// TAC-Denial.
    pub denial: Tvr,
    /// TAC-Online.
    pub online: Tvr,
    /// TAC-Default.
    pub default: Tvr,
}

/// Random transaction selection parameters (Book 3 §10.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomSelection {
    /// Threshold value for biased random selection (minor units; below the floor limit).
    pub threshold: u64,
    /// Target percentage for random selection (0–99).
    pub target_percent: u8,
    /// Maximum target percentage for biased random selection (0–99, ≥ target).
    pub max_target_percent: u8,
}

/// The whole terminal configuration.
#[derive(Debug, Clone)]
pub struct TerminalConfig {
    /// Terminal Type (tag `9F35`, Book 4 Annex A1).
    pub terminal_type: u8,
    /// Terminal Capabilities (tag `9F33`, Book 4 Annex A2).
    pub capabilities: TerminalCapabilities,
    /// Additional Terminal Capabilities (tag `9F40`, Book 4 Annex A3).
    pub additional_capabilities: AdditionalTerminalCapabilities,
    /// Terminal Country Code (tag `9F1A`), ISO 3166-1 numeric.
    pub country: u16,
    /// Transaction Currency Code (tag `5F2A`), ISO 4217 numeric.
    pub currency: u16,
    /// Transaction Currency Exponent (tag `5F36`).
    pub currency_exponent: u8,
    /// Merchant Category Code (tag `9F15`).
    pub mcc: u16,
    /// Merchant Identifier (tag `9F16`, ans 15).
    pub merchant_id: String,
    /// Terminal Identification (tag `9F1C`, an 8).
    pub terminal_id: String,
    /// Merchant Name and Location (tag `9F4E`).
    pub merchant_name: String,
    /// Interface Device serial number (tag `9F1E`, an 8).
    pub ifd_serial: String,
    /// Whether the terminal can go online (Terminal Type and Book 3 §10.7).
    pub online_capable: bool,
    /// Whether the terminal supports the PSE directory method (Book 1 §12.3.2).
    pub pse: bool,
    /// Whether the cardholder may confirm or choose the application (Book 1 §12.4).
    pub cardholder_confirmation: bool,
    /// Whether PIN entry may be bypassed (Book 4 §6.3.4.5).
    pub pin_bypass: bool,
    /// Random transaction selection (Book 3 §10.6.2).
    pub random_selection: RandomSelection,
    /// Velocity checking enabled (Book 3 §10.6.3).
    pub velocity_check: bool,
    /// Supported applications.
    pub aids: Vec<SupportedAid>,
    /// CA public keys (Book 2 §11.2).
    pub capks: CapkStore,
    /// Certification revocation list (Book 2 §5.3 step 10, §6.3 step 10).
    pub revoked: Vec<RevokedCertificate>,
    /// Exception file: PANs (with optional PAN sequence number) to refuse (Book 3 §10.6.1).
    pub exception_file: Vec<String>,
}

// ---------------------------------------------------------------------------
// TOML model
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    terminal: RawTerminal,
    #[serde(default)]
    random_selection: Option<RawRandom>,
    #[serde(default)]
    velocity: Option<RawVelocity>,
    tac: RawTac,
    #[serde(default)]
    aid: Vec<RawAid>,
    #[serde(default)]
    capk: Option<RawCapk>,
    #[serde(default)]
    revoked: Vec<RawRevoked>,
    #[serde(default)]
    exception_file: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTerminal {
    terminal_type: String,
    capabilities: String,
    additional_capabilities: String,
    country: u16,
    currency: u16,
    #[serde(default = "two")]
    currency_exponent: u8,
    mcc: u16,
    merchant_id: String,
    terminal_id: String,
    #[serde(default)]
    merchant_name: String,
    #[serde(default)]
    ifd_serial: String,
    floor_limit: u64,
    #[serde(default = "yes")]
    online_capable: bool,
    #[serde(default = "yes")]
    pse: bool,
    #[serde(default = "yes")]
    cardholder_confirmation: bool,
    #[serde(default = "yes")]
    pin_bypass: bool,
    #[serde(default)]
    default_tdol: String,
    #[serde(default)]
    default_ddol: String,
}

fn two() -> u8 {
    2
}
fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRandom {
    threshold: u64,
    target_percent: u8,
    max_target_percent: u8,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVelocity {
    enabled: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTac {
    default: String,
    denial: String,
    online: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAid {
    aid: String,
    #[serde(default = "yes")]
    partial_match: bool,
    app_version: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    floor_limit: Option<u64>,
    #[serde(default)]
    tac: Option<RawTac>,
    #[serde(default)]
    default_tdol: Option<String>,
    #[serde(default)]
    default_ddol: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCapk {
    file: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRevoked {
    rid: String,
    index: String,
    serial: String,
}

/// Decodes a hex field of exactly `N` bytes.
pub(crate) fn hex_n<const N: usize>(name: &str, s: &str) -> Result<[u8; N], ConfigError> {
    let v = hex_any(name, s)?;
    <[u8; N]>::try_from(v.as_slice())
        .map_err(|_| field(name, format!("expected {N} bytes of hex, got {}", v.len())))
}

/// Decodes a hex field of any length (spaces ignored).
pub(crate) fn hex_any(name: &str, s: &str) -> Result<Vec<u8>, ConfigError> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(&clean).map_err(|e| field(name, format!("not hex: {e}")))
}

fn tac(name: &str, raw: &RawTac) -> Result<ActionCodes, ConfigError> {
    Ok(ActionCodes {
        denial: Tvr(hex_n::<5>(&format!("{name}.denial"), &raw.denial)?),
        online: Tvr(hex_n::<5>(&format!("{name}.online"), &raw.online)?),
        default: Tvr(hex_n::<5>(&format!("{name}.default"), &raw.default)?),
    })
}

fn dol(name: &str, s: &str) -> Result<Dol, ConfigError> {
    let bytes = hex_any(name, s)?;
    Dol::parse(&bytes).map_err(|e| field(name, e.to_string()))
}

fn ascii(name: &str, s: &str, max: usize) -> Result<String, ConfigError> {
    if s.len() > max || !s.bytes().all(|b| (0x20..=0x7E).contains(&b)) {
        return Err(field(
            name,
            format!("expected at most {max} printable ASCII characters"),
        ));
    }
    Ok(s.to_owned())
}

impl TerminalConfig {
    /// Parses a configuration; `source` gives the CAPK file it names.
    pub fn from_toml(text: &str, source: &dyn ConfigSource) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
        let t = &raw.terminal;
        let [terminal_type] = hex_n::<1>("terminal.terminal_type", &t.terminal_type)?;
        let capabilities =
            TerminalCapabilities(hex_n::<3>("terminal.capabilities", &t.capabilities)?);
        let additional_capabilities = AdditionalTerminalCapabilities(hex_n::<5>(
            "terminal.additional_capabilities",
            &t.additional_capabilities,
        )?);
        for (name, v) in [
            ("terminal.country", t.country),
            ("terminal.currency", t.currency),
        ] {
            if v > 999 {
                return Err(field(name, "expected an ISO numeric code 0..=999"));
            }
        }
        if t.mcc > 9999 {
            return Err(field("terminal.mcc", "expected 4 digits"));
        }
        let random_selection = match &raw.random_selection {
            Some(r) => {
                if r.target_percent > 99
                    || r.max_target_percent > 99
                    || r.target_percent > r.max_target_percent
                {
                    return Err(field(
                        "random_selection",
                        "percentages must be 0..=99 with target ≤ max_target",
                    ));
                }
                if r.threshold >= t.floor_limit && t.floor_limit > 0 {
                    return Err(field(
                        "random_selection.threshold",
                        "must be below the floor limit",
                    ));
                }
                RandomSelection {
                    threshold: r.threshold,
                    target_percent: r.target_percent,
                    max_target_percent: r.max_target_percent,
                }
            }
            None => RandomSelection {
                threshold: 0,
                target_percent: 0,
                max_target_percent: 0,
            },
        };
        let global_tac = tac("tac", &raw.tac)?;
        let default_tdol = dol("terminal.default_tdol", &t.default_tdol)?;
        let default_ddol = dol("terminal.default_ddol", &t.default_ddol)?;
        let mut aids = Vec::new();
        for (i, a) in raw.aid.iter().enumerate() {
            let name = format!("aid[{i}]");
            let aid = hex_any(&format!("{name}.aid"), &a.aid)?;
            if !(5..=16).contains(&aid.len()) {
                return Err(field(&format!("{name}.aid"), "AID must be 5 to 16 bytes"));
            }
            aids.push(SupportedAid {
                aid,
                partial_match: a.partial_match,
                app_version: hex_n::<2>(&format!("{name}.app_version"), &a.app_version)?,
                label: ascii(&format!("{name}.label"), &a.label, 16)?,
                tac: match &a.tac {
                    Some(r) => tac(&format!("{name}.tac"), r)?,
                    None => global_tac,
                },
                floor_limit: a.floor_limit.unwrap_or(t.floor_limit),
                default_tdol: match &a.default_tdol {
                    Some(s) => dol(&format!("{name}.default_tdol"), s)?,
                    None => default_tdol.clone(),
                },
                default_ddol: match &a.default_ddol {
                    Some(s) => dol(&format!("{name}.default_ddol"), s)?,
                    None => default_ddol.clone(),
                },
            });
        }
        if aids.is_empty() {
            return Err(field("aid", "at least one supported application is needed"));
        }
        let capks = match &raw.capk {
            Some(c) => CapkStore::from_toml(&source.read(&c.file)?)?,
            None => CapkStore::default(),
        };
        let mut revoked = Vec::new();
        for (i, r) in raw.revoked.iter().enumerate() {
            let name = format!("revoked[{i}]");
            revoked.push(RevokedCertificate {
                rid: hex_n::<5>(&format!("{name}.rid"), &r.rid)?,
                ca_index: hex_n::<1>(&format!("{name}.index"), &r.index)?[0],
                serial: hex_n::<3>(&format!("{name}.serial"), &r.serial)?,
            });
        }
        for (i, p) in raw.exception_file.iter().enumerate() {
            if p.is_empty() || p.len() > 19 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(field(
                    &format!("exception_file[{i}]"),
                    "expected a PAN of 1 to 19 digits",
                ));
            }
        }
        Ok(TerminalConfig {
            terminal_type,
            capabilities,
            additional_capabilities,
            country: t.country,
            currency: t.currency,
            currency_exponent: t.currency_exponent,
            mcc: t.mcc,
            merchant_id: ascii("terminal.merchant_id", &t.merchant_id, 15)?,
            terminal_id: ascii("terminal.terminal_id", &t.terminal_id, 8)?,
            merchant_name: ascii("terminal.merchant_name", &t.merchant_name, 64)?,
            ifd_serial: ascii("terminal.ifd_serial", &t.ifd_serial, 8)?,
            online_capable: t.online_capable,
            pse: t.pse,
            cardholder_confirmation: t.cardholder_confirmation,
            pin_bypass: t.pin_bypass,
            random_selection,
            velocity_check: raw.velocity.as_ref().is_none_or(|v| v.enabled),
            aids,
            capks,
            revoked,
            exception_file: raw.exception_file.clone(),
        })
    }

    /// Whether the terminal is an ATM (Terminal Type '14', '15', '16' with cash
    /// capability, Book 4 Annex A1).
    pub fn is_atm(&self) -> bool {
        matches!(self.terminal_type, 0x14..=0x16) && self.additional_capabilities.0[0] & 0x80 != 0
    }

    /// Whether the terminal is unattended (Terminal Type second digit 4, 5 or 6).
    pub fn is_unattended(&self) -> bool {
        matches!(self.terminal_type & 0x0F, 4..=6)
    }

    /// The configuration for the AID the card's DF name matches (exact or partial).
    pub fn aid_for(&self, df_name: &[u8]) -> Option<&SupportedAid> {
        self.aids.iter().find(|a| a.aid == df_name).or_else(|| {
            self.aids
                .iter()
                .find(|a| a.partial_match && df_name.starts_with(&a.aid))
        })
    }
}
