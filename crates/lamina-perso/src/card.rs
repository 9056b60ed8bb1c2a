//! The prepared card: the typed data the chip's applets load.
//!
//! [`PreparedCard`] is what data preparation produces and what the card image
//! stores. Each payment application's data ([`EmvData`]) is organised as the
//! Data Grouping Identifiers (DGIs) of the personalization script, so that the
//! image and the STORE DATA script carry exactly the same information
//! ([`EmvData::to_dgis`] / [`EmvData::from_dgis`] are inverse bijections; the
//! replay test checks it byte for byte).
//!
//! ## DGI layout
//!
//! The numbering is *modelled on* EMV Card Personalization Specification v1.1
//! (records, `9102`, `9104`, `8000`, `9000`, `8010`, `9010`); the others are
//! Lamina's own. Contents are BER-TLV unless noted.
//!
//! | DGI | content |
//! |---|---|
//! | `SSRR` (`0101`–`1EFE`) | record RR of SFI SS: the whole `70` template |
//! | `9102` | FCI proprietary template `A5` content for SELECT on the contact interface |
//! | `9103` | same for the contactless interface |
//! | `9104` | GET PROCESSING OPTIONS data, contact: `82` AIP, `94` AFL |
//! | `9105` | same, contactless |
//! | `B001` | card risk management and cryptogram parameters ([`RiskParams`]) |
//! | `B002` | data objects returned by GET DATA (`9F36` ATC, `9F13` LATC, `9F17` PIN try counter …) |
//! | `8000` | MK-AC ‖ MK-SMI ‖ MK-SMC (16 bytes each, plain: see below) |
//! | `8001` | MK-IDN (16 bytes) |
//! | `9000` | KCVs of the `8000` keys (3 bytes each) |
//! | `8010` | reference PIN as an ISO 9564 format 2 block (8 bytes) |
//! | `9010` | PIN Try Limit ‖ PIN Try Counter |
//! | `8201` | ICC RSA modulus; `8202` public exponent; `8203` private exponent; `8204` q; `8205` p |
//!
//! On a real card the secret DGIs (`8000`, `8001`, `8010`, `82xx`) are
//! encrypted under the session DEK of the GlobalPlatform secure channel; the
//! emulator's script carries them in clear, so script and image are secret
//! files (mode 0600).

use lamina_crypto::sym;
use serde::{Deserialize, Serialize};

use crate::keystore::StoredRsaKey;
use crate::profile::Interface;
use crate::util::{SecretBytes, hex_bytes, opt_hex_bytes};
use crate::{PersoError, Result};

/// The prepared data of one card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreparedCard {
    /// Card identifier (bureau-wide unique; not the PAN).
    pub card_id: String,
    /// Product (profile) name.
    pub product: String,
    /// Applications in installation order.
    pub applications: Vec<PreparedApplication>,
}

/// How an application is installed (the registry entry of the chip OS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppInstall {
    /// AID.
    #[serde(with = "hex_bytes")]
    pub aid: Vec<u8>,
    /// Applet class (`emv-payment`, `purse`, `loyalty`, `transit` …).
    pub class: String,
    /// Application Label `50`.
    pub label: String,
    /// Application Preferred Name `9F12`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_name: Option<String>,
    /// Application Priority Indicator `87`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    /// Interfaces on which the application is selectable.
    pub interfaces: Vec<Interface>,
    /// Install parameters (for extra applications: their JSON configuration).
    #[serde(with = "hex_bytes")]
    pub params: Vec<u8>,
    /// Kernel Identifier `9F2A` for the PPSE directory entry (contactless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_id: Option<u8>,
}

/// One application on the card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreparedApplication {
    /// Installation entry.
    pub install: AppInstall,
    /// Payment data (EMV applications only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emv: Option<EmvData>,
}

/// GET PROCESSING OPTIONS response data (EMV Book 3 §6.5.8.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpoData {
    /// Application Interchange Profile `82`.
    #[serde(with = "hex_bytes")]
    pub aip: Vec<u8>,
    /// Application File Locator `94`.
    #[serde(with = "hex_bytes")]
    pub afl: Vec<u8>,
}

