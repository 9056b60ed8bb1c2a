//! `lamina readers`, `lamina card scan --reader NAME`, `lamina card serve CARD
//! --vpcd HOST:PORT`: real readers through PC/SC, and the emulated card as a
//! virtual smart card (vsmartcard vpcd). Logic in `lamina-reader`.
//!
//! The PC/SC library is loaded at run time: on a machine without it (or
//! without `pcscd`) `lamina readers` and `card scan` say what is missing in one
//! line and exit 1. `card serve` never needs libpcsclite: it is a TCP client of
//! vpcd.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use lamina_card::{Card, CardRng, Interface, Rom};
use lamina_crypto::pki;
use lamina_reader::scan::{ScanReport, Step, verify_oda};
use lamina_reader::vpcd::{Bridge, BridgeConfig, DEFAULT_ADDR, Event, ResponseStyle, SaveTo};
use lamina_terminal::capk::CapkStore;
use serde::Serialize;

use crate::cmd::tlv::{Node, decode_nodes};
use crate::outln;
use crate::output::{emit, hx, print_json};

/// `lamina readers`.
#[derive(Debug, Args)]
pub struct ReadersArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The PC/SC subcommands of `lamina card`.
#[derive(Debug, Subcommand)]
pub enum ReaderCardCommand {
    /// Serve a card image to pcscd as a virtual smart card (vsmartcard vpcd).
    Serve(ServeArgs),
    /// Read any EMV card in a PC/SC reader, read-only (PSE/PPSE, applications,
    /// records, ODA data), as a decoded TLV tree.
    Scan(ScanArgs),
}

/// `lamina card serve CARD --vpcd HOST:PORT`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Card image (`lamina-card-image/1` JSON); written back after each session.
    pub card: PathBuf,
    /// Address of vpcd (the `vsmartcard-vpcd` driver inside pcscd).
    #[arg(long, value_name = "HOST:PORT", default_value = DEFAULT_ADDR)]
    pub vpcd: String,
    /// Present the card as contactless: PPSE visible, PC/SC pseudo-ATR.
    #[arg(long)]
    pub contactless: bool,
    /// Answer like a raw T=0 card (61xx / 6Cxx) instead of full data with 9000.
    #[arg(long)]
    pub t0_strict: bool,
    /// Stop when the first session ends instead of reconnecting.
    #[arg(long)]
    pub once: bool,
    /// Do not write the image back.
    #[arg(long)]
    pub no_save: bool,
    /// Print every command and status word (no response data).
    #[arg(long)]
    pub trace: bool,
    /// Print the events as JSON lines on standard output.
    #[arg(long)]
    pub json: bool,
}

/// `lamina card scan --reader NAME`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Reader name (exact, or a unique part of it; see `lamina readers`).
    #[arg(long)]
    pub reader: String,
    /// Do not send GET PROCESSING OPTIONS (probe SFI 1-10 instead of the AFL).
    #[arg(long)]
    pub no_gpo: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Show PAN and track data in full (masked by default).
    #[arg(long)]
    pub reveal_pan: bool,
    /// CA public keys (a terminal CAPK file, e.g. `terminals/capk-test.toml`):
    /// verify the card's certificates and its SDA/DDA signature.
    #[arg(long, value_name = "FILE")]
    pub capk: Option<PathBuf>,
}

/// Runs `lamina card serve|scan`.
pub fn run_card(cmd: ReaderCardCommand) -> Result<()> {
    match cmd {
        ReaderCardCommand::Serve(a) => run_serve(a),
        ReaderCardCommand::Scan(a) => run_scan(a),
    }
}

// ---------------------------------------------------------------------------
// lamina readers
// ---------------------------------------------------------------------------

#[derive(Debug, Serialize)]
struct ReaderRow {
    name: String,
    card: &'static str,
    atr: Option<String>,
    in_use: bool,
}

