//! `lamina terminal pay`: one EMV contact transaction with the terminal kernel
//! (`lamina-terminal`), the screen messages printed as they happen.
//!
//! The card is a chip image (`lamina-card-image/1` JSON, as `lamina card serve`
//! uses) loaded with the applet registry of `lamina-applets` (the EMV applet with
//! its RSA engine, so DDA, CDA and enciphered PIN work), or an in-process test
//! card (`--card test`, `test:sda`, `test:dda`, `test:cda`, `test:none`): the
//! applet's sample personalization with Lamina's test PKI certificates. The online step goes to the
//! kernel's host double (real ARQC/ARPC cryptography with the applets' test issuer
//! master keys), or with `--host` to a Lamina host over ISO 8583 (`lamina_acquirer::IsoLink`).
//!
//! **Offline approvals.** When the card approves offline (a TC: ARC `Y1`, or `Y3`
//! after "unable to go online") the kernel hands over an
//! [`OfflineAdvice`](lamina_terminal::clearing::OfflineAdvice): the issuer has not
//! debited the cardholder yet. With `--host` the terminal is online capable and
//! reports it at once as a financial advice (0220, EMV 4.4 Book 4 §12.3, §12.4;
//! docs/iso8583.md §6) through the same link, with the 0221 repeat of the same
//! transmission when an answer is lost (`lamina_acquirer::advice::deliver_advice`,
//! after `lamina_terminal::clearing::AdviceQueue::upload`). Without
//! a host (the test host double, or `--offline`) the advice is only shown: a real
//! terminal keeps it in its store-and-forward queue until it can upload.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use lamina_acquirer::advice::{AdviceReport, deliver_advice};
use lamina_applets::emv::testing::{
    TEST_IMK_AC, TEST_IMK_SMI, TEST_PAN, TEST_PIN, sample_personalization, test_card,
};
use lamina_applets::emv::{CvnChoice, EmvRecord, IccRsa, IccRsaKey, OdaMethod};
use lamina_card::{Card, CardChannel, EmulatedCard, SeededRng};
use lamina_crypto::pin::Pin;
use lamina_terminal::clearing::AdviceSender;
use lamina_terminal::kernel::{DateTime, Devices, FixedClock, TransactionRequest, format_amount};
use lamina_terminal::online::AcquirerLink;
use lamina_terminal::testkit::{DukptPinPad, HostDouble, TestPki, static_data};
use lamina_terminal::ui::{Event, PinEntry, PinPad, PinPurpose, Screen};
use lamina_terminal::{Outcome, TransactionResult};
use lamina_tlv::Tlv;
use serde::Serialize;

use crate::input::bad;
use crate::outln;
use crate::output::{emit, print_json};

/// `lamina terminal …`
#[derive(Debug, Subcommand)]
pub enum TerminalCommand {
    /// Pay with a card: run one contact transaction (EMV Book 3 §10), printing the
    /// terminal's screen messages as they happen, then the result.
    Pay(PayArgs),
    /// Tap a card at a closed-loop terminal: transit gate, parking gate or the
    /// retail loyalty reader (purse, transit, parking, loyalty applications).
    Tap(crate::cmd::closedloop::TapArgs),
}

