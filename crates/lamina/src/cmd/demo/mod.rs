//! `lamina demo` — a day in the life of a smart-card payment system, on embedded
//! defaults: a scheme CA and an issuer are set up, cards are manufactured and
//! personalized, the host listens on a loopback port with its ledger on SQLite, and
//! a scripted day of transactions runs through the real terminal kernel, the real
//! card emulator and the real host over ISO 8583/TCP. The day is settled and the
//! ledger checked. Exit code 0 only if every step got the outcome the script expects.

mod closedloop;
pub mod report;
mod world;

use std::time::Instant;

use anyhow::{Result, anyhow};
use clap::Args as ClapArgs;
use lamina_card::CardChannel;
use lamina_crypto::pki::Date;
use lamina_host::cards::{CardStatus, ScriptKind};
use lamina_terminal::clearing::AdviceQueue;
use lamina_terminal::kernel::{DateTime, Devices, FixedClock, TransactionRequest};
use lamina_terminal::online::{AcquirerLink, Reversal, ReversalReason};
use lamina_terminal::outcome::{Outcome, TransactionResult};
use lamina_terminal::testkit::DukptPinPad;
use lamina_terminal::ui::{RecordingScreen, ScriptedPinPad};
use serde::Serialize;

use crate::output::{emit, print_json};
use report::Row;
use world::World;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Working directory for the demo's files (issuer, cards, database, report).
    #[arg(long, default_value = "lamina-demo")]
    pub dir: std::path::PathBuf,
    /// Seed for the demo's random choices (same seed, same day).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print a machine-readable JSON document instead of the text report.
    #[arg(long)]
    pub json: bool,
}

/// The demo's business date.
const TODAY: (u16, u8, u8) = (2026, 11, 25);
/// 2026-11-25T08:00:00Z in milliseconds.
const DAY_START_MS: i64 = 1_795_593_600_000;

/// The whole demo document (`--json`).
#[derive(Debug, Serialize)]
pub struct DemoReport {
    /// Every scripted step.
    pub steps: Vec<Row>,
    /// Settlement per merchant.
    pub settlement: Vec<SettlementRow>,
    /// Ledger check.
    pub ledger: LedgerCheck,
    /// True if every step got its expected outcome and the ledger balances.
    pub ok: bool,
    /// Parts of the full script not in this build yet.
    pub not_yet: Vec<String>,
    /// Where the HTML report was written.
    pub report_html: String,
}

/// One merchant's settlement.
#[derive(Debug, Serialize)]
pub struct SettlementRow {
    pub merchant: String,
    pub count: i64,
    pub gross_minor: i64,
    pub reversals_minor: i64,
    pub fees_minor: i64,
    pub net_minor: i64,
    pub currency: String,
}

/// The ledger check.
#[derive(Debug, Serialize)]
pub struct LedgerCheck {
    pub accounts: i64,
    pub postings: i64,
    pub balanced: bool,
}

/// What a step expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Approved,
    Declined,
    /// The card refuses (blocked application): terminated or declined offline.
    Refused,
}

impl Expect {
    fn text(self) -> &'static str {
        match self {
            Expect::Approved => "APPROVED",
            Expect::Declined => "DECLINED",
            Expect::Refused => "REFUSED BY CARD",
        }
    }
    fn matches(self, o: &Outcome) -> bool {
        match self {
            Expect::Approved => o.is_approved(),
            Expect::Declined => matches!(o, Outcome::DeclinedOnline | Outcome::DeclinedOffline),
            Expect::Refused => matches!(o, Outcome::Terminated(_) | Outcome::DeclinedOffline),
        }
    }
}

fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::ApprovedOffline => "APPROVED".into(),
        Outcome::ApprovedOnline => "APPROVED".into(),
        Outcome::DeclinedOffline => "DECLINED".into(),
        Outcome::DeclinedOnline => "DECLINED".into(),
        Outcome::Terminated(t) => t.to_string().to_uppercase(),
    }
}

/// The CVM performed, by its short EMV name (CVM Results 9F34 byte 1).
fn cvm_text(r: &TransactionResult) -> String {
    r.cvm_raw.method().short_name().to_owned()
}

/// What the table needs of one EMV transaction.
struct EmvStep<'a> {
    title: &'a str,
    card: String,
    terminal: String,
    interface: &'static str,
    application: String,
    amount: u64,
    result: &'a TransactionResult,
    cvm: String,
    processing_ms: f64,
    radio_ms: Option<f64>,
    screen: Vec<String>,
    expect: Expect,
    expect_rc: Option<&'a str>,
}

/// The scripted day's running state.
struct Day {
    world: World,
    rows: Vec<Row>,
    stan: u32,
    minute: u32,
    approved_online: Vec<u32>,
    /// Offline approvals (TC) waiting for upload: the terminal's store and forward.
    advices: AdviceQueue,
    /// Amount of every EMV purchase, by STAN (for the settlement check).
    amounts: std::collections::BTreeMap<u32, u64>,
    text: String,
    json: bool,
}