/// One record: SFI, number and the whole `70` template. `Debug` shows only the
/// length (records hold the PAN and Track 2).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Short file identifier.
    pub sfi: u8,
    /// Record number.
    pub record: u8,
    /// The record template (`70 L …`).
    #[serde(with = "hex_bytes")]
    pub data: Vec<u8>,
}

/// Card risk management and cryptogram parameters (DGI `B001`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskParams {
    /// CVN profile name (`emv-ccd`, `visa18` …) the applet uses for cryptograms.
    pub cvn: String,
    /// ICC master key derivation used (`A` or `B`), for the host.
    pub mk_derivation: String,
    /// Application Currency Code (ISO 4217 numeric).
    pub currency: u16,
    /// Lower Consecutive Offline Limit.
    pub lcol: u8,
    /// Upper Consecutive Offline Limit.
    pub ucol: u8,
    /// Cumulative Total Transaction Amount Limit (minor units).
    pub cumulative_limit: u64,
    /// Cumulative Total Transaction Amount Upper Limit (minor units).
    pub cumulative_upper_limit: u64,
    /// Contactless offline limit (minor units), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contactless_offline_limit: Option<u64>,
}

/// The ICC master keys (EMV Book 2 A1.4), derived for this card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardKeys {
    /// ICC master key for application cryptograms.
    pub mk_ac: SecretBytes,
    /// ICC master key for secure messaging integrity.
    pub mk_smi: SecretBytes,
    /// ICC master key for secure messaging confidentiality.
    pub mk_smc: SecretBytes,
    /// ICC master key for ICC dynamic numbers.
    pub mk_idn: SecretBytes,
}

/// The offline reference PIN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferencePin {
    /// ISO 9564-1 format 2 PIN block (8 bytes).
    pub block: SecretBytes,
    /// PIN Try Limit.
    pub try_limit: u8,
}

/// All data of an EMV payment application, organised by DGI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmvData {
    /// `A5` content for SELECT on the contact interface (DGI `9102`).
    #[serde(with = "hex_bytes")]
    pub fci: Vec<u8>,
    /// `A5` content on the contactless interface (DGI `9103`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_hex_bytes"
    )]
    pub fci_contactless: Option<Vec<u8>>,
    /// GPO data, contact (DGI `9104`).
    pub gpo: GpoData,
    /// GPO data, contactless (DGI `9105`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpo_contactless: Option<GpoData>,
    /// Records, in AFL order.
    pub records: Vec<Record>,
    /// GET DATA objects as a TLV list (DGI `B002`).
    #[serde(with = "hex_bytes")]
    pub get_data: Vec<u8>,
    /// Risk parameters (DGI `B001`).
    pub risk: RiskParams,
    /// ICC master keys (DGIs `8000`, `8001`, `9000`).
    pub keys: CardKeys,
    /// Reference PIN (DGIs `8010`, `9010`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<ReferencePin>,
    /// ICC RSA key (DGIs `8201`–`8205`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icc_key: Option<StoredRsaKey>,
}

/// One Data Grouping: identifier and data. `Debug` shows only the length
/// (DGIs carry keys, the PIN block and the PAN).
#[derive(Clone, PartialEq, Eq)]
pub struct Dgi {
    /// The DGI (2 bytes).
    pub id: u16,
    /// Its data.
    pub data: Vec<u8>,
}

impl core::fmt::Debug for Dgi {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Dgi({:04X}, {} bytes)", self.id, self.data.len())
    }
}

impl core::fmt::Debug for Record {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "Record(SFI {} #{}, {} bytes)",
            self.sfi,
            self.record,
            self.data.len()
        )
    }
}

