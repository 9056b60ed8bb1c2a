//! The applet's NVM layout (record keys in its namespace) and the personalized
//! [`Profile`] read back from it.
//!
//! | key | content | written |
//! |---|---|---|
//! | `rec.SSRR` | record RR of SFI SS | personalization, UPDATE RECORD |
//! | `fci`, `fci.cl` | FCI proprietary template content, contact / contactless | personalization |
//! | `gpo`, `gpo.cl` | `82` AIP and `94` AFL, contact / contactless | personalization |
//! | `do.<TAG>` | value of a data object (`do.9F14` …) | personalization, PUT DATA |
//! | `getdata` | tags readable by GET DATA (concatenated tag bytes) | personalization |
//! | `key.ac`, `key.smi`, `key.smc`, `key.idn` | ICC master keys | personalization |
//! | `kcv` | their check values | personalization |
//! | `pin` | reference PIN, ISO 9564-1 format 2 block | personalization, PIN CHANGE |
//! | `ptl` | PIN Try Limit | personalization |
//! | `rsa.n`, `rsa.e`, `rsa.d`, `rsa.q`, `rsa.p` | ICC RSA key | personalization |
//! | `perso` | `01` once personalization is complete | last STORE DATA |
//! | `atc` | Application Transaction Counter `9F36` (u16) | `write_now` before each cryptogram |
//! | `lonatc` | Last Online ATC Register `9F13` (u16) | second GENERATE AC |
//! | `ptc` | PIN Try Counter `9F17` (u8) | `write_now` before each PIN comparison |
//! | `cons` | consecutive offline transactions (u8) | GENERATE AC (transaction) |
//! | `cum` | cumulative offline amount (u64) | GENERATE AC (transaction) |
//! | `flags` | persistent risk flags and script count ([`Flags`]) | GENERATE AC, scripts |
//! | `log.head`, `log.count`, `log.NN` | cyclic transaction log (EMV Book 3 Annex D) | final GENERATE AC (transaction) |

use std::sync::Arc;

use lamina_card::{Interface, Namespace};
use lamina_crypto::emv::Cvn;
use lamina_crypto::pki::{RsaKeyPair, RsaKeyParts};
use lamina_crypto::sym::SecretKey;
use lamina_emv::dol::Dol;
use lamina_tlv::Tag;
use zeroize::Zeroizing;

use super::perso::{CvnChoice, OdaMethod, ResponseFormat, record_value};

pub(crate) const ATC: &str = "atc";
pub(crate) const LAST_ONLINE_ATC: &str = "lonatc";
pub(crate) const PTC: &str = "ptc";
pub(crate) const CONSECUTIVE: &str = "cons";
pub(crate) const CUMULATIVE: &str = "cum";
pub(crate) const FLAGS: &str = "flags";
pub(crate) const PERSO: &str = "perso";
pub(crate) const PIN: &str = "pin";
pub(crate) const KEY_AC: &str = "key.ac";
pub(crate) const KEY_SMI: &str = "key.smi";
pub(crate) const KEY_SMC: &str = "key.smc";
pub(crate) const KEY_IDN: &str = "key.idn";
pub(crate) const KCV: &str = "kcv";
pub(crate) const PTL: &str = "ptl";
pub(crate) const FCI: &str = "fci";
pub(crate) const FCI_CL: &str = "fci.cl";
pub(crate) const GPO: &str = "gpo";
pub(crate) const GPO_CL: &str = "gpo.cl";
pub(crate) const GET_DATA_TAGS: &str = "getdata";
/// DGIs 8201–8205 in order: n, e, d, q, p.
pub(crate) const RSA_PARTS: [&str; 5] = ["rsa.n", "rsa.e", "rsa.d", "rsa.q", "rsa.p"];
pub(crate) const LOG_HEAD: &str = "log.head";
pub(crate) const LOG_COUNT: &str = "log.count";

/// NVM key of a record.
pub(crate) fn record_key(sfi: u8, rec: u8) -> String {
    format!("rec.{sfi:02X}{rec:02X}")
}

/// NVM key of a data object.
pub(crate) fn do_key(tag: Tag) -> String {
    format!("do.{}", hex::encode_upper(tag.to_bytes()))
}