/// `lamina terminal pay`
#[derive(Debug, Args)]
pub struct PayArgs {
    /// The card: a chip image file (lamina-card-image JSON), or `test`,
    /// `test:sda`, `test:dda`, `test:cda`, `test:none` for an in-process test card.
    #[arg(long, required_unless_present = "reader", conflicts_with = "reader")]
    pub card: Option<String>,
    /// A PC/SC reader (name or a unique part of it) holding the card.
    #[arg(long)]
    pub reader: Option<String>,
    /// Go online to a Lamina host over ISO 8583/TCP (e.g. 127.0.0.1:8583) instead of
    /// the built-in test host double.
    #[arg(long, value_name = "HOST:PORT")]
    pub host: Option<String>,
    /// TLS to the host (--tls-ca, and --tls-cert/--tls-key for mutual TLS).
    #[command(flatten)]
    pub tls: crate::cmd::host::TlsClientArgs,
    /// Amount in major units, e.g. 12.34.
    #[arg(long)]
    pub amount: String,
    /// Currency (ISO 4217 alphabetic or numeric); must be the configuration's.
    #[arg(long)]
    pub currency: Option<String>,
    /// The PIN typed on the PIN pad (once; a second request is a bypass).
    #[arg(long, conflicts_with = "pin_prompt")]
    pub pin: Option<String>,
    /// Ask for the PIN on the terminal (read from standard input).
    #[arg(long)]
    pub pin_prompt: bool,
    /// Terminal configuration (TOML): a file, or a built-in one by name (retail,
    /// offline, transit-gate; the default is the built-in retail terminal).
    #[arg(long, default_value = "retail")]
    pub config: PathBuf,
    /// CA public key file (the bureau's `capk.toml`) replacing the configuration's,
    /// so the terminal can authenticate cards of that issuer offline (SDA/DDA/CDA).
    #[arg(long)]
    pub capk: Option<PathBuf>,
    /// Cashback amount (Amount, Other), major units.
    #[arg(long)]
    pub cashback: Option<String>,
    /// Do not go online (no acquirer link).
    #[arg(long)]
    pub offline: bool,
    /// With --host: when the host cannot be reached, let the card decide offline
    /// (ARC Y3/Z3) and exit 0. Without it an unreachable host is a failure (exit 1)
    /// after the card's decision is shown.
    #[arg(long, requires = "host")]
    pub offline_fallback: bool,
    /// Merchant forces the transaction online.
    #[arg(long)]
    pub force_online: bool,
    /// Write the card image back after the transaction (counters, PIN tries …).
    #[arg(long)]
    pub save: bool,
    /// Print the APDU trace (commands and decoded responses; PAN masked).
    #[arg(long)]
    pub trace: bool,
    /// Print the result as JSON (screen messages go to standard error).
    #[arg(long)]
    pub json: bool,
}

/// Runs `lamina terminal …`.
pub fn run(cmd: TerminalCommand) -> Result<()> {
    match cmd {
        TerminalCommand::Pay(a) => pay(a),
        TerminalCommand::Tap(a) => crate::cmd::closedloop::tap(a),
    }
}

/// Parses `12.34` with `exponent` decimals into minor units.
fn parse_amount(s: &str, exponent: u8, what: &str) -> Result<u64> {
    let err = || bad(format!("{what}: expected an amount like 12.34, got {s:?}"));
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > usize::from(exponent)
    {
        return Err(err());
    }
    let mut digits = format!("{int}{frac}");
    for _ in frac.len()..usize::from(exponent) {
        digits.push('0');
    }
    let v: u64 = digits.parse().map_err(|_| err())?;
    if v > 999_999_999_999 {
        return Err(bad(format!("{what}: at most 12 digits (EMV n 12)")));
    }
    Ok(v)
}

/// Prints screen events as they happen.
struct CliScreen {
    to_stderr: bool,
    events: Vec<Event>,
}

impl CliScreen {
    fn line(&self, s: &str) {
        if self.to_stderr {
            eprintln!("{s}");
        } else {
            let _ = emit(&format!("{s}\n"));
        }
    }
}

impl Screen for CliScreen {
    fn show(&mut self, event: &Event) {
        self.events.push(event.clone());
        let text = match event {
            Event::Message(m) => format!("[screen] {m}"),
            Event::ApplicationSelected { label, aid } => format!("[screen] {label} ({aid})"),
            Event::PinTriesLeft(n) => format!("[screen] {n} PIN tries left"),
            Event::LastPinTry => "[screen] LAST PIN TRY".to_owned(),
            Event::GoingOnline => "[screen] (connecting to the acquirer)".to_owned(),
            Event::IssuerMessage(s) => format!("[screen] {s}"),
            Event::SignatureRequired => "[screen] PLEASE SIGN THE RECEIPT".to_owned(),
            _ => format!("[screen] {event:?}"),
        };
        self.line(&text);
    }
}

/// The PIN pad: `--pin` once, or `--pin-prompt` lines from standard input.
struct CliPinPad {
    pin: Option<String>,
    prompt: bool,
}

impl PinPad for CliPinPad {
    fn request_pin(&mut self, _purpose: PinPurpose, _attempt: u8) -> PinEntry {
        let text = if self.prompt {
            eprint!("PIN (empty to bypass): ");
            let _ = std::io::stderr().flush();
            let mut line = String::new();
            if std::io::stdin().lock().read_line(&mut line).is_err() {
                return PinEntry::Unavailable;
            }
            let t = line.trim().to_owned();
            (!t.is_empty()).then_some(t)
        } else {
            self.pin.take()
        };
        match text {
            None => PinEntry::Bypassed,
            Some(t) => match Pin::new(&t) {
                Ok(p) => PinEntry::Pin(p),
                Err(_) => PinEntry::Bypassed,
            },
        }
    }
}

