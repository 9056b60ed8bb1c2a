//! Read-only EMV inspection of a card over any [`CardChannel`]: what a
//! card-inspection tool shows.
//!
//! 1. PSE `1PAY.SYS.DDF01` (EMV Book 1 §12.2.2–12.3.2): SELECT, then READ RECORD
//!    of the directory SFI (tag `88`) from record 1 until `6A83`.
//! 2. PPSE `2PAY.SYS.DDF01` (EMV Contactless Book B §3.3): SELECT, entries from
//!    `BF0C`.
//! 3. For each application found (or, with no directory, a short list of
//!    well-known AIDs): SELECT by AID, GET PROCESSING OPTIONS with the PDOL filled
//!    from neutral terminal values (EMV Book 3 §10.1, §5.4), READ RECORD of every
//!    record the AFL names (Book 3 §10.2); without an AFL, records 1–16 of SFI
//!    1–10 are probed. GET DATA for ATC `9F36`, last online ATC `9F13`, PIN try
//!    counter `9F17`, log format `9F4F`.
//! 4. ODA summary (EMV Book 2 §5–6): the methods the AIP announces and the
//!    certificate data present; the RSA verification itself needs the CA public
//!    keys and is left to the caller (it has the CAPK store).
//!
//! Nothing is written: no VERIFY, no GENERATE AC, no PUT DATA. GET PROCESSING
//! OPTIONS starts a transaction on the card (some cards count it in their ATC);
//! [`ScanOptions::gpo`] turns it off.

use std::collections::BTreeMap;
use std::fmt;

use lamina_apdu::{Command, Response, StatusWord};
use lamina_card::{CardChannel, ChannelError, Interface};
use lamina_crypto::pki;
use lamina_emv::dol::Dol;
use lamina_terminal::capk::CapkStore;
use lamina_tlv::{Tag, Tlv, find_recursive};

/// DF name of the contact PSE.
pub const PSE: &[u8] = b"1PAY.SYS.DDF01";
/// DF name of the contactless PPSE.
pub const PPSE: &[u8] = b"2PAY.SYS.DDF01";

/// AIDs tried when the card has no directory (EMV Book 1 §12.3.3 list of AIDs).
pub const WELL_KNOWN_AIDS: &[&str] = &[
    "A0000000031010",   // Visa credit/debit
    "A0000000032010",   // Visa Electron
    "A0000000041010",   // Mastercard
    "A0000000043060",   // Maestro
    "A00000002501",     // American Express
    "A0000001523010",   // Discover
    "A0000000651010",   // JCB
    "A0000003330101",   // UnionPay
    "A0000002771010",   // Interac
    "F04C414D494E4145", // Lamina EMV (proprietary test RID)
];

/// Scan settings.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Interface asked for at power-on (a PC/SC reader decides by itself).
    pub interface: Interface,
    /// Send GET PROCESSING OPTIONS to learn the AFL (default on).
    pub gpo: bool,
    /// Try [`WELL_KNOWN_AIDS`] when neither PSE nor PPSE lists an application.
    pub well_known_aids: bool,
    /// Send INTERNAL AUTHENTICATE (DDOL filled with a fixed unpredictable
    /// number) when the AIP announces DDA and the card carries an ICC
    /// certificate, so the caller can check the dynamic signature (default on;
    /// it changes nothing on the card).
    pub internal_authenticate: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            interface: Interface::Contact,
            gpo: true,
            well_known_aids: true,
            internal_authenticate: true,
        }
    }
}

/// One command and the card's answer.
#[derive(Clone, PartialEq, Eq)]
pub struct Step {
    /// What the command was for (`SELECT PSE`, `READ RECORD SFI 1 #2` …).
    pub label: String,
    /// The command APDU.
    pub command: Vec<u8>,
    /// Response data (may hold a PAN: print through a masking decoder).
    pub data: Vec<u8>,
    /// Status word.
    pub sw: StatusWord,
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Step")
            .field("label", &self.label)
            .field("data_len", &self.data.len())
            .field("sw", &self.sw)
            .finish()
    }
}

/// An application listed in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// ADF name (tag `4F`).
    pub aid: Vec<u8>,
    /// Application label (tag `50`).
    pub label: Option<String>,
    /// Application priority indicator (tag `87`).
    pub priority: Option<u8>,
}

