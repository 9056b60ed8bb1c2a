//! Per tap type: processing time, and radio time at 106 and 424 kbit/s over the
//! ISO/IEC 14443-4 transport ([`lamina_card::iso14443::ContactlessLink`]: frames,
//! frame delay times, activation), and the 300 ms gate budget check.
//!
//! `cargo bench -p lamina-closedloop --bench taps` (add `-- --test` to only
//! check that it runs). First prints two tables — the in-process card (median
//! of 200 taps, APDUs, bytes each way), then the same taps through the
//! contactless link at 106 and 424 kbit/s (radio time computed from the frames
//! exchanged, processing time measured around the card's work) — and asserts
//! that every gate tap finishes within [`GATE_BUDGET_US`] including radio at
//! 106 kbit/s; then runs the criterion measurements (in-process, and through
//! the link at 106 kbit/s).

#![allow(clippy::unwrap_used, clippy::panic)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use lamina_card::iso14443::{self, BitRate, ContactlessLink, LinkConfig};
use lamina_card::{Card, CardChannel, EmulatedCard, Interface, Rom, SeededRng};
use lamina_closedloop::install::{self, Schemes, test_card};
use lamina_closedloop::keys::{CardId, TerminalId};
use lamina_closedloop::loyalty::{EarnRule, LoyaltyTerminal};
use lamina_closedloop::parking::{ParkingTerminal, Tariff};
use lamina_closedloop::purse::{IssuerHost, Sam, load_purse};
use lamina_closedloop::terminal::{CardLink, LinkStats, StdStopwatch};
use lamina_closedloop::transit::{Direction, FareTable, GATE_BUDGET_US, GateTerminal};

const T0: u32 = 1_764_054_000;
const CARD: CardId = CardId::from_u64(0x4C41_4D49_0000_0001);

fn sam(tid: u64) -> Sam {
    Sam::new(
        TerminalId::from_u64(tid),
        Schemes::demo().purse.purchase,
        install::purse_aid(),
        1,
    )
}

fn gate(station: u16, dir: Direction) -> GateTerminal {
    GateTerminal::new(
        station,
        dir,
        FareTable::demo().unwrap(),
        Schemes::demo().transit,
        install::transit_aid(),
        sam(0x6A7E),
        300_000,
        Box::new(StdStopwatch::new()),
    )
}

fn parking() -> ParkingTerminal {
    ParkingTerminal::new(
        42,
        Tariff::demo().unwrap(),
        Schemes::demo().parking,
        install::parking_aid(),
        sam(0xCA4),
    )
}

fn loyalty() -> LoyaltyTerminal {
    LoyaltyTerminal::new(TerminalId::from_u64(0x10), install::loyalty_aid()).with_program(
        0x00C0_FFEE,
        Schemes::demo().programs[0].master.clone(),
        EarnRule {
            points_per_unit: 1,
            unit: 100,
            value_per_point: 1,
        },
    )
}

/// A loaded card (100.00), optionally tapped in at Central / parked.
fn base(tapped_in: bool, parked: bool) -> String {
    let mut ch = EmulatedCard::new(test_card(CARD, 1).unwrap());
    let mut host = IssuerHost::new(Schemes::demo().purse);
    ch.power_on(Interface::Contactless).unwrap();
    load_purse(
        &mut CardLink::new(&mut ch),
        &install::purse_aid(),
        &mut host,
        10_000,
        T0 - 60,
    )
    .unwrap();
    ch.power_off();
    if tapped_in {
        gate(1, Direction::In).tap(&mut ch, T0).unwrap();
    }
    if parked {
        parking().entry(&mut ch, T0).unwrap();
    }
    ch.card().save_image()
}

fn restore(img: &str) -> EmulatedCard {
    EmulatedCard::new(
        Card::load_image(install::register(Rom::new()), SeededRng::new(2), img).unwrap(),
    )
}

/// Terminals, built outside the measured section (the gates parse their fare
/// table at start-up, not per tap).
struct Terminals {
    gate_in: GateTerminal,
    gate_out: GateTerminal,
    shop: Sam,
    loyalty: LoyaltyTerminal,
    parking: ParkingTerminal,
}

fn terminals() -> Terminals {
    Terminals {
        gate_in: gate(1, Direction::In),
        gate_out: gate(3, Direction::Out),
        shop: sam(0x5A),
        loyalty: loyalty(),
        parking: parking(),
    }
}

type TapFn = fn(&mut dyn CardChannel, &mut Terminals) -> LinkStats;

fn tap_types() -> Vec<(&'static str, String, TapFn)> {
    vec![
        ("gate tap-in (no charge)", base(false, false), |ch, t| {
            t.gate_in.tap(ch, T0).unwrap().stats
        }),
        ("gate tap-out (purse debit)", base(true, false), |ch, t| {
            let r = t.gate_out.tap(ch, T0 + 1200).unwrap();
            assert_eq!(r.charged, 250);
            r.stats
        }),
        ("retail purse debit", base(false, false), |ch, t| {
            ch.power_on(Interface::Contactless).unwrap();
            let mut l = CardLink::new(ch);
            t.shop.debit(&mut l, 199, T0).unwrap();
            let s = l.stats;
            ch.power_off();
            s
        }),
        ("loyalty earn", base(false, false), |ch, t| {
            ch.power_on(Interface::Contactless).unwrap();
            let mut l = CardLink::new(ch);
            t.loyalty.earn(&mut l, 0x00C0_FFEE, 2_500, T0).unwrap();
            let s = l.stats;
            ch.power_off();
            s
        }),
        ("parking entry", base(false, false), |ch, t| {
            t.parking.entry(ch, T0).unwrap().stats
        }),
        ("parking exit (purse debit)", base(false, true), |ch, t| {
            t.parking.exit(ch, T0 + 7200).unwrap().stats
        }),
    ]
}