impl Dgi {
    /// `DGI ‖ L ‖ data` with L on 1 byte (< 255) or `FF` ‖ 2 bytes (EMV CPS §3.2).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        out.extend_from_slice(&self.id.to_be_bytes());
        let n = self.data.len();
        if n < 255 {
            out.push(u8::try_from(n).map_err(|_| PersoError::Script("length".into()))?);
        } else {
            let n = u16::try_from(n).map_err(|_| {
                PersoError::Script(format!("DGI {:04X} longer than 65535", self.id))
            })?;
            out.push(0xFF);
            out.extend_from_slice(&n.to_be_bytes());
        }
        out.extend_from_slice(&self.data);
        Ok(())
    }

    /// Parses a concatenation of DGIs.
    pub fn parse_all(mut data: &[u8]) -> Result<Vec<Dgi>> {
        let mut out = Vec::new();
        while !data.is_empty() {
            let (id, rest) = match data {
                [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
                _ => return Err(PersoError::Script("truncated DGI identifier".into())),
            };
            let (len, rest) = match rest {
                [0xFF, a, b, rest @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), rest),
                [0xFF, ..] => return Err(PersoError::Script("truncated DGI length".into())),
                [l, rest @ ..] => (usize::from(*l), rest),
                [] => return Err(PersoError::Script("truncated DGI length".into())),
            };
            let value = rest
                .get(..len)
                .ok_or_else(|| PersoError::Script(format!("DGI {id:04X} data truncated")))?;
            out.push(Dgi {
                id,
                data: value.to_vec(),
            });
            data = rest.get(len..).unwrap_or(&[]);
        }
        Ok(out)
    }
}

// DGI numbers
const DGI_FCI: u16 = 0x9102;
const DGI_FCI_CL: u16 = 0x9103;
const DGI_GPO: u16 = 0x9104;
const DGI_GPO_CL: u16 = 0x9105;
const DGI_RISK: u16 = 0xB001;
const DGI_GET_DATA: u16 = 0xB002;
const DGI_MK: u16 = 0x8000;
const DGI_MK_IDN: u16 = 0x8001;
const DGI_KCV: u16 = 0x9000;
const DGI_PIN: u16 = 0x8010;
const DGI_PIN_DATA: u16 = 0x9010;
const DGI_RSA_N: u16 = 0x8201;
const DGI_RSA_E: u16 = 0x8202;
const DGI_RSA_D: u16 = 0x8203;
const DGI_RSA_Q: u16 = 0x8204;
const DGI_RSA_P: u16 = 0x8205;

// private tags of DGI B001
const T_CVN: u32 = 0xDF01;
const T_MKD: u32 = 0xDF02;
const T_CURRENCY: u32 = 0x9F42;
const T_LCOL: u32 = 0x9F14;
const T_UCOL: u32 = 0x9F23;
const T_CTTAL: u32 = 0xDF03;
const T_CTTAUL: u32 = 0xDF04;
const T_CL_LIMIT: u32 = 0xDF05;

fn tlv(tag: u32, v: impl Into<Vec<u8>>) -> lamina_tlv::Tlv {
    lamina_tlv::Tlv::primitive(tag, v)
}

fn gpo_bytes(g: &GpoData) -> Vec<u8> {
    lamina_tlv::Tlv::encode_all(&[tlv(0x82, g.aip.clone()), tlv(0x94, g.afl.clone())])
}

fn script_err(msg: impl Into<String>) -> PersoError {
    PersoError::Script(msg.into())
}

/// Primitive TLVs of a DGI as (tag, value) pairs.
fn tlv_pairs(data: &[u8], dgi: u16) -> Result<Vec<(u32, Vec<u8>)>> {
    let list =
        lamina_tlv::Tlv::parse_all(data).map_err(|e| script_err(format!("DGI {dgi:04X}: {e}")))?;
    Ok(list
        .into_iter()
        .filter_map(|t| {
            let v = t.value_bytes()?.to_vec();
            Some((t.tag.number(), v))
        })
        .collect())
}

fn find(pairs: &[(u32, Vec<u8>)], tag: u32) -> Option<&[u8]> {
    pairs
        .iter()
        .find(|(t, _)| *t == tag)
        .map(|(_, v)| v.as_slice())
}