/// A directory (PSE or PPSE) as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directory {
    /// The SELECT step (FCI in its data).
    pub select: Step,
    /// READ RECORD steps of the PSE directory (empty for the PPSE).
    pub records: Vec<Step>,
    /// The applications listed.
    pub entries: Vec<DirEntry>,
}

/// One record read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRead {
    /// Short file identifier.
    pub sfi: u8,
    /// Record number.
    pub record: u8,
    /// The record counts for offline data authentication (AFL).
    pub for_oda: bool,
    /// The READ RECORD step.
    pub step: Step,
}

/// What the card says about offline data authentication (EMV Book 2 §5–6).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OdaSummary {
    /// Application Interchange Profile `82`.
    pub aip: Option<[u8; 2]>,
    /// AIP byte 1 bit 7: SDA supported.
    pub sda: bool,
    /// AIP byte 1 bit 6: DDA supported.
    pub dda: bool,
    /// AIP byte 1 bit 1: CDA supported.
    pub cda: bool,
    /// CA public key index `8F`.
    pub ca_index: Option<u8>,
    /// Issuer public key certificate `90` present.
    pub issuer_certificate: bool,
    /// Signed static application data `93` present.
    pub signed_static_data: bool,
    /// ICC public key certificate `9F46` present.
    pub icc_certificate: bool,
    /// Records that take part in ODA (AFL byte 4).
    pub oda_records: usize,
    /// The Static Data Authentication Tag List `9F4A` names the AIP (`82`).
    pub aip_in_static_data: bool,
}

impl OdaSummary {
    /// The method a terminal would try (CDA > DDA > SDA) if the card carries the
    /// data for it; `None` when no ODA is possible.
    pub fn best_method(&self) -> Option<&'static str> {
        let issuer = self.ca_index.is_some() && self.issuer_certificate;
        if self.cda && issuer && self.icc_certificate {
            Some("CDA")
        } else if self.dda && issuer && self.icc_certificate {
            Some("DDA")
        } else if self.sda && issuer && self.signed_static_data {
            Some("SDA")
        } else {
            None
        }
    }

    /// A one-line verdict.
    pub fn describe(&self) -> String {
        let announced: Vec<&str> = [(self.sda, "SDA"), (self.dda, "DDA"), (self.cda, "CDA")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect();
        let announced = if announced.is_empty() {
            "none".to_owned()
        } else {
            announced.join("+")
        };
        match self.best_method() {
            Some(m) => format!(
                "AIP announces {announced}; data present for {m} (CA key index {:02X}, {} record(s) signed); signature verification needs the CA public key",
                self.ca_index.unwrap_or(0),
                self.oda_records
            ),
            None => format!("AIP announces {announced}; no complete ODA data on the card"),
        }
    }
}

/// One application as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppScan {
    /// The AID selected.
    pub aid: Vec<u8>,
    /// Where it was found: `PSE`, `PPSE` or `well-known AID`.
    pub source: &'static str,
    /// The SELECT step (FCI in its data).
    pub select: Step,
    /// GET PROCESSING OPTIONS, if sent.
    pub gpo: Option<Step>,
    /// Records read.
    pub records: Vec<RecordRead>,
    /// GET DATA steps that answered `9000`.
    pub get_data: Vec<Step>,
    /// INTERNAL AUTHENTICATE: the DDOL data sent and the card's answer.
    pub internal_authenticate: Option<(Vec<u8>, Step)>,
    /// ODA summary.
    pub oda: OdaSummary,
}

impl AppScan {
    /// The records' data objects (templates `70` unwrapped), in reading order.
    pub fn record_objects(&self) -> Vec<Tlv> {
        let mut out = Vec::new();
        for r in self.records.iter().filter(|r| r.step.sw.is_ok()) {
            for t in Tlv::parse_all(&r.step.data).unwrap_or_default() {
                if t.tag == Tag::from(0x70u32) {
                    out.extend(t.children().iter().cloned());
                } else {
                    out.push(t);
                }
            }
        }
        out
    }

    /// The value of `tag` in the records (first occurrence).
    pub fn record_value(&self, tag: u32) -> Option<Vec<u8>> {
        find_recursive(&self.record_objects(), tag)
            .and_then(|t| t.value_bytes())
            .map(<[u8]>::to_vec)
    }