/// The card in the reader: an emulated chip (from an image, or the test card) or
/// a card in a PC/SC reader.
enum CliCard {
    Emulated(Box<EmulatedCard>, bool),
    Reader(Box<dyn CardChannel>),
}

impl CliCard {
    fn channel(&mut self) -> &mut dyn CardChannel {
        match self {
            CliCard::Emulated(c, _) => c.as_mut(),
            CliCard::Reader(c) => c.as_mut(),
        }
    }
    fn is_image(&self) -> bool {
        matches!(self, CliCard::Emulated(_, true))
    }
    fn image(&self) -> Option<String> {
        match self {
            CliCard::Emulated(c, true) => Some(c.card().save_image()),
            _ => None,
        }
    }
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap_or_default()
}

/// The kernel tests' test card: the applet's sample personalization (EMV CCD
/// cryptograms) with the test PKI's certificates for `oda`.
fn build_test_card(oda: &str) -> Result<CliCard> {
    let mut p = sample_personalization(CvnChoice::EmvCcd).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut aip = [0x1C, 0x00];
    match oda {
        "none" => {}
        "sda" => aip[0] |= 0x40,
        "dda" => aip[0] |= 0x20,
        "cda" => aip[0] |= 0x21,
        other => {
            return Err(bad(format!(
                "--card test:{other}: expected test, test:none, test:sda, test:dda or test:cda"
            )));
        }
    }
    p.aip = aip.to_vec();
    let pki = TestPki::new(TEST_PAN).map_err(|e| anyhow::anyhow!("test PKI: {e}"))?;
    if oda != "none" {
        p.afl = h("08010100 10010202 18010200");
        let recs: Vec<(u8, u8, Vec<u8>)> = p
            .records
            .iter()
            .map(|r| (r.sfi, r.record, r.data.clone()))
            .collect();
        let sd = static_data(&recs, &p.afl, Some(aip));
        let mut issuer = pki.issuer_tlvs();
        issuer.push(Tlv::primitive(0x9F4Au32, vec![0x82]));
        let second = if oda == "sda" {
            vec![pki.sda_tlv(&sd).map_err(|e| anyhow::anyhow!("{e}"))?]
        } else {
            pki.icc_tlvs(TEST_PAN, &sd)
                .map_err(|e| anyhow::anyhow!("{e}"))?
        };
        p.records.push(EmvRecord {
            sfi: 3,
            record: 1,
            data: Tlv::constructed(0x70u32, issuer).encode(),
        });
        p.records.push(EmvRecord {
            sfi: 3,
            record: 2,
            data: Tlv::constructed(0x70u32, second).encode(),
        });
        p.oda = match oda {
            "sda" => OdaMethod::Sda,
            "dda" => OdaMethod::Dda,
            _ => OdaMethod::Cda,
        };
        if oda != "sda" {
            let parts = pki
                .icc
                .to_parts()
                .map_err(|e| anyhow::anyhow!("test ICC key: {e}"))?;
            p.icc_rsa = Some(IccRsaKey::from(&parts));
        }
    }
    let seed = rand::random::<u64>();
    let rsa: Arc<dyn IccRsa> = Arc::new(crate::chip::ChipRsa);
    let card = test_card(&p, Some(rsa), seed).map_err(|e| anyhow::anyhow!("test card: {e}"))?;
    Ok(CliCard::Emulated(Box::new(card), false))
}

fn load_card(spec: &str) -> Result<CliCard> {
    if spec == "test" {
        return build_test_card("dda");
    }
    if let Some(oda) = spec.strip_prefix("test:") {
        return build_test_card(oda);
    }
    let json =
        std::fs::read_to_string(spec).with_context(|| format!("reading card image {spec}"))?;
    let card = Card::load_image(
        crate::chip::rom(),
        SeededRng::new(rand::random::<u64>()),
        &json,
    )
    .with_context(|| format!("loading card image {spec}"))?;
    Ok(CliCard::Emulated(Box::new(EmulatedCard::new(card)), true))
}

