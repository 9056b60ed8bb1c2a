//! The closed-loop part of the demo's day: a purse load authorized online, metro
//! gates with fares and a daily cap, parking entry and exit paid from the purse,
//! loyalty points earned and redeemed, and the purse proofs cleared once — every
//! tap over the ISO/IEC 14443-4 transport so it reports its radio time.

use anyhow::{Result, anyhow};
use lamina_accept::field::Borrowed;
use lamina_card::iso14443::{BitRate, ContactlessLink, LinkConfig, LinkStats};
use lamina_card::{CardChannel, EmulatedCard, Interface};
use lamina_closedloop::install::{self, Schemes};
use lamina_closedloop::loyalty::{EarnRule, LoyaltyTerminal};
use lamina_closedloop::parking::{ParkingOutcome, ParkingTerminal, Tariff};
use lamina_closedloop::purse::{Clearing, IssuerHost, Sam, load_purse};
use lamina_closedloop::terminal::{CardLink, StdStopwatch};
use lamina_closedloop::transit::{Direction, FareTable, GateTerminal};
use lamina_closedloop::{CardId, TerminalId};

/// The chip in the reader's field at 106 kbit/s.
pub fn field(card: &mut EmulatedCard) -> ContactlessLink<Borrowed<'_>> {
    ContactlessLink::with_config(
        Borrowed(card),
        LinkConfig {
            bit_rate: BitRate::R106,
            ..LinkConfig::default()
        },
    )
}

/// Installs the closed-loop applications (purse, loyalty, transit, parking) on a
/// demo chip with this card's own keys, derived from the schemes' master keys.
pub fn install_closed_loop(
    card: &mut lamina_card::Card,
    schemes: &Schemes,
    id: CardId,
) -> Result<()> {
    let installs = [
        (
            "purse",
            install::purse_install(&schemes.purse, id, schemes.currency, schemes.max_balance),
        ),
        ("loyalty", install::loyalty_install(id, &schemes.programs)),
        ("transit", install::transit_install(&schemes.transit, id)),
        ("parking", install::parking_install(&schemes.parking, id)),
    ];
    for (what, entry) in installs {
        let entry = entry.map_err(|e| anyhow!("{what}: {e}"))?;
        card.install(entry).map_err(|e| anyhow!("{what}: {e}"))?;
    }
    Ok(())
}

/// One closed-loop step's outcome for the day's table.
#[derive(Debug, Clone)]
pub struct Step {
    pub title: String,
    pub terminal: String,
    pub amount: i64,
    pub outcome: String,
    pub ok: bool,
    pub processing_ms: Option<f64>,
    pub radio_ms: Option<f64>,
    pub notes: Vec<String>,
}

fn ms(stats: &LinkStats) -> (f64, f64) {
    (
        stats.processing.as_secs_f64() * 1000.0,
        stats.radio_us() as f64 / 1000.0,
    )
}

/// The closed-loop terminals of the day.
pub struct ClosedLoop {
    pub schemes: Schemes,
    issuer: IssuerHost,
    entry: GateTerminal,
    exit: GateTerminal,
    parking: ParkingTerminal,
    loyalty: LoyaltyTerminal,
    program: u32,
    pub clearing: Clearing,
}

/// Unix seconds of 2026-11-25 00:00 UTC.
pub const DAY: u32 = 1_795_564_800;