/// Runs `lamina readers`.
pub fn run_readers(a: ReadersArgs) -> Result<()> {
    let readers = lamina_reader::list_readers()?;
    let rows: Vec<ReaderRow> = readers
        .iter()
        .map(|r| ReaderRow {
            name: r.name.clone(),
            card: r.state_word(),
            atr: (!r.atr.is_empty()).then(|| hx(&r.atr)),
            in_use: r.in_use,
        })
        .collect();
    if a.json {
        return print_json(&rows);
    }
    let mut out = String::new();
    if rows.is_empty() {
        outln!(out, "no PC/SC reader found");
    }
    for r in &rows {
        match &r.atr {
            Some(atr) => outln!(out, "{}\t{}\tATR {atr}", r.name, r.card),
            None => outln!(out, "{}\t{}", r.name, r.card),
        }
    }
    emit(&out)
}

/// Opens a PC/SC reader as a card channel (for `lamina terminal pay --reader`).
pub fn open_reader(name: &str) -> Result<lamina_reader::PcscChannel> {
    Ok(lamina_reader::PcscChannel::open(name)?)
}

// ---------------------------------------------------------------------------
// lamina card serve
// ---------------------------------------------------------------------------

/// The card's random numbers from the operating system (a served card is used
/// by other software: its challenges must not be predictable).
struct OsCardRng;

impl CardRng for OsCardRng {
    fn fill_bytes(&mut self, out: &mut [u8]) {
        use rand::Rng;
        rand::rng().fill_bytes(out);
    }
}

/// The applet classes `card serve` can run: the CLI's chip ROM (EMV payment
/// applet with the chip's RSA, so DDA/CDA cards sign; the demo counter).
pub fn card_rom() -> Rom {
    crate::chip::rom()
}

