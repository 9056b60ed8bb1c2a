//! Application selection across payment and closed-loop applications, by the
//! terminal's profile and the card's priorities.
//!
//! A terminal reads the card's PPSE directory (EMV Contactless Book B §3.3:
//! SELECT `2PAY.SYS.DDF01`, FCI `6F { 84, A5 { BF0C { 61 … } } }`, each entry
//! `61 { 4F ADF name, 50 label, 87 priority, 9F2A kernel identifier }`), gives
//! every entry an [`AppKind`] by AID prefix, and orders the entries by its
//! [`TerminalProfile`]: kinds the profile does not accept are dropped, the
//! others come in the profile's order of preference, and the card's Application
//! Priority Indicator (`87`, low nibble: 1 highest, 0 or absent = no priority,
//! last; EMV Book 1 §12.2.3, Book 3 Annex A, Book B §3.3.2) breaks ties, the
//! directory's own order breaking the rest.
//!
//! Profiles and AID kinds are data ([`Profiles::from_toml`], the shipped
//! `data/terminal-profiles.toml`), not code. Everything here is pure except
//! [`read_ppse`], which sends one SELECT through a [`CardLink`].
//!
//! ```
//! use lamina_closedloop::select::{AppKind, Profiles, parse_ppse};
//!
//! // PPSE FCI of a card with a purse (priority 3), a transit application (no
//! // priority) and an EMV debit application (priority 1).
//! let fci = hex::decode(concat!(
//!     "6F42840E325041592E5359532E4444463031A530BF0C2D",
//!     "610E4F09F04C414D494E415001870103",
//!     "610B4F09F04C414D494E415401",
//!     "610E4F09F04C414D494E414501870101",
//! ))
//! .unwrap();
//! let entries = parse_ppse(&fci).unwrap();
//! let gate = Profiles::demo().unwrap().order("transit-gate", &entries).unwrap();
//! let kinds: Vec<AppKind> = gate.iter().map(|c| c.kind).collect();
//! assert_eq!(kinds, [AppKind::Transit, AppKind::Purse, AppKind::Emv]);
//! ```

use std::collections::BTreeMap;

use lamina_apdu::{Command, StatusWord};
use lamina_tlv::Tlv;
use serde::{Deserialize, Serialize};

use crate::terminal::{CardLink, TerminalError};

/// The PPSE name (Book B §3.3.1).
pub const PPSE_NAME: &[u8] = b"2PAY.SYS.DDF01";

/// What an application is, for the terminal's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppKind {
    /// Transit application (passes, journeys; fares paid from the purse).
    Transit,
    /// Prepaid purse (stored value).
    Purse,
    /// Parking application (ticket on the card; fee from the purse).
    Parking,
    /// Loyalty points.
    Loyalty,
    /// An EMV payment application (open loop).
    Emv,
}

impl AppKind {
    /// The kind's name as in the profiles file.
    pub fn name(self) -> &'static str {
        match self {
            AppKind::Transit => "transit",
            AppKind::Purse => "purse",
            AppKind::Parking => "parking",
            AppKind::Loyalty => "loyalty",
            AppKind::Emv => "emv",
        }
    }
}

impl std::fmt::Display for AppKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a PPSE answer or a profiles file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectError {
    /// The PPSE answer is not valid BER-TLV.
    #[error("PPSE answer is not BER-TLV: {0}")]
    Tlv(String),
    /// A mandatory template of the PPSE FCI is missing (Book B §3.3.1 Table 3-2).
    #[error("PPSE answer has no {0} template")]
    Missing(&'static str),
    /// The profiles TOML did not parse or is inconsistent.
    #[error("terminal profiles: {0}")]
    Profiles(String),
    /// No profile of that name.
    #[error("no terminal profile {0:?}")]
    UnknownProfile(String),
}

/// One PPSE directory entry (Book B §3.3.1 Table 3-3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PpseEntry {
    /// ADF name `4F`.
    #[serde(serialize_with = "hex_upper")]
    pub aid: Vec<u8>,
    /// Application label `50` (lossy UTF-8; empty when absent).
    pub label: String,
    /// Application Priority Indicator `87` as sent (bit 8: confirmation
    /// required; low nibble: priority).
    pub priority_indicator: Option<u8>,
    /// Kernel Identifier `9F2A` as sent (Book B §3.3.2), if present.
    #[serde(serialize_with = "hex_upper_opt")]
    pub kernel_id: Option<Vec<u8>>,
}