/// Bob rides the metro with his credit card (no transit application, no purse): the
/// gate's open-loop alternative pre-authorizes the maximum fare at tap in, computes
/// the fare at tap out and sends a 0220 completion for it.
fn open_loop_ride(day: &mut Day, tap_in: u32, tap_out: u32) -> Result<()> {
    use lamina_closedloop::transit::{Direction, FareTable, openloop::OpenLoopGate};
    let gate_toml = GATE_TOML.replace(
        "file = \"capk-test.toml\"",
        &format!("file = \"issuer/{}\"", lamina_perso::issuer::CAPK_FILE),
    );
    std::fs::write(day.world.dir.join("transit-gate.toml"), &gate_toml)?;
    let reader = lamina_terminal::contactless::ContactlessConfig::from_toml(
        GATE_CONTACTLESS_TOML,
        &crate::files::DirSource::new(&day.world.dir),
    )?;
    let client = day
        .world
        .runtime
        .block_on(lamina_link::client::HostClient::connect(
            &day.world.host_addr,
        ))?;
    let table = FareTable::demo().map_err(|e| anyhow!("fare table: {e}"))?;
    let mut gate = lamina_accept::openloop::OpenLoop::new(
        std::sync::Arc::new(client),
        day.world.runtime.handle().clone(),
        reader,
        table,
        OpenLoopGate::new(),
        None,
        tap_in,
    );
    let account_id = day.world.card("bob-credit")?.account.id.clone();
    let masked = day.world.card("bob-credit")?.masked.clone();
    let before = available(&day.world, &account_id)?;
    let minute = |t: u32| (t - closedloop::DAY) / 60;

    let (rin, stats) = gate.tap_chip(
        &mut day.world.card("bob-credit")?.chip,
        Direction::In,
        1,
        tap_in,
    );
    let held = available(&day.world, &account_id)?;
    let ok_in = rin.open && rin.response_code.as_deref() == Some("00");
    let row = day.gate_row(
        minute(tap_in),
        "Metro tap in by credit card: open-loop pre-authorization",
        &masked,
        ok_in,
        if ok_in { "GATE OPENS" } else { "REFUSED" },
        rin.response_code.clone(),
        i64::from(rin.hold.unwrap_or(0)),
        rin.card_ms,
        stats.radio_us() as f64 / 1000.0,
        vec![
            format!("hold {} (maximum fare)", report::amount(before - held)),
            format!("token {}", rin.token.clone().unwrap_or_default()),
        ],
    );
    day.rows.push(row);

    let (rout, stats) = gate.tap_chip(
        &mut day.world.card("bob-credit")?.chip,
        Direction::Out,
        3,
        tap_out,
    );
    let after = available(&day.world, &account_id)?;
    let completed = rout.settled.iter().any(|s| s.message == "0220");
    let ok_out = rout.open && completed && after == before - i64::from(rout.charged);
    let row = day.gate_row(
        minute(tap_out),
        "Metro tap out: fare completed (0220), rest of the hold released",
        &masked,
        ok_out,
        if ok_out {
            "FARE CAPTURED"
        } else {
            "NOT CAPTURED"
        },
        None,
        i64::from(rout.charged),
        rout.card_ms,
        stats.radio_us() as f64 / 1000.0,
        vec![format!(
            "fare {}; available {} before the ride, {} after",
            report::amount(i64::from(rout.charged)),
            report::amount(before),
            report::amount(after)
        )],
    );
    day.rows.push(row);
    Ok(())
}

/// The metro gate configuration, embedded.
const GATE_TOML: &str = include_str!("../../../../../terminals/transit-gate.toml");

/// The metro gate's contactless reader (its `base` is the gate terminal).
const GATE_CONTACTLESS_TOML: &str =
    include_str!("../../../../../terminals/transit-gate-contactless.toml");

impl Day {
    /// A row for the open-loop metro gate.
    #[allow(clippy::too_many_arguments)] // one row field each
    fn gate_row(
        &mut self,
        at_minute: u32,
        title: &str,
        card: &str,
        ok: bool,
        outcome: &str,
        response_code: Option<String>,
        amount_minor: i64,
        card_ms: f64,
        radio_ms: f64,
        notes: Vec<String>,
    ) -> Row {
        self.minute = at_minute;
        let row = Row {
            step: self.rows.len() + 1,
            title: title.into(),
            time: format!("{:02}:{:02}", at_minute / 60, at_minute % 60),
            card: card.into(),
            terminal: "METRO-OL".into(),
            interface: "contactless".into(),
            application: "EMV".into(),
            amount_minor,
            currency: "EUR".into(),
            outcome: outcome.into(),
            approved: ok,
            response_code,
            cvm: "No CVM".into(),
            processing_ms: Some((card_ms - radio_ms).max(0.0)),
            radio_ms: Some(radio_ms),
            screen: notes.clone(),
            expected: "OK".into(),
            as_expected: ok,
            notes,
        };
        self.show_row(&row);
        row
    }

    fn clock(&self) -> FixedClock {
        let (y, m, d) = TODAY;
        FixedClock(DateTime {
            year: y,
            month: m,
            day: d,
            hour: u8::try_from(self.minute / 60).unwrap_or(23),
            minute: u8::try_from(self.minute % 60).unwrap_or(59),
            second: 0,
        })
    }

    fn say(&mut self, line: &str) {
        if !self.json {
            self.text.push_str(line);
            self.text.push('\n');
            // Show progress live on the terminal.
            let _ = emit(&format!("{line}\n"));
            self.text.clear();
        }
    }