impl ClosedLoop {
    pub fn new() -> Result<Self> {
        let schemes = Schemes::demo();
        let sam = |tid: u64| {
            Sam::new(
                TerminalId::from_u64(tid),
                schemes.purse.purchase.clone(),
                install::purse_aid(),
                1,
            )
        };
        let fares = || FareTable::demo().map_err(|e| anyhow!("fare table: {e}"));
        let gate = |station, dir, tid| -> Result<GateTerminal> {
            Ok(GateTerminal::new(
                station,
                dir,
                fares()?,
                schemes.transit.clone(),
                install::transit_aid(),
                sam(tid),
                lamina_closedloop::transit::GATE_BUDGET_US,
                Box::new(StdStopwatch::new()),
            ))
        };
        let entry = gate(1, Direction::In, 0x10)?;
        let exit = gate(3, Direction::Out, 0x11)?;
        let parking = ParkingTerminal::new(
            7,
            Tariff::demo().map_err(|e| anyhow!("tariff: {e}"))?,
            schemes.parking.clone(),
            install::parking_aid(),
            sam(0x20),
        );
        let program = schemes
            .programs
            .first()
            .map(|p| p.id)
            .ok_or_else(|| anyhow!("no loyalty program"))?;
        let master = schemes
            .programs
            .first()
            .map(|p| p.master.clone())
            .ok_or_else(|| anyhow!("no loyalty program"))?;
        let loyalty = LoyaltyTerminal::new(TerminalId::from_u64(0x30), install::loyalty_aid())
            .with_program(
                program,
                master,
                EarnRule {
                    points_per_unit: 1,
                    unit: 100,
                    value_per_point: 1,
                },
            );
        let mut clearing = Clearing::new(schemes.purse.clone());
        clearing.register_terminal(TerminalId::from_u64(0x11), "METRO");
        clearing.register_terminal(TerminalId::from_u64(0x10), "METRO");
        clearing.register_terminal(TerminalId::from_u64(0x20), "PARKING");
        Ok(ClosedLoop {
            issuer: IssuerHost::new(schemes.purse.clone()),
            schemes,
            entry,
            exit,
            parking,
            loyalty,
            program,
            clearing,
        })
    }

    /// Loads the purse, authorized online by the purse issuer (load MAC).
    pub fn load(&mut self, card: &mut EmulatedCard, amount: u32, time: u32) -> Step {
        let mut link = field(card);
        let r = link
            .power_on(Interface::Contactless)
            .map_err(|e| e.to_string())
            .and_then(|_| {
                load_purse(
                    &mut CardLink::new(&mut link),
                    &install::purse_aid(),
                    &mut self.issuer,
                    amount,
                    time,
                )
                .map_err(|e| e.to_string())
            });
        link.power_off();
        let (p, radio) = ms(&link.take_stats());
        match r {
            Ok(o) => Step {
                title: format!("Purse load {}", super::report::amount(i64::from(amount))),
                terminal: "LOAD-01".into(),
                amount: i64::from(amount),
                outcome: "LOADED".into(),
                ok: true,
                processing_ms: Some(p),
                radio_ms: Some(radio),
                notes: vec![format!(
                    "balance {}",
                    super::report::amount(i64::from(o.balance))
                )],
            },
            Err(e) => failed("Purse load", "LOAD-01", &e),
        }
    }

    /// A tap at the metro entry (`out == false`) or exit gate.
    pub fn gate(&mut self, card: &mut EmulatedCard, out: bool, time: u32) -> (Step, u32, u32) {
        let mut link = field(card);
        let gate = if out { &mut self.exit } else { &mut self.entry };
        let r = gate.tap(&mut link, time);
        let (p, radio) = ms(&link.take_stats());
        let name = if out { "GATE-OUT" } else { "GATE-IN" };
        match r {
            Ok(t) => (
                Step {
                    title: if out {
                        "Metro tap-out".into()
                    } else {
                        "Metro tap-in".into()
                    },
                    terminal: name.into(),
                    amount: i64::from(t.charged),
                    outcome: if t.open {
                        "GATE OPEN".into()
                    } else {
                        "GATE CLOSED".into()
                    },
                    ok: t.open,
                    processing_ms: Some(p),
                    radio_ms: Some(radio),
                    notes: vec![
                        format!(
                            "fare {} (before cap {})",
                            super::report::amount(i64::from(t.charged)),
                            super::report::amount(i64::from(t.decision.uncapped))
                        ),
                        format!("balance {}", super::report::amount(i64::from(t.balance))),
                        format!(
                            "within the 300 ms gate budget: {}",
                            t.within_budget && (p + radio) < 300.0
                        ),
                    ],
                },
                t.charged,
                t.decision.uncapped,
            ),
            Err(e) => (failed("Metro tap", name, &e.to_string()), 0, 0),
        }
    }

