//! `lamina terminal tap`, `lamina card purse …`, `lamina loyalty …`: the
//! closed-loop terminals (transit gate, parking gate, retail counter, purse load
//! terminal, loyalty terminal) against an emulated chip image.
//!
//! Every command runs its card interaction over the ISO/IEC 14443-4 transport
//! ([`lamina_card::iso14443::ContactlessLink`], bit rate `--bit-rate`) and prints
//! the radio time (computed from the frames and bytes exchanged, ISO/IEC 14443-2/-3
//! timing) beside the processing time of the tap.
//!
//! **Test keys.** The terminals hold the scheme keys of
//! [`lamina_closedloop::install::Schemes::demo`]: fixed, public demonstration
//! keys. Every command prints a warning saying so. A real terminal holds the
//! purchase, transit, parking and loyalty master keys in its secure access module.
//!
//! The SAM's terminal sequence number (which must never repeat for one terminal
//! id) is taken from the wall clock in seconds, since the command keeps no
//! terminal state between runs.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use clap::{Args, Subcommand, ValueEnum};
use lamina_card::iso14443::{BitRate, ContactlessLink, LinkConfig, LinkStats};
use lamina_card::{Card, CardChannel, ChannelError, EmulatedCard, Interface};
use lamina_closedloop::TerminalId;
use lamina_closedloop::install::{self, Schemes};
use lamina_closedloop::loyalty::{EarnRule, LoyaltyTerminal};
use lamina_closedloop::parking::{ParkingOutcome, ParkingTerminal, Tariff};
use lamina_closedloop::purse::{IssuerHost, Sam, load_purse, read_status};
use lamina_closedloop::terminal::{CardLink, StdStopwatch, TerminalError};
use lamina_closedloop::transit::{Direction, FareTable, GATE_BUDGET_US, GateTerminal};
use serde::Serialize;

use crate::cmd::card::{load_chip, save_chip};
use crate::input::bad;
use crate::outln;
use crate::output::{emit, print_json};

/// Warning printed by every command (stderr).
const TEST_KEYS_WARNING: &str = "warning: closed-loop terminals use the public DEMO scheme keys \
     (lamina_closedloop::install::Schemes::demo) — test keys, not for real cards";

/// The terminal profile of a tap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TapProfile {
    /// Metro gate: tap-in / tap-out with zone fares and daily capping, paid
    /// from the purse (300 ms budget for the whole interaction).
    TransitGate,
    /// Parking barrier: `in` writes a ticket, `out` pays the fee from the purse.
    ParkingGate,
    /// Retail counter: purse payment of `--amount`, loyalty points earned in the same tap.
    Retail,
    /// Unattended vending machine: reads the PPSE and pays `--amount` with the
    /// first application it accepts, in the terminal's order of preference (the
    /// purse first, then EMV payment applications), the card's priorities (87)
    /// breaking ties; the EMV leg is offline-only and without PIN (no PIN pad).
    Vending,
}

/// Gate direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TapDirection {
    /// Entry.
    In,
    /// Exit.
    Out,
}