/// The slot of log record `rec` (1 = most recent) in a cyclic log of `n` slots
/// whose most recent entry is in slot `head` (`None` if `rec` is 0 or `n` is 0).
pub(crate) fn log_slot(head: u8, n: u8, rec: u8) -> Option<u8> {
    let back = u16::from(rec.checked_sub(1)?);
    let n16 = u16::from(n);
    if n16 == 0 {
        return None;
    }
    u8::try_from((u16::from(head) + n16 * 2 - back % n16) % n16).ok()
}

/// NVM key of a log slot.
pub(crate) fn log_key(slot: u8) -> String {
    format!("log.{slot:02}")
}

/// Persistent risk flags (record `flags`), reported in the CVR of the next
/// transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Flags(pub u8);

impl Flags {
    /// An ARQC was given and no online response has been received yet.
    pub const LAST_ONLINE_NOT_COMPLETED: u8 = 0x01;
    /// Issuer authentication failed in the last online transaction.
    pub const ISSUER_AUTH_FAILED: u8 = 0x02;
    /// Issuer authentication was not performed after an online authorisation.
    pub const ISSUER_AUTH_NOT_PERFORMED: u8 = 0x04;
    /// An issuer script command failed.
    pub const SCRIPT_FAILED: u8 = 0x08;

    /// Any flag that sends the next transaction online.
    pub fn any_risk(self) -> bool {
        self.0 & 0x0F != 0
    }
    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
    pub fn set(&mut self, bit: u8, on: bool) {
        if on {
            self.0 |= bit;
        } else {
            self.0 &= !bit;
        }
    }
    /// Number of secure messaging script commands processed (bits 8–5).
    pub fn scripts(self) -> u8 {
        self.0 >> 4
    }
    pub fn add_script(&mut self) {
        let n = (self.scripts() + 1).min(15);
        self.0 = (self.0 & 0x0F) | (n << 4);
    }
    pub fn clear_scripts(&mut self) {
        self.0 &= 0x0F;
    }
}

/// Reads a data object value.
pub(crate) fn read_do<'a>(nvm: &'a Namespace<'_>, tag: u32) -> Option<&'a [u8]> {
    nvm.read(&do_key(Tag::new(tag)))
}

/// An n12 BCD amount as a number (`None` if not BCD).
pub(crate) fn bcd_amount(v: &[u8]) -> Option<u64> {
    let mut n: u64 = 0;
    for b in v {
        let (h, l) = (b >> 4, b & 0x0F);
        if h > 9 || l > 9 {
            return None;
        }
        n = n.checked_mul(100)?.checked_add(u64::from(h * 10 + l))?;
    }
    Some(n)
}

/// The GPO data and PDOL of one interface.
#[derive(Debug, Clone)]
pub(crate) struct Processing {
    pub aip: [u8; 2],
    pub afl: Vec<u8>,
    pub pdol: Dol,
}

fn tlv_value(list: &[u8], tag: u32) -> Option<Vec<u8>> {
    let objs = lamina_tlv::Tlv::parse_all(list).ok()?;
    lamina_tlv::find_recursive(&objs, tag).and_then(|t| t.value_bytes().map(<[u8]>::to_vec))
}

impl Processing {
    fn load(fci: &[u8], gpo: &[u8]) -> Option<Processing> {
        Some(Processing {
            aip: tlv_value(gpo, 0x82)?.try_into().ok()?,
            afl: tlv_value(gpo, 0x94)?,
            pdol: Dol::parse(&tlv_value(fci, 0x9F38).unwrap_or_default()).ok()?,
        })
    }
}

/// The personalized, mostly static part of the applet's data, parsed once per
/// session (volatile cache; the NVM stays authoritative).
pub(crate) struct Profile {
    pub contact: Processing,
    pub contactless: Processing,
    pub cdol1: Dol,
    pub cdol2: Dol,
    pub cvn: CvnChoice,
    pub oda: OdaMethod,
    pub format: ResponseFormat,
    pub dki: u8,
    /// `None` without an offline PIN.
    pub pin_try_limit: Option<u8>,
    pub mk_ac: SecretKey,
    pub mk_smi: SecretKey,
    pub mk_smc: SecretKey,
    pub rsa: Option<Arc<RsaKeyPair>>,
    pub log: Option<(u8, u8, Dol)>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("cvn", &self.cvn)
            .field("oda", &self.oda)
            .finish_non_exhaustive()
    }
}

impl Profile {
    pub fn cvn(&self) -> Cvn {
        self.cvn.cvn()
    }

