//! `lamina terminal tap`, `lamina card purse …`, `lamina loyalty …`: the
//! closed-loop terminals (transit gate, parking gate, retail counter, purse load
//! terminal, loyalty terminal) against an emulated chip image.
//!
//! Every command runs its card interaction over the ISO/IEC 14443-4 transport
//! ([`lamina_card::iso14443::ContactlessLink`], bit rate `--bit-rate`) and prints
//! the radio time (computed from the frames and bytes exchanged, ISO/IEC 14443-2/-3
//! timing) beside the processing time of the tap.
//!
//! **Application selection.** Every `terminal tap` profile first reads the card's
//! PPSE and goes down the applications its profile accepts, in the profile's
//! order of preference with the card's priorities breaking ties
//! ([`lamina_closedloop::select`], profiles as TOML data), falling back to the
//! next one when an application is missing or refuses; the report names the
//! application chosen.
//!
//! **Open-loop transit.** At the transit gate, a card whose closed-loop
//! applications cannot pay rides with its EMV payment application when the gate
//! has an acquirer (`--host`): the tap in runs the contactless kernel (CDA, no
//! PIN) with an online pre-authorization of the maximum fare, the tap out reads
//! the card offline and sends a completion (0220) for the fare computed by
//! [`lamina_closedloop::transit::openloop`] (zone fares, transfers, daily cap per
//! card token), or a reversal (0400) when nothing is due. The gate keeps
//! journeys by card token (a keyed hash of PAN and PSN, never the PAN), its deny
//! list and its trace numbers in the `--state` file.
//!
//! **Offline EMV approvals.** The retail counter and the vending machine run
//! their EMV leg offline only (no acquirer during the tap). An offline approval
//! (TC) has not reached the issuer: after the tap, with `--host`, the terminal
//! reports it as a financial advice (0220, the 0221 repeat of the same
//! transmission when an answer is lost; EMV 4.4 Book 4 §12.3, §12.4,
//! docs/iso8583.md §6) and the report says whether the host posted it; without
//! `--host` the report says the advice stays queued.
//!
//! **Test keys.** The terminals hold the scheme keys of
//! [`lamina_closedloop::install::Schemes::demo`] and the open-loop token key
//! [`TokenKey::demo`]: fixed, public demonstration keys. Every command prints a
//! warning saying so. A real terminal holds the purchase, transit, parking and
//! loyalty master keys in its secure access module.
//!
//! The SAM's terminal sequence number (which must never repeat for one terminal
//! id) is taken from the wall clock in seconds, since the command keeps no
//! terminal state between runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, anyhow};
use clap::{Args, Subcommand, ValueEnum};
use lamina_accept::field::Field;
use lamina_accept::openloop::{
    OpenLoop, OpenLoopError, OpenLoopReport, TapClock, kernel_date_time,
};
use lamina_card::iso14443::{BitRate, LinkConfig, LinkStats};
use lamina_card::{Card, CardChannel, EmulatedCard, Interface};
use lamina_closedloop::TerminalId;
use lamina_closedloop::install::{self, Schemes};
use lamina_closedloop::loyalty::{EarnRule, LoyaltyTerminal};
use lamina_closedloop::parking::{ParkingOutcome, ParkingTerminal, Tariff};
use lamina_closedloop::purse::{IssuerHost, Sam, load_purse, read_status};
use lamina_closedloop::select::{self, AppKind, Candidate, Profiles};
use lamina_closedloop::terminal::{CardLink, StdStopwatch, TerminalError};
use lamina_closedloop::transit::{Direction, FareTable, GATE_BUDGET_US, GateTerminal, TapReport};
use lamina_terminal::TransactionRequest;
use lamina_terminal::clearing::{AdviceSender, OfflineAdvice};
use lamina_terminal::contactless::{ContactlessConfig, ContactlessDevices};
use serde::Serialize;

use crate::cmd::card::{load_chip, save_chip};
use crate::input::bad;
use crate::outln;
use crate::output::{emit, print_json};
use lamina_acquirer::advice::{AdviceReport, AdviceStatus, deliver_advice};

const TEST_KEYS_WARNING: &str = "warning: closed-loop terminals use the public DEMO scheme keys \
     (lamina_closedloop::install::Schemes::demo) — test keys, not for real cards";