fn hex_upper<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode_upper(v))
}

fn hex_upper_opt<S: serde::Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(b) => s.serialize_some(&hex::encode_upper(b)),
        None => s.serialize_none(),
    }
}

impl PpseEntry {
    /// The card's priority, 1 (highest) to 15; `None` for 0 or no `87`.
    pub fn priority(&self) -> Option<u8> {
        self.priority_indicator
            .map(|p| p & 0x0F)
            .filter(|p| *p != 0)
    }

    /// Sort rank of the priority: 1–15, then 16 for none.
    fn rank(&self) -> u8 {
        self.priority().unwrap_or(16)
    }

    /// The AID in upper-case hex.
    pub fn aid_hex(&self) -> String {
        hex::encode_upper(&self.aid)
    }
}

/// Parses the PPSE FCI (the data of the SELECT `2PAY.SYS.DDF01` response).
///
/// `6F` → `A5` → `BF0C` are mandatory (an error names the missing one); the
/// directory entries `61` inside `BF0C` are returned in order. An entry
/// without an ADF name, or with one outside 5–16 bytes (ISO/IEC 7816-4 §8.2.1.2),
/// is skipped, as Book B §3.3.2 has the reader ignore entries it cannot use.
pub fn parse_ppse(fci: &[u8]) -> Result<Vec<PpseEntry>, SelectError> {
    let top = Tlv::parse_all(fci).map_err(|e| SelectError::Tlv(e.to_string()))?;
    let fci = top
        .iter()
        .find(|t| t.tag.number() == 0x6F)
        .ok_or(SelectError::Missing("FCI 6F"))?;
    let prop = fci
        .children()
        .iter()
        .find(|t| t.tag.number() == 0xA5)
        .ok_or(SelectError::Missing("proprietary A5"))?;
    let dir = prop
        .children()
        .iter()
        .find(|t| t.tag.number() == 0xBF0C)
        .ok_or(SelectError::Missing("issuer discretionary BF0C"))?;
    let mut out = Vec::new();
    for e in dir.children().iter().filter(|t| t.tag.number() == 0x61) {
        let get = |tag: u32| {
            e.children()
                .iter()
                .find(|c| c.tag.number() == tag)
                .and_then(|c| c.value_bytes())
        };
        let Some(aid) = get(0x4F).filter(|a| (5..=16).contains(&a.len())) else {
            continue;
        };
        out.push(PpseEntry {
            aid: aid.to_vec(),
            label: get(0x50)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default(),
            priority_indicator: get(0x87).and_then(|v| v.first().copied()),
            kernel_id: get(0x9F2A).map(<[u8]>::to_vec),
        });
    }
    Ok(out)
}

/// The SELECT PPSE command (Book B §3.3.1; ISO/IEC 7816-4 SELECT by DF name).
pub fn select_ppse_command() -> Command {
    Command::new(0x00, 0xA4, 0x04, 0x00)
        .with_data(PPSE_NAME.to_vec())
        .with_le(256)
}

/// Selects the PPSE on a powered card and parses its directory.
///
/// A card without a PPSE (`6A82`) is [`TerminalError::NoApplication`]; a
/// malformed answer is [`TerminalError::BadResponse`].
pub fn read_ppse(link: &mut CardLink<'_>) -> Result<Vec<PpseEntry>, TerminalError> {
    link.forget_selection();
    let r = link.transmit(&select_ppse_command())?;
    match r.sw {
        StatusWord::OK => {}
        StatusWord::FILE_NOT_FOUND => {
            return Err(TerminalError::NoApplication("PPSE 2PAY.SYS.DDF01".into()));
        }
        sw => {
            return Err(TerminalError::Status {
                command: "SELECT PPSE",
                sw,
            });
        }
    }
    parse_ppse(&r.data).map_err(|_| TerminalError::BadResponse("SELECT PPSE"))
}