    /// The Static Data to be Authenticated (EMV Book 3 §10.3): the records the
    /// AFL marks for ODA — for SFI 1–10 the value of the `70` template, for SFI
    /// 11–30 the whole record — followed by the AIP when `9F4A` names it.
    pub fn static_data(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for r in self
            .records
            .iter()
            .filter(|r| r.for_oda && r.step.sw.is_ok())
        {
            if r.sfi <= 10 {
                if let Some(Ok(t)) = lamina_tlv::parse(&r.step.data).next() {
                    out.extend_from_slice(t.value);
                }
            } else {
                out.extend_from_slice(&r.step.data);
            }
        }
        if self.oda.aip_in_static_data
            && let Some(aip) = self.oda.aip
        {
            out.extend_from_slice(&aip);
        }
        out
    }
}

/// Everything a scan read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanReport {
    /// The ATR (or ATS / pseudo-ATR).
    pub atr: Vec<u8>,
    /// The contact PSE, if the card has one.
    pub pse: Option<Directory>,
    /// The PPSE, if the card has one.
    pub ppse: Option<Directory>,
    /// The applications.
    pub apps: Vec<AppScan>,
}

/// Why a scan stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The channel failed (no card, removed, transport).
    #[error("card channel: {0}")]
    Channel(#[from] ChannelError),
    /// A response shorter than a status word.
    #[error("{0}: response has no status word")]
    NoStatus(String),
}

fn exchange(
    ch: &mut dyn CardChannel,
    label: impl Into<String>,
    cmd: &Command,
) -> Result<Step, ScanError> {
    let label = label.into();
    let bytes = cmd
        .to_bytes()
        .map_err(|_| ScanError::NoStatus(label.clone()))?;
    let mut raw = ch.transmit(&bytes)?;
    // Follow 61xx / 6Cxx whatever the protocol (a T=1 channel may pass them on).
    let mut steps = 0;
    loop {
        let r = Response::parse(&raw).map_err(|_| ScanError::NoStatus(label.clone()))?;
        match lamina_apdu::t0::next_step(cmd, &r) {
            lamina_apdu::t0::Next::Send(next) if steps < 16 => {
                steps += 1;
                let nb = next
                    .to_bytes()
                    .map_err(|_| ScanError::NoStatus(label.clone()))?;
                let more = ch.transmit(&nb)?;
                if r.sw.bytes_available().is_some() {
                    let mut d = r.data;
                    d.extend_from_slice(&more);
                    raw = d;
                } else {
                    raw = more;
                }
            }
            _ => {
                return Ok(Step {
                    label,
                    command: bytes,
                    data: r.data,
                    sw: r.sw,
                });
            }
        }
    }
}

fn select(name: &[u8]) -> Command {
    Command::new(0x00, 0xA4, 0x04, 0x00)
        .with_data(name.to_vec())
        .with_le(256)
}

fn read_record(sfi: u8, rec: u8) -> Command {
    Command::new(0x00, 0xB2, rec, (sfi << 3) | 0x04).with_le(256)
}

fn entries_of(tlvs: &[Tlv]) -> Vec<DirEntry> {
    let mut out = Vec::new();
    collect_entries(tlvs, &mut out);
    out
}

fn collect_entries(tlvs: &[Tlv], out: &mut Vec<DirEntry>) {
    for t in tlvs {
        if t.tag == Tag::from(0x61u32) {
            let kids = t.children();
            let get = |n: u32| {
                kids.iter()
                    .find(|k| k.tag == Tag::from(n))
                    .and_then(|k| k.value_bytes())
            };
            if let Some(aid) = get(0x4F) {
                out.push(DirEntry {
                    aid: aid.to_vec(),
                    label: get(0x50).map(|l| String::from_utf8_lossy(l).into_owned()),
                    priority: get(0x87).and_then(|p| p.first().copied()),
                });
            }
        } else {
            collect_entries(t.children(), out);
        }
    }
}

fn first_byte(tlvs: &[Tlv], tag: u32) -> Option<u8> {
    find_recursive(tlvs, tag)
        .and_then(|t| t.value_bytes())
        .and_then(|v| v.first().copied())
}