/// The terminal profile of a tap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TapProfile {
    /// Metro gate: tap-in / tap-out with zone fares and daily capping, paid
    /// from the purse (300 ms budget for the whole interaction); with `--host`,
    /// an EMV payment application rides as an open-loop fare (online
    /// pre-authorization at tap-in, completion for the fare at tap-out).
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
    /// Contactless reader configuration for the EMV leg: a file, or a built-in
    /// one by name (default: the built-in transit-gate-contactless at the transit
    /// gate, retail-contactless otherwise).
    #[arg(long)]
    pub reader_config: Option<PathBuf>,
    /// CA public key file (the bureau's `capk.toml`) replacing the configuration's,
    /// so the terminal can authenticate the card's CDA.
    #[arg(long)]
    pub capk: Option<PathBuf>,
    /// The acquirer host (ISO 8583 over TCP, e.g. 127.0.0.1:8583). Transit gate:
    /// for the EMV open-loop fare (without it the gate refuses open-loop cards).
    /// Retail and vending: an offline EMV approval is reported to it as an advice
    /// (0220) after the tap (without it the advice stays queued).
    #[arg(long)]
    pub host: Option<String>,
    /// Transit gate: the open-loop state file (journeys per card token, deny
    /// list, trace numbers), kept between taps (default: transit-gate-openloop.json
    /// beside the card image).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Terminal profiles (TOML, see lamina-closedloop's data/terminal-profiles.toml;
    /// default: the shipped profiles).
    #[arg(long)]
    pub profiles: Option<PathBuf>,
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

    /// Runs `f` with the chip in the field; returns its result and the tap's timing.
    fn tap<T>(&mut self, f: impl FnOnce(&mut Field<'_>, u32) -> T) -> (T, Timing) {
        let time = self.time;
        let mut field = Field::new(
            &mut self.chip,
            LinkConfig {
                bit_rate: self.rate,
                ..LinkConfig::default()
            },
        );
        let r = f(&mut field, time);
        let stats = field.drain();
        (r, Timing::of(&stats, self.kbps))
    }

    /// Powers on, runs `f` on a card link, powers off.
    fn powered<T>(
        &mut self,
        f: impl FnOnce(&mut CardLink<'_>, u32) -> Result<T, TerminalError>,
    ) -> (Result<T, TerminalError>, Timing) {
        self.tap(|field, time| powered(field, |l| f(l, time)))
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

/// Field on, `f` on a card link, field off.
fn powered<T>(
    field: &mut Field<'_>,
    f: impl FnOnce(&mut CardLink<'_>) -> Result<T, TerminalError>,
) -> Result<T, TerminalError> {
    let r = field
        .power_on(Interface::Contactless)
        .map_err(TerminalError::from)
        .and_then(|_| f(&mut CardLink::new(field)));
    field.power_off();
    r
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

// ---------------------------------------------------------------------------
// Application selection
// ---------------------------------------------------------------------------

/// The applications a profile accepts on the card in the field, in its order.
struct Choice {
    candidates: Vec<Candidate>,
    /// What happened, one line per step (PPSE, each application tried).
    attempts: Vec<String>,
}

/// Reads the PPSE and orders the card's applications for `profile`. A card
/// without a readable PPSE is offered the profile's closed-loop applications
/// by their AIDs (selected directly, as before the PPSE existed).
fn choose(field: &mut Field<'_>, profiles: &Profiles, profile: &str) -> Choice {
    let mut attempts = Vec::new();
    let read = powered(field, select::read_ppse);
    let candidates = match read.map(|e| profiles.order(profile, &e)) {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            attempts.push(format!("profile: {e}"));
            Vec::new()
        }
        Err(e) => {
            attempts.push(format!(
                "PPSE: {e}; closed-loop applications selected by AID"
            ));
            let accepts = profiles
                .profile(profile)
                .map(|p| p.accepts.clone())
                .unwrap_or_default();
            accepts
                .into_iter()
                .filter_map(|kind| {
                    let aid = match kind {
                        AppKind::Transit => install::transit_aid(),
                        AppKind::Purse => install::purse_aid(),
                        AppKind::Parking => install::parking_aid(),
                        AppKind::Loyalty => install::loyalty_aid(),
                        AppKind::Emv => return None,
                    };
                    Some(Candidate {
                        aid: aid.to_hex(),
                        label: kind.name().to_uppercase(),
                        priority: None,
                        kind,
                        kernel_id: None,
                    })
                })
                .collect()
        }
    };
    Choice {
        candidates,
        attempts,
    }
}

fn load_profiles(a: &TapArgs) -> Result<Profiles> {
    match &a.profiles {
        None => Profiles::demo().map_err(|e| anyhow!("{e}")),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| bad(format!("--profiles {}: {e}", p.display())))?;
            Profiles::from_toml(&text).map_err(|e| bad(format!("--profiles: {e}")))
        }
    }
}

/// The contactless reader configuration of the EMV leg.
fn reader_config(a: &TapArgs, default: &str) -> Result<ContactlessConfig> {
    let path = a
        .reader_config
        .clone()
        .unwrap_or_else(|| PathBuf::from(default));
    let mut reader = crate::files::contactless_config(&path)?;
    if let Some(capk) = &a.capk {
        reader.terminal.capks = crate::files::capk_file(capk)?;
    }
    Ok(reader)
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
    /// Purse balance (closed loop); `null` for an open-loop (EMV) tap.
    balance: Option<u32>,
    refusal: Option<String>,
    resolved: Option<(String, u32)>,
    within_budget_us: u64,
    within_budget: bool,
    /// The application that served the tap.
    application: Option<Candidate>,
    /// The accepted applications, in the gate's order.
    candidates: Vec<Candidate>,
    attempts: Vec<String>,
    /// The EMV open-loop leg, if it ran.
    open_loop: Option<OpenLoopReport>,
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
    application: Option<Candidate>,
    candidates: Vec<Candidate>,
    attempts: Vec<String>,
}

#[derive(Serialize)]
struct RetailJson {
    profile: &'static str,
    terminal: u16,
    time: u32,
    amount: u32,
    /// Purse balance after a purse payment.
    balance: Option<u32>,
    proof_counter: Option<u32>,
    points_earned: Option<u32>,
    points_balance: Option<u32>,
    application: Option<Candidate>,
    candidates: Vec<Candidate>,
    attempts: Vec<String>,
    /// The advice of an EMV offline approval (`null` for a purse payment).
    advice: Option<AdviceReport>,
}

/// `lamina terminal tap`.
pub fn tap(a: TapArgs) -> Result<()> {
    let schemes = Schemes::demo();
    let profiles = load_profiles(&a)?;
    match a.profile {
        TapProfile::TransitGate => gate_tap(&a, &schemes, &profiles),
        TapProfile::ParkingGate => parking_tap(&a, &schemes, &profiles),
        TapProfile::Retail => retail_tap(&a, &schemes, &profiles),
        TapProfile::Vending => vending_tap(&a, &schemes, &profiles),
    }
}

fn dir_name(d: TapDirection) -> &'static str {
    match d {
        TapDirection::In => "in",
        TapDirection::Out => "out",
    }
}

fn closed_refusal(r: &TapReport) -> String {
    r.decision
        .refusal
        .as_ref()
        .map_or_else(|| format!("{:?}", r.decision.kind), |x| format!("{x:?}"))
}

/// How a transit gate tap ended.
enum GateEnd {
    /// The transit application (and the purse) served it, gate open or not.
    Closed(Option<Candidate>, Box<TapReport>),
    /// The EMV open-loop leg served it.
    Open(Candidate, Box<OpenLoopReport>),
    /// Nothing the gate accepts.
    Nothing,
}

/// The gate's open-loop side: its reader configuration and state file from the
/// arguments, its own connection to the host.
fn open_loop_connect(a: &TapArgs, host: &str, table: FareTable, time: u32) -> Result<OpenLoop> {
    let reader = reader_config(a, "transit-gate-contactless")?;
    let path = a.state.clone().unwrap_or_else(|| {
        a.card
            .parent()
            .unwrap_or(Path::new("."))
            .join("transit-gate-openloop.json")
    });
    OpenLoop::connect(host, reader, table, path, time).map_err(|e| match e {
        OpenLoopError::State(..) => bad(format!("--state: {e}")),
        other => anyhow!("{other}"),
    })
}

fn gate_tap(a: &TapArgs, schemes: &Schemes, profiles: &Profiles) -> Result<()> {
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
        table.clone(),
        schemes.transit.clone(),
        install::transit_aid(),
        sam(tid, schemes),
        GATE_BUDGET_US,
        Box::new(StdStopwatch::new()),
    );
    let mut s = Session::open(&a.card, &a.link)?;
    // The open-loop side connects only when an EMV application comes up.
    let mut open_loop: Option<OpenLoop> = None;
    let (r, t) = s.tap(|field, time| -> Result<(GateEnd, Choice), TerminalError> {
        let mut choice = choose(field, profiles, "transit-gate");
        let mut closed: Option<(Candidate, TapReport)> = None;
        let mut closed_tried = false;
        for c in choice.candidates.clone() {
            match c.kind {
                AppKind::Transit | AppKind::Purse if !closed_tried => {
                    closed_tried = true;
                    match gate.tap(field, time) {
                        Ok(r) if r.open => {
                            choice.attempts.push(format!("{}: gate open", c.describe()));
                            return Ok((GateEnd::Closed(Some(c), Box::new(r)), choice));
                        }
                        Ok(r) => {
                            choice.attempts.push(format!(
                                "{}: refused ({})",
                                c.describe(),
                                closed_refusal(&r)
                            ));
                            closed = Some((c, r));
                        }
                        Err(e @ TerminalError::NoApplication(_)) => {
                            choice.attempts.push(format!("{}: {e}", c.describe()))
                        }
                        Err(e) => return Err(e),
                    }
                }
                AppKind::Emv => {
                    let Some(host) = &a.host else {
                        choice.attempts.push(format!(
                            "{}: open-loop EMV fare needs an acquirer link (--host HOST:PORT)",
                            c.describe()
                        ));
                        continue;
                    };
                    if open_loop.is_none() {
                        match open_loop_connect(a, host, table.clone(), time) {
                            Ok(ol) => open_loop = Some(ol),
                            Err(e) => {
                                choice
                                    .attempts
                                    .push(format!("{}: open loop: {e:#}", c.describe()));
                                continue;
                            }
                        }
                    }
                    let Some(ol) = open_loop.as_mut() else {
                        continue;
                    };
                    let rep = ol.tap(field, direction, a.station, time);
                    choice.attempts.push(format!(
                        "{}: {}",
                        c.describe(),
                        if rep.open {
                            "open-loop fare, gate open".to_owned()
                        } else {
                            format!(
                                "open-loop fare refused ({})",
                                rep.refusal.as_deref().unwrap_or("-")
                            )
                        }
                    ));
                    if rep.open || closed.is_none() {
                        return Ok((GateEnd::Open(c, Box::new(rep)), choice));
                    }
                }
                _ => {}
            }
        }
        Ok(match closed {
            Some((c, r)) => (GateEnd::Closed(Some(c), Box::new(r)), choice),
            None => (GateEnd::Nothing, choice),
        })
    });
    s.save()?;
    if let Some(ol) = &open_loop {
        ol.save()?;
    }
    let (end, choice) = r.map_err(|e| failed("transit gate", &e, &t))?;
    let mut text = String::new();
    let rep = match end {
        GateEnd::Nothing => {
            return Err(bad(format!(
                "transit gate: no application on the card can ride ({}) ({})",
                if choice.attempts.is_empty() {
                    "none the gate accepts in the PPSE".to_owned()
                } else {
                    choice.attempts.join("; ")
                },
                t.line()
            )));
        }
        GateEnd::Closed(app, r) => {
            let budget_ok = r.within_budget && t.total_ms * 1000.0 <= GATE_BUDGET_US as f64;
            GateReport {
                profile: "transit-gate",
                station: a.station,
                direction: dir_name(a.direction),
                time: s.time,
                open: r.open,
                kind: format!("{:?}", r.decision.kind),
                charged: r.charged,
                uncapped: r.decision.uncapped,
                balance: Some(r.balance),
                refusal: r.decision.refusal.as_ref().map(|x| format!("{x:?}")),
                resolved: r.resolved.map(|(k, v)| (k.to_owned(), v)),
                within_budget_us: GATE_BUDGET_US,
                within_budget: budget_ok,
                application: app,
                candidates: choice.candidates,
                attempts: choice.attempts,
                open_loop: None,
            }
        }
        GateEnd::Open(app, r) => GateReport {
            profile: "transit-gate",
            station: a.station,
            direction: dir_name(a.direction),
            time: s.time,
            open: r.open,
            kind: r.kind.clone(),
            charged: r.charged,
            uncapped: r.uncapped,
            balance: None,
            refusal: r.refusal.clone(),
            resolved: None,
            within_budget_us: GATE_BUDGET_US,
            // The card interaction (the one-tap flow: the card leaves the field
            // before the online authorization) against the gate's budget.
            within_budget: r.card_ms * 1000.0 <= GATE_BUDGET_US as f64,
            application: Some(app),
            candidates: choice.candidates,
            attempts: choice.attempts,
            open_loop: Some(*r),
        },
    };
    outln!(
        text,
        "transit gate station {} {}: {} ({})",
        a.station,
        rep.direction,
        if rep.open { "GATE OPEN" } else { "GATE CLOSED" },
        rep.kind
    );
    if let Some(app) = &rep.application {
        outln!(text, "application: {}", app.describe());
    }
    for x in &rep.attempts {
        outln!(text, "  {x}");
    }
    match (&rep.open_loop, rep.balance) {
        (Some(ol), _) => {
            outln!(
                text,
                "open-loop fare charged {} (before cap {}), card token {}",
                money(rep.charged),
                money(rep.uncapped),
                ol.token.as_deref().unwrap_or("-")
            );
            for l in &ol.host {
                outln!(text, "  host: {l}");
            }
        }
        (None, Some(balance)) => outln!(
            text,
            "fare charged {} (before cap {}), purse balance {}",
            money(rep.charged),
            money(rep.uncapped),
            money(balance)
        ),
        (None, None) => {}
    }
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
        rep.within_budget
    );
    s.print(&rep, &text, &t)
}