/// One AID rule of the profiles file: AIDs starting with `prefix` are `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AidRule {
    /// AID prefix, hex.
    pub prefix: String,
    /// The kind of the applications it names.
    pub kind: AppKind,
}

/// A terminal profile: the kinds it accepts, in its order of preference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalProfile {
    /// Accepted kinds, most preferred first.
    pub accepts: Vec<AppKind>,
}

/// An accepted application in the terminal's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// AID, upper-case hex.
    pub aid: String,
    /// Label from the PPSE (empty if none).
    pub label: String,
    /// The card's priority (1 highest), if any.
    pub priority: Option<u8>,
    /// Kind.
    pub kind: AppKind,
    /// Kernel identifier `9F2A`, hex, if the card gave one.
    pub kernel_id: Option<String>,
}

impl Candidate {
    /// The AID as bytes (the hex came from the card and is valid).
    pub fn aid_bytes(&self) -> Vec<u8> {
        hex::decode(&self.aid).unwrap_or_default()
    }

    /// `LABEL (AID, kind)`, for reports.
    pub fn describe(&self) -> String {
        let label = if self.label.is_empty() {
            "-"
        } else {
            &self.label
        };
        format!("{label} ({}, {})", self.aid, self.kind)
    }
}

/// Terminal profiles and AID kinds, read from TOML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profiles {
    /// AID rules, first match wins.
    #[serde(rename = "aid")]
    pub aids: Vec<AidRule>,
    /// Profiles by name.
    #[serde(rename = "profile")]
    pub profiles: BTreeMap<String, TerminalProfile>,
    #[serde(skip)]
    prefixes: Vec<(Vec<u8>, AppKind)>,
}

impl Profiles {
    /// Parses and checks a profiles file (every prefix valid hex of 1–16
    /// bytes; every profile accepts at least one kind, each once).
    pub fn from_toml(s: &str) -> Result<Self, SelectError> {
        let mut p: Profiles =
            toml::from_str(s).map_err(|e| SelectError::Profiles(e.to_string()))?;
        p.prefixes = p
            .aids
            .iter()
            .map(|r| {
                hex::decode(&r.prefix)
                    .ok()
                    .filter(|b| (1..=16).contains(&b.len()))
                    .map(|b| (b, r.kind))
                    .ok_or_else(|| SelectError::Profiles(format!("AID prefix {:?}", r.prefix)))
            })
            .collect::<Result<_, _>>()?;
        for (name, prof) in &p.profiles {
            if prof.accepts.is_empty() {
                return Err(SelectError::Profiles(format!("{name}: accepts nothing")));
            }
            let mut seen = prof.accepts.clone();
            seen.sort();
            seen.dedup();
            if seen.len() != prof.accepts.len() {
                return Err(SelectError::Profiles(format!(
                    "{name}: a kind listed twice"
                )));
            }
        }
        Ok(p)
    }

    /// The shipped profiles (`data/terminal-profiles.toml`): transit-gate,
    /// parking-gate, retail, vending.
    pub fn demo() -> Result<Self, SelectError> {
        Self::from_toml(include_str!("../data/terminal-profiles.toml"))
    }

    /// The kind of an AID by the first matching prefix.
    pub fn kind_of(&self, aid: &[u8]) -> Option<AppKind> {
        self.prefixes
            .iter()
            .find(|(p, _)| aid.starts_with(p))
            .map(|(_, k)| *k)
    }

    /// A profile by name.
    pub fn profile(&self, name: &str) -> Result<&TerminalProfile, SelectError> {
        self.profiles
            .get(name)
            .ok_or_else(|| SelectError::UnknownProfile(name.to_owned()))
    }