/// Neutral terminal values for a PDOL (a read-only look: amount zero).
fn pdol_defaults() -> BTreeMap<Tag, Vec<u8>> {
    let mut m = BTreeMap::new();
    let mut put = |t: u32, v: &[u8]| {
        m.insert(Tag::from(t), v.to_vec());
    };
    put(0x9F66, &[0x36, 0x00, 0x40, 0x00]); // TTQ: contact + contactless EMV, online PIN, signature
    put(0x9F02, &[0; 6]); // amount 0
    put(0x9F03, &[0; 6]);
    put(0x9F1A, &[0x02, 0x50]); // terminal country France
    put(0x5F2A, &[0x09, 0x78]); // EUR
    put(0x9A, &[0x26, 0x01, 0x01]);
    put(0x9C, &[0x00]);
    put(0x9F35, &[0x22]); // attended, offline with online capability
    put(0x9F33, &[0xE0, 0xF8, 0xC8]);
    put(0x9F40, &[0x60, 0x00, 0xF0, 0xA0, 0x01]);
    put(0x9F37, &[0x4C, 0x41, 0x4D, 0x49]); // fixed UN: a scan is not a transaction
    m
}

fn parse_afl(afl: &[u8]) -> Vec<(u8, u8, u8, u8)> {
    afl.chunks_exact(4)
        .filter_map(|c| match c {
            [a, b, e, n] => Some((a >> 3, *b, *e, *n)),
            _ => None,
        })
        .collect()
}