fn parking_tap(a: &TapArgs, schemes: &Schemes, profiles: &Profiles) -> Result<()> {
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
    let ((r, choice), t) = s.tap(|field, time| {
        let mut choice = choose(field, profiles, "parking-gate");
        let mut last = Err(TerminalError::NoApplication(
            "none the parking gate accepts".into(),
        ));
        for c in choice.candidates.clone() {
            if c.kind != AppKind::Parking {
                continue;
            }
            last = if out {
                term.exit(field, time)
            } else {
                term.entry(field, time)
            }
            .map(|r| (c.clone(), r));
            match &last {
                Ok(_) => break,
                Err(e) => choice.attempts.push(format!("{}: {e}", c.describe())),
            }
        }
        (last, choice)
    });
    s.save()?;
    let (app, r) = r.map_err(|e| failed("parking gate", &e, &t))?;
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
        application: Some(app),
        candidates: choice.candidates,
        attempts: choice.attempts,
    };
    let mut text = String::new();
    outln!(
        text,
        "parking site {} {}: {}",
        a.station,
        rep.direction,
        rep.outcome
    );
    if let Some(app) = &rep.application {
        outln!(text, "application: {}", app.describe());
    }
    if let Some(m) = minutes {
        outln!(text, "stay {m} min, fee {}", money(fee));
    }
    outln!(text, "purse balance {}", money(r.balance));
    s.print(&rep, &text, &t)
}