/// Options shared by every closed-loop command.
#[derive(Debug, Clone, Args)]
pub struct LinkOpts {
    /// Time of the tap, seconds since 1970-01-01 UTC (default: now).
    #[arg(long)]
    pub time: Option<u32>,
    /// ISO/IEC 14443 bit rate in kbit/s: 106, 212, 424 or 848.
    #[arg(long, default_value_t = 106)]
    pub bit_rate: u32,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// `lamina terminal tap`: one tap of a chip image at a closed-loop terminal.
/// Uses the public DEMO scheme keys (test keys).
#[derive(Debug, Args)]
pub struct TapArgs {
    /// The chip image (JSON, `lamina-card-image/1`); saved back after the tap.
    #[arg(long)]
    pub card: PathBuf,
    /// Terminal profile.
    #[arg(long, value_enum)]
    pub profile: TapProfile,
    /// Station id (transit gate: a station of the demo fare table, 1–5),
    /// parking site id, or retail terminal number.
    #[arg(long)]
    pub station: u16,
    /// Gate direction (transit and parking gates).
    #[arg(long, value_enum, default_value = "in")]
    pub direction: TapDirection,
    /// Purchase amount in minor units (retail, vending).
    #[arg(long)]
    pub amount: Option<u32>,
    /// Contactless reader configuration for the EMV leg of a vending tap.
    #[arg(long, default_value = "terminals/retail-contactless.toml")]
    pub reader_config: PathBuf,
    /// CA public key file (the bureau's `capk.toml`) replacing the configuration's,
    /// so the vending machine can authenticate the card's CDA offline.
    #[arg(long)]
    pub capk: Option<PathBuf>,
    #[command(flatten)]
    pub link: LinkOpts,
}

/// `lamina card purse …` (public DEMO scheme keys: test keys).
#[derive(Debug, Subcommand)]
pub enum PurseCommand {
    /// Loads the purse, authorized online by the (in-process) purse issuer.
    Load {
        /// The chip image; saved back.
        card: PathBuf,
        /// Amount in minor units.
        #[arg(long)]
        amount: u32,
        #[command(flatten)]
        link: LinkOpts,
    },
    /// Reads the purse balance.
    Balance {
        /// The chip image.
        card: PathBuf,
        #[command(flatten)]
        link: LinkOpts,
    },
}

/// `lamina loyalty …` (public DEMO scheme keys: test keys; demo program 00C0FFEE,
/// 1 point per 1.00, a point is worth 0.01).
#[derive(Debug, Subcommand)]
pub enum LoyaltyCommand {
    /// Earns points for a purchase of `--amount` minor units.
    Earn {
        /// The chip image; saved back.
        card: PathBuf,
        /// Purchase amount in minor units.
        #[arg(long)]
        amount: u32,
        #[command(flatten)]
        link: LinkOpts,
    },
    /// Redeems `--points` points.
    Redeem {
        /// The chip image; saved back.
        card: PathBuf,
        /// Points to redeem.
        #[arg(long)]
        points: u32,
        #[command(flatten)]
        link: LinkOpts,
    },
    /// Points valid now.
    Balance {
        /// The chip image.
        card: PathBuf,
        #[command(flatten)]
        link: LinkOpts,
    },
}

/// A borrowed chip as a card channel (the contactless link takes its card by value).
struct Borrowed<'a>(&'a mut EmulatedCard);

impl CardChannel for Borrowed<'_> {
    fn power_on(&mut self, interface: Interface) -> Result<Vec<u8>, ChannelError> {
        self.0.power_on(interface)
    }
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
        self.0.transmit(apdu)
    }
    fn power_off(&mut self) {
        self.0.power_off();
    }
    fn reset(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.0.reset()
    }
}

fn bit_rate(kbps: u32) -> Result<BitRate> {
    match kbps {
        106 => Ok(BitRate::R106),
        212 => Ok(BitRate::R212),
        424 => Ok(BitRate::R424),
        848 => Ok(BitRate::R848),
        other => Err(bad(format!(
            "--bit-rate {other}: must be 106, 212, 424 or 848"
        ))),
    }
}

fn now() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// The SAM sequence number: wall-clock seconds (see the module docs).
fn sam_seq() -> u32 {
    now().max(1)
}

/// Radio and processing time of one tap.
#[derive(Debug, Clone, Serialize)]
struct Timing {
    bit_rate_kbps: u32,
    radio_ms: f64,
    processing_ms: f64,
    total_ms: f64,
    apdus: u64,
    frames: u64,
    bytes_on_air: u64,
}

impl Timing {
    fn of(s: &LinkStats, kbps: u32) -> Self {
        let radio_ms = s.radio_us() as f64 / 1000.0;
        let processing_ms = s.processing.as_secs_f64() * 1000.0;
        Timing {
            bit_rate_kbps: kbps,
            radio_ms,
            processing_ms,
            total_ms: radio_ms + processing_ms,
            apdus: s.apdus,
            frames: s.frames,
            bytes_on_air: s.bytes_on_air,
        }
    }