    /// GPO data and PDOL for the interface in use.
    pub fn processing(&self, iface: Interface) -> &Processing {
        match iface {
            Interface::Contact => &self.contact,
            Interface::Contactless => &self.contactless,
        }
    }

    /// Loads the profile; `None` if the applet is not (completely) personalized.
    pub fn load(nvm: &Namespace<'_>) -> Option<Profile> {
        nvm.read(PERSO)?;
        let one = |t: u32| read_do(nvm, t).and_then(|v| v.first().copied());
        let key = |k: &str| nvm.read(k).map(|v| SecretKey::new(v.to_vec()));
        let part = |i: usize| {
            RSA_PARTS
                .get(i)
                .and_then(|k| nvm.read(k))
                .map(<[u8]>::to_vec)
        };
        let rsa = match (part(0), part(1), part(2), part(3), part(4)) {
            (Some(n), Some(e), Some(d), Some(q), Some(p)) => {
                let parts = RsaKeyParts {
                    modulus: n,
                    public_exponent: e,
                    private_exponent: Zeroizing::new(d),
                    prime_p: Zeroizing::new(p),
                    prime_q: Zeroizing::new(q),
                };
                RsaKeyPair::from_parts(&parts).ok().map(Arc::new)
            }
            _ => None,
        };
        let fci = nvm.read(FCI)?;
        let contact = Processing::load(fci, nvm.read(GPO)?)?;
        let contactless = match (nvm.read(FCI_CL), nvm.read(GPO_CL)) {
            (f, Some(g)) => Processing::load(f.unwrap_or(fci), g)?,
            (Some(f), None) => Processing::load(f, nvm.read(GPO)?)?,
            (None, None) => contact.clone(),
        };
        let keys = nvm.keys();
        let records = || {
            keys.iter()
                .filter(|k| k.starts_with("rec."))
                .filter_map(|k| nvm.read(k))
        };
        let cdol = |t: u32| record_value(records(), t).and_then(|v| Dol::parse(&v).ok());
        let log = match (tlv_value(fci, 0x9F4D), read_do(nvm, 0x9F4F)) {
            (Some(e), Some(fmt)) => match e.as_slice() {
                [sfi, n] if *n > 0 => Dol::parse(fmt).ok().map(|d| (*sfi, *n, d)),
                _ => None,
            },
            _ => None,
        };
        let name = String::from_utf8(read_do(nvm, 0xDF01)?.to_vec()).ok()?;
        Some(Profile {
            cdol1: cdol(0x8C)?,
            cdol2: cdol(0x8D)?,
            cvn: CvnChoice::from_name(&name)?,
            oda: match one(0xDF12) {
                Some(c) => OdaMethod::from_code(c)?,
                None => OdaMethod::from_aip(contact.aip),
            },
            format: if one(0xDF10) == Some(1) {
                ResponseFormat::Format1
            } else {
                ResponseFormat::Format2
            },
            dki: one(0xDF11).unwrap_or(1),
            pin_try_limit: nvm.read(PTL).and_then(|v| v.first().copied()),
            mk_ac: key(KEY_AC)?,
            mk_smi: key(KEY_SMI)?,
            mk_smc: key(KEY_SMC)?,
            contact,
            contactless,
            rsa,
            log,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_slots_go_back_cyclically() {
        assert_eq!(log_slot(0, 10, 1), Some(0));
        assert_eq!(log_slot(0, 10, 2), Some(9));
        assert_eq!(log_slot(5, 10, 3), Some(3));
        assert_eq!(log_slot(9, 10, 10), Some(0));
        assert_eq!(log_slot(254, 255, 255), Some(0));
        assert_eq!(log_slot(3, 10, 0), None);
        assert_eq!(log_slot(0, 0, 1), None);
    }

    #[test]
    fn bcd_amounts_and_flags() {
        assert_eq!(
            bcd_amount(&[0x00, 0x00, 0x00, 0x01, 0x23, 0x45]),
            Some(12_345)
        );
        assert_eq!(bcd_amount(&[0x0A]), None);
        let mut f = Flags::default();
        for _ in 0..20 {
            f.add_script();
        }
        assert_eq!(f.scripts(), 15, "saturates");
        f.set(Flags::SCRIPT_FAILED, true);
        assert!(f.any_risk() && f.has(Flags::SCRIPT_FAILED));
        f.clear_scripts();
        assert_eq!(f.scripts(), 0);
        assert!(f.has(Flags::SCRIPT_FAILED));
    }
}