/// The EMV leg of an unattended or retail tap: the contactless kernel, offline
/// only (no acquirer during the tap) and without PIN (no PIN pad). Returns
/// whether it was approved, a line for the report and, for an offline approval
/// (TC), its advice for [`settle_advice`].
fn emv_offline(
    field: &mut Field<'_>,
    reader: &ContactlessConfig,
    amount: u32,
    time: u32,
) -> (bool, String, Option<OfflineAdvice>) {
    let mut request = TransactionRequest::purchase(u64::from(amount));
    // The trace number of the advice (DE 11): the command keeps no terminal
    // counter between runs, so each run takes its process id.
    request.stan = std::process::id() % 1_000_000;
    let mut screen = lamina_terminal::ui::RecordingScreen::default();
    let mut pad = lamina_terminal::ui::ScriptedPinPad::absent();
    let clock = lamina_terminal::FixedClock(kernel_date_time(i64::from(time)));
    let r = lamina_terminal::contactless::run_contactless(
        reader,
        &request,
        ContactlessDevices {
            reader: field,
            screen: &mut screen,
            pin_pad: &mut pad,
            acquirer: None,
            pin_encryptor: None,
            status: None,
        },
        &clock,
        &mut rand::rng(),
    );
    let line = format!(
        "{:?} (EMV contactless, offline only; radio {:.1} ms)",
        r.result.outcome,
        r.radio_us().unwrap_or(0) as f64 / 1000.0
    );
    let approved = r.result.outcome.is_approved();
    (approved, line, r.result.offline_advice.filter(|_| approved))
}