    /// The applications `profile` accepts among `entries`, in its order of
    /// preference, the card's priority breaking ties, then the directory order.
    pub fn order(
        &self,
        profile: &str,
        entries: &[PpseEntry],
    ) -> Result<Vec<Candidate>, SelectError> {
        let prof = self.profile(profile)?;
        let mut ranked: Vec<(usize, u8, usize, &PpseEntry, AppKind)> = entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                let kind = self.kind_of(&e.aid)?;
                let pref = prof.accepts.iter().position(|k| *k == kind)?;
                Some((pref, e.rank(), i, e, kind))
            })
            .collect();
        ranked.sort_by_key(|(pref, rank, i, _, _)| (*pref, *rank, *i));
        Ok(ranked
            .into_iter()
            .map(|(_, _, _, e, kind)| Candidate {
                aid: e.aid_hex(),
                label: e.label.clone(),
                priority: e.priority(),
                kind,
                kernel_id: e.kernel_id.as_deref().map(hex::encode_upper),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lamina_tlv::TlvBuilder;

    fn entry(aid: &str, label: &str, prio: Option<u8>, kernel: Option<&[u8]>) -> Tlv {
        let mut b = TlvBuilder::new(0x61u32)
            .primitive(0x4Fu32, hex::decode(aid).unwrap())
            .primitive(0x50u32, label.as_bytes().to_vec());
        if let Some(p) = prio {
            b = b.primitive(0x87u32, vec![p]);
        }
        if let Some(k) = kernel {
            b = b.primitive(0x9F2Au32, k.to_vec());
        }
        b.build()
    }

    fn fci(entries: Vec<Tlv>) -> Vec<u8> {
        TlvBuilder::new(0x6Fu32)
            .primitive(0x84u32, PPSE_NAME.to_vec())
            .nested(0xA5u32, |b| b.child(Tlv::constructed(0xBF0Cu32, entries)))
            .build()
            .encode()
    }

    /// A multi-application card: EMV debit (priority 1, kernel 2), purse (3),
    /// transit (4), loyalty (5), parking (6), and an unknown application.
    fn card() -> Vec<PpseEntry> {
        parse_ppse(&fci(vec![
            entry("F04C414D494E414501", "LAMINA DEBIT", Some(1), Some(&[2])),
            entry("F04C414D494E415001", "PURSE", Some(3), None),
            entry("F04C414D494E415401", "TRANSIT", Some(4), None),
            entry("F04C414D494E414C01", "LOYALTY", Some(5), None),
            entry("F04C414D494E414B01", "PARKING", Some(6), None),
            entry("D27600012401", "OTHER", Some(2), None),
        ]))
        .unwrap()
    }

    fn kinds(c: &[Candidate]) -> Vec<AppKind> {
        c.iter().map(|x| x.kind).collect()
    }

    #[test]
    fn ppse_entries_are_parsed_with_label_priority_and_kernel() {
        let e = card();
        assert_eq!(e.len(), 6);
        assert_eq!(e[0].aid_hex(), "F04C414D494E414501");
        assert_eq!(e[0].label, "LAMINA DEBIT");
        assert_eq!(e[0].priority(), Some(1));
        assert_eq!(e[0].kernel_id.as_deref(), Some(&[2u8][..]));
        assert_eq!(e[1].kernel_id, None);
    }

    #[test]
    fn each_profile_orders_by_its_preference() {
        let p = Profiles::demo().unwrap();
        let e = card();
        use AppKind::*;
        assert_eq!(
            kinds(&p.order("transit-gate", &e).unwrap()),
            [Transit, Purse, Emv]
        );
        assert_eq!(kinds(&p.order("parking-gate", &e).unwrap()), [Parking]);
        assert_eq!(kinds(&p.order("retail", &e).unwrap()), [Purse, Emv]);
        assert_eq!(kinds(&p.order("vending", &e).unwrap()), [Purse, Emv]);
        assert_eq!(
            p.order("bus", &e),
            Err(SelectError::UnknownProfile("bus".into()))
        );
    }

    #[test]
    fn card_priority_breaks_ties_and_none_or_zero_come_last() {
        let p = Profiles::demo().unwrap();
        let e = parse_ppse(&fci(vec![
            entry("A0000000041010", "NO PRIO", None, None),
            entry("A0000000031010", "ZERO", Some(0x00), None),
            entry("F04C414D494E414502", "SECOND", Some(0x82), None), // bit 8 set, priority 2
            entry("F04C414D494E414501", "FIRST", Some(1), None),
            entry("F04C414D494E415001", "PURSE", Some(9), None),
        ]))
        .unwrap();
        let o = p.order("vending", &e).unwrap();
        let labels: Vec<&str> = o.iter().map(|c| c.label.as_str()).collect();
        // Purse first whatever its priority (profile preference), then EMV by
        // priority 1, 2, then the ones without priority in directory order.
        assert_eq!(labels, ["PURSE", "FIRST", "SECOND", "NO PRIO", "ZERO"]);
        assert_eq!(o[2].priority, Some(2));
        assert_eq!(o[3].priority, None);
        assert_eq!(o[1].describe(), "FIRST (F04C414D494E414501, emv)");
    }

    #[test]
    fn an_emv_only_card_at_the_gate_offers_only_emv() {
        let p = Profiles::demo().unwrap();
        let e = parse_ppse(&fci(vec![entry(
            "F04C414D494E414501",
            "LAMINA DEBIT",
            Some(1),
            None,
        )]))
        .unwrap();
        assert_eq!(kinds(&p.order("transit-gate", &e).unwrap()), [AppKind::Emv]);
        assert!(p.order("parking-gate", &e).unwrap().is_empty());
    }

    #[test]
    fn malformed_ppse_answers_are_errors_not_panics() {
        assert!(matches!(
            parse_ppse(&[0x6F, 0x05, 0x84]),
            Err(SelectError::Tlv(_))
        ));
        assert_eq!(parse_ppse(&[]), Err(SelectError::Missing("FCI 6F")));
        assert_eq!(
            parse_ppse(&hex::decode("6F03840100").unwrap()),
            Err(SelectError::Missing("proprietary A5"))
        );
        assert_eq!(
            parse_ppse(&hex::decode("6F02A500").unwrap()),
            Err(SelectError::Missing("issuer discretionary BF0C"))
        );
        // Empty directory: no application, not an error.
        assert_eq!(parse_ppse(&fci(vec![])).unwrap(), vec![]);
        // Entries without an ADF name, or with one too short or too long, are skipped.
        let e = parse_ppse(&fci(vec![
            TlvBuilder::new(0x61u32)
                .primitive(0x50u32, b"NOAID".to_vec())
                .build(),
            entry("F04C", "SHORT", None, None),
            entry(&"AB".repeat(17), "LONG", None, None),
            entry("F04C414D494E415001", "PURSE", Some(3), None),
        ]))
        .unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].label, "PURSE");
        // Every truncation of a valid answer either parses or fails cleanly.
        let full = fci(vec![entry(
            "F04C414D494E415001",
            "PURSE",
            Some(3),
            Some(&[2]),
        )]);
        for n in 0..full.len() {
            let _ = parse_ppse(&full[..n]);
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = parse_ppse(&b);
        }
    }

    #[test]
    fn profiles_file_is_checked() {
        assert!(Profiles::from_toml("aid = []\n[profile.x]\naccepts = []\n").is_err());
        assert!(
            Profiles::from_toml("aid = []\n[profile.x]\naccepts = [\"emv\", \"emv\"]\n").is_err()
        );
        assert!(
            Profiles::from_toml(
                "[[aid]]\nprefix = \"XYZ\"\nkind = \"emv\"\n[profile.x]\naccepts = [\"emv\"]\n"
            )
            .is_err()
        );
        assert!(Profiles::from_toml("aid = []\n[profile.x]\naccepts = [\"bus\"]\n").is_err());
        let p = Profiles::from_toml(
            "[[aid]]\nprefix = \"A000\"\nkind = \"emv\"\n[profile.x]\naccepts = [\"emv\"]\n",
        )
        .unwrap();
        assert_eq!(p.kind_of(&[0xA0, 0x00, 0x01]), Some(AppKind::Emv));
        assert_eq!(p.kind_of(&[0xA0]), None);
    }
}