/// Runs `lamina card serve`.
pub fn run_serve(a: ServeArgs) -> Result<()> {
    let json = std::fs::read_to_string(&a.card)
        .with_context(|| format!("reading card image {}", a.card.display()))?;
    let card = Card::load_image(card_rom(), OsCardRng, &json)
        .with_context(|| format!("loading card image {}", a.card.display()))?;
    let mut cfg = BridgeConfig::new(a.vpcd.clone());
    cfg.reconnect = !a.once;
    cfg.style = if a.t0_strict {
        ResponseStyle::T0
    } else {
        ResponseStyle::Full
    };
    cfg.interface = if a.contactless {
        Interface::Contactless
    } else {
        Interface::Contact
    };
    if !a.no_save {
        cfg.save_to = SaveTo::Image(a.card.clone());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut bridge = Bridge::new(card, cfg).with_shutdown(Arc::clone(&stop));
    eprintln!(
        "serving {} to vpcd at {} ({}); {}",
        a.card.display(),
        a.vpcd,
        if a.contactless {
            "contactless, PC/SC pseudo-ATR"
        } else {
            "contact, ATR offers T=0 and T=1"
        },
        if a.once {
            "stops when the first session ends"
        } else {
            "Ctrl-C to stop (the image is saved after every change)"
        }
    );
    let (trace, json, once) = (a.trace, a.json, a.once);
    let mut session_used = false;
    bridge.run(&mut |e| {
        // --once: the first session is over when the card that answered
        // commands is powered off or removed.
        match &e {
            Event::Apdu { .. } => session_used = true,
            Event::PoweredOff | Event::Disconnected(_) if once && session_used => {
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            _ => {}
        }
        if json {
            if let Some(v) = serve_event_json(&e, trace) {
                outln_json(&v);
            }
        } else {
            print_serve_event(&e, trace);
        }
    })?;
    Ok(())
}

/// One line of JSON on standard output.
fn outln_json(v: &serde_json::Value) {
    println!("{v}");
}

/// A served card's event as JSON (`--json`): APDUs by header and status word
/// only, no data (it may hold the PAN).
fn serve_event_json(e: &Event, trace: bool) -> Option<serde_json::Value> {
    use serde_json::json;
    Some(match e {
        Event::Connected(peer) => json!({"event": "connected", "vpcd": peer.to_string()}),
        Event::ConnectFailed(why) => json!({"event": "connect_failed", "reason": why}),
        Event::PoweredOn(atr) => json!({"event": "powered_on", "atr": hx(atr)}),
        Event::PoweredOff => json!({"event": "powered_off"}),
        Event::Reset => json!({"event": "reset"}),
        Event::Apdu { command, response } if trace => json!({
            "event": "apdu",
            "header": hx(command.get(..4).unwrap_or(command)),
            "response_data_bytes": response.len().saturating_sub(2),
            "sw": response.len().checked_sub(2).and_then(|i| response.get(i..)).map(hx),
        }),
        Event::Apdu { .. } => return None,
        Event::Saved(p) => json!({"event": "saved", "file": p.display().to_string()}),
        Event::Disconnected(why) => json!({"event": "disconnected", "reason": why}),
    })
}

fn print_serve_event(e: &Event, trace: bool) {
    match e {
        Event::Connected(peer) => eprintln!("connected to vpcd {peer}: card inserted"),
        Event::ConnectFailed(why) if trace => eprintln!("vpcd not reachable: {why}; retrying"),
        Event::PoweredOn(atr) => eprintln!("power on, ATR {}", hx(atr)),
        Event::PoweredOff if trace => eprintln!("power off"),
        Event::Reset => eprintln!("reset"),
        Event::Apdu { command, response } if trace => {
            let sw = response
                .len()
                .checked_sub(2)
                .and_then(|i| response.get(i..))
                .map(hx)
                .unwrap_or_else(|| "(mute)".to_owned());
            eprintln!(
                "> {}  < {} data bytes, SW {sw}",
                hx(command.get(..4).unwrap_or(command)),
                response.len().saturating_sub(2)
            );
        }
        Event::Saved(p) if trace => eprintln!("saved {}", p.display()),
        Event::Disconnected(why) => match why {
            Some(w) => eprintln!("vpcd connection ended: {w}"),
            None => eprintln!("vpcd connection closed: card removed"),
        },
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// lamina card scan
// ---------------------------------------------------------------------------

#[derive(Debug, Serialize)]
struct StepOut {
    step: String,
    command: String,
    sw: String,
    meaning: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tlv: Vec<Node>,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw: Option<String>,
}

#[derive(Debug, Serialize)]
struct AppOut {
    aid: String,
    found_in: &'static str,
    oda: String,
    steps: Vec<StepOut>,
}

#[derive(Debug, Serialize)]
struct ScanOut {
    reader: String,
    atr: String,
    directories: Vec<StepOut>,
    applications: Vec<AppOut>,
}

fn step_out(s: &Step, reveal: bool) -> StepOut {
    // Data that is not TLV (rare) is shown raw only with --reveal-pan, since it
    // could hold anything.
    let (tlv, raw) = match decode_nodes(&s.data, reveal) {
        Ok(n) => (n, None),
        Err(_) if reveal => (Vec::new(), Some(hx(&s.data))),
        Err(_) => (
            Vec::new(),
            Some(format!("({} bytes, not TLV)", s.data.len())),
        ),
    };
    StepOut {
        step: s.label.clone(),
        command: hx(&s.command),
        sw: format!("{:04X}", s.sw.0),
        meaning: s.sw.meaning(),
        tlv,
        raw,
    }
}

fn scan_out(
    reader: &str,
    r: &ScanReport,
    reveal: bool,
    capk: Option<(&CapkStore, pki::Date)>,
) -> ScanOut {
    let mut directories = Vec::new();
    for d in [&r.pse, &r.ppse].into_iter().flatten() {
        directories.push(step_out(&d.select, reveal));
        directories.extend(d.records.iter().map(|s| step_out(s, reveal)));
    }
    let applications = r
        .apps
        .iter()
        .map(|a| {
            let mut steps = vec![step_out(&a.select, reveal)];
            steps.extend(a.gpo.iter().map(|s| step_out(s, reveal)));
            steps.extend(a.records.iter().map(|x| step_out(&x.step, reveal)));
            steps.extend(
                a.internal_authenticate
                    .iter()
                    .map(|(_, s)| step_out(s, reveal)),
            );
            steps.extend(a.get_data.iter().map(|s| step_out(s, reveal)));
            AppOut {
                aid: hx(&a.aid),
                found_in: a.source,
                oda: match capk {
                    Some((store, today)) => verify_oda(a, store, today).to_string(),
                    None if a.oda.best_method().is_some() => {
                        format!("{} (give --capk FILE to verify)", a.oda.describe())
                    }
                    None => a.oda.describe(),
                },
                steps,
            }
        })
        .collect();
    ScanOut {
        reader: reader.to_owned(),
        atr: hx(&r.atr),
        directories,
        applications,
    }
}

fn print_nodes(out: &mut String, nodes: &[Node], indent: usize) {
    for n in nodes {
        let pad = "  ".repeat(indent);
        let name = n.name.as_deref().unwrap_or("(unknown tag)");
        match &n.children {
            Some(children) => {
                outln!(out, "{pad}{} {name}", n.tag);
                print_nodes(out, children, indent + 1);
            }
            None => {
                let value = n.value.as_deref().unwrap_or("");
                match &n.text {
                    Some(t) if !t.is_empty() && t != value => {
                        outln!(out, "{pad}{} {name}: {value}  \"{t}\"", n.tag)
                    }
                    _ => outln!(out, "{pad}{} {name}: {value}", n.tag),
                }
                for e in &n.explain {
                    outln!(out, "{pad}    · {}: {}", e.label, e.detail);
                }
            }
        }
    }
}

fn print_step(out: &mut String, s: &StepOut) {
    outln!(out, "  {}  →  SW {} ({})", s.step, s.sw, s.meaning);
    print_nodes(out, &s.tlv, 2);
    if let Some(r) = &s.raw {
        outln!(out, "    {r}");
    }
}

/// Runs `lamina card scan`.
pub fn run_scan(a: ScanArgs) -> Result<()> {
    use lamina_reader::scan::{ScanOptions, scan};
    let mut ch = open_reader(&a.reader)?;
    let reader = ch.reader().to_owned();
    ch.wait_for_card(std::time::Duration::from_secs(0))
        .with_context(|| format!("no card in {reader}"))?;
    let opts = ScanOptions {
        gpo: !a.no_gpo,
        ..ScanOptions::default()
    };
    let store = match &a.capk {
        Some(p) => Some(crate::files::capk_file(p)?),
        None => None,
    };
    let (y, m, d) = crate::cmd::crypto::civil_today();
    let today = pki::Date::new(
        u16::try_from(y).unwrap_or(u16::MAX),
        u8::try_from(m).unwrap_or(1),
        u8::try_from(d).unwrap_or(1),
    )?;
    let report = scan(&mut ch, &opts)?;
    let o = scan_out(
        &reader,
        &report,
        a.reveal_pan,
        store.as_ref().map(|s| (s, today)),
    );
    if a.json {
        return print_json(&o);
    }
    let mut out = String::new();
    outln!(out, "reader {}", o.reader);
    outln!(out, "ATR {}", o.atr);
    outln!(out);
    outln!(out, "directories:");
    if o.directories.is_empty() {
        outln!(out, "  (none)");
    }
    for s in &o.directories {
        print_step(&mut out, s);
    }
    for app in &o.applications {
        outln!(out);
        outln!(out, "application {} (from {}):", app.aid, app.found_in);
        for s in &app.steps {
            print_step(&mut out, s);
        }
        outln!(out, "  ODA: {}", app.oda);
    }
    if o.applications.is_empty() {
        outln!(out);
        outln!(out, "no EMV application found");
    }
    emit(&out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lamina_card::EmulatedCard;
    use lamina_reader::scan::{ScanOptions, scan};

    #[test]
    fn scan_tree_masks_the_pan() {
        let p = lamina_applets::emv::testing::sample_personalization(
            lamina_applets::emv::CvnChoice::EmvCcd,
        )
        .unwrap();
        let card = lamina_applets::emv::testing::build_card(&p, None, 1).unwrap();
        let mut ch = EmulatedCard::new(card);
        let r = scan(&mut ch, &ScanOptions::default()).unwrap();
        let o = scan_out("test", &r, false, None);
        let json = serde_json::to_string(&o).unwrap();
        assert!(!json.contains("4761739001010010"), "PAN leaked");
        assert!(json.contains("476173"), "masked PAN shown");
        let mut text = String::new();
        for s in &o.applications[0].steps {
            print_step(&mut text, s);
        }
        assert!(text.contains("READ RECORD SFI 2 #1"));
        assert!(!text.contains("4761739001010010"));
    }

    /// A card personalized for SDA or DDA with the test PKI (EMV Book 2), its
    /// applet signing with the chip's RSA engine; `tamper` changes a signed
    /// record after signing.
    fn oda_card(dda: bool, tamper: bool) -> (Box<dyn lamina_card::CardChannel>, CapkStore) {
        use lamina_applets::emv::testing::{TEST_PAN, sample_personalization, test_card};
        use lamina_applets::emv::{CvnChoice, EmvRecord, IccRsaKey, OdaMethod};
        use lamina_terminal::testkit::{TestPki, static_data};
        use lamina_tlv::Tlv;
        let pki = TestPki::new(TEST_PAN).unwrap();
        let mut p = sample_personalization(CvnChoice::EmvCcd).unwrap();
        let aip = if dda { [0x3C, 0x00] } else { [0x5C, 0x00] };
        p.aip = aip.to_vec();
        p.afl = hex::decode("080101001001020218010200").unwrap();
        let recs: Vec<(u8, u8, Vec<u8>)> = p
            .records
            .iter()
            .map(|r| (r.sfi, r.record, r.data.clone()))
            .collect();
        let sd = static_data(&recs, &p.afl, Some(aip));
        let mut issuer = pki.issuer_tlvs();
        issuer.push(Tlv::primitive(0x9F4Au32, vec![0x82]));
        let second = if dda {
            pki.icc_tlvs(TEST_PAN, &sd).unwrap()
        } else {
            vec![pki.sda_tlv(&sd).unwrap()]
        };
        for (record, tlvs) in [(1, issuer), (2, second)] {
            p.records.push(EmvRecord {
                sfi: 3,
                record,
                data: Tlv::constructed(0x70u32, tlvs).encode(),
            });
        }
        if tamper {
            // SFI 2 records 1-2 are signed (AFL 10 01 02 02): change a byte of
            // record 2 (CDOL, DDOL ...).
            let r = p
                .records
                .iter_mut()
                .find(|r| r.sfi == 2 && r.record == 2)
                .unwrap();
            let last = r.data.len() - 1;
            r.data[last] ^= 0x01;
        }
        p.oda = if dda { OdaMethod::Dda } else { OdaMethod::Sda };
        if dda {
            // The applet signs with the chip's RSA engine, as `card serve` runs it.
            p.icc_rsa = Some(IccRsaKey::from(&pki.icc.to_parts().unwrap()));
        }
        let rsa: std::sync::Arc<dyn lamina_applets::emv::IccRsa> =
            std::sync::Arc::new(crate::chip::ChipRsa);
        let card = test_card(&p, Some(rsa), 3).unwrap();
        (Box::new(card), pki.capk_store())
    }

    fn oda_verdict(dda: bool, tamper: bool, with_keys: bool) -> String {
        let (mut ch, store) = oda_card(dda, tamper);
        let r = scan(ch.as_mut(), &ScanOptions::default()).unwrap();
        let store = if with_keys { store } else { CapkStore::new() };
        let today = pki::Date::new(2026, 11, 25).unwrap();
        verify_oda(&r.apps[0], &store, today).to_string()
    }

    #[test]
    fn oda_is_verified_with_the_ca_keys() {
        let v = oda_verdict(false, false, true);
        assert!(v.starts_with("SDA verified"), "{v}");
        let v = oda_verdict(true, false, true);
        assert!(v.starts_with("DDA verified"), "{v}");
        assert!(v.contains("INTERNAL AUTHENTICATE signature OK"), "{v}");
    }

    #[test]
    fn oda_failures_are_reported() {
        let v = oda_verdict(false, true, true);
        assert!(v.starts_with("SDA FAILED"), "{v}");
        let v = oda_verdict(true, true, true);
        assert!(
            v.starts_with("DDA FAILED: ICC public key certificate"),
            "{v}"
        );
        let v = oda_verdict(true, false, false);
        assert!(v.contains("is not in the CAPK file"), "{v}");
    }

    #[test]
    fn serve_rom_loads_emv_images() {
        let p = lamina_applets::emv::testing::sample_personalization(
            lamina_applets::emv::CvnChoice::EmvCcd,
        )
        .unwrap();
        let card = lamina_applets::emv::testing::build_card(&p, None, 1).unwrap();
        Card::load_image(card_rom(), OsCardRng, &card.save_image()).unwrap();
    }
}