/// After the tap (the card has left the field): reports the EMV leg's offline
/// approval to the acquirer as an advice (0220, 0221 repeat on a lost answer;
/// [`lamina_acquirer::advice::deliver_advice`]) when the terminal has a `--host`,
/// else keeps it queued. `time` starts the transmission clock (DE 7).
fn settle_advice(a: &TapArgs, advice: &OfflineAdvice, time: u32) -> AdviceReport {
    let Some(host) = &a.host else {
        return deliver_advice(advice, None, "no host");
    };
    let connected = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| {
            rt.block_on(lamina_link::client::HostClient::connect(host))
                .map(|c| (rt, c))
                .map_err(|e| e.to_string())
        });
    match connected {
        Ok((runtime, client)) => {
            // A multi-thread runtime: `IsoLink` blocks on its handle.
            let mut link = lamina_acquirer::IsoLink::new(
                Arc::new(client),
                runtime.handle().clone(),
                lamina_acquirer::AcquirerConfig {
                    acceptor_name: "LAMINA CONTACTLESS TERMINAL".into(),
                    ..lamina_acquirer::AcquirerConfig::default()
                },
                Box::new(TapClock::at(i64::from(time))),
            );
            deliver_advice(advice, Some(&mut link as &mut dyn AdviceSender), "")
        }
        Err(e) => {
            let mut rep = deliver_advice(advice, None, "");
            rep.status = AdviceStatus::Undelivered;
            rep.note =
                format!("connecting to the host at {host}: {e}: NOT delivered, send it again");
            rep
        }
    }
}