fn parse_gpo(data: &[u8], dgi: u16) -> Result<GpoData> {
    let p = tlv_pairs(data, dgi)?;
    Ok(GpoData {
        aip: find(&p, 0x82)
            .ok_or_else(|| script_err(format!("DGI {dgi:04X}: no AIP")))?
            .to_vec(),
        afl: find(&p, 0x94)
            .ok_or_else(|| script_err(format!("DGI {dgi:04X}: no AFL")))?
            .to_vec(),
    })
}

/// An amount as n12 (6 bytes BCD).
fn n12(v: u64) -> Result<Vec<u8>> {
    if v > 999_999_999_999 {
        return Err(PersoError::invalid("amount", "more than 12 digits"));
    }
    crate::util::digits_to_bcd(&format!("{v:012}"))
}

fn from_bcd(v: &[u8]) -> Option<u64> {
    let mut n: u64 = 0;
    for b in v {
        let (hi, lo) = (b >> 4, b & 0x0F);
        if hi > 9 || lo > 9 {
            return None;
        }
        n = n
            .checked_mul(100)?
            .checked_add(u64::from(hi) * 10 + u64::from(lo))?;
    }
    Some(n)
}

impl RiskParams {
    fn to_tlv(&self) -> Result<Vec<u8>> {
        let mut list = vec![
            tlv(T_CVN, self.cvn.as_bytes().to_vec()),
            tlv(T_MKD, self.mk_derivation.as_bytes().to_vec()),
            tlv(
                T_CURRENCY,
                crate::util::digits_to_bcd(&format!("{:04}", self.currency))?,
            ),
            tlv(T_LCOL, vec![self.lcol]),
            tlv(T_UCOL, vec![self.ucol]),
            tlv(T_CTTAL, n12(self.cumulative_limit)?),
            tlv(T_CTTAUL, n12(self.cumulative_upper_limit)?),
        ];
        if let Some(l) = self.contactless_offline_limit {
            list.push(tlv(T_CL_LIMIT, n12(l)?));
        }
        Ok(lamina_tlv::Tlv::encode_all(&list))
    }

    fn from_tlv(data: &[u8]) -> Result<Self> {
        let p = tlv_pairs(data, DGI_RISK)?;
        let get = |t: u32, what: &str| -> Result<&[u8]> {
            find(&p, t).ok_or_else(|| script_err(format!("DGI B001: missing {what}")))
        };
        let text = |t: u32, what: &str| -> Result<String> {
            String::from_utf8(get(t, what)?.to_vec())
                .map_err(|_| script_err(format!("DGI B001: {what} not text")))
        };
        let bcd = |t: u32, what: &str| -> Result<u64> {
            from_bcd(get(t, what)?).ok_or_else(|| script_err(format!("DGI B001: {what} not BCD")))
        };
        let byte = |t: u32, what: &str| -> Result<u8> {
            match get(t, what)? {
                [b] => Ok(*b),
                _ => Err(script_err(format!("DGI B001: {what} must be 1 byte"))),
            }
        };
        Ok(RiskParams {
            cvn: text(T_CVN, "CVN")?,
            mk_derivation: text(T_MKD, "MK derivation")?,
            currency: u16::try_from(bcd(T_CURRENCY, "currency")?)
                .map_err(|_| script_err("DGI B001: currency"))?,
            lcol: byte(T_LCOL, "LCOL")?,
            ucol: byte(T_UCOL, "UCOL")?,
            cumulative_limit: bcd(T_CTTAL, "cumulative limit")?,
            cumulative_upper_limit: bcd(T_CTTAUL, "cumulative upper limit")?,
            contactless_offline_limit: match find(&p, T_CL_LIMIT) {
                Some(v) => {
                    Some(from_bcd(v).ok_or_else(|| script_err("DGI B001: contactless limit"))?)
                }
                None => None,
            },
        })
    }
}

