//! The applet's NVM layout (record keys in its namespace) and the personalized
//! [`Profile`] read back from it.
//!
//! | key | content | written |
//! |---|---|---|
//! | `rec.SSRR` | record RR of SFI SS | personalization, UPDATE RECORD |
//! | `do.<TAG>` | value of a data object (`do.9F14` …) | personalization, PUT DATA |
//! | `getdata` | tags readable by GET DATA (concatenated tag bytes) | personalization |
//! | `key.ac`, `key.smi`, `key.smc` | ICC master keys | personalization |
//! | `pin` | reference PIN, ISO 9564-1 format 2 block | personalization, PIN CHANGE |
//! | `rsa.n` … `rsa.q` | ICC RSA key | personalization |
//! | `perso` | `01` once personalization is complete | last STORE DATA |
//! | `atc` | Application Transaction Counter `9F36` (u16) | `write_now` before each cryptogram |
//! | `lonatc` | Last Online ATC Register `9F13` (u16) | second GENERATE AC |
//! | `ptc` | PIN Try Counter `9F17` (u8) | `write_now` before each PIN comparison |
//! | `cons` | consecutive offline transactions (u8) | GENERATE AC (transaction) |
//! | `cum` | cumulative offline amount (u64) | GENERATE AC (transaction) |
//! | `flags` | persistent risk flags and script count ([`Flags`]) | GENERATE AC, scripts |
//! | `log.head`, `log.count`, `log.NN` | cyclic transaction log (EMV Book 3 Annex D) | final GENERATE AC (transaction) |

use std::sync::Arc;

use lamina_card::Namespace;
use lamina_crypto::emv::Cvn;
use lamina_crypto::pki::{RsaKeyPair, RsaKeyParts};
use lamina_crypto::sym::SecretKey;
use lamina_emv::dol::Dol;
use lamina_tlv::Tag;
use zeroize::Zeroizing;

use super::perso::{CvnChoice, OdaMethod, ResponseFormat};

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
pub(crate) const GET_DATA_TAGS: &str = "getdata";
pub(crate) const RSA_PARTS: [&str; 5] = ["rsa.n", "rsa.e", "rsa.d", "rsa.p", "rsa.q"];
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

/// The personalized, mostly static part of the applet's data, parsed once per
/// session (volatile cache; the NVM stays authoritative).
pub(crate) struct Profile {
    pub aip: [u8; 2],
    pub afl: Vec<u8>,
    pub pdol: Dol,
    pub cdol1: Dol,
    pub cdol2: Dol,
    pub cvn: CvnChoice,
    pub oda: OdaMethod,
    pub format: ResponseFormat,
    pub dki: u8,
    pub pin_try_limit: u8,
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

    /// Loads the profile; `None` if the applet is not (completely) personalized.
    pub fn load(nvm: &Namespace<'_>) -> Option<Profile> {
        nvm.read(PERSO)?;
        let one = |t: u32| read_do(nvm, t).and_then(|v| v.first().copied());
        let dol = |t: u32| Dol::parse(read_do(nvm, t).unwrap_or_default()).ok();
        let key = |k: &str| nvm.read(k).map(|v| SecretKey::new(v.to_vec()));
        let rsa = if RSA_PARTS.iter().all(|k| nvm.read(k).is_some()) {
            let part = |i: usize| {
                RSA_PARTS
                    .get(i)
                    .and_then(|k| nvm.read(k))
                    .unwrap_or_default()
                    .to_vec()
            };
            let parts = RsaKeyParts {
                modulus: part(0),
                public_exponent: part(1),
                private_exponent: Zeroizing::new(part(2)),
                prime_p: Zeroizing::new(part(3)),
                prime_q: Zeroizing::new(part(4)),
            };
            RsaKeyPair::from_parts(&parts).ok().map(Arc::new)
        } else {
            None
        };
        let log = match (read_do(nvm, 0x9F4D), read_do(nvm, 0x9F4F)) {
            (Some([sfi, n]), Some(fmt)) if *n > 0 => Some((*sfi, *n, Dol::parse(fmt).ok()?)),
            _ => None,
        };
        Some(Profile {
            aip: read_do(nvm, 0x82)?.try_into().ok()?,
            afl: read_do(nvm, 0x94)?.to_vec(),
            pdol: dol(0x9F38)?,
            cdol1: dol(0x8C)?,
            cdol2: dol(0x8D)?,
            cvn: CvnChoice::from_code(one(0xDF01)?)?,
            oda: OdaMethod::from_code(one(0xDF02)?)?,
            format: if one(0xDF03)? == 1 {
                ResponseFormat::Format1
            } else {
                ResponseFormat::Format2
            },
            dki: one(0xDF04)?,
            pin_try_limit: one(0xDF05)?,
            mk_ac: key(KEY_AC)?,
            mk_smi: key(KEY_SMI)?,
            mk_smc: key(KEY_SMC)?,
            rsa,
            log,
        })
    }
}