fn now() -> DateTime {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    lamina_accept::openloop::kernel_date_time(i64::try_from(secs).unwrap_or(0))
}

#[derive(Serialize)]
struct JsonOut<'a> {
    screen: &'a [Event],
    result: &'a TransactionResult,
    /// What became of the offline approval's advice (`null` when not approved offline).
    advice: Option<&'a AdviceReport>,
}

// ---------------------------------------------------------------------------
// Offline advices
// ---------------------------------------------------------------------------

fn pay(a: PayArgs) -> Result<()> {
    let mut cfg = crate::files::terminal_config(&a.config)?;
    if let Some(capk) = &a.capk {
        cfg.capks = crate::files::capk_file(capk)?;
    }
    if let Some(c) = &a.currency {
        let numeric = c.parse::<u16>().ok().or_else(|| {
            lamina_emv::dict::CURRENCIES
                .iter()
                .find(|(_, alpha)| alpha.eq_ignore_ascii_case(c))
                .map(|(n, _)| *n)
        });
        match numeric {
            Some(n) if n == cfg.currency => {}
            Some(n) => cfg.currency = n,
            None => return Err(bad(format!("--currency: unknown currency {c:?}"))),
        }
    }
    let amount = parse_amount(&a.amount, cfg.currency_exponent, "--amount")?;
    let cashback = match &a.cashback {
        Some(s) => parse_amount(s, cfg.currency_exponent, "--cashback")?,
        None => 0,
    };
    let mut card = match (&a.card, &a.reader) {
        (_, Some(name)) => CliCard::Reader(Box::new(crate::cmd::reader::open_reader(name)?)),
        (Some(spec), None) => load_card(spec)?,
        (None, None) => return Err(bad("give --card IMAGE or --reader NAME")),
    };
    let mut request = TransactionRequest::purchase(amount);
    request.amount_other = cashback;
    if cashback > 0 {
        request.transaction_type = 0x09;
    }
    request.force_online = a.force_online;
    request.trace = a.trace;
    request.stan = std::process::id() % 1_000_000;
    let mut screen = CliScreen {
        to_stderr: a.json,
        events: Vec::new(),
    };
    let mut pad = CliPinPad {
        pin: a.pin.clone(),
        prompt: a.pin_prompt,
    };
    let mut host = HostDouble::new(
        lamina_crypto::emv::Cvn::EmvCcd,
        TEST_IMK_AC,
        TEST_IMK_SMI,
        Some(TEST_PIN),
    );
    let mut dukpt = DukptPinPad::test().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut rng = rand::rng();
    // A real host: the ISO 8583 link runs on a small tokio runtime.
    let runtime;
    if a.host.is_none() && a.tls.tls_ca.is_some() {
        return Err(bad("--tls-ca needs --host"));
    }
    if a.host.is_none() && !a.offline {
        eprintln!(
            "note: no --host: online authorizations go to the built-in TEST host double \
             (public test keys); --host HOST:PORT for a Lamina host"
        );
    }
    let mut iso_link = match &a.host {
        Some(addr) => {
            let tls = a.tls.client_tls(addr)?;
            // A worker thread drives the socket: `IsoLink` calls `Handle::block_on`, which
            // on a current-thread runtime would drive neither I/O nor timers (it hung).
            runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?;
            let client = runtime
                .block_on(lamina_link::client::HostClient::connect_with(
                    addr,
                    tls.as_ref(),
                ))
                .map_err(|e| anyhow::anyhow!("connecting to the host at {addr}: {e}"))?;
            Some(lamina_acquirer::IsoLink::new(
                std::sync::Arc::new(client),
                runtime.handle().clone(),
                lamina_acquirer::AcquirerConfig::default(),
                // DE 7 from the wall clock: the host keys its idempotency record
                // (and recognises an advice's 0221 repeat) by STAN and DE 7.
                Box::new(lamina_accept::openloop::TapClock::now()),
            ))
        }
        None => None,
    };
    let result = lamina_terminal::run(
        &cfg,
        &request,
        Devices {
            card: card.channel(),
            screen: &mut screen,
            pin_pad: &mut pad,
            acquirer: match (a.offline, iso_link.as_mut()) {
                (true, _) => None,
                (false, Some(link)) => Some(link as &mut dyn AcquirerLink),
                (false, None) => Some(&mut host as &mut dyn AcquirerLink),
            },
            pin_encryptor: Some(&mut dukpt),
        },
        &FixedClock(now()),
        &mut rng,
    );
    if let (true, Some(path), Some(image)) = (a.save && card.is_image(), &a.card, card.image()) {
        std::fs::write(path, image).with_context(|| format!("writing card image {path}"))?;
    }
    // An offline approval (TC) reaches the issuer only by advice: an online-capable
    // terminal (--host) sends it at once over its link.
    let advice = result.offline_advice.as_ref().map(|adv| {
        let no_host = if a.offline {
            "--offline"
        } else {
            "no --host: test host double"
        };
        match (a.offline, iso_link.as_mut()) {
            (false, Some(link)) => deliver_advice(adv, Some(link as &mut dyn AdviceSender), ""),
            _ => deliver_advice(adv, None, no_host),
        }
    });
    if a.json {
        print_json(&JsonOut {
            screen: &screen.events,
            result: &result,
            advice: advice.as_ref(),
        })?;
        return unreachable_host(&result, a.offline_fallback);
    }
    let mut text = render(&result, cfg.currency_exponent, amount);
    if let Some(adv) = &advice {
        outln!(text, "{}", adv.line());
    }
    emit(&text)?;
    if matches!(result.outcome, Outcome::Terminated(_)) {
        std::process::exit(1);
    }
    unreachable_host(&result, a.offline_fallback)
}