impl CardKeys {
    /// KCVs of MK-AC, MK-SMI, MK-SMC (DGI `9000`).
    pub fn kcvs(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(9);
        for k in [&self.mk_ac, &self.mk_smi, &self.mk_smc] {
            out.extend_from_slice(&sym::kcv_tdes(k.expose())?);
        }
        Ok(out)
    }
}

impl EmvData {
    /// The DGIs that personalize this application, in script order.
    pub fn to_dgis(&self) -> Result<Vec<Dgi>> {
        let mut out = Vec::new();
        for r in &self.records {
            out.push(Dgi {
                id: u16::from_be_bytes([r.sfi, r.record]),
                data: r.data.clone(),
            });
        }
        out.push(Dgi {
            id: DGI_FCI,
            data: self.fci.clone(),
        });
        if let Some(f) = &self.fci_contactless {
            out.push(Dgi {
                id: DGI_FCI_CL,
                data: f.clone(),
            });
        }
        out.push(Dgi {
            id: DGI_GPO,
            data: gpo_bytes(&self.gpo),
        });
        if let Some(g) = &self.gpo_contactless {
            out.push(Dgi {
                id: DGI_GPO_CL,
                data: gpo_bytes(g),
            });
        }
        out.push(Dgi {
            id: DGI_RISK,
            data: self.risk.to_tlv()?,
        });
        out.push(Dgi {
            id: DGI_GET_DATA,
            data: self.get_data.clone(),
        });
        let mut mk = Vec::with_capacity(48);
        for k in [&self.keys.mk_ac, &self.keys.mk_smi, &self.keys.mk_smc] {
            if k.len() != 16 {
                return Err(PersoError::invalid("ICC master key", "must be 16 bytes"));
            }
            mk.extend_from_slice(k.expose());
        }
        out.push(Dgi {
            id: DGI_MK,
            data: mk,
        });
        out.push(Dgi {
            id: DGI_MK_IDN,
            data: self.keys.mk_idn.expose().to_vec(),
        });
        out.push(Dgi {
            id: DGI_KCV,
            data: self.keys.kcvs()?,
        });
        if let Some(pin) = &self.pin {
            out.push(Dgi {
                id: DGI_PIN,
                data: pin.block.expose().to_vec(),
            });
            out.push(Dgi {
                id: DGI_PIN_DATA,
                data: vec![pin.try_limit, pin.try_limit],
            });
        }
        if let Some(k) = &self.icc_key {
            out.push(Dgi {
                id: DGI_RSA_N,
                data: k.modulus.clone(),
            });
            out.push(Dgi {
                id: DGI_RSA_E,
                data: k.exponent.clone(),
            });
            out.push(Dgi {
                id: DGI_RSA_D,
                data: k.d.expose().to_vec(),
            });
            out.push(Dgi {
                id: DGI_RSA_Q,
                data: k.q.expose().to_vec(),
            });
            out.push(Dgi {
                id: DGI_RSA_P,
                data: k.p.expose().to_vec(),
            });
        }
        Ok(out)
    }