    /// Runs one purchase at the retail POS.
    #[allow(clippy::too_many_arguments)]
    fn purchase(
        &mut self,
        at_minute: u32,
        title: &str,
        card: &str,
        amount: u64,
        pins: &[Option<&str>],
        expect: Expect,
        expect_rc: Option<&str>,
    ) -> Result<u32> {
        self.minute = at_minute;
        self.stan += 1;
        let stan = self.stan;
        self.amounts.insert(stan, amount);
        let clock = self.clock();
        let mut req = TransactionRequest::purchase(amount);
        req.stan = stan;
        req.trace = std::env::var_os("LAMINA_DEMO_TRACE").is_some();
        let mut screen = RecordingScreen::default();
        let mut pad = ScriptedPinPad::new(pins.iter().map(|p| p.map(str::to_owned)));
        let ksn = format!("FFFF9876543210E{:05X}", stan & 0xF_FFFF);
        let mut encryptor = DukptPinPad::from_bdk(&self.world.bdk_hex, &ksn)
            .map_err(|e| anyhow!("PIN pad: {e}"))?;
        let mut rng = lamina_perso::util::seeded_rng(Some(u64::from(stan)));
        let started = Instant::now();
        let world = &mut self.world;
        let cfg = world.retail.clone();
        // split borrows: the card lives in world.cards, the link in world.link
        let c = world
            .cards
            .iter_mut()
            .find(|c| c.name == card)
            .ok_or_else(|| anyhow!("no card {card}"))?;
        let masked = c.masked.clone();
        let labels: Vec<(String, String)> = c
            .issued
            .card
            .applications
            .iter()
            .map(|a| (hex::encode_upper(&a.install.aid), a.install.label.clone()))
            .collect();
        let chip: &mut dyn CardChannel = &mut c.chip;
        let link: &mut dyn AcquirerLink = &mut world.link;
        let result = lamina_terminal::run(
            &cfg,
            &req,
            Devices {
                card: chip,
                screen: &mut screen,
                pin_pad: &mut pad,
                acquirer: Some(link),
                pin_encryptor: Some(&mut encryptor),
            },
            &clock,
            &mut rng,
        );
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if let Some(trace) = &result.trace {
            for t in trace {
                eprintln!(
                    "    {} {} -> {} {}",
                    t.command, t.c_apdu, t.sw, t.sw_meaning
                );
                for line in &t.response {
                    eprintln!("        {line}");
                }
            }
            for e in result.tvr_raw.explain() {
                eprintln!("    TVR {}: {}", e.label, e.detail);
            }
        }
        if result.outcome == Outcome::ApprovedOnline {
            self.approved_online.push(stan);
        }
        let advice_note = self.queue_advice(&result);
        let application = result.aid.as_ref().map_or_else(
            || "-".into(),
            |aid| {
                labels
                    .iter()
                    .find(|(a, _)| a == aid)
                    .map_or_else(|| aid.clone(), |(_, l)| l.clone())
            },
        );
        let screen_lines: Vec<String> = screen.events.iter().map(ToString::to_string).collect();
        let row = self.emv_row(EmvStep {
            title,
            card: masked,
            terminal: cfg.terminal_id.clone(),
            interface: "contact",
            application,
            amount,
            result: &result,
            cvm: cvm_text(&result),
            processing_ms: ms,
            radio_ms: None,
            screen: screen_lines,
            expect,
            expect_rc,
        });
        let mut row = row;
        row.notes.extend(advice_note);
        self.show_row(&row);
        self.rows.push(row);
        Ok(stan)
    }

    /// Queues the offline advice of an offline approval (the terminal's store and
    /// forward, uploaded with the day's batch); the row's note says so.
    fn queue_advice(&mut self, result: &TransactionResult) -> Option<String> {
        let advice = result.offline_advice.clone()?;
        let (stan, amount) = (advice.stan, advice.amount);
        let tc = hex::encode_upper(advice.cryptogram);
        Some(match self.advices.push(advice) {
            Ok(()) => format!(
                "offline advice queued: STAN {stan:06}, {} EUR, TC {tc}",
                report::amount(i64::try_from(amount).unwrap_or(i64::MAX))
            ),
            Err(e) => format!("offline advice NOT queued: {e}"),
        })
    }