fn retail_tap(a: &TapArgs, schemes: &Schemes, profiles: &Profiles) -> Result<()> {
    let amount = a
        .amount
        .ok_or_else(|| bad("--profile retail needs --amount (minor units)"))?;
    if amount == 0 {
        return Err(bad("--amount must be above 0"));
    }
    let tid = 0x504F_5300_0000_0000 | u64::from(a.station);
    let mut shop = sam(tid, schemes);
    let (loyalty, program) = loyalty_terminal(tid, schemes)?;
    let mut reader: Option<Result<ContactlessConfig>> = None;
    let mut emv_advice = None;
    let mut s = Session::open(&a.card, &a.link)?;
    let ((paid, choice), t) = s.tap(|field, time| {
        let mut choice = choose(field, profiles, "retail");
        let mut paid = None;
        for c in choice.candidates.clone() {
            match c.kind {
                AppKind::Purse => {
                    let r = field
                        .power_on(Interface::Contactless)
                        .map_err(TerminalError::from)
                        .and_then(|_| shop.debit(&mut CardLink::new(field), amount, time))
                        .map(|d| {
                            // Points earned on the same tap when the card is in the program.
                            let pts = loyalty.on_emv_purchase(field, program, amount, time);
                            (d, pts)
                        });
                    field.power_off();
                    match r {
                        Ok((d, pts)) => {
                            choice.attempts.push(format!(
                                "{}: paid, balance {}",
                                c.describe(),
                                money(d.balance)
                            ));
                            paid = Some((c, Some(d), pts));
                            break;
                        }
                        Err(e) => choice.attempts.push(format!("{}: {e}", c.describe())),
                    }
                }
                AppKind::Emv => {
                    let cfg = reader.get_or_insert_with(|| reader_config(a, "retail-contactless"));
                    match cfg {
                        Ok(cfg) => {
                            let (ok, line, adv) = emv_offline(field, cfg, amount, time);
                            choice.attempts.push(format!("{}: {line}", c.describe()));
                            if ok {
                                emv_advice = adv;
                                paid = Some((c, None, Ok(None)));
                                break;
                            }
                        }
                        Err(e) => choice.attempts.push(format!("{}: {e}", c.describe())),
                    }
                }
                _ => {}
            }
        }
        (paid, choice)
    });
    s.save()?;
    let Some((app, debit, pts)) = paid else {
        return Err(bad(format!(
            "retail payment: not paid ({}) ({})",
            choice.attempts.join("; "),
            t.line()
        )));
    };
    let pts = match pts {
        Ok(p) => p,
        Err(TerminalError::Refused(_)) | Err(TerminalError::NoApplication(_)) => None,
        Err(e) => return Err(failed("loyalty", &e, &t)),
    };
    let advice = emv_advice.map(|adv| settle_advice(a, &adv, s.time));
    let rep = RetailJson {
        profile: "retail",
        terminal: a.station,
        time: s.time,
        amount,
        balance: debit.as_ref().map(|d| d.balance),
        proof_counter: debit.as_ref().map(|d| d.proof.key().1),
        points_earned: pts.map(|p| p.points),
        points_balance: pts.map(|p| p.balance),
        application: Some(app),
        candidates: choice.candidates,
        attempts: choice.attempts,
        advice,
    };
    let mut text = String::new();
    match &debit {
        Some(d) => outln!(
            text,
            "retail terminal {}: paid {} from the purse, balance {}",
            a.station,
            money(amount),
            money(d.balance)
        ),
        None => outln!(
            text,
            "retail terminal {}: paid {} by EMV contactless",
            a.station,
            money(amount)
        ),
    }
    if let Some(app) = &rep.application {
        outln!(text, "application: {}", app.describe());
    }
    match pts {
        Some(p) => outln!(
            text,
            "loyalty: +{} points, {} on the card",
            p.points,
            p.balance
        ),
        None => outln!(text, "loyalty: no points"),
    }
    if let Some(adv) = &rep.advice {
        outln!(text, "{}", adv.line());
    }
    s.print(&rep, &text, &t)
}