    /// Parking entry or exit.
    pub fn parking(&mut self, card: &mut EmulatedCard, exit: bool, time: u32) -> Step {
        let mut link = field(card);
        let r = if exit {
            self.parking.exit(&mut link, time)
        } else {
            self.parking.entry(&mut link, time)
        };
        let (p, radio) = ms(&link.take_stats());
        match r {
            Ok(rep) => {
                let (outcome, ok, amount) = match &rep.outcome {
                    ParkingOutcome::Entered => ("TICKET WRITTEN".to_owned(), !exit, 0),
                    ParkingOutcome::Exited(stay) => {
                        ("PAID, BARRIER UP".to_owned(), exit, i64::from(stay.fee))
                    }
                    other => (other.to_string(), false, 0),
                };
                Step {
                    title: if exit {
                        "Parking exit, fee from the purse".into()
                    } else {
                        "Parking entry".into()
                    },
                    terminal: "PARK-07".into(),
                    amount,
                    outcome,
                    ok,
                    processing_ms: Some(p),
                    radio_ms: Some(radio),
                    notes: vec![format!(
                        "balance {}",
                        super::report::amount(i64::from(rep.balance))
                    )],
                }
            }
            Err(e) => failed("Parking", "PARK-07", &e.to_string()),
        }
    }

    /// Loyalty points for a purchase of `amount` (after the EMV payment), or a
    /// redemption of `redeem` points.
    pub fn loyalty(
        &mut self,
        card: &mut EmulatedCard,
        amount: u32,
        redeem: Option<u32>,
        time: u32,
    ) -> Step {
        let mut link = field(card);
        let r = match redeem {
            None => self
                .loyalty
                .tap_earn(&mut link, self.program, amount, time)
                .map(|o| o.map(|o| (o.points, o.balance, 0))),
            Some(points) => link
                .power_on(Interface::Contactless)
                .map_err(Into::into)
                .and_then(|_| {
                    let r = self.loyalty.redeem(
                        &mut CardLink::new(&mut link),
                        self.program,
                        points,
                        time,
                    );
                    link.power_off();
                    r
                })
                .map(|o| Some((o.points, o.balance, o.value))),
        };
        let (p, radio) = ms(&link.take_stats());
        let title = if redeem.is_some() {
            "Loyalty points redeemed"
        } else {
            "Loyalty points earned on the purchase"
        };
        match r {
            Ok(Some((points, balance, value))) => Step {
                title: title.into(),
                terminal: "POS-LOYALTY".into(),
                amount: i64::from(value),
                outcome: if redeem.is_some() {
                    format!("-{points} POINTS")
                } else {
                    format!("+{points} POINTS")
                },
                ok: true,
                processing_ms: Some(p),
                radio_ms: Some(radio),
                notes: vec![format!("{balance} points on the card")],
            },
            Ok(None) => failed(title, "POS-LOYALTY", "card not in the program"),
            Err(e) => failed(title, "POS-LOYALTY", &e.to_string()),
        }
    }

    /// Uploads the gates' and the parking's purse proofs to the clearing, twice:
    /// the second upload must be rejected as duplicates. Returns (accepted,
    /// duplicates rejected, settlement lines).
    pub fn clear(&mut self) -> (usize, usize, Vec<(String, i64, String)>) {
        let mut proofs = self.entry.take_proofs();
        proofs.extend(self.exit.take_proofs());
        proofs.extend(self.parking.sam_mut().take_proofs());
        let accepted = proofs
            .iter()
            .filter(|p| self.clearing.submit(p).is_ok())
            .count();
        let rejected = proofs
            .iter()
            .filter(|p| self.clearing.submit(p).is_err())
            .count();
        let lines = self
            .clearing
            .settle()
            .into_iter()
            .map(|s| {
                let code = s.currency.trim_start_matches('0').parse().unwrap_or(0);
                let cur = lamina_emv::dict::currency_alpha(code)
                    .map_or(s.currency.clone(), str::to_owned);
                (s.merchant, s.net, cur)
            })
            .collect();
        (accepted, rejected, lines)
    }
}

fn failed(title: &str, terminal: &str, why: &str) -> Step {
    Step {
        title: title.into(),
        terminal: terminal.into(),
        amount: 0,
        outcome: "FAILED".into(),
        ok: false,
        processing_ms: None,
        radio_ms: None,
        notes: vec![why.to_owned()],
    }
}

/// The card id of a demo card for the closed-loop schemes.
pub fn card_id(n: u64) -> CardId {
    CardId::from_u64(0x4C41_4D00 + n)
}