    /// A contactless EMV purchase at the retail reader (one tap; online PIN after
    /// the card has left the field when the amount needs it).
    #[allow(clippy::too_many_arguments)]
    fn tap_purchase(
        &mut self,
        at_minute: u32,
        title: &str,
        card: &str,
        amount: u64,
        pin: Option<&str>,
        expect: Expect,
        expect_rc: Option<&str>,
    ) -> Result<u32> {
        use lamina_terminal::contactless::{ContactlessDevices, run_contactless};
        self.minute = at_minute;
        self.stan += 1;
        let stan = self.stan;
        self.amounts.insert(stan, amount);
        let clock = self.clock();
        let mut req = TransactionRequest::purchase(amount);
        req.stan = stan;
        // A pre-authorization (parking, fuel) always goes to the issuer.
        req.force_online = title.contains("pre-authorization");
        let mut screen = RecordingScreen::default();
        let mut pad = ScriptedPinPad::new([pin.map(str::to_owned)]);
        let ksn = format!("FFFF9876543210E{:05X}", stan & 0xF_FFFF);
        let mut encryptor = DukptPinPad::from_bdk(&self.world.bdk_hex, &ksn)
            .map_err(|e| anyhow!("PIN pad: {e}"))?;
        let mut rng = lamina_perso::util::seeded_rng(Some(u64::from(stan)));
        let world = &mut self.world;
        let cfg = world.contactless.clone();
        let c = world
            .cards
            .iter_mut()
            .find(|c| c.name == card)
            .ok_or_else(|| anyhow!("no card {card}"))?;
        let masked = c.masked.clone();
        let label = c
            .issued
            .card
            .applications
            .first()
            .map_or_else(|| "-".to_owned(), |a| a.install.label.clone());
        let mut field = closedloop::field(&mut c.chip);
        let link: &mut dyn AcquirerLink = &mut world.link;
        let started = Instant::now();
        let r = run_contactless(
            &cfg,
            &req,
            ContactlessDevices {
                reader: &mut field,
                screen: &mut screen,
                pin_pad: &mut pad,
                acquirer: Some(link),
                pin_encryptor: Some(&mut encryptor),
                status: None,
            },
            &clock,
            &mut rng,
        );
        let wall = started.elapsed().as_secs_f64() * 1000.0;
        let radio = r.radio_us().unwrap_or(0) as f64 / 1000.0;
        let result = &r.result;
        if std::env::var_os("LAMINA_DEMO_TRACE").is_some() {
            for e in result.tvr_raw.explain() {
                eprintln!("    TVR {}: {}", e.label, e.detail);
            }
            for c in &result.cryptograms {
                eprintln!(
                    "    cryptogram {}: {} ATC {} CID {:02X}",
                    c.generate_ac, c.returned, c.atc, c.cid
                );
            }
        }
        if result.outcome == Outcome::ApprovedOnline {
            self.approved_online.push(stan);
        }
        let advice_note = self.queue_advice(result);
        let mut screen_lines: Vec<String> = screen.events.iter().map(ToString::to_string).collect();
        screen_lines.extend(r.indicators.iter().map(|i| format!("(status: {i})")));
        let row = self.emv_row(EmvStep {
            title,
            card: masked,
            terminal: cfg.terminal.terminal_id.clone(),
            interface: "contactless",
            application: label,
            amount,
            result,
            cvm: r.cvm.map_or_else(|| "-".to_owned(), |c| c.to_string()),
            // The radio time is modelled (ISO/IEC 14443 bit rates), not spent:
            // the wall-clock time is all processing (kernel, card, host).
            processing_ms: wall,
            radio_ms: Some(radio),
            screen: screen_lines,
            expect,
            expect_rc,
        });
        let mut row = row;
        row.notes.extend(advice_note);
        self.show_row(&row);
        self.rows.push(row);
        Ok(stan)
    }

    /// The table row of an EMV transaction (contact or contactless).
    fn emv_row(&self, st: EmvStep<'_>) -> Row {
        let rc = st.result.arc.clone();
        let ok = st.expect.matches(&st.result.outcome)
            && st.expect_rc.is_none_or(|want| rc.as_deref() == Some(want));
        Row {
            step: self.rows.len() + 1,
            title: st.title.into(),
            time: format!("{:02}:{:02}", self.minute / 60, self.minute % 60),
            card: st.card,
            terminal: st.terminal,
            interface: st.interface.into(),
            application: st.application,
            amount_minor: i64::try_from(st.amount).unwrap_or(i64::MAX),
            currency: "EUR".into(),
            outcome: outcome_text(&st.result.outcome),
            approved: st.result.outcome.is_approved(),
            response_code: rc,
            cvm: st.cvm,
            processing_ms: Some(st.processing_ms),
            radio_ms: st.radio_ms,
            screen: st.screen,
            expected: format!(
                "{}{}",
                st.expect.text(),
                st.expect_rc.map(|r| format!(" ({r})")).unwrap_or_default()
            ),
            as_expected: ok,
            notes: Vec::new(),
        }
    }

    fn show_row(&mut self, row: &Row) {
        let line = format!(
            "{} {:<44} {}",
            if row.as_expected { "✔" } else { "✗" },
            row.title,
            row.screen.join(" → ")
        );
        self.say(&line);
        if !row.as_expected {
            let l = format!("    expected {}, got {}", row.expected, row.outcome);
            self.say(&l);
        }
    }

    /// A closed-loop (contactless) step.
    fn tap(&mut self, at_minute: u32, card: &str, step: closedloop::Step) -> Result<()> {
        self.minute = at_minute;
        let masked = self.world.card(card)?.masked.clone();
        let row = Row {
            step: self.rows.len() + 1,
            title: step.title,
            time: format!("{:02}:{:02}", self.minute / 60, self.minute % 60),
            card: masked,
            terminal: step.terminal,
            interface: "contactless".into(),
            application: "closed loop".into(),
            amount_minor: step.amount,
            currency: "EUR".into(),
            outcome: step.outcome.clone(),
            approved: step.ok,
            response_code: None,
            cvm: "No CVM".into(),
            processing_ms: step.processing_ms,
            radio_ms: step.radio_ms,
            screen: step.notes.clone(),
            expected: "OK".into(),
            as_expected: step.ok,
            notes: step.notes,
        };
        self.show_row(&row);
        self.rows.push(row);
        Ok(())
    }