    /// Rebuilds the application data from its DGIs (the STORE DATA handler's
    /// side). Unknown DGIs, missing mandatory DGIs and KCV mismatches are errors.
    pub fn from_dgis(dgis: &[Dgi]) -> Result<Self> {
        let get = |id: u16| dgis.iter().find(|d| d.id == id).map(|d| d.data.as_slice());
        let need = |id: u16| get(id).ok_or_else(|| script_err(format!("missing DGI {id:04X}")));
        let mut records = Vec::new();
        for d in dgis {
            let [sfi, rec] = d.id.to_be_bytes();
            let known = matches!(
                d.id,
                DGI_FCI
                    | DGI_FCI_CL
                    | DGI_GPO
                    | DGI_GPO_CL
                    | DGI_RISK
                    | DGI_GET_DATA
                    | DGI_MK
                    | DGI_MK_IDN
                    | DGI_KCV
                    | DGI_PIN
                    | DGI_PIN_DATA
                    | DGI_RSA_N
                    | DGI_RSA_E
                    | DGI_RSA_D
                    | DGI_RSA_Q
                    | DGI_RSA_P
            );
            if (1..=30).contains(&sfi) && (1..=254).contains(&rec) {
                if d.data.first() != Some(&0x70) {
                    return Err(script_err(format!(
                        "DGI {:04X}: record is not a 70 template",
                        d.id
                    )));
                }
                records.push(Record {
                    sfi,
                    record: rec,
                    data: d.data.clone(),
                });
            } else if !known {
                return Err(script_err(format!("unknown DGI {:04X}", d.id)));
            }
        }
        let mk = need(DGI_MK)?;
        if mk.len() != 48 {
            return Err(script_err("DGI 8000 must hold three 16-byte keys"));
        }
        let key = |i: usize| SecretBytes::new(mk.get(i * 16..i * 16 + 16).unwrap_or(&[]).to_vec());
        let keys = CardKeys {
            mk_ac: key(0),
            mk_smi: key(1),
            mk_smc: key(2),
            mk_idn: SecretBytes::new(need(DGI_MK_IDN)?.to_vec()),
        };
        if !sym::ct_eq(&keys.kcvs()?, need(DGI_KCV)?) {
            return Err(script_err(
                "DGI 9000: key check values do not match DGI 8000",
            ));
        }
        let pin = match get(DGI_PIN) {
            Some(block) => {
                let limit = match need(DGI_PIN_DATA)? {
                    [l, _] => *l,
                    _ => return Err(script_err("DGI 9010 must be 2 bytes")),
                };
                Some(ReferencePin {
                    block: SecretBytes::new(block.to_vec()),
                    try_limit: limit,
                })
            }
            None => None,
        };
        let icc_key = match get(DGI_RSA_N) {
            Some(n) => Some(StoredRsaKey {
                modulus: n.to_vec(),
                exponent: need(DGI_RSA_E)?.to_vec(),
                d: SecretBytes::new(need(DGI_RSA_D)?.to_vec()),
                q: SecretBytes::new(need(DGI_RSA_Q)?.to_vec()),
                p: SecretBytes::new(need(DGI_RSA_P)?.to_vec()),
            }),
            None => None,
        };
        Ok(EmvData {
            fci: need(DGI_FCI)?.to_vec(),
            fci_contactless: get(DGI_FCI_CL).map(<[u8]>::to_vec),
            gpo: parse_gpo(need(DGI_GPO)?, DGI_GPO)?,
            gpo_contactless: get(DGI_GPO_CL)
                .map(|d| parse_gpo(d, DGI_GPO_CL))
                .transpose()?,
            records,
            get_data: need(DGI_GET_DATA)?.to_vec(),
            risk: RiskParams::from_tlv(need(DGI_RISK)?)?,
            keys,
            pin,
            icc_key,
        })
    }

    /// The value of `tag` in the records (first occurrence).
    pub fn record_value(&self, tag: u32) -> Option<Vec<u8>> {
        for r in &self.records {
            if let Ok(t) = lamina_tlv::Tlv::parse_one(&r.data)
                && let Some(found) = lamina_tlv::find_recursive(std::slice::from_ref(&t), tag)
            {
                return found.value_bytes().map(<[u8]>::to_vec);
            }
        }
        None
    }
}

impl PreparedCard {
    /// The first EMV application's data.
    pub fn emv(&self) -> Option<&EmvData> {
        self.applications.iter().find_map(|a| a.emv.as_ref())
    }

    /// The PAN (from tag `5A`), digits only. Sensitive: never log it.
    pub fn pan(&self) -> Option<String> {
        let v = self.emv()?.record_value(0x5A)?;
        let s: String = hex::encode_upper(v).trim_end_matches('F').to_string();
        Some(s)
    }

    /// The masked PAN for display.
    pub fn masked_pan(&self) -> String {
        self.pan()
            .map(|p| crate::util::mask_pan(&p))
            .unwrap_or_default()
    }
}