/// Reads a card without changing it (see the module docs).
pub fn scan(ch: &mut dyn CardChannel, opts: &ScanOptions) -> Result<ScanReport, ScanError> {
    let atr = ch.power_on(opts.interface)?;
    let pse = scan_pse(ch)?;
    let ppse = scan_ppse(ch)?;
    let mut candidates: Vec<(Vec<u8>, &'static str)> = Vec::new();
    for (dir, src) in [(&pse, "PSE"), (&ppse, "PPSE")] {
        for e in dir.iter().flat_map(|d| d.entries.iter()) {
            if !candidates.iter().any(|(a, _)| *a == e.aid) {
                candidates.push((e.aid.clone(), src));
            }
        }
    }
    if candidates.is_empty() && opts.well_known_aids {
        for h in WELL_KNOWN_AIDS {
            if let Ok(aid) = hex::decode(h) {
                candidates.push((aid, "well-known AID"));
            }
        }
    }
    let mut apps = Vec::new();
    for (aid, source) in candidates {
        if let Some(app) = scan_app(ch, &aid, source, opts)? {
            apps.push(app);
        }
    }
    ch.power_off();
    Ok(ScanReport {
        atr,
        pse,
        ppse,
        apps,
    })
}

fn scan_pse(ch: &mut dyn CardChannel) -> Result<Option<Directory>, ScanError> {
    let sel = exchange(ch, "SELECT PSE 1PAY.SYS.DDF01", &select(PSE))?;
    if !sel.sw.is_ok() {
        return Ok(None);
    }
    let fci = Tlv::parse_all(&sel.data).unwrap_or_default();
    let sfi = first_byte(&fci, 0x88).unwrap_or(1);
    let mut records = Vec::new();
    let mut entries = Vec::new();
    for rec in 1..=32u8 {
        let st = exchange(
            ch,
            format!("READ RECORD PSE SFI {sfi} #{rec}"),
            &read_record(sfi, rec),
        )?;
        let ok = st.sw.is_ok();
        if ok {
            entries.extend(entries_of(&Tlv::parse_all(&st.data).unwrap_or_default()));
        }
        records.push(st);
        if !ok {
            break;
        }
    }
    Ok(Some(Directory {
        select: sel,
        records,
        entries,
    }))
}

fn scan_ppse(ch: &mut dyn CardChannel) -> Result<Option<Directory>, ScanError> {
    let sel = exchange(ch, "SELECT PPSE 2PAY.SYS.DDF01", &select(PPSE))?;
    if !sel.sw.is_ok() {
        return Ok(None);
    }
    let entries = entries_of(&Tlv::parse_all(&sel.data).unwrap_or_default());
    Ok(Some(Directory {
        select: sel,
        records: Vec::new(),
        entries,
    }))
}

fn scan_app(
    ch: &mut dyn CardChannel,
    aid: &[u8],
    source: &'static str,
    opts: &ScanOptions,
) -> Result<Option<AppScan>, ScanError> {
    let sel = exchange(
        ch,
        format!("SELECT {}", hex::encode_upper(aid)),
        &select(aid),
    )?;
    // 6283: selected but blocked (still readable).
    if !sel.sw.is_ok() && sel.sw != StatusWord::SELECTED_FILE_DEACTIVATED {
        return Ok(None);
    }
    let fci = Tlv::parse_all(&sel.data).unwrap_or_default();
    let mut oda = OdaSummary::default();
    let mut gpo = None;
    let mut afl = Vec::new();
    if opts.gpo {
        let pdol = find_recursive(&fci, 0x9F38u32)
            .and_then(|t| t.value_bytes())
            .and_then(|v| Dol::parse(v).ok())
            .unwrap_or_default();
        let data = pdol.build(&pdol_defaults());
        let body = Tlv::primitive(0x83u32, data).encode();
        let cmd = Command::new(0x80, 0xA8, 0x00, 0x00)
            .with_data(body)
            .with_le(256);
        let st = exchange(ch, "GET PROCESSING OPTIONS", &cmd)?;
        if st.sw.is_ok() {
            match st.data.first() {
                // Format 1: 80 { AIP ‖ AFL } (EMV Book 3 §6.5.8.4).
                Some(0x80) => {
                    if let Ok(t) = Tlv::parse_one(&st.data) {
                        let v = t.value_bytes().unwrap_or_default();
                        if let (Some(a), Some(rest)) = (v.get(..2), v.get(2..)) {
                            oda.aip = a.try_into().ok();
                            afl = rest.to_vec();
                        }
                    }
                }
                _ => {
                    let t = Tlv::parse_all(&st.data).unwrap_or_default();
                    oda.aip = find_recursive(&t, 0x82u32)
                        .and_then(|t| t.value_bytes())
                        .and_then(|v| v.try_into().ok());
                    afl = find_recursive(&t, 0x94u32)
                        .and_then(|t| t.value_bytes())
                        .unwrap_or_default()
                        .to_vec();
                }
            }
        }
        gpo = Some(st);
    }
    let mut records = Vec::new();
    if afl.is_empty() {
        // No AFL: probe the usual SFIs (not at all if READ RECORD is unknown).
        'probe: for sfi in 1..=10u8 {
            for rec in 1..=16u8 {
                let st = exchange(
                    ch,
                    format!("READ RECORD SFI {sfi} #{rec}"),
                    &read_record(sfi, rec),
                )?;
                if st.sw.is_ok() {
                    records.push(RecordRead {
                        sfi,
                        record: rec,
                        for_oda: false,
                        step: st,
                    });
                } else if matches!(
                    st.sw,
                    StatusWord::INS_NOT_SUPPORTED | StatusWord::CLA_NOT_SUPPORTED
                ) {
                    break 'probe;
                } else {
                    break;
                }
            }
        }
    } else {
        for (sfi, first, last, n_oda) in parse_afl(&afl) {
            if sfi == 0 || first == 0 {
                continue;
            }
            for rec in first..=last {
                let st = exchange(
                    ch,
                    format!("READ RECORD SFI {sfi} #{rec}"),
                    &read_record(sfi, rec),
                )?;
                let for_oda = u16::from(rec) < u16::from(first) + u16::from(n_oda);
                if for_oda && st.sw.is_ok() {
                    oda.oda_records += 1;
                }
                records.push(RecordRead {
                    sfi,
                    record: rec,
                    for_oda,
                    step: st,
                });
            }
        }
    }
    let mut all = Vec::new();
    for r in &records {
        if r.step.sw.is_ok() {
            all.extend(Tlv::parse_all(&r.step.data).unwrap_or_default());
        }
    }
    oda.ca_index = first_byte(&all, 0x8F);
    oda.issuer_certificate = find_recursive(&all, 0x90u32).is_some();
    oda.signed_static_data = find_recursive(&all, 0x93u32).is_some();
    oda.icc_certificate = find_recursive(&all, 0x9F46u32).is_some();
    oda.aip_in_static_data = find_recursive(&all, 0x9F4Au32)
        .and_then(|t| t.value_bytes())
        .is_some_and(|v| v.contains(&0x82));
    if let Some(aip) = oda.aip {
        oda.sda = aip[0] & 0x40 != 0;
        oda.dda = aip[0] & 0x20 != 0;
        oda.cda = aip[0] & 0x01 != 0;
    }
    let mut internal_authenticate = None;
    if opts.internal_authenticate && (oda.dda || oda.cda) && oda.icc_certificate {
        // DDOL from the card, else the default DDOL 9F37 04 (EMV Book 3 §10.3).
        let ddol = find_recursive(&all, 0x9F49u32)
            .and_then(|t| t.value_bytes())
            .and_then(|v| Dol::parse(v).ok())
            .or_else(|| Dol::parse(&[0x9F, 0x37, 0x04]).ok())
            .unwrap_or_default();
        let data = ddol.build(&pdol_defaults());
        let cmd = Command::new(0x00, 0x88, 0x00, 0x00)
            .with_data(data.clone())
            .with_le(256);
        let st = exchange(ch, "INTERNAL AUTHENTICATE", &cmd)?;
        internal_authenticate = Some((data, st));
    }
    let mut get_data = Vec::new();
    for (tag, name) in [
        (0x9F36u16, "ATC"),
        (0x9F13, "last online ATC"),
        (0x9F17, "PIN try counter"),
        (0x9F4F, "log format"),
    ] {
        let [p1, p2] = tag.to_be_bytes();
        let cmd = Command::new(0x80, 0xCA, p1, p2).with_le(256);
        let st = exchange(ch, format!("GET DATA {tag:04X} ({name})"), &cmd)?;
        if st.sw.is_ok() {
            get_data.push(st);
        }
    }
    Ok(Some(AppScan {
        aid: aid.to_vec(),
        source,
        select: sel,
        gpo,
        records,
        get_data,
        internal_authenticate,
        oda,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lamina_card::applets::counter::{CLASS, CounterApplet};
    use lamina_card::{Aid, Card, CardLifeCycle, EmulatedCard, Install, Rom, SeededRng};

    fn emv_card() -> Card {
        use lamina_applets::emv::CvnChoice;
        use lamina_applets::emv::testing::{build_card, sample_personalization};
        build_card(&sample_personalization(CvnChoice::EmvCcd).unwrap(), None, 5).unwrap()
    }

    #[test]
    fn scans_an_emv_card_on_both_interfaces() {
        let mut ch = EmulatedCard::new(emv_card());
        let r = scan(&mut ch, &ScanOptions::default()).unwrap();
        assert!(r.ppse.is_none());
        let app = &r.apps[0];
        assert_eq!(app.source, "PSE");
        assert_eq!(hex::encode_upper(&app.aid), "F04C414D494E4145");
        let recs: Vec<(u8, u8)> = app.records.iter().map(|r| (r.sfi, r.record)).collect();
        assert_eq!(
            recs,
            vec![(1, 1), (2, 1), (2, 2)],
            "records named by the AFL"
        );
        assert_eq!(
            app.record_value(0x5A).map(hex::encode_upper).as_deref(),
            Some("4761739001010010")
        );
        assert!(app.get_data.iter().any(|s| s.label.contains("9F17")));
        assert!(app.internal_authenticate.is_none(), "no DDA announced");
        assert_eq!(app.oda.best_method(), None);
        // Debug output never shows record data.
        assert!(!format!("{r:?}").contains("4761739001010010"));

        let mut ch = EmulatedCard::new(emv_card());
        let opts = ScanOptions {
            interface: Interface::Contactless,
            ..ScanOptions::default()
        };
        let r = scan(&mut ch, &opts).unwrap();
        assert!(r.pse.is_none(), "no PSE on the contactless interface");
        let ppse = r.ppse.as_ref().unwrap();
        assert_eq!(ppse.entries[0].label.as_deref(), Some("LAMINA DEBIT"));
        assert_eq!(r.apps[0].source, "PPSE");
        assert_eq!(r.apps[0].records.len(), 3);
    }

    #[test]
    fn without_gpo_records_are_probed() {
        let mut ch = EmulatedCard::new(emv_card());
        let opts = ScanOptions {
            gpo: false,
            ..ScanOptions::default()
        };
        let r = scan(&mut ch, &opts).unwrap();
        let app = &r.apps[0];
        assert!(app.gpo.is_none());
        assert!(app.records.len() >= 3, "{:?}", app.records);
    }

    #[test]
    fn afl_entries() {
        assert_eq!(
            parse_afl(&[0x08, 1, 1, 0, 0x10, 1, 2, 1, 0xFF]),
            vec![(1, 1, 1, 0), (2, 1, 2, 1)]
        );
    }

    #[test]
    fn oda_verdict() {
        let mut o = OdaSummary {
            dda: true,
            ca_index: Some(0x92),
            issuer_certificate: true,
            ..Default::default()
        };
        assert_eq!(o.best_method(), None);
        o.icc_certificate = true;
        assert_eq!(o.best_method(), Some("DDA"));
        assert!(o.describe().contains("CA key index 92"));
    }

    #[test]
    fn scans_demo_card_pse_directory() {
        let rom = Rom::new().with_class(CLASS, |_| Box::new(CounterApplet::new()));
        let mut card = Card::new(rom, SeededRng::new(1));
        let aid = Aid::from_hex("F04C414D494E4101").unwrap();
        card.install(Install::new(aid, CLASS).label("COUNTER").priority(1))
            .unwrap();
        card.set_life_cycle(CardLifeCycle::Personalized).unwrap();
        let mut ch = EmulatedCard::new(card);
        let r = scan(&mut ch, &ScanOptions::default()).unwrap();
        let pse = r.pse.unwrap();
        assert_eq!(pse.entries.len(), 1);
        assert_eq!(pse.entries[0].label.as_deref(), Some("COUNTER"));
        // Records until 6A83.
        assert_eq!(pse.records.last().unwrap().sw, StatusWord::RECORD_NOT_FOUND);
        assert!(r.ppse.is_none(), "no PPSE on the contact interface");
        assert_eq!(r.apps.len(), 1);
        assert_eq!(r.apps[0].source, "PSE");
    }
}

// ---------------------------------------------------------------------------
// Offline data authentication of a scanned application
// ---------------------------------------------------------------------------

/// Which check of offline data authentication failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OdaCheck {
    /// The issuer public key certificate `90` (EMV Book 2 §5.3, §6.3).
    IssuerCertificate,
    /// The signed static application data `93` (Book 2 §5.4).
    SignedStaticData,
    /// The ICC public key certificate `9F46` (Book 2 §6.4).
    IccCertificate,
    /// The signed dynamic application data of INTERNAL AUTHENTICATE (Book 2 §6.5).
    SignedDynamicData,
}

impl core::fmt::Display for OdaCheck {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            OdaCheck::IssuerCertificate => "issuer public key certificate",
            OdaCheck::SignedStaticData => "signed static application data",
            OdaCheck::IccCertificate => "ICC public key certificate",
            OdaCheck::SignedDynamicData => "signed dynamic application data",
        })
    }
}