    /// A back-office or host step that is not a card transaction.
    fn office(&mut self, at_minute: u32, title: &str, ok: bool, outcome: &str, notes: Vec<String>) {
        self.minute = at_minute;
        let row = Row {
            step: self.rows.len() + 1,
            title: title.into(),
            time: format!("{:02}:{:02}", self.minute / 60, self.minute % 60),
            card: "-".into(),
            terminal: "back office".into(),
            interface: "-".into(),
            application: "-".into(),
            amount_minor: 0,
            currency: "EUR".into(),
            outcome: outcome.into(),
            approved: false,
            response_code: None,
            cvm: "-".into(),
            processing_ms: None,
            radio_ms: None,
            screen: notes.clone(),
            expected: "OK".into(),
            as_expected: ok,
            notes,
        };
        self.show_row(&row);
        self.rows.push(row);
    }
}

/// Runs the demo.
pub fn run(args: Args) -> Result<()> {
    let (y, m, d) = TODAY;
    let today = Date::new(y, m, d).map_err(|e| anyhow!("{e}"))?;
    if !args.json {
        emit("Lamina demo: a day in the life of a smart-card payment system\n\n")?;
    }
    eprintln!(
        "warning: the demo uses development keys stored in plaintext ({}/issuer/keystore.json); never do this with real keys",
        args.dir.display()
    );
    let bar = if args.json {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::new(u64::try_from(world::CARDS.len() + 2).unwrap_or(0));
        b.set_style(
            indicatif::ProgressStyle::with_template("  manufacturing {bar:30} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    };
    let mut closed = closedloop::ClosedLoop::new()?;
    let world = world::build(
        &args.dir,
        args.seed,
        today,
        DAY_START_MS,
        &closed.schemes,
        |what| {
            bar.set_message(what.to_owned());
            bar.inc(1);
        },
    )?;
    bar.finish_and_clear();
    let mut day = Day {
        world,
        rows: Vec::new(),
        stan: 0,
        minute: 8 * 60,
        approved_online: Vec::new(),
        advices: AdviceQueue::default(),
        amounts: std::collections::BTreeMap::new(),
        text: String::new(),
        json: args.json,
    };
    let cards_line = format!(
        "  issued {} cards ({}), host on {}, ledger on SQLite\n",
        day.world.cards.len(),
        day.world
            .cards
            .iter()
            .map(|c| c.masked.clone())
            .collect::<Vec<_>>()
            .join(", "),
        day.world.host_addr
    );
    day.say(&cards_line);

    // --- the scripted day ----------------------------------------------------
    let alice_pin = day.world.card("alice-debit")?.pin.clone();
    let dave_pin = day.world.card("dave-debit")?.pin.clone();
    let bob_pin = day.world.card("bob-credit")?.pin.clone();
    let carol_pin = day.world.card("carol-prepaid")?.pin.clone();

    let t = |minute: u32| closedloop::DAY + minute * 60;
    let t_entry = t;
    let step = closed.load(
        &mut day.world.card("alice-debit")?.chip,
        2000,
        t(7 * 60 + 45),
    );
    day.tap(7 * 60 + 45, "alice-debit", step)?;
    // Three metro journeys: the third is capped by the daily fare cap.
    let mut charged = 0;
    let mut uncapped = 0;
    for (tin, tout) in [
        (8 * 60 + 10, 8 * 60 + 35),
        (12 * 60 + 30, 12 * 60 + 50),
        (17 * 60 + 30, 17 * 60 + 55),
    ] {
        let (s_in, _, _) = closed.gate(&mut day.world.card("alice-debit")?.chip, false, t(tin));
        day.tap(tin, "alice-debit", s_in)?;
        let (s_out, c, u) = closed.gate(&mut day.world.card("alice-debit")?.chip, true, t(tout));
        charged += c;
        uncapped += u;
        day.tap(tout, "alice-debit", s_out)?;
    }
    let capped = charged < uncapped;
    day.office(
        18 * 60,
        "Daily fare cap applied",
        capped,
        if capped { "CAPPED" } else { "NOT CAPPED" },
        vec![format!(
            "charged {} instead of {}",
            report::amount(i64::from(charged)),
            report::amount(i64::from(uncapped))
        )],
    );
    let step = closed.parking(&mut day.world.card("carol-prepaid")?.chip, false, t(9 * 60));
    day.tap(9 * 60, "carol-prepaid", step)?;
    let step = closed.load(
        &mut day.world.card("carol-prepaid")?.chip,
        1500,
        t(9 * 60 + 1),
    );
    day.tap(9 * 60 + 1, "carol-prepaid", step)?;
    let step = closed.parking(
        &mut day.world.card("carol-prepaid")?.chip,
        true,
        t(11 * 60 + 30),
    );
    day.tap(11 * 60 + 30, "carol-prepaid", step)?;

    day.purchase(
        9 * 60 + 2,
        "Chip-and-PIN purchase, approved online",
        "alice-debit",
        4590,
        &[Some(&alice_pin)],
        Expect::Approved,
        Some("00"),
    )?;
    let step = closed.loyalty(
        &mut day.world.card("alice-debit")?.chip,
        4590,
        None,
        t(9 * 60 + 3),
    );
    day.tap(9 * 60 + 3, "alice-debit", step)?;
    day.tap_purchase(
        9 * 60 + 15,
        "Contactless tap under the CVM limit, offline",
        "alice-debit",
        1890,
        None,
        Expect::Approved,
        Some("Y1"),
    )?;
    day.tap_purchase(
        9 * 60 + 20,
        "Contactless above the CVM limit, online PIN",
        "alice-debit",
        8500,
        Some(&alice_pin),
        Expect::Approved,
        Some("00"),
    )?;
    // Parking paid by card: an EMV pre-authorization at the entry barrier, the
    // completion (0220) for the fee at the exit releases the rest of the hold.
    let pre_stan = day.tap_purchase(
        10 * 60,
        "Parking entry by card: EMV pre-authorization",
        "bob-credit",
        2000,
        Some(&bob_pin),
        Expect::Approved,
        Some("00"),
    )?;
    let fee = lamina_closedloop::parking::Tariff::demo()
        .and_then(|t| t.fee(t_entry(10 * 60), t_entry(12 * 60 + 40)))
        .map_err(|e| anyhow!("parking tariff: {e}"))?;
    let completed = day.world.link.complete(pre_stan, u64::from(fee)).is_ok();
    day.approved_online.retain(|s| *s != pre_stan);
    day.office(
        12 * 60 + 40,
        "Parking exit by card: completion (0220) for the fee",
        completed && fee > 0,
        if completed {
            "COMPLETED"
        } else {
            "NOT COMPLETED"
        },
        vec![format!(
            "fee {} of the 20.00 pre-authorized; the rest of the hold released",
            report::amount(i64::from(fee))
        )],
    );
    open_loop_ride(&mut day, t(13 * 60 + 5), t(13 * 60 + 32))?;
    day.purchase(
        9 * 60 + 40,
        "Wrong PIN, then the right PIN",
        "dave-debit",
        1250,
        &[Some("0000"), Some(&dave_pin)],
        Expect::Approved,
        None,
    )?;
    day.purchase(
        10 * 60 + 30,
        "Insufficient funds, declined by the issuer",
        "carol-prepaid",
        8900,
        &[Some(&carol_pin)],
        Expect::Declined,
        Some("51"),
    )?;
    let bob_stan = day.purchase(
        11 * 60 + 5,
        "Credit card purchase with PIN",
        "bob-credit",
        12000,
        &[Some(&bob_pin)],
        Expect::Approved,
        Some("00"),
    )?;

    // A retransmitted request (lost response) is answered once, posting nothing twice.
    let account_id = day.world.card("bob-credit")?.account.id.clone();
    let before = available(&day.world, &account_id)?;
    let again = day.world.link.retransmit_last();
    let after = available(&day.world, &account_id)?;
    let same = again.as_ref().is_ok_and(|m| m.get_str(39) == Some("00")) && before == after;
    day.office(
        11 * 60 + 6,
        "Retransmitted request answered once",
        same,
        if same {
            "ANSWERED ONCE"
        } else {
            "POSTED TWICE"
        },
        vec![format!(
            "available before {} after {}",
            report::amount(before),
            report::amount(after)
        )],
    );

    // The merchant reverses Bob's purchase: the hold is released.
    let reversed = day
        .world
        .link
        .reverse(&Reversal {
            stan: bob_stan,
            amount: 12000,
            reason: ReversalReason::CardErrorAfterApproval,
            icc_data: Vec::new(),
        })
        .is_ok();
    let after_rev = available(&day.world, &account_id)?;
    let released = reversed && after_rev == before + 12000;
    day.approved_online.retain(|s| *s != bob_stan);
    day.office(
        11 * 60 + 20,
        "Reversal releases the hold",
        released,
        if released { "REVERSED" } else { "NOT REVERSED" },
        vec![format!("available now {}", report::amount(after_rev))],
    );

    // Dave reports his card stolen: the back office blocks it and queues an
    // application-block script for the card's next contact.
    let dave_id = day.world.card("dave-debit")?.host_card_id.clone();
    let store = day.world.store.clone();
    let now = DAY_START_MS + 5 * 3_600_000;
    let blocked = day.world.runtime.block_on(async {
        lamina_host::cards::set_status(&store, &dave_id, CardStatus::Stolen).await?;
        lamina_host::cards::queue_script(&store, &dave_id, &ScriptKind::BlockApplication, now).await
    });
    day.office(
        13 * 60,
        "Card reported stolen; application block queued",
        blocked.is_ok(),
        if blocked.is_ok() {
            "BLOCKED AT HOST"
        } else {
            "FAILED"
        },
        vec!["issuer script 71: APPLICATION BLOCK".into()],
    );
    day.purchase(
        13 * 60 + 30,
        "Stolen card declined, block script delivered",
        "dave-debit",
        14999,
        &[Some(&dave_pin)],
        Expect::Declined,
        None,
    )?;
    day.purchase(
        13 * 60 + 45,
        "Blocked card refuses at the next terminal",
        "dave-debit",
        1000,
        &[Some(&dave_pin)],
        Expect::Refused,
        None,
    )?;
    day.purchase(
        16 * 60 + 10,
        "Second purchase of the day",
        "alice-debit",
        2375,
        &[Some(&alice_pin)],
        Expect::Approved,
        None,
    )?;
    let step = closed.loyalty(
        &mut day.world.card("alice-debit")?.chip,
        0,
        Some(20),
        t(16 * 60 + 11),
    );
    day.tap(16 * 60 + 11, "alice-debit", step)?;

    // --- end of day: batch upload, settlement, ledger check --------------------
    // Offline approvals (TC) reach the issuer only now: the queued advices go up
    // as 0220s and the host posts them to the cardholders' accounts.
    let queued: Vec<(u32, u64)> = day
        .advices
        .pending()
        .map(|p| (p.advice.stan, p.advice.amount))
        .collect();
    let last_advice = day.advices.pending().last().map(|p| p.advice.clone());
    let alice_account = day.world.card("alice-debit")?.account.id.clone();
    let alice_before = balance(&day.world, &alice_account)?;
    let upload = day.advices.upload(&mut day.world.link);
    let alice_after = balance(&day.world, &alice_account)?;
    let offline_total: u64 = queued.iter().map(|(_, a)| a).sum();
    let all_posted = !queued.is_empty()
        && upload.accepted.len() == queued.len()
        && upload.rejected.is_empty()
        && upload.stopped.is_none()
        && alice_before - alice_after == i64::try_from(offline_total).unwrap_or(-1);
    let mut notes: Vec<String> = queued
        .iter()
        .map(|(stan, amount)| {
            let posted = upload.accepted.contains(stan);
            format!(
                "STAN {stan:06}: {} {}",
                report::amount(i64::try_from(*amount).unwrap_or(i64::MAX)),
                if posted { "posted" } else { "NOT posted" }
            )
        })
        .collect();
    notes.extend(
        upload
            .rejected
            .iter()
            .map(|(stan, code)| format!("STAN {stan:06} refused ({code})")),
    );
    if let Some((stan, e)) = &upload.stopped {
        notes.push(format!("STAN {stan:06}: {e}"));
    }
    notes.push(format!(
        "alice's balance {} → {}",
        report::amount(alice_before),
        report::amount(alice_after)
    ));
    day.office(
        22 * 60,
        "Batch upload: offline advices (0220)",
        all_posted,
        &format!("{}/{} POSTED", upload.accepted.len(), queued.len()),
        notes,
    );
    // The 0230 of the last advice is "lost": the terminal repeats it (0221, same
    // STAN and DE 7) and the host answers from its record, posting nothing again.
    let repeat = match &last_advice {
        Some(a) if upload.accepted.contains(&a.stan) => {
            day.world.link.advise_offline(a).map_err(|e| anyhow!("{e}"))
        }
        _ => Err(anyhow!("no advice was posted")),
    };
    let alice_again = balance(&day.world, &alice_account)?;
    let repeat_mti = day
        .world
        .link
        .last_request()
        .map(|m| m.mti.as_str().to_owned())
        .unwrap_or_default();
    let once = repeat.as_ref().is_ok_and(|a| a.accepted())
        && repeat_mti == "0221"
        && alice_again == alice_after;
    day.office(
        22 * 60 + 1,
        "Repeated advice (lost 0230) posted once",
        once,
        if once { "POSTED ONCE" } else { "POSTED TWICE" },
        vec![format!(
            "{repeat_mti} answered {}; balance stays {}",
            repeat
                .as_ref()
                .map_or("nothing", |a| a.response_code.as_str()),
            report::amount(alice_again)
        )],
    );
    let stans = day.approved_online.clone();
    let mut captured_stans = Vec::new();
    for s in &stans {
        if day.world.link.capture(*s).is_ok() {
            captured_stans.push(*s);
        }
    }
    let captured = captured_stans.len();
    day.office(
        22 * 60 + 2,
        "Batch upload: captures (0220)",
        captured == stans.len(),
        &format!("{captured}/{} CAPTURED", stans.len()),
        vec![],
    );
    let (accepted, rejected, purse_lines) = closed.clear();
    day.office(
        22 * 60 + 5,
        "Purse proofs cleared once, duplicates rejected",
        accepted > 0 && rejected == accepted,
        &format!("{accepted} CLEARED, {rejected} DUPLICATES REJECTED"),
        purse_lines
            .iter()
            .map(|(m, net, c)| format!("{m}: {} {c}", report::amount(*net)))
            .collect(),
    );
    let (y, m, d) = TODAY;
    let date = format!("{y:04}-{m:02}-{d:02}");
    let settlements = day.world.runtime.block_on(lamina_host::settle::settle(
        &store,
        &date,
        150,
        DAY_START_MS + 15 * 3_600_000,
    ))?;
    let ledger = day
        .world
        .runtime
        .block_on(lamina_host::ledger::check_ledger(&store))?;
    day.world.stop();

    // The retail merchant is paid for what the issuer captured: the online
    // approvals, the parking completion and the offline approvals (advices).
    let captured_total: u64 = captured_stans
        .iter()
        .map(|s| day.amounts.get(s).copied().unwrap_or(0))
        .sum();
    let completion_total = if completed { u64::from(fee) } else { 0 };
    let offline_posted: u64 = queued
        .iter()
        .filter(|(s, _)| upload.accepted.contains(s))
        .map(|(_, a)| a)
        .sum();
    let want_gross = captured_total + completion_total + offline_posted;
    let want_count = captured_stans.len() + usize::from(completed) + upload.accepted.len();
    let merchant_id = day.world.retail.merchant_id.trim().to_owned();
    let retail_settled = settlements
        .iter()
        .find(|s| s.merchant.trim() == merchant_id);
    let settled_ok = retail_settled.is_some_and(|s| {
        u64::try_from(s.gross).ok() == Some(want_gross)
            && usize::try_from(s.count).ok() == Some(want_count)
    });
    let as_amount = |v: u64| report::amount(i64::try_from(v).unwrap_or(i64::MAX));
    day.office(
        23 * 60,
        "Settlement includes the offline approvals",
        settled_ok,
        if settled_ok { "SETTLED" } else { "MISMATCH" },
        vec![
            format!(
                "expected {want_count} txns, gross {}: captures {}, completion {}, offline {}",
                as_amount(want_gross),
                as_amount(captured_total),
                as_amount(completion_total),
                as_amount(offline_posted)
            ),
            retail_settled.map_or_else(
                || "no settlement for the retail merchant".to_owned(),
                |s| {
                    format!(
                        "settled {} txns, gross {}",
                        s.count,
                        report::amount(s.gross)
                    )
                },
            ),
        ],
    );

    let settlement: Vec<SettlementRow> = settlements
        .iter()
        .map(|s| SettlementRow {
            merchant: s.merchant.trim().to_owned(),
            count: s.count,
            gross_minor: s.gross,
            reversals_minor: s.reversals,
            fees_minor: s.fees,
            net_minor: s.net,
            currency: lamina_emv::dict::currency_alpha(s.currency.parse().unwrap_or(0))
                .map_or_else(|| s.currency.clone(), str::to_owned),
        })
        .collect();
    let ledger_check = LedgerCheck {
        accounts: ledger.accounts,
        postings: ledger.postings,
        balanced: ledger.ok(),
    };
    let all_ok =
        day.rows.iter().all(|r| r.as_expected) && ledger_check.balanced && !settlement.is_empty();

    // --- report --------------------------------------------------------------
    // The table and the report list the day in time order (the script runs the
    // closed-loop taps and the EMV purchases in separate passes).
    day.rows.sort_by(|a, b| a.time.cmp(&b.time));
    let faces: Vec<(String, String)> = day
        .world
        .cards
        .iter()
        .map(|c| (format!("{} — {}", c.name, c.masked), c.face_svg.clone()))
        .collect();
    let settlement_html = settlement_table_html(&settlement, &ledger_check);
    let html = report::html(
        "Lamina — a day of payments",
        &day.rows,
        &faces,
        &settlement_html,
    );
    let html_path = day.world.dir.join("report.html");
    std::fs::write(&html_path, html)?;
    // Every part of the scripted day runs in this build.
    let not_yet: Vec<String> = Vec::new();
    let doc = DemoReport {
        steps: day.rows.clone(),
        settlement,
        ledger: ledger_check,
        ok: all_ok,
        not_yet,
        report_html: html_path.display().to_string(),
    };
    if args.json {
        print_json(&doc)?;
    } else {
        let mut out = String::new();
        out.push('\n');
        out.push_str(&report::table(&doc.steps));
        out.push_str("\nSettlement\n");
        for s in &doc.settlement {
            out.push_str(&format!(
                "  {:<16} {:>3} txns  gross {:>10}  reversals {:>9}  fees {:>8}  net {:>10} {}\n",
                s.merchant,
                s.count,
                report::amount(s.gross_minor),
                report::amount(s.reversals_minor),
                report::amount(s.fees_minor),
                report::amount(s.net_minor),
                s.currency
            ));
        }
        out.push_str(&format!(
            "\nLedger check: {} accounts, {} postings, {}\n",
            doc.ledger.accounts,
            doc.ledger.postings,
            if doc.ledger.balanced {
                "balanced ✔"
            } else {
                "NOT BALANCED ✗"
            }
        ));
        out.push_str(&format!("Report: {}\n", doc.report_html));
        if !doc.not_yet.is_empty() {
            out.push_str("Not in this build yet: ");
            out.push_str(&doc.not_yet.join("; "));
            out.push('\n');
        }
        out.push_str(if doc.ok {
            "\nEvery step as expected.\n"
        } else {
            "\nSOME STEPS DIFFERED (see ✗ above).\n"
        });
        emit(&out)?;
    }
    if !doc.ok {
        std::process::exit(1);
    }
    Ok(())
}

fn available(world: &World, account_id: &str) -> Result<i64> {
    let store = world.store.clone();
    let id = account_id.to_owned();
    world.runtime.block_on(async move {
        let mut conn = store.pool().acquire().await?;
        let acct = lamina_host::ledger::get_account(&mut conn, &id)
            .await?
            .ok_or_else(|| anyhow!("account vanished"))?;
        Ok(acct.available())
    })
}

/// An account's ledger balance (what has been posted, holds aside).
fn balance(world: &World, account_id: &str) -> Result<i64> {
    let store = world.store.clone();
    let id = account_id.to_owned();
    world.runtime.block_on(async move {
        let mut conn = store.pool().acquire().await?;
        let acct = lamina_host::ledger::get_account(&mut conn, &id)
            .await?
            .ok_or_else(|| anyhow!("account vanished"))?;
        Ok(acct.ledger_balance)
    })
}

fn settlement_table_html(rows: &[SettlementRow], ledger: &LedgerCheck) -> String {
    use report::{amount, esc};
    let mut s = String::from(
        "<table><thead><tr><th>merchant</th><th>txns</th><th>gross</th><th>reversals</th><th>fees</th><th>net</th></tr></thead><tbody>",
    );
    for r in rows {
        s.push_str(&format!(
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{} {}</td></tr>",
            esc(&r.merchant),
            r.count,
            amount(r.gross_minor),
            amount(r.reversals_minor),
            amount(r.fees_minor),
            amount(r.net_minor),
            esc(&r.currency)
        ));
    }
    s.push_str(&format!(
        "</tbody></table><p>Ledger check: {} accounts, {} postings — {}</p>",
        ledger.accounts,
        ledger.postings,
        if ledger.balanced {
            "balanced"
        } else {
            "NOT BALANCED"
        }
    ));
    s
}