fn summary() {
    println!(
        "\n{:<28} {:>10} {:>6} {:>9} {:>9}",
        "tap type", "median µs", "APDUs", "bytes out", "bytes in"
    );
    for (name, img, f) in tap_types() {
        let mut times = Vec::new();
        let mut stats = LinkStats::default();
        for _ in 0..200 {
            let mut ch = restore(&img);
            let mut t = terminals();
            let start = Instant::now();
            stats = f(&mut ch, &mut t);
            times.push(start.elapsed());
        }
        times.sort();
        let med = times[times.len() / 2];
        println!(
            "{:<28} {:>10.1} {:>6} {:>9} {:>9}",
            name,
            med.as_secs_f64() * 1e6,
            stats.apdus,
            stats.bytes_out,
            stats.bytes_in
        );
    }
    println!();
}

fn field(img: &str, rate: BitRate) -> ContactlessLink<EmulatedCard> {
    ContactlessLink::with_config(
        restore(img),
        LinkConfig {
            bit_rate: rate,
            ..LinkConfig::default()
        },
    )
}

/// One tap through the contactless link: (link stats, wall time of the whole tap).
fn radio_tap(img: &str, f: TapFn, rate: BitRate) -> (iso14443::LinkStats, Duration) {
    let mut link = field(img, rate);
    let mut t = terminals();
    let start = Instant::now();
    f(&mut link, &mut t);
    let wall = start.elapsed();
    (link.take_stats(), wall)
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Radio and processing time per tap type at 106 and 424 kbit/s; asserts the
/// gate budget (processing + radio at 106 kbit/s).
fn radio_summary() {
    println!(
        "{:<28} {:>7} {:>7} {:>11} {:>11} {:>11} {:>13} {:>7}",
        "tap type (ISO 14443-4)",
        "frames",
        "bytes",
        "proc ms",
        "radio@106",
        "radio@424",
        "total@106 ms",
        "budget"
    );
    for (name, img, f) in tap_types() {
        let mut proc = Vec::new();
        let mut wall = Vec::new();
        let (mut s106, mut s424) = Default::default();
        for _ in 0..50 {
            let (s, w) = radio_tap(&img, f, BitRate::R106);
            proc.push(s.processing_us());
            wall.push(w);
            s106 = s;
            s424 = radio_tap(&img, f, BitRate::R424).0;
        }
        proc.sort_unstable();
        wall.sort_unstable();
        let p = proc[proc.len() / 2];
        // The whole tap's host time (terminal logic + card), not only the card's part.
        let w = u64::try_from(wall[wall.len() / 2].as_micros()).unwrap();
        let host = p.max(w);
        let total = host + s106.radio_us();
        let gate = name.starts_with("gate");
        let within = total <= GATE_BUDGET_US;
        println!(
            "{:<28} {:>7} {:>7} {:>11.2} {:>11.2} {:>11.2} {:>13.2} {:>7}",
            name,
            s106.frames,
            s106.bytes_on_air,
            ms(host),
            ms(s106.radio_us()),
            ms(s424.radio_us()),
            ms(total),
            if gate {
                if within { "ok" } else { "OVER" }
            } else {
                "-"
            }
        );
        assert!(
            s424.radio_us() < s106.radio_us(),
            "{name}: radio at 424 kbit/s must be shorter than at 106"
        );
        if gate {
            assert!(
                within,
                "{name}: {total} µs including radio at 106 kbit/s, budget {GATE_BUDGET_US} µs"
            );
        }
    }
    println!(
        "gate budget: {} ms per tap including radio at 106 kbit/s (proc ms = median host time of the whole tap)\n",
        GATE_BUDGET_US / 1000
    );
}

fn bench(c: &mut Criterion) {
    summary();
    radio_summary();
    let mut g = c.benchmark_group("taps");
    for (name, img, f) in tap_types() {
        g.bench_function(name, |b| {
            b.iter_batched(
                || (restore(&img), terminals()),
                |(mut ch, mut t)| black_box(f(&mut ch, &mut t)),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
    // The same taps through the ISO/IEC 14443-4 link at 106 kbit/s (framing
    // cost on the host; the radio time itself is computed, not waited for).
    let mut g = c.benchmark_group("taps-14443-106k");
    for (name, img, f) in tap_types() {
        g.bench_function(name, |b| {
            b.iter_batched(
                || (field(&img, BitRate::R106), terminals()),
                |(mut link, mut t)| black_box(f(&mut link, &mut t)),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn configure() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(800))
        .without_plots()
}

criterion_group! { name = benches; config = configure(); targets = bench }
criterion_main!(benches);