    fn line(&self) -> String {
        format!(
            "radio {:.2} ms at {} kbit/s ({} APDUs, {} frames, {} bytes on air), processing {:.2} ms, total {:.2} ms",
            self.radio_ms,
            self.bit_rate_kbps,
            self.apdus,
            self.frames,
            self.bytes_on_air,
            self.processing_ms,
            self.total_ms
        )
    }
}

/// A chip loaded from its image, in the reader's field.
struct Session {
    path: PathBuf,
    chip: EmulatedCard,
    kbps: u32,
    rate: BitRate,
    time: u32,
    json: bool,
}

impl Session {
    fn open(path: &Path, opts: &LinkOpts) -> Result<Self> {
        let rate = bit_rate(opts.bit_rate)?;
        let card: Card = load_chip(path)?;
        eprintln!("{TEST_KEYS_WARNING}");
        Ok(Session {
            path: path.to_owned(),
            chip: EmulatedCard::new(card),
            kbps: opts.bit_rate,
            rate,
            time: opts.time.unwrap_or_else(now),
            json: opts.json,
        })
    }

    /// Runs `f` with the chip in the field; returns its result and the link's stats.
    fn tap<T>(
        &mut self,
        f: impl FnOnce(&mut ContactlessLink<Borrowed<'_>>, u32) -> T,
    ) -> (T, Timing) {
        let time = self.time;
        let mut link = ContactlessLink::with_config(
            Borrowed(&mut self.chip),
            LinkConfig {
                bit_rate: self.rate,
                ..LinkConfig::default()
            },
        );
        let r = f(&mut link, time);
        let stats = link.take_stats();
        (r, Timing::of(&stats, self.kbps))
    }

    /// Powers on, runs `f` on a card link, powers off.
    fn powered<T>(
        &mut self,
        f: impl FnOnce(&mut CardLink<'_>, u32) -> Result<T, TerminalError>,
    ) -> (Result<T, TerminalError>, Timing) {
        self.tap(|link, time| {
            let r = link
                .power_on(Interface::Contactless)
                .map_err(TerminalError::from)
                .and_then(|_| f(&mut CardLink::new(link), time));
            link.power_off();
            r
        })
    }

    fn save(&self) -> Result<()> {
        save_chip(&self.path, self.chip.card())
    }

    /// Prints `report` as JSON, or its text lines followed by the timing line.
    fn print(&self, report: &impl Serialize, text: &str, timing: &Timing) -> Result<()> {
        if self.json {
            let mut v = serde_json::to_value(report)?;
            if let Some(o) = v.as_object_mut() {
                o.insert("timing".into(), serde_json::to_value(timing)?);
            }
            print_json(&v)
        } else {
            let mut out = text.to_owned();
            outln!(out, "{}", timing.line());
            emit(&out)
        }
    }
}

/// A terminal refused or the card failed: exit code 2, with the tap's timing.
fn failed(what: &str, e: &TerminalError, t: &Timing) -> anyhow::Error {
    bad(format!("{what}: {e} ({})", t.line()))
}

fn money(minor: u32) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

fn sam(tid: u64, schemes: &Schemes) -> Sam {
    Sam::new(
        TerminalId::from_u64(tid),
        schemes.purse.purchase.clone(),
        install::purse_aid(),
        sam_seq(),
    )
}

const DEMO_RULE: EarnRule = EarnRule {
    points_per_unit: 1,
    unit: 100,
    value_per_point: 1,
};

fn loyalty_terminal(tid: u64, schemes: &Schemes) -> Result<(LoyaltyTerminal, u32)> {
    let p = schemes
        .programs
        .first()
        .ok_or_else(|| anyhow!("no loyalty program in the scheme keys"))?;
    Ok((
        LoyaltyTerminal::new(TerminalId::from_u64(tid), install::loyalty_aid()).with_program(
            p.id,
            p.master.clone(),
            DEMO_RULE,
        ),
        p.id,
    ))
}

#[derive(Serialize)]
struct GateReport {
    profile: &'static str,
    station: u16,
    direction: &'static str,
    time: u32,
    open: bool,
    kind: String,
    charged: u32,
    uncapped: u32,
    balance: u32,
    refusal: Option<String>,
    resolved: Option<(String, u32)>,
    within_budget_us: u64,
    within_budget: bool,
}

#[derive(Serialize)]
struct ParkingJson {
    profile: &'static str,
    site: u16,
    direction: &'static str,
    time: u32,
    outcome: String,
    fee: u32,
    minutes: Option<u32>,
    balance: u32,
}

#[derive(Serialize)]
struct RetailJson {
    profile: &'static str,
    terminal: u16,
    time: u32,
    amount: u32,
    balance: u32,
    proof_counter: u32,
    points_earned: Option<u32>,
    points_balance: Option<u32>,
}

/// `lamina terminal tap`.
pub fn tap(a: TapArgs) -> Result<()> {
    let schemes = Schemes::demo();
    match a.profile {
        TapProfile::TransitGate => gate_tap(&a, &schemes),
        TapProfile::ParkingGate => parking_tap(&a, &schemes),
        TapProfile::Retail => retail_tap(&a, &schemes),
        TapProfile::Vending => vending_tap(&a, &schemes),
    }
}

fn dir_name(d: TapDirection) -> &'static str {
    match d {
        TapDirection::In => "in",
        TapDirection::Out => "out",
    }
}

fn gate_tap(a: &TapArgs, schemes: &Schemes) -> Result<()> {
    let table = FareTable::demo().map_err(|e| anyhow!("fare table: {e}"))?;
    table
        .zone_of(a.station)
        .map_err(|e| bad(format!("--station {}: {e}", a.station)))?;
    let direction = match a.direction {
        TapDirection::In => Direction::In,
        TapDirection::Out => Direction::Out,
    };
    let out = u64::from(a.direction == TapDirection::Out);
    let tid = 0x4741_5445_0000_0000 | (u64::from(a.station) << 8) | out;
    let mut gate = GateTerminal::new(
        a.station,
        direction,
        table,
        schemes.transit.clone(),
        install::transit_aid(),
        sam(tid, schemes),
        GATE_BUDGET_US,
        Box::new(StdStopwatch::new()),
    );
    let mut s = Session::open(&a.card, &a.link)?;
    let (r, t) = s.tap(|link, time| gate.tap(link, time));
    s.save()?;
    let r = r.map_err(|e| failed("transit gate", &e, &t))?;
    let budget_ok = r.within_budget && t.total_ms * 1000.0 <= GATE_BUDGET_US as f64;
    let rep = GateReport {
        profile: "transit-gate",
        station: a.station,
        direction: dir_name(a.direction),
        time: s.time,
        open: r.open,
        kind: format!("{:?}", r.decision.kind),
        charged: r.charged,
        uncapped: r.decision.uncapped,
        balance: r.balance,
        refusal: r.decision.refusal.as_ref().map(|x| format!("{x:?}")),
        resolved: r.resolved.map(|(k, v)| (k.to_owned(), v)),
        within_budget_us: GATE_BUDGET_US,
        within_budget: budget_ok,
    };
    let mut text = String::new();
    outln!(
        text,
        "transit gate station {} {}: {} ({})",
        a.station,
        rep.direction,
        if r.open { "GATE OPEN" } else { "GATE CLOSED" },
        rep.kind
    );
    outln!(
        text,
        "fare charged {} (before cap {}), purse balance {}",
        money(r.charged),
        money(r.decision.uncapped),
        money(r.balance)
    );
    if let Some(why) = &rep.refusal {
        outln!(text, "refused: {why}");
    }
    if let Some((k, v)) = &rep.resolved {
        outln!(text, "earlier interrupted fare {}: {k}", money(*v));
    }
    outln!(
        text,
        "within the {} ms gate budget (radio included): {}",
        GATE_BUDGET_US / 1000,
        budget_ok
    );
    s.print(&rep, &text, &t)
}

fn parking_tap(a: &TapArgs, schemes: &Schemes) -> Result<()> {
    let tariff = Tariff::demo().map_err(|e| anyhow!("tariff: {e}"))?;
    let out = a.direction == TapDirection::Out;
    let tid = 0x5041_524B_0000_0000 | (u64::from(a.station) << 8) | u64::from(out);
    let mut term = ParkingTerminal::new(
        u32::from(a.station),
        tariff,
        schemes.parking.clone(),
        install::parking_aid(),
        sam(tid, schemes),
    );
    let mut s = Session::open(&a.card, &a.link)?;
    let (r, t) = s.tap(|link, time| {
        if out {
            term.exit(link, time)
        } else {
            term.entry(link, time)
        }
    });
    s.save()?;
    let r = r.map_err(|e| failed("parking gate", &e, &t))?;
    let (outcome, fee, minutes) = match &r.outcome {
        ParkingOutcome::Entered => ("TICKET WRITTEN".to_owned(), 0, None),
        ParkingOutcome::AlreadyInside => ("ALREADY INSIDE".to_owned(), 0, None),
        ParkingOutcome::Exited(stay) => (
            "PAID, BARRIER UP".to_owned(),
            stay.fee,
            Some(stay.exit.saturating_sub(stay.entry) / 60),
        ),
        ParkingOutcome::NoTicket => ("NO TICKET: ATTENDANT".to_owned(), 0, None),
        ParkingOutcome::InsufficientBalance { fee, .. } => {
            ("INSUFFICIENT BALANCE".to_owned(), *fee, None)
        }
    };
    let rep = ParkingJson {
        profile: "parking-gate",
        site: a.station,
        direction: dir_name(a.direction),
        time: s.time,
        outcome,
        fee,
        minutes,
        balance: r.balance,
    };
    let mut text = String::new();
    outln!(
        text,
        "parking site {} {}: {}",
        a.station,
        rep.direction,
        rep.outcome
    );
    if let Some(m) = minutes {
        outln!(text, "stay {m} min, fee {}", money(fee));
    }
    outln!(text, "purse balance {}", money(r.balance));
    s.print(&rep, &text, &t)
}

fn retail_tap(a: &TapArgs, schemes: &Schemes) -> Result<()> {
    let amount = a
        .amount
        .ok_or_else(|| bad("--profile retail needs --amount (minor units)"))?;
    if amount == 0 {
        return Err(bad("--amount must be above 0"));
    }
    let tid = 0x504F_5300_0000_0000 | u64::from(a.station);
    let mut shop = sam(tid, schemes);
    let (loyalty, program) = loyalty_terminal(tid, schemes)?;
    let mut s = Session::open(&a.card, &a.link)?;
    let (r, t) = s.tap(|link, time| {
        let r = link
            .power_on(Interface::Contactless)
            .map_err(TerminalError::from)
            .and_then(|_| shop.debit(&mut CardLink::new(link), amount, time))
            .map(|d| {
                // Points earned on the same tap when the card is in the program.
                let pts = loyalty.on_emv_purchase(link, program, amount, time);
                (d, pts)
            });
        link.power_off();
        r
    });
    s.save()?;
    let (d, pts) = r.map_err(|e| failed("retail purse payment", &e, &t))?;
    let pts = match pts {
        Ok(p) => p,
        Err(TerminalError::Refused(_)) => None,
        Err(e) => return Err(failed("loyalty", &e, &t)),
    };
    let rep = RetailJson {
        profile: "retail",
        terminal: a.station,
        time: s.time,
        amount,
        balance: d.balance,
        proof_counter: d.proof.key().1,
        points_earned: pts.map(|p| p.points),
        points_balance: pts.map(|p| p.balance),
    };
    let mut text = String::new();
    outln!(
        text,
        "retail terminal {}: paid {} from the purse, balance {}",
        a.station,
        money(amount),
        money(d.balance)
    );
    match pts {
        Some(p) => outln!(
            text,
            "loyalty: +{} points, {} on the card",
            p.points,
            p.balance
        ),
        None => outln!(text, "loyalty: no points"),
    }
    s.print(&rep, &text, &t)
}

/// One application of the card's PPSE directory.
#[derive(Debug, Clone, Serialize)]
struct Candidate {
    aid: String,
    label: String,
    priority: Option<u8>,
    kind: &'static str,
}

/// The PPSE directory entries (EMV Book B §3.3: `BF0C` → `61` → `4F`, `50`, `87`).
fn ppse_candidates(link: &mut CardLink<'_>) -> Result<Vec<Candidate>, TerminalError> {
    let cmd = lamina_apdu::Command::new(0x00, 0xA4, 0x04, 0x00)
        .with_data(b"2PAY.SYS.DDF01".to_vec())
        .with_le(256);
    let r = link.transmit(&cmd)?;
    if !r.sw.is_ok() {
        return Err(TerminalError::Refused(format!("no PPSE ({})", r.sw)));
    }
    let tree = lamina_tlv::Tlv::parse_all(&r.data)
        .map_err(|_| TerminalError::BadResponse("SELECT PPSE"))?;
    let purse = install::purse_aid();
    let mut out = Vec::new();
    let mut stack: Vec<&lamina_tlv::Tlv> = tree.iter().collect();
    while let Some(t) = stack.pop() {
        if t.tag.number() == 0x61 {
            let get = |tag: u32| {
                t.children()
                    .iter()
                    .find(|c| c.tag.number() == tag)
                    .and_then(|c| c.value_bytes())
            };
            let Some(aid) = get(0x4F) else { continue };
            let kind = if aid.starts_with(purse.as_bytes()) || purse.as_bytes().starts_with(aid) {
                "purse"
            } else if aid.starts_with(&[0xF0, 0x4C, 0x41, 0x4D, 0x49, 0x4E, 0x41, 0x45]) {
                "emv"
            } else {
                "other"
            };
            out.push(Candidate {
                aid: hex::encode_upper(aid),
                label: get(0x50)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default(),
                priority: get(0x87).and_then(|v| v.first()).map(|p| p & 0x0F),
                kind,
            });
        } else {
            stack.extend(t.children());
        }
    }
    Ok(out)
}

/// The vending machine's order: accepted applications by its preference (purse,
/// then EMV), then by the card's priority (1 highest; none last), Book B §3.3.
fn vending_order(mut c: Vec<Candidate>) -> Vec<Candidate> {
    c.retain(|x| x.kind != "other");
    c.sort_by_key(|x| {
        (
            u8::from(x.kind != "purse"),
            x.priority.filter(|p| *p > 0).unwrap_or(16),
        )
    });
    c
}

#[derive(Serialize)]
struct VendingJson {
    profile: &'static str,
    terminal: u16,
    amount: u32,
    candidates: Vec<Candidate>,
    paid_with: Option<String>,
    attempts: Vec<String>,
}

fn vending_tap(a: &TapArgs, schemes: &Schemes) -> Result<()> {
    let amount = a
        .amount
        .ok_or_else(|| bad("--profile vending needs --amount (minor units)"))?;
    if amount == 0 {
        return Err(bad("--amount must be above 0"));
    }
    let mut reader = lamina_terminal::contactless::ContactlessConfig::load(&a.reader_config)
        .map_err(|e| bad(format!("--reader-config: {e}")))?;
    if let Some(path) = &a.capk {
        reader.terminal.capks = lamina_terminal::capk::CapkStore::load(path)
            .map_err(|e| bad(format!("--capk: {e}")))?;
    }
    let tid = 0x564E_4400_0000_0000 | u64::from(a.station);
    let mut machine = sam(tid, schemes);
    let mut s = Session::open(&a.card, &a.link)?;
    let ((candidates, paid, attempts), t) = s.tap(|link, time| {
        let mut attempts = Vec::new();
        let found = link
            .power_on(Interface::Contactless)
            .map_err(TerminalError::from)
            .and_then(|_| ppse_candidates(&mut CardLink::new(link)));
        link.power_off();
        let candidates = match found {
            Ok(c) => vending_order(c),
            Err(e) => {
                attempts.push(format!("PPSE: {e}"));
                Vec::new()
            }
        };
        let mut paid = None;
        for c in &candidates {
            match c.kind {
                "purse" => {
                    let r = link
                        .power_on(Interface::Contactless)
                        .map_err(TerminalError::from)
                        .and_then(|_| machine.debit(&mut CardLink::new(link), amount, time));
                    link.power_off();
                    match r {
                        Ok(d) => {
                            attempts.push(format!(
                                "{}: paid, balance {}",
                                c.label,
                                money(d.balance)
                            ));
                            paid = Some(c.label.clone());
                        }
                        Err(e) => attempts.push(format!("{}: {e}", c.label)),
                    }
                }
                _ => {
                    let request = lamina_terminal::TransactionRequest::purchase(u64::from(amount));
                    let mut screen = lamina_terminal::ui::RecordingScreen::default();
                    let mut pad = lamina_terminal::ui::ScriptedPinPad::absent();
                    let clock = lamina_terminal::FixedClock(vending_date(time));
                    let r = lamina_terminal::contactless::run_contactless(
                        &reader,
                        &request,
                        lamina_terminal::contactless::ContactlessDevices {
                            reader: link,
                            screen: &mut screen,
                            pin_pad: &mut pad,
                            acquirer: None,
                            pin_encryptor: None,
                            status: None,
                        },
                        &clock,
                        &mut rand::rng(),
                    );
                    let approved = r.result.outcome.is_approved();
                    attempts.push(format!(
                        "{}: {:?} (EMV contactless, offline only; radio {:.1} ms)",
                        c.label,
                        r.result.outcome,
                        r.radio_us().unwrap_or(0) as f64 / 1000.0
                    ));
                    if approved {
                        paid = Some(c.label.clone());
                    }
                }
            }
            if paid.is_some() {
                break;
            }
        }
        (candidates, paid, attempts)
    });
    s.save()?;
    let rep = VendingJson {
        profile: "vending",
        terminal: a.station,
        amount,
        candidates,
        paid_with: paid.clone(),
        attempts,
    };
    let mut text = String::new();
    outln!(text, "vending machine {}: {}", a.station, money(amount));
    for x in &rep.attempts {
        outln!(text, "  {x}");
    }
    match &paid {
        Some(app) => outln!(text, "paid with {app}: VEND"),
        None => outln!(text, "not paid: NO VEND"),
    }
    s.print(&rep, &text, &t)
}

/// The kernel's date and time of a tap at `time` (seconds since 1970, UTC).
fn vending_date(time: u32) -> lamina_terminal::DateTime {
    kernel_date_time(i64::from(time))
}

/// The kernel's date and time of an instant (seconds since 1970, UTC).
pub fn kernel_date_time(secs: i64) -> lamina_terminal::DateTime {
    let (y, mo, d, h, mi, s) = lamina_emv::date::civil_from_unix(secs);
    let b = |v: u32| u8::try_from(v).unwrap_or(0);
    lamina_terminal::DateTime {
        year: u16::try_from(y).unwrap_or(2026),
        month: b(mo),
        day: b(d),
        hour: b(h),
        minute: b(mi),
        second: b(s),
    }
}

#[derive(Serialize)]
struct PurseJson {
    operation: &'static str,
    card_id: String,
    amount: Option<u32>,
    balance: u32,
    max_balance: u32,
    currency: String,
    counter: u32,
}

/// `lamina card purse load|balance`.
pub fn purse(cmd: PurseCommand) -> Result<()> {
    let schemes = Schemes::demo();
    match cmd {
        PurseCommand::Load { card, amount, link } => {
            if amount == 0 {
                return Err(bad("--amount must be above 0"));
            }
            let mut issuer = IssuerHost::new(schemes.purse.clone());
            let mut s = Session::open(&card, &link)?;
            let aid = install::purse_aid();
            let (r, t) = s.powered(|l, time| {
                let o = load_purse(l, &aid, &mut issuer, amount, time)?;
                let st = read_status(l, &aid)?;
                Ok((o, st))
            });
            s.save()?;
            let (o, st) = r.map_err(|e| failed("purse load", &e, &t))?;
            let rep = PurseJson {
                operation: "load",
                card_id: st.card.to_hex(),
                amount: Some(amount),
                balance: o.balance,
                max_balance: st.max_balance,
                currency: hex::encode(st.currency),
                counter: o.counter,
            };
            let mut text = String::new();
            outln!(
                text,
                "purse {}: loaded {}, balance {} (transaction {})",
                rep.card_id,
                money(amount),
                money(o.balance),
                o.counter
            );
            s.print(&rep, &text, &t)
        }
        PurseCommand::Balance { card, link } => {
            let mut s = Session::open(&card, &link)?;
            let aid = install::purse_aid();
            let (r, t) = s.powered(|l, _| read_status(l, &aid));
            let st = r.map_err(|e| failed("purse balance", &e, &t))?;
            let rep = PurseJson {
                operation: "balance",
                card_id: st.card.to_hex(),
                amount: None,
                balance: st.balance,
                max_balance: st.max_balance,
                currency: hex::encode(st.currency),
                counter: st.counter,
            };
            let mut text = String::new();
            outln!(
                text,
                "purse {}: balance {} (maximum {}, currency {})",
                rep.card_id,
                money(st.balance),
                money(st.max_balance),
                rep.currency
            );
            s.print(&rep, &text, &t)
        }
    }
}

#[derive(Serialize)]
struct LoyaltyJson {
    operation: &'static str,
    program: String,
    points: Option<u32>,
    balance: u32,
    value: Option<u32>,
}

/// `lamina loyalty earn|redeem|balance`.
pub fn loyalty(cmd: LoyaltyCommand) -> Result<()> {
    let schemes = Schemes::demo();
    let (term, program) = loyalty_terminal(0x4C4F_5900_0000_0001, &schemes)?;
    let (card, link, op) = match cmd {
        LoyaltyCommand::Earn { card, amount, link } => (card, link, Op::Earn(amount)),
        LoyaltyCommand::Redeem { card, points, link } => (card, link, Op::Redeem(points)),
        LoyaltyCommand::Balance { card, link } => (card, link, Op::Balance),
    };
    let mut s = Session::open(&card, &link)?;
    let (r, t) = s.powered(|l, time| match op {
        Op::Earn(amount) => term
            .earn(l, program, amount, time)
            .map(|o| (Some(o.points), o.balance, None)),
        Op::Redeem(points) => term
            .redeem(l, program, points, time)
            .map(|o| (Some(o.points), o.balance, Some(o.value))),
        Op::Balance => term.balance(l, program, time).map(|b| (None, b, None)),
    });
    let name = match op {
        Op::Earn(_) => "earn",
        Op::Redeem(_) => "redeem",
        Op::Balance => "balance",
    };
    if !matches!(op, Op::Balance) {
        s.save()?;
    }
    let (points, balance, value) = r.map_err(|e| failed(&format!("loyalty {name}"), &e, &t))?;
    let rep = LoyaltyJson {
        operation: name,
        program: format!("{program:08X}"),
        points,
        balance,
        value,
    };
    let mut text = String::new();
    match (op, points) {
        (Op::Earn(_), Some(p)) => outln!(text, "loyalty program {}: +{p} points", rep.program),
        (Op::Redeem(_), Some(p)) => outln!(
            text,
            "loyalty program {}: -{p} points, worth {}",
            rep.program,
            money(value.unwrap_or(0))
        ),
        _ => outln!(text, "loyalty program {}", rep.program),
    }
    outln!(text, "{balance} points on the card");
    s.print(&rep, &text, &t)
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Earn(u32),
    Redeem(u32),
    Balance,
}