/// `--host` given but not reached: a failure unless the user asked for the
/// offline fallback.
fn unreachable_host(result: &TransactionResult, fallback: bool) -> Result<()> {
    match &result.online_failure {
        Some(why) if !fallback => Err(anyhow::anyhow!(
            "the host could not be reached ({why}); the card decided offline ({}). \
             Pass --offline-fallback to accept that",
            result.arc.as_deref().unwrap_or("-")
        )),
        _ => Ok(()),
    }
}

fn render(r: &TransactionResult, exponent: u8, amount: u64) -> String {
    let mut s = String::new();
    outln!(s);
    if let Some(why) = &r.online_failure {
        outln!(s, "Online:       could not go online: {why}");
    }
    outln!(s, "Outcome:      {}", r.outcome);
    outln!(s, "Amount:       {}", format_amount(amount, exponent));
    if let Some(aid) = &r.aid {
        outln!(s, "AID:          {aid}");
    }
    if let Some(o) = &r.oda {
        outln!(s, "ODA:          {o}");
    }
    if let Some(arc) = &r.arc {
        outln!(s, "ARC (8A):     {arc}");
    }
    for (name, d) in [
        ("TVR (95)", &r.tvr),
        ("TSI (9B)", &r.tsi),
        ("CVM (9F34)", &r.cvm_results),
    ] {
        outln!(s, "{name:<13} {}", d.hex);
        for b in &d.bits {
            outln!(s, "    {}: {}", b.label, b.detail);
        }
    }
    for c in &r.cryptograms {
        outln!(
            s,
            "GENERATE AC {}: asked {}, got {} (CID {:02X}, ATC {:04X}) AC {}{}",
            c.generate_ac,
            c.requested,
            c.returned,
            c.cid,
            c.atc,
            c.ac,
            if c.cda_verified { ", CDA verified" } else { "" }
        );
    }
    if let Some(sr) = &r.script_results {
        outln!(s, "Script results (9F5B): {sr}");
    }
    if r.reversal_sent {
        outln!(s, "Reversal sent to the acquirer.");
    }
    outln!(
        s,
        "APDUs:        {} commands, {} bytes",
        r.apdu_count,
        r.apdu_bytes
    );
    if let Some(receipt) = &r.receipt {
        outln!(s);
        outln!(s, "---- receipt (cardholder copy) ----");
        for l in &receipt.cardholder_copy {
            outln!(s, "{l}");
        }
        outln!(s, "-----------------------------------");
    }
    if let Some(trace) = &r.trace {
        outln!(s);
        outln!(s, "APDU trace:");
        for t in trace {
            outln!(s, "> {:<24} {}", t.command, t.c_apdu);
            for l in &t.c_data {
                outln!(s, "  : {l}");
            }
            outln!(s, "< {} {}", t.sw, t.sw_meaning);
            for l in &t.response {
                outln!(s, "    {l}");
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        assert_eq!(parse_amount("12.34", 2, "a").unwrap(), 1234);
        assert_eq!(parse_amount("12", 2, "a").unwrap(), 1200);
        assert_eq!(parse_amount("0.5", 2, "a").unwrap(), 50);
        assert!(parse_amount("1.234", 2, "a").is_err());
        assert!(parse_amount("-1", 2, "a").is_err());
        assert!(parse_amount("", 2, "a").is_err());
        assert!(parse_amount("1e3", 2, "a").is_err());
    }

    /// Every test card against the applet's own RSA (DDA, CDA signatures):
    /// approved online, CDA verified by the kernel.
    #[test]
    fn test_card_pays() {
        let cfg_path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../terminals/retail.toml");
        let cfg = crate::files::terminal_config(&cfg_path).unwrap();
        for (spec, oda) in [
            ("test:none", None),
            ("test:sda", Some("SDA")),
            ("test:dda", Some("DDA")),
            ("test:cda", Some("CDA")),
        ] {
            let mut card = load_card(spec).unwrap();
            let mut screen = CliScreen {
                to_stderr: true,
                events: Vec::new(),
            };
            let mut pad = CliPinPad {
                pin: Some("1234".into()),
                prompt: false,
            };
            let mut host = HostDouble::new(
                lamina_crypto::emv::Cvn::EmvCcd,
                TEST_IMK_AC,
                TEST_IMK_SMI,
                Some(TEST_PIN),
            );
            let mut rng = rand::rng();
            let r = lamina_terminal::run(
                &cfg,
                &TransactionRequest::purchase(7500),
                Devices {
                    card: card.channel(),
                    screen: &mut screen,
                    pin_pad: &mut pad,
                    acquirer: Some(&mut host),
                    pin_encryptor: None,
                },
                &FixedClock(now()),
                &mut rng,
            );
            assert_eq!(r.outcome, Outcome::ApprovedOnline, "{spec}");
            assert_eq!(r.oda.as_deref(), oda, "{spec}");
            let failed = lamina_emv::bitmaps::TvrBit::ALL
                .iter()
                .filter(|b| {
                    matches!(
                        b,
                        lamina_emv::bitmaps::TvrBit::SdaFailed
                            | lamina_emv::bitmaps::TvrBit::DdaFailed
                            | lamina_emv::bitmaps::TvrBit::CdaFailed
                    )
                })
                .any(|b| r.tvr_raw.is_set(*b));
            assert!(!failed, "{spec}: {}", r.tvr.hex);
            if spec == "test:cda" {
                assert!(render(&r, 2, 7500).contains("CDA verified"));
            }
        }
        assert!(now().year >= 2024);
    }

    #[test]
    fn image_card_loads_and_pays_offline_only() {
        // A chip image as `card serve` stores it: the applet's sample card.
        let p = sample_personalization(CvnChoice::EmvCcd).unwrap();
        let card = test_card(&p, None, 9).unwrap();
        let path =
            std::env::temp_dir().join(format!("lamina-terminal-{}.json", std::process::id()));
        std::fs::write(&path, card.card().save_image()).unwrap();
        let mut loaded = load_card(path.to_str().unwrap()).unwrap();
        std::fs::remove_file(&path).unwrap();
        let cfg_path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../terminals/offline.toml");
        let cfg = crate::files::terminal_config(&cfg_path).unwrap();
        let mut screen = CliScreen {
            to_stderr: true,
            events: Vec::new(),
        };
        let mut pad = CliPinPad {
            pin: Some("1234".into()),
            prompt: false,
        };
        let mut rng = rand::rng();
        let r = lamina_terminal::run(
            &cfg,
            &TransactionRequest::purchase(1000),
            Devices {
                card: loaded.channel(),
                screen: &mut screen,
                pin_pad: &mut pad,
                acquirer: None,
                pin_encryptor: None,
            },
            &FixedClock(now()),
            &mut rng,
        );
        // No ODA on this card: TAC-default declines offline (Z1).
        assert_eq!(r.outcome, Outcome::DeclinedOffline);
        assert_eq!(r.arc.as_deref(), Some("Z1"));
        assert!(bad_amount_is_input_error());
    }

    fn bad_amount_is_input_error() -> bool {
        parse_amount("x", 2, "--amount")
            .unwrap_err()
            .downcast_ref::<crate::input::InputError>()
            .is_some()
    }
}