#[derive(Serialize)]
struct VendingJson {
    profile: &'static str,
    terminal: u16,
    amount: u32,
    candidates: Vec<Candidate>,
    paid_with: Option<String>,
    application: Option<Candidate>,
    attempts: Vec<String>,
    /// The advice of an EMV offline approval (`null` for a purse payment).
    advice: Option<AdviceReport>,
}

fn vending_tap(a: &TapArgs, schemes: &Schemes, profiles: &Profiles) -> Result<()> {
    let amount = a
        .amount
        .ok_or_else(|| bad("--profile vending needs --amount (minor units)"))?;
    if amount == 0 {
        return Err(bad("--amount must be above 0"));
    }
    let reader = reader_config(a, "retail-contactless")?;
    let tid = 0x564E_4400_0000_0000 | u64::from(a.station);
    let mut machine = sam(tid, schemes);
    let mut emv_advice = None;
    let mut s = Session::open(&a.card, &a.link)?;
    let ((choice, paid), t) = s.tap(|field, time| {
        let mut choice = choose(field, profiles, "vending");
        let mut paid = None;
        for c in choice.candidates.clone() {
            match c.kind {
                AppKind::Purse => match powered(field, |l| machine.debit(l, amount, time)) {
                    Ok(d) => {
                        choice.attempts.push(format!(
                            "{}: paid, balance {}",
                            c.label,
                            money(d.balance)
                        ));
                        paid = Some(c);
                    }
                    Err(e) => choice.attempts.push(format!("{}: {e}", c.label)),
                },
                AppKind::Emv => {
                    let (ok, line, adv) = emv_offline(field, &reader, amount, time);
                    choice.attempts.push(format!("{}: {line}", c.label));
                    if ok {
                        emv_advice = adv;
                        paid = Some(c);
                    }
                }
                _ => {}
            }
            if paid.is_some() {
                break;
            }
        }
        (choice, paid)
    });
    s.save()?;
    let advice = emv_advice.map(|adv| settle_advice(a, &adv, s.time));
    let rep = VendingJson {
        profile: "vending",
        terminal: a.station,
        amount,
        candidates: choice.candidates,
        paid_with: paid.as_ref().map(|c| c.label.clone()),
        application: paid,
        attempts: choice.attempts,
        advice,
    };
    let mut text = String::new();
    outln!(text, "vending machine {}: {}", a.station, money(amount));
    for x in &rep.attempts {
        outln!(text, "  {x}");
    }
    match &rep.application {
        Some(app) => outln!(text, "paid with {}: VEND", app.describe()),
        None => outln!(text, "not paid: NO VEND"),
    }
    if let Some(adv) = &rep.advice {
        outln!(text, "{}", adv.line());
    }
    s.print(&rep, &text, &t)
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