/// What [`verify_oda`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OdaVerdict {
    /// The card offers no method with the data it needs (the summary says why).
    NotPossible(String),
    /// No CA public key index `8F`.
    NoCaIndex(&'static str),
    /// The CA key the card names is not among the terminal's.
    CaKeyMissing {
        /// SDA, DDA or CDA.
        method: &'static str,
        /// RID, hex.
        rid: String,
        /// CA public key index.
        index: u8,
    },
    /// No usable PAN `5A` in the records.
    NoPan(&'static str),
    /// A check failed.
    Failed {
        /// SDA, DDA or CDA.
        method: &'static str,
        /// Which check.
        check: OdaCheck,
        /// Why.
        reason: String,
    },
    /// SDA verified: issuer certificate and signed static data.
    SdaVerified {
        /// Data Authentication Code, hex.
        dac: String,
    },
    /// DDA or CDA: both certificates verified, no INTERNAL AUTHENTICATE to check
    /// (`None`) or it did not answer 9000 (the status word).
    CertificatesOnly {
        /// DDA or CDA.
        method: &'static str,
        /// The INTERNAL AUTHENTICATE status word when it was not 9000.
        sw: Option<u16>,
    },
    /// DDA or CDA: certificates, static data and the INTERNAL AUTHENTICATE
    /// signature verified.
    DynamicVerified(&'static str),
}

impl core::fmt::Display for OdaVerdict {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            OdaVerdict::NotPossible(why) => f.write_str(why),
            OdaVerdict::NoCaIndex(m) => write!(f, "{m}: no CA key index (8F)"),
            OdaVerdict::CaKeyMissing { method, rid, index } => write!(
                f,
                "{method}: CA key {rid}/{index:02X} is not in the CAPK file"
            ),
            OdaVerdict::NoPan(m) => write!(f, "{m}: no usable PAN (5A) in the records"),
            OdaVerdict::Failed {
                method,
                check,
                reason,
            } => write!(f, "{method} FAILED: {check}: {reason}"),
            OdaVerdict::SdaVerified { dac } => write!(
                f,
                "SDA verified: issuer certificate and signed static data OK (DAC {dac})"
            ),
            OdaVerdict::CertificatesOnly { method, sw: None } => write!(
                f,
                "{method}: issuer and ICC certificates verified; no INTERNAL AUTHENTICATE answer to check"
            ),
            OdaVerdict::CertificatesOnly {
                method,
                sw: Some(sw),
            } => write!(
                f,
                "{method}: issuer and ICC certificates verified; INTERNAL AUTHENTICATE answered {sw:04X}"
            ),
            OdaVerdict::DynamicVerified(m) => write!(
                f,
                "{m} verified: issuer and ICC certificates, static data and the INTERNAL AUTHENTICATE signature OK{}",
                if *m == "CDA" {
                    " (the CDA signature itself needs GENERATE AC, which a scan does not send)"
                } else {
                    ""
                }
            ),
        }
    }
}

