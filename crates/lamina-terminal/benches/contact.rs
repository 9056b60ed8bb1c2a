//! Full contact transaction time, selection to completion, with the in-process
//! card (Lamina's EMV applet on the emulator) and the host double; prints the APDU
//! bytes exchanged per transaction.
//!
//! `cargo bench -p lamina-terminal --bench contact`
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use lamina_terminal::outcome::Outcome;
use support::*;

fn cases() -> Vec<(&'static str, CardSpec, u64, Outcome)> {
    vec![
        (
            "sda_pin_online",
            CardSpec {
                oda: Oda::Sda,
                ..CardSpec::default()
            },
            7500,
            Outcome::ApprovedOnline,
        ),
        (
            "dda_pin_online",
            CardSpec::default(),
            7500,
            Outcome::ApprovedOnline,
        ),
        (
            "cda_pin_online",
            CardSpec {
                oda: Oda::Cda,
                ..CardSpec::default()
            },
            7500,
            Outcome::ApprovedOnline,
        ),
        (
            "cda_enciphered_pin_online",
            CardSpec {
                oda: Oda::Cda,
                cvm_list: Some("00000000 00000000 4403 1F00".into()),
                ..CardSpec::default()
            },
            7500,
            Outcome::ApprovedOnline,
        ),
    ]
}

fn contact(c: &mut Criterion) {
    let cfg = retail();
    for (name, spec, amount, expected) in cases() {
        // One transaction to report the APDU volume and check the outcome.
        let mut card = card(&spec);
        let mut h = host();
        let p = pay(&cfg, &mut card, amount, &[Some("1234")], Some(&mut h));
        assert_eq!(p.result.outcome, expected, "{name}");
        println!(
            "{name}: {} command APDUs, {} APDU bytes exchanged (commands + responses)",
            p.result.apdu_count, p.result.apdu_bytes
        );
        c.bench_function(&format!("contact/{name}"), |b| {
            b.iter_batched(
                || (card_for_bench(&spec), host()),
                |(mut card, mut h)| {
                    let p = pay(&cfg, &mut card, amount, &[Some("1234")], Some(&mut h));
                    black_box(p.result.apdu_bytes)
                },
                BatchSize::SmallInput,
            );
        });
    }
}

fn card_for_bench(spec: &CardSpec) -> TestCard {
    card(spec)
}

criterion_group!(benches, contact);
criterion_main!(benches);