/// Offline data authentication of a scanned application (EMV Book 2 §5 SDA,
/// §6 DDA) with the terminal's CA public keys, on `today`.
pub fn verify_oda(app: &AppScan, capk: &CapkStore, today: pki::Date) -> OdaVerdict {
    let Some(method) = app.oda.best_method() else {
        return OdaVerdict::NotPossible(app.oda.describe());
    };
    let (Some(rid), Some(index)) = (app.aid.get(..5), app.oda.ca_index) else {
        return OdaVerdict::NoCaIndex(method);
    };
    let Some(ca) = capk.get(rid, index) else {
        return OdaVerdict::CaKeyMissing {
            method,
            rid: hex::encode_upper(rid),
            index,
        };
    };
    let Some(pan) = app
        .record_value(0x5A)
        .and_then(|v| pki::Pan::from_cn(&v).ok())
    else {
        return OdaVerdict::NoPan(method);
    };
    let failed = |check, e: &dyn core::fmt::Display| OdaVerdict::Failed {
        method,
        check,
        reason: e.to_string(),
    };
    let get = |t: u32| app.record_value(t).unwrap_or_default();
    let issuer =
        match pki::verify_issuer_certificate(ca, &get(0x90), &get(0x92), &get(0x9F32), &pan, today)
        {
            Ok(k) => k,
            Err(e) => return failed(OdaCheck::IssuerCertificate, &e),
        };
    let static_data = app.static_data();
    if method == "SDA" {
        return match pki::verify_signed_static_data(&issuer.public_key, &get(0x93), &static_data) {
            Ok(dac) => OdaVerdict::SdaVerified {
                dac: hex::encode_upper(dac),
            },
            Err(e) => failed(OdaCheck::SignedStaticData, &e),
        };
    }
    let icc = match pki::verify_icc_certificate(
        &issuer.public_key,
        &get(0x9F46),
        &get(0x9F48),
        &get(0x9F47),
        &pan,
        &static_data,
        today,
    ) {
        Ok(k) => k,
        Err(e) => return failed(OdaCheck::IccCertificate, &e),
    };
    verify_internal_authenticate(app, method, &icc.public_key)
}

/// The DDA step of a scan: the INTERNAL AUTHENTICATE answer's signature
/// (format 1: `80 { SDAD }`; format 2: `77 { 9F4B SDAD }`, Book 3 §6.5.9.4).
fn verify_internal_authenticate(
    app: &AppScan,
    method: &'static str,
    icc_key: &pki::RsaPublicKey,
) -> OdaVerdict {
    let Some((ddol_data, step)) = &app.internal_authenticate else {
        return OdaVerdict::CertificatesOnly { method, sw: None };
    };
    if !step.sw.is_ok() {
        return OdaVerdict::CertificatesOnly {
            method,
            sw: Some(step.sw.0),
        };
    }
    let tlvs = lamina_tlv::Tlv::parse_all(&step.data).unwrap_or_default();
    let sdad = match tlvs.first() {
        Some(t) if t.tag == lamina_tlv::Tag::from(0x80u32) => {
            t.value_bytes().unwrap_or_default().to_vec()
        }
        _ => find_recursive(&tlvs, 0x9F4Bu32)
            .and_then(|t| t.value_bytes())
            .unwrap_or_default()
            .to_vec(),
    };
    match pki::verify_dda(icc_key, &sdad, ddol_data) {
        Ok(_) => OdaVerdict::DynamicVerified(method),
        Err(e) => OdaVerdict::Failed {
            method,
            check: OdaCheck::SignedDynamicData,
            reason: e.to_string(),
        },
    }
}
